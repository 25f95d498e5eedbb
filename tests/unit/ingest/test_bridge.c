/*
 * test_bridge.c - bridge_commit() from other threads: it returns only once
 * the batch is committed, many threads' batches all land, a batch that
 * cannot be written fails without being stored, and closing wakes the
 * threads still waiting.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/err.h"
#include "ingest/bridge.h"
#include "tests/unit/support/teststore.h"

#define T0 INT64_C(1736121600000) /* 2025-01-06T00:00:00Z */

struct sender {
	struct bridge *br;
	int64_t device;
	int64_t ts0;
	int n; /* batches of one reading */
	int rc;
	size_t accepted;
	atomic_bool finished;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < s->n && s->rc == 0; i++) {
		struct store_batch b;
		struct store_reading r = { .ts = s->ts0 + (i + 1) * 60000, /* inside the hour */
					   .device = s->device,
					   .value = 0.5 };
		store_batch_init(&b);
		store_batch_add(&b, &r);
		s->rc = bridge_commit(s->br, &b);
		s->accepted += b.accepted;
		store_batch_release(&b);
	}
	atomic_store(&s->finished, true);
	return NULL;
}

/* Runs the loop (the bridge needs it) until every sender thread is done. */
static void run_senders(struct teststore *t, struct sender *s, int n)
{
	pthread_t th[8];
	bool all;

	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, send_all, &s[i]);
	do {
		uv_run(&t->loop, UV_RUN_NOWAIT);
		all = true;
		for (int i = 0; i < n; i++)
			all = all && atomic_load(&s[i].finished);
	} while (!all);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static void closed(void *ud)
{
	*(bool *)ud = true;
}

static void close_bridge(struct teststore *t, struct bridge *br)
{
	bool done = false;
	bridge_close(br, closed, &done);
	while (!done)
		uv_run(&t->loop, UV_RUN_ONCE);
}

static void test_threads_commit_and_are_told(void **state)
{
	struct teststore *t = *state;
	struct bridge *br = bridge_new(&t->loop, t->s);
	int64_t dev = teststore_device(t, "B-1", "UTC", READING_INTERVAL);
	struct sender s[4];
	struct query_bucket *b;
	size_t n;

	for (int i = 0; i < 4; i++)
		s[i] = (struct sender){ br, dev, T0 + i * 3600000, 50, 0, 0, false };
	run_senders(t, s, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s[i].rc, 0);
		assert_int_equal(s[i].accepted, 50);
	}
	/* Committed when told: every hour holds its 50 readings. */
	assert_int_equal(
	    teststore_consumption(t, dev, "UTC", STEP_HOUR, T0, T0 + 4 * 3600000, &b, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_near(b[i].kwh, 25.0);
	free(b);
	/* The same again: all duplicates, nothing new. */
	for (int i = 0; i < 4; i++)
		s[i] = (struct sender){ br, dev, T0 + i * 3600000, 50, 0, 0, false };
	run_senders(t, s, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s[i].accepted, 0);
	close_bridge(t, br);
}

static void test_a_failed_batch_is_reported_and_not_stored(void **state)
{
	struct teststore *t = *state;
	struct bridge *br = bridge_new(&t->loop, t->s);
	struct sender s = { br, 987654321, T0, 1, 0, 0, false }; /* no such device */

	run_senders(t, &s, 1);
	assert_true(s.rc < 0);
	assert_int_equal(s.accepted, 0);
	close_bridge(t, br);
}

static void test_close_fails_later_commits(void **state)
{
	struct teststore *t = *state;
	struct bridge *br = bridge_new(&t->loop, t->s);
	int64_t dev = teststore_device(t, "B-2", "UTC", READING_INTERVAL);
	struct sender s = { br, dev, T0, 3, 0, 0, false };
	bool done = false;

	bridge_close(br, closed, &done);
	/* Closing: refused at once, without the loop's help. */
	send_all(&s);
	assert_int_equal(s.rc, KW_ESHUTDOWN);
	while (!done)
		uv_run(&t->loop, UV_RUN_ONCE);
	assert_int_equal(teststore_flags(t, dev, T0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads_commit_and_are_told, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_batch_is_reported_and_not_stored,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(test_close_fails_later_commits, teststore_setup,
						teststore_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
