/*
 * rawblock.c - encoding of a device block's raw readings (format in
 * rawblock.h).
 */
#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "store/rawblock.h"
#include "core/banned.h"

#define DECIMAL_SCALE 1e6
#define KIND_DOUBLE   0u
#define KIND_DECIMAL  1u

int64_t rawblock_base(int64_t ts)
{
	int64_t t = ts - 1;
	return t - (((t % RAWBLOCK_SPAN_MS) + RAWBLOCK_SPAN_MS) % RAWBLOCK_SPAN_MS);
}

size_t rawblock_bound(size_t n)
{
	/* version + count + records */
	return 1 + 10 + n * RAWBLOCK_REC_MAX;
}

unsigned char *rawblock_put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Whether v is exactly k / 1e6 for an integer k well inside int64. */
static int as_decimal(double v, int64_t *k)
{
	double scaled = v * DECIMAL_SCALE, back;

	if (!(scaled > -9e15 && scaled < 9e15)) /* also false for NaN */
		return 0;
	*k = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
	back = (double)*k / DECIMAL_SCALE;
	return memcmp(&back, &v, sizeof(v)) == 0;
}

unsigned char *rawblock_put(struct rawblock_state *st, unsigned char *p, const struct raw_rec *x)
{
	int64_t k;
	bool dec = as_decimal(x->value, &k);

	p = rawblock_put_varint(p, zigzag(x->ts - st->prev_ts));
	st->prev_ts = x->ts;
	p = rawblock_put_varint(p, (uint64_t)x->channel << 4 | (x->flags & 3u) << 2 |
				       (dec ? KIND_DECIMAL : KIND_DOUBLE));
	if (dec) {
		p = rawblock_put_varint(p, zigzag(k - st->prev_k));
		st->prev_k = k;
	} else {
		uint64_t bits;
		memcpy(&bits, &x->value, sizeof(bits));
		for (int b = 0; b < 8; b++)
			*p++ = (unsigned char)(bits >> (8 * b));
	}
	return p;
}

size_t rawblock_encode(int64_t base, const struct raw_rec *r, size_t n, unsigned char *out)
{
	struct rawblock_state st = { base, 0 };
	unsigned char *p = out;

	*p++ = 1;
	p = rawblock_put_varint(p, n);
	for (size_t i = 0; i < n; i++)
		p = rawblock_put(&st, p, &r[i]);
	return (size_t)(p - out);
}

int rawblock_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return KW_EINVAL;
		unsigned char c = *(*p)++;
		if (shift == 63 && c > 1)
			return KW_EINVAL; /* more than 64 bits */
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return KW_EINVAL;
}

int rawblock_get(struct rawblock_state *st, const unsigned char **pp, const unsigned char *end,
		 struct raw_rec *x)
{
	const unsigned char *p = *pp;
	uint64_t v, tag;

	if (rawblock_get_varint(&p, end, &v) || rawblock_get_varint(&p, end, &tag) ||
	    tag >> 4 > UINT32_MAX)
		return KW_EINVAL;
	/* Unsigned sums: damaged input must not overflow (invariant 2). */
	x->ts = st->prev_ts = (int64_t)((uint64_t)st->prev_ts + (uint64_t)unzigzag(v));
	x->channel = (uint32_t)(tag >> 4);
	x->flags = (uint32_t)(tag >> 2) & 3u;
	if ((tag & 3u) == KIND_DECIMAL) {
		if (rawblock_get_varint(&p, end, &v))
			return KW_EINVAL;
		st->prev_k = (int64_t)((uint64_t)st->prev_k + (uint64_t)unzigzag(v));
		x->value = (double)st->prev_k / DECIMAL_SCALE;
	} else if ((tag & 3u) == KIND_DOUBLE && end - p >= 8) {
		uint64_t bits = 0;
		for (int b = 0; b < 8; b++)
			bits |= (uint64_t)*p++ << (8 * b);
		memcpy(&x->value, &bits, sizeof(bits));
	} else {
		return KW_EINVAL;
	}
	*pp = p;
	return 0;
}

int rawblock_decode(int64_t base, const void *buf, size_t len, struct raw_rec **r, size_t *n,
		    size_t *cap)
{
	const unsigned char *p = buf, *end = p + len;
	struct rawblock_state st = { base, 0 };
	size_t start = *n;
	uint64_t count;

	if (len < 2 || *p++ != 1 || rawblock_get_varint(&p, end, &count) || count > len)
		return KW_EINVAL;
	xgrow((void **)r, cap, start + count, sizeof(**r));
	for (uint64_t i = 0; i < count; i++)
		if (rawblock_get(&st, &p, end, &(*r)[start + i]))
			return KW_EINVAL;
	if (p != end)
		return KW_EINVAL;
	*n = start + count;
	return 0;
}

int rawblock_cmp(const void *a, const void *b)
{
	const struct raw_rec *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->channel > y->channel) - (x->channel < y->channel);
}
