/*
 * raw.c - raw readings: heads of open hours in memory, backed by a journal,
 * and closed hours as blocks (design and consistency rules in raw.h).
 *
 * Invariants:
 *  1. dev[d] lists exactly the live heads of device d; every live head has
 *     block >= the watermark (closing drops the others), and min_block <=
 *     every head's block <= max_block.
 *  2. A head's readings r[0..n) are unique by (ts, channel) and disjoint
 *     from the block on disk of the same key, whose readings are all at or
 *     before disk_max (INT64_MIN: no block on disk).
 *  3. The running transaction's appends and flag changes are in undo, in
 *     order; a job's closed-block changes are in dirty until raw_end_job()
 *     or a read of the writer's own transaction writes them.
 *  4. Journal rows hold, per job, the readings it appended to heads and the
 *     flag changes it made to them; replay skips readings of closed blocks
 *     and of deleted devices.
 *
 * Journal row: one version byte (1), then per record varint(device << 1 |
 * set) and the record as rawblock_put() writes it (deltas chained through
 * the row); set = 1 sets the flags of an existing reading instead of
 * adding one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/raw.h"
#include "store/rawblock.h"
#include "core/banned.h"

#define SPAN_MS	   RAWBLOCK_SPAN_MS
#define JOURNAL_V1 1

struct head {
	struct head *next; /* the device's other heads */
	int64_t device, block;
	struct raw_rec *r; /* append order; r[0..ncommitted) is committed */
	uint32_t n, ncommitted;
	size_t cap;
	int64_t max_ts;	  /* >= every ts in r[0..n) */
	bool unsorted;	  /* r is not in nondecreasing ts order */
	int64_t disk_max; /* see invariant 2 */
};

struct undo {
	struct head *h;
	uint32_t idx;
	int32_t old_flags; /* -1: r[idx] was appended */
};

/* A block on disk as the running job sees and changes it. */
struct dirty {
	int64_t device, block;
	struct raw_rec *r; /* sorted by (ts, channel) */
	size_t n, cap;
	bool changed;
	bool exists; /* the block is on disk */
};

struct raw {
	struct pending *p; /* mu and watermark (raw.h) */
	/* Device ids are small and dense (AUTOINCREMENT): an array indexed by
	 * id finds a device's few open heads without hashing. */
	struct head **dev;
	size_t ndev;
	int64_t min_block, max_block;
	size_t nrecs;	    /* readings in heads */
	size_t max_records; /* spill beyond this */
	/* The running transaction (writer only). */
	struct undo *undo;
	size_t nundo, undocap;
	struct hmap dirty_idx; /* key -> index into dirty */
	struct dirty *dirty;
	size_t ndirty, dirtycap;
	unsigned char *jbuf; /* the running job's journal row */
	size_t jlen, jcap;
	int64_t jmax;
	struct rawblock_state jstate;
};

static int64_t block_of(int64_t ts)
{
	return rawblock_base(ts);
}

static bool is_closed(const struct raw *r, int64_t block)
{
	return block + SPAN_MS <= r->p->watermark;
}

struct raw *raw_new(struct pending *p, size_t max_records)
{
	struct raw *r = xcalloc(1, sizeof(*r));
	r->p = p;
	r->max_records = max_records ? max_records : RAW_HEAD_RECORDS;
	r->min_block = INT64_MAX;
	r->max_block = INT64_MIN;
	return r;
}

static void head_free(struct head *h)
{
	if (h) {
		free(h->r);
		free(h);
	}
}

static void drop_dirty(struct raw *r)
{
	for (size_t i = 0; i < r->ndirty; i++)
		free(r->dirty[i].r);
	r->ndirty = 0;
	hmap_clear(&r->dirty_idx);
}

void raw_free(struct raw *r)
{
	if (!r)
		return;
	for (size_t d = 0; d < r->ndev; d++)
		for (struct head *h = r->dev[d], *next; h; h = next) {
			next = h->next;
			head_free(h);
		}
	free(r->dev);
	drop_dirty(r);
	hmap_release(&r->dirty_idx);
	free(r->dirty);
	free(r->undo);
	free(r->jbuf);
	free(r);
}

static struct head *head_find(const struct raw *r, int64_t device, int64_t block)
{
	if (device < 0 || (uint64_t)device >= r->ndev)
		return NULL;
	for (struct head *h = r->dev[device]; h; h = h->next)
		if (h->block == block)
			return h;
	return NULL;
}

/* [writer] Creates a head; the caller holds the mutex (rule 2). */
static struct head *head_new_locked(struct raw *r, int64_t device, int64_t block)
{
	struct head *h = xcalloc(1, sizeof(*h));
	h->device = device;
	h->block = block;
	h->max_ts = INT64_MIN;
	h->disk_max = INT64_MIN;
	if ((uint64_t)device >= r->ndev) {
		size_t old = r->ndev;
		xgrow((void **)&r->dev, &r->ndev, (size_t)device + 1, sizeof(*r->dev));
		memset(r->dev + old, 0, (r->ndev - old) * sizeof(*r->dev));
	}
	h->next = r->dev[device];
	r->dev[device] = h;
	if (block < r->min_block)
		r->min_block = block;
	if (block > r->max_block)
		r->max_block = block;
	return h;
}

static struct head *head_get(struct raw *r, int64_t device, int64_t block)
{
	struct head *h = head_find(r, device, block);
	if (!h) {
		pthread_mutex_lock(&r->p->mu);
		h = head_new_locked(r, device, block);
		pthread_mutex_unlock(&r->p->mu);
	}
	return h;
}

static void head_append(struct raw *r, struct head *h, const struct raw_rec *x)
{
	if (h->n == h->cap) {
		/* Readers may be copying r[0..ncommitted): move it under the mutex. */
		pthread_mutex_lock(&r->p->mu);
		xgrow((void **)&h->r, &h->cap, (size_t)h->n + 1, sizeof(*h->r));
		pthread_mutex_unlock(&r->p->mu);
	}
	h->r[h->n++] = *x;
	if (x->ts < h->max_ts)
		h->unsorted = true;
	else
		h->max_ts = x->ts;
	r->nrecs++;
}

static ssize_t head_search(const struct head *h, int64_t ts, uint32_t channel)
{
	if (ts > h->max_ts)
		return -1;
	/* Meters report in order: search from the end, and stop at older
	 * readings unless some arrived out of order. */
	for (uint32_t i = h->n; i-- > 0;) {
		if (h->r[i].ts == ts && h->r[i].channel == channel)
			return i;
		if (h->r[i].ts < ts && !h->unsorted)
			break;
	}
	return -1;
}

/* --- blocks on disk -------------------------------------------------------------- */

struct decode_ctx {
	int64_t base;
	struct raw_rec **r;
	size_t *n, *cap;
	int rc;
};

static void decode_cb(void *ud, const void *data, size_t len)
{
	struct decode_ctx *x = ud;
	x->rc = rawblock_decode(x->base, data, len, x->r, x->n, x->cap);
}

/* Appends the block's readings on disk to *out; 0 also when there is none
 * (then *found, when asked, is false). */
static int load_block(struct store_conn *c, int64_t device, int64_t block, struct raw_rec **out,
		      size_t *n, size_t *cap, bool *found)
{
	struct decode_ctx x = { block, out, n, cap, 0 };
	int rc = c->ops->block_get(c, device, block, decode_cb, &x);
	if (found)
		*found = rc == 0;
	if (rc == KW_ENOTFOUND)
		return 0;
	if (rc == 0 && x.rc) {
		log_error("store", "raw block of device %lld at %lld is damaged", (long long)device,
			  (long long)block);
		return KW_EDB;
	}
	return rc;
}

static int put_block(struct store_conn *c, int64_t device, int64_t block, struct raw_rec *rec,
		     size_t n, bool exists)
{
	unsigned char *buf = xmalloc(rawblock_bound(n));
	size_t len;
	int rc;

	qsort(rec, n, sizeof(*rec), rawblock_cmp);
	len = rawblock_encode(block, rec, n, buf);
	rc = c->ops->block_put(c, device, block, buf, len, exists);
	free(buf);
	return rc;
}

static ssize_t sorted_search(const struct raw_rec *a, size_t n, int64_t ts, uint32_t ch,
			     size_t *pos)
{
	size_t lo = 0, hi = n;
	struct raw_rec key = { .ts = ts, .channel = ch };
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = rawblock_cmp(&a[mid], &key);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return -1;
}

/* [writer] The running job's copy of a block on disk, loaded on first use. */
static int dirty_get(struct raw *r, struct store_conn *c, int64_t device, int64_t block,
		     struct dirty **out)
{
	uint64_t *i = hmap_upsert(&r->dirty_idx, pending_key(device, block), UINT64_MAX);
	struct dirty *d;
	int rc;

	if (*i != UINT64_MAX) {
		*out = &r->dirty[*i];
		return 0;
	}
	xgrow((void **)&r->dirty, &r->dirtycap, r->ndirty + 1, sizeof(*r->dirty));
	d = &r->dirty[r->ndirty];
	*d = (struct dirty){ .device = device, .block = block };
	if ((rc = load_block(c, device, block, &d->r, &d->n, &d->cap, &d->exists)) != 0) {
		free(d->r);
		hmap_del(&r->dirty_idx, pending_key(device, block));
		return rc;
	}
	*i = r->ndirty++;
	*out = d;
	return 0;
}

/* [writer] Writes the job's changed blocks, so reads of the transaction see them. */
static int flush_dirty(struct raw *r, struct store_conn *c)
{
	int rc = 0;
	for (size_t i = 0; i < r->ndirty && rc == 0; i++)
		if (r->dirty[i].changed)
			rc = put_block(c, r->dirty[i].device, r->dirty[i].block, r->dirty[i].r,
				       r->dirty[i].n, r->dirty[i].exists);
	drop_dirty(r);
	return rc;
}

/* --- the journal ------------------------------------------------------------------- */

static void journal_add(struct raw *r, int64_t device, const struct raw_rec *x, bool set_flags)
{
	unsigned char *p;

	if (r->jlen == 0) {
		xgrow((void **)&r->jbuf, &r->jcap, 1, 1);
		r->jbuf[r->jlen++] = JOURNAL_V1;
		r->jmax = INT64_MIN;
		r->jstate = (struct rawblock_state){ 0, 0 };
	}
	xgrow((void **)&r->jbuf, &r->jcap, r->jlen + 10 + RAWBLOCK_REC_MAX, 1);
	p = rawblock_put_varint(r->jbuf + r->jlen, (uint64_t)device << 1 | set_flags);
	p = rawblock_put(&r->jstate, p, x);
	r->jlen = (size_t)(p - r->jbuf);
	if (x->ts > r->jmax)
		r->jmax = x->ts;
}

int raw_journal_decode(const void *data, size_t len,
		       void (*fn)(void *ud, int64_t device, const struct raw_rec *x,
				  bool set_flags),
		       void *ud)
{
	const unsigned char *end = (const unsigned char *)data + len;

	/* Twice: nothing of a damaged row is applied. */
	for (int pass = fn ? 0 : 1; pass < 2; pass++) {
		const unsigned char *p = data;
		struct rawblock_state st = { 0, 0 };
		if (len < 1 || *p++ != JOURNAL_V1)
			return KW_EINVAL;
		while (p < end) {
			struct raw_rec x;
			uint64_t tag;
			if (rawblock_get_varint(&p, end, &tag) || tag >> 1 > INT64_MAX ||
			    rawblock_get(&st, &p, end, &x))
				return KW_EINVAL;
			if (pass == 1 && fn)
				fn(ud, (int64_t)(tag >> 1), &x, tag & 1);
		}
	}
	return 0;
}

/* --- writing ------------------------------------------------------------------------ */

static void undo_push(struct raw *r, struct head *h, uint32_t idx, int32_t old_flags)
{
	xgrow((void **)&r->undo, &r->undocap, r->nundo + 1, sizeof(*r->undo));
	r->undo[r->nundo++] = (struct undo){ h, idx, old_flags };
}

static enum store_insert_result same_or_conflict(const struct raw_rec *old, double v)
{
	return old->value == v ? STORE_DUPLICATE : STORE_CONFLICT;
}

int raw_insert(struct raw *r, struct store_conn *c, const struct store_reading *x,
	       enum store_insert_result *res)
{
	struct raw_rec rec = { x->ts, x->value, x->channel, 0 };
	int64_t block = block_of(x->ts);
	bool closed = is_closed(r, block);
	struct head *h = closed ? NULL : head_find(r, x->device, block);
	struct dirty *d;
	ssize_t i;
	size_t pos = 0;
	int rc;

	if (h && (i = head_search(h, x->ts, x->channel)) >= 0) {
		*res = same_or_conflict(&h->r[i], x->value);
		return 0;
	}
	if (!closed && !(h && x->ts <= h->disk_max)) {
		if (!h)
			h = head_get(r, x->device, block);
		head_append(r, h, &rec);
		undo_push(r, h, h->n - 1, -1);
		journal_add(r, x->device, &rec, false);
		*res = STORE_INSERTED;
		return 0;
	}
	/* Late data: a closed block, or the spilled part of an open one. */
	if ((rc = dirty_get(r, c, x->device, block, &d)) != 0)
		return rc;
	if ((i = sorted_search(d->r, d->n, x->ts, x->channel, &pos)) >= 0) {
		*res = same_or_conflict(&d->r[i], x->value);
		return 0;
	}
	xgrow((void **)&d->r, &d->cap, d->n + 1, sizeof(*d->r));
	memmove(&d->r[pos + 1], &d->r[pos], (d->n - pos) * sizeof(*d->r));
	d->r[pos] = rec;
	d->n++;
	d->changed = true;
	*res = STORE_INSERTED;
	return 0;
}

int raw_set_flags(struct raw *r, struct store_conn *c, int64_t device, int64_t ts, int flags)
{
	int64_t block = block_of(ts);
	struct head *h = is_closed(r, block) ? NULL : head_find(r, device, block);
	struct dirty *d;
	ssize_t i;
	size_t pos = 0;
	int rc;

	if (h && (i = head_search(h, ts, STORE_CHANNEL_ENERGY)) >= 0) {
		struct raw_rec *x = &h->r[i];
		if (x->flags == (uint32_t)flags)
			return 0;
		undo_push(r, h, (uint32_t)i, (int32_t)x->flags);
		pthread_mutex_lock(&r->p->mu); /* readers may be copying it */
		x->flags = (uint32_t)flags;
		pthread_mutex_unlock(&r->p->mu);
		journal_add(r, device, x, true);
		return 0;
	}
	if ((rc = dirty_get(r, c, device, block, &d)) != 0)
		return rc;
	if ((i = sorted_search(d->r, d->n, ts, STORE_CHANNEL_ENERGY, &pos)) >= 0 &&
	    d->r[i].flags != (uint32_t)flags) {
		d->r[i].flags = (uint32_t)flags;
		d->changed = true;
	}
	return 0;
}

int raw_end_job(struct raw *r, struct store_conn *c)
{
	int rc = flush_dirty(r, c);
	if (rc == 0 && r->jlen > 1)
		rc = c->ops->journal_append(c, r->jmax, r->jbuf, r->jlen);
	r->jlen = 0;
	return rc;
}

size_t raw_mark(const struct raw *r)
{
	return r->nundo;
}

void raw_abort(struct raw *r, size_t mark)
{
	while (r->nundo > mark) {
		struct undo *u = &r->undo[--r->nundo];
		if (u->old_flags < 0) {
			u->h->n--; /* appends are popped in reverse order */
			r->nrecs--;
		} else if (u->idx < u->h->ncommitted) {
			pthread_mutex_lock(&r->p->mu);
			u->h->r[u->idx].flags = (uint32_t)u->old_flags;
			pthread_mutex_unlock(&r->p->mu);
		} else {
			u->h->r[u->idx].flags = (uint32_t)u->old_flags;
		}
	}
	drop_dirty(r);
	r->jlen = 0;
}

void raw_commit(struct raw *r)
{
	pthread_mutex_lock(&r->p->mu);
	for (size_t i = 0; i < r->nundo; i++)
		r->undo[i].h->ncommitted = r->undo[i].h->n;
	pthread_mutex_unlock(&r->p->mu);
	r->nundo = 0;
}

void raw_forget(struct raw *r)
{
	raw_abort(r, 0);
}

/* --- closing and spilling ------------------------------------------------------------ */

/* Writes a head's readings into its block on disk, merged with what is there. */
static int write_head(struct store_conn *c, const struct head *h)
{
	struct raw_rec *all = NULL;
	size_t n = 0, cap = 0;
	bool exists = false;
	int rc = 0;

	if (h->disk_max != INT64_MIN)
		rc = load_block(c, h->device, h->block, &all, &n, &cap, &exists);
	if (rc == 0 && h->n) {
		xgrow((void **)&all, &cap, n + h->n, sizeof(*all));
		memcpy(all + n, h->r, h->n * sizeof(*all));
		n += h->n;
	}
	if (rc == 0 && n)
		rc = put_block(c, h->device, h->block, all, n, exists);
	free(all);
	return rc;
}

static int cmp_head(const void *a, const void *b)
{
	const struct head *x = *(const struct head *const *)a, *y = *(const struct head *const *)b;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return (x->device > y->device) - (x->device < y->device);
}

/* Writes the heads with readings whose block ends at or before w, in key
 * order: the blocks then append to the time-first table instead of
 * splitting pages in its middle. */
static int write_heads(struct raw *r, struct store_conn *c, int64_t w)
{
	const struct head **due = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (size_t d = 0; d < r->ndev; d++)
		for (const struct head *h = r->dev[d]; h; h = h->next)
			if (h->block + SPAN_MS <= w && h->n) {
				xgrow((void **)&due, &cap, n + 1, sizeof(*due));
				due[n++] = h;
			}
	if (n)
		qsort(due, n, sizeof(*due), cmp_head);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = write_head(c, due[i]);
	free(due);
	return rc;
}

int raw_close_write(struct raw *r, struct store_conn *c, int64_t w)
{
	int rc = write_heads(r, c, w);
	return rc ? rc : c->ops->journal_trim(c, w);
}

/* [writer, under the mutex] Drops the heads of a device, or (device 0)
 * those of blocks ending at or before w, and recomputes the bounds. */
static void drop_heads(struct raw *r, int64_t device, int64_t w)
{
	r->min_block = INT64_MAX;
	r->max_block = INT64_MIN;
	for (size_t d = 0; d < r->ndev; d++) {
		struct head **link = &r->dev[d];
		while (*link) {
			struct head *h = *link;
			if (device ? h->device == device : h->block + SPAN_MS <= w) {
				*link = h->next;
				r->nrecs -= h->n;
				head_free(h);
				continue;
			}
			if (h->block < r->min_block)
				r->min_block = h->block;
			if (h->block > r->max_block)
				r->max_block = h->block;
			link = &h->next;
		}
	}
}

void raw_close_publish(struct raw *r, int64_t w)
{
	drop_heads(r, 0, w);
}

bool raw_spill_due(const struct raw *r)
{
	return r->nrecs > r->max_records;
}

int raw_spill_write(struct raw *r, struct store_conn *c)
{
	int rc = write_heads(r, c, INT64_MAX);
	return rc ? rc : c->ops->journal_trim(c, INT64_MAX);
}

void raw_spill_publish(struct raw *r)
{
	for (size_t d = 0; d < r->ndev; d++)
		for (struct head *h = r->dev[d]; h; h = h->next) {
			if (h->n && h->max_ts > h->disk_max)
				h->disk_max = h->max_ts;
			free(h->r);
			h->r = NULL;
			h->n = h->ncommitted = 0;
			h->cap = 0;
			h->max_ts = INT64_MIN;
			h->unsorted = false;
		}
	r->nrecs = 0;
}

void raw_device_gone(struct raw *r, int64_t device)
{
	pthread_mutex_lock(&r->p->mu);
	drop_heads(r, device, 0);
	pthread_mutex_unlock(&r->p->mu);
}

/* --- recovery -------------------------------------------------------------------------- */

struct recover_ctx {
	struct raw *r;
	const struct devcache *dc;
	size_t replayed;
	int rc;
};

/* An open block already on disk (a spill before the restart). */
static void recover_block(void *ud, int64_t device, int64_t block, const void *data, size_t len)
{
	struct recover_ctx *x = ud;
	struct raw_rec *rec = NULL;
	size_t n = 0, cap = 0;
	struct head *h;

	if (x->rc)
		return;
	if (rawblock_decode(block, data, len, &rec, &n, &cap) != 0) {
		log_error("store", "raw block of device %lld at %lld is damaged", (long long)device,
			  (long long)block);
		x->rc = KW_EDB;
		return;
	}
	h = head_find(x->r, device, block);
	if (!h)
		h = head_new_locked(x->r, device, block);
	for (size_t i = 0; i < n; i++)
		if (rec[i].ts > h->disk_max)
			h->disk_max = rec[i].ts;
	free(rec);
}

static void recover_rec(void *ud, int64_t device, const struct raw_rec *rec, bool set_flags)
{
	struct recover_ctx *x = ud;
	int64_t block = block_of(rec->ts);
	struct head *h;
	ssize_t i;

	if (is_closed(x->r, block) || !devcache_get(x->dc, device))
		return;
	h = head_find(x->r, device, block);
	if (set_flags) {
		if (h && (i = head_search(h, rec->ts, rec->channel)) >= 0)
			h->r[i].flags = rec->flags;
		return;
	}
	if (!h)
		h = head_new_locked(x->r, device, block);
	if (head_search(h, rec->ts, rec->channel) < 0) {
		head_append(x->r, h, rec);
		h->ncommitted = h->n;
		x->replayed++;
	}
}

static void recover_row(void *ud, const void *data, size_t len)
{
	struct recover_ctx *x = ud;

	if (x->rc == 0 && raw_journal_decode(data, len, recover_rec, x) != 0) {
		log_error("store", "a journal row is damaged (%zu bytes)", len);
		x->rc = KW_EDB;
	}
}

int raw_recover(struct raw *r, struct store_conn *c, const struct devcache *dc)
{
	struct recover_ctx x = { r, dc, 0, 0 };
	int rc;

	/* No reader runs yet: no mutex needed. */
	/* Open blocks: block + span > watermark, including one that straddles it. */
	rc = c->ops->block_scan(c, r->p->watermark - SPAN_MS + 1, recover_block, &x);
	if (rc == 0 && x.rc == 0)
		rc = c->ops->journal_scan(c, recover_row, &x);
	c->ops->idle(c);
	if (x.replayed)
		log_info("store", "replayed %zu readings of open hours from the journal",
			 x.replayed);
	return rc ? rc : x.rc;
}

/* --- reading ----------------------------------------------------------------------------- */

void raw_capture(struct store_conn *c, int64_t device)
{
	struct raw *r = store_conn_raw(c);
	struct raw_view *v = &c->view;

	v->active = true;
	v->device = device;
	v->n = 0;
	if (device < 0 || (uint64_t)device >= r->ndev)
		return;
	for (const struct head *h = r->dev[device]; h; h = h->next) {
		if (!h->ncommitted)
			continue;
		xgrow((void **)&v->r, &v->cap, v->n + h->ncommitted, sizeof(*v->r));
		memcpy(v->r + v->n, h->r, h->ncommitted * sizeof(*v->r));
		v->n += h->ncommitted;
	}
	if (v->n)
		qsort(v->r, v->n, sizeof(*v->r), rawblock_cmp);
}

void raw_view_clear(struct store_conn *c)
{
	c->view.active = false;
	c->view.n = 0;
}

/* Pins a reader's snapshot and captures the device, unless done already. */
static int reader_view(struct store_conn *c, int64_t device)
{
	struct pending *p = store_conn_pending(c);
	int rc;

	if (c->view.active && c->view.device == device)
		return 0;
	if (c->view.active)
		return KW_EINVAL; /* one device per read job (raw.h) */
	pthread_mutex_lock(&p->mu);
	rc = c->ops->snapshot(c);
	if (rc == 0)
		raw_capture(c, device);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Every reading of a device block as this connection sees it, sorted. */
static int block_view(struct store_conn *c, int64_t device, int64_t block, struct raw_rec **out,
		      size_t *n, size_t *cap)
{
	int rc;

	*n = 0;
	if (c->writer) {
		struct raw *r = store_conn_raw(c);
		const struct head *h = is_closed(r, block) ? NULL : head_find(r, device, block);
		if (!h || h->disk_max != INT64_MIN)
			if ((rc = load_block(c, device, block, out, n, cap, NULL)) != 0)
				return rc;
		if (h && h->n) {
			xgrow((void **)out, cap, *n + h->n, sizeof(**out));
			memcpy(*out + *n, h->r, h->n * sizeof(**out));
			*n += h->n;
		}
	} else {
		const struct raw_view *v = &c->view;
		size_t lo = 0, hi = v->n;
		if ((rc = load_block(c, device, block, out, n, cap, NULL)) != 0)
			return rc;
		while (lo < hi) { /* the view is sorted: find the block's first reading */
			size_t mid = lo + (hi - lo) / 2;
			if (v->r[mid].ts <= block)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < v->n && v->r[lo].ts <= block + SPAN_MS; lo++) {
			xgrow((void **)out, cap, *n + 1, sizeof(**out));
			(*out)[(*n)++] = v->r[lo];
		}
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), rawblock_cmp);
	return 0;
}

static int prepare(struct store_conn *c, int64_t device)
{
	if (c->writer)
		return flush_dirty(store_conn_raw(c), c);
	return reader_view(c, device);
}

int raw_bounds(struct store_conn *c, int64_t *min, int64_t *max)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN, dmin, dmax;
	int rc = c->ops->block_bounds(c, &dmin, &dmax);

	if (rc && rc != KW_ENOTFOUND)
		return rc;
	if (rc == 0) {
		lo = dmin;
		hi = dmax + SPAN_MS;
	}
	if (c->writer) {
		const struct raw *r = store_conn_raw(c);
		if (r->max_block != INT64_MIN) {
			lo = r->min_block < lo ? r->min_block : lo;
			hi = r->max_block + SPAN_MS > hi ? r->max_block + SPAN_MS : hi;
		}
	} else if (c->view.n) {
		int64_t a = block_of(c->view.r[0].ts), b = c->view.r[c->view.n - 1].ts;
		lo = a < lo ? a : lo;
		hi = b > hi ? b : hi;
	}
	if (lo == INT64_MAX)
		return KW_ENOTFOUND;
	*min = lo;
	*max = hi;
	return 0;
}

int raw_neighbour(struct store_conn *c, int64_t device, int64_t ts, int dir, int64_t *ts_out,
		  double *v_out)
{
	struct raw_rec *rec = NULL;
	size_t n = 0, cap = 0;
	int64_t min = 0, max = 0, b;
	int rc = prepare(c, device);

	if (rc == 0)
		rc = raw_bounds(c, &min, &max);
	/* Block by block away from ts; the bounds end the walk (invariant 1).
	 * A ts past them (INT64_MAX: the latest reading) starts at their edge. */
	for (b = block_of(dir < 0 ? (ts - 1 < max ? ts - 1 : max) : ts + 1);
	     rc == 0 && b >= min && b <= max; b += dir < 0 ? -SPAN_MS : SPAN_MS) {
		if ((rc = block_view(c, device, b, &rec, &n, &cap)) != 0)
			break;
		for (size_t k = 0; k < n; k++) {
			const struct raw_rec *x = &rec[dir < 0 ? n - 1 - k : k];
			if (x->channel != STORE_CHANNEL_ENERGY ||
			    (dir < 0 ? x->ts >= ts : x->ts <= ts))
				continue;
			*ts_out = x->ts;
			*v_out = x->value;
			free(rec);
			return 0;
		}
	}
	free(rec);
	return rc ? rc : KW_ENOTFOUND;
}

int raw_readings(struct store_conn *c, int64_t device, int64_t channel, int64_t from, int64_t to,
		 int64_t after_ts, int64_t after_ch, size_t limit, store_reading_fn fn, void *ud)
{
	struct raw_rec *rec = NULL;
	size_t n = 0, cap = 0, sent = 0;
	int64_t min, max, first, last;
	int rc = prepare(c, device);

	if (rc)
		return rc;
	if ((rc = raw_bounds(c, &min, &max)) != 0)
		return rc == KW_ENOTFOUND ? 0 : rc;
	/* Blocks are aligned and min < every ts <= max. */
	first = from > after_ts ? from : after_ts;
	first = block_of(first > min ? first : min + 1);
	last = block_of(to - 1 < max ? to - 1 : max);
	for (int64_t b = first; rc == 0 && b <= last && sent < limit; b += SPAN_MS) {
		if ((rc = block_view(c, device, b, &rec, &n, &cap)) != 0)
			break;
		for (size_t k = 0; k < n && sent < limit; k++) {
			const struct raw_rec *x = &rec[k];
			if (x->ts < from || x->ts >= to)
				continue;
			if (channel >= 0 ? x->channel != (uint32_t)channel || x->ts <= after_ts
					 : x->ts < after_ts || (x->ts == after_ts &&
								(int64_t)x->channel <= after_ch))
				continue;
			fn(ud, x->ts, x->channel, x->value, (int)x->flags);
			sent++;
		}
	}
	free(rec);
	return rc;
}

struct scan_rec {
	int64_t ts, device;
	double v;
};

struct scan_ctx {
	int64_t after;
	struct scan_rec *a;
	size_t n, cap;
	struct raw_rec *tmp;
	size_t tn, tcap;
	int rc;
};

static void scan_add(struct scan_ctx *x, int64_t device, const struct raw_rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].channel != STORE_CHANNEL_ENERGY || r[i].ts <= x->after)
			continue;
		xgrow((void **)&x->a, &x->cap, x->n + 1, sizeof(*x->a));
		x->a[x->n++] = (struct scan_rec){ r[i].ts, device, r[i].value };
	}
}

static void scan_block(void *ud, int64_t device, int64_t block, const void *data, size_t len)
{
	struct scan_ctx *x = ud;
	x->tn = 0;
	if (x->rc == 0 && (x->rc = rawblock_decode(block, data, len, &x->tmp, &x->tn, &x->tcap)))
		x->rc = KW_EDB;
	if (x->rc == 0)
		scan_add(x, device, x->tmp, x->tn);
}

static int cmp_scan(const void *a, const void *b)
{
	const struct scan_rec *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->device > y->device) - (x->device < y->device);
}

int raw_scan_energy(struct raw *r, struct store_conn *c, int64_t after,
		    void (*fn)(void *ud, int64_t ts, int64_t device, double v), void *ud)
{
	struct scan_ctx x = { .after = after };
	int rc = flush_dirty(r, c);

	if (rc == 0)
		rc = c->ops->block_scan(c, block_of(after + 1), scan_block, &x);
	rc = rc ? rc : x.rc;
	for (size_t d = 0; d < r->ndev && rc == 0; d++)
		for (const struct head *h = r->dev[d]; h; h = h->next)
			scan_add(&x, h->device, h->r, h->n);
	if (rc == 0 && x.n)
		qsort(x.a, x.n, sizeof(*x.a), cmp_scan);
	for (size_t i = 0; rc == 0 && i < x.n; i++)
		fn(ud, x.a[i].ts, x.a[i].device, x.a[i].v);
	free(x.a);
	free(x.tmp);
	return rc;
}
