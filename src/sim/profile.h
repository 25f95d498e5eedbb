/*
 * profile.h - synthetic meters for `kilowatt simulate --profile NAME`.
 *
 * A profile is a mean power curve over local time (kW) plus the randomness
 * of real use.  The simulator sends, per message, the energy of the interval
 * that ends at the message's timestamp -- an `interval` reading in kWh,
 * kilowatt's default reading_type and seed 000's "energy measured in kWh"
 * every 10 minutes (with --counter the running sum is sent instead, for a
 * `counter` device; see source.h).
 *
 *   household  a home: ~0.1 kW at night, a morning peak (about 07:15 on
 *              weekdays, 09:15 and broader at weekends), a midday bump at
 *              weekends, an evening peak around 19:00, more in winter, and
 *              appliance bursts (kettle, oven) while people are awake.
 *   office     a small office: ~0.8 kW of servers and standby; Monday to
 *              Friday ~6 kW from about 08:00 to 18:00 with a lunch dip;
 *              more in winter and summer (heating, cooling).
 *   pv         a photovoltaic generator: the energy the panels produced,
 *              following the sun's elevation at --lat/--lon on that day of
 *              the year, with clear, broken and overcast days; exactly 0 at
 *              night.  Send it to a device of its own: kilowatt does not net
 *              generation against consumption.
 *
 * At --scale 1 (the default) the household uses about 4,000 kWh a year, the
 * office about 22,000 kWh, and the pv generator is 5 kWp (about 4,200 kWh a
 * year at the default place, Brussels).
 *
 * Determinism: a value depends only on (profile, seed, place, time zone,
 * scale, interval, timestamp) -- not on the start time or on what was sent
 * before -- so a second run over the same hours sends the same values,
 * which kilowatt stores as duplicates rather than conflicts.
 *
 * Pure functions; safe from any thread.
 */
#ifndef KW_SIM_PROFILE_H
#define KW_SIM_PROFILE_H

#include <stdint.h>

#include "core/tz.h"

struct sim_gen;

struct sim_profile {
	const char *name;
	/* Mean power (kW, before --scale) at instant t of local civil time c. */
	double (*mean_kw)(const struct sim_gen *g, int64_t t, const struct civil *c);
	/* The power actually drawn over the sub-step around t (kW, before
	 * --scale): mean_kw with this profile's randomness applied. */
	double (*noisy_kw)(const struct sim_gen *g, int64_t t, const struct civil *c,
			   double mean_kw, int64_t step_ms);
};

/* The profile called name, or NULL. */
const struct sim_profile *sim_profile_find(const char *name);

/* "household, office, pv" for messages. */
const char *sim_profile_names(void);

/* A configured generator; every field is set by the caller. */
struct sim_gen {
	const struct sim_profile *profile;
	const struct tz *tz; /* local time of the people (household, office) and days (pv) */
	double lat_deg;	     /* pv: latitude, degrees north (-90..90) */
	double lon_deg;	     /* pv: longitude, degrees east (-180..180) */
	double scale;	     /* multiplies every power (> 0) */
	uint64_t seed;
};

/* The mean power (kW, scaled) at instant t, without randomness. */
double sim_gen_mean_kw(const struct sim_gen *g, int64_t t);

/*
 * The energy (kWh, scaled, rounded to 1 Wh) over (t - interval_ms, t]:
 * the noisy power integrated over sub-steps of at most 5 minutes.
 * interval_ms >= 1000.
 */
double sim_gen_kwh(const struct sim_gen *g, int64_t t, int64_t interval_ms);

/* A uniform number in [0, 1) drawn from (seed, t, salt): the only source of
 * randomness of the profiles. */
double sim_gen_uniform(const struct sim_gen *g, int64_t t, uint64_t salt);

#endif
