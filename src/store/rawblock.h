/*
 * rawblock.h - the on-disk encoding of one device's raw readings over one
 * span of four UTC hours (store-internal, pure: no I/O, no threads).
 *
 * A block holds the readings stamped in (base, base + span] of one device,
 * every channel, sorted by (ts, channel).  Format version 1:
 *
 *   u8 version (1) | varint count | count x record
 *   record: varint zigzag(ts - previous ts; the first from base)
 *           varint (channel << 4 | flags << 2 | kind)
 *           kind 0: 8 bytes, the IEEE 754 double little-endian
 *           kind 1: varint zigzag(k - previous k), value == k / 1e6 exactly
 *                   (decimal meter values: 3-5 bytes instead of 8)
 *
 * Invariants:
 *  1. decode(encode(x)) == x bit for bit (kind 1 is used only when the
 *     division gives back the very same double, -0.0 included).
 *  2. Decoding never reads past len and rejects any malformed input with
 *     KW_EINVAL (a damaged file must not crash the daemon).
 */
#ifndef KW_STORE_RAWBLOCK_H
#define KW_STORE_RAWBLOCK_H

#include <stddef.h>
#include <stdint.h>

/* One raw reading as kept in memory (24 bytes). */
struct raw_rec {
	int64_t ts; /* epoch ms */
	double value;
	uint32_t channel; /* < 2^28 */
	uint32_t flags;	  /* READING_FLAG_*, < 4 */
};

/* Four hours: a block of 10-minute readings holds 24 (~170 bytes), and
 * closing writes one row per device every four hours, not four. */
#define RAWBLOCK_SPAN_MS INT64_C(14400000)

/* The block holding ts: the span start b (a multiple of the span since
 * 1970, UTC) with b < ts <= b + span. */
int64_t rawblock_base(int64_t ts);

/* Bytes encode() may write for n records. */
size_t rawblock_bound(size_t n);

/* Encodes r[0..n) (sorted by (ts, channel), ts in (base, base + 1 h]) into
 * out, which holds rawblock_bound(n) bytes; returns the length. */
size_t rawblock_encode(int64_t base, const struct raw_rec *r, size_t n, unsigned char *out);

/* Appends the block's records to *r (a growable array of *cap; xgrow) and
 * sets *n.  0, or KW_EINVAL when the block is malformed (nothing appended). */
int rawblock_decode(int64_t base, const void *buf, size_t len, struct raw_rec **r, size_t *n,
		    size_t *cap);

/* Record at a time, for other containers (the journal, raw.c): the state
 * chains each record's deltas to the previous one; start it at {base, 0}.
 * put writes at most RAWBLOCK_REC_MAX bytes and returns the end; get
 * advances *p or returns KW_EINVAL, never reading at or past end. */
#define RAWBLOCK_REC_MAX 25
struct rawblock_state {
	int64_t prev_ts, prev_k;
};
unsigned char *rawblock_put(struct rawblock_state *st, unsigned char *p, const struct raw_rec *x);
int rawblock_get(struct rawblock_state *st, const unsigned char **p, const unsigned char *end,
		 struct raw_rec *x);
/* LEB128 varints (at most 10 bytes). */
unsigned char *rawblock_put_varint(unsigned char *p, uint64_t v);
int rawblock_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/* Orders records by (ts, channel) (qsort comparator). */
int rawblock_cmp(const void *a, const void *b);

#endif
