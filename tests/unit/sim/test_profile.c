/*
 * test_profile.c - unit tests for src/sim/profile.c: the shape of each
 * profile (household peaks and weekends, office hours, pv following the
 * sun and zero at night), determinism with a seed, and the invariants at
 * the top of profile.c (numbers in comments).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "core/tz.h"
#include "sim/profile.h"
#include "core/banned.h"

#define MIN  INT64_C(60000)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static struct sim_gen gen(const char *profile, const char *zone, uint64_t seed)
{
	struct sim_gen g = { sim_profile_find(profile), tz_get(zone), 50.85, 4.35, 1.0, seed };

	assert_non_null(g.profile);
	assert_non_null(g.tz);
	return g;
}

/* The instant of a local civil time in g's zone. */
static int64_t at(const struct sim_gen *g, int y, int mo, int d, int h, int mi)
{
	struct civil c = { y, mo, d, h, mi, 0, 0, 0 };
	return tz_from_civil(g->tz, &c);
}

/* Mean energy of the 10-minute interval ending at local hh:mm, over the
 * `days` days from (y, mo, d) that are weekdays (weekend false) or not. */
static double avg_kwh(const struct sim_gen *g, int y, int mo, int d, int days, int h, int mi,
		      bool weekend)
{
	double sum = 0;
	int n = 0;

	for (int k = 0; k < days; k++) {
		int yy, mm, dd;
		int64_t t;
		struct civil c;

		/* by local date, so the time of day survives a DST change */
		tz_civil_from_days(tz_days_from_civil(y, mo, d) + k, &yy, &mm, &dd);
		t = at(g, yy, mm, dd, h, mi);
		tz_to_civil(g->tz, t, &c);
		if ((c.wday >= 5) != weekend)
			continue;
		sum += sim_gen_kwh(g, t, 10 * MIN);
		n++;
	}
	assert_true(n > 0);
	return sum / n;
}

static void test_find(void **state)
{
	assert_non_null(sim_profile_find("household"));
	assert_non_null(sim_profile_find("office"));
	assert_non_null(sim_profile_find("pv"));
	assert_null(sim_profile_find("factory"));
	assert_null(sim_profile_find(""));
}

static void test_household_peaks(void **state)
{
	struct sim_gen g = gen("household", "Europe/Brussels", 7);
	/* 2025-03-03 is a Monday; eight weeks of noisy values */
	double night = avg_kwh(&g, 2025, 3, 3, 56, 3, 10, false);
	double morning = avg_kwh(&g, 2025, 3, 3, 56, 7, 30, false);
	double late_morning = avg_kwh(&g, 2025, 3, 3, 56, 10, 40, false);
	double evening = avg_kwh(&g, 2025, 3, 3, 56, 19, 30, false);

	assert_true(morning > 4 * night);
	assert_true(evening > 6 * night);
	assert_true(evening > morning);
	assert_true(late_morning < 0.7 * morning); /* two peaks, not a plateau */
	assert_true(late_morning < 0.5 * evening);
	/* the base load: about 0.1 kW, so about 17 Wh per 10 minutes */
	assert_true(night > 0.010 && night < 0.030);
}

static void test_household_weekend(void **state)
{
	struct sim_gen g = gen("household", "Europe/Brussels", 7);
	double wd_early = avg_kwh(&g, 2025, 3, 3, 56, 7, 20, false);
	double we_early = avg_kwh(&g, 2025, 3, 3, 56, 7, 20, true);
	double wd_late = avg_kwh(&g, 2025, 3, 3, 56, 9, 30, false);
	double we_late = avg_kwh(&g, 2025, 3, 3, 56, 9, 30, true);
	double wd_noon = avg_kwh(&g, 2025, 3, 3, 56, 13, 0, false);
	double we_noon = avg_kwh(&g, 2025, 3, 3, 56, 13, 0, true);

	assert_true(wd_early > 1.5 * we_early); /* up earlier on weekdays */
	assert_true(we_late > 1.3 * wd_late);	/* the weekend morning is later */
	assert_true(we_noon > 1.3 * wd_noon);	/* home at midday */
}

static void test_household_season(void **state)
{
	struct sim_gen g = gen("household", "Europe/Brussels", 1);
	double jan = 0, jul = 0;

	for (int64_t t = at(&g, 2025, 1, 1, 0, 0); t < at(&g, 2025, 2, 1, 0, 0); t += 10 * MIN)
		jan += sim_gen_kwh(&g, t, 10 * MIN);
	for (int64_t t = at(&g, 2025, 7, 1, 0, 0); t < at(&g, 2025, 8, 1, 0, 0); t += 10 * MIN)
		jul += sim_gen_kwh(&g, t, 10 * MIN);
	assert_true(jan > 1.2 * jul);
	/* a realistic home: 250 to 500 kWh a month */
	assert_true(jan > 250 && jan < 500 && jul > 200 && jul < 400);
}

static void test_office_hours(void **state)
{
	struct sim_gen g = gen("office", "Europe/Brussels", 3);
	double night = avg_kwh(&g, 2025, 3, 3, 28, 3, 0, false);
	double work = avg_kwh(&g, 2025, 3, 3, 28, 11, 0, false);
	double evening = avg_kwh(&g, 2025, 3, 3, 28, 21, 0, false);
	double saturday_work = avg_kwh(&g, 2025, 3, 3, 28, 11, 0, true);

	assert_true(work > 4 * night);
	assert_true(evening < 1.3 * night);
	assert_true(saturday_work < 1.5 * night); /* closed at weekends */
}

static void test_pv_zero_at_night(void **state)
{
	struct sim_gen g = gen("pv", "Europe/Brussels", 0);

	/* invariant 2, for many seeds and both solstices */
	for (uint64_t seed = 0; seed < 50; seed++) {
		g.seed = seed;
		assert_true(sim_gen_kwh(&g, at(&g, 2025, 6, 21, 0, 0), 10 * MIN) == 0.0);
		assert_true(sim_gen_kwh(&g, at(&g, 2025, 6, 21, 3, 0), HOUR) == 0.0);
		assert_true(sim_gen_kwh(&g, at(&g, 2025, 12, 21, 19, 0), HOUR) == 0.0);
		assert_true(sim_gen_kwh(&g, at(&g, 2025, 12, 21, 7, 30), 10 * MIN) == 0.0);
	}
	assert_true(sim_gen_mean_kw(&g, at(&g, 2025, 6, 21, 23, 0)) == 0.0);
	/* the whole night of the summer solstice: exactly zero */
	for (int64_t t = at(&g, 2025, 6, 21, 23, 0); t <= at(&g, 2025, 6, 22, 5, 0); t += 10 * MIN)
		assert_true(sim_gen_kwh(&g, t, 10 * MIN) == 0.0);
}

static void test_pv_follows_the_sun(void **state)
{
	struct sim_gen g = gen("pv", "Europe/Brussels", 0);
	double summer_noon = sim_gen_mean_kw(&g, at(&g, 2025, 6, 21, 13, 40));
	double summer_morning = sim_gen_mean_kw(&g, at(&g, 2025, 6, 21, 8, 0));
	double winter_noon = sim_gen_mean_kw(&g, at(&g, 2025, 12, 21, 12, 40));

	/* 5 kWp near Brussels: 3 to 5 kW at a clear summer noon */
	assert_true(summer_noon > 3.0 && summer_noon < 5.0);
	assert_true(summer_morning > 0 && summer_morning < 0.7 * summer_noon);
	assert_true(winter_noon > 0 && winter_noon < 0.5 * summer_noon);
	/* positive at noon in summer whatever the weather (any seed) */
	for (uint64_t seed = 0; seed < 50; seed++) {
		g.seed = seed;
		assert_true(sim_gen_kwh(&g, at(&g, 2025, 6, 21, 13, 40), 10 * MIN) > 0.05);
	}
	/* the southern hemisphere has its summer in December */
	g.lat_deg = -33.9;
	g.lon_deg = 18.4;
	g.tz = tz_get("Africa/Johannesburg");
	assert_true(sim_gen_mean_kw(&g, at(&g, 2025, 12, 21, 13, 0)) >
		    1.5 * sim_gen_mean_kw(&g, at(&g, 2025, 6, 21, 13, 0)));
}

static void test_deterministic_with_seed(void **state)
{
	struct sim_gen a = gen("household", "Europe/Brussels", 42);
	struct sim_gen b = gen("household", "Europe/Brussels", 42);
	struct sim_gen c = gen("household", "Europe/Brussels", 43);
	int64_t t0 = at(&a, 2025, 3, 5, 0, 0);
	double first[144];
	int differ = 0;

	/* invariant 3: the same (generator, t, interval), the same value --
	 * whatever was computed before, in whatever order */
	for (int k = 0; k < 144; k++)
		first[k] = sim_gen_kwh(&a, t0 + k * 10 * MIN, 10 * MIN);
	for (int k = 143; k >= 0; k--)
		assert_true(sim_gen_kwh(&b, t0 + k * 10 * MIN, 10 * MIN) == first[k]);
	for (int k = 0; k < 144; k++)
		differ += sim_gen_kwh(&c, t0 + k * 10 * MIN, 10 * MIN) != first[k];
	assert_true(differ > 50); /* another seed, other values */
	assert_true(sim_gen_uniform(&a, t0, 1) == sim_gen_uniform(&b, t0, 1));
	assert_true(sim_gen_uniform(&a, t0, 1) != sim_gen_uniform(&a, t0, 2));
}

static void test_values_valid(void **state)
{
	const char *names[] = { "household", "office", "pv" };

	/* invariant 1, and the 1 Wh rounding */
	for (int i = 0; i < 3; i++) {
		struct sim_gen g = gen(names[i], "America/New_York", 9);
		for (int64_t t = at(&g, 2025, 3, 8, 0, 0); t < at(&g, 2025, 3, 11, 0, 0);
		     t += 7 * MIN) {
			double v = sim_gen_kwh(&g, t, 7 * MIN);
			assert_true(isfinite(v) && v >= 0 && !signbit(v));
			assert_true(fabs(v * 1000 - round(v * 1000)) < 1e-6);
		}
	}
}

static void test_scale_and_interval(void **state)
{
	struct sim_gen g = gen("office", "UTC", 5);
	struct sim_gen g2 = g;
	int64_t t = at(&g, 2025, 3, 5, 11, 0);
	double hour = sim_gen_kwh(&g, t, HOUR), sixths = 0;

	g2.scale = 2.0;
	assert_true(fabs(sim_gen_kwh(&g2, t, HOUR) - 2 * hour) <= 0.0015);
	assert_true(fabs(sim_gen_mean_kw(&g2, t) - 2 * sim_gen_mean_kw(&g, t)) < 1e-9);
	/* an hour is about the six 10-minute intervals it holds (5-minute
	 * sub-steps at the same instants, rounding aside) */
	for (int k = 0; k < 6; k++)
		sixths += sim_gen_kwh(&g, t - k * 10 * MIN, 10 * MIN);
	assert_true(fabs(sixths - hour) < 0.01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_household_peaks),
		cmocka_unit_test(test_household_weekend),
		cmocka_unit_test(test_household_season),
		cmocka_unit_test(test_office_hours),
		cmocka_unit_test(test_pv_zero_at_night),
		cmocka_unit_test(test_pv_follows_the_sun),
		cmocka_unit_test(test_deterministic_with_seed),
		cmocka_unit_test(test_values_valid),
		cmocka_unit_test(test_scale_and_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
