/*
 * bridge.h - committing readings from a thread other than the loop's.
 *
 * Broker inputs (mqtt.c, amqp.c) run their blocking client libraries on
 * threads of their own, but the store takes batches only on the loop
 * thread.  The bridge carries a batch to the loop (a mutex-protected queue
 * and a uv_async_t), submits it, and wakes the calling thread when the
 * batch is committed, so the thread can then acknowledge to its broker:
 * nothing is acknowledged before it is on disk.
 *
 * Shutdown: bridge_close() fails every batch still waiting and every later
 * bridge_commit() with KW_ESHUTDOWN, so a thread blocked in it wakes up;
 * batches already submitted to the store complete normally.
 *
 * Thread-safety: bridge_commit() on any thread except the loop's (it would
 * deadlock); the rest [loop].
 */
#ifndef KW_INGEST_BRIDGE_H
#define KW_INGEST_BRIDGE_H

#include <uv.h>

#include "store/store.h"

struct bridge;

/* [loop] */
struct bridge *bridge_new(uv_loop_t *loop, struct store *store);

/*
 * [any thread but the loop's] Submits b and waits until it is committed
 * (0; b's counters filled) or failed (a negative KW_E* error; nothing of
 * it stored: KW_ETOOBIG when the write queue is full, KW_ESHUTDOWN when
 * closing).  b stays the caller's.
 */
int bridge_commit(struct bridge *br, struct store_batch *b);

/* [loop] Refuses new batches and fails the waiting ones; then frees the
 * bridge once every batch in the store has completed, and calls cb. */
void bridge_close(struct bridge *br, void (*cb)(void *ud), void *ud);

#endif
