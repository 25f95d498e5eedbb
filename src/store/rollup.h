/*
 * rollup.h - turns committed readings into hourly and daily totals
 * (store-internal, backend-neutral).  Totals of closed hours are written in
 * the writer's transaction; totals of open hours go to the shared pending
 * table after COMMIT (see pending.h), and are written when their hour closes.
 *
 * Thread-safety: writer thread only.
 */
#ifndef KW_STORE_ROLLUP_H
#define KW_STORE_ROLLUP_H

#include "store/backend.h"
#include "store/devcache.h"
#include "store/pending.h"

struct rollup;

struct raw;

/* The rollup stores readings through raw (not owned). */
struct rollup *rollup_new(struct pending *p, struct raw *raw);
void rollup_free(struct rollup *r);

/*
 * Loads the watermark, the raw heads (raw_recover()) and rebuilds the open
 * hours from readings newer than the watermark, after a restart or a
 * crash.  Call once, before any batch.
 */
int rollup_recover(struct rollup *r, struct store_conn *c, const struct devcache *dc);

/*
 * Stores the batch's rows (device and channel ids already resolved) through
 * raw, counting accepted, duplicate and conflicting readings into b, and
 * updates the totals they affect; ends with raw_end_job().  Runs inside the
 * caller's transaction (the job's savepoint).
 */
int rollup_apply(struct rollup *r, struct store_conn *c, const struct devcache *dc,
		 struct store_batch *b);

/* A mark to roll back to when one job of a transaction fails. */
size_t rollup_mark(const struct rollup *r);
void rollup_abort(struct rollup *r, size_t mark);
/* After COMMIT: publishes the transaction's open-hour totals. */
void rollup_commit(struct rollup *r);
/* After a job's rollup_apply() succeeded: hands over the over-limit alerts
 * it raised (rows already inserted in the job's savepoint; see rollup.c,
 * "Alerts") as a malloc'd array the caller frees (NULL when none). */
void rollup_take_alerts(struct rollup *r, struct store_alert **out, size_t *n);
/* After a failed transaction: forgets everything it staged and cached. */
void rollup_forget(struct rollup *r);

/*
 * Closing: rollup_close_target() tells whether hours are due (the newest
 * reading has moved CLOSE_LAG past them) and the new watermark;
 * rollup_close_write() writes their totals and the watermark inside the
 * caller's transaction; the caller commits and publishes with
 * pending_close() under the pending mutex (pending.h, rule 2).
 */
bool rollup_close_target(const struct rollup *r, int64_t now, int64_t *watermark);
int rollup_close_write(struct rollup *r, struct store_conn *c, int64_t watermark);

/* A device was deleted (after COMMIT): forget its cached counter state and
 * its open hours. */
void rollup_device_gone(struct rollup *r, int64_t device);

#endif
