/*
 * measurements.c - seed 000's message, one or an array:
 *   {"timestamp": 1570654800000, "device_id": "5c2494a3-...", "measurement_value": 0.1}
 * timestamp: epoch ms or RFC 3339; device_id: UUID or serial; the value is
 * the device's energy reading in kWh.  Unknown keys are refused, so a typo
 * ("measurment_value") is an error, not a silently missing reading.
 */
#include <string.h>

#include "core/err.h"
#include "ingest/json_common.h"
#include "core/banned.h"

struct ctx {
	struct ingest_ctx *ic;
	struct store_batch *b;
	struct ingest_error *err;
};

static int one(void *ud, json_t *o, int index)
{
	static const char *const known[] = { "timestamp", "device_id", "measurement_value" };
	struct ctx *c = ud;
	char dev[160];
	int64_t ts;
	double v;
	json_t *f[3];

	if (ingest_json_fields(o, known, 3, f, c->err) ||
	    ingest_json_time(f[0], "timestamp", &ts, c->err) ||
	    ingest_json_device(f[1], "device_id", dev, sizeof(dev), c->err) ||
	    ingest_json_number(f[2], "measurement_value", &v, c->err))
		return KW_EINVAL;
	if (ingest_add(c->ic, c->b, dev, "kwh", ts, v, c->err) != 0) {
		if (strcmp(c->err->field, "value") == 0)
			memcpy(c->err->field, "measurement_value", sizeof("measurement_value"));
		return KW_EINVAL;
	}
	return 0;
}

static int parse(struct ingest_ctx *ic, const char *body, size_t len, struct store_batch *b,
		 struct ingest_error *err)
{
	struct ctx c = { ic, b, err };
	json_t *doc = ingest_json_load(body, len, err);
	int rc;
	if (!doc)
		return KW_EPARSE;
	rc = ingest_json_each(doc, NULL, one, &c, err);
	json_decref(doc);
	return rc;
}

static const char *const types[] = { "application/json", NULL };

const struct ingest_ops ingest_measurements = { "measurements", types, parse };
