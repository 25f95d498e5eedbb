/*
 * teststore.c - see teststore.h.  Compiled into every unit test that
 * includes it (linked as kwtestsupport for every unit test).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"
#include "tests/unit/support/teststore.h"

void teststore_done(void *ud, int rc)
{
	struct teststore_wait *w = ud;
	w->done = true;
	w->rc = rc;
}

int teststore_wait(struct teststore *t, struct teststore_wait *w)
{
	while (!w->done)
		uv_run(&t->loop, UV_RUN_ONCE);
	return w->rc;
}

int teststore_setup(void **state)
{
	struct teststore *t = calloc(1, sizeof(*t));
	teststore_open(t);
	*state = t;
	return 0;
}

int teststore_teardown(void **state)
{
	teststore_close(*state);
	free(*state);
	return 0;
}

static void open_dir(struct teststore *t)
{
	struct store_options o = { t->dir, 8, 1000000, 1, "UTC", t->open_readings_max };
	char err[256];
	uv_loop_init(&t->loop);
	if (store_open(&t->loop, &o, &t->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
}

void teststore_open(struct teststore *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/kw-unit-XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	open_dir(t);
}

void teststore_reopen(struct teststore *t)
{
	store_close(t->s, NULL, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	uv_loop_close(&t->loop);
	open_dir(t);
}

void teststore_close(struct teststore *t)
{
	char cmd[128];
	store_close(t->s, NULL, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	uv_loop_close(&t->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd) != 0)
		abort();
}

/* Every job struct starts with its wait, so one ud serves the job and its
 * completion (teststore_done reads the wait at the front). */
struct dev_ins {
	struct teststore_wait w;
	struct store_device d;
};

static int ins(struct store_conn *c, void *ud)
{
	return store_device_insert(c, &((struct dev_ins *)ud)->d);
}

int64_t teststore_device(struct teststore *t, const char *serial, const char *tz,
			 enum reading_type type)
{
	struct dev_ins x = { 0 };
	x.d.serial = (char *)serial;
	x.d.name = (char *)serial;
	x.d.timezone = strdup(tz);
	x.d.type = type;
	store_submit_write(t->s, ins, teststore_done, &x);
	if (teststore_wait(t, &x.w) != 0)
		abort();
	free(x.d.timezone);
	return x.d.id;
}

int teststore_commit(struct teststore *t, struct store_batch *b)
{
	struct teststore_wait w = { 0 };
	int rc = store_submit_batch(t->s, b, teststore_done, &w);
	return rc ? rc : teststore_wait(t, &w);
}

int teststore_put(struct teststore *t, int64_t device, int64_t ts, double v)
{
	struct store_batch b;
	struct store_reading r = { ts, device, STORE_CHANNEL_ENERGY, 0, v };
	int rc;
	store_batch_init(&b);
	store_batch_add(&b, &r);
	rc = teststore_commit(t, &b);
	store_batch_release(&b);
	return rc;
}

struct cons {
	struct teststore_wait w;
	int64_t device;
	const struct tz *tz;
	enum query_step step;
	int64_t from, to;
	struct query_bucket *out;
	size_t n;
	struct store *s;
};

static int cons_read(struct store_conn *c, void *ud)
{
	struct cons *q = ud;
	struct store_device *d = store_device_by_id(q->s, q->device);
	int rc = query_consumption(c, d, q->tz, q->step, q->from, q->to, &q->out, &q->n);
	store_device_free(d);
	return rc;
}

int teststore_consumption(struct teststore *t, int64_t device, const char *tz, enum query_step step,
			  int64_t from, int64_t to, struct query_bucket **out, size_t *n)
{
	struct cons q = { { 0 }, device, tz_get(tz), step, from, to, NULL, 0, t->s };
	int rc;
	store_submit_read(t->s, cons_read, teststore_done, &q);
	rc = teststore_wait(t, &q.w);
	*out = q.out;
	*n = q.n;
	return rc;
}

struct flags_q {
	struct teststore_wait w;
	int64_t device, ts;
	int flags;
};

static void one_flag(void *ud, int64_t ts, uint32_t ch, double v, int flags)
{
	((struct flags_q *)ud)->flags = flags;
}

static int flags_read(struct store_conn *c, void *ud)
{
	struct flags_q *q = ud;
	return store_readings(c, q->device, STORE_CHANNEL_ENERGY, q->ts, q->ts + 1, q->ts - 1, 0, 1,
			      one_flag, q);
}

int teststore_flags(struct teststore *t, int64_t device, int64_t ts)
{
	struct flags_q q = { { 0 }, device, ts, -1 };
	store_submit_read(t->s, flags_read, teststore_done, &q);
	teststore_wait(t, &q.w);
	return q.flags;
}
