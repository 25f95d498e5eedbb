/*
 * test_mqtt_settings.c - unit tests for src/ingest/mqtt_settings.c: the
 * forms of mqtt.url and mqtt.topics, every error message each names, topic
 * matching with '+', '#' and '$', and the device a topic names.  Numbers in
 * comments refer to the invariants at the top of mqtt_settings.c.
 *
 * The matching cases were checked against libmosquitto 2.0.11's
 * mosquitto_topic_matches_sub(), whose answers mqtt_settings.c keeps; the
 * build runs under LeakSanitizer, so a failed parse that leaks breaks a test
 * (invariant 4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/mqtt_settings.h"
#include "core/banned.h"

/* Reads url and topics, which must be accepted. */
static void init_ok(struct mqtt_settings *s, const char *url, const char *topics)
{
	char err[512] = "";

	if (mqtt_settings_init(s, url, topics, err, sizeof(err)) != 0)
		fail_msg("'%s' / '%s' refused: %s", url, topics, err);
}

/* Reads url and topics, which must be refused with an error containing
 * want; s must be left empty (invariant 4).  No error may quote a password
 * (invariant 1): the cases that have one use "hunter2". */
static void expect_error(const char *url, const char *topics, const char *want)
{
	struct mqtt_settings s;
	static const struct mqtt_settings empty;
	char err[1024] = "";

	memset(&s, 0xa5, sizeof(s)); /* the previous content is ignored */
	if (mqtt_settings_init(&s, url, topics, err, sizeof(err)) != KW_ECONFIG)
		fail_msg("'%s' / '%s' accepted", url, topics);
	if (!strstr(err, want))
		fail_msg("'%s' / '%s': error '%s' does not contain '%s'", url, topics, err, want);
	if (strstr(err, "hunter2"))
		fail_msg("'%s': error '%s' shows the password", url, err);
	assert_memory_equal(&s, &empty, sizeof(s));
}

static void expect_url_error(const char *url, const char *why)
{
	char want[512];

	snprintf(want, sizeof(want),
		 "mqtt.url: %s (expected mqtt://[user:password@]host[:port], with %%XX for "
		 "special characters in the user and password)",
		 why);
	expect_error(url, "t/+", want);
}

/* --- mqtt.url ------------------------------------------------------------- */

/* One accepted url and what it must decode to (NULL: no user, no password). */
struct url_case {
	const char *url, *host;
	int port;
	const char *user, *pass, *shown;
};

static const struct url_case url_cases[] = {
	{ "mqtt://broker.example", "broker.example", 1883, NULL, NULL,
	  "mqtt://broker.example:1883" },
	{ "mqtt://h/", "h", 1883, NULL, NULL, "mqtt://h:1883" }, /* a bare '/' is no path */
	{ "mqtt://h:1", "h", 1, NULL, NULL, "mqtt://h:1" },
	{ "mqtt://h:65535", "h", 65535, NULL, NULL, "mqtt://h:65535" },
	{ "mqtt://h:0001883", "h", 1883, NULL, NULL, "mqtt://h:1883" },
	{ "mqtt://127.0.0.1:1884/", "127.0.0.1", 1884, NULL, NULL, "mqtt://127.0.0.1:1884" },
	{ "mqtt://meter@h", "h", 1883, "meter", NULL, "mqtt://meter@h:1883" },
	/* invariant 1: the password is never shown */
	{ "mqtt://meter:s3cret@h:1884", "h", 1884, "meter", "s3cret", "mqtt://meter:***@h:1884" },
	{ "mqtt://meter:@h", "h", 1883, "meter", "", "mqtt://meter:***@h:1883" },
	/* The last '@' ends the user info; the first ':' ends the user. */
	{ "mqtt://u:p@ss:w@rd@h", "h", 1883, "u", "p@ss:w@rd", "mqtt://u:***@h:1883" },
	{ "mqtt://a%40b%3Ac:%25%2f%2F%e2%82%ac@h", "h", 1883, "a@b:c", "%//\xe2\x82\xac",
	  "mqtt://a@b:c:***@h:1883" },
	{ "mqtt://[::1]", "::1", 1883, NULL, NULL, "mqtt://[::1]:1883" },
	/* The host is not decoded. */
	{ "mqtt://u:p@[fe80::1%25eth0]:1884/", "fe80::1%25eth0", 1884, "u", "p",
	  "mqtt://u:***@[fe80::1%25eth0]:1884" },
};

static void assert_same_or_null(const char *url, const char *what, const char *got,
				const char *want)
{
	if (want ? !got || strcmp(got, want) != 0 : got != NULL)
		fail_msg("'%s': %s '%s', not '%s'", url, what, got ? got : "(null)",
			 want ? want : "(null)");
}

static void test_url_forms(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		const struct url_case *c = &url_cases[i];
		struct mqtt_settings s;

		init_ok(&s, c->url, "t");
		assert_same_or_null(c->url, "host", s.host, c->host);
		assert_same_or_null(c->url, "user", s.user, c->user);
		assert_same_or_null(c->url, "password", s.pass, c->pass);
		assert_same_or_null(c->url, "shown as", s.url_shown, c->shown);
		if (s.port != c->port)
			fail_msg("'%s': port %d, not %d", c->url, s.port, c->port);
		mqtt_settings_release(&s);
	}
}

static void test_url_scheme_errors(void **state)
{
	(void)state;
	expect_url_error("mqtts://h:8883", "TLS (mqtts://) is not supported yet");
	expect_url_error("ssl://h", "TLS (mqtts://) is not supported yet");
	expect_url_error("http://h:1883", "the scheme must be mqtt://");
	expect_url_error("MQTT://h", "the scheme must be mqtt://");
	expect_url_error("h:1883", "the scheme must be mqtt://");
	expect_url_error("", "the scheme must be mqtt://");
}

static void test_url_query_path_errors(void **state)
{
	(void)state;
	expect_url_error("mqtt://h?x=1", "a query, fragment or space is not allowed");
	expect_url_error("mqtt://h#top", "a query, fragment or space is not allowed");
	expect_url_error("mqtt://h :1883", "a query, fragment or space is not allowed");
	expect_url_error("mqtt://h\t", "a query, fragment or space is not allowed");
	expect_url_error("mqtt://u:hunter2#@h", "a query, fragment or space is not allowed");
	expect_url_error("mqtt://h:1883/kilowatt",
			 "a path is not used: the topics come from mqtt.topics");
	expect_url_error("mqtt://h//", "a path is not used: the topics come from mqtt.topics");
	/* A '/' in a password must be escaped: unescaped, it starts a path. */
	expect_url_error("mqtt://u:hunter2/zz@h",
			 "a path is not used: the topics come from mqtt.topics");
}

static void test_url_user_errors(void **state)
{
	(void)state;
	expect_url_error("mqtt://@h", "the user name before '@' is empty");
	expect_url_error("mqtt://:hunter2@h", "the user name before '@' is empty");
	expect_url_error("mqtt://u%zz@h", "a bad %-escape in the user name or password");
	expect_url_error("mqtt://u:hunter2%zz@h", "a bad %-escape in the user name or password");
	expect_url_error("mqtt://u:p%4@h", "a bad %-escape in the user name or password");
	expect_url_error("mqtt://u:hunter2%@h", "a bad %-escape in the user name or password");
	/* invariant 2 */
	expect_url_error("mqtt://u%00x@h", "a bad %-escape in the user name or password");
}

static void test_url_host_errors(void **state)
{
	(void)state;
	expect_url_error("mqtt://[::1:1883", "a '[' without its ']'");
	expect_url_error("mqtt://u:hunter2@[::1]x", "something after ']' that is not :port");
	expect_url_error("mqtt://[::1]1883", "something after ']' that is not :port");
	expect_url_error("mqtt://", "the host is empty");
	expect_url_error("mqtt:///", "the host is empty");
	expect_url_error("mqtt://:1883", "the host is empty");
	expect_url_error("mqtt://u:hunter2@", "the host is empty");
	expect_url_error("mqtt://u@:1883", "the host is empty");
	expect_url_error("mqtt://[]:1883", "the host is empty");
}

static void test_url_port_errors(void **state)
{
	static const char *const urls[] = {
		"mqtt://h:",	    "mqtt://h:0",	 "mqtt://h:65536",	  "mqtt://h:99999",
		"mqtt://h:1234567", "mqtt://h:12345678", "mqtt://u:hunter2@h:-1", "mqtt://h:+1883",
		"mqtt://h:18x",	    "mqtt://h:1883:1",	 "mqtt://[::1]:",	  "mqtt://[::1]:0",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		expect_url_error(urls[i], "the port must be a number from 1 to 65535");
}

static void test_url_checked_before_topics(void **state)
{
	(void)state;
	expect_error("http://h", "a/#/b", "mqtt.url: the scheme must be mqtt://");
}

static void test_error_truncated_to_errlen(void **state)
{
	struct mqtt_settings s;
	char err[16];
	(void)state;

	memset(err, 'x', sizeof(err));
	assert_int_equal(mqtt_settings_init(&s, "http://h", "t", err, sizeof(err)), KW_ECONFIG);
	assert_string_equal(err, "mqtt.url: the s");
}

/* --- mqtt.topics ---------------------------------------------------------- */

static void test_topics_list(void **state)
{
	struct mqtt_settings s;
	(void)state;

	init_ok(&s, "mqtt://h", " meters/+/energy ,\tsite/#,, plain/topic\t, ");
	assert_int_equal(s.nfilters, 3);
	assert_string_equal(s.filters[0].sub, "meters/+/energy");
	assert_string_equal(s.filters[0].match, "meters/+/energy");
	assert_int_equal(s.filters[0].plus_level, 1);
	assert_string_equal(s.filters[1].sub, "site/#");
	assert_int_equal(s.filters[1].plus_level, -1);
	assert_string_equal(s.filters[2].sub, "plain/topic");
	assert_int_equal(s.filters[2].plus_level, -1);
	mqtt_settings_release(&s);
	assert_int_equal(s.nfilters, 0);
	assert_null(s.host);
	mqtt_settings_release(&s); /* an empty struct may be released again */
}

static void test_topics_plus_level(void **state)
{
	static const struct {
		const char *filter;
		int level;
	} cases[] = {
		{ "+", 0 },	      { "+/+", 1 },	     { "a/+", 1 },  { "a/+/b/+/#", 3 },
		{ "/+", 1 },	      { "+/", 0 },	     { "#", -1 },   { "a/b", -1 },
		{ "a//+", 2 },	      { "$share/g/+/x", 0 }, { "$x/+", 1 }, { "$share/g/a/+", 1 },
		{ "$share/g/#", -1 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mqtt_settings s;
		init_ok(&s, "mqtt://h", cases[i].filter);
		assert_int_equal(s.nfilters, 1);
		if (s.filters[0].plus_level != cases[i].level)
			fail_msg("'%s': level %d, not %d", cases[i].filter, s.filters[0].plus_level,
				 cases[i].level);
		mqtt_settings_release(&s);
	}
}

static void test_topics_shared(void **state)
{
	struct mqtt_settings s;
	(void)state;

	init_ok(&s, "mqtt://h", "$share/kw/meters/+, $shared/x");
	assert_int_equal(s.nfilters, 2);
	assert_string_equal(s.filters[0].sub, "$share/kw/meters/+"); /* subscribed as is */
	assert_string_equal(s.filters[0].match, "meters/+");
	assert_ptr_equal(s.filters[0].match, s.filters[0].sub + 10); /* invariant 4 */
	assert_string_equal(s.filters[1].match, "$shared/x");	     /* not a $share/ */
	mqtt_settings_release(&s);
}

static void test_topics_empty(void **state)
{
	(void)state;
	expect_error("mqtt://h", NULL, "mqtt.topics: no topic filter to subscribe to");
	expect_error("mqtt://h", "", "mqtt.topics: no topic filter to subscribe to");
	expect_error("mqtt://h", " , \t,,", "mqtt.topics: no topic filter to subscribe to");
}

static void test_topics_invalid(void **state)
{
	static const char *const filters[] = {
		"a/#/b",     "a#",	  "#a",	     "a/b#",   "a/#/", "a+",
		"+a",	     "a/+b",	  "a/b+/",   "++",     "+#",   "$share/g",
		"$share//a", "$share/g/", "$share/", "a/+x/#", "#/#",  "$share/g/a#",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		char want[512];
		snprintf(want, sizeof(want),
			 "mqtt.topics: '%s' is not a valid topic filter ('+' and '#' fill a "
			 "whole level, '#' only the last; $share/<group>/<filter> for a shared "
			 "subscription)",
			 filters[i]);
		expect_error("mqtt://h", filters[i], want);
	}
	/* An invalid one after valid ones is refused, and nothing leaks. */
	expect_error("mqtt://h", "a/+, b/#, c/#/d", "mqtt.topics: 'c/#/d' is not a valid");
}

static void test_topics_invalid_long_filter_cut(void **state)
{
	char topics[301], want[256];
	(void)state;

	memset(topics, 'a', 299);
	topics[299] = '#';
	topics[300] = '\0';
	snprintf(want, sizeof(want), "mqtt.topics: '%.200s' is not", topics);
	expect_error("mqtt://h", topics, want);
}

static void test_topics_max_length(void **state)
{
	char *topics = malloc(65537);
	struct mqtt_settings s;
	(void)state;

	assert_non_null(topics);
	memset(topics, 'a', 65536);
	topics[65535] = '\0';
	init_ok(&s, "mqtt://h", topics); /* 65,535 bytes: an MQTT string's limit */
	mqtt_settings_release(&s);
	topics[65535] = 'a';
	topics[65536] = '\0';
	expect_error("mqtt://h", topics, "is not a valid topic filter");
	free(topics);
}

static void test_topics_max_count(void **state)
{
	char topics[1024] = "";
	struct mqtt_settings s;
	(void)state;

	for (int i = 0; i < MQTT_MAX_FILTERS; i++) {
		size_t n = strlen(topics);
		snprintf(topics + n, sizeof(topics) - n, "%st%d/+", i ? "," : "", i);
	}
	init_ok(&s, "mqtt://h", topics);
	assert_int_equal(s.nfilters, MQTT_MAX_FILTERS);
	assert_string_equal(s.filters[63].sub, "t63/+");
	mqtt_settings_release(&s);

	snprintf(topics + strlen(topics), sizeof(topics) - strlen(topics), ", ,t64");
	expect_error("mqtt://h", topics, "mqtt.topics: more than 64 topic filters");
}

/* --- topic matching ------------------------------------------------------- */

struct match_case {
	const char *filter, *topic;
	bool match;
};

static const struct match_case match_cases[] = {
	/* Literal levels. */
	{ "a/b", "a/b", true },
	{ "a/b", "a/bc", false },
	{ "a/b", "a/b/", false },
	{ "a/b", "a", false },
	{ "a/b", "A/b", false },
	{ "/a", "/a", true },
	{ "/a", "a", false },
	{ "a//b", "a//b", true },
	{ "a//b", "a/b", false },
	{ "a", "a", true },
	{ "ab", "a", false },
	/* '+': one whole level, an empty one included. */
	{ "a/+", "a/b", true },
	{ "a/+", "a/", true },
	{ "a/+", "a", false },
	{ "a/+", "a/b/c", false },
	{ "+", "a", true },
	{ "+", "/", false },
	{ "+/+", "/x", true },
	{ "+/+", "a", false },
	{ "/+", "/", true },
	{ "+/b", "a/b", true },
	{ "+/b", "a/c", false },
	{ "a/+/c", "a/b/c", true },
	{ "a/+/c", "a//c", true },
	{ "a/+/c", "a/b/d", false },
	{ "+/+/+", "a/b/c", true },
	{ "+/+/+", "a/b", false },
	/* '#': the rest, its parent level included ("a/#" matches "a"). */
	{ "#", "a", true },
	{ "#", "a/b/c", true },
	{ "#", "/", true },
	{ "a/#", "a", true },
	{ "a/#", "a/", true },
	{ "a/#", "a/b/c", true },
	{ "a/#", "ab", false },
	{ "a/#", "b/a", false },
	{ "a/b/#", "a", false },
	{ "a//#", "a/", true },
	{ "a/+/#", "a/b", true },
	{ "a/+/#", "a/b/c/d", true },
	{ "a/+/#", "a", false },
	{ "a/+/#", "a/", true },
	{ "+/#", "x", true },
	{ "/#", "/", true },
	{ "/#", "a", false },
	/* No wildcard takes a first level starting with '$'. */
	{ "#", "$SYS/x", false },
	{ "+/x", "$SYS/x", false },
	{ "+", "$x", false },
	{ "$SYS/#", "$SYS/x", true },
	{ "$SYS/#", "$SYS", true },
	{ "$SYS/+", "$SYS/x", true },
	{ "$SYS/x", "$SYS/x", true },
	{ "$SYS/x", "SYS/x", false },
	{ "a/#", "a/$x", true }, /* only a first level is special */
	{ "a/+", "a/$x", true },
	/* Not a topic name: matches nothing. */
	{ "#", "", false },
	{ "+", "", false },
	{ "#", "a/+", false },
	{ "#", "a/#", false },
	{ "a/+", "a/+", false },
	{ "a/#", "a/b#", false },
	{ "+/b", "+/b", false },
};

static void test_topic_matches(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		if (mqtt_settings_topic_matches(c->filter, c->topic) != c->match)
			fail_msg("'%s' %s '%s'", c->filter,
				 c->match ? "should match" : "should not match", c->topic);
	}
}

/* --- the topic's device --------------------------------------------------- */

static void expect_device(const char *topics, const char *topic, int want_rc, const char *want_dev)
{
	struct mqtt_settings s;
	char dev[64] = "unchanged";
	int rc;

	init_ok(&s, "mqtt://h", topics);
	rc = mqtt_settings_topic_device(&s, topic, dev, sizeof(dev));
	mqtt_settings_release(&s);
	if (rc != want_rc)
		fail_msg("'%s' through '%s': %d, not %d", topic, topics, rc, want_rc);
	assert_string_equal(dev, want_rc == 1 ? want_dev : "unchanged");
}

static void test_device_plus(void **state)
{
	(void)state;
	expect_device("meters/+/energy", "meters/m1/energy", 1, "m1");
	expect_device("meters/+", "meters/9f3c2a1e-0000-4000-8000-000000000001", 1,
		      "9f3c2a1e-0000-4000-8000-000000000001");
	expect_device("+", "m1", 1, "m1");
	expect_device("+/energy", "m1/energy", 1, "m1");
	expect_device("site/+/meter/+", "site/s1/meter/m7", 1, "m7"); /* the last '+' */
	expect_device("meters/+/energy", "meters/m1/power", 0, NULL);
	expect_device("meters/+/energy", "meters/m1/energy/x", 0, NULL);
	expect_device("meters/+", "meters/", 0, NULL); /* an empty level names nothing */
	expect_device("+/energy", "/energy", 0, NULL);
	expect_device("+/x", "$SYS/x", 0, NULL);
}

static void test_device_hash(void **state)
{
	(void)state;
	expect_device("+/readings/#", "m9/readings/a/b", 1, "m9");
	expect_device("+/readings/#", "m9/readings", 1, "m9"); /* '#' takes the parent */
	expect_device("meters/+/#", "meters/m2", 1, "m2");
	expect_device("meters/+/#", "meters/m2/x/y", 1, "m2");
	expect_device("meters/+/#", "meters/", 0, NULL);
	expect_device("meters/#", "meters/m1", 0, NULL); /* no '+': the payload names it */
	expect_device("#", "m1", 0, NULL);
}

static void test_device_filter_order(void **state)
{
	(void)state;
	/* The first filter with a '+' that matches; filters without one skipped. */
	expect_device("a/#, a/+/x, +/+/x", "a/d/x", 1, "d");
	expect_device("+/+/x, a/+/x", "a/d/x", 1, "d");
	expect_device("b/+/x, +/d/x", "a/d/x", 1, "a");
	/* The first that matches decides, even when its level is empty. */
	expect_device("a/+/x, a//+", "a//x", 0, NULL);
	expect_device("a/+/y, a/+", "a/d", 1, "d");
	expect_device("$share/kw/meters/+, +/+", "meters/m3", 1, "m3");
	expect_device("a/+", "b/c", 0, NULL);
}

static void test_device_too_long(void **state)
{
	struct mqtt_settings s;
	char out[4] = "xyz";
	(void)state;

	init_ok(&s, "mqtt://h", "meters/+/energy");
	assert_int_equal(mqtt_settings_topic_device(&s, "meters/abcd/energy", out, sizeof(out)),
			 -1);
	assert_string_equal(out, "xyz"); /* unchanged */
	assert_int_equal(mqtt_settings_topic_device(&s, "meters/abc/energy", out, sizeof(out)), 1);
	assert_string_equal(out, "abc");
	mqtt_settings_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_url_scheme_errors),
		cmocka_unit_test(test_url_query_path_errors),
		cmocka_unit_test(test_url_user_errors),
		cmocka_unit_test(test_url_host_errors),
		cmocka_unit_test(test_url_port_errors),
		cmocka_unit_test(test_url_checked_before_topics),
		cmocka_unit_test(test_error_truncated_to_errlen),
		cmocka_unit_test(test_topics_list),
		cmocka_unit_test(test_topics_plus_level),
		cmocka_unit_test(test_topics_shared),
		cmocka_unit_test(test_topics_empty),
		cmocka_unit_test(test_topics_invalid),
		cmocka_unit_test(test_topics_invalid_long_filter_cut),
		cmocka_unit_test(test_topics_max_length),
		cmocka_unit_test(test_topics_max_count),
		cmocka_unit_test(test_topic_matches),
		cmocka_unit_test(test_device_plus),
		cmocka_unit_test(test_device_hash),
		cmocka_unit_test(test_device_filter_order),
		cmocka_unit_test(test_device_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
