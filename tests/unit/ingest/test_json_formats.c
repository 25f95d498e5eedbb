/*
 * test_json_formats.c - the seed-000 (src/ingest/measurements.c) and
 * seed-002 (src/ingest/meter.c) JSON inputs, through their ingest_ops, with a
 * real store resolving devices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"
#include "ingest/ingest.h"
#include "tests/unit/support/teststore.h"

#define NOW INT64_C(1739000000000) /* 2025-02-08T07:33:20Z */

struct fx {
	struct teststore t;
	int64_t dev;
	char uuid[37];
	struct ingest_ctx ctx;
	struct store_batch b;
	struct ingest_error err;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_device *d;
	teststore_open(&f->t);
	f->dev = teststore_device(&f->t, "999999999", "UTC", READING_INTERVAL);
	d = store_device_by_id(f->t.s, f->dev);
	memcpy(f->uuid, d->uuid, sizeof(f->uuid));
	store_device_free(d);
	f->ctx = (struct ingest_ctx){ .store = f->t.s, .now = NOW, .max_future_ms = 86400000 };
	store_batch_init(&f->b);
	f->err.index = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_batch_release(&f->b);
	teststore_close(&f->t);
	free(f);
	return 0;
}

static int parse(struct fx *f, const struct ingest_ops *ops, const char *body)
{
	return ops->parse(&f->ctx, body, strlen(body), &f->b, &f->err);
}

static void measurement_object_by_uuid(void **state)
{
	struct fx *f = *state;
	char body[256];
	snprintf(
	    body, sizeof(body),
	    "{\"timestamp\": 1738972800000, \"device_id\": \"%s\", \"measurement_value\": 0.1}",
	    f->uuid);
	assert_int_equal(parse(f, &ingest_measurements, body), 0);
	assert_int_equal(f->b.n, 1);
	assert_int_equal(f->b.rows[0].ts, INT64_C(1738972800000));
	assert_int_equal(f->b.rows[0].device, f->dev);
	assert_int_equal(f->b.rows[0].channel, STORE_CHANNEL_ENERGY);
	assert_true(f->b.rows[0].value == 0.1);
}

static void measurement_array_by_serial_and_rfc3339(void **state)
{
	struct fx *f = *state;
	const char *body =
	    "[{\"timestamp\": \"2025-02-08T00:31:00Z\", \"device_id\": \"999999999\","
	    " \"measurement_value\": 1},"
	    " {\"timestamp\": \"2025-02-08T01:31:00.5+01:00\", \"device_id\": 999999999,"
	    " \"measurement_value\": 2.5}]";
	assert_int_equal(parse(f, &ingest_measurements, body), 0);
	assert_int_equal(f->b.n, 2);
	assert_int_equal(f->b.rows[0].ts, INT64_C(1738974660000));
	assert_int_equal(f->b.rows[1].ts, INT64_C(1738974660500));
	assert_true(f->b.rows[1].value == 2.5);
}

static void measurement_errors_name_field_and_index(void **state)
{
	struct fx *f = *state;
	const char *body = "[{\"timestamp\": 1738972800000, \"device_id\": \"999999999\","
			   " \"measurement_value\": 1},"
			   " {\"timestamp\": 1738972800000, \"device_id\": \"999999999\","
			   " \"measurement_value\": -1}]";
	assert_int_equal(parse(f, &ingest_measurements, body), KW_EINVAL);
	assert_int_equal(f->err.status, 400);
	assert_string_equal(f->err.code, "invalid_value");
	assert_string_equal(f->err.field, "measurement_value");
	assert_int_equal(f->err.index, 1);
}

static void measurement_rejects_each_bad_input(void **state)
{
	static const struct {
		const char *body, *code, *field;
	} cases[] = {
		/* jansson refuses an infinite number while parsing ("real number overflow"). */
		{ "{\"timestamp\": 1738972800000, \"device_id\": \"999999999\", "
		  "\"measurement_value\": 1e999}",
		  "parse_error", "" },
		{ "{\"timestamp\": 1738972800000, \"device_id\": \"999999999\", "
		  "\"measurement_value\": \"1\"}",
		  "invalid_value", "measurement_value" },
		{ "{\"timestamp\": 946684799999, \"device_id\": \"999999999\", "
		  "\"measurement_value\": 1}",
		  "invalid_timestamp", "timestamp" },
		{ "{\"timestamp\": 1739086400001, \"device_id\": \"999999999\", "
		  "\"measurement_value\": 1}",
		  "invalid_timestamp", "timestamp" },
		{ "{\"timestamp\": \"yesterday\", \"device_id\": \"999999999\", "
		  "\"measurement_value\": 1}",
		  "invalid_value", "timestamp" },
		{ "{\"device_id\": \"999999999\", \"measurement_value\": 1}", "missing_field",
		  "timestamp" },
		{ "{\"timestamp\": 1738972800000, \"device_id\": \"nope\", \"measurement_value\": "
		  "1}",
		  "unknown_device", "device_id" },
		{ "{\"timestamp\": 1738972800000, \"device_id\": \"999999999\", "
		  "\"measurment_value\": 1}",
		  "unknown_field", "measurment_value" },
		{ "{\"timestamp\": 1, \"timestamp\": 2}", "parse_error", "" },
		{ "[1, 2]", "invalid_body", "" },
		{ "{\"timestamp\": ", "parse_error", "" },
	};
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&f->err, 0, sizeof(f->err));
		assert_int_not_equal(parse(f, &ingest_measurements, cases[i].body), 0);
		assert_string_equal(f->err.code, cases[i].code);
		assert_string_equal(f->err.field, cases[i].field);
	}
}

static void unknown_device_is_created_when_allowed(void **state)
{
	struct fx *f = *state;
	f->ctx.auto_create = true;
	assert_int_equal(parse(f, &ingest_measurements,
			       "{\"timestamp\": 1738972800000, \"device_id\": \"new-1\","
			       " \"measurement_value\": 1}"),
			 0);
	assert_int_equal(f->b.n_new_serials, 1);
	assert_string_equal(f->b.new_serials[0], "new-1");
	assert_int_equal(f->b.rows[0].device, STORE_PENDING_ID(0));
}

static void device_token_may_write_only_its_device(void **state)
{
	struct fx *f = *state;
	f->ctx.only_device = f->dev + 1000;
	assert_int_equal(parse(f, &ingest_measurements,
			       "{\"timestamp\": 1738972800000, \"device_id\": \"999999999\","
			       " \"measurement_value\": 1}"),
			 KW_EINVAL);
	assert_int_equal(f->err.status, 403);
	assert_int_equal(f->b.n, 0);
}

static void meter_packet_forms(void **state)
{
	struct fx *f = *state;
	assert_int_equal(parse(f, &ingest_meter,
			       "{\"id\": 999999999, \"timestamp\": \"2025-02-08T00:31:00Z\","
			       " \"reading_kWh\": 5.5}"),
			 0);
	assert_int_equal(
	    parse(f, &ingest_meter,
		  "{\"readings\": [{\"id\": 999999999, \"timestamp\": \"2025-02-08T01:01:00Z\","
		  " \"reading_kWh\": 4.5}, {\"id\": \"999999999\", \"timestamp\":"
		  " \"2025-02-08T01:31:00Z\", \"reading_kWh\": 0}]}"),
	    0);
	assert_int_equal(parse(f, &ingest_meter,
			       "[{\"id\": 999999999, \"timestamp\": \"2025-02-08T02:01:00Z\","
			       " \"reading_kWh\": 1}]"),
			 0);
	assert_int_equal(f->b.n, 4);
	assert_int_equal(f->b.rows[0].ts, INT64_C(1738974660000));
	assert_true(f->b.rows[0].value == 5.5);
	assert_true(f->b.rows[2].value == 0);
	assert_int_equal(f->b.rows[3].device, f->dev);
}

static void meter_errors_use_its_field_names(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    parse(f, &ingest_meter,
		  "{\"readings\": [{\"id\": 999999999, \"timestamp\": \"2025-02-08T00:31:00Z\","
		  " \"reading_kWh\": 1}, {\"id\": 123, \"timestamp\": \"2025-02-08T00:31:00Z\","
		  " \"reading_kWh\": 1}]}"),
	    KW_EINVAL);
	assert_string_equal(f->err.code, "unknown_device");
	assert_string_equal(f->err.field, "id");
	assert_int_equal(f->err.index, 1);
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(parse(f, &ingest_meter,
			       "{\"id\": 999999999, \"timestamp\": \"2025-02-08T00:31:00Z\","
			       " \"reading_kWh\": -0.5}"),
			 KW_EINVAL);
	assert_string_equal(f->err.field, "reading_kWh");
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(parse(f, &ingest_meter, "{\"readings\": [], \"extra\": 1}"), KW_EINVAL);
	assert_string_equal(f->err.code, "invalid_body");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(measurement_object_by_uuid, setup, teardown),
		cmocka_unit_test_setup_teardown(measurement_array_by_serial_and_rfc3339, setup,
						teardown),
		cmocka_unit_test_setup_teardown(measurement_errors_name_field_and_index, setup,
						teardown),
		cmocka_unit_test_setup_teardown(measurement_rejects_each_bad_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unknown_device_is_created_when_allowed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(device_token_may_write_only_its_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(meter_packet_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(meter_errors_use_its_field_names, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tz_shutdown();
	return rc;
}
