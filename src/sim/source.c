/*
 * source.c - turns a CSV or a profile into timestamped readings, cut by
 * --count and --until (the rules are in source.h).
 *
 * Invariants:
 *  1. At most o.count readings (when set), none stamped after o.until_ms
 *     (when set); once ended, the source stays ended.
 *  2. Evenly spaced sources stamp reading k at t0 + k * interval exactly.
 *  3. The counter sum is rounded to 1 Wh after every step, so it never
 *     decreases and carries no drift from adding binary fractions.
 */
#include <math.h>
#include <string.h>

#include "sim/source.h"
#include "core/banned.h"

void sim_source_init(struct sim_source *s, const struct sim_source_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->o = *o;
	if (o->csv && sim_csv_timed(o->csv) && o->shift)
		s->shift_ms = o->t0_ms - sim_csv_first_ts(o->csv);
}

static bool timed(const struct sim_source *s)
{
	return s->o.csv && sim_csv_timed(s->o.csv);
}

int64_t sim_source_ts_of(const struct sim_source *s, uint64_t k)
{
	if (timed(s))
		return INT64_MIN;
	return s->o.t0_ms + (int64_t)k * s->o.interval_ms;
}

uint64_t sim_source_total(const struct sim_source *s)
{
	uint64_t n = s->o.csv ? sim_csv_rows(s->o.csv) : 0; /* 0: endless */

	if (s->o.count && (n == 0 || s->o.count < n))
		n = s->o.count;
	if (s->o.has_until && !timed(s)) {
		uint64_t u = s->o.until_ms < s->o.t0_ms
				 ? 0
				 : (uint64_t)((s->o.until_ms - s->o.t0_ms) / s->o.interval_ms) + 1;
		if (n == 0 || u < n)
			n = u;
		if (u == 0)
			return 0; /* nothing to send; sim_source_next ends at once */
	}
	return n;
}

static int next_raw(struct sim_source *s, int64_t *ts, double *value, char *err, size_t errlen)
{
	int rc;

	if (s->o.csv) {
		if ((rc = sim_csv_next(s->o.csv, ts, value, err, errlen)) != 1)
			return rc;
		*ts = timed(s) ? *ts + s->shift_ms : sim_source_ts_of(s, s->i);
		return 1;
	}
	*ts = sim_source_ts_of(s, s->i);
	*value = sim_gen_kwh(s->o.gen, *ts, s->o.interval_ms);
	if (s->o.counter) {
		/* The first reading is the baseline: a new register reads 0. */
		s->sum = s->i == 0 ? 0.0 : round((s->sum + *value) * 1000.0) / 1000.0;
		*value = s->sum; /* invariant 3 */
	}
	return 1;
}

int sim_source_next(struct sim_source *s, int64_t *ts_ms, double *value, char *err, size_t errlen)
{
	int64_t ts;
	double v;
	int rc;

	if (s->ended || (s->o.count && s->i >= s->o.count))
		goto end;
	if ((rc = next_raw(s, &ts, &v, err, errlen)) < 0)
		return rc;
	if (rc == 0 || (s->o.has_until && ts > s->o.until_ms))
		goto end;
	s->i++;
	*ts_ms = ts;
	*value = v;
	return 1;
end:
	s->ended = true;
	return 0;
}
