/*
 * test_hmap.c - unit tests for src/core/hmap.c.
 *
 * A map is driven by long random sequences of every operation and compared
 * after each step with a plain array holding the same entries, so a lost
 * entry, a stale value or a broken probe chain after a deletion (invariant
 * 3) fails at the step that caused it.  Key 0, which lives outside the slots
 * (invariant 2), is one of the keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "core/hmap.h"
#include "core/banned.h"

#define NKEYS 512

/* The expected contents: key keys[i] is present with value vals[i]. */
struct model {
	uint64_t keys[NKEYS];
	bool present[NKEYS];
	uint64_t vals[NKEYS];
	size_t n;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Asserts that m holds exactly the entries of x, each seen once by hmap_next. */
static void check_same(const struct hmap *m, const struct model *x)
{
	bool seen[NKEYS] = { false };
	size_t count = 0;
	uint64_t k, v;

	assert_int_equal(m->used, x->n);
	for (size_t i = 0; i < NKEYS; i++) {
		bool found = hmap_get(m, x->keys[i], &v);

		assert_int_equal(found, x->present[i]);
		if (found)
			assert_int_equal(v, x->vals[i]);
	}
	for (size_t it = 0; hmap_next(m, &it, &k, &v);) {
		size_t i = 0;

		while (i < NKEYS && x->keys[i] != k)
			i++;
		assert_true(i < NKEYS);
		assert_true(x->present[i]);
		assert_false(seen[i]);
		assert_int_equal(v, x->vals[i]);
		seen[i] = true;
		count++;
	}
	assert_int_equal(count, x->n);
}

static void test_matches_model(void **state)
{
	struct hmap m = HMAP_INIT;
	struct model x = { .n = 0 };
	uint64_t seed = 0x2545F4914F6CDD1Du;

	/* Key 0, small and huge keys, and keys that differ only in high bits. */
	for (size_t i = 0; i < NKEYS; i++)
		x.keys[i] = i % 4 == 0 ? (uint64_t)i << 40 : i % 4 == 1 ? UINT64_MAX - i : i;
	for (int step = 0; step < 200000; step++) {
		size_t i = (size_t)(rnd(&seed) % (step < 100000 ? NKEYS : NKEYS / 8));
		uint64_t v = rnd(&seed), *p;

		switch (rnd(&seed) % 8) {
		case 0:
		case 1:
			hmap_put(&m, x.keys[i], v);
			x.n += !x.present[i];
			x.present[i] = true;
			x.vals[i] = v;
			break;
		case 2:
			p = hmap_upsert(&m, x.keys[i], v);
			assert_int_equal(*p, x.present[i] ? x.vals[i] : v);
			*p = v + 1;
			x.n += !x.present[i];
			x.present[i] = true;
			x.vals[i] = v + 1;
			break;
		case 3:
		case 4:
		case 5:
			assert_int_equal(hmap_del(&m, x.keys[i]), x.present[i]);
			x.n -= x.present[i];
			x.present[i] = false;
			break;
		case 6:
			if (rnd(&seed) % 1000 == 0) {
				hmap_clear(&m);
				memset(x.present, 0, sizeof(x.present));
				x.n = 0;
			}
			break;
		default:
			assert_int_equal(hmap_get(&m, x.keys[i], &v), x.present[i]);
			break;
		}
		if (step % 97 == 0)
			check_same(&m, &x);
	}
	check_same(&m, &x);
	hmap_release(&m);
}

static void test_zero_key(void **state)
{
	struct hmap m = HMAP_INIT;
	uint64_t k = 1, v = 1;
	size_t it = 0;

	assert_false(hmap_get(&m, 0, &v));
	assert_false(hmap_del(&m, 0));
	hmap_put(&m, 0, 7);
	assert_int_equal(m.used, 1);
	assert_true(hmap_get(&m, 0, &v));
	assert_int_equal(v, 7);
	assert_int_equal(*hmap_upsert(&m, 0, 9), 7);
	assert_true(hmap_next(&m, &it, &k, &v));
	assert_int_equal(k, 0);
	assert_int_equal(v, 7);
	assert_false(hmap_next(&m, &it, &k, &v));
	assert_true(hmap_del(&m, 0));
	assert_false(hmap_get(&m, 0, &v));
	assert_int_equal(m.used, 0);
	hmap_release(&m);
}

static void test_empty_and_release(void **state)
{
	struct hmap m = HMAP_INIT;
	uint64_t k, v;
	size_t it = 0;

	assert_false(hmap_get(&m, 42, &v));
	assert_false(hmap_del(&m, 42));
	assert_false(hmap_next(&m, &it, &k, &v));
	hmap_clear(&m);
	for (uint64_t i = 1; i <= 1000; i++)
		hmap_put(&m, i * 7919, i);
	assert_int_equal(m.used, 1000);
	hmap_release(&m);
	assert_int_equal(m.used, 0);
	assert_false(hmap_get(&m, 7919, &v));
	hmap_put(&m, 7919, 1); /* usable again after release */
	assert_true(hmap_get(&m, 7919, &v));
	hmap_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_zero_key),
		cmocka_unit_test(test_empty_and_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
