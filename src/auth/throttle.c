/*
 * throttle.c - failed-login counters (see throttle.h).
 *
 * Invariants:
 *  1. idx maps the hmap_strkey() of each tracked key to its slot in e;
 *     e[0..n) are the tracked keys.
 *  2. An entry's ring t[0..cap) holds its last min(failures, cap) failure
 *     times; t[head] is the oldest of them once the ring is full.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "core/hmap.h"
#include "core/xmalloc.h"
#include "core/banned.h"

struct entry {
	uint64_t key;
	int64_t *t;	 /* failure times, a ring */
	uint32_t n, cap; /* times held, ring size (the max of the last failure) */
	uint32_t head;	 /* next slot to write; the oldest when n == cap */
	int64_t last;	 /* the newest failure */
};

struct throttle {
	int64_t window_ms;
	struct hmap idx;
	struct entry *e;
	size_t n, cap;
};

struct throttle *throttle_new(int64_t window_ms)
{
	struct throttle *t = xcalloc(1, sizeof(*t));
	t->window_ms = window_ms;
	return t;
}

static void drop_all(struct throttle *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].t);
	t->n = 0;
	hmap_clear(&t->idx);
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	drop_all(t);
	hmap_release(&t->idx);
	free(t->e);
	free(t);
}

static struct entry *find(struct throttle *t, uint64_t key)
{
	uint64_t i;
	return hmap_get(&t->idx, key, &i) ? &t->e[i] : NULL;
}

/* Drops keys whose failures have all left the window; if the table is
 * still full, starts over (throttle.h). */
static void prune(struct throttle *t, int64_t now)
{
	size_t k = 0;

	if (t->n < THROTTLE_MAX_KEYS)
		return;
	hmap_clear(&t->idx);
	for (size_t i = 0; i < t->n; i++) {
		if (now - t->e[i].last >= t->window_ms) {
			free(t->e[i].t);
			continue;
		}
		t->e[k] = t->e[i];
		hmap_put(&t->idx, t->e[k].key, k);
		k++;
	}
	t->n = k;
	if (t->n >= THROTTLE_MAX_KEYS)
		drop_all(t);
}

bool throttle_allowed(struct throttle *t, const char *key, int64_t max, int64_t now_ms,
		      int64_t *retry_after_s)
{
	struct entry *e = find(t, hmap_strkey(key));
	int64_t oldest, left;

	if (!e || max <= 0 || e->n < (uint64_t)max || e->n < e->cap)
		return true;
	/* The ring is full and holds exactly the last max failures. */
	oldest = e->t[e->head];
	if (now_ms - oldest >= t->window_ms)
		return true;
	left = oldest + t->window_ms - now_ms;
	*retry_after_s = left / 1000 + (left % 1000 != 0);
	if (*retry_after_s < 1)
		*retry_after_s = 1;
	return false;
}

void throttle_fail(struct throttle *t, const char *key, int64_t max, int64_t now_ms)
{
	uint64_t k = hmap_strkey(key);
	struct entry *e = find(t, k);
	uint32_t cap = max < 1 ? 1 : max > 100000 ? 100000 : (uint32_t)max;

	if (!e) {
		prune(t, now_ms);
		xgrow((void **)&t->e, &t->cap, t->n + 1, sizeof(*t->e));
		e = &t->e[t->n];
		*e = (struct entry){ .key = k };
		hmap_put(&t->idx, k, t->n++);
	}
	if (e->cap != cap) { /* first failure, or the setting changed: start again */
		free(e->t);
		e->t = xcalloc(cap, sizeof(*e->t));
		e->cap = cap;
		e->n = e->head = 0;
	}
	e->t[e->head] = now_ms;
	e->head = (e->head + 1) % e->cap;
	if (e->n < e->cap)
		e->n++;
	e->last = now_ms;
}

void throttle_reset(struct throttle *t, const char *key)
{
	struct entry *e = find(t, hmap_strkey(key));
	if (e)
		e->n = e->head = 0;
}
