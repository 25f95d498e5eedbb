/*
 * pending.c - the open hours' totals (see pending.h for the consistency
 * argument).
 *
 * Invariant: idx maps exactly the keys of e[0..n); closing compacts e and
 * rebuilds idx.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/pending.h"
#include "core/banned.h"

void pending_init(struct pending *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
}

void pending_release(struct pending *p)
{
	hmap_release(&p->idx);
	free(p->e);
	pthread_mutex_destroy(&p->mu);
}

uint64_t pending_key(int64_t device, int64_t hour)
{
	/* Hour starts fall on whole minutes; 2^32 minutes reach past year 10000. */
	return ((uint64_t)device << 32) | (uint32_t)(hour / 60000);
}

void pending_add(struct pending *p, const struct pending_entry *x)
{
	uint64_t *i = hmap_upsert(&p->idx, pending_key(x->device, x->hour), UINT64_MAX);
	if (x->hour_end > p->max_end)
		p->max_end = x->hour_end;
	if (*i == UINT64_MAX) {
		xgrow((void **)&p->e, &p->cap, p->n + 1, sizeof(*p->e));
		p->e[p->n] = *x;
		*i = p->n++;
		return;
	}
	p->e[*i].kwh += x->kwh;
	p->e[*i].readings += x->readings;
}

/* Keeps the entries for which drop() is false; rebuilds the index. */
static void compact(struct pending *p, bool (*drop)(const struct pending_entry *, int64_t),
		    int64_t arg)
{
	size_t k = 0;
	hmap_clear(&p->idx);
	for (size_t i = 0; i < p->n; i++) {
		if (drop(&p->e[i], arg))
			continue;
		p->e[k] = p->e[i];
		hmap_put(&p->idx, pending_key(p->e[k].device, p->e[k].hour), k);
		k++;
	}
	p->n = k;
}

static bool closed_by(const struct pending_entry *e, int64_t watermark)
{
	return e->hour_end <= watermark;
}

static bool of_device(const struct pending_entry *e, int64_t device)
{
	return e->device == device;
}

void pending_close(struct pending *p, int64_t watermark)
{
	compact(p, closed_by, watermark);
	p->watermark = watermark;
}

void pending_drop_device(struct pending *p, int64_t device)
{
	compact(p, of_device, device);
}

const struct pending_entry *pending_get(const struct pending *p, int64_t device, int64_t hour)
{
	uint64_t i;
	return hmap_get(&p->idx, pending_key(device, hour), &i) ? &p->e[i] : NULL;
}
