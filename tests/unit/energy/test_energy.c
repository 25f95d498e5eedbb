/*
 * test_energy.c - unit tests for src/energy/energy.c.
 *
 * Hour starts are written out as UTC instants, so a share landing in the
 * wrong local hour, a missing or extra share, or a sum off by one ulp breaks
 * a test.  Numbers in comments refer to the invariants at the top of
 * energy.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/tz.h"
#include "energy/energy.h"
#include "core/banned.h"

#define HOUR INT64_C(3600000)
#define MIN  INT64_C(60000)
#define EPS  1e-12

/* What energy_spread emitted, in order. */
struct rec {
	int n;		  /* shares emitted */
	int64_t hour[64]; /* hour starts, Unix epoch ms UTC */
	double kwh[64];	  /* shares, kWh */
};

static void record(void *ud, int64_t hour_start, double kwh)
{
	struct rec *r = ud;

	assert_true(r->n < 64);
	r->hour[r->n] = hour_start;
	r->kwh[r->n] = kwh;
	r->n++;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	return tz_days_from_civil(y, mo, d) * 24 * HOUR + h * HOUR + mi * MIN + s * INT64_C(1000);
}

static const struct tz *zone(const char *name)
{
	const struct tz *tz = tz_get(name);

	assert_non_null(tz);
	return tz;
}

static struct rec spread(const char *zone_name, int64_t t1, int64_t t2, double kwh)
{
	struct rec r = { 0 };

	energy_spread(zone(zone_name), t1, t2, kwh, record, &r);
	return r;
}

/* Adds the shares in emission order, the way a caller would. */
static double sum(const struct rec *r)
{
	double s = 0.0;

	for (int i = 0; i < r->n; i++)
		s += r->kwh[i];
	return s;
}

/* Adds them last to first, as a query over stored hours might. */
static double sum_reversed(const struct rec *r)
{
	double s = 0.0;

	for (int i = r->n - 1; i >= 0; i--)
		s += r->kwh[i];
	return s;
}

/* Invariant 1, with the seed's half-hourly meter in Asia/Singapore. */
static void test_interval_hour(void **state)
{
	const struct tz *sgp = zone("Asia/Singapore");
	int64_t h00 = utc(2025, 2, 7, 16, 0, 0); /* 2025-02-08 00:00 +08 */

	/* The packet at 00:31 covers 00:00-00:30: hour 00. */
	assert_int_equal(energy_interval_hour(sgp, h00 + 31 * MIN), h00);
	/* A reading at exactly 01:00:00 closes hour 00, not hour 01. */
	assert_int_equal(energy_interval_hour(sgp, h00 + HOUR), h00);
	assert_int_equal(energy_interval_hour(sgp, h00 + HOUR + 1), h00 + HOUR);
	assert_int_equal(energy_interval_hour(sgp, h00 + 1), h00);
	/* One at 00:00:00 closes 23:00-24:00 of the day before. */
	assert_int_equal(energy_interval_hour(sgp, h00), h00 - HOUR);
	/* Kolkata: 01:00 IST is 19:30Z; its hour 00 began at 18:30Z. */
	assert_int_equal(energy_interval_hour(zone("Asia/Kolkata"), utc(2025, 2, 7, 19, 30, 0)),
			 utc(2025, 2, 7, 18, 30, 0));
	/* Brussels, 01:00Z ends the first 02:00 (CEST), not the second. */
	assert_int_equal(energy_interval_hour(zone("Europe/Brussels"), utc(2025, 10, 26, 1, 0, 0)),
			 utc(2025, 10, 26, 0, 0, 0));
}

static void test_counter_delta(void **state)
{
	bool reset = true;

	assert_float_equal(energy_counter_delta(5.0, 7.5, &reset), 2.5, EPS);
	assert_false(reset);
	reset = true;
	assert_float_equal(energy_counter_delta(7.5, 7.5, &reset), 0.0, EPS);
	assert_false(reset);
	/* The register dropped: a reset, counted from zero. */
	reset = false;
	assert_float_equal(energy_counter_delta(12345.6, 3.25, &reset), 3.25, EPS);
	assert_true(reset);
	reset = false;
	assert_float_equal(energy_counter_delta(0.5, 0.0, &reset), 0.0, EPS);
	assert_true(reset);
}

/* (10:30, 12:45] is 30 + 60 + 45 minutes. */
static void test_spread_three_hours(void **state)
{
	struct rec r = spread("UTC", utc(2025, 2, 8, 10, 30, 0), utc(2025, 2, 8, 12, 45, 0), 1.35);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.hour[0], utc(2025, 2, 8, 10, 0, 0));
	assert_int_equal(r.hour[1], utc(2025, 2, 8, 11, 0, 0));
	assert_int_equal(r.hour[2], utc(2025, 2, 8, 12, 0, 0));
	assert_float_equal(r.kwh[0], 0.30, EPS);
	assert_float_equal(r.kwh[1], 0.60, EPS);
	assert_float_equal(r.kwh[2], 0.45, EPS);
	assert_true(sum(&r) == 1.35);
	assert_true(sum_reversed(&r) == 1.35);
}

/* Invariant 3 over many awkward amounts, intervals and zones. */
static void test_spread_sums_exactly(void **state)
{
	static const char *const zones[] = { "UTC", "Europe/Brussels", "Asia/Kolkata",
					     "Australia/Lord_Howe" };
	int64_t base = utc(2025, 10, 25, 20, 0, 0);

	for (int i = 1; i <= 3000; i++) {
		double kwh = i * 0.013 + 1.0 / 3.0;
		int64_t t1 = base + i * INT64_C(7919);
		int64_t t2 = t1 + (i % 13 + 1) * INT64_C(1234567);
		struct rec r = spread(zones[i % 4], t1, t2, kwh);
		int64_t hours = (t2 - t1) / HOUR;

		assert_true(r.n >= hours && r.n <= hours + 3);
		for (int j = 0; j < r.n; j++) {
			assert_true(r.kwh[j] >= 0.0);
			if (j > 0)
				assert_true(r.hour[j] > r.hour[j - 1]);
		}
		if (sum(&r) != kwh || sum_reversed(&r) != kwh)
			fail_msg("case %d: shares add to %.17g/%.17g, not %.17g", i, sum(&r),
				 sum_reversed(&r), kwh);
	}
}

/* Brussels nights of 25 and 23 hours: one share per real hour. */
static void test_spread_brussels_dst(void **state)
{
	/* 00:00 CEST to 04:00 CET on 2025-10-26: five hours. */
	struct rec r =
	    spread("Europe/Brussels", utc(2025, 10, 25, 22, 0, 0), utc(2025, 10, 26, 3, 0, 0), 1.0);

	assert_int_equal(r.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r.hour[i], utc(2025, 10, 25, 22, 0, 0) + i * HOUR);
		assert_float_equal(r.kwh[i], 0.2, EPS);
	}
	assert_true(sum(&r) == 1.0);

	/* 00:00 CET to 05:00 CEST on 2025-03-30: four hours, no 02:00. */
	r = spread("Europe/Brussels", utc(2025, 3, 29, 23, 0, 0), utc(2025, 3, 30, 3, 0, 0), 2.0);
	assert_int_equal(r.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.hour[i], utc(2025, 3, 29, 23, 0, 0) + i * HOUR);
		assert_float_equal(r.kwh[i], 0.5, EPS);
	}
	assert_true(sum(&r) == 2.0);
}

/* Kolkata's local hours start at hh:30Z. */
static void test_spread_kolkata(void **state)
{
	struct rec r =
	    spread("Asia/Kolkata", utc(2025, 2, 8, 10, 0, 0), utc(2025, 2, 8, 12, 0, 0), 2.0);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.hour[0], utc(2025, 2, 8, 9, 30, 0));
	assert_int_equal(r.hour[1], utc(2025, 2, 8, 10, 30, 0));
	assert_int_equal(r.hour[2], utc(2025, 2, 8, 11, 30, 0));
	assert_float_equal(r.kwh[0], 0.5, EPS);
	assert_float_equal(r.kwh[1], 1.0, EPS);
	assert_float_equal(r.kwh[2], 0.5, EPS);
	assert_true(sum(&r) == 2.0);
}

/* Lord Howe's 30-minute hour at the 2025-04-05T15:00Z transition. */
static void test_spread_lord_howe_cut_hour(void **state)
{
	struct rec r = spread("Australia/Lord_Howe", utc(2025, 4, 5, 14, 30, 0),
			      utc(2025, 4, 5, 16, 0, 0), 0.9);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.hour[0], utc(2025, 4, 5, 14, 0, 0));
	assert_int_equal(r.hour[1], utc(2025, 4, 5, 15, 0, 0));
	assert_int_equal(r.hour[2], utc(2025, 4, 5, 15, 30, 0));
	for (int i = 0; i < 3; i++)
		assert_float_equal(r.kwh[i], 0.3, EPS);
	assert_true(sum(&r) == 0.9);
}

/* Invariant 2: intervals inside one hour, or touching its end. */
static void test_spread_within_one_hour(void **state)
{
	struct rec r = spread("UTC", utc(2025, 2, 8, 10, 10, 0), utc(2025, 2, 8, 10, 20, 0), 0.7);

	assert_int_equal(r.n, 1);
	assert_int_equal(r.hour[0], utc(2025, 2, 8, 10, 0, 0));
	assert_true(r.kwh[0] == 0.7);

	/* Ends exactly at 11:00: all of it is hour 10. */
	r = spread("UTC", utc(2025, 2, 8, 10, 50, 0), utc(2025, 2, 8, 11, 0, 0), 0.7);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.hour[0], utc(2025, 2, 8, 10, 0, 0));
	assert_true(r.kwh[0] == 0.7);

	/* Starts exactly at 11:00: all of it is hour 11. */
	r = spread("UTC", utc(2025, 2, 8, 11, 0, 0), utc(2025, 2, 8, 11, 10, 0), 0.7);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.hour[0], utc(2025, 2, 8, 11, 0, 0));
	assert_true(r.kwh[0] == 0.7);
}

/* A reset's delta is spread like any other: from zero, over the gap. */
static void test_reset_then_spread(void **state)
{
	bool reset = false;
	double kwh = energy_counter_delta(9876.5, 0.4, &reset);
	struct rec r = spread("UTC", utc(2025, 2, 8, 10, 45, 0), utc(2025, 2, 8, 11, 15, 0), kwh);

	assert_true(reset);
	assert_int_equal(r.n, 2);
	assert_float_equal(r.kwh[0], 0.2, EPS);
	assert_float_equal(r.kwh[1], 0.2, EPS);
	assert_true(sum(&r) == 0.4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_hour),
		cmocka_unit_test(test_counter_delta),
		cmocka_unit_test(test_spread_three_hours),
		cmocka_unit_test(test_spread_sums_exactly),
		cmocka_unit_test(test_spread_brussels_dst),
		cmocka_unit_test(test_spread_kolkata),
		cmocka_unit_test(test_spread_lord_howe_cut_hour),
		cmocka_unit_test(test_spread_within_one_hour),
		cmocka_unit_test(test_reset_then_spread),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tz_shutdown();
	return rc;
}
