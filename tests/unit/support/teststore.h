/*
 * teststore.h - a real store in a temporary directory for unit tests, and
 * synchronous wrappers around its asynchronous API (the test thread plays
 * the loop thread).
 */
#ifndef KW_TESTS_TESTSTORE_H
#define KW_TESTS_TESTSTORE_H

#include <uv.h>

#include "store/query.h"
#include "store/store.h"

struct teststore {
	uv_loop_t loop;
	struct store *s;
	char dir[64];
	int64_t open_readings_max; /* 0: the default; set, then teststore_reopen() */
};

/* cmocka 1.1.5 (Debian 12) has no assert_double_equal. */
#define assert_near(a, b)                                                   \
	do {                                                                \
		double a_ = (a), b_ = (b);                                  \
		if (fabs(a_ - b_) > 1e-9)                                   \
			fail_msg("%s = %.17g, expected %.17g", #a, a_, b_); \
	} while (0)

/* A job run to completion: pass teststore_done and the wait (first member
 * of the job's struct) to a store_submit_* call, then teststore_wait(). */
struct teststore_wait {
	bool done;
	int rc;
};
void teststore_done(void *ud, int rc);
int teststore_wait(struct teststore *t, struct teststore_wait *w);

/* cmocka setup/teardown: *state is an open struct teststore. */
int teststore_setup(void **state);
int teststore_teardown(void **state);

void teststore_open(struct teststore *t);
void teststore_close(struct teststore *t);
/* Closes and opens the same database again (open hours are rebuilt). */
void teststore_reopen(struct teststore *t);
/* Creates a device; returns its id. */
int64_t teststore_device(struct teststore *t, const char *serial, const char *tz,
			 enum reading_type type);
/* Commits one batch; returns the writer's result. */
int teststore_commit(struct teststore *t, struct store_batch *b);
/* Adds one energy reading (ts in ms) and commits it at once. */
int teststore_put(struct teststore *t, int64_t device, int64_t ts, double v);
/* Consumption of a device in buckets; caller frees *out. */
int teststore_consumption(struct teststore *t, int64_t device, const char *tz, enum query_step step,
			  int64_t from, int64_t to, struct query_bucket **out, size_t *n);
/* The flags of a stored energy reading (-1 when absent). */
int teststore_flags(struct teststore *t, int64_t device, int64_t ts);

#endif
