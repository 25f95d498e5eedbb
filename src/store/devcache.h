/*
 * devcache.h - the in-memory copy of the device and channel tables
 * (store-internal).
 *
 * Lets ingest resolve "device_id" / serial / channel names on the loop thread
 * without a query, and lets the writer know each device's zone and reading
 * type per row.
 *
 * Thread-safety: readers take the read lock (devcache_rdlock); only the
 * writer thread mutates, under the write lock, so the writer itself may read
 * without locking.
 */
#ifndef KW_STORE_DEVCACHE_H
#define KW_STORE_DEVCACHE_H

#include <pthread.h>

#include "core/hmap.h"
#include "store/store.h"

struct devcache {
	pthread_rwlock_t lock;
	struct hmap by_id;	/* id -> struct store_device * */
	struct hmap by_key;	/* hmap_strkey(uuid or serial) -> struct store_device * */
	struct hmap ch_by_name; /* hmap_strkey(name) -> channel id */
	char **ch_names;	/* channel id -> name */
	size_t nch, chcap;
	size_t ndevices;
};

void devcache_init(struct devcache *dc);
void devcache_release(struct devcache *dc);

/* Takes ownership of d, replacing any device with the same id. [writer] */
void devcache_put(struct devcache *dc, struct store_device *d);
/* Removes and returns the device (caller frees), or NULL. [writer] */
struct store_device *devcache_take(struct devcache *dc, int64_t id);
void devcache_channel_put(struct devcache *dc, int64_t id, const char *name);
void devcache_channel_drop(struct devcache *dc, int64_t id);

/* Lookups: callers other than the writer hold the read lock. */
const struct store_device *devcache_get(const struct devcache *dc, int64_t id);
int64_t devcache_resolve(const struct devcache *dc, const char *id_or_serial);
int64_t devcache_channel(const struct devcache *dc, const char *name);

struct store_device *store_device_dup(const struct store_device *d);

#endif
