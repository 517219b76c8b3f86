/* Unit tests: upstream choice and health (resolver/dns/rs_upstream.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rs.h"

#define NO_EXPLORE 1u /* any coin with coin % 32 != 0 */

static void fail_n(struct rs_upstream_health *h, int n, uint64_t now)
{
	for (int i = 0; i < n; i++)
		rs_upstream_failed(h, now);
}

static void test_pick_lowest_srtt(void **state)
{
	struct rs_upstream_health h[4];

	memset(h, 0, sizeof(h));
	h[0].srtt_ms = 40;
	h[1].srtt_ms = 10;
	h[2].srtt_ms = 25;
	h[3].srtt_ms = 10; /* a tie: the first one wins */
	assert_int_equal(rs_upstream_pick(h, 4, 0, 0, NO_EXPLORE), 1);
	assert_int_equal(rs_upstream_pick(h, 4, 1u << 1, 0, NO_EXPLORE), 3);
	assert_int_equal(rs_upstream_pick(h, 4, (1u << 1) | (1u << 3), 0, NO_EXPLORE), 2);
	assert_int_equal(rs_upstream_pick(h, 4, 0xe, 0, NO_EXPLORE), 0);
	assert_int_equal(rs_upstream_pick(h, 4, 0xf, 0, NO_EXPLORE), -1);
	assert_int_equal(rs_upstream_pick(h, 0, 0, 0, NO_EXPLORE), -1);
	/* Never measured (0) sorts first, so a new upstream gets tried. */
	h[2].srtt_ms = 0;
	assert_int_equal(rs_upstream_pick(h, 4, 0, 0, NO_EXPLORE), 2);
}

static void test_down_only_when_nothing_else(void **state)
{
	struct rs_upstream_health h[3];
	uint64_t now = 100000;

	memset(h, 0, sizeof(h));
	h[0].srtt_ms = 5;
	h[1].srtt_ms = 50;
	h[2].srtt_ms = 80;
	fail_n(&h[0], 3, now); /* down for 1 s */
	assert_int_equal(rs_upstream_pick(h, 3, 0, now, NO_EXPLORE), 1);
	assert_int_equal(rs_upstream_pick(h, 3, 1u << 1, now, NO_EXPLORE), 2);
	assert_int_equal(rs_upstream_pick(h, 3, 0x6, now, NO_EXPLORE), 0);
	assert_int_equal(rs_upstream_pick(h, 3, 0x7, now, NO_EXPLORE), -1);
	/* With two down, the one that comes back first is preferred. */
	fail_n(&h[1], 4, now); /* down for 2 s */
	assert_int_equal(rs_upstream_pick(h, 3, 1u << 2, now, NO_EXPLORE), 0);
	/* Once the back-off is over it is healthy again. */
	assert_int_equal(rs_upstream_pick(h, 3, 0x6, now + 1000, NO_EXPLORE), 0);
	/* Exploration never picks a down upstream. */
	for (uint32_t coin = 0; coin < 32 * 64; coin += 32)
		assert_int_equal(rs_upstream_pick(h, 3, 0, now, coin), 2);
}

static void test_exploration(void **state)
{
	struct rs_upstream_health h[4];
	int seen[4] = {0};

	memset(h, 0, sizeof(h));
	for (int i = 0; i < 4; i++)
		h[i].srtt_ms = 10u + (uint32_t)i;
	for (uint32_t coin = 0; coin < 32 * 16; coin++) {
		int i = rs_upstream_pick(h, 4, 1u << 2, 0, coin);
		assert_true(i >= 0 && i < 4 && i != 2);
		if (coin % 32)
			assert_int_equal(i, 0);
		else
			seen[i]++;
	}
	/* 1 in 32 picks spread over the untried healthy ones: (coin / 32) % 3. */
	assert_true(seen[0] > 0 && seen[1] > 0 && seen[3] > 0);
	assert_int_equal(rs_upstream_pick(h, 4, 1u << 2, 0, 32 * 1), 1);
	assert_int_equal(rs_upstream_pick(h, 4, 1u << 2, 0, 32 * 2), 3);
	/* With a single healthy candidate there is nothing to explore. */
	assert_int_equal(rs_upstream_pick(h, 4, 0xe, 0, 32), 0);
}

static void test_failed_backoff(void **state)
{
	struct rs_upstream_health h;
	uint64_t now = 5000;

	memset(&h, 0, sizeof(h));
	rs_upstream_failed(&h, now);
	assert_int_equal(h.fails, 1);
	assert_int_equal(h.srtt_ms, 500); /* unmeasured: assume slow */
	assert_int_equal(h.down_until, 0);
	rs_upstream_failed(&h, now);
	assert_int_equal(h.srtt_ms, 1000); /* doubled */
	assert_int_equal(h.down_until, 0);
	rs_upstream_failed(&h, now);
	assert_int_equal(h.fails, 3);
	assert_int_equal(h.down_until, now + 1000);
	rs_upstream_failed(&h, now);
	assert_int_equal(h.down_until, now + 2000);
	rs_upstream_failed(&h, now);
	assert_int_equal(h.down_until, now + 4000);
	fail_n(&h, 20, now);
	assert_int_equal(h.down_until, now + 60000); /* capped at a minute */
	assert_int_equal(h.srtt_ms, 10000);          /* capped at 10 s */
}

static void test_ok_resets(void **state)
{
	struct rs_upstream_health h[2];
	uint64_t now = 1000;

	memset(h, 0, sizeof(h));
	rs_upstream_ok(&h[0], 80);
	assert_int_equal(h[0].srtt_ms, 80); /* first sample taken as is */
	rs_upstream_ok(&h[0], 0);
	assert_int_equal(h[0].srtt_ms, (80 * 7 + 1) / 8); /* 0 counts as 1 ms */
	rs_upstream_ok(&h[0], 160);
	assert_int_equal(h[0].srtt_ms, (70 * 7 + 160) / 8);

	h[1].srtt_ms = 500;
	fail_n(&h[0], 5, now);
	assert_int_equal(rs_upstream_pick(h, 2, 0, now, NO_EXPLORE), 1);
	rs_upstream_ok(&h[0], 20);
	assert_int_equal(h[0].fails, 0);
	assert_int_equal(h[0].down_until, 0);
	assert_int_equal(rs_upstream_pick(h, 2, 0, now, NO_EXPLORE), 1); /* srtt still high */
	for (int i = 0; i < 40; i++)
		rs_upstream_ok(&h[0], 20);
	assert_int_equal(rs_upstream_pick(h, 2, 0, now, NO_EXPLORE), 0);
}

static void test_sixteen_upstreams(void **state)
{
	struct rs_upstream_health h[RS_MAX_UPSTREAMS];

	memset(h, 0, sizeof(h));
	for (int i = 0; i < RS_MAX_UPSTREAMS; i++)
		h[i].srtt_ms = 100u - (uint32_t)i;
	assert_int_equal(rs_upstream_pick(h, RS_MAX_UPSTREAMS, 0, 0, NO_EXPLORE), 15);
	assert_int_equal(rs_upstream_pick(h, RS_MAX_UPSTREAMS, 0x7fff, 0, NO_EXPLORE), 15);
	assert_int_equal(rs_upstream_pick(h, RS_MAX_UPSTREAMS, 0x8000, 0, NO_EXPLORE), 14);
	assert_int_equal(rs_upstream_pick(h, RS_MAX_UPSTREAMS, 0xffff, 0, NO_EXPLORE), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pick_lowest_srtt),
	    cmocka_unit_test(test_down_only_when_nothing_else),
	    cmocka_unit_test(test_exploration),
	    cmocka_unit_test(test_failed_backoff),
	    cmocka_unit_test(test_ok_resets),
	    cmocka_unit_test(test_sixteen_upstreams),
	};

	return cmocka_run_group_tests_name("rs_upstream", tests, NULL, NULL);
}
