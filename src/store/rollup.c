/*
 * rollup.c - hourly and daily totals maintained as readings commit.
 *
 * Rules (docs/ENERGY.md): an interval reading's energy goes to the local
 * hour containing t - 1 ms; a counter's delta between consecutive readings
 * is spread over the hours in between, in proportion to time.  A late
 * counter reading splits the segment between its neighbours: the old
 * segment's spread is subtracted and the two new ones are added, so exactly
 * the hours it affects change.
 *
 * Design: within one batch, shares are summed per (device, hour) in a hash
 * map and written with one upsert each when the batch ends, so a batch with
 * many readings of one device-hour costs one write, not many.  The latest
 * reading of each counter device is cached (and stored in counter_state) so
 * the common, in-order case needs no lookup at all.
 *
 * Invariants:
 *  1. hourly.readings of a bucket counts the energy readings stamped in
 *     (hour, next hour]; the neighbour search relies on it being exact.
 *  2. The aggregate map is empty whenever rollup_apply() is not running: it
 *     is flushed before any neighbour search and at the end of every batch.
 *  3. A cached counter state equals the committed counter_state row or is
 *     ahead of it only inside the current transaction (rollup_forget()
 *     restores this after a rollback).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "energy/energy.h"
#include "store/rollup.h"
#include "core/banned.h"

struct agg {
	int64_t device;
	int64_t hour;     /* epoch ms of the local hour's start */
	double kwh;
	int64_t readings; /* energy readings stamped in this bucket */
};

struct cstate {
	int64_t ts; /* epoch ms of the latest reading */
	double v;   /* its register value, kWh */
	bool dirty; /* differs from counter_state on disk */
};

struct rollup {
	struct hmap agg_idx; /* (device, hour minute) -> index into agg */
	struct agg *agg;
	size_t nagg, aggcap;
	struct hmap cs_idx;  /* device -> index into cs */
	struct cstate *cs;
	int64_t *cs_dev;
	size_t ncs, cscap, csdevcap;
	/* Context of the running batch. */
	struct store_conn *c;
	int64_t device;
};

struct rollup *rollup_new(void)
{
	return xcalloc(1, sizeof(struct rollup));
}

void rollup_free(struct rollup *r)
{
	if (!r)
		return;
	hmap_release(&r->agg_idx);
	hmap_release(&r->cs_idx);
	free(r->agg);
	free(r->cs);
	free(r->cs_dev);
	free(r);
}

void rollup_forget(struct rollup *r)
{
	hmap_clear(&r->cs_idx);
	hmap_clear(&r->agg_idx);
	r->ncs = 0;
	r->nagg = 0;
}

static uint64_t agg_key(int64_t device, int64_t hour)
{
	/* Hour starts fall on whole minutes; 2^32 minutes reach past year 10000. */
	return ((uint64_t)device << 32) | (uint32_t)(hour / 60000);
}

static void agg_add(struct rollup *r, int64_t device, int64_t hour, double kwh, int64_t n)
{
	uint64_t *idx = hmap_upsert(&r->agg_idx, agg_key(device, hour), UINT64_MAX);
	if (*idx == UINT64_MAX) {
		xgrow((void **)&r->agg, &r->aggcap, r->nagg + 1, sizeof(*r->agg));
		r->agg[r->nagg] = (struct agg){ device, hour, 0, 0 };
		*idx = r->nagg++;
	}
	r->agg[*idx].kwh += kwh;
	r->agg[*idx].readings += n;
}

static void emit_share(void *ud, int64_t hour, double kwh)
{
	struct rollup *r = ud;
	agg_add(r, r->device, hour, kwh, 0);
}

static int cmp_agg(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;
	if (x->hour != y->hour)
		return x->hour < y->hour ? -1 : 1;
	return (x->device > y->device) - (x->device < y->device);
}

/* Writes the summed shares: hours in key order (the table's order, so the
 * writes walk the b-tree forward), then the local days they fall in. */
static int flush(struct rollup *r, const struct devcache *dc)
{
	struct hmap days = HMAP_INIT;
	const struct store_backend_ops *ops = r->c->ops;
	int rc = 0;

	qsort(r->agg, r->nagg, sizeof(*r->agg), cmp_agg);
	for (size_t i = 0; i < r->nagg && rc == 0; i++) {
		const struct agg *a = &r->agg[i];
		const struct store_device *d = devcache_get(dc, a->device);
		struct civil cv;
		uint64_t *bits;
		double sum;

		rc = ops->hour_add(r->c, a->device, a->hour, a->kwh, a->readings);
		if (rc || !d)
			continue;
		tz_to_civil(d->tz, a->hour, &cv);
		bits = hmap_upsert(&days, ((uint64_t)a->device << 32) |
					  (uint32_t)tz_days_from_civil(cv.year, cv.month, cv.day), 0);
		memcpy(&sum, bits, sizeof(sum));
		sum += a->kwh;
		memcpy(bits, &sum, sizeof(sum));
	}
	uint64_t k, v;
	for (size_t it = 0; rc == 0 && hmap_next(&days, &it, &k, &v);) {
		double sum;
		memcpy(&sum, &v, sizeof(sum));
		rc = ops->day_add(r->c, (int64_t)(k >> 32), (int64_t)(int32_t)(uint32_t)k, sum);
	}
	hmap_release(&days);
	hmap_clear(&r->agg_idx);
	r->nagg = 0;
	return rc;
}

/* The index of a counter device's cached state, loaded on first use; its ts
 * is INT64_MIN while the device has no reading yet. */
static size_t cstate_slot(struct rollup *r, int64_t device)
{
	uint64_t idx;
	int64_t ts;
	double v;

	if (hmap_get(&r->cs_idx, (uint64_t)device, &idx))
		return (size_t)idx;
	if (r->c->ops->counter_get(r->c, device, &ts, &v) != 0) {
		ts = INT64_MIN;
		v = 0;
	}
	xgrow((void **)&r->cs, &r->cscap, r->ncs + 1, sizeof(*r->cs));
	xgrow((void **)&r->cs_dev, &r->csdevcap, r->ncs + 1, sizeof(*r->cs_dev));
	r->cs[r->ncs] = (struct cstate){ ts, v, false };
	r->cs_dev[r->ncs] = device;
	hmap_put(&r->cs_idx, (uint64_t)device, r->ncs);
	return r->ncs++;
}

static void spread(struct rollup *r, const struct tz *tz, int64_t t1, int64_t t2, double kwh)
{
	if (kwh != 0 && t1 < t2)
		energy_spread(tz, t1, t2, kwh, emit_share, r);
}

/* A counter reading older than the device's latest: split the segment
 * between its neighbours (see the file comment). */
static int counter_late(struct rollup *r, const struct devcache *dc,
			const struct store_device *d, const struct store_reading *x,
			struct store_batch *b)
{
	const struct store_backend_ops *ops = r->c->ops;
	int64_t pts = 0, nts = 0;
	double pv = 0, nv = 0;
	bool has_p, has_n, reset = false;
	int rc;

	if ((rc = flush(r, dc)) != 0)
		return rc;
	has_p = ops->reading_neighbour(r->c, d->id, d->tz, x->ts, -1, &pts, &pv) == 0;
	has_n = ops->reading_neighbour(r->c, d->id, d->tz, x->ts, 1, &nts, &nv) == 0;
	if (has_p && has_n) {
		bool ignored;
		spread(r, d->tz, pts, nts, -energy_counter_delta(pv, nv, &ignored));
	}
	if (has_p) {
		spread(r, d->tz, pts, x->ts, energy_counter_delta(pv, x->value, &reset));
		if (reset && (rc = ops->reading_set_flags(r->c, d->id, x->ts, READING_FLAG_RESET)))
			return rc;
		b->resets += reset;
	}
	if (has_n) {
		bool next_reset;
		spread(r, d->tz, x->ts, nts, energy_counter_delta(x->value, nv, &next_reset));
		rc = ops->reading_set_flags(r->c, d->id, nts, next_reset ? READING_FLAG_RESET : 0);
	}
	return rc;
}

static int counter_apply(struct rollup *r, const struct devcache *dc,
			 const struct store_device *d, const struct store_reading *x,
			 struct store_batch *b)
{
	size_t i = cstate_slot(r, d->id);
	struct cstate *s = &r->cs[i];
	bool reset = false;

	agg_add(r, d->id, tz_hour_start(d->tz, x->ts - 1), 0, 1);
	if (s->ts != INT64_MIN && x->ts < s->ts)
		return counter_late(r, dc, d, x, b);
	if (s->ts != INT64_MIN) {
		spread(r, d->tz, s->ts, x->ts, energy_counter_delta(s->v, x->value, &reset));
		if (reset) {
			b->resets++;
			int rc = r->c->ops->reading_set_flags(r->c, d->id, x->ts,
							      READING_FLAG_RESET);
			if (rc)
				return rc;
		}
	}
	*s = (struct cstate){ x->ts, x->value, true };
	return 0;
}

static int put_counters(struct rollup *r)
{
	for (size_t i = 0; i < r->ncs; i++) {
		struct cstate *s = &r->cs[i];
		if (!s->dirty)
			continue;
		int rc = r->c->ops->counter_put(r->c, r->cs_dev[i], s->ts, s->v);
		if (rc)
			return rc;
		s->dirty = false;
	}
	return 0;
}

int rollup_apply(struct rollup *r, struct store_conn *c, const struct devcache *dc,
		 struct store_batch *b)
{
	const struct store_backend_ops *ops = c->ops;
	int rc = 0;

	r->c = c;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		const struct store_reading *x = &b->rows[i];
		const struct store_device *d;
		enum store_insert_result res;

		if ((rc = ops->reading_insert(c, x, &res)) != 0)
			break;
		if (res != STORE_INSERTED) {
			b->duplicates += res == STORE_DUPLICATE;
			b->conflicts += res == STORE_CONFLICT;
			continue;
		}
		b->accepted++;
		if (x->channel != STORE_CHANNEL_ENERGY || !(d = devcache_get(dc, x->device)))
			continue;
		r->device = d->id;
		if (d->type == READING_COUNTER)
			rc = counter_apply(r, dc, d, x, b);
		else
			agg_add(r, d->id, energy_interval_hour(d->tz, x->ts), x->value, 1);
	}
	if (rc == 0)
		rc = flush(r, dc);
	if (rc == 0)
		rc = put_counters(r);
	return rc;
}
