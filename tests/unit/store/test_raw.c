/*
 * test_raw.c - raw readings in device blocks of four UTC hours plus a
 * journal (src/store/raw.c, design in src/store/raw.h), through the store's
 * API against a real SQLite store.
 *
 * Each test states the readings, the rule it exercises and the exact
 * result: what store_readings() returns (timestamps, channels, value bits,
 * flags), what the batch counters say, and the hourly totals.
 *
 * Where the rule is about where readings live (a head kept by the journal,
 * a block of a closed span, a spilled block of an open one), the test
 * first checks that premise on disk through the backend's primitives
 * (disk_state(), journal rows decoded by raw_journal_decode()), so it
 * cannot pass by testing something else.  Blocks: a block b (a multiple of
 * 4 h since 1970 UTC; T0 is one) holds (b, b + 4 h]; it is closed when
 * b + 4 h <= the watermark.  Closing (store.c close_hours, rollup.c
 * rollup_close_target): after a commit, the target is the multiple of 4 h
 * at or before (newest reading - 1 h), and hours close up to it when it is
 * past the watermark; a new store's watermark is 0, so its first batch
 * closes everything before that.  So blocks b and b + 4 h are both open
 * only while the newest reading is before b + 5 h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"
#include "store/backend.h"
#include "store/raw.h"
#include "store/rawblock.h"
#include "tests/unit/support/teststore.h"

#define H  (INT64_C(3600000))
#define M  (INT64_C(60000))
#define S  (INT64_C(1000))
#define T0 INT64_C(1738972800000) /* 2025-02-08T00:00:00Z */
#define D0 INT64_C(20127)	  /* T0's date, days since 1970-01-01 */
#define EN STORE_CHANNEL_ENERGY

_Static_assert(RAWBLOCK_SPAN_MS == 4 * H, "the timings below assume blocks of four hours");

#define assert_exact(a, b)                                                  \
	do {                                                                \
		double a_ = (a), b_ = (b);                                  \
		if (a_ != b_)                                               \
			fail_msg("%s = %.17g, expected %.17g", #a, a_, b_); \
	} while (0)

/* --- asynchronous jobs, run to completion ------------------------------------------ */

/* --- readings: expected and read back ------------------------------------------------ */

struct rd {
	int64_t device;
	int64_t ts;
	uint32_t ch;
	double v;
	int flags;
};

struct rdlist {
	struct rd *r;
	size_t n, cap;
};

static void rd_add(struct rdlist *l, int64_t device, int64_t ts, uint32_t ch, double v, int flags)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
		assert_non_null(l->r);
	}
	l->r[l->n++] = (struct rd){ device, ts, ch, v, flags };
}

static int rd_cmp(const void *a, const void *b)
{
	const struct rd *x = a, *y = b;
	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->ch > y->ch) - (x->ch < y->ch);
}

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

/* The readings of all that store_readings(device, channel, from, to) must
 * return, in its order. */
static void expect(const struct rdlist *all, int64_t device, int64_t ch, int64_t from, int64_t to,
		   struct rdlist *out)
{
	out->n = 0;
	for (size_t i = 0; i < all->n; i++) {
		const struct rd *x = &all->r[i];
		if (x->device == device && (ch < 0 || x->ch == (uint32_t)ch) && x->ts >= from &&
		    x->ts < to)
			rd_add(out, x->device, x->ts, x->ch, x->v, x->flags);
	}
	if (out->n)
		qsort(out->r, out->n, sizeof(*out->r), rd_cmp);
}

static void assert_same_readings(const struct rdlist *got, const struct rdlist *want)
{
	for (size_t i = 0; i < got->n && i < want->n; i++) {
		const struct rd *g = &got->r[i], *w = &want->r[i];
		if (g->ts != w->ts || g->ch != w->ch || bits(g->v) != bits(w->v) ||
		    g->flags != w->flags)
			fail_msg("reading %zu of %zu: got (ts T0%+lld ms, ch %u, %.17g, flags %d), "
				 "expected (ts T0%+lld ms, ch %u, %.17g, flags %d)",
				 i, want->n, (long long)(g->ts - T0), g->ch, g->v, g->flags,
				 (long long)(w->ts - T0), w->ch, w->v, w->flags);
	}
	if (got->n != want->n)
		fail_msg("got %zu readings, expected %zu", got->n, want->n);
}

struct page {
	struct teststore_wait w;
	int64_t device, channel, from, to, after_ts, after_ch;
	size_t limit;
	struct rdlist *out;
};

static void page_one(void *ud, int64_t ts, uint32_t ch, double v, int flags)
{
	struct page *q = ud;
	rd_add(q->out, q->device, ts, ch, v, flags);
}

static int page_read(struct store_conn *c, void *ud)
{
	struct page *q = ud;
	return store_readings(c, q->device, q->channel, q->from, q->to, q->after_ts, q->after_ch,
			      q->limit, page_one, q);
}

/* Every reading of a device (channel < 0: every channel) with from <= ts <
 * to, in pages of limit, each page a read job continuing after the last
 * reading of the one before, as GET .../readings does (src/http/api_query.c).
 * Checks that the whole is in strict (ts, channel) order (strict ts order
 * with one channel), so no page repeats or reorders a reading. */
static void read_all(struct teststore *t, int64_t device, int64_t ch, int64_t from, int64_t to,
		     size_t limit, struct rdlist *out)
{
	int64_t after_ts = from - 1, after_ch = INT64_MAX;

	out->n = 0;
	for (int pages = 0;; pages++) {
		struct page q = { { 0 }, device, ch, from, to, after_ts, after_ch, limit, out };
		size_t start = out->n;

		assert_true(pages < 100000);
		assert_int_equal(store_submit_read(t->s, page_read, teststore_done, &q), 0);
		assert_int_equal(teststore_wait(t, &q.w), 0);
		assert_true(out->n - start <= limit);
		if (out->n - start < limit)
			break;
		after_ts = out->r[out->n - 1].ts;
		after_ch = out->r[out->n - 1].ch;
	}
	for (size_t i = 0; i < out->n; i++) {
		const struct rd *x = &out->r[i], *p = i ? &out->r[i - 1] : NULL;
		assert_true(x->ts >= from && x->ts < to);
		assert_true(ch < 0 || x->ch == (uint32_t)ch);
		if (p && (x->ts < p->ts || (x->ts == p->ts && (ch >= 0 || x->ch <= p->ch))))
			fail_msg("reading %zu (T0%+lld ms, ch %u) does not follow (T0%+lld ms, "
				 "ch %u)",
				 i, (long long)(x->ts - T0), x->ch, (long long)(p->ts - T0), p->ch);
	}
}

/* Reads the device back (all channels, pages of limit) and compares. */
static void check_readings(struct teststore *t, const struct rdlist *all, int64_t device,
			   int64_t from, int64_t to, size_t limit)
{
	struct rdlist got = { 0 }, want = { 0 };
	read_all(t, device, -1, from, to, limit, &got);
	expect(all, device, -1, from, to, &want);
	assert_same_readings(&got, &want);
	free(got.r);
	free(want.r);
}

/* --- writing ---------------------------------------------------------------------- */

struct counts {
	size_t accepted, duplicates, conflicts;
};

#define assert_counts(c, acc, dup, conf)                \
	do {                                            \
		struct counts c_ = (c);                 \
		assert_int_equal(c_.accepted, (acc));   \
		assert_int_equal(c_.duplicates, (dup)); \
		assert_int_equal(c_.conflicts, (conf)); \
	} while (0)

/* Commits r[0..n) as one batch (in that order). */
static struct counts commit(struct teststore *t, const struct rd *r, size_t n)
{
	struct store_batch b;
	struct counts c;

	store_batch_init(&b);
	for (size_t i = 0; i < n; i++) {
		struct store_reading x = { r[i].ts, r[i].device, r[i].ch, (uint32_t)i + 1, r[i].v };
		store_batch_add(&b, &x);
	}
	assert_int_equal(teststore_commit(t, &b), 0);
	c = (struct counts){ b.accepted, b.duplicates, b.conflicts };
	store_batch_release(&b);
	return c;
}

/* Commits l in batches of at most per; returns the summed counters. */
static struct counts commit_all(struct teststore *t, const struct rdlist *l, size_t per)
{
	struct counts sum = { 0, 0, 0 };
	for (size_t i = 0; i < l->n; i += per) {
		struct counts c = commit(t, l->r + i, l->n - i < per ? l->n - i : per);
		sum.accepted += c.accepted;
		sum.duplicates += c.duplicates;
		sum.conflicts += c.conflicts;
	}
	return sum;
}

/* Creates a channel (a batch naming it, with no readings); returns its id. */
static uint32_t channel(struct teststore *t, const char *name)
{
	struct store_batch b;
	int64_t id;

	store_batch_init(&b);
	store_batch_new_channel(&b, name);
	assert_int_equal(teststore_commit(t, &b), 0);
	store_batch_release(&b);
	id = store_channel_resolve(t->s, name);
	assert_true(id > 0);
	return (uint32_t)id;
}

struct del {
	struct teststore_wait w;
	int64_t id;
};

static int del_run(struct store_conn *c, void *ud)
{
	return store_device_delete(c, ((struct del *)ud)->id);
}

/* --- totals -------------------------------------------------------------------------- */

/* UTC hourly buckets [hour0, hour0 + n h) of an interval device against
 * the energy readings of all: a reading at ts counts for the hour holding
 * ts - 1 ms.  exact: compare with ==, which the test's values allow. */
static void check_hours(struct teststore *t, const struct rdlist *all, int64_t device,
			int64_t hour0, size_t n, bool exact)
{
	struct query_bucket *b;
	double want[64] = { 0 };
	bool has[64] = { false };
	size_t got;

	assert_true(n <= 64);
	for (size_t i = 0; i < all->n; i++) {
		const struct rd *x = &all->r[i];
		int64_t k = (x->ts - 1 - hour0) / H;
		if (x->device != device || x->ch != EN || x->ts - 1 < hour0 || k >= (int64_t)n)
			continue;
		want[k] += x->v;
		has[k] = true;
	}
	assert_int_equal(teststore_consumption(t, device, "UTC", STEP_HOUR, hour0,
					       hour0 + (int64_t)n * H, &b, &got),
			 0);
	assert_int_equal(got, n);
	for (size_t k = 0; k < n; k++) {
		if (b[k].has != has[k])
			fail_msg("hour %zu: has %d, expected %d", k, b[k].has, has[k]);
		if (exact)
			assert_exact(b[k].kwh, want[k]);
		else
			assert_near(b[k].kwh, want[k]);
	}
	free(b);
}

/* One UTC hour's total (T0 + k h). */
static double hour_kwh(struct teststore *t, int64_t device, int k, bool *has)
{
	struct query_bucket *b;
	size_t n;
	double v;

	assert_int_equal(teststore_consumption(t, device, "UTC", STEP_HOUR, T0 + k * H,
					       T0 + (k + 1) * H, &b, &n),
			 0);
	assert_int_equal(n, 1);
	v = b[0].kwh;
	if (has)
		*has = b[0].has;
	free(b);
	return v;
}

struct days_q {
	struct teststore_wait w;
	int64_t dev[2];
	double kwh[2];
	bool seen[2];
};

static void days_one(void *ud, int64_t device, int64_t day, double kwh)
{
	struct days_q *q = ud;
	for (int i = 0; i < 2; i++)
		if (device == q->dev[i]) {
			q->kwh[i] += kwh;
			q->seen[i] = true;
		}
}

static int days_read(struct store_conn *c, void *ud)
{
	return query_days_all(c, D0 - 1, D0 + 2, days_one, ud);
}

/* --- where readings live (the premise of a test) ------------------------------------ */

struct disk {
	struct teststore_wait w;
	int64_t device; /* whose blocks and journal records are counted apart */
	int64_t watermark;
	size_t blocks; /* rawblock rows */
	size_t open;   /* ... of open blocks (block + 4 h > watermark): spilled */
	size_t dev_blocks;
	size_t rows;	 /* journal rows */
	size_t bad_rows; /* ... that raw_journal_decode() rejects */
	size_t dev_recs; /* journal records of device */
};

static void disk_block(void *ud, int64_t device, int64_t block, const void *data, size_t len)
{
	struct disk *d = ud;
	d->blocks++;
	d->open += block + RAWBLOCK_SPAN_MS > d->watermark;
	d->dev_blocks += device == d->device;
}

static void disk_rec(void *ud, int64_t device, const struct raw_rec *x, bool set_flags)
{
	struct disk *d = ud;
	d->dev_recs += device == d->device;
}

/* A journal row: a version byte and varint-prefixed records (raw.c),
 * decoded by raw.c's own decoder, which must accept every row. */
static void disk_row(void *ud, const void *data, size_t len)
{
	struct disk *d = ud;

	d->rows++;
	if (raw_journal_decode(data, len, disk_rec, d) != 0)
		d->bad_rows++;
}

static int disk_read(struct store_conn *c, void *ud)
{
	struct disk *d = ud;
	int rc = c->ops->meta_get(c, "watermark", &d->watermark);
	if (rc == 0)
		rc = c->ops->block_scan(c, INT64_MIN, disk_block, d);
	if (rc == 0)
		rc = c->ops->journal_scan(c, disk_row, d);
	return rc;
}

static int nothing(struct store_conn *c, void *ud)
{
	return 0;
}

/* The writer closes hours and spills after it has acknowledged the jobs
 * of a group (store.c commit_group): a job queued behind them completes
 * only once that is done. */
static struct disk disk_state(struct teststore *t, int64_t device)
{
	struct disk d = { .device = device };
	struct teststore_wait w = { 0 };

	assert_int_equal(store_submit_write(t->s, nothing, teststore_done, &w), 0);
	assert_int_equal(teststore_wait(t, &w), 0);
	assert_int_equal(store_submit_read(t->s, disk_read, teststore_done, &d), 0);
	assert_int_equal(teststore_wait(t, &d.w), 0);
	assert_int_equal(d.bad_rows, 0);
	return d;
}

/* --- the journal, record by record ------------------------------------------------- */

struct jrec {
	size_t row;
	int64_t device;
	struct raw_rec x;
	bool set; /* sets the flags of an existing reading */
};

#define JROWS_MAX 8

struct journal {
	struct teststore_wait w;
	struct jrec *r;
	size_t n, cap;
	size_t rows, bad_rows;
	unsigned char *data[JROWS_MAX]; /* copies of the first rows */
	size_t len[JROWS_MAX];
};

static void journal_rec(void *ud, int64_t device, const struct raw_rec *x, bool set_flags)
{
	struct journal *j = ud;
	if (j->n == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 16;
		j->r = realloc(j->r, j->cap * sizeof(*j->r));
		assert_non_null(j->r);
	}
	j->r[j->n++] = (struct jrec){ j->rows, device, *x, set_flags };
}

static void journal_row(void *ud, const void *data, size_t len)
{
	struct journal *j = ud;

	if (j->rows < JROWS_MAX) {
		j->data[j->rows] = malloc(len ? len : 1);
		assert_non_null(j->data[j->rows]);
		memcpy(j->data[j->rows], data, len);
		j->len[j->rows] = len;
	}
	if (raw_journal_decode(data, len, journal_rec, j) != 0)
		j->bad_rows++;
	j->rows++;
}

static int journal_read(struct store_conn *c, void *ud)
{
	return c->ops->journal_scan(c, journal_row, ud);
}

/* Every journal record, in row order, once the writer is idle. */
static void journal_state(struct teststore *t, struct journal *j)
{
	struct teststore_wait w = { 0 };

	memset(j, 0, sizeof(*j));
	assert_int_equal(store_submit_write(t->s, nothing, teststore_done, &w), 0);
	assert_int_equal(teststore_wait(t, &w), 0);
	assert_int_equal(store_submit_read(t->s, journal_read, teststore_done, j), 0);
	assert_int_equal(teststore_wait(t, &j->w), 0);
	assert_int_equal(j->bad_rows, 0);
}

static void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->rows && i < JROWS_MAX; i++)
		free(j->data[i]);
	free(j->r);
}

/* Record i is (row, device, ts, energy channel, flags, set); an added
 * reading's value is the reading's, bit for bit. */
static void assert_jrec(const struct journal *j, size_t i, size_t row, int64_t device, int64_t ts,
			double v, uint32_t flags, bool set)
{
	const struct jrec *x;

	if (i >= j->n)
		fail_msg("journal record %zu of %zu", i, j->n);
	x = &j->r[i];
	if (x->row != row || x->device != device || x->x.ts != ts || x->x.channel != EN ||
	    x->x.flags != flags || x->set != set || (!set && bits(x->x.value) != bits(v)))
		fail_msg("journal record %zu: got (row %zu, device %lld, ts T0%+lld ms, ch %u, "
			 "%.17g, flags %u, set %d), expected (row %zu, device %lld, ts T0%+lld ms, "
			 "ch %u, %.17g, flags %u, set %d)",
			 i, x->row, (long long)x->device, (long long)(x->x.ts - T0), x->x.channel,
			 x->x.value, x->x.flags, x->set, row, (long long)device,
			 (long long)(ts - T0), EN, v, flags, set);
}

static void count_rec(void *ud, int64_t device, const struct raw_rec *x, bool set_flags)
{
	++*(size_t *)ud;
}

/* A damaged row is applied not at all: each prefix of a row (in a heap
 * block of exactly its size, so ASan sees any read past it) decodes only
 * when it ends between records, to the row's first records, and is
 * otherwise rejected before fn sees any record; so is every version byte
 * but 1. */
static void assert_row_damage_rejected(const unsigned char *row, size_t len, size_t nrec)
{
	size_t whole = 0;

	assert_true(len > 1);
	assert_int_equal(raw_journal_decode(row, len, NULL, NULL), 0);
	for (size_t k = 0; k <= len; k++) {
		unsigned char *copy = malloc(k ? k : 1);
		size_t seen = 0;
		int rc;

		assert_non_null(copy);
		memcpy(copy, row, k);
		rc = raw_journal_decode(copy, k, count_rec, &seen);
		free(copy);
		if (k == 0 || rc != 0) {
			assert_int_equal(rc, KW_EINVAL);
			assert_int_equal(seen, 0);
		} else {
			assert_true(seen <= nrec);
			whole += seen == nrec;
		}
		assert_true(k < len || rc == 0);
	}
	assert_int_equal(whole, 1); /* only the whole row holds every record */
	for (int v = 0; v < 256; v++) {
		unsigned char *bad = malloc(len);
		size_t seen = 0;
		int rc;

		if (v == 1) {
			free(bad);
			continue;
		}
		assert_non_null(bad);
		memcpy(bad, row, len);
		bad[0] = (unsigned char)v;
		rc = raw_journal_decode(bad, len, count_rec, &seen);
		free(bad);
		assert_int_equal(rc, KW_EINVAL);
		assert_int_equal(seen, 0);
	}
}

/* --- tests ---------------------------------------------------------------------------- */

static void open_hours_survive_a_reopen_exactly(void **state)
{
	struct teststore *t = *state;
	int64_t iv = teststore_device(t, "iv", "UTC", READING_INTERVAL);
	int64_t ct = teststore_device(t, "ct", "UTC", READING_COUNTER);
	uint32_t pw = channel(t, "power_w");
	struct rdlist all = { 0 };
	struct disk d;
	bool has;

	/* One batch.  The interval device: energy and power_w, one reading on
	 * the hour that ends block 00:00 (04:00:00.000 belongs to hour 03 and
	 * to block 00:00) and one a millisecond later (hour 04, block 04:00),
	 * values that are not k / 1e6 (1/3) included.  The counter: 100, 105,
	 * then 3 (a reset: flagged), then 4. */
	rd_add(&all, iv, T0 + 3 * H + 10 * M, EN, 1.5, 0);
	rd_add(&all, iv, T0 + 3 * H + 10 * M, pw, 850.0, 0);
	rd_add(&all, iv, T0 + 3 * H + 20 * M, EN, 0.1, 0);
	rd_add(&all, iv, T0 + 4 * H, EN, 2.25, 0);
	rd_add(&all, iv, T0 + 4 * H, pw, 1.0 / 3, 0);
	rd_add(&all, iv, T0 + 4 * H + 1, EN, 0.75, 0);
	rd_add(&all, ct, T0 + 3 * H + 10 * M, EN, 100, 0);
	rd_add(&all, ct, T0 + 3 * H + 20 * M, EN, 105, 0);
	rd_add(&all, ct, T0 + 3 * H + 30 * M, EN, 3, READING_FLAG_RESET);
	rd_add(&all, ct, T0 + 3 * H + 40 * M, EN, 4, 0);
	assert_counts(commit(t, all.r, all.n), 10, 0, 0);

	/* Premise: newest 04:00:00.001, so the watermark went 0 -> 00:00 (the
	 * 4 h multiple at or before 03:00:00.001) and both blocks, 00:00 and
	 * 04:00, are open: no block on disk, the readings are heads and the
	 * journal. */
	d = disk_state(t, iv);
	assert_int_equal(d.watermark, T0);
	assert_int_equal(d.blocks, 0);
	assert_int_equal(d.dev_recs, 6);

	for (int round = 0; round < 2; round++) {
		check_readings(t, &all, iv, T0 - H, T0 + 6 * H, 1000);
		check_readings(t, &all, ct, T0 - H, T0 + 6 * H, 1000);
		assert_int_equal(teststore_flags(t, ct, T0 + 3 * H + 30 * M), READING_FLAG_RESET);
		assert_int_equal(teststore_flags(t, ct, T0 + 3 * H + 40 * M), 0);
		/* 1.5 + 0.1 + 2.25 in hour 03, 0.75 in hour 04; the counter:
		 * 5, then 3 from zero, then 1. */
		assert_near(hour_kwh(t, iv, 3, &has), 3.85);
		assert_near(hour_kwh(t, iv, 4, &has), 0.75);
		assert_near(hour_kwh(t, ct, 3, &has), 9);
		teststore_reopen(t); /* the second round checks the replay */
	}
	/* The replay wrote nothing: still no block, the journal kept. */
	d = disk_state(t, iv);
	assert_int_equal(d.blocks, 0);
	assert_int_equal(d.dev_recs, 6);
	/* The counter goes on from its replayed last reading: 4 -> 6. */
	assert_int_equal(teststore_put(t, ct, T0 + 3 * H + 50 * M, 6), 0);
	assert_near(hour_kwh(t, ct, 3, &has), 11);
	free(all.r);
}

static void flag_changes_in_open_hours_survive_a_reopen(void **state)
{
	struct teststore *t = *state;
	int64_t ct = teststore_device(t, "ct", "UTC", READING_COUNTER);
	struct journal j;
	struct disk d;
	bool has;

	/* 03:10 = 100 (block 00:00), 04:10 = 50 (block 04:00; looks like a
	 * reset: flagged), then 03:40 = 40 arrives: the reset happened before
	 * 03:40, so 03:40 is flagged and 04:10's flag is cleared.  Both
	 * changes are journal records that set the flags of a reading already
	 * in a head, one head each. */
	assert_int_equal(teststore_put(t, ct, T0 + 3 * H + 10 * M, 100), 0);
	assert_int_equal(teststore_put(t, ct, T0 + 4 * H + 10 * M, 50), 0);
	assert_int_equal(teststore_flags(t, ct, T0 + 4 * H + 10 * M), READING_FLAG_RESET);
	assert_int_equal(teststore_put(t, ct, T0 + 3 * H + 40 * M, 40), 0);
	d = disk_state(t, ct);
	assert_int_equal(d.watermark, T0); /* blocks 00:00 and 04:00 are open */
	assert_int_equal(d.blocks, 0);
	/* The journal, one row per job: each reading added with flags 0, then
	 * each flag change as a record of its own, in the order made. */
	journal_state(t, &j);
	assert_int_equal(j.rows, 3);
	assert_int_equal(j.n, 6);
	assert_jrec(&j, 0, 0, ct, T0 + 3 * H + 10 * M, 100, 0, false);
	assert_jrec(&j, 1, 1, ct, T0 + 4 * H + 10 * M, 50, 0, false);
	assert_jrec(&j, 2, 1, ct, T0 + 4 * H + 10 * M, 50, READING_FLAG_RESET, true);
	assert_jrec(&j, 3, 2, ct, T0 + 3 * H + 40 * M, 40, 0, false);
	assert_jrec(&j, 4, 2, ct, T0 + 3 * H + 40 * M, 40, READING_FLAG_RESET, true);
	assert_jrec(&j, 5, 2, ct, T0 + 4 * H + 10 * M, 50, 0, true);
	assert_row_damage_rejected(j.data[1], j.len[1], 2);
	assert_row_damage_rejected(j.data[2], j.len[2], 3);
	journal_free(&j);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(teststore_flags(t, ct, T0 + 3 * H + 10 * M), 0);
		assert_int_equal(teststore_flags(t, ct, T0 + 3 * H + 40 * M), READING_FLAG_RESET);
		assert_int_equal(teststore_flags(t, ct, T0 + 4 * H + 10 * M), 0);
		/* 40 from zero over (03:10, 03:40], then 10 over (03:40, 04:10]:
		 * 20 of its 30 minutes in hour 03. */
		assert_near(hour_kwh(t, ct, 3, &has), 40 + 10 * 20.0 / 30);
		assert_near(hour_kwh(t, ct, 4, &has), 10 * 10.0 / 30);
		teststore_reopen(t);
	}
}

static void retries_after_a_reopen_are_duplicates(void **state)
{
	struct teststore *t = *state;
	int64_t iv = teststore_device(t, "iv", "UTC", READING_INTERVAL);
	uint32_t pw = channel(t, "power_w");
	struct rdlist all = { 0 }, other = { 0 };
	bool has;

	/* One batch of 20 readings in hour 00, in open block 00:00 (the
	 * watermark goes to 20:00 the day before): energy every 3 min (k *
	 * 0.25 kWh) and power_w every 5 min. */
	for (int k = 1; k <= 12; k++)
		rd_add(&all, iv, T0 + k * 3 * M, EN, k * 0.25, 0);
	for (int k = 1; k <= 8; k++)
		rd_add(&all, iv, T0 + k * 5 * M, pw, 100 + k + 0.5, 0);
	assert_counts(commit(t, all.r, all.n), 20, 0, 0);
	assert_counts(commit(t, all.r, all.n), 0, 20, 0); /* a retry from the heads */
	assert_int_equal(disk_state(t, iv).blocks, 0);
	teststore_reopen(t);
	/* The same batch again, after a restart: every key is known from the
	 * journal, and every value is the same. */
	assert_counts(commit(t, all.r, all.n), 0, 20, 0);
	/* The same keys with other values: conflicts, first values kept. */
	for (size_t i = 0; i < all.n; i++)
		rd_add(&other, iv, all.r[i].ts, all.r[i].ch, all.r[i].v + 1, 0);
	assert_counts(commit(t, other.r, other.n), 0, 0, 20);
	for (int round = 0; round < 2; round++) {
		check_readings(t, &all, iv, T0, T0 + H, 1000);
		assert_exact(hour_kwh(t, iv, 0, &has), 0.25 * 78); /* 1 + ... + 12 */
		teststore_reopen(t);
		assert_counts(commit(t, all.r, all.n), 0, 20, 0);
		assert_counts(commit(t, other.r, other.n), 0, 0, 20);
	}
	free(all.r);
	free(other.r);
}

static void late_readings_into_closed_hours(void **state)
{
	struct teststore *t = *state;
	int64_t iv = teststore_device(t, "iv", "UTC", READING_INTERVAL);
	struct rdlist all = { 0 }, late = { 0 };
	struct disk d;

	/* One at a time: 00:10 = 1, 04:00 = 0.5 (hour 03, on block 00:00's
	 * end), 10:30 = 2 (block 08:00; block 04:00 stays empty), then 18:10 =
	 * 4: the newest is 18:10, so blocks up to 16:00 close. */
	rd_add(&all, iv, T0 + 10 * M, EN, 1.0, 0);
	rd_add(&all, iv, T0 + 4 * H, EN, 0.5, 0);
	rd_add(&all, iv, T0 + 10 * H + 30 * M, EN, 2.0, 0);
	rd_add(&all, iv, T0 + 18 * H + 10 * M, EN, 4.0, 0);
	for (size_t i = 0; i < all.n; i++)
		assert_counts(commit(t, &all.r[i], 1), 1, 0, 0);
	d = disk_state(t, iv);
	assert_int_equal(d.watermark, T0 + 16 * H);
	assert_int_equal(d.blocks, 2); /* blocks 00:00 and 08:00; 18:10 is a head */
	assert_int_equal(d.open, 0);

	/* Late, in one batch: 00:30 = 2.5 into block 00:00; 15:15 = 1.25 into
	 * closed block 12:00, which has no row yet; 16:00 = 0.25 (hour 15, on
	 * that block's end); 04:00 = 0.5 again (a duplicate); 00:10 = 9 (a
	 * conflict: 1 is kept). */
	rd_add(&late, iv, T0 + 30 * M, EN, 2.5, 0);
	rd_add(&late, iv, T0 + 15 * H + 15 * M, EN, 1.25, 0);
	rd_add(&late, iv, T0 + 16 * H, EN, 0.25, 0);
	rd_add(&late, iv, T0 + 4 * H, EN, 0.5, 0);
	rd_add(&late, iv, T0 + 10 * M, EN, 9.0, 0);
	assert_counts(commit(t, late.r, late.n), 3, 1, 1);
	for (size_t i = 0; i < 3; i++)
		rd_add(&all, iv, late.r[i].ts, EN, late.r[i].v, 0);
	d = disk_state(t, iv);
	assert_int_equal(d.watermark, T0 + 16 * H);
	assert_int_equal(d.blocks, 3); /* 00:00, 08:00 and the new 12:00 */

	for (int round = 0; round < 3; round++) {
		struct query_bucket *b;
		size_t n;
		check_readings(t, &all, iv, T0 - H, T0 + 20 * H, 1000);
		/* 00: 1 + 2.5; 03: 0.5; 10: 2; 15: 1.25 + 0.25; 18: 4. */
		check_hours(t, &all, iv, T0, 20, true);
		assert_exact(hour_kwh(t, iv, 0, NULL), 3.5);
		assert_exact(hour_kwh(t, iv, 3, NULL), 0.5);
		assert_exact(hour_kwh(t, iv, 15, NULL), 1.5);
		assert_int_equal(
		    teststore_consumption(t, iv, "UTC", STEP_DAY, T0, T0 + 24 * H, &b, &n), 0);
		assert_int_equal(n, 1);
		assert_exact(b[0].kwh, 11.5);
		free(b);
		/* A retry: nothing new, nothing counted twice. */
		assert_counts(commit(t, late.r, late.n), 0, 4, 1);
		if (round == 1)
			teststore_reopen(t);
	}
	free(all.r);
	free(late.r);
}

static void late_counter_reading_into_a_closed_hour_moves_the_reset_flag(void **state)
{
	struct teststore *t = *state;
	int64_t ct = teststore_device(t, "ct", "UTC", READING_COUNTER);

	/* 03:10 = 100 (block 00:00), 08:00 = 50 (flagged as a reset; on block
	 * 04:00's end), 18:10 = 60: blocks up to 16:00 close, 03:10 and 08:00
	 * sit in two blocks on disk. */
	assert_int_equal(teststore_put(t, ct, T0 + 3 * H + 10 * M, 100), 0);
	assert_int_equal(teststore_put(t, ct, T0 + 8 * H, 50), 0);
	assert_int_equal(teststore_put(t, ct, T0 + 18 * H + 10 * M, 60), 0);
	{
		struct disk d = disk_state(t, ct);
		assert_int_equal(d.watermark, T0 + 16 * H);
		assert_int_equal(d.blocks, 2);
		assert_int_equal(d.open, 0);
	}
	assert_int_equal(teststore_flags(t, ct, T0 + 8 * H), READING_FLAG_RESET);
	assert_near(hour_kwh(t, ct, 3, NULL), 50 * 50.0 / 290);
	/* 04:00 = 40 arrives, into closed block 00:00 (on its end): the reset
	 * was before it (100 -> 40, flagged) and 40 -> 50 is plain use, so
	 * 08:00's flag is cleared in closed block 04:00.  Hour 03 gets 40,
	 * hours 04-07 get 10 / 4 each. */
	assert_int_equal(teststore_put(t, ct, T0 + 4 * H, 40), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(teststore_flags(t, ct, T0 + 3 * H + 10 * M), 0);
		assert_int_equal(teststore_flags(t, ct, T0 + 4 * H), READING_FLAG_RESET);
		assert_int_equal(teststore_flags(t, ct, T0 + 8 * H), 0);
		assert_near(hour_kwh(t, ct, 3, NULL), 40);
		for (int h = 4; h < 8; h++)
			assert_near(hour_kwh(t, ct, h, NULL), 2.5);
		assert_near(hour_kwh(t, ct, 8, NULL), 10 * 60.0 / 610);
		teststore_reopen(t);
	}
}

/* Energy value of (device slot, hour slot, second): a multiple of 0.25 kWh,
 * so every sum is exact whatever its order. */
static double spill_value(int dev, int h, int s)
{
	return ((s * 7 + h * 3 + dev) % 16) * 0.25;
}

/* The spill test's hour slots: h = 0 is hour 03 (block 00:00), h = 1 hour
 * 04 (block 04:00). */
static int64_t spill_ts(int h, int s)
{
	return T0 + (3 + h) * H + s * S;
}

static void append(struct rdlist *to, const struct rdlist *from)
{
	for (size_t i = 0; i < from->n; i++)
		rd_add(to, from->r[i].device, from->r[i].ts, from->r[i].ch, from->r[i].v, 0);
}

/* Everything of the spill test read back exactly once: both devices, all
 * channels (pages of 997 and of 10000), power_w alone (pages of 100), the
 * hourly totals 02:00-06:00 exactly; then a retry of everything is
 * duplicates only. */
static void check_spill(struct teststore *t, const struct rdlist *all, const int64_t dev[2],
			uint32_t pw)
{
	struct rdlist got = { 0 }, want = { 0 };

	for (int k = 0; k < 2; k++) {
		check_readings(t, all, dev[k], T0 - H, T0 + 10 * H, k ? 10000 : 997);
		check_hours(t, all, dev[k], T0 + 2 * H, 4, true);
	}
	read_all(t, dev[0], pw, T0 + 3 * H, T0 + 5 * H, 100, &got);
	expect(all, dev[0], pw, T0 + 3 * H, T0 + 5 * H, &want);
	assert_int_equal(want.n, 240);
	assert_same_readings(&got, &want);
	assert_counts(commit_all(t, all, 250), 0, all->n, 0);
	free(got.r);
	free(want.r);
}

static void spilled_open_hours_keep_every_reading_once(void **state)
{
	struct teststore *t = *state;
	int64_t dev[2];
	uint32_t pw;
	struct rdlist all = { 0 }, pass1 = { 0 }, pass2 = { 0 }, tail = { 0 }, pass3 = { 0 };
	struct rdlist rest;
	struct disk d;

	t->open_readings_max = 1000;
	teststore_reopen(t);
	dev[0] = teststore_device(t, "a", "UTC", READING_INTERVAL);
	dev[1] = teststore_device(t, "b", "UTC", READING_INTERVAL);
	pw = channel(t, "power_w");

	/* Hours 03 and 04 of devices a and b, so blocks 00:00 and 04:00 of
	 * each (both open only while the newest reading is before 05:00):
	 * energy at every second s = 1..600 of each hour, and power_w of a
	 * every 5 s.
	 *  - Pass 1, the even seconds, both hours interleaved, in time order,
	 *    250 readings a batch: the open blocks hold more than 1000
	 *    readings every few batches, and are spilled.
	 *  - Pass 2, the odd seconds and power_w, newest first: partly after
	 *    what was spilled (into the heads, out of order, until the next
	 *    spill), then before it (into the spilled blocks of open spans).
	 *  - The tail, s = 601..640 and block 00:00's end (04:00, also hour
	 *    03's end: 0.5), after everything spilled: heads and the journal
	 *    only.  (Block 04:00's end cannot be there: any reading from 05:00
	 *    on closes block 00:00.) */
	rd_add(&pass1, dev[0], spill_ts(0, 1), EN, spill_value(0, 0, 1), 0);
	for (int s = 2; s <= 600; s += 2)
		for (int h = 0; h < 2; h++)
			for (int k = 0; k < 2; k++)
				rd_add(&pass1, dev[k], spill_ts(h, s), EN, spill_value(k, h, s), 0);
	for (int s = 600; s >= 1; s--)
		for (int h = 1; h >= 0; h--) {
			if (s % 5 == 0)
				rd_add(&pass2, dev[0], spill_ts(h, s), pw, s + 0.5, 0);
			for (int k = 0; s % 2 && k < 2; k++)
				if (!(s == 1 && h == 0 && k == 0)) /* pass 1's first */
					rd_add(&pass2, dev[k], spill_ts(h, s), EN,
					       spill_value(k, h, s), 0);
		}
	for (int h = 0; h < 2; h++)
		for (int k = 0; k < 2; k++)
			for (int s = 601; s <= 640; s++)
				rd_add(&tail, dev[k], spill_ts(h, s), EN, spill_value(k, h, s), 0);
	for (int k = 0; k < 2; k++)
		rd_add(&tail, dev[k], T0 + 4 * H, EN, 0.5, 0);
	/* The first batch alone: the watermark goes to 00:00 (the 4 h multiple
	 * at or before 02:00:01), and stays there (the newest reading is
	 * 04:10:40, so the target stays 00:00: nothing more closes). */
	assert_counts(commit(t, pass1.r, 1), 1, 0, 0);
	rest = (struct rdlist){ pass1.r + 1, pass1.n - 1, 0 };
	assert_counts(commit_all(t, &rest, 250), rest.n, 0, 0);
	assert_counts(commit_all(t, &pass2, 250), pass2.n, 0, 0);
	assert_counts(commit(t, tail.r, tail.n), tail.n, 0, 0);
	append(&all, &pass1);
	append(&all, &pass2);
	append(&all, &tail);
	assert_int_equal(all.n, 2400 + 240 + 160 + 2);

	/* Premise: blocks 00:00 and 04:00 are open, spilled (2 devices x 2
	 * blocks), and device a also has readings in the journal. */
	d = disk_state(t, dev[0]);
	assert_int_equal(d.watermark, T0);
	assert_int_equal(d.open, 4);
	assert_int_equal(d.blocks, 4);
	assert_true(d.dev_recs > 0);

	check_spill(t, &all, dev, pw);
	teststore_reopen(t);
	check_spill(t, &all, dev, pw);

	/* After the reopen (heads rebuilt from blocks and the journal): new
	 * readings between the stored ones, 0.25 each, at s + 0.5 s for every
	 * third second; then a reopen again. */
	for (int s = 1; s <= 640; s += 3)
		for (int h = 0; h < 2; h++)
			for (int k = 0; k < 2; k++)
				rd_add(&pass3, dev[k], spill_ts(h, s) + 500, EN, 0.25, 0);
	assert_counts(commit_all(t, &pass3, 250), pass3.n, 0, 0);
	append(&all, &pass3);
	check_spill(t, &all, dev, pw);
	teststore_reopen(t);
	check_spill(t, &all, dev, pw);

	/* Now b at 09:00 closes every block up to 08:00 (the 4 h multiple at
	 * or before 08:00): each spilled block is rewritten with its head's
	 * readings merged in, and the journal rows of those blocks are
	 * trimmed. */
	rd_add(&all, dev[1], T0 + 9 * H, EN, 0.25, 0);
	assert_counts(commit(t, &all.r[all.n - 1], 1), 1, 0, 0);
	d = disk_state(t, dev[0]);
	assert_int_equal(d.watermark, T0 + 8 * H);
	assert_int_equal(d.blocks, 4);
	assert_int_equal(d.open, 0);
	assert_int_equal(d.dev_recs, 0);
	check_spill(t, &all, dev, pw);
	teststore_reopen(t);
	check_spill(t, &all, dev, pw);
	free(all.r);
	free(pass1.r);
	free(pass2.r);
	free(tail.r);
	free(pass3.r);
}

static void paging_and_channels_across_closed_and_open_hours(void **state)
{
	struct teststore *t = *state;
	int64_t iv = teststore_device(t, "iv", "UTC", READING_INTERVAL);
	uint32_t pw = channel(t, "power_w"), volt = channel(t, "voltage");
	const uint32_t chans[3] = { EN, pw, volt };
	const size_t limits[] = { 1, 2, 3, 7, 1000 };
	struct rdlist all = { 0 }, first = { 0 }, second = { 0 }, late = { 0 };
	struct disk d;

	/* Every 15 minutes from 00:00 to 12:45: energy (0.25 kWh); power_w on
	 * the hour and the half hour; voltage on the hour, so the hour's
	 * first instant (and each block's last) carries three channels.
	 * First everything up to 09:00 (blocks up to 08:00 close), then the
	 * rest (nothing more closes: the target stays 08:00 until 13:00). */
	for (int64_t ts = T0; ts <= T0 + 12 * H + 45 * M; ts += 15 * M) {
		struct rdlist *to = ts <= T0 + 9 * H ? &first : &second;
		rd_add(to, iv, ts, EN, 0.25, 0);
		if ((ts - T0) % (30 * M) == 0)
			rd_add(to, iv, ts, pw, (double)(ts - T0) / M, 0);
		if ((ts - T0) % H == 0)
			rd_add(to, iv, ts, volt, 230 + (double)(ts - T0) / H, 0);
	}
	assert_counts(commit(t, first.r, first.n), first.n, 0, 0);
	assert_counts(commit(t, second.r, second.n), second.n, 0, 0);
	/* Late into hour 01 of closed block 00:00, and out of order into hour
	 * 09 of open block 08:00. */
	rd_add(&late, iv, T0 + H + 50 * M, EN, 0.5, 0);
	rd_add(&late, iv, T0 + H + 50 * M, volt, 231.5, 0);
	rd_add(&late, iv, T0 + 9 * H + 50 * M, EN, 0.75, 0);
	rd_add(&late, iv, T0 + 9 * H + 50 * M, pw, 1.0 / 3, 0);
	assert_counts(commit(t, late.r, late.n), 4, 0, 0);
	for (size_t i = 0; i < first.n; i++)
		rd_add(&all, iv, first.r[i].ts, first.r[i].ch, first.r[i].v, 0);
	for (size_t i = 0; i < second.n; i++)
		rd_add(&all, iv, second.r[i].ts, second.r[i].ch, second.r[i].v, 0);
	for (size_t i = 0; i < late.n; i++)
		rd_add(&all, iv, late.r[i].ts, late.r[i].ch, late.r[i].v, 0);
	d = disk_state(t, iv);
	assert_int_equal(d.watermark, T0 + 8 * H); /* blocks before 08:00 closed */
	assert_int_equal(d.blocks, 3); /* 20:00 the day before (00:00 itself), 00:00, 04:00 */
	assert_int_equal(d.open, 0);
	assert_true(d.dev_recs > 0); /* open blocks 08:00 and 12:00 in the journal */

	for (int round = 0; round < 2; round++) {
		for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
			struct rdlist got = { 0 }, want = { 0 };
			/* Everything, then each channel alone. */
			check_readings(t, &all, iv, T0 - H, T0 + 13 * H, limits[l]);
			for (int c = 0; c < 3; c++) {
				read_all(t, iv, chans[c], T0 - H, T0 + 13 * H, limits[l], &got);
				expect(&all, iv, chans[c], T0 - H, T0 + 13 * H, &want);
				assert_same_readings(&got, &want);
			}
			/* A window from 01:30 (taken) to 09:00 (not taken), both
			 * instants holding several channels, across two closed
			 * blocks and into an open one. */
			check_readings(t, &all, iv, T0 + H + 30 * M, T0 + 9 * H, limits[l]);
			read_all(t, iv, pw, T0 + H + 30 * M, T0 + 9 * H, limits[l], &got);
			expect(&all, iv, pw, T0 + H + 30 * M, T0 + 9 * H, &want);
			assert_true(want.n > 0);
			assert_same_readings(&got, &want);
			free(got.r);
			free(want.r);
		}
		check_hours(t, &all, iv, T0 - H, 14, true);
		teststore_reopen(t);
	}
	free(all.r);
	free(first.r);
	free(second.r);
	free(late.r);
}

static void deleted_device_readings_stay_deleted(void **state)
{
	struct teststore *t = *state;
	int64_t a, b;
	struct rdlist all = { 0 }, batch = { 0 }, got = { 0 };
	struct del del = { { 0 }, 0 };
	struct teststore_wait w = { 0 };
	struct store_batch last;
	struct disk d;

	t->open_readings_max = 1000;
	teststore_reopen(t);
	a = teststore_device(t, "a", "UTC", READING_INTERVAL);
	b = teststore_device(t, "b", "UTC", READING_INTERVAL);

	/* Hour 00: a and b every minute (a 0.25, b 0.5).  Then b at 08:10:
	 * blocks up to 04:00 close, so hour 00 becomes blocks on disk. */
	for (int k = 1; k <= 60; k++) {
		rd_add(&batch, a, T0 + k * M, EN, 0.25, 0);
		rd_add(&batch, b, T0 + k * M, EN, 0.5, 0);
	}
	assert_counts(commit(t, batch.r, batch.n), 120, 0, 0);
	batch.n = 0;
	rd_add(&all, b, T0 + 8 * H + 10 * M, EN, 1.0, 0);
	assert_counts(commit(t, all.r, 1), 1, 0, 0);
	/* Hours 07 and 08, in open blocks 04:00 and 08:00: 1090 readings of
	 * a, every 6 s from 07:00:06 to 08:49, 300 a batch -- more than the
	 * 1000 open readings allowed, so they are spilled into both open
	 * blocks.  Then a and b at 08:55-08:59 stay in heads and in the
	 * journal. */
	for (int64_t ts = T0 + 7 * H + 6 * S; ts <= T0 + 8 * H + 49 * M; ts += 6 * S)
		rd_add(&batch, a, ts, EN, 0.25, 0);
	assert_counts(commit_all(t, &batch, 300), batch.n, 0, 0);
	batch.n = 0;
	for (int k = 55; k <= 59; k++) {
		rd_add(&batch, a, T0 + 8 * H + k * M, EN, 0.25, 0);
		rd_add(&all, b, T0 + 8 * H + k * M, EN, 0.25, 0);
	}
	assert_counts(commit(t, all.r + 1, 5), 5, 0, 0);
	assert_counts(commit(t, batch.r, batch.n), 5, 0, 0);
	for (int k = 1; k <= 60; k++)
		rd_add(&all, b, T0 + k * M, EN, 0.5, 0);

	d = disk_state(t, a);
	assert_int_equal(d.watermark, T0 + 4 * H);
	assert_int_equal(d.dev_blocks, 3); /* closed 00:00, spilled 04:00 and 08:00 */
	assert_int_equal(d.dev_recs, 5);   /* 08:55-08:59 in the journal */

	/* One more reading of a and the deletion, queued together: the
	 * reading commits first (FIFO), then the device goes. */
	store_batch_init(&last);
	store_batch_add(&last,
			&(struct store_reading){ T0 + 8 * H + 59 * M + 30 * S, a, EN, 1, 0.25 });
	del.id = a;
	assert_int_equal(store_submit_batch(t->s, &last, teststore_done, &w), 0);
	assert_int_equal(store_submit_write(t->s, del_run, teststore_done, &del), 0);
	assert_int_equal(teststore_wait(t, &w), 0);
	assert_int_equal(teststore_wait(t, &del.w), 0);
	store_batch_release(&last);

	/* Premise: a's blocks are gone, its readings still in the journal. */
	d = disk_state(t, a);
	assert_int_equal(d.dev_blocks, 0);
	assert_true(d.dev_recs >= 5);
	for (int round = 0; round < 2; round++) {
		struct days_q q = { { 0 }, { a, b }, { 0, 0 }, { false, false } };
		read_all(t, a, -1, T0 - 2 * H, T0 + 11 * H, 1000, &got);
		assert_int_equal(got.n, 0);
		check_readings(t, &all, b, T0 - 2 * H, T0 + 11 * H, 1000);
		check_hours(t, &all, b, T0 - H, 11, true);
		/* Daily totals of every device (closed and open hours): a has
		 * none left; b has 60 x 0.5 + 1 + 5 x 0.25. */
		assert_int_equal(store_submit_read(t->s, days_read, teststore_done, &q), 0);
		assert_int_equal(teststore_wait(t, &q.w), 0);
		assert_false(q.seen[0]);
		assert_exact(q.kwh[1], 32.25);
		/* The replay must skip the deleted device's journal records. */
		teststore_reopen(t);
	}
	assert_true(disk_state(t, a).dev_recs >= 5);
	free(all.r);
	free(batch.r);
	free(got.r);
}

struct snap {
	struct teststore_wait w;
	struct teststore *t;
	int64_t device;
	struct rdlist *out;
	double total;
	bool consumption; /* else readings */
};

/* One read job, so one snapshot: every reading of the device, or the sum
 * of its hourly consumption 23:00-09:00. */
static int snap_read(struct store_conn *c, void *ud)
{
	struct snap *q = ud;
	struct store_device *d;
	struct query_bucket *b = NULL;
	size_t n = 0;
	int rc;

	if (!q->consumption)
		return store_readings(c, q->device, -1, T0 - H, T0 + 9 * H, T0 - H - 1, INT64_MAX,
				      1000000, page_one,
				      &(struct page){ .device = q->device, .out = q->out });
	d = store_device_by_id(q->t->s, q->device);
	rc = query_consumption(c, d, d->tz, STEP_HOUR, T0 - H, T0 + 9 * H, &b, &n);
	for (size_t i = 0; i < n; i++)
		q->total += b[i].kwh;
	store_device_free(d);
	free(b);
	return rc;
}

static void readers_see_each_reading_once_while_hours_spill_and_close(void **state)
{
	struct teststore *t = *state;
	struct rdlist acked = { 0 }, batch = { 0 }, got = { 0 };
	double acked_kwh = 0;
	static bool late[60 * 400]; /* odd seconds taken by late readings */
	int64_t a;

	memset(late, 0, sizeof(late));
	t->open_readings_max = 1000;
	teststore_reopen(t);
	a = teststore_device(t, "a", "UTC", READING_INTERVAL);

	/* 60 batches of 200 readings, 2 s apart, 400 s a batch (6 h 40 min in
	 * all), plus 10 late ones each, at odd seconds among older readings.
	 * Heads spill every few batches; the watermark goes to 20:00 the day
	 * before, to 00:00 when the newest reading passes 01:00 (no reading
	 * is in a block that closes), and block 00:00 closes when the newest
	 * reading reaches 05:00 (batch 44), so later late readings go into a
	 * closed block.  Each
	 * batch is queued together with a read of all readings and one of the
	 * hourly totals: whatever moment the reader runs at, it must see
	 * every acknowledged reading exactly once, in order, and at most the
	 * batch in flight besides (its totals between the two sums). */
	for (int k = 0; k < 60; k++) {
		struct teststore_wait w = { 0 };
		struct snap r = { { 0 }, t, a, &got, 0, false };
		struct snap c = { { 0 }, t, a, NULL, 0, true };
		struct store_batch b;
		double batch_kwh = 0;
		size_t i = 0, j = 0;

		batch.n = 0;
		got.n = 0;
		for (int s = 1; s <= 200; s++)
			rd_add(&batch, a, T0 + k * 400 * S + 2 * s * S, EN, (s % 4) * 0.25, 0);
		for (int s = 0; k > 0 && s < 10; s++) {
			int64_t sec = 2 * ((k * 397 + s * 131) % (k * 200)) + 1; /* odd */
			while (late[sec])
				sec = (sec + 2) % (k * 400);
			late[sec] = true;
			rd_add(&batch, a, T0 + sec * S, EN, 0.5, 0);
		}
		store_batch_init(&b);
		for (size_t x = 0; x < batch.n; x++) {
			store_batch_add(
			    &b, &(struct store_reading){ batch.r[x].ts, a, EN, 1, batch.r[x].v });
			batch_kwh += batch.r[x].v;
		}
		assert_int_equal(store_submit_batch(t->s, &b, teststore_done, &w), 0);
		assert_int_equal(store_submit_read(t->s, snap_read, teststore_done, &r), 0);
		assert_int_equal(store_submit_read(t->s, snap_read, teststore_done, &c), 0);
		assert_int_equal(teststore_wait(t, &w), 0);
		assert_int_equal(teststore_wait(t, &r.w), 0);
		assert_int_equal(teststore_wait(t, &c.w), 0);
		assert_int_equal(b.accepted, batch.n);
		store_batch_release(&b);

		/* got = acked + a part of batch, merged in (ts, channel) order. */
		qsort(batch.r, batch.n, sizeof(*batch.r), rd_cmp);
		for (size_t x = 0; x < got.n; x++) {
			const struct rd *g = &got.r[x];
			if (x && g->ts <= got.r[x - 1].ts)
				fail_msg("batch %d: reading T0%+lld ms after T0%+lld ms", k,
					 (long long)(g->ts - T0),
					 (long long)(got.r[x - 1].ts - T0));
			if (i < acked.n && acked.r[i].ts == g->ts) {
				assert_true(bits(acked.r[i].v) == bits(g->v));
				i++;
				continue;
			}
			while (j < batch.n && batch.r[j].ts < g->ts)
				j++;
			if (!(j < batch.n && batch.r[j].ts == g->ts))
				fail_msg(
				    "batch %d: reading T0%+lld ms is neither acknowledged nor in "
				    "flight",
				    k, (long long)(g->ts - T0));
		}
		if (i != acked.n)
			fail_msg("batch %d: saw %zu of the %zu acknowledged readings", k, i,
				 acked.n);
		if (c.total < acked_kwh || c.total > acked_kwh + batch_kwh)
			fail_msg("batch %d: total %.17g outside [%.17g, %.17g]", k, c.total,
				 acked_kwh, acked_kwh + batch_kwh);
		for (size_t x = 0; x < batch.n; x++)
			rd_add(&acked, a, batch.r[x].ts, EN, batch.r[x].v, 0);
		qsort(acked.r, acked.n, sizeof(*acked.r), rd_cmp);
		acked_kwh += batch_kwh;
	}
	{
		struct disk d = disk_state(t, a);
		/* Block 00:00 closed when the newest reading reached 05:00;
		 * block 04:00 stays open (06:40 is before 09:00). */
		assert_int_equal(d.watermark, T0 + 4 * H);
		assert_int_equal(d.blocks, 2); /* 00:00 closed, 04:00 spilled */
		assert_int_equal(d.open, 1);
	}
	check_readings(t, &acked, a, T0 - H, T0 + 9 * H, 5000);
	check_hours(t, &acked, a, T0 - H, 10, true);
	teststore_reopen(t);
	check_readings(t, &acked, a, T0 - H, T0 + 9 * H, 5000);
	check_hours(t, &acked, a, T0 - H, 10, true);
	free(acked.r);
	free(batch.r);
	free(got.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_hours_survive_a_reopen_exactly,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(flag_changes_in_open_hours_survive_a_reopen,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(retries_after_a_reopen_are_duplicates,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(late_readings_into_closed_hours, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(
		    late_counter_reading_into_a_closed_hour_moves_the_reset_flag, teststore_setup,
		    teststore_teardown),
		cmocka_unit_test_setup_teardown(spilled_open_hours_keep_every_reading_once,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(paging_and_channels_across_closed_and_open_hours,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(deleted_device_readings_stay_deleted,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(
		    readers_see_each_reading_once_while_hours_spill_and_close, teststore_setup,
		    teststore_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tz_shutdown();
	return rc;
}
