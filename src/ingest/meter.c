/*
 * meter.c - seed 002's meter packet, one or {"readings": [...]}:
 *   {"id": 999999999, "timestamp": "2025-02-08T00:31:00Z", "reading_kWh": 5.5}
 * id is the device serial; the packet at 00:31 carries the energy used in
 * the half hour before it (an interval reading, see docs/ENERGY.md).
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
	static const char *const known[] = { "id", "timestamp", "reading_kWh" };
	struct ctx *c = ud;
	char dev[160];
	int64_t ts;
	double v;
	json_t *f[3];

	if (ingest_json_fields(o, known, 3, f, c->err) ||
	    ingest_json_device(f[0], "id", dev, sizeof(dev), c->err) ||
	    ingest_json_time(f[1], "timestamp", &ts, c->err) ||
	    ingest_json_number(f[2], "reading_kWh", &v, c->err))
		return KW_EINVAL;
	if (ingest_add(c->ic, c->b, dev, "kwh", ts, v, c->err) != 0) {
		if (strcmp(c->err->field, "value") == 0)
			memcpy(c->err->field, "reading_kWh", sizeof("reading_kWh"));
		else if (strcmp(c->err->field, "device_id") == 0)
			memcpy(c->err->field, "id", sizeof("id"));
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
	if (json_is_object(doc) && json_object_get(doc, "readings") && json_object_size(doc) != 1) {
		ingest_fail(err, 400, "invalid_body", NULL,
			    "a {\"readings\": [...]} body takes no other keys");
		json_decref(doc);
		return KW_EINVAL;
	}
	rc = ingest_json_each(doc, "readings", one, &c, err);
	json_decref(doc);
	return rc;
}

static const char *const types[] = { "application/json", NULL };

const struct ingest_ops ingest_meter = { "meter", types, parse };
