/*
 * test_url.c - unit tests for src/sim/url.c: the three schemes (and stdout)
 * with their defaults, percent-decoding, IPv6, and every refusal naming the
 * part that is wrong.  Numbers in comments refer to the invariants at the
 * top of url.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "sim/url.h"
#include "core/banned.h"

static struct sim_url parse_ok(const char *s)
{
	struct sim_url u;
	char err[512] = "";

	if (sim_url_parse(s, &u, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", s, err);
	return u;
}

static void expect_error(const char *s, const char *want)
{
	struct sim_url u;
	char err[512] = "";

	if (sim_url_parse(s, &u, err, sizeof(err)) != KW_EINVAL)
		fail_msg("'%s' accepted", s);
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' does not contain '%s'", s, err, want);
}

static void test_http(void **state)
{
	struct sim_url u = parse_ok("http://127.0.0.1:8080");

	assert_int_equal(u.scheme, SIM_HTTP);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.path, "");
	u = parse_ok("HTTPS://kw.example.org/energy/");
	assert_int_equal(u.scheme, SIM_HTTPS);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/energy"); /* the trailing '/' goes */
	u = parse_ok("http://[::1]:9000/");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9000);
	assert_int_equal(parse_ok("http://localhost").port, 80);
}

static void test_http_errors(void **state)
{
	expect_error("http://user:pw@host", "takes no user or password: give the token");
	expect_error("http://host/?x=1", "takes no query");
	expect_error("http://host:0", "port '0' is not a number between 1 and 65535");
	expect_error("http://host:65536", "port '65536'");
	expect_error("http://host:8o", "port '8o'");
	expect_error("http://host:", "port ''");
	expect_error("http://:80", "the host is missing");
	expect_error("http://ho st", "bad character in the host 'ho st'");
	expect_error("http://[::1", "unterminated '['");
	expect_error("http://[::1]x", "unexpected text after ']'");
	expect_error("http://::1:80", "more than one ':'");
	expect_error("http://host/a b", "bad character in the path");
	expect_error("http://host/#frag", "'#' fragment");
}

static void test_mqtt(void **state)
{
	struct sim_url u = parse_ok("mqtt://127.0.0.1:1884/kilowatt/dev%201/measurements");

	assert_int_equal(u.scheme, SIM_MQTT);
	assert_int_equal(u.port, 1884);
	assert_false(u.has_user);
	assert_string_equal(u.path, "kilowatt/dev 1/measurements"); /* decoded */
	u = parse_ok("mqtt://meter:s%3Acret%40x@broker");
	assert_int_equal(u.port, 1883);
	assert_true(u.has_user);
	assert_string_equal(u.user, "meter");
	assert_string_equal(u.pass, "s:cret@x");
	assert_string_equal(u.path, ""); /* the default topic is the publisher's */
	/* an unescaped '@' in the password: the last '@' ends the userinfo */
	u = parse_ok("mqtt://meter:p@ss@broker:1885/t");
	assert_string_equal(u.pass, "p@ss");
	assert_string_equal(u.host, "broker");
	assert_string_equal(parse_ok("mqtt://h/a/{device}/b").path, "a/{device}/b");
}

static void test_mqtt_errors(void **state)
{
	expect_error("mqtt://h/kilowatt/+/measurements", "holds a wildcard");
	expect_error("mqtt://h/kilowatt/%23", "holds a wildcard");
	expect_error("mqtt://h/t?qos=1", "takes no query");
	expect_error("mqtt://@h/t", "the user name before '@' is empty");
	expect_error("mqtt://u:p%zz@h", "bad percent-escape in the password");
	expect_error("mqtt://u:p%4@h", "bad percent-escape in the password");
	expect_error("mqtt://h/a%00b", "control character"); /* invariant 2 */
	expect_error("mqtt://h/a%0ab", "control character");
}

static void test_amqp(void **state)
{
	struct sim_url u = parse_ok("amqp://kw:secret@127.0.0.1:5673/%2f?exchange=meters&"
				    "routing_key=kw.%7Bdevice%7D");

	assert_int_equal(u.scheme, SIM_AMQP);
	assert_string_equal(u.user, "kw");
	assert_string_equal(u.pass, "secret");
	assert_int_equal(u.port, 5673);
	assert_string_equal(u.path, "/");
	assert_string_equal(u.exchange, "meters");
	assert_string_equal(u.routing_key, "kw.{device}");
	u = parse_ok("amqp://broker");
	assert_string_equal(u.user, "guest");
	assert_string_equal(u.pass, "guest");
	assert_int_equal(u.port, 5672);
	assert_string_equal(u.path, "/");
	assert_string_equal(u.exchange, "kilowatt");
	assert_string_equal(u.routing_key, "");
	u = parse_ok("amqp://u:p@broker/energy?exchange=");
	assert_string_equal(u.path, "energy");
	assert_string_equal(u.exchange, ""); /* the default exchange, on purpose */
}

static void test_amqp_errors(void **state)
{
	expect_error("amqp://h/?queue=x", "unknown or repeated parameter 'queue'");
	expect_error("amqp://h/?exchange=a&exchange=b", "unknown or repeated parameter 'exchange'");
	expect_error("amqp://h/?exchange", "'exchange' has no '=value'");
	expect_error("amqp://h/?routing_key=%G1", "bad percent-escape in the routing key");
}

static void test_scheme_errors(void **state)
{
	expect_error("ftp://h", "unsupported scheme 'ftp' (use http://, mqtt:// or amqp://)");
	expect_error("127.0.0.1:8080", "is not a URL");
	expect_error("://h", "is not a URL");
	assert_int_equal(parse_ok("-").scheme, SIM_STDOUT);
}

static void test_fields_never_truncated(void **state)
{
	char s[3 * SIM_URL_FIELD_MAX];
	struct sim_url u;
	char err[512];

	/* invariant 1: a topic of 255 bytes fits, 256 does not */
	snprintf(s, sizeof(s), "mqtt://h/");
	memset(s + 9, 't', SIM_URL_FIELD_MAX - 1);
	s[9 + SIM_URL_FIELD_MAX - 1] = '\0';
	assert_int_equal(sim_url_parse(s, &u, err, sizeof(err)), 0);
	assert_int_equal(strlen(u.path), SIM_URL_FIELD_MAX - 1);
	s[9 + SIM_URL_FIELD_MAX - 1] = 't';
	s[9 + SIM_URL_FIELD_MAX] = '\0';
	expect_error(s, "the topic is longer than 255 bytes");
}

static void test_redacted(void **state)
{
	struct sim_url u = parse_ok("amqp://kw:secret@127.0.0.1:5673/%2f?exchange=meters");
	char buf[512];

	sim_url_redacted(&u, buf, sizeof(buf));
	assert_string_equal(buf, "amqp://kw:***@127.0.0.1:5673/%2f?exchange=meters");
	assert_null(strstr(buf, "secret"));
	u = parse_ok("mqtt://[::1]:1884");
	sim_url_redacted(&u, buf, sizeof(buf));
	assert_string_equal(buf, "mqtt://[::1]:1884");
	u = parse_ok("http://h/p");
	sim_url_redacted(&u, buf, sizeof(buf));
	assert_string_equal(buf, "http://h:80/p");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http),	      cmocka_unit_test(test_http_errors),
		cmocka_unit_test(test_mqtt),	      cmocka_unit_test(test_mqtt_errors),
		cmocka_unit_test(test_amqp),	      cmocka_unit_test(test_amqp_errors),
		cmocka_unit_test(test_scheme_errors), cmocka_unit_test(test_fields_never_truncated),
		cmocka_unit_test(test_redacted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
