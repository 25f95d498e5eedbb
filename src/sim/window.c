/*
 * window.c - the ring of unconfirmed readings (states and rules in window.h).
 *
 * Invariants:
 *  1. head <= scan <= tail and tail - head <= cap.
 *  2. queued + inflight == number of slots in [head, tail) not DONE.
 *  3. The slot at head is never DONE (done readings at the head are dropped
 *     at once), so a full ring always holds work.
 */
#include <assert.h>
#include <stdlib.h>

#include "core/xmalloc.h"
#include "sim/window.h"
#include "core/banned.h"

void sim_window_init(struct sim_window *w, size_t cap)
{
	*w = (struct sim_window){ 0 };
	w->slots = xcalloc(cap, sizeof(*w->slots));
	w->cap = cap;
}

void sim_window_release(struct sim_window *w)
{
	free(w->slots);
	*w = (struct sim_window){ 0 };
}

size_t sim_window_len(const struct sim_window *w)
{
	return (size_t)(w->tail - w->head);
}

bool sim_window_full(const struct sim_window *w)
{
	return sim_window_len(w) == w->cap;
}

static struct sim_slot *slot(const struct sim_window *w, uint64_t seq)
{
	return &w->slots[seq % w->cap];
}

uint64_t sim_window_push(struct sim_window *w, int64_t ts_ms, double value)
{
	struct sim_slot *s;

	assert(!sim_window_full(w));
	s = slot(w, w->tail);
	s->m = (struct sim_msg){ w->tail, ts_ms, value };
	s->state = SIM_SLOT_QUEUED;
	w->queued++;
	return w->tail++;
}

size_t sim_window_take(struct sim_window *w, struct sim_msg *out, size_t max)
{
	size_t n = 0;

	if (w->scan < w->head)
		w->scan = w->head;
	for (uint64_t q = w->scan; q < w->tail && n < max && w->queued; q++) {
		struct sim_slot *s = slot(w, q);
		if (s->state != SIM_SLOT_QUEUED)
			continue;
		s->state = SIM_SLOT_INFLIGHT;
		out[n++] = s->m;
		w->queued--;
		w->inflight++;
		w->scan = q + 1;
	}
	if (w->queued == 0)
		w->scan = w->tail;
	return n;
}

static struct sim_slot *inflight(struct sim_window *w, uint64_t seq)
{
	struct sim_slot *s;

	if (seq < w->head || seq >= w->tail)
		return NULL;
	s = slot(w, seq);
	return s->state == SIM_SLOT_INFLIGHT ? s : NULL;
}

int sim_window_done(struct sim_window *w, uint64_t seq)
{
	struct sim_slot *s = inflight(w, seq);

	if (!s)
		return 0;
	s->state = SIM_SLOT_DONE;
	w->inflight--;
	while (w->head < w->tail && slot(w, w->head)->state == SIM_SLOT_DONE)
		w->head++; /* invariant 3 */
	return 1;
}

int sim_window_retry(struct sim_window *w, uint64_t seq)
{
	struct sim_slot *s = inflight(w, seq);

	if (!s)
		return 0;
	s->state = SIM_SLOT_QUEUED;
	w->inflight--;
	w->queued++;
	if (seq < w->scan)
		w->scan = seq;
	return 1;
}

size_t sim_window_requeue(struct sim_window *w)
{
	size_t n = 0;

	for (uint64_t q = w->head; q < w->tail; q++) {
		struct sim_slot *s = slot(w, q);
		if (s->state == SIM_SLOT_INFLIGHT) {
			s->state = SIM_SLOT_QUEUED;
			n++;
		}
	}
	w->inflight -= n;
	w->queued += n;
	w->scan = w->head;
	return n;
}
