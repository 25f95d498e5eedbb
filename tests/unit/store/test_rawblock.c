/*
 * test_rawblock.c - the on-disk encoding of a device-hour's raw readings
 * (src/store/rawblock.c, format in src/store/rawblock.h).
 *
 * Each test states the records, the rule of rawblock.h it checks (the
 * format, invariant 1: bit-exact round trip, invariant 2: malformed input
 * is rejected without reading past len) and the exact expected result.
 * Every buffer handed to the codec is a heap block of exactly the size the
 * codec may touch, so AddressSanitizer (the Debug test build) reports any
 * read or write past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "store/rawblock.h"

#define H  (INT64_C(3600000))
#define T0 INT64_C(1738972800000) /* 2025-02-08T00:00:00Z, a whole UTC hour */

static double from_bits(uint64_t bits)
{
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static uint64_t to_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

/* Encodes r[0..n) into a heap buffer of exactly rawblock_bound(n) bytes,
 * then copies the result into one of exactly the encoded length. */
static unsigned char *encode(int64_t base, const struct raw_rec *r, size_t n, size_t *len)
{
	unsigned char *buf = malloc(rawblock_bound(n));
	unsigned char *out;

	assert_non_null(buf);
	*len = rawblock_encode(base, r, n, buf);
	assert_true(*len <= rawblock_bound(n));
	out = malloc(*len);
	assert_non_null(out);
	memcpy(out, buf, *len);
	free(buf);
	return out;
}

/* Decodes a copy of data[0..len) held in a heap block of exactly len bytes. */
static int decode_exact(int64_t base, const unsigned char *data, size_t len, struct raw_rec **r,
			size_t *n, size_t *cap)
{
	unsigned char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	rc = rawblock_decode(base, copy, len, r, n, cap);
	free(copy);
	return rc;
}

static void assert_same_records(const struct raw_rec *a, const struct raw_rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].ts != b[i].ts || to_bits(a[i].value) != to_bits(b[i].value) ||
		    a[i].channel != b[i].channel || a[i].flags != b[i].flags)
			fail_msg("record %zu: got (ts %lld, bits %016llx, ch %u, flags %u), "
				 "expected (ts %lld, bits %016llx, ch %u, flags %u)",
				 i, (long long)a[i].ts, (unsigned long long)to_bits(a[i].value),
				 a[i].channel, a[i].flags, (long long)b[i].ts,
				 (unsigned long long)to_bits(b[i].value), b[i].channel, b[i].flags);
	}
}

/* Encodes and decodes; the records must come back bit for bit. */
static void round_trip(int64_t base, const struct raw_rec *r, size_t n)
{
	struct raw_rec *out = NULL;
	size_t len, got = 0, cap = 0;
	unsigned char *buf = encode(base, r, n, &len);

	assert_int_equal(decode_exact(base, buf, len, &out, &got, &cap), 0);
	assert_int_equal(got, n);
	assert_same_records(out, r, n);
	free(out);
	free(buf);
}

/* The encoded size of one record at base + 1 s, channel 0, flags 0. */
static size_t one_record_len(double v)
{
	struct raw_rec r = { T0 + 1000, v, 0, 0 };
	size_t len;
	free(encode(T0, &r, 1, &len));
	return len;
}

/* --- rawblock_base ------------------------------------------------------------ */

static void base_is_the_hour_before_ts_minus_1ms(void **state)
{
	/* A block holds (base, base + 1 h]: a reading stamped on the hour
	 * belongs to the hour that ends there, like an interval reading's
	 * energy (docs/ENERGY.md). */
	assert_int_equal(rawblock_base(T0 + 1), T0);	      /* 00:00:00.001 */
	assert_int_equal(rawblock_base(T0 + 30 * 60000), T0); /* 00:30 */
	assert_int_equal(rawblock_base(T0 + H - 1), T0);      /* 00:59:59.999 */
	assert_int_equal(rawblock_base(T0 + H), T0);	      /* 01:00:00.000 */
	assert_int_equal(rawblock_base(T0 + H + 1), T0 + H);  /* 01:00:00.001 */
	assert_int_equal(rawblock_base(T0), T0 - H);	      /* 00:00:00.000 */
	assert_int_equal(rawblock_base(T0 + 2 * H), T0 + H);  /* 02:00:00.000 */
	assert_int_equal(rawblock_base(1), 0);		      /* the epoch's first block */
	assert_int_equal(rawblock_base(H), 0);
	assert_int_equal(rawblock_base(H + 1), H);
}

/* --- round trips (invariant 1) ------------------------------------------------- */

static void decimal_values_round_trip(void **state)
{
	/* Meter values with up to six decimals are stored as k / 1e6 (kind 1);
	 * they must come back as the very same doubles, increasing and
	 * decreasing (negative zigzag deltas of k). */
	const double v[] = {
		0.1,	  5.5,		12345.678,     0,  1e-6, -2.75,	   999999.999999,
		0.000001, 8999999999.5, -8999999999.5, 42, 0.3,	 1000.001, 1000.0005
	};
	struct raw_rec r[sizeof(v) / sizeof(v[0])];
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++)
		r[i] = (struct raw_rec){ T0 + 1 + (int64_t)i * 1000, v[i], 0, 0 };
	round_trip(T0, r, n);
}

static void non_decimal_values_round_trip_bit_for_bit(void **state)
{
	/* Values that are not k / 1e6 (or not exactly) are kept as the raw
	 * IEEE 754 bits (kind 0): -0.0 keeps its sign, NaNs keep their
	 * payload and sign, denormals and infinities are preserved. */
	const uint64_t bits[] = {
		0x8000000000000000u, /* -0.0 */
		0x7ff8000000000001u, /* quiet NaN, payload 1 */
		0x7ff0000000000001u, /* signalling NaN */
		0xfff8000000000000u, /* negative quiet NaN */
		0x7fffffffffffffffu, /* NaN, every payload bit */
		0x7ff0000000000000u, /* +Inf */
		0xfff0000000000000u, /* -Inf */
		0x0000000000000001u, /* smallest denormal */
		0x000fffffffffffffu, /* largest denormal */
		0x8000000000000001u, /* negative denormal */
	};
	const double v[] = { 1.0 / 3, 1e300,	 -1e300, DBL_MAX, DBL_MIN, 5e-7,
			     1e-7,    0.1 + 0.2, M_PI,	 1e16,	  -1e17 };
	size_t nb = sizeof(bits) / sizeof(bits[0]), nv = sizeof(v) / sizeof(v[0]);
	struct raw_rec r[sizeof(bits) / sizeof(bits[0]) + sizeof(v) / sizeof(v[0])];

	for (size_t i = 0; i < nb; i++)
		r[i] = (struct raw_rec){ T0 + 1 + (int64_t)i, from_bits(bits[i]), 0, 0 };
	for (size_t i = 0; i < nv; i++)
		r[nb + i] = (struct raw_rec){ T0 + 1 + (int64_t)(nb + i), v[i], 0, 0 };
	round_trip(T0, r, nb + nv);
	/* Alone, each one is also a block of its own. */
	for (size_t i = 0; i < nb + nv; i++)
		round_trip(T0, &(struct raw_rec){ T0 + H, r[i].value, 0, 0 }, 1);
}

static void mixed_kinds_keep_the_decimal_chain(void **state)
{
	/* A double between two decimals must not disturb the k deltas of the
	 * decimals around it: 1.5, 1/3, 1.75, -0.0, 1.25. */
	struct raw_rec r[] = {
		{ T0 + 1000, 1.5, 0, 0 },  { T0 + 2000, 1.0 / 3, 0, 0 },
		{ T0 + 3000, 1.75, 0, 0 }, { T0 + 4000, from_bits(0x8000000000000000u), 0, 0 },
		{ T0 + 5000, 1.25, 0, 0 },
	};
	round_trip(T0, r, sizeof(r) / sizeof(r[0]));
}

static void channels_and_flags_round_trip(void **state)
{
	/* Several channels at the same timestamp, channel ids up to the
	 * largest allowed (2^28 - 1), and every flags value (0..3). */
	struct raw_rec r[64];
	size_t n = 0;

	for (int64_t s = 1; s <= 8; s++) {
		const uint32_t ch[] = { 0, 1, 2, 15, 16, 1000, 1u << 20, (1u << 28) - 1 };
		for (size_t k = 0; k < 8; k++)
			r[n++] = (struct raw_rec){ T0 + s * 450000, 0.5 * (double)(s + k), ch[k],
						   (uint32_t)((s + (int64_t)k) % 4) };
	}
	assert_int_equal(n, 64);
	round_trip(T0, r, n);
}

static void timestamp_deltas_round_trip(void **state)
{
	/* Within the contract: the first reading one millisecond after base,
	 * the last exactly at base + 1 h (the largest delta from base), and
	 * equal timestamps (delta 0) for several channels. */
	struct raw_rec a[] = {
		{ T0 + 1, 1, 0, 0 },
		{ T0 + 1, 2, 1, 0 },
		{ T0 + H, 3, 0, 0 },
		{ T0 + H, 4, 7, 1 },
	};
	struct raw_rec b[] = { { T0 + H, 1, 0, 0 } };
	/* Beyond it: the codec itself carries any zigzag delta, negative ones
	 * (out of order) and ones of 2^40 ms, so a block written by a future
	 * version with other bounds still decodes to what was encoded. */
	struct raw_rec c[] = {
		{ T0 + 3000, 1, 0, 0 },
		{ T0 + 1000, 2, 0, 0 },
		{ T0 + 1000 + (INT64_C(1) << 40), 3, 0, 0 },
		{ T0 - (INT64_C(1) << 40), 4, 0, 0 },
	};

	round_trip(T0, a, 4);
	round_trip(T0, b, 1);
	round_trip(T0, c, 4);
	round_trip(T0, NULL, 0); /* an empty block */
}

static void decode_appends_after_existing_records(void **state)
{
	/* decode appends to *r and sets *n to the new total, leaving the
	 * records already there untouched. */
	struct raw_rec x[] = { { T0 + 10, 1.5, 0, 0 }, { T0 + 20, 2.5, 1, 1 } };
	struct raw_rec y[] = { { T0 + H + 10, 3.5, 0, 0 } };
	struct raw_rec *out = NULL;
	size_t lx, ly, n = 0, cap = 0;
	unsigned char *bx = encode(T0, x, 2, &lx), *by = encode(T0 + H, y, 1, &ly);

	assert_int_equal(decode_exact(T0, bx, lx, &out, &n, &cap), 0);
	assert_int_equal(n, 2);
	assert_int_equal(decode_exact(T0 + H, by, ly, &out, &n, &cap), 0);
	assert_int_equal(n, 3);
	assert_same_records(out, x, 2);
	assert_same_records(out + 2, y, 1);
	free(out);
	free(bx);
	free(by);
}

/* --- size ------------------------------------------------------------------------- */

static void decimal_values_take_fewer_than_8_bytes(void **state)
{
	/* One record at base + 1 s, channel 0: version 1 byte, count 1 byte,
	 * ts delta zigzag(1000) = 2000 in 2 bytes, tag 1 byte, then the value:
	 *  - kind 0 (a double): 8 bytes, 13 in all;
	 *  - kind 1: zigzag(k): 5.5 -> k 5500000 -> 11000000, 4 bytes (9 in
	 *    all); 0.1 -> 200000, 3 bytes (8); 0 -> 1 byte (6);
	 *    12345.678 -> 24691356000, 5 bytes (10). */
	assert_int_equal(one_record_len(1.0 / 3), 13);
	assert_int_equal(one_record_len(from_bits(0x8000000000000000u)), 13); /* -0.0 */
	assert_int_equal(one_record_len(1e300), 13);
	assert_int_equal(one_record_len(NAN), 13);
	assert_int_equal(one_record_len(5.5), 9);
	assert_int_equal(one_record_len(0.1), 8);
	assert_int_equal(one_record_len(0), 6);
	assert_int_equal(one_record_len(12345.678), 10);
}

static void a_meters_hour_is_about_5_bytes_a_reading(void **state)
{
	/* A register read every second for an hour: 3600 readings, values
	 * 1000.0015, 1000.003, ... (k grows by 1500).  Header: version 1 +
	 * count varint(3600) 2.  First record: ts delta 1000 -> 2 bytes, tag
	 * 1, k 1000001500 -> zigzag 2000003000, 5 bytes.  Every other one: ts
	 * delta 1000 -> 2 bytes, tag 1, k delta 1500 -> zigzag 3000, 2 bytes.
	 * 3 + 8 + 3599 * 5 = 18006 bytes, against 3600 * 11 + 3 = 39603 with
	 * doubles. */
	size_t n = 3600, len;
	struct raw_rec *r = calloc(n, sizeof(*r));
	unsigned char *buf;

	assert_non_null(r);
	for (size_t i = 0; i < n; i++)
		r[i] =
		    (struct raw_rec){ T0 + 1000 * (int64_t)(i + 1),
				      (double)(INT64_C(1000000000) + 1500 * (int64_t)(i + 1)) / 1e6,
				      0, 0 };
	buf = encode(T0, r, n, &len);
	assert_int_equal(len, 18006);
	round_trip(T0, r, n);
	free(buf);
	free(r);
}

static void worst_case_fits_the_bound(void **state)
{
	/* The largest records the contract allows: the full hour's ts delta,
	 * the largest channel and flags, and decimal values swinging between
	 * the extremes of kind 1 (k deltas near 1.8e16); then doubles.  encode
	 * writes into exactly rawblock_bound(n) bytes (ASan checks). */
	const uint32_t top = (1u << 28) - 1;
	struct raw_rec r[6] = {
		{ T0 + H, 8999999999.0, top - 5, 3 }, { T0 + H, -8999999999.0, top - 4, 3 },
		{ T0 + H, 8999999998.0, top - 3, 3 }, { T0 + H, -8999999998.0, top - 2, 3 },
		{ T0 + H, 1.0 / 3, top - 1, 3 },      { T0 + H, -1e300, top, 3 },
	};
	round_trip(T0, r, 6);
	round_trip(T0, r, 1);
}

/* --- malformed input (invariant 2) -------------------------------------------------- */

/* A valid block with every kind of record, used as the base of the damage. */
static unsigned char *sample_block(size_t *len)
{
	struct raw_rec r[] = {
		{ T0 + 1, 0.1, 0, 0 },		{ T0 + 1, 850.25, 1, 0 },
		{ T0 + 900000, 1.0 / 3, 0, 1 }, { T0 + 1800000, 12345.678, 0, 0 },
		{ T0 + 1800000, -0.0, 300, 2 }, { T0 + H, 5.5, (1u << 28) - 1, 3 },
	};
	return encode(T0, r, sizeof(r) / sizeof(r[0]), len);
}

/* decode must fail with KW_EINVAL and leave *n (and the records already
 * there) as they were. */
static void assert_rejected(const unsigned char *data, size_t len)
{
	struct raw_rec keep = { T0 - 5, 7.25, 3, 1 };
	struct raw_rec *out = malloc(sizeof(*out));
	size_t n = 1, cap = 1;
	bool kept;
	int rc;

	assert_non_null(out);
	out[0] = keep;
	rc = decode_exact(T0, data, len, &out, &n, &cap);
	kept = out[0].ts == keep.ts && to_bits(out[0].value) == to_bits(keep.value) &&
	       out[0].channel == keep.channel && out[0].flags == keep.flags;
	free(out); /* before asserting: a failure must not also report a leak */
	if (rc != KW_EINVAL)
		fail_msg("a malformed block of %zu bytes decoded with %d, expected KW_EINVAL", len,
			 rc);
	assert_int_equal(n, 1);
	assert_true(kept);
}

static void empty_and_wrong_version_are_rejected(void **state)
{
	size_t len;
	unsigned char *good = sample_block(&len);
	unsigned char *bad = malloc(len);
	static const unsigned char one[] = { 1 };

	assert_rejected(NULL, 0);
	assert_rejected(one, 1); /* a version and no count */
	for (int v = 0; v < 256; v++) {
		if (v == 1)
			continue;
		memcpy(bad, good, len);
		bad[0] = (unsigned char)v;
		assert_rejected(bad, len);
	}
	free(bad);
	free(good);
}

static void every_truncation_is_rejected(void **state)
{
	/* Cut a valid block at every byte position: each prefix is rejected,
	 * and (ASan) none is read past its end. */
	size_t len;
	unsigned char *good = sample_block(&len);
	struct raw_rec *out = NULL;
	size_t n = 0, cap = 0;

	assert_true(len > 30);
	assert_int_equal(decode_exact(T0, good, len, &out, &n, &cap), 0);
	assert_int_equal(n, 6);
	free(out);
	for (size_t k = 0; k < len; k++)
		assert_rejected(good, k);
	free(good);
}

static void trailing_garbage_is_rejected(void **state)
{
	size_t len;
	unsigned char *good = sample_block(&len);
	unsigned char *bad = malloc(len + 3);

	memcpy(bad, good, len);
	memcpy(bad + len, "\x00\x01\x80", 3);
	for (size_t extra = 1; extra <= 3; extra++)
		assert_rejected(bad, len + extra);
	free(bad);
	free(good);
}

static void count_larger_than_the_data_is_rejected(void **state)
{
	/* count 2 with one record; count 2^63 (would be a huge allocation:
	 * it must be refused before allocating); count 2^64 - 1. */
	static const unsigned char two[] = { 1, 2, 0xd0, 0x0f, 0x01, 0x02 };
	static const unsigned char huge[] = { 1,    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					      0x80, 0x80, 0x01, 0xd0, 0x0f, 0x01, 0x02 };
	static const unsigned char max[] = { 1,	   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0x01, 0xd0, 0x0f, 0x01, 0x02 };
	static const unsigned char one[] = { 1, 1, 0xd0, 0x0f, 0x01, 0x02 };
	struct raw_rec *out = NULL;
	size_t n = 0, cap = 0;

	/* The same bytes with count 1 are a valid block: ts T0 + 1000, k 1. */
	assert_int_equal(decode_exact(T0, one, sizeof(one), &out, &n, &cap), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].ts, T0 + 1000);
	assert_int_equal(to_bits(out[0].value), to_bits(1e-6));
	free(out);
	assert_rejected(two, sizeof(two));
	assert_rejected(huge, sizeof(huge));
	assert_rejected(max, sizeof(max));
}

static void unknown_kinds_and_channels_are_rejected(void **state)
{
	/* Tag kinds 2 and 3 do not exist; a channel beyond 32 bits cannot be
	 * a channel id. */
	static const unsigned char kind2[] = { 1, 1, 0xd0, 0x0f, 0x02, 0x02 };
	static const unsigned char kind3[] = { 1, 1, 0xd0, 0x0f, 0x03, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* tag = 2^32 << 4 | 1: varint of 2^36 + 1 */
	static const unsigned char wide[] = { 1,    1,	  0xd0, 0x0f, 0x81, 0x80,
					      0x80, 0x80, 0x80, 0x02, 0x02 };

	assert_rejected(kind2, sizeof(kind2));
	assert_rejected(kind3, sizeof(kind3));
	assert_rejected(wide, sizeof(wide));
}

static void varints_longer_than_10_bytes_are_rejected(void **state)
{
	/* A uint64 takes at most 10 varint bytes: an 11th is damage, in the
	 * count, the ts delta, the tag or the k delta.  Each over-long varint
	 * holds a small value (1, or 2 for k), so with a 1-byte varint in its
	 * place the block would be valid: its length is the only damage. */
	static const unsigned char count[] = { 1,    0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					       0x80, 0x80, 0x80, 0x00, 0xd0, 0x0f, 0x01, 0x02 };
	static const unsigned char ts[] = { 1,	  1,	0x81, 0x80, 0x80, 0x80, 0x80, 0x80,
					    0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02 };
	static const unsigned char tag[] = { 1,	   1,	 0xd0, 0x0f, 0x81, 0x80, 0x80, 0x80,
					     0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x02 };
	static const unsigned char k[] = { 1,	 1,    0xd0, 0x0f, 0x01, 0x82, 0x80, 0x80,
					   0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };

	assert_rejected(count, sizeof(count));
	assert_rejected(ts, sizeof(ts));
	assert_rejected(tag, sizeof(tag));
	assert_rejected(k, sizeof(k));
}

static void varints_beyond_64_bits_are_rejected(void **state)
{
	/* Ten bytes carry 70 bits: a 10th byte above 1 encodes a value of
	 * 2^64 or more, which no encoder writes (invariant 2: malformed).
	 * Here the ts delta: nine 0x80 then 0x02, i.e. 2^64 -- read as 0 if
	 * the overflowing bit is dropped.  (Fails with rawblock.c as it is:
	 * get_varint() shifts the 10th byte's 7 bits left by 63 and keeps
	 * whatever fits, so both blocks decode, to wrong values.) */
	static const unsigned char ts[] = { 1,	  1,	0x80, 0x80, 0x80, 0x80, 0x80,
					    0x80, 0x80, 0x80, 0x80, 0x02, 0x01, 0x02 };
	/* The k delta: nine 0xff then 0x7f, 2^70 - 1. */
	static const unsigned char k[] = { 1,	 1,    0xd0, 0x0f, 0x01, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	struct raw_rec *out = NULL;
	size_t n = 0, cap = 0;
	int rc_ts = decode_exact(T0, ts, sizeof(ts), &out, &n, &cap);
	int rc_k = decode_exact(T0, k, sizeof(k), &out, &n, &cap);

	free(out);
	if (rc_ts != KW_EINVAL || rc_k != KW_EINVAL)
		fail_msg("varints of 2^64 (ts delta) and 2^70 - 1 (k delta) decoded with %d and "
			 "%d, expected KW_EINVAL (%d) for both",
			 rc_ts, rc_k, KW_EINVAL);
}

static void random_damage_never_crashes(void **state)
{
	/* Flip bytes of a valid block (a fixed pseudo-random sequence): each
	 * result either decodes (to anything) or is rejected with KW_EINVAL,
	 * and never reads past its end (ASan). */
	size_t len;
	unsigned char *good = sample_block(&len);
	unsigned char *bad = malloc(len);
	uint32_t x = 12345;

	for (int i = 0; i < 20000; i++) {
		struct raw_rec *out = NULL;
		size_t n = 0, cap = 0, cut;
		int rc;

		memcpy(bad, good, len);
		for (int f = 0; f < 1 + i % 3; f++) {
			x = x * 1103515245u + 12345u;
			bad[(x >> 8) % len] = (unsigned char)(x >> 20);
		}
		x = x * 1103515245u + 12345u;
		cut = i % 2 ? len : (x >> 8) % (len + 1);
		rc = decode_exact(T0, bad, cut, &out, &n, &cap);
		assert_true(rc == 0 || rc == KW_EINVAL);
		if (rc)
			assert_int_equal(n, 0);
		free(out);
	}
	free(bad);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base_is_the_hour_before_ts_minus_1ms),
		cmocka_unit_test(decimal_values_round_trip),
		cmocka_unit_test(non_decimal_values_round_trip_bit_for_bit),
		cmocka_unit_test(mixed_kinds_keep_the_decimal_chain),
		cmocka_unit_test(channels_and_flags_round_trip),
		cmocka_unit_test(timestamp_deltas_round_trip),
		cmocka_unit_test(decode_appends_after_existing_records),
		cmocka_unit_test(decimal_values_take_fewer_than_8_bytes),
		cmocka_unit_test(a_meters_hour_is_about_5_bytes_a_reading),
		cmocka_unit_test(worst_case_fits_the_bound),
		cmocka_unit_test(empty_and_wrong_version_are_rejected),
		cmocka_unit_test(every_truncation_is_rejected),
		cmocka_unit_test(trailing_garbage_is_rejected),
		cmocka_unit_test(count_larger_than_the_data_is_rejected),
		cmocka_unit_test(unknown_kinds_and_channels_are_rejected),
		cmocka_unit_test(varints_longer_than_10_bytes_are_rejected),
		cmocka_unit_test(varints_beyond_64_bits_are_rejected),
		cmocka_unit_test(random_damage_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
