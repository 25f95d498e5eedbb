/*
 * store.c - the backend-neutral storage engine: job queues, the writer
 * thread with group commit, the reader pool, completions on the loop thread,
 * the device cache and statistics (contract in store.h).
 *
 * Job life cycle:
 *
 *   submit [loop] --> writer queue --> writer thread: BEGIN; per job
 *     SAVEPOINT, run, RELEASE (or ROLLBACK TO); COMMIT --> completion queue
 *     --> uv_async --> done(ud, rc) [loop]
 *
 *   submit [loop] --> reader queue --> one of N reader threads runs it
 *     --> completion queue --> done [loop]
 *
 * Invariants:
 *  1. A job's done callback runs exactly once, on the loop thread, and for
 *     writes only after COMMIT returned (success) or the transaction was
 *     rolled back (failure).  Nothing is acknowledged before it is durable.
 *  2. Only the writer thread mutates the device cache; every mutation made
 *     inside a transaction is recorded in the undo log until COMMIT, so a
 *     rollback restores the cache to what is on disk.
 *  3. The writer takes the whole queue at once (group commit); queued rows
 *     are bounded by queue_max_rows and submitters are refused beyond it.
 *  4. On close, the writer drains its queue completely before exiting.
 *  5. The commit hook hears of a batch only after its COMMIT, on the loop
 *     thread, before the batch's done; the writer reads only hook_on (an
 *     atomic), never the hook itself.  The same holds for the alert hook
 *     (the writer hands every batch's alerts over; the loop decides).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/backend.h"
#include "store/devcache.h"
#include "store/pending.h"
#include "store/raw.h"
#include "store/rollup.h"
#include "core/banned.h"

enum job_kind { JOB_BATCH, JOB_WRITE, JOB_READ };

struct job {
	enum job_kind kind;
	struct store_batch *batch;
	store_write_fn wfn;
	store_read_fn rfn;
	store_done_fn done;
	void *ud;
	int rc;
	size_t rows;
	struct store_commit_device *cdev; /* batches, for the commit hook */
	size_t ncdev;
	struct store_alert *alerts; /* batches: the alerts they raised */
	size_t nalerts;
	struct job *next;
};

struct jobq {
	struct job *head, *tail;
};

enum undo_kind { UNDO_INSERT, UNDO_RESTORE, UNDO_CHANNEL };

struct undo {
	enum undo_kind kind;
	int64_t id;
	struct store_device *old; /* UNDO_RESTORE: the device as it was */
};

struct store {
	uv_loop_t *loop;
	uv_async_t async;
	const struct store_backend_ops *ops;
	struct store_conn *wconn;
	struct store_conn **rconn;
	int nreaders;
	struct devcache dc;
	struct pending pending;
	struct raw *raw;
	struct rollup *rollup;
	char *default_tz;
	uint64_t queue_max_rows;

	pthread_t writer;
	pthread_t *readers;
	pthread_mutex_t wmu;
	pthread_cond_t wcond;
	struct jobq wq;
	uint64_t wq_rows;
	bool stopping;

	pthread_mutex_t rmu;
	pthread_cond_t rcond;
	struct jobq rq;

	pthread_mutex_t cmu;
	struct jobq cq;

	struct undo *undo; /* writer only */
	size_t nundo, undocap;
	int64_t *gone; /* devices deleted by the running transaction */
	size_t ngone, gonecap;

	pthread_mutex_t smu; /* guards stats */
	struct store_stats stats;

	void (*close_cb)(void *);
	void *close_ud;

	store_commit_fn hook; /* loop thread only */
	void *hook_ud;
	atomic_bool hook_on;	   /* the writer collects devices for the hook */
	struct commit_mark *cmark; /* writer: by device id, see collect_devices() */
	size_t ncmark;
	uint32_t cgen;

	store_alert_fn alert_hook; /* loop thread only */
	void *alert_ud;
};

const double store_batch_rows_bounds[7] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
const double store_latency_s_bounds[9] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
					   0.005,  0.01,    0.025,  0.1 };

static void jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *jobq_take_all(struct jobq *q)
{
	struct job *h = q->head;
	q->head = q->tail = NULL;
	return h;
}

/* --- batches ----------------------------------------------------------- */

void store_batch_init(struct store_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void store_batch_release(struct store_batch *b)
{
	for (size_t i = 0; i < b->n_new_serials; i++)
		free(b->new_serials[i]);
	for (size_t i = 0; i < b->n_new_channels; i++)
		free(b->new_channels[i]);
	free(b->new_serials);
	free(b->new_channels);
	free(b->rows);
	memset(b, 0, sizeof(*b));
}

void store_batch_add(struct store_batch *b, const struct store_reading *r)
{
	xgrow((void **)&b->rows, &b->cap, b->n + 1, sizeof(*b->rows));
	b->rows[b->n++] = *r;
}

static size_t name_index(char ***names, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*names)[i], s) == 0)
			return i;
	*names = xrealloc(*names, (*n + 1) * sizeof(char *));
	(*names)[*n] = xstrdup(s);
	return (*n)++;
}

size_t store_batch_new_serial(struct store_batch *b, const char *serial)
{
	return name_index(&b->new_serials, &b->n_new_serials, serial);
}

size_t store_batch_new_channel(struct store_batch *b, const char *name)
{
	return name_index(&b->new_channels, &b->n_new_channels, name);
}

/* --- completions ------------------------------------------------------- */

static void complete(struct store *s, struct job *j)
{
	pthread_mutex_lock(&s->cmu);
	jobq_push(&s->cq, j);
	pthread_mutex_unlock(&s->cmu);
	uv_async_send(&s->async);
}

/* Wake-ups coalesce, so one callback drains everything completed. */
static void on_async(uv_async_t *h)
{
	struct store *s = h->data;
	struct job *j, *next;

	pthread_mutex_lock(&s->cmu);
	j = jobq_take_all(&s->cq);
	pthread_mutex_unlock(&s->cmu);
	for (; j; j = next) {
		next = j->next;
		if (j->cdev && j->rc == 0 && s->hook)
			s->hook(s->hook_ud, j->cdev, j->ncdev);
		if (j->alerts && j->rc == 0 && s->alert_hook)
			s->alert_hook(s->alert_ud, j->alerts, j->nalerts);
		free(j->cdev);
		free(j->alerts);
		if (j->done)
			j->done(j->ud, j->rc);
		free(j);
	}
}

void store_set_commit_hook(struct store *s, store_commit_fn fn, void *ud)
{
	s->hook = fn;
	s->hook_ud = ud;
	atomic_store(&s->hook_on, fn != NULL);
}

void store_set_alert_hook(struct store *s, store_alert_fn fn, void *ud)
{
	s->alert_hook = fn;
	s->alert_ud = ud;
}

/* --- undo log (writer) ----------------------------------------------------- */

static void undo_push(struct store *s, enum undo_kind k, int64_t id, struct store_device *old)
{
	xgrow((void **)&s->undo, &s->undocap, s->nundo + 1, sizeof(*s->undo));
	s->undo[s->nundo++] = (struct undo){ k, id, old };
}

/* Rolls the cache back to undo entry mark (in reverse order). */
static void undo_to(struct store *s, size_t mark)
{
	while (s->nundo > mark) {
		struct undo *u = &s->undo[--s->nundo];
		if (u->kind == UNDO_INSERT)
			store_device_free(devcache_take(&s->dc, u->id));
		else if (u->kind == UNDO_RESTORE)
			devcache_put(&s->dc, u->old);
		else
			devcache_channel_drop(&s->dc, u->id);
	}
}

static void undo_forget(struct store *s)
{
	for (size_t i = 0; i < s->nundo; i++)
		if (s->undo[i].kind == UNDO_RESTORE)
			store_device_free(s->undo[i].old);
	s->nundo = 0;
}

/* --- closures' API (writer side) ------------------------------------------ */

bool store_uuid_shaped(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void uuid_v4(char out[37])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

int store_device_insert(struct store_conn *c, struct store_device *d)
{
	struct store *s = c->owner;
	int rc;

	if (!d->uuid[0])
		uuid_v4(d->uuid);
	if (!d->created_at)
		d->created_at = tz_now_ms();
	if (!d->timezone)
		d->timezone = xstrdup(s->default_tz);
	d->tz = tz_get(d->timezone);
	if (!d->tz)
		return KW_EINVAL;
	if ((rc = c->ops->device_insert(c, d)) != 0)
		return rc;
	devcache_put(&s->dc, store_device_dup(d));
	undo_push(s, UNDO_INSERT, d->id, NULL);
	return 0;
}

int store_device_update(struct store_conn *c, const struct store_device *d)
{
	struct store *s = c->owner;
	const struct store_device *cur = devcache_get(&s->dc, d->id);
	struct store_device *copy;
	int rc;

	if (!cur)
		return KW_ENOTFOUND;
	if ((rc = c->ops->device_update(c, d)) != 0)
		return rc;
	undo_push(s, UNDO_RESTORE, d->id, store_device_dup(cur));
	copy = store_device_dup(d);
	copy->tz = tz_get(copy->timezone);
	devcache_put(&s->dc, copy);
	return 0;
}

int store_device_delete(struct store_conn *c, int64_t id)
{
	struct store *s = c->owner;
	struct store_device *old;
	int rc;

	if (!devcache_get(&s->dc, id))
		return KW_ENOTFOUND;
	if ((rc = c->ops->device_delete(c, id)) != 0)
		return rc;
	old = devcache_take(&s->dc, id);
	undo_push(s, UNDO_RESTORE, id, old);
	xgrow((void **)&s->gone, &s->gonecap, s->ngone + 1, sizeof(*s->gone));
	s->gone[s->ngone++] = id;
	return 0;
}

int store_token_insert(struct store_conn *c, const char *name, const char *scope,
		       const unsigned char hash[32], int64_t *id_out)
{
	return c->ops->token_insert(c, name, scope, hash, id_out);
}

int store_token_revoke(struct store_conn *c, int64_t id)
{
	return c->ops->token_revoke(c, id);
}

int store_token_find(struct store_conn *c, const unsigned char hash[32], struct store_token *out)
{
	return c->ops->token_find(c, hash, out);
}

int store_token_list(struct store_conn *c, struct store_token **out, size_t *n)
{
	return c->ops->token_list(c, out, n);
}

int store_token_touch(struct store_conn *c, int64_t id, int64_t when)
{
	return c->ops->token_touch(c, id, when);
}

int store_hour_get(struct store_conn *c, int64_t device, int64_t hour, double *kwh,
		   int64_t *readings)
{
	return c->ops->hour_get(c, device, hour, kwh, readings);
}

int store_days(struct store_conn *c, int64_t device, int64_t day_from, int64_t day_to,
	       store_day_fn fn, void *ud)
{
	return c->ops->days(c, device, day_from, day_to, fn, ud);
}

int store_readings(struct store_conn *c, int64_t device, int64_t channel, int64_t from, int64_t to,
		   int64_t after_ts, int64_t after_ch, size_t limit, store_reading_fn fn, void *ud)
{
	return raw_readings(c, device, channel, from, to, after_ts, after_ch, limit, fn, ud);
}

/* --- the writer ------------------------------------------------------------ */

/* Creates the devices and channels a batch names but that do not exist
 * yet, then rewrites its pending ids into real ones. */
static int resolve_pending(struct store *s, struct store_batch *b)
{
	int64_t *dev = xcalloc(b->n_new_serials + 1, sizeof(int64_t));
	int64_t *ch = xcalloc(b->n_new_channels + 1, sizeof(int64_t));
	int rc = 0;

	for (size_t i = 0; i < b->n_new_serials && rc == 0; i++) {
		struct store_device d = { 0 };
		if ((dev[i] = devcache_resolve(&s->dc, b->new_serials[i])) != 0)
			continue; /* created by an earlier job meanwhile */
		/* A device id shaped like a UUID (seed 000's simulators) becomes
		 * the new device's id; anything else is its serial. */
		if (store_uuid_shaped(b->new_serials[i])) {
			for (int k = 0; k < 36; k++)
				d.uuid[k] = (char)tolower((unsigned char)b->new_serials[i][k]);
		} else {
			d.serial = b->new_serials[i];
		}
		d.name = b->new_serials[i];
		d.type = READING_INTERVAL;
		rc = store_device_insert(s->wconn, &d);
		free(d.timezone);
		dev[i] = d.id;
	}
	for (size_t i = 0; i < b->n_new_channels && rc == 0; i++) {
		if ((ch[i] = devcache_channel(&s->dc, b->new_channels[i])) >= 0)
			continue;
		if ((rc = s->ops->channel_insert(s->wconn, b->new_channels[i], &ch[i])) == 0) {
			devcache_channel_put(&s->dc, ch[i], b->new_channels[i]);
			undo_push(s, UNDO_CHANNEL, ch[i], NULL);
		}
	}
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		struct store_reading *r = &b->rows[i];
		if (r->device & STORE_PENDING_BIT)
			r->device = dev[r->device & ~STORE_PENDING_BIT];
		else if (!devcache_get(&s->dc, r->device))
			rc = KW_ENOTFOUND; /* deleted after the request was parsed */
		if (r->channel & 0x80000000u)
			r->channel = (uint32_t)ch[r->channel & 0x7fffffffu];
	}
	free(dev);
	free(ch);
	return rc;
}

struct pending *store_conn_pending(struct store_conn *c)
{
	return &c->owner->pending;
}

struct raw *store_conn_raw(struct store_conn *c)
{
	return c->owner->raw;
}

static int run_job(struct store *s, struct job *j)
{
	size_t mark = s->nundo, rmark = rollup_mark(s->rollup), gmark = s->ngone;
	size_t wmark = raw_mark(s->raw);
	int rc = s->ops->savepoint(s->wconn);

	if (rc)
		return rc;
	if (j->kind == JOB_BATCH) {
		j->batch->accepted = j->batch->duplicates = j->batch->conflicts = 0;
		rc = resolve_pending(s, j->batch);
		if (rc == 0)
			rc = rollup_apply(s->rollup, s->wconn, &s->dc, j->batch);
		if (rc == 0)
			rollup_take_alerts(s->rollup, &j->alerts, &j->nalerts);
	} else {
		rc = j->wfn(s->wconn, j->ud);
	}
	if (rc < 0) {
		s->ops->rollback_to(s->wconn);
		undo_to(s, mark);
		rollup_abort(s->rollup, rmark);
		raw_abort(s->raw, wmark);
		s->ngone = gmark;
		return rc;
	}
	return s->ops->release(s->wconn);
}

static void observe_commit(struct store *s, size_t rows, double secs, bool ok,
			   const struct job *jobs)
{
	pthread_mutex_lock(&s->smu);
	if (!ok) {
		s->stats.commit_failures++;
		s->stats.healthy = false;
		pthread_mutex_unlock(&s->smu);
		return;
	}
	s->stats.commits++;
	s->stats.healthy = true;
	for (int i = 0; i < 8; i++)
		if (i == 7 || (double)rows <= store_batch_rows_bounds[i])
			s->stats.batch_rows_le[i]++;
	s->stats.batch_rows_sum += rows;
	for (int i = 0; i < 10; i++)
		if (i == 9 || secs <= store_latency_s_bounds[i])
			s->stats.latency_us_le[i]++;
	s->stats.latency_us_sum += (uint64_t)(secs * 1e6);
	for (const struct job *j = jobs; j; j = j->next) {
		if (j->kind != JOB_BATCH || j->rc)
			continue;
		s->stats.readings_stored += j->batch->accepted;
		s->stats.readings_duplicate += j->batch->duplicates;
		s->stats.readings_conflict += j->batch->conflicts;
	}
	pthread_mutex_unlock(&s->smu);
}

/* Writes the totals and raw blocks of hours that are due to close, in a
 * transaction of their own, then publishes the new watermark (pending.h,
 * rule 2; raw.h, rule 2).  A failure leaves them open; the next group tries
 * again. */
static void close_hours(struct store *s)
{
	int64_t w;
	int rc;

	if (!rollup_close_target(s->rollup, tz_now_ms(), &w))
		return;
	rc = s->ops->begin(s->wconn);
	if (rc == 0)
		rc = rollup_close_write(s->rollup, s->wconn, w);
	if (rc == 0)
		rc = raw_close_write(s->raw, s->wconn, w);
	/* COMMIT and publication happen under the pending mutex: a reader
	 * pinning its snapshot in between would see the closed hours in the
	 * daily table and still in pending (pending.h, rule 2). */
	pthread_mutex_lock(&s->pending.mu);
	if (rc == 0)
		rc = s->ops->commit(s->wconn);
	if (rc == 0) {
		pending_close(&s->pending, w);
		raw_close_publish(s->raw, w);
	}
	pthread_mutex_unlock(&s->pending.mu);
	if (rc) {
		s->ops->rollback(s->wconn);
		log_error("store", "cannot close hours up to %lld: %s", (long long)w,
			  kw_strerror(rc));
	}
	s->ops->idle(s->wconn);
}

/* Writes the open hours' raw readings to their blocks early when they take
 * too much memory (raw.h), the same way as closing. */
static void spill_raw(struct store *s)
{
	int rc;

	if (!raw_spill_due(s->raw))
		return;
	rc = s->ops->begin(s->wconn);
	if (rc == 0)
		rc = raw_spill_write(s->raw, s->wconn);
	pthread_mutex_lock(&s->pending.mu);
	if (rc == 0)
		rc = s->ops->commit(s->wconn);
	if (rc == 0)
		raw_spill_publish(s->raw);
	pthread_mutex_unlock(&s->pending.mu);
	if (rc) {
		s->ops->rollback(s->wconn);
		log_error("store", "cannot spill open hours' readings: %s", kw_strerror(rc));
	} else {
		log_info("store", "open hours held too many readings: wrote them to disk early");
	}
	s->ops->idle(s->wconn);
}

/* Where a device stands in the batch being collected: its index in
 * j->cdev when gen is the current batch's. */
struct commit_mark {
	uint32_t gen;
	uint32_t idx;
};

#define CMARK_MAX (1u << 24) /* device ids from here on use a hash map */

/* The index of device in j->cdev, adding it (with ts) when new. */
static size_t collect_one(struct store *s, struct job *j, struct hmap *big, size_t *cap,
			  int64_t device, int64_t ts)
{
	uint64_t id = (uint64_t)device;
	size_t n = j->ncdev, at;

	if (id < CMARK_MAX) {
		if (id >= s->ncmark) {
			size_t old = s->ncmark;
			xgrow((void **)&s->cmark, &s->ncmark, id + 1, sizeof(*s->cmark));
			memset(s->cmark + old, 0, (s->ncmark - old) * sizeof(*s->cmark));
		}
		if (s->cmark[id].gen == s->cgen)
			return s->cmark[id].idx;
		s->cmark[id] = (struct commit_mark){ s->cgen, (uint32_t)n };
	} else if ((at = (size_t)*hmap_upsert(big, id, n)) != n) {
		return at;
	}
	xgrow((void **)&j->cdev, cap, n + 1, sizeof(*j->cdev));
	j->cdev[n] = (struct store_commit_device){ device, ts };
	j->ncdev = n + 1;
	return n;
}

/* The distinct devices of a committed batch, with their newest reading,
 * for the commit hook (store.h).  This runs on the writer, the ingest
 * bottleneck, so it is one pass with no hashing: devices are marked in an
 * array indexed by id with the batch's generation, and a run of rows of the
 * same device costs one comparison a row. */
static void collect_devices(struct store *s, struct job *j)
{
	const struct store_batch *b = j->batch;
	struct hmap big = HMAP_INIT;
	size_t cap = 0, cur = 0;

	if (++s->cgen == 0) { /* wrapped: forget every old mark */
		memset(s->cmark, 0, s->ncmark * sizeof(*s->cmark));
		s->cgen = 1;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct store_reading *r = &b->rows[i];
		if (j->ncdev == 0 || r->device != j->cdev[cur].device)
			cur = collect_one(s, j, &big, &cap, r->device, r->ts);
		if (r->ts > j->cdev[cur].newest_ts)
			j->cdev[cur].newest_ts = r->ts;
	}
	hmap_release(&big);
}

/* Runs one group: everything that was queued, in one transaction. */
static void commit_group(struct store *s, struct job *jobs, size_t rows)
{
	struct timespec t0, t1;
	struct job *j, *next;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = s->ops->begin(s->wconn);
	for (j = jobs; j; j = j->next)
		j->rc = rc ? rc : run_job(s, j);
	if (rc == 0)
		rc = s->ops->commit(s->wconn);
	if (rc == 0) {
		/* Published before any job is acknowledged. */
		raw_commit(s->raw);
		rollup_commit(s->rollup);
		for (size_t i = 0; i < s->ngone; i++) {
			rollup_device_gone(s->rollup, s->gone[i]);
			raw_device_gone(s->raw, s->gone[i]);
		}
	}
	s->ngone = 0;
	if (rc) {
		s->ops->rollback(s->wconn);
		undo_to(s, 0);
		rollup_forget(s->rollup);
		raw_forget(s->raw);
		for (j = jobs; j; j = j->next)
			j->rc = rc;
		log_error("store", "commit of %zu rows failed: %s", (size_t)rows, kw_strerror(rc));
	}
	undo_forget(s);
	s->ops->idle(s->wconn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	observe_commit(s, rows,
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		       rc == 0, jobs);
	if (rc == 0 && atomic_load(&s->hook_on)) /* invariant 5 */
		for (j = jobs; j; j = j->next)
			if (j->kind == JOB_BATCH && j->rc == 0 && j->batch->accepted > 0)
				collect_devices(s, j);
	for (j = jobs; j; j = next) {
		next = j->next;
		complete(s, j);
	}
	close_hours(s);
	spill_raw(s);
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	for (;;) {
		struct job *jobs;
		uint64_t rows;

		pthread_mutex_lock(&s->wmu);
		while (!s->wq.head && !s->stopping)
			pthread_cond_wait(&s->wcond, &s->wmu);
		jobs = jobq_take_all(&s->wq);
		rows = s->wq_rows;
		s->wq_rows = 0;
		pthread_mutex_unlock(&s->wmu);
		if (!jobs)
			break; /* stopping, and the queue is drained (invariant 4) */
		commit_group(s, jobs, rows);
	}
	return NULL;
}

static int submit_write(struct store *s, struct job *j)
{
	pthread_mutex_lock(&s->wmu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->wmu);
		free(j);
		return KW_ESHUTDOWN;
	}
	if (j->rows && s->wq_rows + j->rows > s->queue_max_rows) {
		pthread_mutex_unlock(&s->wmu);
		free(j);
		return KW_ETOOBIG;
	}
	jobq_push(&s->wq, j);
	s->wq_rows += j->rows;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wmu);
	return 0;
}

int store_submit_batch(struct store *s, struct store_batch *b, store_done_fn done, void *ud)
{
	struct job *j = xcalloc(1, sizeof(*j));
	*j = (struct job){
		.kind = JOB_BATCH, .batch = b, .done = done, .ud = ud, .rows = b->n ? b->n : 1
	};
	return submit_write(s, j);
}

int store_submit_write(struct store *s, store_write_fn fn, store_done_fn done, void *ud)
{
	struct job *j = xcalloc(1, sizeof(*j));
	*j = (struct job){ .kind = JOB_WRITE, .wfn = fn, .done = done, .ud = ud };
	return submit_write(s, j);
}

/* --- readers --------------------------------------------------------------- */

struct reader_arg {
	struct store *s;
	struct store_conn *c;
};

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct store *s = ra->s;
	struct store_conn *c = ra->c;

	free(ra);
	for (;;) {
		struct job *j;
		pthread_mutex_lock(&s->rmu);
		while (!s->rq.head && !s->stopping)
			pthread_cond_wait(&s->rcond, &s->rmu);
		j = s->rq.head;
		if (j) {
			s->rq.head = j->next;
			if (!s->rq.head)
				s->rq.tail = NULL;
		}
		pthread_mutex_unlock(&s->rmu);
		if (!j)
			break;
		j->rc = j->rfn(c, j->ud);
		s->ops->idle(c);
		raw_view_clear(c);
		complete(s, j);
	}
	return NULL;
}

int store_submit_read(struct store *s, store_read_fn fn, store_done_fn done, void *ud)
{
	struct job *j = xcalloc(1, sizeof(*j));
	*j = (struct job){ .kind = JOB_READ, .rfn = fn, .done = done, .ud = ud };
	pthread_mutex_lock(&s->rmu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->rmu);
		free(j);
		return KW_ESHUTDOWN;
	}
	jobq_push(&s->rq, j);
	pthread_cond_signal(&s->rcond);
	pthread_mutex_unlock(&s->rmu);
	return 0;
}

/* --- device cache API ------------------------------------------------------ */

static void load_device(void *ud, struct store_device *d)
{
	struct store *s = ud;
	d->tz = tz_get(d->timezone);
	if (!d->tz) {
		log_warn("store", "device %s has unknown time zone '%s'; using UTC", d->uuid,
			 d->timezone);
		d->tz = tz_get("UTC");
	}
	devcache_put(&s->dc, d);
}

static void load_channel(void *ud, int64_t id, const char *name)
{
	devcache_channel_put(&((struct store *)ud)->dc, id, name);
}

struct store_device *store_device_find(struct store *s, const char *key)
{
	struct store_device *d = NULL;
	int64_t id;
	pthread_rwlock_rdlock(&s->dc.lock);
	id = devcache_resolve(&s->dc, key);
	if (id)
		d = store_device_dup(devcache_get(&s->dc, id));
	pthread_rwlock_unlock(&s->dc.lock);
	return d;
}

struct store_device *store_device_by_id(struct store *s, int64_t id)
{
	const struct store_device *d;
	struct store_device *copy = NULL;
	pthread_rwlock_rdlock(&s->dc.lock);
	d = devcache_get(&s->dc, id);
	if (d)
		copy = store_device_dup(d);
	pthread_rwlock_unlock(&s->dc.lock);
	return copy;
}

int64_t store_device_resolve(struct store *s, const char *key)
{
	int64_t id;
	pthread_rwlock_rdlock(&s->dc.lock);
	id = devcache_resolve(&s->dc, key);
	pthread_rwlock_unlock(&s->dc.lock);
	return id;
}

int64_t store_channel_resolve(struct store *s, const char *name)
{
	int64_t id;
	pthread_rwlock_rdlock(&s->dc.lock);
	id = devcache_channel(&s->dc, name);
	pthread_rwlock_unlock(&s->dc.lock);
	return id;
}

int store_channel_name(struct store *s, uint32_t id, char *buf, size_t len)
{
	int rc = -1;
	pthread_rwlock_rdlock(&s->dc.lock);
	if (id < s->dc.nch && s->dc.ch_names[id]) {
		snprintf(buf, len, "%s", s->dc.ch_names[id]);
		rc = 0;
	}
	pthread_rwlock_unlock(&s->dc.lock);
	return rc;
}

/* Case-insensitive substring test (ASCII). */
static bool contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool matches(const struct store_device *d, const char *q)
{
	return !q || !*q || contains(d->name, q) || contains(d->serial, q) ||
	       contains(d->region, q);
}

static int cmp_dev(const void *a, const void *b)
{
	const struct store_device *x = *(struct store_device *const *)a;
	const struct store_device *y = *(struct store_device *const *)b;
	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

size_t store_device_list(struct store *s, int64_t after_id, size_t limit, const char *q,
			 const int64_t *only, size_t nonly, struct store_device ***out)
{
	struct store_device **all = NULL, **res;
	size_t n = 0, cap = 0, k = 0;
	uint64_t key, v;

	pthread_rwlock_rdlock(&s->dc.lock);
	for (size_t it = 0; hmap_next(&s->dc.by_id, &it, &key, &v);) {
		struct store_device *d = (struct store_device *)(uintptr_t)v;
		if (d->id > after_id && matches(d, q) &&
		    (!only || bsearch(&d->id, only, nonly, sizeof(*only), cmp_id))) {
			xgrow((void **)&all, &cap, n + 1, sizeof(*all));
			all[n++] = d;
		}
	}
	if (n)
		qsort(all, n, sizeof(*all), cmp_dev);
	res = xcalloc(n < limit ? n + 1 : limit + 1, sizeof(*res));
	for (; k < n && k < limit; k++)
		res[k] = store_device_dup(all[k]);
	pthread_rwlock_unlock(&s->dc.lock);
	free(all);
	*out = res;
	return k;
}

void store_device_list_free(struct store_device **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_device_free(list[i]);
	free(list);
}

/* --- stats ----------------------------------------------------------------- */

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->smu);
	*out = s->stats;
	pthread_mutex_unlock(&s->smu);
	pthread_mutex_lock(&s->wmu);
	out->queue_rows = s->wq_rows;
	pthread_mutex_unlock(&s->wmu);
	/* Reading two file sizes with stat() is safe from any thread. */
	out->db_bytes = s->ops->db_bytes(s->wconn);
}

/* --- open and close -------------------------------------------------------- */

static void close_conn(struct store *s, struct store_conn *c)
{
	if (c) {
		free(c->view.r);
		s->ops->close(c);
	}
}

int store_open(uv_loop_t *loop, const struct store_options *o, struct store **out, char *err,
	       size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		free(s);
		return KW_EINVAL;
	}
	s->loop = loop;
	s->ops = &store_sqlite_ops;
	s->default_tz = xstrdup(o->default_timezone);
	s->queue_max_rows = (uint64_t)o->queue_max_rows;
	s->nreaders = o->readers;
	s->stats.healthy = true;
	devcache_init(&s->dc);
	pending_init(&s->pending);
	s->raw = raw_new(&s->pending, o->open_readings_max > 0 ? (size_t)o->open_readings_max : 0);
	s->rollup = rollup_new(&s->pending, s->raw);
	pthread_mutex_init(&s->wmu, NULL);
	pthread_cond_init(&s->wcond, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rcond, NULL);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_mutex_init(&s->smu, NULL);

	if ((rc = s->ops->open(o, true, &s->wconn, err, errlen)) != 0)
		goto fail;
	s->wconn->owner = s;
	s->wconn->writer = true;
	if ((rc = s->ops->load_channels(s->wconn, load_channel, s)) != 0 ||
	    (rc = s->ops->load_devices(s->wconn, load_device, s)) != 0) {
		snprintf(err, errlen, "cannot load devices from the database");
		goto fail;
	}
	if ((rc = rollup_recover(s->rollup, s->wconn, &s->dc)) != 0) {
		snprintf(err, errlen, "cannot rebuild open hours from the database");
		goto fail;
	}
	s->rconn = xcalloc((size_t)s->nreaders, sizeof(*s->rconn));
	for (int i = 0; i < s->nreaders; i++) {
		if ((rc = s->ops->open(o, false, &s->rconn[i], err, errlen)) != 0)
			goto fail;
		s->rconn[i]->owner = s;
	}
	uv_async_init(loop, &s->async, on_async);
	s->async.data = s;
	pthread_create(&s->writer, NULL, writer_main, s);
	s->readers = xcalloc((size_t)s->nreaders, sizeof(*s->readers));
	for (int i = 0; i < s->nreaders; i++) {
		struct reader_arg *ra = xmalloc(sizeof(*ra));
		*ra = (struct reader_arg){ s, s->rconn[i] };
		pthread_create(&s->readers[i], NULL, reader_main, ra);
	}
	log_info("store", "opened %s database in '%s' (%zu devices)", s->ops->name, o->data_dir,
		 s->dc.ndevices);
	*out = s;
	return 0;
fail:
	for (int i = 0; s->rconn && i < s->nreaders; i++)
		close_conn(s, s->rconn[i]);
	free(s->rconn);
	close_conn(s, s->wconn);
	rollup_free(s->rollup);
	raw_free(s->raw);
	pending_release(&s->pending);
	devcache_release(&s->dc);
	free(s->default_tz);
	free(s);
	return rc ? rc : KW_EDB;
}

static void on_async_closed(uv_handle_t *h)
{
	struct store *s = h->data;
	void (*cb)(void *) = s->close_cb;
	void *ud = s->close_ud;

	for (int i = 0; i < s->nreaders; i++)
		close_conn(s, s->rconn[i]);
	close_conn(s, s->wconn);
	log_info("store", "database closed");
	rollup_free(s->rollup);
	raw_free(s->raw);
	pending_release(&s->pending);
	devcache_release(&s->dc);
	pthread_mutex_destroy(&s->wmu);
	pthread_cond_destroy(&s->wcond);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rcond);
	pthread_mutex_destroy(&s->cmu);
	pthread_mutex_destroy(&s->smu);
	free(s->undo);
	free(s->gone);
	free(s->cmark);
	free(s->rconn);
	free(s->readers);
	free(s->default_tz);
	free(s);
	if (cb)
		cb(ud);
}

void store_close(struct store *s, void (*cb)(void *ud), void *ud)
{
	s->close_cb = cb;
	s->close_ud = ud;
	pthread_mutex_lock(&s->wmu);
	s->stopping = true;
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->wmu);
	pthread_mutex_lock(&s->rmu);
	s->stopping = true;
	pthread_cond_broadcast(&s->rcond);
	pthread_mutex_unlock(&s->rmu);
	/* The writer commits whatever is still queued before it exits. */
	pthread_join(s->writer, NULL);
	for (int i = 0; i < s->nreaders; i++)
		pthread_join(s->readers[i], NULL);
	on_async(&s->async); /* deliver the last completions */
	uv_close((uv_handle_t *)&s->async, on_async_closed);
}

int store_migrate(const char *data_dir, char *err, size_t errlen)
{
	struct store_options o = { .data_dir = data_dir, .cache_mib = 8 };
	struct store_conn *c;
	int rc = store_sqlite_ops.open(&o, true, &c, err, errlen);
	if (rc == 0)
		store_sqlite_ops.close(c);
	return rc;
}
