/*
 * test_csv.c - unit tests for src/sim/csv.c: both shapes, what is tolerated
 * (header, blank and comment lines, CRLF, BOM, quotes, separators) and what
 * is refused, each refusal naming file:line and the offending text.
 * Numbers in comments refer to the invariants at the top of csv.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/csv.h"
#include "core/banned.h"

/* Opens text as a CSV called "t.csv"; returns the result code. */
static int open_text(const char *text, struct sim_csv **c, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(f);
	*c = NULL;
	return sim_csv_open_stream(f, "t.csv", c, err, errlen);
}

/* Reads every row into ts[] / v[]; returns how many. */
static size_t read_all(struct sim_csv *c, int64_t *ts, double *v, size_t max)
{
	char err[256];
	size_t n = 0;
	int rc;

	while (n < max && (rc = sim_csv_next(c, &ts[n], &v[n], err, sizeof(err))) == 1)
		n++;
	assert_int_equal(sim_csv_next(c, &ts[0], &v[0], err, sizeof(err)), 0);
	return n;
}

static void expect_error(const char *text, const char *want)
{
	struct sim_csv *c;
	char err[512];

	assert_int_not_equal(open_text(text, &c, err, sizeof(err)), 0);
	assert_null(c);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_values_like_sensor_csv(void **state)
{
	struct sim_csv *c;
	char err[256];
	int64_t ts[8] = { 0 };
	double v[8];

	assert_int_equal(open_text("0.5\n1\n3.64170771\n47973.02036\n", &c, err, sizeof(err)), 0);
	assert_false(sim_csv_timed(c));
	assert_int_equal(sim_csv_rows(c), 4);
	assert_int_equal(read_all(c, ts, v, 8), 4);
	assert_true(v[0] == 0.5 && v[1] == 1.0 && v[2] == 3.64170771 && v[3] == 47973.02036);
	sim_csv_free(c);
}

static void test_header_blank_comment_crlf_bom(void **state)
{
	struct sim_csv *c;
	char err[256];
	int64_t ts[8];
	double v[8];
	const char *text = "\xEF\xBB\xBFvalue\r\n\r\n# a comment\r\n 1.5 \r\n\"2\"\r\n\n  \n3e1\n";

	assert_int_equal(open_text(text, &c, err, sizeof(err)), 0);
	assert_int_equal(sim_csv_rows(c), 3); /* blank lines are not rows */
	assert_int_equal(read_all(c, ts, v, 8), 3);
	assert_true(v[0] == 1.5 && v[1] == 2.0 && v[2] == 30.0);
	sim_csv_free(c);
}

static void test_timed_rows(void **state)
{
	struct sim_csv *c;
	char err[256];
	int64_t ts[8];
	double v[8];
	const char *text = "timestamp,value\n"
			   "2025-03-05T00:00:00Z,0.5\n"
			   "1741133400000;1\n"			 /* epoch ms, ';' */
			   "2025-03-05T01:20:00+01:00\t2.25\n"	 /* 00:20Z, TAB */
			   "\"2025-03-05T00:20:00Z\" , \"3\"\n"; /* equal is allowed */

	assert_int_equal(open_text(text, &c, err, sizeof(err)), 0);
	assert_true(sim_csv_timed(c));
	assert_int_equal(sim_csv_rows(c), 4);
	assert_int_equal(sim_csv_first_ts(c), INT64_C(1741132800000));
	assert_int_equal(sim_csv_last_ts(c), INT64_C(1741134000000));
	assert_int_equal(read_all(c, ts, v, 8), 4);
	assert_int_equal(ts[0], INT64_C(1741132800000));
	assert_int_equal(ts[1], INT64_C(1741133400000));
	assert_int_equal(ts[2], INT64_C(1741134000000));
	assert_true(v[0] == 0.5 && v[1] == 1 && v[2] == 2.25 && v[3] == 3);
	sim_csv_free(c);
}

static void test_bad_value_names_line_and_text(void **state)
{
	expect_error("value\n1\n2\n\nabc\n", "t.csv:5: value 'abc' is not a number");
	expect_error("1\n2\n1,5\n", "t.csv:3: timestamp '1' is not epoch milliseconds");
	expect_error("1\n-2\n", "t.csv:2: value '-2' is negative");
	expect_error("1\n0x10\n", "t.csv:2: value '0x10' is not a number");
	expect_error("1\n1e999\n", "t.csv:2: value '1e999' is out of range");
	expect_error("1\n\n\n,\n", "t.csv:4: timestamp '' is neither");
	expect_error("1\n2,\n", "t.csv:2:");
}

static void test_header_only_before_data(void **state)
{
	/* invariant 4: a word after the first row is an error, not a header */
	expect_error("1\nvalue\n", "t.csv:2: value 'value' is not a number");
	/* nan and inf are numbers, so never a header, and refused */
	expect_error("nan\n1\n", "t.csv:1: value 'nan' is not a number");
	expect_error("inf\n", "t.csv:1:");
	/* a first line starting with a digit is data */
	expect_error("12a\n", "t.csv:1: value '12a' is not a number");
}

static void test_shapes_do_not_mix(void **state)
{
	/* invariant 2 */
	expect_error("1\n2\n2025-03-05T00:00:00Z,3\n", "t.csv:3:");
	expect_error("2025-03-05T00:00:00Z,3\n4\n",
		     "t.csv:2: expected 'timestamp,value' like the rows before");
	expect_error("2025-03-05T00:00:00Z,3,4\n", "t.csv:1: expected 'value' or "
						   "'timestamp,value', found more fields");
}

static void test_timestamps_checked(void **state)
{
	/* invariant 3 */
	expect_error("2025-03-05T00:10:00Z,1\n2025-03-05T00:00:00Z,2\n",
		     "t.csv:2: timestamp 2025-03-05T00:00:00Z is earlier than the row before");
	expect_error("2025-03-05T00:10:00,1\n", "t.csv:1: timestamp '2025-03-05T00:10:00' is "
						"neither RFC 3339 with an offset");
	expect_error("1570654800,1\n", "t.csv:1: timestamp '1570654800' is not epoch "
				       "milliseconds between the years 2000 and 9999");
	expect_error("1999-12-31T23:59:59Z,1\n", "before the year 2000");
}

static void test_long_line_and_nul(void **state)
{
	char text[SIM_CSV_LINE_MAX + 16];
	struct sim_csv *c;
	char err[256];
	FILE *f;

	/* invariant 1: a line of exactly the limit is fine, one more byte is not */
	memset(text, ' ', SIM_CSV_LINE_MAX);
	text[0] = '1';
	text[SIM_CSV_LINE_MAX] = '\n';
	text[SIM_CSV_LINE_MAX + 1] = '\0';
	assert_int_equal(open_text(text, &c, err, sizeof(err)), 0);
	sim_csv_free(c);
	memcpy(text, "1\n", 2);
	memset(text + 2, ' ', SIM_CSV_LINE_MAX + 1);
	text[2] = '2';
	text[SIM_CSV_LINE_MAX + 3] = '\0';
	expect_error(text, "t.csv:2: the line is longer than 256 bytes");
	f = fmemopen("1\n2\0\n", 5, "r");
	assert_non_null(f);
	assert_int_not_equal(sim_csv_open_stream(f, "t.csv", &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.csv:2: the line holds a NUL byte"));
}

static void test_empty_and_missing_files(void **state)
{
	struct sim_csv *c;
	char err[256];

	expect_error("", "'t.csv' holds no readings");
	expect_error("value\n\n# nothing\n", "'t.csv' holds no readings");
	assert_int_not_equal(sim_csv_open("/nonexistent/x.csv", &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot open '/nonexistent/x.csv'"));
}

static void test_parse_line_kinds(void **state)
{
	int64_t ts = 0;
	double v = -1;
	char err[128];

	assert_int_equal(sim_csv_parse_line("", 0, true, &ts, &v, err, sizeof(err)), SIM_CSV_SKIP);
	assert_int_equal(sim_csv_parse_line("value", 5, true, &ts, &v, err, sizeof(err)),
			 SIM_CSV_SKIP);
	assert_int_equal(sim_csv_parse_line("value", 5, false, &ts, &v, err, sizeof(err)),
			 KW_EINVAL);
	assert_int_equal(sim_csv_parse_line("0", 1, true, &ts, &v, err, sizeof(err)),
			 SIM_CSV_VALUE);
	assert_true(v == 0.0);
	/* len is honoured: the text after it is not read */
	assert_int_equal(sim_csv_parse_line("12,junk", 2, false, &ts, &v, err, sizeof(err)),
			 SIM_CSV_VALUE);
	assert_true(v == 12.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_like_sensor_csv),
		cmocka_unit_test(test_header_blank_comment_crlf_bom),
		cmocka_unit_test(test_timed_rows),
		cmocka_unit_test(test_bad_value_names_line_and_text),
		cmocka_unit_test(test_header_only_before_data),
		cmocka_unit_test(test_shapes_do_not_mix),
		cmocka_unit_test(test_timestamps_checked),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_empty_and_missing_files),
		cmocka_unit_test(test_parse_line_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
