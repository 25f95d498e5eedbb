/*
 * raw.h - raw readings (store-internal, backend-neutral).
 *
 * Readings are keyed (device, channel, ts) and stored in device blocks: a
 * block holds one device's readings stamped in (block, block + span], with
 * block a multiple of RAWBLOCK_SPAN_MS (four UTC hours).
 *  - A closed block (block + span <= the watermark of pending.h) is one row
 *    on disk, encoded by rawblock.h: ~7 bytes a reading, one row write per
 *    device and span instead of one per reading.
 *  - An open block is a "head" in memory.  Its readings are made durable by
 *    the journal: every job appends one row holding the readings it added to
 *    heads, in its own transaction, so a reading is on disk before it is
 *    acknowledged.  When the span closes, the heads become blocks and the
 *    journal rows that only held closed readings are deleted, in the
 *    closing transaction.  After a crash the heads are rebuilt from the
 *    journal (raw_recover()).
 *  - When heads hold more than max_records readings (high-rate meters),
 *    they are spilled: written to their blocks early and the journal
 *    emptied; a head then remembers that part of it is on disk (disk_max).
 * So the writer's cost per reading is an array lookup and an append, and a
 * commit writes one journal row per request.
 *
 * Consistency with readers (the rules of pending.h, same mutex):
 *  1. A head's first ncommitted readings are committed; the writer appends
 *     after them without the mutex and publishes them after COMMIT.
 *  2. Everything that changes what readers see -- creating or growing a
 *     head, publishing, flagging a committed reading, and the COMMIT of a
 *     close or spill together with dropping the heads it wrote -- happens
 *     under the mutex.
 *  3. A reader pins its database snapshot and copies the device's committed
 *     head readings in one critical section (raw_capture()), so it sees
 *     every reading exactly once: on disk or in its copy.
 *
 * Thread-safety: functions marked [writer] run on the writer thread; the
 * others take a connection and work on its thread: the writer sees its own
 * transaction, a reader its pinned view.
 */
#ifndef KW_STORE_RAW_H
#define KW_STORE_RAW_H

#include "store/backend.h"
#include "store/devcache.h"
#include "store/pending.h"

#define RAW_HEAD_RECORDS 2000000 /* default spill threshold: ~48 MB of heads */

struct raw;

/* max_records: the spill threshold (0: RAW_HEAD_RECORDS). */
struct raw *raw_new(struct pending *p, size_t max_records);
void raw_free(struct raw *r);

/* [writer] Loads the heads of open blocks from disk and the journal.  Call
 * once at start, after the watermark is known and before any job. */
int raw_recover(struct raw *r, struct store_conn *c, const struct devcache *dc);

/* [writer] Stores a reading unless its key exists: *res tells which. */
int raw_insert(struct raw *r, struct store_conn *c, const struct store_reading *x,
	       enum store_insert_result *res);
/* [writer] Sets the flags of a device's stored energy reading. */
int raw_set_flags(struct raw *r, struct store_conn *c, int64_t device, int64_t ts, int flags);
/* [writer] Ends a job: writes its changed blocks and its journal row. */
int raw_end_job(struct raw *r, struct store_conn *c);
/* [writer] Job and transaction bookkeeping, as for rollup.h. */
size_t raw_mark(const struct raw *r);
void raw_abort(struct raw *r, size_t mark);
void raw_commit(struct raw *r);
void raw_forget(struct raw *r);

/* [writer] Closing: writes the blocks ending at or before w and trims the
 * journal, inside the caller's transaction; after COMMIT, under the
 * pending mutex, raw_close_publish() drops those heads. */
int raw_close_write(struct raw *r, struct store_conn *c, int64_t w);
void raw_close_publish(struct raw *r, int64_t w);
/* [writer] Spilling, the same way, when the heads have grown too large. */
bool raw_spill_due(const struct raw *r);
int raw_spill_write(struct raw *r, struct store_conn *c);
void raw_spill_publish(struct raw *r);
/* [writer] After COMMIT of a device's deletion. */
void raw_device_gone(struct raw *r, int64_t device);

/* [writer] Every energy reading with ts > after, in time order. */
int raw_scan_energy(struct raw *r, struct store_conn *c, int64_t after,
		    void (*fn)(void *ud, int64_t ts, int64_t device, double v), void *ud);

/* [reader, holding the pending mutex, snapshot pinned] Copies the device's
 * committed head readings into the connection's view (rule 3). */
void raw_capture(struct store_conn *c, int64_t device);
/* [reader] Forgets the view (after each job). */
void raw_view_clear(struct store_conn *c);

/* The device's energy reading just before ts (dir < 0) or just after it
 * (dir > 0); KW_ENOTFOUND when none.  INT64_MAX with dir < 0 finds the
 * latest.  Walks block by block (one lookup per
 * block), so a counter's neighbour is found across gaps of any length. */
int raw_neighbour(struct store_conn *c, int64_t device, int64_t ts, int dir, int64_t *ts_out,
		  double *v_out);
/* Bounds of every stored timestamp: min < ts <= max; KW_ENOTFOUND when
 * nothing is stored.  A reader's bounds cover the device it captured. */
int raw_bounds(struct store_conn *c, int64_t *min, int64_t *max);
/* Readings of a device with from <= ts < to, after the cursor (ts, ch) and
 * of one channel (channel >= 0; then the cursor is ts alone) or all, in
 * (ts, channel) order, at most limit.  A reader that has not captured the
 * device pins its snapshot and captures it here. */
int raw_readings(struct store_conn *c, int64_t device, int64_t channel, int64_t from, int64_t to,
		 int64_t after_ts, int64_t after_ch, size_t limit, store_reading_fn fn, void *ud);

/* Decodes a journal row, calling fn per record (device, reading, and
 * whether it sets the flags of an existing reading) only if the whole row
 * is well formed; fn may be NULL to check.  0, or KW_EINVAL. */
int raw_journal_decode(const void *data, size_t len,
		       void (*fn)(void *ud, int64_t device, const struct raw_rec *x,
				  bool set_flags),
		       void *ud);

/* The raw state of the store a connection belongs to (store.c). */
struct raw *store_conn_raw(struct store_conn *c);

#endif
