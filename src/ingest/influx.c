/*
 * influx.c - InfluxDB 1.x line protocol as an input (POST /write), so
 * Telegraf and every InfluxDB client write to kilowatt unchanged.
 *
 * Mapping: the device is tag `device` (or `device_id`); field `kwh` is the
 * energy reading; every other numeric field (float, integer, unsigned,
 * boolean as 0/1) is a further channel of that device named after the
 * field.  String fields and other tags are not stored.  The measurement name
 * is not used.  A point without timestamp is stamped with the server's time.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "ingest/ingest.h"
#include "ingest/lineproto.h"
#include "core/banned.h"

struct ctx {
	struct ingest_ctx *ic;
	struct store_batch *b;
	struct ingest_error *err;
	struct lp_precision precision; /* ic->precision, looked up */
};

static const char *device_tag(const struct lp_point *pt)
{
	for (size_t i = 0; i < pt->ntags; i++)
		if (strcmp(pt->tags[i].key, "device") == 0)
			return pt->tags[i].value;
	for (size_t i = 0; i < pt->ntags; i++)
		if (strcmp(pt->tags[i].key, "device_id") == 0)
			return pt->tags[i].value;
	return NULL;
}

static bool numeric(const struct lp_field *f, double *v)
{
	switch (f->type) {
	case LP_FLOAT:
		*v = f->v.f;
		return true;
	case LP_INT:
		*v = (double)f->v.i;
		return true;
	case LP_UINT:
		*v = (double)f->v.u;
		return true;
	case LP_BOOL:
		*v = f->v.b ? 1.0 : 0.0;
		return true;
	case LP_STRING:
		break;
	}
	return false;
}

static int point(void *ud, const struct lp_point *pt)
{
	struct ctx *c = ud;
	const char *dev = device_tag(pt);
	int64_t ts = c->ic->now;
	size_t stored = 0;

	c->err->line = pt->line;
	if (!dev) {
		ingest_fail(c->err, 400, "missing_tag", "device",
			    "line %d has no 'device' tag naming the meter", pt->line);
		return KW_EINVAL;
	}
	if (pt->has_time && lineproto_time_to_ms(pt->time, &c->precision, &ts) != 0) {
		ingest_fail(c->err, 400, "invalid_timestamp", "timestamp",
			    "line %d: timestamp out of range", pt->line);
		return KW_EINVAL;
	}
	for (size_t i = 0; i < pt->nfields; i++) {
		double v;
		if (!numeric(&pt->fields[i], &v))
			continue;
		if (ingest_add(c->ic, c->b, dev, pt->fields[i].key, ts, v, c->err) != 0) {
			/* Name the fault as line protocol spells it. */
			if (strcmp(c->err->field, "value") == 0)
				snprintf(c->err->field, sizeof(c->err->field), "kwh");
			else if (strcmp(c->err->field, "device_id") == 0)
				snprintf(c->err->field, sizeof(c->err->field), "device");
			return KW_EINVAL;
		}
		stored++;
	}
	if (!stored) {
		ingest_fail(c->err, 400, "invalid_value", NULL,
			    "line %d has no numeric field to store", pt->line);
		return KW_EINVAL;
	}
	return 0;
}

static int parse(struct ingest_ctx *ic, const char *body, size_t len, struct store_batch *b,
		 struct ingest_error *err)
{
	struct ctx c = { .ic = ic, .b = b, .err = err };
	struct lp_error le;
	int rc;

	if (lineproto_precision(ic->precision, &c.precision) != 0) {
		ingest_fail(err, 400, "invalid_value", "precision",
			    "precision must be ns, us, ms or s");
		return KW_EINVAL;
	}
	rc = lineproto_parse(body, len, point, &c, &le);
	if (rc == KW_EPARSE) {
		ingest_fail(err, 400, "parse_error", le.field, "line %d, column %d: %s", le.line,
			    le.column, le.message);
		err->line = le.line;
	}
	return rc;
}

static const char *const types[] = { "", "text/plain", "application/octet-stream",
				     "application/x-www-form-urlencoded", NULL };

const struct ingest_ops ingest_influx = { "influx", types, parse };
