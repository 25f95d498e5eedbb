/*
 * test_window.c - unit tests for src/sim/window.c: the ring of unconfirmed
 * readings.  Confirmations out of order, duplicates, nacks and a lost
 * connection must neither lose a reading nor count one twice.  Numbers in
 * comments refer to the invariants at the top of window.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim/window.h"
#include "core/banned.h"

static void push_n(struct sim_window *w, int n)
{
	for (int i = 0; i < n; i++)
		sim_window_push(w, 1000 + (int64_t)w->tail, (double)w->tail);
}

static void check_counts(const struct sim_window *w)
{
	size_t queued = 0, inflight = 0;

	/* invariants 1 and 2 */
	assert_true(w->head <= w->tail && w->tail - w->head <= w->cap);
	for (uint64_t q = w->head; q < w->tail; q++) {
		enum sim_slot_state s = w->slots[q % w->cap].state;
		queued += s == SIM_SLOT_QUEUED;
		inflight += s == SIM_SLOT_INFLIGHT;
	}
	assert_int_equal(queued, w->queued);
	assert_int_equal(inflight, w->inflight);
	if (w->head < w->tail) /* invariant 3 */
		assert_int_not_equal(w->slots[w->head % w->cap].state, SIM_SLOT_DONE);
}

static void test_push_take_done(void **state)
{
	struct sim_window w;
	struct sim_msg m[8];

	sim_window_init(&w, 4);
	push_n(&w, 4);
	assert_true(sim_window_full(&w));
	assert_int_equal(sim_window_take(&w, m, 8), 4);
	assert_int_equal(m[0].seq, 0);
	assert_int_equal(m[3].seq, 3);
	assert_int_equal(m[2].ts_ms, 1002);
	assert_int_equal(sim_window_take(&w, m, 8), 0); /* all in flight */
	check_counts(&w);
	assert_int_equal(sim_window_done(&w, 2), 1); /* out of order */
	assert_true(sim_window_full(&w));	     /* 0 still holds the head */
	assert_int_equal(sim_window_done(&w, 2), 0); /* a duplicate counts once */
	assert_int_equal(sim_window_done(&w, 0), 1);
	assert_int_equal(sim_window_len(&w), 3);
	assert_int_equal(sim_window_done(&w, 1), 1);
	assert_int_equal(sim_window_len(&w), 1); /* 0..2 done: the head jumps to 3 */
	check_counts(&w);
	assert_int_equal(sim_window_done(&w, 7), 0); /* never pushed */
	assert_int_equal(sim_window_done(&w, 3), 1);
	assert_int_equal(sim_window_len(&w), 0);
	sim_window_release(&w);
}

static void test_retry_and_requeue(void **state)
{
	struct sim_window w;
	struct sim_msg m[8];

	sim_window_init(&w, 8);
	push_n(&w, 6);
	assert_int_equal(sim_window_take(&w, m, 3), 3); /* 0, 1, 2 */
	assert_int_equal(sim_window_retry(&w, 1), 1);	/* a nack */
	assert_int_equal(sim_window_retry(&w, 1), 0);	/* not in flight any more */
	check_counts(&w);
	/* the oldest queued goes first: 1, then 3, 4, 5 */
	assert_int_equal(sim_window_take(&w, m, 8), 4);
	assert_int_equal(m[0].seq, 1);
	assert_int_equal(m[1].seq, 3);
	assert_int_equal(sim_window_done(&w, 0), 1);
	assert_int_equal(sim_window_done(&w, 4), 1);
	/* the connection is lost: everything in flight is sent again */
	assert_int_equal(sim_window_requeue(&w), 4); /* 1, 2, 3, 5 */
	check_counts(&w);
	assert_int_equal(sim_window_take(&w, m, 8), 4);
	assert_int_equal(m[0].seq, 1);
	assert_int_equal(m[1].seq, 2);
	assert_int_equal(m[2].seq, 3);
	assert_int_equal(m[3].seq, 5);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sim_window_done(&w, m[i].seq), 1);
	assert_int_equal(sim_window_len(&w), 0);
	sim_window_release(&w);
}

static void test_wraps_around(void **state)
{
	struct sim_window w;
	struct sim_msg m[3];
	uint64_t done = 0;

	sim_window_init(&w, 3);
	for (int round = 0; round < 100; round++) {
		while (!sim_window_full(&w))
			push_n(&w, 1);
		size_t n = sim_window_take(&w, m, 3);
		for (size_t i = n; i-- > 0;) /* newest first */
			done += (uint64_t)sim_window_done(&w, m[i].seq);
		check_counts(&w);
	}
	assert_int_equal(done, 300);
	assert_int_equal(w.head, 300);
	sim_window_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_take_done),
		cmocka_unit_test(test_retry_and_requeue),
		cmocka_unit_test(test_wraps_around),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
