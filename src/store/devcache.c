/*
 * devcache.c - in-memory devices and channels (see devcache.h).
 *
 * Invariants:
 *  1. by_key holds one entry for each device's uuid and one for its serial
 *     when it has one; both map to the device itself, as by_id does, so a
 *     lookup by string costs one probe.  Taking a device out deletes every
 *     key it has, so no entry outlives the device it points to.
 *  2. A lookup by string confirms the string on the device found, so a hash
 *     collision can only miss, never return the wrong device.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/devcache.h"
#include "core/banned.h"

void devcache_init(struct devcache *dc)
{
	memset(dc, 0, sizeof(*dc));
	pthread_rwlock_init(&dc->lock, NULL);
}

void store_device_free(struct store_device *d)
{
	if (!d)
		return;
	free(d->serial);
	free(d->name);
	free(d->description);
	free(d->address);
	free(d->region);
	free(d->timezone);
	free(d->claim_code);
	free(d);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct store_device *store_device_dup(const struct store_device *d)
{
	struct store_device *c = xmalloc(sizeof(*c));
	*c = *d;
	c->serial = dup_or_null(d->serial);
	c->name = dup_or_null(d->name);
	c->description = dup_or_null(d->description);
	c->address = dup_or_null(d->address);
	c->region = dup_or_null(d->region);
	c->timezone = dup_or_null(d->timezone);
	c->claim_code = dup_or_null(d->claim_code);
	return c;
}

void devcache_release(struct devcache *dc)
{
	uint64_t k, v;
	for (size_t i = 0; hmap_next(&dc->by_id, &i, &k, &v);)
		store_device_free((struct store_device *)(uintptr_t)v);
	for (size_t i = 0; i < dc->nch; i++)
		free(dc->ch_names[i]);
	free(dc->ch_names);
	hmap_release(&dc->by_id);
	hmap_release(&dc->by_key);
	hmap_release(&dc->ch_by_name);
	pthread_rwlock_destroy(&dc->lock);
}

const struct store_device *devcache_get(const struct devcache *dc, int64_t id)
{
	uint64_t v;
	return hmap_get(&dc->by_id, (uint64_t)id, &v) ? (const struct store_device *)(uintptr_t)v
						      : NULL;
}

static void unkey(struct devcache *dc, const struct store_device *d)
{
	hmap_del(&dc->by_key, hmap_strkey(d->uuid));
	if (d->serial)
		hmap_del(&dc->by_key, hmap_strkey(d->serial));
}

struct store_device *devcache_take(struct devcache *dc, int64_t id)
{
	struct store_device *d = (struct store_device *)devcache_get(dc, id);
	if (!d)
		return NULL;
	pthread_rwlock_wrlock(&dc->lock);
	unkey(dc, d);
	hmap_del(&dc->by_id, (uint64_t)id);
	dc->ndevices--;
	pthread_rwlock_unlock(&dc->lock);
	return d;
}

void devcache_put(struct devcache *dc, struct store_device *d)
{
	struct store_device *old = devcache_take(dc, d->id);
	store_device_free(old);
	pthread_rwlock_wrlock(&dc->lock);
	hmap_put(&dc->by_id, (uint64_t)d->id, (uint64_t)(uintptr_t)d);
	hmap_put(&dc->by_key, hmap_strkey(d->uuid), (uint64_t)(uintptr_t)d);
	if (d->serial)
		hmap_put(&dc->by_key, hmap_strkey(d->serial), (uint64_t)(uintptr_t)d);
	dc->ndevices++;
	pthread_rwlock_unlock(&dc->lock);
}

int64_t devcache_resolve(const struct devcache *dc, const char *s)
{
	const struct store_device *d;
	uint64_t v;

	if (!hmap_get(&dc->by_key, hmap_strkey(s), &v))
		return 0;
	d = (const struct store_device *)(uintptr_t)v;
	if (strcmp(d->uuid, s) != 0 && (!d->serial || strcmp(d->serial, s) != 0))
		return 0;
	return d->id;
}

void devcache_channel_put(struct devcache *dc, int64_t id, const char *name)
{
	pthread_rwlock_wrlock(&dc->lock);
	xgrow((void **)&dc->ch_names, &dc->chcap, (size_t)id + 1, sizeof(char *));
	while (dc->nch <= (size_t)id)
		dc->ch_names[dc->nch++] = NULL;
	free(dc->ch_names[id]);
	dc->ch_names[id] = xstrdup(name);
	hmap_put(&dc->ch_by_name, hmap_strkey(name), (uint64_t)id);
	pthread_rwlock_unlock(&dc->lock);
}

void devcache_channel_drop(struct devcache *dc, int64_t id)
{
	pthread_rwlock_wrlock(&dc->lock);
	if ((size_t)id < dc->nch && dc->ch_names[id]) {
		hmap_del(&dc->ch_by_name, hmap_strkey(dc->ch_names[id]));
		free(dc->ch_names[id]);
		dc->ch_names[id] = NULL;
	}
	pthread_rwlock_unlock(&dc->lock);
}

int64_t devcache_channel(const struct devcache *dc, const char *name)
{
	uint64_t id;
	if (!hmap_get(&dc->ch_by_name, hmap_strkey(name), &id) || id >= dc->nch ||
	    !dc->ch_names[id] || strcmp(dc->ch_names[id], name) != 0)
		return -1;
	return (int64_t)id;
}
