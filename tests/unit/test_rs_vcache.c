/*
 * Unit tests: the verdict cache (resolver/dns/rs_vcache.c): hits and misses, the bound,
 * eviction within a set, a new store generation dropping everything, and what is not kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rs_dns.h"

/* "\5nameN\4test\0" */
static size_t name_of(int i, uint8_t *out)
{
	char label[16];
	int n = snprintf(label, sizeof(label), "name%d", i);

	out[0] = (uint8_t)n;
	memcpy(out + 1, label, (size_t)n);
	memcpy(out + 1 + n, "\4test", 6);
	return (size_t)n + 7;
}

static void put(struct rs_vcache *vc, uint64_t gen, int i)
{
	uint8_t name[32];
	size_t len = name_of(i, name);
	uint32_t val = (uint32_t)i * 7u;

	assert_int_equal(rs_vcache_put(vc, gen, name, len, &val, sizeof(val)), 0);
}

/* The value stored for name i, or -1 on a miss. */
static long get(struct rs_vcache *vc, int i)
{
	uint8_t name[32], val[RS_VCACHE_VAL_MAX];
	size_t len = name_of(i, name), vlen = 0;
	uint32_t v;

	if (!rs_vcache_get(vc, name, len, val, &vlen))
		return -1;
	assert_int_equal(vlen, sizeof(v));
	memcpy(&v, val, sizeof(v));
	return v;
}

static void test_off(void **state)
{
	struct rs_vcache *vc = (void *)1;

	(void)state;
	assert_int_equal(rs_vcache_new(0, &vc), 0);
	assert_null(vc);
	rs_vcache_free(NULL);
}

static void test_hit_miss(void **state)
{
	struct rs_vcache *vc;
	struct rs_vcache_stats st;

	(void)state;
	assert_int_equal(rs_vcache_new(1024, &vc), 0);
	rs_vcache_generation(vc, 5);
	assert_int_equal(get(vc, 1), -1);
	put(vc, 5, 1);
	put(vc, 5, 2);
	assert_int_equal(get(vc, 1), 7);
	assert_int_equal(get(vc, 2), 14);
	assert_int_equal(get(vc, 3), -1);
	put(vc, 5, 1); /* replacing keeps one entry */
	rs_vcache_stats(vc, &st);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.capacity, 1024);
	rs_vcache_free(vc);
}

/* Never more slots than configured, and a full set evicts one name, not a random other. */
static void test_bound_and_eviction(void **state)
{
	struct rs_vcache *vc;
	struct rs_vcache_stats st;
	int live = 0;

	(void)state;
	/* one set of RS_VCACHE_WAYS */
	assert_int_equal(rs_vcache_new(RS_VCACHE_WAYS * 3 / 2, &vc), 0);
	rs_vcache_stats(vc, &st);
	assert_true(st.capacity <= RS_VCACHE_WAYS * 3 / 2);
	assert_int_equal(st.capacity, RS_VCACHE_WAYS);
	rs_vcache_generation(vc, 1);
	for (int i = 0; i < 100; i++)
		put(vc, 1, i);
	for (int i = 0; i < 100; i++)
		if (get(vc, i) >= 0) {
			assert_int_equal(get(vc, i), i * 7);
			live++;
		}
	assert_int_equal(live, RS_VCACHE_WAYS);
	assert_true(get(vc, 99) == 99 * 7); /* the newest always stays */
	rs_vcache_stats(vc, &st);
	assert_int_equal(st.evictions, 100 - RS_VCACHE_WAYS);
	assert_int_equal(st.entries, RS_VCACHE_WAYS);
	rs_vcache_free(vc);
}

/* A commit to the store (a new generation) drops every entry at once; a value read in
 * another snapshot is not kept. */
static void test_generation(void **state)
{
	struct rs_vcache *vc;
	struct rs_vcache_stats st;

	(void)state;
	assert_int_equal(rs_vcache_new(256, &vc), 0);
	rs_vcache_generation(vc, 10);
	for (int i = 0; i < 50; i++)
		put(vc, 10, i);
	rs_vcache_generation(vc, 10); /* the same generation: nothing changes */
	assert_int_equal(get(vc, 3), 21);
	rs_vcache_generation(vc, 11);
	for (int i = 0; i < 50; i++)
		assert_int_equal(get(vc, i), -1);
	rs_vcache_stats(vc, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.flushes, 2);
	{
		uint8_t name[32];
		size_t len = name_of(1, name);
		uint32_t val = 1;
		assert_int_equal(rs_vcache_put(vc, 10, name, len, &val, sizeof(val)), RS_EINVAL);
	}
	assert_int_equal(get(vc, 1), -1);
	put(vc, 11, 1);
	assert_int_equal(get(vc, 1), 7);
	rs_vcache_free(vc);
}

/* Names longer than a slot holds and oversized values are refused, never truncated. */
static void test_too_long(void **state)
{
	struct rs_vcache *vc;
	uint8_t name[RS_VCACHE_NAME_MAX + 2], val[RS_VCACHE_VAL_MAX + 1] = {0}, out[64];
	size_t vlen;

	(void)state;
	memset(name, 'a', sizeof(name));
	name[0] = RS_VCACHE_NAME_MAX; /* one label filling the slot, plus the root: too long */
	name[sizeof(name) - 1] = 0;
	assert_int_equal(rs_vcache_new(64, &vc), 0);
	rs_vcache_generation(vc, 1);
	assert_int_equal(rs_vcache_put(vc, 1, name, sizeof(name), val, 4), RS_EINVAL);
	assert_false(rs_vcache_get(vc, name, sizeof(name), out, &vlen));
	assert_int_equal(rs_vcache_put(vc, 1, (const uint8_t *)"\0", 1, val, sizeof(val)),
	                 RS_EINVAL);
	rs_vcache_free(vc);
}

/* The epoch a slot is stamped with is 16 bits: when it wraps, an entry of 2^16 generations
 * ago must not come back. */
static void test_epoch_wrap(void **state)
{
	struct rs_vcache *vc;

	(void)state;
	assert_int_equal(rs_vcache_new(64, &vc), 0);
	rs_vcache_generation(vc, 1);
	put(vc, 1, 1);
	assert_int_equal(get(vc, 1), 7);
	for (uint64_t g = 2; g < 70000; g++) {
		rs_vcache_generation(vc, g);
		if (get(vc, 1) != -1)
			fail_msg("an entry of generation 1 came back at generation %llu",
			         (unsigned long long)g);
	}
	put(vc, 69999, 1);
	assert_int_equal(get(vc, 1), 7);
	rs_vcache_free(vc);
}

/* The longest name kept with the largest value: both fit a slot, and come back whole. */
static void test_longest(void **state)
{
	struct rs_vcache *vc;
	uint8_t name[RS_VCACHE_NAME_MAX], val[RS_VCACHE_VAL_MAX], out[RS_VCACHE_VAL_MAX];
	size_t vlen = 0;

	(void)state;
	memset(name, 'b', sizeof(name));
	name[0] = RS_VCACHE_NAME_MAX - 2; /* one label, then the root */
	name[sizeof(name) - 1] = 0;
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i + 1);
	assert_int_equal(rs_vcache_new(64, &vc), 0);
	rs_vcache_generation(vc, 1);
	assert_int_equal(rs_vcache_put(vc, 1, name, sizeof(name), val, sizeof(val)), 0);
	assert_true(rs_vcache_get(vc, name, sizeof(name), out, &vlen));
	assert_int_equal(vlen, sizeof(val));
	assert_memory_equal(out, val, sizeof(val));
	/* the same name again with a shorter value: the name moves, still found */
	assert_int_equal(rs_vcache_put(vc, 1, name, sizeof(name), val, 8), 0);
	assert_true(rs_vcache_get(vc, name, sizeof(name), out, &vlen));
	assert_int_equal(vlen, 8);
	assert_memory_equal(out, val, 8);
	rs_vcache_free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_hit_miss),
	    cmocka_unit_test(test_bound_and_eviction),
	    cmocka_unit_test(test_generation),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_epoch_wrap),
	    cmocka_unit_test(test_longest),
	};
	return cmocka_run_group_tests_name("rs_vcache", tests, NULL, NULL);
}
