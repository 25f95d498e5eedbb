/*
 * rawblock.h - the on-disk encoding of one device's raw readings for one
 * hour (store-internal, pure: no I/O, no threads).
 *
 * A block holds the readings stamped in (base, base + 1 h] of one device,
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

#define RAWBLOCK_SPAN_MS INT64_C(3600000)

/* The block holding ts: the whole UTC hour h with h < ts <= h + 1 h. */
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

/* Orders records by (ts, channel) (qsort comparator). */
int rawblock_cmp(const void *a, const void *b);

#endif
