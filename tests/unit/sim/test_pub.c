/*
 * test_pub.c - unit tests for src/sim/pub.c: the seed-000 message every
 * publisher sends (valid JSON, exactly three keys, values that read back
 * exactly), device ids that need escaping, "{device}" in topics and routing
 * keys, and the registry of publishers by scheme.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "sim/pub.h"
#include "core/banned.h"

static void test_message(void **state)
{
	struct sim_msg m = { 7, INT64_C(1570654800000), 0.1 };
	char dev[64], buf[SIM_MSG_MAX];

	assert_true(sim_pub_json_string(dev, sizeof(dev), "5c2494a3-1140-4c7a-991a-a1a2561c6bc2") >
		    0);
	assert_true(sim_pub_format(buf, sizeof(buf), dev, &m) > 0);
	assert_string_equal(buf,
			    "{\"timestamp\":1570654800000,\"device_id\":"
			    "\"5c2494a3-1140-4c7a-991a-a1a2561c6bc2\",\"measurement_value\":0.1}");
}

static void test_numbers_read_back(void **state)
{
	const double values[] = { 0,	       1,    0.5,	3.64170771,
				  47973.02036, 1e-7, 0.1 + 0.2, 123456789012.25,
				  5e300 };
	char buf[64];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		assert_true(sim_pub_number(buf, sizeof(buf), values[i]) > 0);
		assert_true(strtod(buf, NULL) == values[i]);
	}
	sim_pub_number(buf, sizeof(buf), 47973.02036);
	assert_string_equal(buf, "47973.02036"); /* the shortest form, as in the CSV */
	sim_pub_number(buf, sizeof(buf), 0.1 + 0.2);
	assert_string_equal(buf, "0.30000000000000004");
}

static void test_device_escaped(void **state)
{
	const char *odd = "meter \"7\"\\kitchen\x01";
	struct sim_msg m = { 0, INT64_C(1741132800000), 2.5 };
	char dev[128], buf[SIM_MSG_MAX];
	json_error_t je;
	json_t *doc;

	assert_true(sim_pub_json_string(dev, sizeof(dev), odd) > 0);
	assert_true(sim_pub_format(buf, sizeof(buf), dev, &m) > 0);
	doc = json_loads(buf, 0, &je);
	assert_non_null(doc);
	assert_int_equal(json_object_size(doc), 3);
	assert_string_equal(json_string_value(json_object_get(doc, "device_id")), odd);
	assert_int_equal(json_integer_value(json_object_get(doc, "timestamp")), 1741132800000);
	assert_true(json_number_value(json_object_get(doc, "measurement_value")) == 2.5);
	json_decref(doc);
	assert_int_equal(sim_pub_json_string(dev, 4, "abcdef"), -1); /* never truncated */
}

static void test_expand(void **state)
{
	char buf[64];

	assert_int_equal(sim_pub_expand(buf, sizeof(buf), "kilowatt/{device}/measurements", "m1"),
			 (int)strlen("kilowatt/m1/measurements"));
	assert_string_equal(buf, "kilowatt/m1/measurements");
	sim_pub_expand(buf, sizeof(buf), "{device}.{device}", "x");
	assert_string_equal(buf, "x.x");
	sim_pub_expand(buf, sizeof(buf), "plain", "x");
	assert_string_equal(buf, "plain");
	assert_int_equal(sim_pub_expand(buf, 8, "{device}", "123456789"), -1);
}

static void test_registry_and_kinds(void **state)
{
	assert_ptr_equal(sim_pub_for(SIM_HTTP), &sim_pub_http);
	assert_ptr_equal(sim_pub_for(SIM_HTTPS), &sim_pub_http);
	assert_ptr_equal(sim_pub_for(SIM_MQTT), &sim_pub_mqtt);
	assert_ptr_equal(sim_pub_for(SIM_AMQP), &sim_pub_amqp);
	assert_ptr_equal(sim_pub_for(SIM_STDOUT), &sim_pub_stdout);
	assert_true(sim_pub_fatal(KW_EDENIED) && sim_pub_fatal(KW_ECONFIG) &&
		    sim_pub_fatal(KW_EINVAL));
	assert_false(sim_pub_fatal(-ECONNREFUSED) || sim_pub_fatal(-EAGAIN) ||
		     sim_pub_fatal(-ETIMEDOUT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_numbers_read_back),
		cmocka_unit_test(test_device_escaped),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_registry_and_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
