/*
 * test_rollup.c - hourly and daily totals as readings commit
 * (src/store/rollup.c, src/store/query.c), against a real SQLite store.
 *
 * Each test states the readings, the energy rule of docs/ENERGY.md it
 * exercises, and the exact totals that rule gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"
#include "tests/unit/support/teststore.h"

#define H  (INT64_C(3600000))
#define M  (INT64_C(60000))
#define T0 INT64_C(1738972800000) /* 2025-02-08T00:00:00Z */

/* Hourly kWh of a UTC day starting at T0; has[] tells which had data. */
static void hours(struct teststore *t, int64_t dev, double kwh[24], bool has[24])
{
	struct query_bucket *b;
	size_t n;
	assert_int_equal(teststore_consumption(t, dev, "UTC", STEP_HOUR, T0, T0 + 24 * H, &b, &n),
			 0);
	assert_int_equal(n, 24);
	for (size_t i = 0; i < n; i++) {
		kwh[i] = b[i].kwh;
		has[i] = b[i].has;
	}
	free(b);
}

static void interval_hour_is_t_minus_1ms(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "i1", "UTC", READING_INTERVAL);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0 + 31 * M, 5.5), 0); /* 00:31 -> hour 00 */
	assert_int_equal(teststore_put(t, d, T0 + H, 1.25), 0);	    /* 01:00:00 -> hour 00 */
	assert_int_equal(teststore_put(t, d, T0 + H + 1, 2.0), 0);  /* 01:00:00.001 -> 01 */
	hours(t, d, kwh, has);
	assert_near(kwh[0], 6.75);
	assert_near(kwh[1], 2.0);
	assert_true(has[0] && has[1]);
	assert_false(has[2]);
}

static void counter_spreads_in_proportion(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c1", "UTC", READING_COUNTER);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0, 100), 0);	    /* baseline: no energy */
	assert_int_equal(teststore_put(t, d, T0 + 50 * M, 105), 0); /* 5 in hour 00 */
	assert_int_equal(teststore_put(t, d, T0 + 80 * M, 108), 0); /* 3 over 00:50-01:20 */
	hours(t, d, kwh, has);
	assert_near(kwh[0], 5 + 1);
	assert_near(kwh[1], 2);
	assert_false(has[2]);
}

static void late_counter_reading_splits_its_segment(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c2", "UTC", READING_COUNTER);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0, 100), 0);
	assert_int_equal(teststore_put(t, d, T0 + 2 * H, 112), 0); /* 6 + 6 */
	assert_int_equal(teststore_put(t, d, T0 + 3 * H, 113), 0); /* 1 in hour 02 */
	hours(t, d, kwh, has);
	assert_near(kwh[0], 6);
	assert_near(kwh[1], 6);
	/* 00:30 arrives late with 110: (00:00, 00:30] gets 10, (00:30, 02:00]
	 * gets 2 spread over 90 minutes: 2/3 in hour 00, 4/3 in hour 01. */
	assert_int_equal(teststore_put(t, d, T0 + 30 * M, 110), 0);
	hours(t, d, kwh, has);
	assert_near(kwh[0], 10 + 2.0 / 3);
	assert_near(kwh[1], 4.0 / 3);
	assert_near(kwh[2], 1); /* untouched */
}

static void late_counter_reading_days_late(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c3", "UTC", READING_COUNTER);
	struct query_bucket *b;
	size_t n;

	/* Day 0 00:00 = 0, day 3 00:00 = 72: 1 kWh/h for three days. */
	assert_int_equal(teststore_put(t, d, T0, 0), 0);
	assert_int_equal(teststore_put(t, d, T0 + 72 * H, 72), 0);
	/* Day 1 12:00 arrives late saying 12: day 0 and the first half of day 1
	 * share 12 (over 36 h), the rest share 60 (over 36 h). */
	assert_int_equal(teststore_put(t, d, T0 + 36 * H, 12), 0);
	assert_int_equal(teststore_consumption(t, d, "UTC", STEP_DAY, T0, T0 + 72 * H, &b, &n), 0);
	assert_int_equal(n, 3);
	assert_near(b[0].kwh, 8);
	assert_near(b[1].kwh, 4 + 20);
	assert_near(b[2].kwh, 40);
	free(b);
}

static void counter_reset_counts_from_zero_and_is_flagged(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c4", "UTC", READING_COUNTER);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0, 100), 0);
	assert_int_equal(teststore_put(t, d, T0 + 30 * M, 105), 0);
	assert_int_equal(teststore_put(t, d, T0 + 60 * M, 2), 0); /* meter swapped */
	hours(t, d, kwh, has);
	assert_near(kwh[0], 5 + 2);
	assert_int_equal(teststore_flags(t, d, T0 + 60 * M), READING_FLAG_RESET);
	assert_int_equal(teststore_flags(t, d, T0 + 30 * M), 0);
}

static void late_reading_recomputes_next_reset_flag(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c5", "UTC", READING_COUNTER);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0, 100), 0);
	assert_int_equal(teststore_put(t, d, T0 + H, 50), 0); /* looks like a reset */
	assert_int_equal(teststore_flags(t, d, T0 + H), READING_FLAG_RESET);
	/* 00:30 = 40 shows the reset happened before it: 40 from zero, then +10. */
	assert_int_equal(teststore_put(t, d, T0 + 30 * M, 40), 0);
	assert_int_equal(teststore_flags(t, d, T0 + 30 * M), READING_FLAG_RESET);
	assert_int_equal(teststore_flags(t, d, T0 + H), 0);
	hours(t, d, kwh, has);
	assert_near(kwh[0], 40 + 10);
}

static void late_reading_before_the_first(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "c6", "UTC", READING_COUNTER);
	double kwh[24];
	bool has[24];

	assert_int_equal(teststore_put(t, d, T0 + H, 100), 0);
	assert_int_equal(teststore_put(t, d, T0 + 2 * H, 110), 0);
	assert_int_equal(teststore_put(t, d, T0 + 30 * M, 95), 0); /* new first reading */
	hours(t, d, kwh, has);
	assert_near(kwh[0], 5);
	assert_near(kwh[1], 10);
}

static void duplicates_and_conflicts(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "i2", "UTC", READING_INTERVAL);
	struct store_reading r = { T0 + 10 * M, d, STORE_CHANNEL_ENERGY, 0, 1.5 };
	struct store_batch b;
	double kwh[24];
	bool has[24];

	store_batch_init(&b);
	store_batch_add(&b, &r);
	store_batch_add(&b, &r); /* same key, same value */
	r.value = 9;
	store_batch_add(&b, &r); /* same key, other value */
	assert_int_equal(teststore_commit(t, &b), 0);
	assert_int_equal(b.accepted, 1);
	assert_int_equal(b.duplicates, 1);
	assert_int_equal(b.conflicts, 1);
	store_batch_release(&b);
	hours(t, d, kwh, has);
	assert_near(kwh[0], 1.5); /* the first value is kept, counted once */
}

static void batch_is_all_or_nothing(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "i3", "UTC", READING_INTERVAL);
	struct store_reading ok = { T0 + 10 * M, d, STORE_CHANNEL_ENERGY, 0, 1 };
	struct store_reading gone = { T0 + 20 * M, 999999, STORE_CHANNEL_ENERGY, 0, 1 };
	struct store_batch b;
	double kwh[24];
	bool has[24];

	store_batch_init(&b);
	store_batch_add(&b, &ok);
	store_batch_add(&b, &gone); /* a device that does not exist (deleted) */
	assert_int_equal(teststore_commit(t, &b), KW_ENOTFOUND);
	store_batch_release(&b);
	hours(t, d, kwh, has);
	assert_false(has[0]);
}

static void dst_days_have_23_and_25_hours(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "bxl", "Europe/Brussels", READING_INTERVAL);
	const struct tz *bxl = tz_get("Europe/Brussels");
	int64_t from, to;
	struct query_bucket *b;
	size_t n;

	/* One reading of 1 kWh ending every real hour of 2025-03-30 and -31. */
	assert_int_equal(tz_parse_date(bxl, "2025-03-30", &from), 0);
	assert_int_equal(tz_parse_date(bxl, "2025-04-01", &to), 0);
	for (int64_t ts = from + H; ts <= to; ts += H)
		assert_int_equal(teststore_put(t, d, ts, 1), 0);
	assert_int_equal(teststore_consumption(t, d, "Europe/Brussels", STEP_HOUR, from,
					       tz_day_next(bxl, from), &b, &n),
			 0);
	assert_int_equal(n, 23);
	for (size_t i = 0; i < n; i++) { /* each local hour holds its one reading */
		assert_true(b[i].has);
		assert_near(b[i].kwh, 1);
		assert_int_equal(b[i].end - b[i].start, H);
	}
	free(b);
	assert_int_equal(teststore_consumption(t, d, "Europe/Brussels", STEP_DAY, from, to, &b, &n),
			 0);
	assert_int_equal(n, 2);
	assert_near(b[0].kwh, 23);
	assert_near(b[1].kwh, 24);
	free(b);
}

static void fall_back_day_has_25_hourly_buckets(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "bxl25", "Europe/Brussels", READING_INTERVAL);
	const struct tz *bxl = tz_get("Europe/Brussels");
	int64_t from;
	struct query_bucket *b;
	size_t n;

	/* 2025-10-26: the hour 02:00-03:00 happens twice.  Reading i (ending
	 * at the i-th real hour) carries i kWh, so each bucket shows which
	 * reading landed in it. */
	assert_int_equal(tz_parse_date(bxl, "2025-10-26", &from), 0);
	for (int i = 1; i <= 25; i++)
		assert_int_equal(teststore_put(t, d, from + i * H, i), 0);
	assert_int_equal(teststore_put(t, d, from + 30 * H, 1), 0); /* closes the day */
	assert_int_equal(teststore_consumption(t, d, "Europe/Brussels", STEP_HOUR, from,
					       tz_day_next(bxl, from), &b, &n),
			 0);
	assert_int_equal(n, 25);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(b[i].start, from + (int64_t)i * H);
		assert_near(b[i].kwh, (double)(i + 1));
	}
	free(b);
}

static void other_zone_grid_is_computed_from_raw(void **state)
{
	struct teststore *t = *state;
	int64_t utc = teststore_device(t, "u", "UTC", READING_COUNTER);
	int64_t kol = teststore_device(t, "k", "Asia/Kolkata", READING_COUNTER);
	struct query_bucket *a, *b;
	size_t na, nb;

	/* The same counter data on a UTC device and on a Kolkata device. */
	for (int i = 0; i <= 36; i++) {
		double v = 1000 + i * 0.7 + (i % 5) * 0.1;
		assert_int_equal(teststore_put(t, utc, T0 + i * 10 * M + 7 * M, v), 0);
		assert_int_equal(teststore_put(t, kol, T0 + i * 10 * M + 7 * M, v), 0);
	}
	/* Kolkata hours begin at hh:30 UTC: the UTC device's stored hours do
	 * not fit, so its answer comes from raw readings, and must be equal. */
	assert_int_equal(
	    teststore_consumption(t, utc, "Asia/Kolkata", STEP_HOUR, T0, T0 + 6 * H, &a, &na), 0);
	assert_int_equal(
	    teststore_consumption(t, kol, "Asia/Kolkata", STEP_HOUR, T0, T0 + 6 * H, &b, &nb), 0);
	assert_int_equal(na, nb);
	assert_int_equal(na, 7); /* 23:30Z the day before .. 05:30Z */
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(a[i].start, b[i].start);
		assert_int_equal(a[i].has, b[i].has);
		assert_near(a[i].kwh, b[i].kwh);
	}
	assert_int_equal(a[1].start, T0 + 30 * M);
	free(a);
	free(b);
}

static void open_hours_survive_a_restart(void **state)
{
	struct teststore *t = *state;
	int64_t iv = teststore_device(t, "ri", "Asia/Kolkata", READING_INTERVAL);
	int64_t ct = teststore_device(t, "rc", "Europe/Brussels", READING_COUNTER);
	struct query_bucket *before[2], *after[2];
	size_t nb[2], na[2];
	int64_t devs[2] = { iv, ct };

	/* Ten hours of readings: the last hour or so stays open (in memory
	 * only) when the store closes, and must be rebuilt from raw readings;
	 * the counter's segments cross the watermark. */
	for (int i = 1; i <= 60; i++) {
		assert_int_equal(teststore_put(t, iv, T0 + i * 10 * M, 0.1 * (i % 7)), 0);
		assert_int_equal(teststore_put(t, ct, T0 + i * 10 * M, 50 + 0.37 * i), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(teststore_consumption(t, devs[k], "UTC", STEP_HOUR, T0 - H,
						       T0 + 12 * H, &before[k], &nb[k]),
				 0);
	teststore_reopen(t);
	for (int k = 0; k < 2; k++) {
		double total = 0;
		assert_int_equal(teststore_consumption(t, devs[k], "UTC", STEP_HOUR, T0 - H,
						       T0 + 12 * H, &after[k], &na[k]),
				 0);
		assert_int_equal(na[k], nb[k]);
		for (size_t i = 0; i < na[k]; i++) {
			assert_int_equal(after[k][i].has, before[k][i].has);
			assert_near(after[k][i].kwh, before[k][i].kwh);
			total += after[k][i].kwh;
		}
		assert_near(total, k == 0 ? 0.1 * (8 * 21 + 1 + 2 + 3 + 4) : 0.37 * 59);
		free(before[k]);
		free(after[k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(interval_hour_is_t_minus_1ms, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(counter_spreads_in_proportion, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(late_counter_reading_splits_its_segment,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(late_counter_reading_days_late, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(counter_reset_counts_from_zero_and_is_flagged,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(late_reading_recomputes_next_reset_flag,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(late_reading_before_the_first, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(duplicates_and_conflicts, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(batch_is_all_or_nothing, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(dst_days_have_23_and_25_hours, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(other_zone_grid_is_computed_from_raw,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(open_hours_survive_a_restart, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(fall_back_day_has_25_hourly_buckets,
						teststore_setup, teststore_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tz_shutdown();
	return rc;
}
