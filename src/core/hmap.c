/*
 * hmap.c - open addressing with linear probing (see hmap.h).
 *
 * Invariants:
 *  1. cap is 0 or a power of two, and used <= cap * 3/4 after every insert,
 *     so a probe always ends at an empty slot.
 *  2. A slot is empty when its key is 0; the entry of key 0 itself lives in
 *     zero_value (has_zero), outside the slots.  So a slot is 16 bytes, four
 *     to a cache line, and a lookup reads one line in the common case.
 *  3. Every entry sits between its home slot (mix(key) & (cap - 1)) and the
 *     first empty slot after it.  Deleting shifts later entries of the
 *     chain back to keep it so (no tombstones), so probe chains never
 *     grow with deletions.
 */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/hmap.h"
#include "core/xmalloc.h"
#include "core/banned.h"

static uint64_t mix(uint64_t k)
{
	/* splitmix64 finalizer: spreads composed integer keys over the table. */
	k ^= k >> 30;
	k *= UINT64_C(0xbf58476d1ce4e5b9);
	k ^= k >> 27;
	k *= UINT64_C(0x94d049bb133111eb);
	return k ^ (k >> 31);
}

/* The slot holding key (not 0), or the empty slot ending its chain. */
static struct hmap_slot *probe(const struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = mix(key) & mask;

	while (m->slots[i].key != key && m->slots[i].key != 0)
		i = (i + 1) & mask;
	return &m->slots[i];
}

static void rehash(struct hmap *m, size_t cap)
{
	struct hmap_slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != 0)
			*probe(m, old[i].key) = old[i];
	free(old);
}

uint64_t *hmap_upsert(struct hmap *m, uint64_t key, uint64_t def)
{
	struct hmap_slot *s;

	if (key == 0) {
		if (!m->has_zero) {
			m->has_zero = true;
			m->zero_value = def;
			m->used++;
		}
		return &m->zero_value;
	}
	if (m->cap && (s = probe(m, key))->key == key)
		return &s->value;
	if ((m->used + 1) * 4 > m->cap * 3)
		rehash(m, m->cap ? m->cap * 2 : 16);
	s = probe(m, key);
	*s = (struct hmap_slot){ key, def };
	m->used++;
	return &s->value;
}

void hmap_put(struct hmap *m, uint64_t key, uint64_t value)
{
	*hmap_upsert(m, key, value) = value;
}

bool hmap_get(const struct hmap *m, uint64_t key, uint64_t *value)
{
	const struct hmap_slot *s;

	if (key == 0) {
		*value = m->zero_value;
		return m->has_zero;
	}
	if (!m->cap || (s = probe(m, key))->key == 0)
		return false;
	*value = s->value;
	return true;
}

bool hmap_del(struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i, j;
	struct hmap_slot *s;

	if (key == 0) {
		if (!m->has_zero)
			return false;
		m->has_zero = false;
		m->used--;
		return true;
	}
	if (!m->cap || (s = probe(m, key))->key == 0)
		return false;
	/* Invariant 3: move back each later entry whose home is not in (i, j]. */
	i = j = (size_t)(s - m->slots);
	for (;;) {
		j = (j + 1) & mask;
		if (m->slots[j].key == 0)
			break;
		if (((j - (mix(m->slots[j].key) & mask)) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->used--;
	return true;
}

bool hmap_next(const struct hmap *m, size_t *iter, uint64_t *key, uint64_t *value)
{
	for (; *iter < m->cap; (*iter)++) {
		const struct hmap_slot *s = &m->slots[*iter];
		if (s->key != 0) {
			*key = s->key;
			*value = s->value;
			(*iter)++;
			return true;
		}
	}
	if (*iter == m->cap && m->has_zero) { /* key 0 comes last */
		*key = 0;
		*value = m->zero_value;
		(*iter)++;
		return true;
	}
	return false;
}

void hmap_clear(struct hmap *m)
{
	if (m->cap)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->used = 0;
	m->has_zero = false;
}

void hmap_release(struct hmap *m)
{
	free(m->slots);
	*m = (struct hmap)HMAP_INIT;
}

static unsigned char sip_key[crypto_shorthash_KEYBYTES];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_init(void)
{
	if (sodium_init() < 0)
		abort();
	crypto_shorthash_keygen(sip_key);
}

uint64_t hmap_strkey(const char *s)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t k;

	pthread_once(&sip_once, sip_init);
	crypto_shorthash(out, (const unsigned char *)s, strlen(s), sip_key);
	memcpy(&k, out, sizeof(k));
	return k;
}
