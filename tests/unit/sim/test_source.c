/*
 * test_source.c - unit tests for src/sim/source.c: timestamps of evenly
 * spaced and timed inputs, --count and --until, the --counter register,
 * and the totals the progress bar uses.  Numbers in comments refer to the
 * invariants at the top of source.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/source.h"
#include "core/banned.h"

#define MIN INT64_C(60000)
#define T0  INT64_C(1741132800000) /* 2025-03-05T00:00:00Z */

static struct sim_csv *csv_of(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct sim_csv *c = NULL;
	char err[256];

	assert_non_null(f);
	assert_int_equal(sim_csv_open_stream(f, "t.csv", &c, err, sizeof(err)), 0);
	return c;
}

static struct sim_gen household(void)
{
	return (struct sim_gen){ sim_profile_find("household"), tz_get("UTC"), 50.85, 4.35, 1, 11 };
}

/* Drains s into ts[] / v[]; returns the count. */
static size_t drain(struct sim_source *s, int64_t *ts, double *v, size_t max)
{
	char err[256];
	size_t n = 0;

	while (n < max && sim_source_next(s, &ts[n], &v[n], err, sizeof(err)) == 1)
		n++;
	return n;
}

static void test_values_csv_stamped_from_t0(void **state)
{
	struct sim_csv *c = csv_of("0.5\n1\n3.5\n");
	struct sim_source_opts o = { .csv = c, .t0_ms = T0, .interval_ms = 10 * MIN };
	struct sim_source s;
	int64_t ts[8];
	double v[8];
	char err[64];

	sim_source_init(&s, &o);
	assert_int_equal(sim_source_total(&s), 3);
	assert_int_equal(drain(&s, ts, v, 8), 3);
	for (int k = 0; k < 3; k++) /* invariant 2 */
		assert_int_equal(ts[k], T0 + k * 10 * MIN);
	assert_true(v[0] == 0.5 && v[1] == 1 && v[2] == 3.5); /* a CSV is sent as is */
	assert_int_equal(sim_source_ts_of(&s, 2), T0 + 20 * MIN);
	/* invariant 1: ended stays ended */
	assert_int_equal(sim_source_next(&s, &ts[0], &v[0], err, sizeof(err)), 0);
	assert_int_equal(sim_source_next(&s, &ts[0], &v[0], err, sizeof(err)), 0);
	sim_csv_free(c);
}

static void test_timed_csv_kept_or_shifted(void **state)
{
	const char *text = "2025-03-05T00:00:00Z,1\n2025-03-05T00:07:00Z,2\n";
	struct sim_csv *c = csv_of(text);
	struct sim_source_opts o = { .csv = c, .t0_ms = T0 + 86400000, .interval_ms = 10 * MIN };
	struct sim_source s;
	int64_t ts[4];
	double v[4];

	sim_source_init(&s, &o); /* no --start: the file's own times */
	assert_int_equal(drain(&s, ts, v, 4), 2);
	assert_int_equal(ts[0], T0);
	assert_int_equal(ts[1], T0 + 7 * MIN); /* not the interval: the file's spacing */
	assert_int_equal(sim_source_ts_of(&s, 0), INT64_MIN);
	sim_csv_free(c);

	c = csv_of(text);
	o.csv = c;
	o.shift = true; /* --start: the first row moves there, spacing kept */
	sim_source_init(&s, &o);
	assert_int_equal(drain(&s, ts, v, 4), 2);
	assert_int_equal(ts[0], T0 + 86400000);
	assert_int_equal(ts[1], T0 + 86400000 + 7 * MIN);
	sim_csv_free(c);
}

static void test_count_and_until(void **state)
{
	struct sim_gen g = household();
	struct sim_source_opts o = { .gen = &g, .t0_ms = T0, .interval_ms = 10 * MIN };
	struct sim_source s;
	int64_t ts[200];
	double v[200];

	sim_source_init(&s, &o);
	assert_int_equal(sim_source_total(&s), 0); /* endless */
	o.count = 5;
	sim_source_init(&s, &o);
	assert_int_equal(sim_source_total(&s), 5);
	assert_int_equal(drain(&s, ts, v, 200), 5);
	/* until is inclusive: a day is 145 readings from midnight to midnight */
	o.count = 0;
	o.has_until = true;
	o.until_ms = T0 + 24 * 60 * MIN;
	sim_source_init(&s, &o);
	assert_int_equal(sim_source_total(&s), 145);
	assert_int_equal(drain(&s, ts, v, 200), 145);
	assert_int_equal(ts[144], o.until_ms);
	/* the smaller limit wins */
	o.count = 10;
	sim_source_init(&s, &o);
	assert_int_equal(sim_source_total(&s), 10);
	assert_int_equal(drain(&s, ts, v, 200), 10);
	/* until before t0: nothing */
	o.count = 0;
	o.until_ms = T0 - 1;
	sim_source_init(&s, &o);
	assert_int_equal(drain(&s, ts, v, 200), 0);
}

static void test_counter_register(void **state)
{
	struct sim_gen g = household();
	struct sim_source_opts o = {
		.gen = &g, .t0_ms = T0, .interval_ms = 10 * MIN, .count = 150
	};
	struct sim_source iv, ctr;
	int64_t ts1[150], ts2[150];
	double v1[150], v2[150], sum = 0;

	sim_source_init(&iv, &o);
	o.counter = true;
	sim_source_init(&ctr, &o);
	assert_int_equal(drain(&iv, ts1, v1, 150), 150);
	assert_int_equal(drain(&ctr, ts2, v2, 150), 150);
	assert_true(v2[0] == 0.0); /* the baseline of a new register */
	for (int k = 1; k < 150; k++) {
		sum += v1[k];
		assert_int_equal(ts1[k], ts2[k]);
		assert_true(v2[k] >= v2[k - 1]); /* invariant 3 */
		assert_true(fabs(v2[k] - sum) < 1e-9);
		assert_true(fabs(v2[k] * 1000 - round(v2[k] * 1000)) < 1e-6);
	}
	/* the energy between readings k-1 and k is the interval value of k */
	assert_true(fabs((v2[100] - v2[99]) - v1[100]) < 1e-9);
}

static void test_profile_values_do_not_depend_on_start(void **state)
{
	struct sim_gen g = household();
	struct sim_source_opts a = { .gen = &g, .t0_ms = T0, .interval_ms = 10 * MIN, .count = 20 };
	struct sim_source_opts b = a;
	struct sim_source sa, sb;
	int64_t ta[20], tb[20];
	double va[20], vb[20];

	b.t0_ms = T0 + 100 * MIN; /* a later start overlaps readings 10..19 */
	sim_source_init(&sa, &a);
	sim_source_init(&sb, &b);
	drain(&sa, ta, va, 20);
	drain(&sb, tb, vb, 20);
	for (int k = 0; k < 10; k++) {
		assert_int_equal(ta[10 + k], tb[k]);
		assert_true(va[10 + k] == vb[k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_csv_stamped_from_t0),
		cmocka_unit_test(test_timed_csv_kept_or_shifted),
		cmocka_unit_test(test_count_and_until),
		cmocka_unit_test(test_counter_register),
		cmocka_unit_test(test_profile_values_do_not_depend_on_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
