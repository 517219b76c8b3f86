/* Unit tests: per-client token buckets (resolver/dns/rs_ratelimit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "rs_dns.h"

static uint64_t key4(const char *ip, int prefix)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return rs_ratelimit_key((struct sockaddr *)&sin, prefix, 56);
}

static uint64_t key6(const char *ip, int prefix)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	return rs_ratelimit_key((struct sockaddr *)&sin6, 32, prefix);
}

static void test_keys(void **state)
{
	assert_int_equal(key4("192.0.2.1", 32) == key4("192.0.2.2", 32), 0);
	assert_int_equal(key4("192.0.2.1", 24), key4("192.0.2.200", 24));
	assert_int_not_equal(key4("192.0.2.1", 24), key4("192.0.3.1", 24));
	/* a /56 is one subscriber line: every address in it is one client */
	assert_int_equal(key6("2001:db8:0:100::1", 56), key6("2001:db8:0:1ff:ffff::9", 56));
	assert_int_not_equal(key6("2001:db8:0:100::1", 56), key6("2001:db8:0:200::1", 56));
	assert_int_not_equal(key6("::c000:201", 56), key4("192.0.2.1", 32));
}

static void test_bucket(void **state)
{
	struct rs_ratelimit *rl = NULL;
	uint64_t a = key4("192.0.2.1", 32), b = key4("192.0.2.2", 32);
	int ok = 0;

	assert_int_equal(rs_ratelimit_new(1024, 12345, &rl), 0);
	/* burst 20 at t=0: exactly 20 pass */
	for (int i = 0; i < 100; i++)
		ok += rs_ratelimit_allow(rl, a, 1000, 10, 20);
	assert_int_equal(ok, 20);
	/* another client is not affected */
	assert_true(rs_ratelimit_allow(rl, b, 1000, 10, 20));
	/* 10 qps: after 500 ms, 5 more */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += rs_ratelimit_allow(rl, a, 1500, 10, 20);
	assert_int_equal(ok, 5);
	/* a long pause refills only up to the burst */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += rs_ratelimit_allow(rl, a, 100000, 10, 20);
	assert_int_equal(ok, 20);
	rs_ratelimit_free(rl);
}

static void test_table_is_bounded(void **state)
{
	struct rs_ratelimit *rl = NULL;
	uint64_t target = key4("198.51.100.7", 32);
	int ok = 0;

	assert_int_equal(rs_ratelimit_new(1024, 99, &rl), 0);
	/* a spoofed flood from 100000 sources recycles slots; memory does not grow and the
	 * table keeps working for a real client */
	for (uint32_t i = 0; i < 100000; i++)
		rs_ratelimit_allow(rl, (4ULL << 56) | i, 2000 + i / 100, 1, 1);
	for (int i = 0; i < 10; i++)
		ok += rs_ratelimit_allow(rl, target, 3000, 10, 5);
	assert_int_equal(ok, 5);
	rs_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_bucket),
	    cmocka_unit_test(test_table_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
