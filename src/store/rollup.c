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
 * map.  At the end of the batch each sum goes to one of two places:
 *  - a closed hour (ending at or before the watermark: late data) is written
 *    to the hourly and daily tables in the batch's transaction;
 *  - an open hour is staged, and published to the shared pending table after
 *    COMMIT (pending.h).  When the newest reading has moved CLOSE_LAG past an
 *    hour, the hour closes: its totals are written once, with the new
 *    watermark, in one transaction.
 * So a device-hour's total is written once instead of once per reading, and
 * a device-day's once per closing instead of once per batch.
 *
 * Alerts: flush() is also where a device-hour's total changes, so it is
 * where an hour going over its device's max_hourly_kwh is seen, exactly
 * and once per batch instead of once per reading.  Each sum of a device
 * with a limit (agg.limit; NAN for the others, which pay one comparison)
 * that grew is added to the hour's total before the batch -- for an open
 * hour the pending entry plus what earlier jobs of this transaction
 * staged (lim), for a closed hour the stored slot -- and when the result
 * is above the limit an alert row is inserted for (device, hour) in the
 * batch's transaction, unless the hour has one already (the table's
 * primary key; `alerted` remembers the hours known to have one, so a meter
 * that stays over its limit costs a hash lookup per batch, not a
 * statement).  The totals compared are the ones the queries answer, so a
 * counter's spread hours and late data alert exactly like the API shows
 * them.  A limit is read from the device at each batch: a changed limit
 * applies to the hours that later readings change, never to past ones on
 * its own.
 *
 * Invariants:
 *  1. A closed hour's total is in its local day's row (slots); the hourly
 *     table gets only late data, for day rows from before slots existed.
 *  2. The per-batch map is empty whenever rollup_apply() is not running: it
 *     is flushed at the end of every batch.
 *  3. Staged entries are exactly the open-hour totals of the current
 *     transaction's successful jobs, in job order (so a failed job truncates
 *     them to its mark).
 *  4. A cached counter state equals the committed counter_state row, or is
 *     ahead of it only inside the current transaction (rollup_forget() and
 *     rollup_abort() restore this).
 *  5. lim[key] is what this transaction staged for that open device-hour
 *     (at least for every device with a limit); `alerted` holds only
 *     device-hours that have an alert row in the committed database or in
 *     the current transaction, and is emptied when a job or a transaction
 *     fails; alerts[] holds the alerts of the running job only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "energy/energy.h"
#include "store/raw.h"
#include "store/rawblock.h"
#include "store/rollup.h"
#include "core/banned.h"

#define HOUR_MS	    INT64_C(3600000)
#define CLOSE_LAG   HOUR_MS    /* an hour closes this long after the newest reading passed it */
#define PENDING_MAX (1u << 20) /* open entries beyond this close every hour that can */
#define ALERT_EPS   1e-9       /* kWh: sums of decimals that land on the limit are not over */
#define ALERTED_MAX (1u << 16) /* remembered alerted hours; forgotten all at once past it */

struct agg {
	int64_t device;
	const struct tz *tz; /* the device's zone */
	int64_t hour;	     /* epoch ms of the local hour's start */
	double kwh;
	int64_t readings; /* energy readings stamped in this bucket */
	double limit;	  /* the device's max_hourly_kwh, kWh; NAN: none */
};

struct cstate {
	int64_t ts; /* epoch ms of the latest reading, INT64_MIN: none yet */
	double v;   /* its register value, kWh */
	bool dirty; /* differs from counter_state on disk */
};

struct rollup {
	struct pending *p; /* shared with readers; see pending.h */
	struct raw *raw;   /* where the readings go (raw.h) */
	int64_t max_ts;	   /* newest energy reading seen, epoch ms */
	/* The running batch. */
	struct hmap agg_idx; /* pending_key(device, hour) -> index into agg */
	struct agg *agg;
	size_t nagg, aggcap;
	/* Per device id (ids are small and dense): its last agg of this batch
	 * (valid when gen matches), so most readings skip the hash map. */
	struct dslot {
		uint32_t gen, idx;
	} * dslot;
	size_t ndslot;
	uint32_t gen;
	/* Open-hour totals of this transaction, published after COMMIT. */
	struct pending_entry *staged;
	size_t nstaged, stagedcap;
	/* Counter devices' latest readings. */
	struct hmap cs_idx; /* device -> index into cs */
	struct cstate *cs;
	int64_t *cs_dev;
	size_t ncs, cscap, csdevcap;
	/* Alerts (see the file comment; invariant 5). */
	struct hmap lim_idx; /* pending_key(device, hour) -> index into lim */
	double *lim;	     /* kWh this transaction staged for an open device-hour */
	size_t nlim, limcap;
	struct hmap alerted;	    /* pending_key(device, hour) of hours known to have an alert */
	struct store_alert *alerts; /* raised by the running job */
	size_t nalerts, alertcap;
	/* Context of the running batch. */
	struct store_conn *c;
	int64_t device;
	const struct tz *tz;
	double limit; /* the device's max_hourly_kwh, NAN: none */
};

struct rollup *rollup_new(struct pending *p, struct raw *raw)
{
	struct rollup *r = xcalloc(1, sizeof(*r));
	r->p = p;
	r->raw = raw;
	r->gen = 1;
	r->max_ts = INT64_MIN;
	r->limit = NAN;
	return r;
}

void rollup_free(struct rollup *r)
{
	if (!r)
		return;
	hmap_release(&r->agg_idx);
	hmap_release(&r->cs_idx);
	hmap_release(&r->lim_idx);
	hmap_release(&r->alerted);
	free(r->lim);
	free(r->alerts);
	free(r->agg);
	free(r->dslot);
	free(r->staged);
	free(r->cs);
	free(r->cs_dev);
	free(r);
}

static void forget_counters(struct rollup *r)
{
	hmap_clear(&r->cs_idx);
	r->ncs = 0;
}

static void lim_clear(struct rollup *r)
{
	hmap_clear(&r->lim_idx);
	r->nlim = 0;
}

/* Adds kwh to what this transaction staged for an open device-hour. */
static void lim_add(struct rollup *r, int64_t device, int64_t hour, double kwh)
{
	uint64_t *i = hmap_upsert(&r->lim_idx, pending_key(device, hour), UINT64_MAX);
	if (*i == UINT64_MAX) {
		xgrow((void **)&r->lim, &r->limcap, r->nlim + 1, sizeof(*r->lim));
		r->lim[r->nlim] = 0;
		*i = r->nlim++;
	}
	r->lim[*i] += kwh;
}

/* A job or a transaction failed: its alert rows are gone (invariant 5). */
static void forget_alerts(struct rollup *r)
{
	hmap_clear(&r->alerted);
	r->nalerts = 0;
}

void rollup_forget(struct rollup *r)
{
	forget_counters(r);
	forget_alerts(r);
	lim_clear(r);
	hmap_clear(&r->agg_idx);
	r->gen++;
	r->nagg = 0;
	r->nstaged = 0;
}

size_t rollup_mark(const struct rollup *r)
{
	return r->nstaged;
}

void rollup_abort(struct rollup *r, size_t mark)
{
	hmap_clear(&r->agg_idx);
	r->gen++;
	r->nagg = 0;
	r->nstaged = mark;
	forget_counters(r);
	forget_alerts(r);
	/* Rare: rebuild lim from the jobs that stay (invariant 5). */
	lim_clear(r);
	for (size_t i = 0; i < mark; i++)
		lim_add(r, r->staged[i].device, r->staged[i].hour, r->staged[i].kwh);
}

void rollup_commit(struct rollup *r)
{
	pthread_mutex_lock(&r->p->mu);
	for (size_t i = 0; i < r->nstaged; i++)
		pending_add(r->p, &r->staged[i]);
	pthread_mutex_unlock(&r->p->mu);
	r->nstaged = 0;
	lim_clear(r);
}

void rollup_take_alerts(struct rollup *r, struct store_alert **out, size_t *n)
{
	*n = r->nalerts;
	*out = NULL;
	if (r->nalerts) {
		*out = xmalloc(r->nalerts * sizeof(**out));
		memcpy(*out, r->alerts, r->nalerts * sizeof(**out));
	}
	r->nalerts = 0;
}

static void agg_add(struct rollup *r, int64_t device, int64_t hour, double kwh, int64_t n)
{
	struct dslot *ds = NULL;
	uint64_t *idx;

	if (device > 0 && device < INT32_MAX) {
		if ((size_t)device >= r->ndslot) {
			size_t old = r->ndslot;
			xgrow((void **)&r->dslot, &r->ndslot, (size_t)device + 1,
			      sizeof(*r->dslot));
			memset(r->dslot + old, 0, (r->ndslot - old) * sizeof(*r->dslot));
		}
		ds = &r->dslot[device];
		if (ds->gen == r->gen && r->agg[ds->idx].hour == hour) {
			r->agg[ds->idx].kwh += kwh;
			r->agg[ds->idx].readings += n;
			return;
		}
	}
	idx = hmap_upsert(&r->agg_idx, pending_key(device, hour), UINT64_MAX);
	if (*idx == UINT64_MAX) {
		xgrow((void **)&r->agg, &r->aggcap, r->nagg + 1, sizeof(*r->agg));
		r->agg[r->nagg] = (struct agg){ device, r->tz, hour, 0, 0, r->limit };
		*idx = r->nagg++;
	}
	r->agg[*idx].kwh += kwh;
	r->agg[*idx].readings += n;
	if (ds)
		*ds = (struct dslot){ r->gen, (uint32_t)*idx };
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

/* The index of the local hour starting at hour within its local day. */
static int day_slot(const struct tz *tz, int64_t hour)
{
	int64_t h = tz_day_start(tz, hour);
	int i = 0;

	/* Without an offset change since midnight, hours are whole and
	 * contiguous: the slot is plain arithmetic. */
	if (tz_offset_s(tz, h) == tz_offset_s(tz, hour) && (hour - h) % HOUR_MS == 0 &&
	    (hour - h) / HOUR_MS < STORE_DAY_SLOTS)
		return (int)((hour - h) / HOUR_MS);
	while (h < hour && i < STORE_DAY_SLOTS) {
		h = tz_hour_next(tz, h);
		i++;
	}
	return h == hour && i < STORE_DAY_SLOTS ? i : -1;
}

/* Sums per device-day of what is about to be written, with its hours. */
struct day_acc {
	int64_t device;
	int64_t day;
	double kwh;
	double slots[STORE_DAY_SLOTS]; /* NAN: nothing for that hour */
};

struct days {
	struct hmap idx; /* (device, day) -> index into a */
	struct day_acc *a;
	size_t n, cap;
};

static void day_sum(struct days *d, int64_t device, int64_t day, int slot, double kwh)
{
	uint64_t *i = hmap_upsert(&d->idx, ((uint64_t)device << 32) | (uint32_t)day, UINT64_MAX);
	struct day_acc *a;
	if (*i == UINT64_MAX) {
		xgrow((void **)&d->a, &d->cap, d->n + 1, sizeof(*d->a));
		a = &d->a[d->n];
		a->device = device;
		a->day = day;
		a->kwh = 0;
		for (int k = 0; k < STORE_DAY_SLOTS; k++)
			a->slots[k] = NAN;
		*i = d->n++;
	}
	a = &d->a[*i];
	a->kwh += kwh;
	if (slot >= 0)
		a->slots[slot] = isnan(a->slots[slot]) ? kwh : a->slots[slot] + kwh;
}

static int write_days(struct store_conn *c, const struct days *d)
{
	int rc = 0;
	for (size_t i = 0; i < d->n && rc == 0; i++)
		rc = c->ops->day_add(c, d->a[i].device, d->a[i].day, d->a[i].kwh, d->a[i].slots);
	return rc;
}

static void discard_days(struct days *d)
{
	hmap_release(&d->idx);
	free(d->a);
	memset(d, 0, sizeof(*d));
}

/* --- alerts ------------------------------------------------------------------------- */

/* A closed device-hour's stored total (0 when none), read the way
 * query.c reads it: the day row's slot, or the hourly table for a day row
 * from before slots. */
static int closed_total(struct rollup *r, const struct agg *a, double *kwh)
{
	double slots[STORE_DAY_SLOTS];
	int slot = day_slot(a->tz, a->hour);
	int64_t n;
	int rc = r->c->ops->day_hours(r->c, a->device, tz_local_days(a->tz, a->hour), slots);

	*kwh = 0;
	if (rc == 0 && slot >= 0 && !isnan(slots[slot]))
		*kwh = slots[slot];
	if (rc == KW_EUNSUPPORTED)
		rc = r->c->ops->hour_get(r->c, a->device, a->hour, kwh, &n);
	return rc == KW_ENOTFOUND ? 0 : rc;
}

/* An open device-hour's total before this batch: committed (pending) plus
 * what earlier jobs of this transaction staged (lim).  The writer reads
 * pending without the mutex: it is the only one that changes it. */
static double open_total(struct rollup *r, const struct agg *a)
{
	const struct pending_entry *e = pending_get(r->p, a->device, a->hour);
	uint64_t i;
	double kwh = e ? e->kwh : 0;

	if (hmap_get(&r->lim_idx, pending_key(a->device, a->hour), &i))
		kwh += r->lim[i];
	return kwh;
}

/* The batch added a->kwh > 0 to a limited device's hour: raises the hour's
 * alert when the total is now over the limit and it has none yet. */
static int check_limit(struct rollup *r, const struct agg *a, int64_t end, bool closed)
{
	uint64_t key = pending_key(a->device, a->hour), ignored;
	struct store_alert x;
	double before = 0;
	bool inserted;
	int rc = 0;

	if (hmap_get(&r->alerted, key, &ignored))
		return 0;
	if (closed)
		rc = closed_total(r, a, &before);
	else
		before = open_total(r, a);
	if (rc || !(before + a->kwh > a->limit + ALERT_EPS))
		return rc;
	x = (struct store_alert){ .device = a->device,
				  .hour = a->hour,
				  .hour_end = end,
				  .kwh = before + a->kwh,
				  .limit_kwh = a->limit,
				  .created_at = tz_now_ms() };
	if ((rc = r->c->ops->alerts->alert_insert(r->c, &x, &inserted)) != 0)
		return rc;
	if (r->alerted.used >= ALERTED_MAX)
		hmap_clear(&r->alerted);
	hmap_put(&r->alerted, key, 1);
	if (inserted) {
		xgrow((void **)&r->alerts, &r->alertcap, r->nalerts + 1, sizeof(*r->alerts));
		r->alerts[r->nalerts++] = x;
	}
	return 0;
}

/* Ends the batch's summing: closed hours to the tables, open ones staged. */
static int flush(struct rollup *r)
{
	struct days days = { HMAP_INIT, NULL, 0, 0 };
	int64_t watermark = r->p->watermark; /* only this thread changes it */
	const struct tz *memo_tz = NULL;
	int64_t memo_hour = 0, memo_end = 0, memo_day = 0;
	int memo_slot = 0;
	size_t nclosed = 0;
	int rc = 0;

	for (size_t i = 0; i < r->nagg; i++) {
		const struct agg *a = &r->agg[i];
		/* A batch's hours are mostly one hour of one zone: compute its
		 * end, day and slot once. */
		if (a->tz != memo_tz || a->hour != memo_hour) {
			memo_tz = a->tz;
			memo_hour = a->hour;
			memo_end = tz_hour_next(a->tz, a->hour);
			memo_day = tz_local_days(a->tz, a->hour);
			memo_slot = day_slot(a->tz, a->hour);
		}
		/* Before the closed hours are written: their totals are read. */
		if (!isnan(a->limit) && a->kwh > 0 && rc == 0)
			rc = check_limit(r, a, memo_end, memo_end <= watermark);
		if (memo_end <= watermark) {
			r->agg[nclosed++] = *a; /* late data, written below */
			continue;
		}
		if (!isnan(a->limit))
			lim_add(r, a->device, a->hour, a->kwh);
		xgrow((void **)&r->staged, &r->stagedcap, r->nstaged + 1, sizeof(*r->staged));
		r->staged[r->nstaged++] = (struct pending_entry){
			.device = a->device,
			.hour = a->hour,
			.hour_end = memo_end,
			.day = memo_day,
			.slot = memo_slot,
			.kwh = a->kwh,
			.readings = a->readings,
		};
	}
	if (nclosed)
		qsort(r->agg, nclosed, sizeof(*r->agg), cmp_agg);
	for (size_t i = 0; i < nclosed && rc == 0; i++) {
		const struct agg *a = &r->agg[i];
		rc = r->c->ops->hour_add(r->c, a->device, a->hour, a->kwh, a->readings);
		day_sum(&days, a->device, tz_local_days(a->tz, a->hour), day_slot(a->tz, a->hour),
			a->kwh);
	}
	rc = rc ? rc : write_days(r->c, &days);
	discard_days(&days);
	hmap_clear(&r->agg_idx);
	r->gen++;
	r->nagg = 0;
	return rc;
}

/* The index of a counter device's cached state, loaded on first use. */
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
static int counter_late(struct rollup *r, const struct devcache *dc, const struct store_device *d,
			const struct store_reading *x, struct store_batch *b)
{
	int64_t pts = 0, nts = 0;
	double pv = 0, nv = 0;
	bool has_p, has_n, reset = false;
	int rc = 0;

	r->device = d->id;
	r->tz = d->tz;
	has_p = raw_neighbour(r->c, d->id, x->ts, -1, &pts, &pv) == 0;
	has_n = raw_neighbour(r->c, d->id, x->ts, 1, &nts, &nv) == 0;
	if (has_p && has_n) {
		bool ignored;
		spread(r, d->tz, pts, nts, -energy_counter_delta(pv, nv, &ignored));
	}
	if (has_p) {
		spread(r, d->tz, pts, x->ts, energy_counter_delta(pv, x->value, &reset));
		if (reset && (rc = raw_set_flags(r->raw, r->c, d->id, x->ts, READING_FLAG_RESET)))
			return rc;
		b->resets += reset;
	}
	if (has_n) {
		bool next_reset;
		spread(r, d->tz, x->ts, nts, energy_counter_delta(x->value, nv, &next_reset));
		rc = raw_set_flags(r->raw, r->c, d->id, nts, next_reset ? READING_FLAG_RESET : 0);
	}
	return rc;
}

static int counter_apply(struct rollup *r, const struct devcache *dc, const struct store_device *d,
			 const struct store_reading *x, struct store_batch *b)
{
	size_t i = cstate_slot(r, d->id);
	bool reset = false;

	agg_add(r, d->id, tz_hour_start(d->tz, x->ts - 1), 0, 1);
	if (r->cs[i].ts != INT64_MIN && x->ts < r->cs[i].ts)
		return counter_late(r, dc, d, x, b);
	if (r->cs[i].ts != INT64_MIN) {
		spread(r, d->tz, r->cs[i].ts, x->ts,
		       energy_counter_delta(r->cs[i].v, x->value, &reset));
		if (reset) {
			b->resets++;
			int rc = raw_set_flags(r->raw, r->c, d->id, x->ts, READING_FLAG_RESET);
			if (rc)
				return rc;
		}
	}
	r->cs[i] = (struct cstate){ x->ts, x->value, true };
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
	int rc = 0;

	r->c = c;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		const struct store_reading *x = &b->rows[i];
		const struct store_device *d;
		enum store_insert_result res;

		if ((rc = raw_insert(r->raw, c, x, &res)) != 0)
			break;
		if (res != STORE_INSERTED) {
			b->duplicates += res == STORE_DUPLICATE;
			b->conflicts += res == STORE_CONFLICT;
			continue;
		}
		b->accepted++;
		if (x->channel != STORE_CHANNEL_ENERGY || !(d = devcache_get(dc, x->device)))
			continue;
		if (x->ts > r->max_ts)
			r->max_ts = x->ts;
		r->device = d->id;
		r->tz = d->tz;
		r->limit = d->has_max_hourly ? d->max_hourly_kwh : NAN;
		if (d->type == READING_COUNTER)
			rc = counter_apply(r, dc, d, x, b);
		else
			agg_add(r, d->id, energy_interval_hour(d->tz, x->ts), x->value, 1);
	}
	if (rc == 0)
		rc = flush(r);
	if (rc == 0)
		rc = put_counters(r);
	if (rc == 0)
		rc = raw_end_job(r->raw, c);
	return rc;
}

/* --- closing hours ------------------------------------------------------------ */

static int cmp_entry(const void *a, const void *b)
{
	const struct pending_entry *x = *(struct pending_entry *const *)a;
	const struct pending_entry *y = *(struct pending_entry *const *)b;
	if (x->hour != y->hour)
		return x->hour < y->hour ? -1 : 1;
	return (x->device > y->device) - (x->device < y->device);
}

bool rollup_close_target(const struct rollup *r, int64_t now, int64_t *watermark)
{
	int64_t upto = r->max_ts < now ? r->max_ts : now, w;

	if (r->max_ts == INT64_MIN)
		return false;
	/* Close whole UTC hours CLOSE_LAG behind the newest reading, or every
	 * hour that can be when the pending table grows too large. */
	/* Closing at whole raw-block spans (four hours) writes each device's
	 * block and day row once per span, not once per hour. */
	int64_t step = r->p->n > PENDING_MAX ? HOUR_MS : RAWBLOCK_SPAN_MS;
	w = upto - (r->p->n > PENDING_MAX ? 0 : CLOSE_LAG);
	w -= ((w % step) + step) % step;
	*watermark = w;
	return w > r->p->watermark;
}

int rollup_close_write(struct rollup *r, struct store_conn *c, int64_t w)
{
	struct pending_entry **due = NULL;
	struct days days = { HMAP_INIT, NULL, 0, 0 };
	size_t n = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < r->p->n; i++) {
		if (r->p->e[i].hour_end > w)
			continue;
		xgrow((void **)&due, &cap, n + 1, sizeof(*due));
		due[n++] = &r->p->e[i];
	}
	if (n)
		qsort(due, n, sizeof(*due), cmp_entry);
	/* The day rows carry the hours (slots); the hourly table only keeps
	 * hours of late data, for day rows from before slots existed. */
	for (size_t i = 0; i < n; i++)
		day_sum(&days, due[i]->device, due[i]->day, due[i]->slot, due[i]->kwh);
	rc = rc ? rc : write_days(c, &days);
	discard_days(&days);
	if (rc == 0)
		rc = c->ops->meta_set(c, "watermark", w);
	free(due);
	return rc;
}

void rollup_device_gone(struct rollup *r, int64_t device)
{
	forget_counters(r);
	pthread_mutex_lock(&r->p->mu);
	pending_drop_device(r->p, device);
	pthread_mutex_unlock(&r->p->mu);
}

/* --- recovery -------------------------------------------------------------------- */

struct recover_ctx {
	struct rollup *r;
	const struct devcache *dc;
	struct hmap last; /* counter device -> index into lts/lv */
	int64_t *lts;
	double *lv;
	size_t nl, lcap, lvcap;
	int rc;
};

/* Shares of hours still open go to pending; closed hours are on disk. */
static void recover_share(void *ud, int64_t hour, double kwh)
{
	struct recover_ctx *x = ud;
	struct rollup *r = x->r;
	agg_add(r, r->device, hour, kwh, 0);
}

static void recover_reading(void *ud, int64_t ts, int64_t device, double v)
{
	struct recover_ctx *x = ud;
	struct rollup *r = x->r;
	const struct store_device *d = devcache_get(x->dc, device);
	uint64_t i;

	if (!d || x->rc)
		return;
	if (ts > r->max_ts)
		r->max_ts = ts;
	r->device = device;
	r->tz = d->tz;
	r->limit = NAN; /* rebuilding totals raises nothing: their alerts are stored */
	if (d->type == READING_INTERVAL) {
		agg_add(r, device, energy_interval_hour(d->tz, ts), v, 1);
		return;
	}
	agg_add(r, device, tz_hour_start(d->tz, ts - 1), 0, 1);
	if (!hmap_get(&x->last, (uint64_t)device, &i)) {
		int64_t pts;
		double pv;
		xgrow((void **)&x->lts, &x->lcap, x->nl + 1, sizeof(*x->lts));
		xgrow((void **)&x->lv, &x->lvcap, x->nl + 1, sizeof(*x->lv));
		i = x->nl++;
		hmap_put(&x->last, (uint64_t)device, i);
		x->lts[i] = INT64_MIN;
		if (raw_neighbour(r->c, device, ts, -1, &pts, &pv) == 0) {
			x->lts[i] = pts;
			x->lv[i] = pv;
		}
	}
	if (x->lts[i] != INT64_MIN) {
		bool reset;
		double delta = energy_counter_delta(x->lv[i], v, &reset);
		if (delta != 0 && x->lts[i] < ts)
			energy_spread(d->tz, x->lts[i], ts, delta, recover_share, x);
	}
	x->lts[i] = ts;
	x->lv[i] = v;
}

int rollup_recover(struct rollup *r, struct store_conn *c, const struct devcache *dc)
{
	struct recover_ctx x = { .r = r, .dc = dc };
	int64_t w, min, max;
	size_t kept = 0;

	r->c = c;
	if (c->ops->meta_get(c, "watermark", &w) != 0) {
		/* A database from before the watermark has every total on disk. */
		w = raw_bounds(c, &min, &max) == 0 ? max + 2 * HOUR_MS : 0;
		if (c->ops->begin(c) || c->ops->meta_set(c, "watermark", w) || c->ops->commit(c)) {
			c->ops->rollback(c);
			return KW_EDB;
		}
	}
	r->p->watermark = w;
	if ((x.rc = raw_recover(r->raw, c, dc)) != 0)
		return x.rc;
	/* An hour is at most one hour long, so readings stamped more than an
	 * hour before the watermark only touch closed hours -- except a
	 * counter's segment, which recover_reading() follows back. */
	x.rc = raw_scan_energy(r->raw, c, w - HOUR_MS, recover_reading, &x);
	for (size_t i = 0; i < r->nagg && x.rc == 0; i++) {
		const struct agg *a = &r->agg[i];
		int64_t end = tz_hour_next(a->tz, a->hour);
		if (end <= w)
			continue;
		pending_add(r->p, &(struct pending_entry){
				      a->device, a->hour, end, tz_local_days(a->tz, a->hour),
				      day_slot(a->tz, a->hour), a->kwh, a->readings });
		kept++;
	}
	hmap_clear(&r->agg_idx);
	r->gen++;
	r->nagg = 0;
	hmap_release(&x.last);
	free(x.lts);
	free(x.lv);
	c->ops->idle(c);
	if (kept)
		log_info("store", "rebuilt %zu open hour totals from readings after the watermark",
			 kept);
	return x.rc;
}
