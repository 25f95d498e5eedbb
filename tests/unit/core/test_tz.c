/*
 * test_tz.c - unit tests for src/core/tz.c.
 *
 * Expected instants were computed independently (Python's zoneinfo on the
 * same tzdata) and are written out literally, so a wrong offset, a missing
 * hour or an off-by-one boundary breaks a test.  Numbers in comments refer
 * to the invariants at the top of tz.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/banned.h"

#define HOUR INT64_C(3600000)
#define MIN  INT64_C(60000)

/* A UTC instant, built on tz_days_from_civil (pinned by test_days_known). */
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

static int64_t day_of(const struct tz *tz, const char *date)
{
	int64_t t = 0;

	assert_int_equal(tz_parse_date(tz, date, &t), 0);
	return t;
}

/*
 * Counts the hours of the local day starting at day_start, checking on the
 * way that each hour starts where the previous one ended (invariant 5).
 */
static int count_hours(const struct tz *tz, int64_t day_start)
{
	int64_t end = tz_day_next(tz, day_start);
	int64_t h = day_start;
	int n = 0;

	assert_int_equal(tz_day_start(tz, day_start), day_start);
	assert_int_equal(tz_day_start(tz, end - 1), day_start);
	while (h < end) {
		int64_t next = tz_hour_next(tz, h);

		assert_true(next > h && next - h <= HOUR);
		assert_int_equal(tz_hour_start(tz, h), h);
		assert_int_equal(tz_hour_start(tz, next - 1), h);
		h = next;
		n++;
	}
	assert_int_equal(h, end);
	return n;
}

static void test_days_known(void **state)
{
	int y, m, d;

	assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(tz_days_from_civil(2025, 2, 8), 20127);
	assert_int_equal(tz_days_from_civil(1600, 2, 29), -135081);
	assert_int_equal(tz_days_from_civil(1, 1, 1), -719162);
	assert_int_equal(tz_days_from_civil(9999, 12, 31), 2932896);
	tz_civil_from_days(-135081, &y, &m, &d);
	assert_int_equal(y, 1600);
	assert_int_equal(m, 2);
	assert_int_equal(d, 29);
	tz_civil_from_days(-1, &y, &m, &d);
	assert_int_equal(y * 10000 + m * 100 + d, 19691231);
}

/* Every day from year -800 to 10800 maps to the next calendar date. */
static void test_days_round_trip(void **state)
{
	int py, pm, pd;

	tz_civil_from_days(-1013000, &py, &pm, &pd);
	for (int64_t days = -1013000 + 1; days < 3225000; days++) {
		int y, m, d;
		bool next_day, next_month, next_year;

		tz_civil_from_days(days, &y, &m, &d);
		next_day = y == py && m == pm && d == pd + 1;
		next_month = y == py && m == pm + 1 && d == 1;
		next_year = y == py + 1 && m == 1 && pm == 12 && d == 1 && pd == 31;
		if (!(next_day || next_month || next_year))
			fail_msg("day %lld: %d-%d-%d after %d-%d-%d", (long long)days, y, m, d, py,
				 pm, pd);
		if (tz_days_from_civil(y, m, d) != days)
			fail_msg("day %lld does not round-trip", (long long)days);
		py = y;
		pm = m;
		pd = d;
	}
	/* The month lengths seen on the way are the Gregorian ones. */
	tz_civil_from_days(tz_days_from_civil(1900, 3, 1) - 1, &py, &pm, &pd);
	assert_int_equal(pd, 28);
	tz_civil_from_days(tz_days_from_civil(2000, 3, 1) - 1, &py, &pm, &pd);
	assert_int_equal(pd, 29);
	tz_civil_from_days(tz_days_from_civil(-4, 3, 1) - 1, &py, &pm, &pd);
	assert_int_equal(pd, 29);
}

static void test_get_unknown_and_cached(void **state)
{
	const struct tz *a = zone("Europe/Brussels");

	assert_ptr_equal(tz_get("Europe/Brussels"), a);
	assert_string_equal(tz_name(a), "Europe/Brussels");
	assert_non_null(tz_get("UTC"));
	assert_non_null(tz_get("Etc/GMT+5"));
	assert_null(tz_get(NULL));
	assert_null(tz_get(""));
	assert_null(tz_get("Mars/Olympus_Mons"));
	assert_null(tz_get("europe/brussels"));
	assert_null(tz_get("Europe"));
	assert_null(tz_get("Europe/"));
	assert_null(tz_get("/etc/passwd"));
	assert_null(tz_get("../zoneinfo/Europe/Brussels"));
	assert_null(tz_get("right/Europe/Brussels"));
	/* POSIX TZ strings, which GLib alone would accept as rules. */
	assert_null(tz_get("XYZ3"));
	assert_null(tz_get("CET-1CEST,M3.5.0,M10.5.0/3"));
	assert_int_equal(tz_offset_s(tz_get("Etc/GMT+5"), 0), -5 * 3600);
}

static void test_offsets_and_civil(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");
	struct civil c;

	assert_int_equal(tz_offset_s(bru, utc(2025, 1, 15, 12, 0, 0)), 3600);
	assert_int_equal(tz_offset_s(bru, utc(2025, 7, 15, 12, 0, 0)), 7200);
	/* The spring transition happens at 01:00:00Z exactly. */
	assert_int_equal(tz_offset_s(bru, 1743296400000 - 1), 3600);
	assert_int_equal(tz_offset_s(bru, 1743296400000), 7200);
	tz_to_civil(bru, utc(2025, 2, 8, 23, 30, 15) + 250, &c);
	assert_int_equal(c.year, 2025);
	assert_int_equal(c.month, 2);
	assert_int_equal(c.day, 9);
	assert_int_equal(c.hour, 0);
	assert_int_equal(c.min, 30);
	assert_int_equal(c.sec, 15);
	assert_int_equal(c.msec, 250);
	assert_int_equal(c.wday, 6); /* Sunday */
	tz_to_civil(zone("UTC"), -1, &c);
	assert_int_equal(c.year, 1969);
	assert_int_equal(c.hour * 10000 + c.min * 100 + c.sec, 235959);
	assert_int_equal(c.msec, 999);
	assert_int_equal(c.wday, 2); /* 1969-12-31 was a Wednesday */
}

static void test_brussels_dst_days(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");
	int64_t spring = day_of(bru, "2025-03-30");
	int64_t autumn = day_of(bru, "2025-10-26");

	assert_int_equal(spring, 1743289200000); /* 2025-03-29T23:00Z */
	assert_int_equal(count_hours(bru, spring), 23);
	assert_int_equal(tz_day_next(bru, spring), utc(2025, 3, 30, 22, 0, 0));
	/* 01:00 CET is followed directly by 03:00 CEST. */
	assert_int_equal(tz_hour_next(bru, utc(2025, 3, 30, 0, 0, 0)), utc(2025, 3, 30, 1, 0, 0));

	assert_int_equal(autumn, utc(2025, 10, 25, 22, 0, 0));
	assert_int_equal(count_hours(bru, autumn), 25);
	assert_int_equal(tz_day_next(bru, autumn), utc(2025, 10, 26, 23, 0, 0));
	/* 02:00 CEST and 02:00 CET are two distinct hours. */
	assert_int_equal(tz_hour_start(bru, utc(2025, 10, 26, 0, 30, 0)),
			 utc(2025, 10, 26, 0, 0, 0));
	assert_int_equal(tz_hour_start(bru, utc(2025, 10, 26, 1, 30, 0)),
			 utc(2025, 10, 26, 1, 0, 0));
	assert_int_equal(count_hours(bru, day_of(bru, "2025-06-15")), 24);
}

static void test_new_york_dst_days(void **state)
{
	const struct tz *ny = zone("America/New_York");
	int64_t spring = day_of(ny, "2025-03-09");
	int64_t autumn = day_of(ny, "2025-11-02");

	assert_int_equal(spring, utc(2025, 3, 9, 5, 0, 0));
	assert_int_equal(count_hours(ny, spring), 23);
	assert_int_equal(tz_day_next(ny, spring), utc(2025, 3, 10, 4, 0, 0));
	assert_int_equal(autumn, utc(2025, 11, 2, 4, 0, 0));
	assert_int_equal(count_hours(ny, autumn), 25);
	assert_int_equal(tz_day_next(ny, autumn), utc(2025, 11, 3, 5, 0, 0));
}

static void test_kolkata_half_hours(void **state)
{
	const struct tz *kol = zone("Asia/Kolkata");
	int64_t noon = utc(2025, 2, 8, 12, 0, 0);

	assert_int_equal(tz_day_start(kol, noon), utc(2025, 2, 7, 18, 30, 0));
	assert_int_equal(day_of(kol, "2025-02-08"), utc(2025, 2, 7, 18, 30, 0));
	assert_int_equal(tz_hour_start(kol, noon), utc(2025, 2, 8, 11, 30, 0));
	assert_int_equal(tz_hour_start(kol, utc(2025, 2, 8, 12, 30, 0) - 1),
			 utc(2025, 2, 8, 11, 30, 0));
	assert_int_equal(tz_hour_start(kol, utc(2025, 2, 8, 12, 30, 0)),
			 utc(2025, 2, 8, 12, 30, 0));
	assert_int_equal(tz_hour_next(kol, utc(2025, 2, 8, 11, 30, 0)), utc(2025, 2, 8, 12, 30, 0));
	assert_int_equal(count_hours(kol, tz_day_start(kol, noon)), 24);
}

static void test_adelaide_and_kathmandu(void **state)
{
	const struct tz *adl = zone("Australia/Adelaide");
	const struct tz *ktm = zone("Asia/Kathmandu");

	/* Adelaide: +10:30 in (southern) summer, +09:30 in winter. */
	assert_int_equal(day_of(adl, "2025-02-08"), utc(2025, 2, 7, 13, 30, 0));
	assert_int_equal(day_of(adl, "2025-07-01"), utc(2025, 6, 30, 14, 30, 0));
	assert_int_equal(tz_hour_start(adl, utc(2025, 7, 1, 3, 10, 0)), utc(2025, 7, 1, 2, 30, 0));
	/* DST ends 2025-04-06 03:00 -> 02:00, starts 2025-10-05 02:00. */
	assert_int_equal(count_hours(adl, day_of(adl, "2025-04-06")), 25);
	assert_int_equal(count_hours(adl, day_of(adl, "2025-10-05")), 23);
	assert_int_equal(tz_hour_next(adl, utc(2025, 10, 4, 15, 30, 0)),
			 utc(2025, 10, 4, 16, 30, 0));

	/* Kathmandu: +05:45, so hours start at hh:15Z. */
	assert_int_equal(tz_offset_s(ktm, utc(2025, 2, 8, 0, 0, 0)), 20700);
	assert_int_equal(day_of(ktm, "2025-02-08"), utc(2025, 2, 7, 18, 15, 0));
	assert_int_equal(tz_hour_start(ktm, utc(2025, 2, 8, 12, 0, 0)), utc(2025, 2, 8, 11, 15, 0));
	assert_int_equal(tz_hour_next(ktm, utc(2025, 2, 8, 11, 15, 0)), utc(2025, 2, 8, 12, 15, 0));
	assert_int_equal(count_hours(ktm, day_of(ktm, "2025-02-08")), 24);
}

/*
 * Lord Howe shifts by 30 minutes: +11 -> +10:30 at 2025-04-05T15:00Z (02:00
 * back to 01:30) and back at 2025-10-04T15:30Z (02:00 on to 02:30).  The
 * hour holding each transition is cut there (invariant 5).
 */
static void test_lord_howe_tiles(void **state)
{
	const struct tz *lh = zone("Australia/Lord_Howe");
	int64_t end = utc(2025, 4, 5, 15, 0, 0);
	int64_t start = utc(2025, 10, 4, 15, 30, 0);
	int64_t h = utc(2025, 4, 4, 0, 0, 0);

	/* Every minute for three days lies in exactly one hour. */
	h = tz_hour_start(lh, h);
	for (int64_t t = h; t < utc(2025, 4, 7, 0, 0, 0); t += MIN) {
		if (t >= tz_hour_next(lh, h))
			h = tz_hour_next(lh, h);
		assert_int_equal(tz_hour_start(lh, t), h);
	}
	assert_int_equal(tz_hour_start(lh, end - 1), end - HOUR);
	assert_int_equal(tz_hour_next(lh, end - HOUR), end);
	assert_int_equal(tz_hour_next(lh, end), end + 30 * MIN);
	assert_int_equal(tz_hour_start(lh, end + 10 * MIN), end);
	assert_int_equal(tz_hour_next(lh, start - HOUR), start);
	assert_int_equal(tz_hour_next(lh, start), start + 30 * MIN);
	assert_int_equal(tz_hour_start(lh, start + 29 * MIN), start);
	/* 24.5 hours in 25 pieces; 23.5 hours in 24 pieces. */
	assert_int_equal(count_hours(lh, day_of(lh, "2025-04-06")), 25);
	assert_int_equal(tz_day_next(lh, day_of(lh, "2025-04-06")) - day_of(lh, "2025-04-06"),
			 24 * HOUR + 30 * MIN);
	assert_int_equal(count_hours(lh, day_of(lh, "2025-10-05")), 24);
}

static void test_from_civil_gap_overlap(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");
	const struct tz *ny = zone("America/New_York");
	struct civil c = { 2025, 6, 15, 12, 0, 0, 0, 0 };

	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 6, 15, 10, 0, 0));
	/* Gap: 02:30 does not exist; the clocks jumped at 01:00Z. */
	c = (struct civil){ 2025, 3, 30, 2, 30, 0, 0, 0 };
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 3, 30, 1, 0, 0));
	c = (struct civil){ 2025, 3, 30, 3, 0, 0, 0, 0 };
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 3, 30, 1, 0, 0));
	c = (struct civil){ 2025, 3, 30, 1, 59, 59, 999, 0 };
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 3, 30, 1, 0, 0) - 1);
	/* Overlap: 02:30 happens twice; the earlier (CEST) one wins. */
	c = (struct civil){ 2025, 10, 26, 2, 30, 0, 0, 0 };
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 10, 26, 0, 30, 0));
	c = (struct civil){ 2025, 10, 26, 3, 0, 0, 0, 0 };
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 10, 26, 2, 0, 0));
	c = (struct civil){ 2025, 3, 9, 2, 30, 0, 0, 0 };
	assert_int_equal(tz_from_civil(ny, &c), utc(2025, 3, 9, 7, 0, 0));
	c = (struct civil){ 2025, 11, 2, 1, 30, 0, 0, 0 };
	assert_int_equal(tz_from_civil(ny, &c), utc(2025, 11, 2, 5, 30, 0));
	/* Round trip through civil time, wday ignored on the way in. */
	tz_to_civil(bru, utc(2025, 10, 26, 1, 30, 0), &c);
	assert_int_equal(c.hour * 100 + c.min, 230);
	c.wday = 4;
	assert_int_equal(tz_from_civil(bru, &c), utc(2025, 10, 26, 0, 30, 0));
}

static void test_week_start_monday(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");
	const struct tz *ny = zone("America/New_York");
	int64_t monday = utc(2025, 2, 2, 23, 0, 0); /* 2025-02-03 00:00 CET */

	assert_int_equal(tz_week_start(bru, utc(2025, 2, 8, 12, 0, 0)), monday);
	assert_int_equal(tz_week_start(bru, monday), monday);
	assert_int_equal(tz_week_start(bru, monday - 1), utc(2025, 1, 26, 23, 0, 0));
	/* Sunday 23:59 local is still the week of Monday 2025-02-03. */
	assert_int_equal(tz_week_start(bru, utc(2025, 2, 9, 22, 59, 0)), monday);
	/* A week holding the spring change starts before it, in CET. */
	assert_int_equal(tz_week_start(bru, utc(2025, 3, 30, 12, 0, 0)),
			 utc(2025, 3, 23, 23, 0, 0));
	assert_int_equal(tz_week_start(ny, utc(2025, 2, 3, 3, 0, 0)), utc(2025, 1, 27, 5, 0, 0));
}

static void test_month_grid(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");
	int64_t march = tz_month_start(bru, utc(2025, 3, 15, 12, 0, 0));
	int64_t oct = tz_month_start(bru, utc(2025, 10, 31, 22, 59, 59));
	int64_t dec = tz_month_start(bru, utc(2025, 12, 1, 0, 0, 0));

	assert_int_equal(march, utc(2025, 2, 28, 23, 0, 0));
	assert_int_equal(tz_month_next(bru, march), utc(2025, 3, 31, 22, 0, 0));
	assert_int_equal(tz_month_next(bru, march) - march, 31 * 24 * HOUR - HOUR);
	assert_int_equal(oct, utc(2025, 9, 30, 22, 0, 0));
	assert_int_equal(tz_month_next(bru, oct), utc(2025, 10, 31, 23, 0, 0));
	assert_int_equal(tz_month_next(bru, oct) - oct, 31 * 24 * HOUR + HOUR);
	assert_int_equal(dec, utc(2025, 11, 30, 23, 0, 0));
	assert_int_equal(tz_month_next(bru, dec), utc(2025, 12, 31, 23, 0, 0));
	assert_int_equal(tz_month_next(bru, tz_month_next(bru, dec)), utc(2026, 1, 31, 23, 0, 0));
	assert_int_equal(tz_month_start(bru, utc(2025, 12, 31, 23, 0, 0)),
			 utc(2025, 12, 31, 23, 0, 0));
}

/*
 * St. John's ended DST on 2009-11-01 at 00:01 NDT (02:31Z), back to 23:01
 * NST on October 31: one minute of November, then October again.  The
 * repeated stretch belongs to the day and month already begun, so periods
 * still tile (invariant 5).
 */
static void test_clock_back_across_midnight(void **state)
{
	const struct tz *sj = zone("America/St_Johns");
	int64_t nov1 = utc(2009, 11, 1, 2, 30, 0);
	int64_t t = utc(2009, 11, 1, 2, 41, 0);
	struct civil c;

	tz_to_civil(sj, t, &c);
	assert_int_equal(c.month * 100 + c.day, 1031);
	assert_int_equal(day_of(sj, "2009-11-01"), nov1);
	assert_int_equal(tz_day_start(sj, t), nov1);
	assert_int_equal(tz_day_next(sj, day_of(sj, "2009-10-31")), nov1);
	assert_int_equal(tz_day_next(sj, nov1), utc(2009, 11, 2, 3, 30, 0));
	assert_int_equal(tz_month_start(sj, t), nov1);
	assert_int_equal(tz_month_next(sj, tz_month_start(sj, nov1 - 1)), nov1);
	/* Hours: the one-minute 00:00 NDT, then 23:01-24:00 NST cut at 02:31Z.
	 */
	assert_int_equal(tz_hour_next(sj, nov1), nov1 + MIN);
	assert_int_equal(tz_hour_start(sj, t), nov1 + MIN);
	assert_int_equal(tz_hour_next(sj, nov1 + MIN), utc(2009, 11, 1, 3, 30, 0));
	assert_int_equal(count_hours(sj, nov1), 26);
}

/* GLib expands the tzdata footer rule, so DST continues past 2037. */
static void test_far_future(void **state)
{
	const struct tz *bru = zone("Europe/Brussels");

	assert_int_equal(tz_offset_s(bru, utc(2045, 1, 15, 12, 0, 0)), 3600);
	assert_int_equal(tz_offset_s(bru, utc(2045, 7, 15, 12, 0, 0)), 7200);
	assert_int_equal(count_hours(bru, day_of(bru, "2045-03-26")), 23);
	assert_int_equal(count_hours(bru, day_of(bru, "2045-10-29")), 25);
	assert_int_equal(tz_offset_s(bru, utc(2200, 7, 1, 0, 0, 0)), 7200);
}

static const char *const race_zones[] = { "Europe/Paris", "Asia/Tokyo", "America/Chicago",
					  "Africa/Lagos" };

/* Looks every zone up many times; returns the last pointers seen. */
static void *race_lookups(void *arg)
{
	const struct tz **seen = arg;

	for (int i = 0; i < 2000; i++)
		for (int z = 0; z < 4; z++)
			seen[z] = tz_get(race_zones[z]);
	return NULL;
}

/* Threads racing to load the same zones all get the one cached copy. */
static void test_concurrent_get(void **state)
{
	const struct tz *seen[8][4];
	pthread_t th[8];

	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_lookups, seen[i]), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int z = 0; z < 4; z++) {
		assert_non_null(seen[0][z]);
		assert_string_equal(tz_name(seen[0][z]), race_zones[z]);
		for (int i = 1; i < 8; i++)
			assert_ptr_equal(seen[i][z], seen[0][z]);
	}
	assert_int_equal(tz_offset_s(seen[0][1], 0), 9 * 3600);
}

static int64_t parse_ok(const char *s)
{
	int64_t t = -42;

	if (tz_parse_rfc3339(s, &t) != 0)
		fail_msg("rejected valid \"%s\"", s);
	return t;
}

static void test_parse_valid(void **state)
{
	int64_t base = 1738974660000; /* 2025-02-08T00:31:00Z */

	assert_int_equal(parse_ok("2025-02-08T00:31:00Z"), base);
	assert_int_equal(parse_ok("2025-02-08t00:31:00z"), base);
	assert_int_equal(parse_ok("2025-02-08 00:31:00Z"), base);
	assert_int_equal(parse_ok("2025-02-08T00:31:00+00:00"), base);
	assert_int_equal(parse_ok("2025-02-08T00:31:00-00:00"), base);
	assert_int_equal(parse_ok("2025-02-08T08:31:00+08:00"), base);
	assert_int_equal(parse_ok("2025-02-07T19:01:00-05:30"), base);
	assert_int_equal(parse_ok("2025-02-08T00:31:00.250Z"), base + 250);
	assert_int_equal(parse_ok("2025-02-08T00:31:00.5Z"), base + 500);
	assert_int_equal(parse_ok("2025-02-08T00:31:00.05Z"), base + 50);
	assert_int_equal(parse_ok("2025-02-08T00:31:00.9999Z"), base + 999);
	assert_int_equal(parse_ok("2025-02-08T00:31:00.123456789Z"), base + 123);
	assert_int_equal(parse_ok("2025-02-08T08:31:00.001+08:00"), base + 1);
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), utc(2024, 2, 29, 0, 0, 0));
	assert_int_equal(parse_ok("2000-02-29T23:59:59Z"), utc(2000, 2, 29, 23, 59, 59));
	assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
	assert_int_equal(parse_ok("2025-01-01T00:00:00+23:59"), utc(2024, 12, 31, 0, 1, 0));
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"2025-02-30T00:00:00Z",
		"2025-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z",
		"2025-04-31T00:00:00Z",
		"2025-13-01T00:00:00Z",
		"2025-00-10T00:00:00Z",
		"2025-02-00T00:00:00Z",
		"2025-02-08T24:00:00Z",
		"2025-02-08T23:60:00Z",
		"2025-02-08T23:59:60Z",
		"2025-02-08T00:31:00",
		"2025-02-08T00:31:00Zjunk",
		"2025-02-08T00:31:00Z ",
		" 2025-02-08T00:31:00Z",
		"2025-2-8T00:31:00Z",
		"2025-02-08",
		"",
		"2025-02-08T00:31Z",
		"2025-02-08T0:31:00Z",
		"2025-02-08X00:31:00Z",
		"2025-02-08  00:31:00Z",
		"2025-02-08T00:31:00.Z",
		"2025-02-08T00:31:00.1234567890Z",
		"2025-02-08T00:31:00+0800",
		"2025-02-08T00:31:00+08",
		"2025-02-08T00:31:00+24:00",
		"2025-02-08T00:31:00+08:60",
		"2025-02-08T00:31:00 +08:00",
		"2025-02-08T00:31:00UTC",
		"+2025-02-08T00:31:00Z",
		"20250208T003100Z",
		"2025-02-08T00:31:00,5Z",
		"2025-02-08T00:31:00\n",
	};
	int64_t t = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tz_parse_rfc3339(bad[i], &t) != KW_EPARSE)
			fail_msg("accepted invalid \"%s\"", bad[i]);
	assert_int_equal(tz_parse_rfc3339(NULL, &t), KW_EPARSE);
	assert_int_equal(t, 7); /* *out untouched on failure */
}

static void test_parse_date(void **state)
{
	const struct tz *sgp = zone("Asia/Singapore");
	int64_t t = 7;

	assert_int_equal(day_of(sgp, "2025-02-08"), utc(2025, 2, 7, 16, 0, 0));
	assert_int_equal(day_of(zone("UTC"), "2024-02-29"), utc(2024, 2, 29, 0, 0, 0));
	assert_int_equal(tz_parse_date(sgp, "2025-2-8", &t), KW_EPARSE);
	assert_int_equal(tz_parse_date(sgp, "2025-02-30", &t), KW_EPARSE);
	assert_int_equal(tz_parse_date(sgp, "2025-02-08T", &t), KW_EPARSE);
	assert_int_equal(tz_parse_date(sgp, "2025-02-08 ", &t), KW_EPARSE);
	assert_int_equal(tz_parse_date(sgp, "20250208", &t), KW_EPARSE);
	assert_int_equal(tz_parse_date(sgp, "", &t), KW_EPARSE);
	assert_int_equal(t, 7);
}

static void expect_format(const char *zone_name, int64_t t, const char *want)
{
	const struct tz *tz = zone(zone_name);
	char buf[TZ_RFC3339_MAX];

	assert_ptr_equal(tz_format_rfc3339(tz, t, buf), buf);
	assert_string_equal(buf, want);
	assert_int_equal(parse_ok(buf), t);
}

static void test_format_round_trip(void **state)
{
	expect_format("Asia/Singapore", utc(2025, 2, 7, 16, 0, 0), "2025-02-08T00:00:00+08:00");
	expect_format("UTC", 1738974660000, "2025-02-08T00:31:00Z");
	expect_format("UTC", 1738974660250, "2025-02-08T00:31:00.250Z");
	expect_format("UTC", 1738974660007, "2025-02-08T00:31:00.007Z");
	expect_format("UTC", -1, "1969-12-31T23:59:59.999Z");
	expect_format("Asia/Kolkata", utc(2025, 2, 7, 18, 30, 0), "2025-02-08T00:00:00+05:30");
	expect_format("Asia/Kathmandu", utc(2025, 2, 7, 18, 15, 0), "2025-02-08T00:00:00+05:45");
	expect_format("America/New_York", utc(2025, 2, 8, 5, 0, 0) + 1,
		      "2025-02-08T00:00:00.001-05:00");
	expect_format("Europe/Brussels", utc(2025, 10, 26, 0, 30, 0), "2025-10-26T02:30:00+02:00");
	expect_format("Europe/Brussels", utc(2025, 10, 26, 1, 30, 0), "2025-10-26T02:30:00+01:00");
	expect_format("Australia/Lord_Howe", utc(2025, 4, 5, 15, 0, 0),
		      "2025-04-06T01:30:00+10:30");
	/* Local mean time (+00:17:30) is shown at the minute (+00:17). */
	expect_format("Europe/Brussels", utc(1880, 1, 1, 0, 0, 0), "1880-01-01T00:17:00+00:17");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days_known),
		cmocka_unit_test(test_days_round_trip),
		cmocka_unit_test(test_get_unknown_and_cached),
		cmocka_unit_test(test_concurrent_get),
		cmocka_unit_test(test_offsets_and_civil),
		cmocka_unit_test(test_brussels_dst_days),
		cmocka_unit_test(test_new_york_dst_days),
		cmocka_unit_test(test_kolkata_half_hours),
		cmocka_unit_test(test_adelaide_and_kathmandu),
		cmocka_unit_test(test_lord_howe_tiles),
		cmocka_unit_test(test_from_civil_gap_overlap),
		cmocka_unit_test(test_week_start_monday),
		cmocka_unit_test(test_month_grid),
		cmocka_unit_test(test_clock_back_across_midnight),
		cmocka_unit_test(test_far_future),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_format_round_trip),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tz_shutdown();
	return rc;
}
