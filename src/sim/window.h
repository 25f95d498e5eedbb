/*
 * window.h - the readings the simulator has taken from its source but the
 * target has not confirmed yet: a ring of fixed capacity (--window).
 *
 * Every reading gets a sequence number (0, 1, 2, ... in source order) and
 * is in one of three states:
 *
 *      push           take            done
 *   ---------> QUEUED ------> INFLIGHT ------> DONE (leaves the ring once
 *                ^               |             every older one is done)
 *                +---------------+
 *                  retry / requeue (nack, connection lost)
 *
 * The ring is the only buffer of unconfirmed readings: when it is full the
 * simulator stops taking readings from its source, so memory stays bounded
 * however slow or absent the target is.  Confirmations may come in any
 * order.
 *
 * Not thread-safe (the simulator is one thread).
 */
#ifndef KW_SIM_WINDOW_H
#define KW_SIM_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One reading to send. */
struct sim_msg {
	uint64_t seq;  /* position in the source, from 0 */
	int64_t ts_ms; /* Unix epoch milliseconds, UTC */
	double value;  /* measurement_value, kWh */
};

enum sim_slot_state { SIM_SLOT_QUEUED, SIM_SLOT_INFLIGHT, SIM_SLOT_DONE };

struct sim_slot {
	struct sim_msg m;
	enum sim_slot_state state;
};

struct sim_window {
	struct sim_slot *slots; /* cap slots; seq s lives at s % cap */
	size_t cap;
	uint64_t head;	 /* seq of the oldest reading not done (== tail: empty) */
	uint64_t tail;	 /* seq the next push gets */
	size_t queued;	 /* readings QUEUED */
	size_t inflight; /* readings INFLIGHT */
	uint64_t scan;	 /* no QUEUED reading has a seq below this */
};

void sim_window_init(struct sim_window *w, size_t cap);
void sim_window_release(struct sim_window *w);

/* Readings in the ring (any state but the leading DONE ones). */
size_t sim_window_len(const struct sim_window *w);
bool sim_window_full(const struct sim_window *w);

/* Adds a reading as QUEUED; the window must not be full.  Returns its seq. */
uint64_t sim_window_push(struct sim_window *w, int64_t ts_ms, double value);

/* Copies up to max QUEUED readings, oldest first, into out and marks them
 * INFLIGHT.  Returns how many. */
size_t sim_window_take(struct sim_window *w, struct sim_msg *out, size_t max);

/* The target confirmed seq: INFLIGHT -> DONE.  Returns 1, or 0 when seq is
 * not in flight (a late duplicate confirmation). */
int sim_window_done(struct sim_window *w, uint64_t seq);

/* seq must be sent again: INFLIGHT -> QUEUED.  Returns 1, or 0 as above. */
int sim_window_retry(struct sim_window *w, uint64_t seq);

/* The connection is gone: every INFLIGHT reading becomes QUEUED.  Returns
 * how many. */
size_t sim_window_requeue(struct sim_window *w);

#endif
