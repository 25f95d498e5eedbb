/*
 * source.h - the sequence of readings `kilowatt simulate` sends: timestamps
 * and values, from a CSV or a profile, cut by --count and --until.
 *
 * Timestamps (Unix epoch ms, UTC):
 *  - a value-only CSV and a profile: t0, t0 + interval, t0 + 2 interval, ...
 *    where t0 is --start, or the moment the run began;
 *  - a timed CSV: its own timestamps, shifted so the first row falls on
 *    --start when --start is given (the spacing is kept).
 * Values:
 *  - a CSV: as written (a cumulative counter stays a counter);
 *  - a profile: the interval's energy (kWh), or with counter set the running
 *    sum of those energies starting at 0 (a new meter installed at t0).
 *
 * Not thread-safe; pure apart from reading the CSV.
 */
#ifndef KW_SIM_SOURCE_H
#define KW_SIM_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/csv.h"
#include "sim/profile.h"

struct sim_source_opts {
	struct sim_csv *csv;	   /* the input, or NULL for gen (not owned) */
	const struct sim_gen *gen; /* when csv is NULL (not owned) */
	int64_t t0_ms;		   /* the first timestamp (see above) */
	bool shift;		   /* timed CSV: move the first row to t0_ms */
	int64_t interval_ms;	   /* >= 1000 */
	uint64_t count;		   /* at most this many readings; 0: no limit */
	bool has_until;		   /* stop before the first timestamp > until_ms */
	int64_t until_ms;	   /* Unix epoch ms */
	bool counter;		   /* profile: send the running sum */
};

struct sim_source {
	struct sim_source_opts o;
	uint64_t i;	  /* readings produced so far */
	int64_t shift_ms; /* added to a timed CSV's timestamps */
	double sum;	  /* counter: energy so far (kWh) */
	bool ended;
};

void sim_source_init(struct sim_source *s, const struct sim_source_opts *o);

/*
 * The next reading: 1 with *ts_ms and *value, 0 when the sequence has ended
 * (then always 0), or a negative code with err set (the CSV changed).
 */
int sim_source_next(struct sim_source *s, int64_t *ts_ms, double *value, char *err, size_t errlen);

/* How many readings the whole sequence holds (an upper bound for a timed
 * CSV cut by until), or 0 when it has no end. */
uint64_t sim_source_total(const struct sim_source *s);

/* The timestamp of reading number k (0-based) when the sequence is evenly
 * spaced (not a timed CSV); else INT64_MIN.  For the progress bar's ETA. */
int64_t sim_source_ts_of(const struct sim_source *s, uint64_t k);

#endif
