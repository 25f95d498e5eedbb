/*
 * neighbour.c - finding a device's energy reading nearest to an instant
 * (backend-neutral; used for late counter readings and for computing a
 * counter's consumption from raw readings).
 *
 * Readings are keyed time first, so "the device's previous reading" is not
 * one index step.  The walk goes from hour bucket to hour bucket of the
 * device's zone (a reading stamped t is in the bucket (hour_start(t - 1),
 * next hour]): a closed hour is skipped with one point lookup when its
 * stored reading count is zero, an open hour (after the watermark, whose
 * counts live only in memory) is searched directly, and raw rows are
 * scanned only inside a bucket that may hold one.
 *
 * Invariant: the walk ends at the oldest reading going back and at the
 * newest going forward, so it always terminates.
 */
#include "core/err.h"
#include "core/tz.h"
#include "store/backend.h"
#include "core/banned.h"

static bool bucket_may_hold(struct store_conn *c, int64_t device, int64_t h, int64_t next,
			    int64_t watermark)
{
	double kwh;
	int64_t n;
	if (next > watermark)
		return true;
	return c->ops->hour_get(c, device, h, &kwh, &n) == 0 && n > 0;
}

int store_neighbour_walk(struct store_conn *c, int64_t device, const struct tz *tz, int64_t ts,
			 int dir, int64_t watermark, int64_t *ts_out, double *v_out)
{
	const struct store_backend_ops *ops = c->ops;
	int64_t h = tz_hour_start(tz, ts - 1), min, max;

	/* The bucket holding ts itself, on the proper side of ts. */
	if (dir < 0 && ops->reading_near(c, device, h, ts, -1, ts_out, v_out) == 0)
		return 0;
	if (dir > 0 && ops->reading_near(c, device, ts, tz_hour_next(tz, h), 1, ts_out, v_out) == 0)
		return 0;
	if (ops->ts_bounds(c, &min, &max) != 0)
		return KW_ENOTFOUND;
	for (;;) {
		int64_t next;
		if (dir < 0) {
			/* The bucket before h is (hour_start(h - 1), h]. */
			if (h < min)
				return KW_ENOTFOUND;
			h = tz_hour_start(tz, h - 1);
		} else {
			h = tz_hour_next(tz, h);
			if (h >= max)
				return KW_ENOTFOUND;
		}
		next = tz_hour_next(tz, h);
		if (bucket_may_hold(c, device, h, next, watermark) &&
		    ops->reading_near(c, device, h, dir < 0 ? next + 1 : next, dir, ts_out,
				      v_out) == 0)
			return 0;
	}
}
