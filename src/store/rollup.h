/*
 * rollup.h - turns committed readings into hourly and daily totals inside
 * the writer's transaction (store-internal, backend-neutral).
 *
 * Thread-safety: writer thread only.
 */
#ifndef KW_STORE_ROLLUP_H
#define KW_STORE_ROLLUP_H

#include "store/backend.h"
#include "store/devcache.h"

struct rollup;

struct rollup *rollup_new(void);
void rollup_free(struct rollup *r);

/*
 * Stores the batch's rows (device and channel ids already resolved) and
 * updates the totals they affect, counting accepted, duplicate and
 * conflicting readings into b.  Runs inside the caller's transaction;
 * on error the caller rolls back and calls rollup_forget().
 */
int rollup_apply(struct rollup *r, struct store_conn *c, const struct devcache *dc,
		 struct store_batch *b);

/* Drops cached counter state (after a rollback it may be ahead of disk). */
void rollup_forget(struct rollup *r);

#endif
