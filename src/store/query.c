/*
 * query.c - consumption in buckets of a local calendar (see query.h).
 *
 * Three ways to answer, cheapest first:
 *  1. daily totals, when days or months are asked in the device's own zone
 *     (one point lookup per day);
 *  2. the hours kept in each local day's row, when every bucket edge of the
 *     question is an edge of the device's local hours (one point lookup per
 *     day; rows from before hour slots fall back to the hourly table);
 *  3. raw readings, when the grids differ (a device on UTC hours asked about
 *     Asia/Kolkata hours): the readings of the range, plus the neighbours of
 *     a counter, go through the energy rules again on the question's grid.
 *
 * Totals of hours after the watermark are not in the tables yet but in the
 * pending table (pending.h): the answer takes them from there, with the
 * watermark read and the snapshot pinned under the pending table's mutex,
 * so no hour is missed or counted twice.
 *
 * Invariant: all three give the same numbers for the same data (tests
 * compare them), because 1 and 2 are sums of what 3 computes at ingest.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "energy/energy.h"
#include "store/backend.h"
#include "store/pending.h"
#include "store/query.h"
#include "store/raw.h"
#include "core/banned.h"

int64_t query_align(const struct tz *tz, enum query_step step, int64_t t)
{
	switch (step) {
	case STEP_HOUR:
		return tz_hour_start(tz, t);
	case STEP_DAY:
		return tz_day_start(tz, t);
	case STEP_MONTH:
		break;
	}
	return tz_month_start(tz, t);
}

int64_t query_next(const struct tz *tz, enum query_step step, int64_t start)
{
	switch (step) {
	case STEP_HOUR:
		return tz_hour_next(tz, start);
	case STEP_DAY:
		return tz_day_next(tz, start);
	case STEP_MONTH:
		break;
	}
	return tz_month_next(tz, start);
}

static int make_buckets(const struct tz *tz, enum query_step step, int64_t from, int64_t to,
			struct query_bucket **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	for (int64_t s = query_align(tz, step, from); s < to; s = query_next(tz, step, s)) {
		if (*n == QUERY_MAX_BUCKETS) {
			free(*out);
			*out = NULL;
			return KW_ETOOBIG;
		}
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		(*out)[(*n)++] = (struct query_bucket){ s, query_next(tz, step, s), 0, false };
	}
	return 0;
}

/* Whether every bucket edge is the start of a local hour of the device. */
static bool hours_fit(const struct tz *dtz, const struct query_bucket *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tz_hour_start(dtz, b[i].start) != b[i].start)
			return false;
	return n == 0 || tz_hour_start(dtz, b[n - 1].end) == b[n - 1].end;
}

struct day_ctx {
	const struct tz *tz;
	struct query_bucket *b;
	size_t n, i;
};

/* Days arrive in increasing order; each goes to the bucket holding it. */
static void add_day(void *ud, int64_t device, int64_t day, double kwh)
{
	struct day_ctx *x = ud;
	while (x->i < x->n && tz_local_days(x->tz, x->b[x->i].end - 1) < day)
		x->i++;
	if (x->i < x->n) {
		x->b[x->i].kwh += kwh;
		x->b[x->i].has = true;
	}
}

static int from_days(struct store_conn *c, const struct store_device *d, struct query_bucket *b,
		     size_t n)
{
	struct day_ctx x = { d->tz, b, n, 0 };
	if (!n)
		return 0;
	return store_days(c, d->id, tz_local_days(d->tz, b[0].start),
			  tz_local_days(d->tz, b[n - 1].end - 1) + 1, add_day, &x);
}

/* --- raw fallback ----------------------------------------------------------- */

struct raw_ctx {
	const struct tz *qtz;
	struct query_bucket *b;
	size_t n;
	bool counter;
	bool has_prev;
	int64_t prev_ts; /* previous counter reading */
	double prev_v;
	int64_t last_ts; /* paging cursor */
	size_t rows;
};

static void add_at(struct raw_ctx *x, int64_t t, double kwh)
{
	/* Binary search for the bucket containing instant t. */
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (x->b[mid].end <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < x->n && x->b[lo].start <= t) {
		x->b[lo].kwh += kwh;
		x->b[lo].has = true;
	}
}

static void emit_share(void *ud, int64_t hour, double kwh)
{
	add_at(ud, hour, kwh);
}

static void raw_reading(void *ud, int64_t ts, uint32_t channel, double v, int flags)
{
	struct raw_ctx *x = ud;
	x->last_ts = ts;
	x->rows++;
	if (!x->counter) {
		add_at(x, ts - 1, v);
		return;
	}
	if (x->has_prev) {
		bool reset;
		double delta = energy_counter_delta(x->prev_v, v, &reset);
		if (delta != 0)
			energy_spread(x->qtz, x->prev_ts, ts, delta, emit_share, x);
	}
	x->has_prev = true;
	x->prev_ts = ts;
	x->prev_v = v;
}

static int from_raw(struct store_conn *c, const struct store_device *d, const struct tz *qtz,
		    struct query_bucket *b, size_t n)
{
	struct raw_ctx x = { qtz, b, n, d->type == READING_COUNTER, false, 0, 0, 0, 0 };
	int64_t lo = b[0].start, hi = b[n - 1].end, nts;
	double nv;
	int rc;

	if (x.counter && raw_neighbour(c, d->id, lo + 1, -1, &x.prev_ts, &x.prev_v) == 0)
		x.has_prev = true;
	/* An interval reading at t counts for t - 1 ms: the range is (lo, hi]. */
	x.last_ts = lo;
	do {
		x.rows = 0;
		rc = store_readings(c, d->id, STORE_CHANNEL_ENERGY, lo + 1, hi + 1, x.last_ts, 0,
				    10000, raw_reading, &x);
	} while (rc == 0 && x.rows == 10000);
	if (rc == 0 && x.counter && x.has_prev && raw_neighbour(c, d->id, hi, 1, &nts, &nv) == 0)
		raw_reading(&x, nts, STORE_CHANNEL_ENERGY, nv, 0);
	return rc;
}

/* Adds the device's open hours (after the watermark) that fall in the
 * buckets.  Caller holds the pending mutex. */
static void add_open_hours(const struct pending *p, const struct store_device *d,
			   struct query_bucket *b, size_t n)
{
	int64_t end = b[n - 1].end;
	int64_t h = tz_hour_start(d->tz, p->watermark > b[0].start ? p->watermark - 1 : b[0].start);
	struct raw_ctx x = { .b = b, .n = n };

	for (; h < end; h = tz_hour_next(d->tz, h)) {
		const struct pending_entry *e = pending_get(p, d->id, h);
		if (e)
			add_at(&x, h, e->kwh);
		if (h > p->max_end)
			break; /* nothing pending this late */
	}
}

/* Closed hours from each local day's row (one read per day instead of one
 * per hour); a row from before hour slots falls back to the hourly table. */
static int from_day_slots(struct store_conn *c, const struct store_device *d, int64_t watermark,
			  struct query_bucket *b, size_t n)
{
	struct raw_ctx x = { .b = b, .n = n };

	for (int64_t ds = tz_day_start(d->tz, b[0].start); ds < b[n - 1].end;
	     ds = tz_day_next(d->tz, ds)) {
		double slots[STORE_DAY_SLOTS];
		int64_t de = tz_day_next(d->tz, ds), h = ds;
		int rc = c->ops->day_hours(c, d->id, tz_local_days(d->tz, ds), slots);

		if (rc == KW_ENOTFOUND)
			continue;
		for (int i = 0; rc == KW_EUNSUPPORTED && i < STORE_DAY_SLOTS && h < de; i++) {
			int64_t cnt;
			slots[i] = NAN; /* set by store_hour_get() when the hour has a row */
			if (tz_hour_next(d->tz, h) <= watermark)
				store_hour_get(c, d->id, h, &slots[i], &cnt);
			h = tz_hour_next(d->tz, h);
		}
		if (rc && rc != KW_EUNSUPPORTED)
			return rc;
		h = ds;
		for (int i = 0; i < STORE_DAY_SLOTS && h < de; i++, h = tz_hour_next(d->tz, h))
			if (!isnan(slots[i]) && tz_hour_next(d->tz, h) <= watermark)
				add_at(&x, h, slots[i]);
	}
	return 0;
}

int query_consumption(struct store_conn *c, const struct store_device *d, const struct tz *qtz,
		      enum query_step step, int64_t from, int64_t to, struct query_bucket **out,
		      size_t *n)
{
	struct pending *p = store_conn_pending(c);
	bool days = step != STEP_HOUR && qtz == d->tz, fit, use_raw;
	int64_t w;
	int rc = make_buckets(qtz, step, from, to, out, n);

	if (rc || *n == 0)
		return rc;
	fit = days || hours_fit(d->tz, *out, *n);
	use_raw = !days && !(step == STEP_HOUR && qtz == d->tz) && !fit;
	pthread_mutex_lock(&p->mu);
	w = p->watermark;
	rc = c->ops->snapshot(c);
	if (rc == 0 && fit)
		add_open_hours(p, d, *out, *n);
	if (rc == 0 && use_raw)
		raw_capture(c, d->id); /* raw.h, rule 3 */
	pthread_mutex_unlock(&p->mu);
	if (rc == 0 && days)
		rc = from_days(c, d, *out, *n);
	else if (rc == 0 && !use_raw)
		rc = from_day_slots(c, d, w, *out, *n);
	else if (rc == 0)
		rc = from_raw(c, d, qtz, *out, *n);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int query_last_reading(struct store_conn *c, int64_t device, int64_t *at)
{
	double v;
	c->ops->idle(c); /* a fresh snapshot, with the device's view (raw.h rule 3) */
	raw_view_clear(c);
	return raw_neighbour(c, device, INT64_MAX, -1, at, &v);
}

int query_days_all(struct store_conn *c, int64_t day_from, int64_t day_to, store_day_fn fn,
		   void *ud)
{
	struct pending *p = store_conn_pending(c);
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = c->ops->snapshot(c);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		if (p->e[i].day >= day_from && p->e[i].day < day_to)
			fn(ud, p->e[i].device, p->e[i].day, p->e[i].kwh);
	pthread_mutex_unlock(&p->mu);
	return rc ? rc : store_days(c, 0, day_from, day_to, fn, ud);
}
