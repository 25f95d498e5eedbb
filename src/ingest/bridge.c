/*
 * bridge.c - committing readings from a thread other than the loop's
 * (design in bridge.h).
 *
 * A waiting batch is one struct pass on the caller's stack: the caller
 * queues it, wakes the loop with uv_async_send() and sleeps on the pass's
 * condition variable; the loop submits it to the store and, in the store's
 * completion, sets the result and signals.  The pass lives on the caller's
 * stack, so the caller may return only after `done` is set: every path
 * that ends a pass (completion, refusal, close) sets it under the mutex.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "ingest/bridge.h"
#include "core/banned.h"

struct pass {
	struct store_batch *b;
	int rc;
	bool done;
	pthread_cond_t cond;
	struct pass *next;
};

struct bridge {
	uv_async_t async;
	struct store *store;
	pthread_mutex_t mu;
	struct pass *head, *tail; /* waiting for the loop */
	bool closing;
	unsigned in_store; /* submitted, not completed [loop] */
	void (*close_cb)(void *ud);
	void *close_ud;
};

static void finish(struct bridge *br, struct pass *p, int rc)
{
	pthread_mutex_lock(&br->mu);
	p->rc = rc;
	p->done = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&br->mu);
}

static void on_closed(uv_handle_t *h)
{
	struct bridge *br = h->data;
	void (*cb)(void *) = br->close_cb;
	void *ud = br->close_ud;
	pthread_mutex_destroy(&br->mu);
	free(br);
	if (cb)
		cb(ud);
}

static void maybe_free(struct bridge *br)
{
	if (br->closing && br->in_store == 0 && !uv_is_closing((uv_handle_t *)&br->async))
		uv_close((uv_handle_t *)&br->async, on_closed);
}

struct done_ctx {
	struct bridge *br;
	struct pass *p;
};

static void on_committed(void *ud, int rc)
{
	struct done_ctx *c = ud;
	struct bridge *br = c->br;
	finish(br, c->p, rc);
	free(c);
	br->in_store--;
	maybe_free(br);
}

static void on_async(uv_async_t *a)
{
	struct bridge *br = a->data;
	struct pass *p;

	pthread_mutex_lock(&br->mu);
	p = br->head;
	br->head = br->tail = NULL;
	pthread_mutex_unlock(&br->mu);
	while (p) {
		struct pass *next = p->next; /* p may be gone once finished */
		struct done_ctx *c = xmalloc(sizeof(*c));
		int rc;
		*c = (struct done_ctx){ br, p };
		rc = store_submit_batch(br->store, p->b, on_committed, c);
		if (rc) {
			free(c);
			finish(br, p, rc);
		} else {
			br->in_store++;
		}
		p = next;
	}
}

struct bridge *bridge_new(uv_loop_t *loop, struct store *store)
{
	struct bridge *br = xcalloc(1, sizeof(*br));
	br->store = store;
	pthread_mutex_init(&br->mu, NULL);
	uv_async_init(loop, &br->async, on_async);
	br->async.data = br;
	return br;
}

int bridge_commit(struct bridge *br, struct store_batch *b)
{
	struct pass p = { .b = b };
	int rc;

	pthread_cond_init(&p.cond, NULL);
	pthread_mutex_lock(&br->mu);
	if (br->closing) {
		pthread_mutex_unlock(&br->mu);
		pthread_cond_destroy(&p.cond);
		return KW_ESHUTDOWN;
	}
	if (br->tail)
		br->tail->next = &p;
	else
		br->head = &p;
	br->tail = &p;
	uv_async_send(&br->async);
	while (!p.done)
		pthread_cond_wait(&p.cond, &br->mu);
	rc = p.rc;
	pthread_mutex_unlock(&br->mu);
	pthread_cond_destroy(&p.cond);
	return rc;
}

void bridge_close(struct bridge *br, void (*cb)(void *ud), void *ud)
{
	struct pass *p;

	br->close_cb = cb;
	br->close_ud = ud;
	pthread_mutex_lock(&br->mu);
	br->closing = true;
	p = br->head;
	br->head = br->tail = NULL;
	for (; p; p = p->next) {
		p->rc = KW_ESHUTDOWN;
		p->done = true; /* p->next was read: the owner may now return */
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&br->mu);
	maybe_free(br);
}
