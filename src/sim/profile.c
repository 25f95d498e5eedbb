/*
 * profile.c - the synthetic meters of `kilowatt simulate` (what each means
 * is in profile.h).
 *
 * Design: a profile is one row of profiles[]: a smooth mean power curve of
 * local time, and a noise function.  sim_gen_kwh() integrates the noisy
 * power over sub-steps of at most 5 minutes, sampled at each sub-step's
 * middle.  All randomness comes from sim_gen_uniform(), a hash of (seed,
 * instant, salt) -- no generator state -- which is what makes values
 * independent of where a run starts.
 *
 * Invariants:
 *  1. Every power and energy is >= 0 and finite.
 *  2. pv is exactly 0 whenever the sun is below the horizon.
 *  3. The same (generator, t, interval) always gives the same value.
 */
#include <math.h>
#include <string.h>

#include "sim/profile.h"
#include "core/banned.h"

#define MIN_MS	  INT64_C(60000)
#define STEP_MAX  (5 * MIN_MS) /* the longest sub-step integrated as one sample */
#define DEG	  (M_PI / 180.0)
#define YEAR_DAYS 365.25

/* Salts: one per independent random draw. */
enum { SALT_LEVEL = 1, SALT_SPIKE, SALT_SPIKE_KW, SALT_DAY, SALT_DAY_LEVEL, SALT_CLOUD };

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

double sim_gen_uniform(const struct sim_gen *g, int64_t t, uint64_t salt)
{
	uint64_t h = splitmix64(g->seed ^ splitmix64((uint64_t)t ^ (salt << 56)));
	return (double)(h >> 11) * 0x1.0p-53;
}

static double hours(const struct civil *c)
{
	return c->hour + c->min / 60.0 + c->sec / 3600.0;
}

/* Day of the (local) year, 0 = 1 January. */
static int day_of_year(const struct civil *c)
{
	return (int)(tz_days_from_civil(c->year, c->month, c->day) -
		     tz_days_from_civil(c->year, 1, 1));
}

static double bump(double h, double mu, double sigma)
{
	double z = (h - mu) / sigma;
	return exp(-0.5 * z * z);
}

static double sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* --- household ---------------------------------------------------------- */

static double household_mean(const struct sim_gen *g, int64_t t, const struct civil *c)
{
	double h = hours(c), use;
	/* Lighting and heating: +30 % in mid-January, -30 % in mid-July. */
	double season = 1.0 + 0.3 * cos(2 * M_PI * (day_of_year(c) - 15) / YEAR_DAYS);

	if (c->wday >= 5) /* Saturday, Sunday: up later, home at midday */
		use =
		    0.9 * bump(h, 9.25, 1.2) + 0.5 * bump(h, 13.0, 1.5) + 1.2 * bump(h, 18.75, 1.8);
	else
		use = 1.0 * bump(h, 7.25, 0.7) + 0.15 * bump(h, 12.5, 1.2) +
		      1.3 * bump(h, 19.25, 1.4);
	return 0.10 + season * use;
}

/* +-25 % on the smooth curve, and now and then an appliance burst of
 * 1-2.5 kW (about one an hour while people are awake). */
static double household_noise(const struct sim_gen *g, int64_t t, const struct civil *c,
			      double mean, int64_t step_ms)
{
	double kw = mean * (0.75 + 0.5 * sim_gen_uniform(g, t, SALT_LEVEL));
	double p = 0.04 * (double)step_ms / (double)STEP_MAX;

	if (c->hour >= 6 && c->hour < 23 && sim_gen_uniform(g, t, SALT_SPIKE) < p)
		kw += 1.0 + 1.5 * sim_gen_uniform(g, t, SALT_SPIKE_KW);
	return kw;
}

/* --- office ------------------------------------------------------------- */

static double office_mean(const struct sim_gen *g, int64_t t, const struct civil *c)
{
	double h = hours(c), occupied, hvac;

	if (c->wday >= 5)
		return 1.0; /* servers, standby, security lighting */
	occupied = sigmoid((h - 8.0) / 0.4) * sigmoid((18.0 - h) / 0.5);
	occupied *= 1.0 - 0.15 * bump(h, 12.75, 0.5); /* lunch */
	/* Heating in winter, cooling in summer: more at both ends of the year. */
	hvac = 1.0 + 0.2 * fabs(cos(2 * M_PI * (day_of_year(c) - 15) / YEAR_DAYS));
	return 0.8 + 5.2 * occupied * hvac;
}

static double office_noise(const struct sim_gen *g, int64_t t, const struct civil *c, double mean,
			   int64_t step_ms)
{
	return mean * (0.9 + 0.2 * sim_gen_uniform(g, t, SALT_LEVEL));
}

/* --- pv ----------------------------------------------------------------- */

/* Sine of the sun's elevation at instant t (UTC) seen from (lat, lon). */
static double sun_sin_elevation(double lat_deg, double lon_deg, int64_t t)
{
	int64_t day = t >= 0 ? t / 86400000 : (t - 86399999) / 86400000;
	int y, m, d;
	double doy, decl, b, eot_min, minutes, hour_angle;

	tz_civil_from_days(day, &y, &m, &d);
	doy = (double)(day - tz_days_from_civil(y, 1, 1) + 1);
	decl = 23.44 * DEG * sin(2 * M_PI * (284 + doy) / 365.0);
	b = 2 * M_PI * (doy - 81) / 364.0;
	eot_min = 9.87 * sin(2 * b) - 7.53 * cos(b) - 1.5 * sin(b); /* equation of time */
	minutes = (double)(t - day * 86400000) / 60000.0 + 4.0 * lon_deg + eot_min;
	hour_angle = (minutes / 60.0 - 12.0) * 15.0 * DEG;
	return sin(lat_deg * DEG) * sin(decl) + cos(lat_deg * DEG) * cos(decl) * cos(hour_angle);
}

/* Clear-sky output of 1 kWp (kW): direct light through the air mass
 * (Kasten-Young, Meinel) plus 10 % diffuse, 85 % system efficiency. */
static double pv_mean(const struct sim_gen *g, int64_t t, const struct civil *c)
{
	double s = sun_sin_elevation(g->lat_deg, g->lon_deg, t), el, am, dni;

	if (s <= 0)
		return 0.0; /* invariant 2 */
	el = asin(s) / DEG;
	am = 1.0 / (s + 0.50572 * pow(6.07995 + el, -1.6364));
	dni = 1.353 * pow(0.7, pow(am, 0.678));
	return 5.0 * 0.85 * 1.1 * dni * s;
}

/* Each local day is clear (40 %), broken (35 %: clouds pass, output jumps
 * between 30 % and 100 %) or overcast (25 %: 15-35 %). */
static double pv_noise(const struct sim_gen *g, int64_t t, const struct civil *c, double mean,
		       int64_t step_ms)
{
	int64_t day = tz_days_from_civil(c->year, c->month, c->day);
	double kind = sim_gen_uniform(g, day, SALT_DAY);
	double level = sim_gen_uniform(g, day, SALT_DAY_LEVEL);

	if (mean <= 0)
		return 0.0;
	if (kind < 0.40)
		return mean * (0.9 + 0.1 * level);
	if (kind < 0.75)
		return mean * (0.3 + 0.7 * sim_gen_uniform(g, t, SALT_CLOUD));
	return mean * (0.15 + 0.2 * level);
}

/* --- the table ---------------------------------------------------------- */

static const struct sim_profile profiles[] = {
	{ "household", household_mean, household_noise },
	{ "office", office_mean, office_noise },
	{ "pv", pv_mean, pv_noise },
};

const struct sim_profile *sim_profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const char *sim_profile_names(void)
{
	return "household, office, pv";
}

double sim_gen_mean_kw(const struct sim_gen *g, int64_t t)
{
	struct civil c;

	tz_to_civil(g->tz, t, &c);
	return g->scale * g->profile->mean_kw(g, t, &c);
}

double sim_gen_kwh(const struct sim_gen *g, int64_t t, int64_t interval_ms)
{
	int64_t steps = (interval_ms + STEP_MAX - 1) / STEP_MAX;
	double step_ms = (double)interval_ms / (double)steps, kwh = 0.0;

	for (int64_t i = 0; i < steps; i++) {
		int64_t at = t - interval_ms + (int64_t)((i + 0.5) * step_ms);
		struct civil c;
		double kw;

		tz_to_civil(g->tz, at, &c);
		kw = g->profile->noisy_kw(g, at, &c, g->profile->mean_kw(g, at, &c),
					  (int64_t)step_ms);
		kwh += kw * step_ms / 3600000.0;
	}
	kwh = round(g->scale * kwh * 1000.0) / 1000.0;
	return kwh > 0 ? kwh : 0.0; /* invariant 1; no -0 */
}
