/*
 * hmap.h - an open-addressing hash map from uint64_t keys to uint64_t values.
 *
 * Keys are integers we compose ourselves ((device << 32) | minute) or
 * keyed hashes of strings (hmap_strkey, SipHash with a per-process random
 * key, so peers cannot aim collisions).  Callers that key by string hash
 * still compare the strings they find.
 *
 * Not thread-safe: the owner serializes access.
 */
#ifndef KW_CORE_HMAP_H
#define KW_CORE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	uint64_t key; /* 0: the slot is empty (key 0 lives in struct hmap) */
	uint64_t value;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap;    /* power of two, or 0 */
	size_t used;   /* live entries, key 0 included */
	bool has_zero; /* key 0 is present, with zero_value */
	uint64_t zero_value;
};

#define HMAP_INIT                    \
	{                            \
		NULL, 0, 0, false, 0 \
	}

void hmap_release(struct hmap *m);
void hmap_clear(struct hmap *m);
/* Inserts or replaces. */
void hmap_put(struct hmap *m, uint64_t key, uint64_t value);
/* Returns true and sets *value when present. */
bool hmap_get(const struct hmap *m, uint64_t key, uint64_t *value);
/* Returns a pointer to the value slot, inserting def when absent; the
 * pointer is valid until the next insertion or deletion. */
uint64_t *hmap_upsert(struct hmap *m, uint64_t key, uint64_t def);
bool hmap_del(struct hmap *m, uint64_t key);

/* Iteration, in no particular order: for (size_t i = 0; hmap_next(m, &i, &k, &v);) */
bool hmap_next(const struct hmap *m, size_t *iter, uint64_t *key, uint64_t *value);

/* Keyed 64-bit hash of a string (SipHash-2-4 via libsodium). */
uint64_t hmap_strkey(const char *s);

#endif
