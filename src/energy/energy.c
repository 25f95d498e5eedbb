/*
 * energy.c - which local hours a reading's energy belongs to (see energy.h).
 *
 * Design.  Pure arithmetic over core/tz's hour grid: no I/O, no allocation,
 * no state.  Time is treated as continuous: an interval (t1, t2] overlaps a
 * local hour [h, next) by min(t2, next) - max(t1, h) milliseconds, so an
 * interval ending exactly on an hour boundary puts nothing into the next
 * hour, matching the interval rule (the hour holding t - 1 ms).
 *
 * Invariants:
 *  1. An interval reading stamped t belongs to tz_hour_start(t - 1 ms), so a
 *     reading at exactly 01:00:00 local counts for 00:00-01:00.
 *  2. energy_spread emits one share per local hour with a positive overlap,
 *     in increasing hour order, and never a share for an hour the interval
 *     only touches at its end.
 *  3. The shares add up to kwh exactly, in doubles and in any order.  Every
 *     share but the last is kwh * overlap / (t2 - t1) rounded to a multiple
 *     of kwh's own ulp (an error of at most half an ulp of kwh); the last is
 *     kwh minus the others.  Multiples of that grain no larger than |kwh|
 *     are exact doubles, so no partial sum ever rounds.  Without the grain,
 *     kwh - acc can be a value that acc + it cannot reach (acc + x may fall
 *     exactly between doubles whatever x is).
 *  4. For kwh >= 0 every share is >= 0.
 *
 * Threading: every function is reentrant; core/tz is thread-safe.
 */
#include <assert.h>
#include <float.h>
#include <math.h>

#include "core/tz.h"
#include "energy/energy.h"
#include "core/banned.h"

int64_t energy_interval_hour(const struct tz *tz, int64_t t)
{
	return tz_hour_start(tz, t - 1);
}

double energy_counter_delta(double v1, double v2, bool *reset)
{
	/* A register that went down was reset or swapped: count from zero. */
	bool down = v2 < v1;

	if (reset)
		*reset = down;
	return down ? v2 : v2 - v1;
}

/*
 * The grain shares are rounded to (invariant 3): the ulp of kwh, i.e.
 * 2^(e-53) for |kwh| in [2^(e-1), 2^e).  Zero, meaning "do not round", for
 * a kwh of zero, subnormal or not finite.
 */
static double grain_of(double kwh)
{
	int e;

	if (!isfinite(kwh) || fabs(kwh) < DBL_MIN)
		return 0.0;
	frexp(kwh, &e);
	return ldexp(1.0, e - 53);
}

void energy_spread(const struct tz *tz, int64_t t1, int64_t t2, double kwh, energy_emit_fn emit,
		   void *ud)
{
	double span = (double)(t2 - t1);
	double grain = grain_of(kwh);
	double acc = 0.0;
	int64_t h, next;

	/*
	 * Callers check reading order at the edge; in a release build a bad
	 * pair must not divide by zero, so it emits nothing.
	 */
	assert(t1 < t2);
	if (t1 >= t2)
		return;
	for (h = tz_hour_start(tz, t1);; h = next) {
		double share;

		next = tz_hour_next(tz, h);
		if (next >= t2)
			break;
		/* Only the first hour can start before t1. */
		share = kwh * (double)(next - (h > t1 ? h : t1)) / span;
		if (grain > 0.0)
			share = nearbyint(share / grain) * grain; /* exact */
		emit(ud, h, share);
		acc += share;
	}
	emit(ud, h, kwh - acc); /* exact: both are multiples of grain */
}
