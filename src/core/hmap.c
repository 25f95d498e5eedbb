/*
 * hmap.c - open addressing with linear probing (see hmap.h).
 *
 * Invariants:
 *  1. cap is 0 or a power of two, and dirty <= cap * 3/4 after every insert,
 *     so a probe always ends at an empty slot.
 *  2. Deleted slots keep probe chains intact; a rehash drops them.
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

static struct hmap_slot *find(const struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = mix(key) & mask;
	if (!m->cap)
		return NULL;
	for (;;) {
		struct hmap_slot *s = &m->slots[i];
		if (s->state == 0)
			return NULL;
		if (s->state == 1 && s->key == key)
			return s;
		i = (i + 1) & mask;
	}
}

static void rehash(struct hmap *m, size_t cap)
{
	struct hmap_slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	m->used = m->dirty = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].state == 1)
			hmap_put(m, old[i].key, old[i].value);
	free(old);
}

uint64_t *hmap_upsert(struct hmap *m, uint64_t key, uint64_t def)
{
	struct hmap_slot *s = find(m, key);
	size_t mask, i;

	if (s)
		return &s->value;
	if ((m->dirty + 1) * 4 > m->cap * 3)
		rehash(m, m->cap ? (m->used * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
	mask = m->cap - 1;
	for (i = mix(key) & mask; m->slots[i].state == 1; i = (i + 1) & mask)
		;
	if (m->slots[i].state == 0)
		m->dirty++;
	m->slots[i] = (struct hmap_slot){ key, def, 1 };
	m->used++;
	return &m->slots[i].value;
}

void hmap_put(struct hmap *m, uint64_t key, uint64_t value)
{
	*hmap_upsert(m, key, value) = value;
}

bool hmap_get(const struct hmap *m, uint64_t key, uint64_t *value)
{
	const struct hmap_slot *s = find(m, key);
	if (!s)
		return false;
	*value = s->value;
	return true;
}

bool hmap_del(struct hmap *m, uint64_t key)
{
	struct hmap_slot *s = find(m, key);
	if (!s)
		return false;
	s->state = 2;
	m->used--;
	return true;
}

bool hmap_next(const struct hmap *m, size_t *iter, uint64_t *key, uint64_t *value)
{
	for (; *iter < m->cap; (*iter)++) {
		const struct hmap_slot *s = &m->slots[*iter];
		if (s->state == 1) {
			*key = s->key;
			*value = s->value;
			(*iter)++;
			return true;
		}
	}
	return false;
}

void hmap_clear(struct hmap *m)
{
	if (m->cap)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->used = m->dirty = 0;
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
