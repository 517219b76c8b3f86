/* Unit tests: socket addresses, CIDR prefixes and list splitting (common/kg_addr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "kg_addr.h"

static void sa_ok(const char *text, uint16_t def, const char *want)
{
	struct kg_sockaddr a;
	char buf[KG_ADDRSTRLEN];

	assert_int_equal(kg_sockaddr_parse(text, def, &a), 0);
	assert_string_equal(kg_sockaddr_str((const struct sockaddr *)&a.ss, buf, sizeof(buf)),
	                    want);
	assert_int_equal(a.len, a.ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                                  : sizeof(struct sockaddr_in6));
}

static void sa_bad(const char *text)
{
	struct kg_sockaddr a;

	assert_int_equal(kg_sockaddr_parse(text, 53, &a), -1);
}

static void test_sockaddr_parse(void **state)
{
	sa_ok("127.0.0.1", 53, "127.0.0.1:53");
	sa_ok("127.0.0.1:5353", 53, "127.0.0.1:5353");
	sa_ok("1.2.3.4:65535", 53, "1.2.3.4:65535");
	sa_ok("[::1]", 853, "[::1]:853");
	sa_ok("[::1]:5353", 53, "[::1]:5353");
	sa_ok("[2001:db8::1]:1", 53, "[2001:db8::1]:1");
	sa_ok("2001:db8::1", 53, "[2001:db8::1]:53"); /* bare v6: the default port */
	sa_ok("::", 53, "[::]:53");
	sa_ok("[::ffff:10.0.0.1]:53", 53, "[::ffff:10.0.0.1]:53");

	sa_bad("");
	sa_bad(":53");
	sa_bad("1.2.3.4:");
	sa_bad("1.2.3.4:0");
	sa_bad("1.2.3.4:65536");
	sa_bad("1.2.3.4:53x");
	sa_bad("1.2.3.4:-1");
	sa_bad("1.2.3");
	sa_bad("256.1.1.1");
	sa_bad("example.com");
	sa_bad("[::1");
	sa_bad("[]:53");
	sa_bad("[::1]53");
	sa_bad("[::1]:");
	sa_bad("[1.2.3.4]:53");
	sa_bad("[::1]:99999");
	sa_bad("fe80::1%eth0");
	sa_bad("[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]");
}

static void cidr_ok(const char *text, int family, unsigned prefix)
{
	struct kg_cidr c;

	assert_int_equal(kg_cidr_parse(text, &c), 0);
	assert_int_equal(c.family, family);
	assert_int_equal(c.prefix, prefix);
}

static void test_cidr_parse(void **state)
{
	struct kg_cidr c;

	cidr_ok("10.0.0.0/8", AF_INET, 8);
	cidr_ok("0.0.0.0/0", AF_INET, 0);
	cidr_ok("192.0.2.1", AF_INET, 32);
	cidr_ok("fd00::/8", AF_INET6, 8);
	cidr_ok("::/0", AF_INET6, 0);
	cidr_ok("::1", AF_INET6, 128);
	cidr_ok("2001:db8::/128", AF_INET6, 128);

	/* Host bits are cleared. */
	assert_int_equal(kg_cidr_parse("192.168.1.77/20", &c), 0);
	assert_int_equal(c.addr[2], 0);
	assert_int_equal(c.addr[3], 0);
	assert_int_equal(c.addr[1], 168);
	assert_int_equal(kg_cidr_parse("10.255.255.255/9", &c), 0);
	assert_int_equal(c.addr[1], 0x80);

	assert_int_equal(kg_cidr_parse("", &c), -1);
	assert_int_equal(kg_cidr_parse("/8", &c), -1);
	assert_int_equal(kg_cidr_parse("10.0.0.0/", &c), -1);
	assert_int_equal(kg_cidr_parse("10.0.0.0/33", &c), -1);
	assert_int_equal(kg_cidr_parse("10.0.0.0/-1", &c), -1);
	assert_int_equal(kg_cidr_parse("10.0.0.0/8x", &c), -1);
	assert_int_equal(kg_cidr_parse("fd00::/129", &c), -1);
	assert_int_equal(kg_cidr_parse("10.0.0/8", &c), -1);
	assert_int_equal(kg_cidr_parse("host.example/8", &c), -1);
}

static bool match4(const char *cidr, const char *addr)
{
	struct kg_cidr c;
	struct sockaddr_in sin = {.sin_family = AF_INET};

	assert_int_equal(kg_cidr_parse(cidr, &c), 0);
	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	return kg_cidr_match(&c, (const struct sockaddr *)&sin);
}

static bool match6(const char *cidr, const char *addr)
{
	struct kg_cidr c;
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	assert_int_equal(kg_cidr_parse(cidr, &c), 0);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	return kg_cidr_match(&c, (const struct sockaddr *)&sin6);
}

static void test_cidr_match(void **state)
{
	assert_true(match4("10.0.0.0/8", "10.255.1.2"));
	assert_false(match4("10.0.0.0/8", "11.0.0.0"));
	assert_true(match4("172.16.0.0/12", "172.31.255.255"));
	assert_false(match4("172.16.0.0/12", "172.32.0.0"));
	assert_true(match4("0.0.0.0/0", "8.8.8.8"));
	assert_true(match4("192.0.2.1", "192.0.2.1"));
	assert_false(match4("192.0.2.1", "192.0.2.2"));
	assert_false(match4("fd00::/8", "10.0.0.1")); /* families differ */

	assert_true(match6("fd00::/8", "fd12:3456::1"));
	assert_false(match6("fd00::/8", "fe80::1"));
	assert_true(match6("fe80::/10", "febf::1"));
	assert_false(match6("fe80::/10", "fec0::1"));
	assert_true(match6("::/0", "2001:db8::1"));
	assert_true(match6("::1", "::1"));
	assert_false(match6("::1", "::2"));
	assert_false(match6("10.0.0.0/8", "2001:db8::1"));

	/* A v4-mapped client (dual-stack socket) matches IPv4 prefixes. */
	assert_true(match6("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(match6("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_true(match6("127.0.0.1", "::ffff:127.0.0.1"));
	assert_true(match6("0.0.0.0/0", "::ffff:1.2.3.4"));
	assert_false(match6("0.0.0.0/0", "::1.2.3.4")); /* v4-compatible is not v4-mapped */
	/* ...and IPv6 prefixes as the v6 address it is. */
	assert_true(match6("::ffff:0:0/96", "::ffff:1.2.3.4"));
}

static void prefix_of(const char *text, const uint8_t want[KG_ADDR_PREFIX_LEN], bool known)
{
	struct kg_sockaddr a;
	uint8_t pfx[KG_ADDR_PREFIX_LEN];

	assert_int_equal(kg_sockaddr_parse(text, 53, &a), 0);
	assert_int_equal(kg_addr_prefix((const struct sockaddr *)&a.ss, pfx), known);
	assert_memory_equal(pfx, want, KG_ADDR_PREFIX_LEN);
}

static void test_addr_prefix(void **state)
{
	static const uint8_t v4[8] = {4, 192, 0, 2},
	                     v6[8] = {6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12},
	                     v6b[8] = {6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x13}, zero[8] = {0};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	uint8_t pfx[KG_ADDR_PREFIX_LEN];

	(void)state;
	/* One /24, one /56: the host part and the rest of the /64 do not count. */
	prefix_of("192.0.2.7", v4, true);
	prefix_of("192.0.2.200:853", v4, true);
	prefix_of("[::ffff:192.0.2.9]", v4, true); /* dual-stack socket: the IPv4 client */
	prefix_of("[2001:db8:0:1234::1]", v6, true);
	prefix_of("[2001:db8:0:12ff:ffff::1]", v6, true);
	prefix_of("[2001:db8:0:1300::1]", v6b, true);
	/* No address, or one of another family: no key (the callers decide what it shares). */
	assert_false(kg_addr_prefix(NULL, pfx));
	assert_memory_equal(pfx, zero, sizeof(pfx));
	memset(pfx, 0xaa, sizeof(pfx));
	assert_false(kg_addr_prefix((const struct sockaddr *)&un, pfx));
	assert_memory_equal(pfx, zero, sizeof(pfx));
}

static void test_split_list(void **state)
{
	char s[128];
	char *items[4];

	strcpy(s, "a, b,c\td  ");
	assert_int_equal(kg_split_list(s, items, 4), 4);
	assert_string_equal(items[0], "a");
	assert_string_equal(items[1], "b");
	assert_string_equal(items[2], "c");
	assert_string_equal(items[3], "d");

	strcpy(s, " ,, , ");
	assert_int_equal(kg_split_list(s, items, 4), 0);
	strcpy(s, "");
	assert_int_equal(kg_split_list(s, items, 4), 0);
	strcpy(s, "1 2 3 4 5");
	assert_int_equal(kg_split_list(s, items, 4), -1);
	strcpy(s, "[::1]:53,10.0.0.1");
	assert_int_equal(kg_split_list(s, items, 4), 2);
	assert_string_equal(items[0], "[::1]:53");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sockaddr_parse), cmocka_unit_test(test_cidr_parse),
	    cmocka_unit_test(test_cidr_match),     cmocka_unit_test(test_addr_prefix),
	    cmocka_unit_test(test_split_list),
	};

	return cmocka_run_group_tests_name("kg_addr", tests, NULL, NULL);
}
