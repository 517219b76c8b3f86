/* Unit tests: the subscriber table (blocklist/bl_clients.c): prefixes, longest match, writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bl.h"

#include "bl_fixture.h"

static void put(struct bl_clients *t, const char *prefix, const char *profile)
{
	struct bl_prefix p;

	assert_int_equal(bl_prefix_parse(prefix, &p), 0);
	assert_int_equal(bl_clients_put(t, &p, profile), 0);
}

/* The profile for address text `ip`, or "" when none; `plen` receives the match length. */
static const char *lookup(struct fx *f, const char *ip, unsigned *plen)
{
	static char name[BL_CLIENT_PROFILE_MAX];
	struct bl_prefix a, m;
	int rc;

	assert_int_equal(bl_prefix_parse(ip, &a), 0);
	rc = bl_client_lookup(f->r, a.family, a.addr, name, sizeof(name), &m);
	if (rc == BL_ENOTFOUND)
		return "";
	assert_int_equal(rc, 0);
	if (plen)
		*plen = m.len;
	return name;
}

static void test_prefix_parse(void **state)
{
	struct bl_prefix p;
	char buf[64];

	assert_int_equal(bl_prefix_parse("10.0.0.0/8", &p), 0);
	assert_int_equal(p.family, BL_FAMILY_V4);
	assert_int_equal(p.len, 8);
	assert_string_equal(bl_prefix_str(&p, buf, sizeof(buf)), "10.0.0.0/8");
	assert_int_equal(bl_prefix_parse("192.0.2.1", &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(bl_prefix_parse("2001:db8::/32", &p), 0);
	assert_int_equal(p.family, BL_FAMILY_V6);
	assert_int_equal(p.len, 32);
	assert_int_equal(bl_prefix_parse("::/0", &p), 0);
	assert_int_equal(bl_prefix_parse("10.0.0.1/8", &p), -EINVAL); /* host bits */
	assert_int_equal(bl_prefix_parse("10.0.0.0/33", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("10.0.0.0/", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("10.0.0.0/8x", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("10.0.0.0/-1", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("2001:db8::/129", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("example.com", &p), -EINVAL);
	assert_int_equal(bl_prefix_parse("", &p), -EINVAL);
}

static void test_longest_match(void **state)
{
	struct fx *f = *state;
	struct bl_clients *t;
	struct bl_prefix p;
	uint64_t n = 9;
	unsigned len = 0;

	assert_string_equal(lookup(f, "10.1.2.3", NULL), ""); /* empty table */
	assert_int_equal(bl_clients_count(f->db, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "10.0.0.0/8", "teens");
	put(t, "10.1.0.0/16", "kids");
	put(t, "10.1.2.3", "adult");
	put(t, "2001:db8::/32", "teens");
	put(t, "2001:db8:1::/48", "kids");
	put(t, "0.0.0.0/0", "default");
	assert_int_equal(bl_prefix_parse("10.0.0.0/8", &p), 0);
	assert_int_equal(bl_clients_put(t, &p, "bad name"), -EINVAL);
	assert_int_equal(bl_clients_put(t, &p, ""), -EINVAL);
	assert_int_equal(bl_clients_put(t, &p, "x23456789012345678901234567890123"), -EINVAL);
	assert_int_equal(bl_clients_commit(t), 0);

	assert_string_equal(lookup(f, "10.1.2.3", &len), "adult");
	assert_int_equal(len, 32);
	assert_string_equal(lookup(f, "10.1.2.4", &len), "kids");
	assert_int_equal(len, 16);
	assert_string_equal(lookup(f, "10.200.0.1", &len), "teens");
	assert_string_equal(lookup(f, "192.0.2.1", &len), "default");
	assert_int_equal(len, 0);
	assert_string_equal(lookup(f, "2001:db8:1:2::5", &len), "kids");
	assert_int_equal(len, 48);
	assert_string_equal(lookup(f, "2001:db8:2::5", NULL), "teens");
	assert_string_equal(lookup(f, "2001:db9::1", NULL), ""); /* no ::/0 */
	assert_int_equal(bl_clients_count(f->db, &n), 0);
	assert_int_equal(n, 6);

	/* Replace one, delete one: the counts follow, the next lookup sees it. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "10.1.0.0/16", "teens");
	assert_int_equal(bl_prefix_parse("10.1.2.3", &p), 0);
	assert_int_equal(bl_clients_del(t, &p), 0);
	assert_int_equal(bl_clients_del(t, &p), BL_ENOTFOUND);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_string_equal(lookup(f, "10.1.2.3", &len), "teens");
	assert_int_equal(len, 16);
	assert_int_equal(bl_clients_count(f->db, &n), 0);
	assert_int_equal(n, 5);

	/* Clear: empty again, and an abort changes nothing. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	assert_int_equal(bl_clients_clear(t), 0);
	bl_clients_abort(t);
	assert_string_equal(lookup(f, "10.1.2.3", NULL), "teens");
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	assert_int_equal(bl_clients_clear(t), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_string_equal(lookup(f, "10.1.2.3", NULL), "");
	assert_int_equal(bl_clients_count(f->db, &n), 0);
	assert_int_equal(n, 0);
}

/* Ascending order takes the append path, then a key out of order switches to plain puts. */
static void test_bulk_in_order(void **state)
{
	struct fx *f = *state;
	struct bl_clients *t;
	struct bl_prefix p = {.family = BL_FAMILY_V4, .len = 32};
	uint64_t n = 0;
	char ip[32];

	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	for (unsigned i = 0; i < 20000; i++) {
		uint32_t a = htonl(0x0a000000u + i * 4);
		memcpy(p.addr, &a, 4);
		p.len = 30;
		assert_int_equal(bl_clients_put(t, &p, i % 2 ? "odd" : "even"), 0);
	}
	put(t, "10.0.0.0/8", "wide"); /* out of order */
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_count(f->db, &n), 0);
	assert_int_equal(n, 20001);
	assert_string_equal(lookup(f, "10.0.0.6", NULL), "odd");
	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (19999 * 4) >> 16, ((19999 * 4) >> 8) & 255,
	         ((19999 * 4) & 255) + 3);
	assert_string_equal(lookup(f, ip, NULL), "odd");
	assert_string_equal(lookup(f, "10.9.0.0", NULL), "wide");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_parse),
	    cmocka_unit_test_setup_teardown(test_longest_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_in_order, setup, teardown),
	};

	return cmocka_run_group_tests_name("bl_clients", tests, NULL, NULL);
}
