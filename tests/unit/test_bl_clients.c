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

/*
 * The fleet meta: the hash covers the table's mappings in key order, whatever order they were
 * written in; a fleet apply records its version and resets the drift; local changes (a new
 * mapping, a changed one, a removal) add to the drift, rewriting a mapping unchanged does not.
 */
static void test_fleet_hash_and_drift(void **state)
{
	struct fx *f = *state;
	struct bl_clients *t;
	struct bl_clients_meta m;
	struct bl_prefix p;
	uint8_t now[BL_SUBS_HASH_LEN];
	/* sum mod 2^256 of the SHA-256 of "client 10.0.0.0/8 kids\n", "client 192.0.2.7/32
	 * open\n" and "client 2001:db8::/32 teen\n" (python: hashlib, int.from_bytes) */
	static const uint8_t want[BL_SUBS_HASH_LEN] = {
	    0x18, 0x82, 0x5f, 0x19, 0xa9, 0x34, 0x6f, 0x42, 0xbf, 0xe7, 0x0b,
	    0xa2, 0x2f, 0x31, 0xe1, 0x1e, 0x59, 0x51, 0x96, 0xee, 0x1e, 0x44,
	    0xcc, 0x4a, 0x2c, 0x15, 0x67, 0x92, 0xcf, 0xe0, 0x4c, 0xd9};

	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.version, 0);
	assert_false(m.has_hash);
	/* A fleet apply, written out of order. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "2001:db8::/32", "teen");
	put(t, "192.0.2.7", "open");
	put(t, "10.0.0.0/8", "kids");
	assert_int_equal(bl_clients_fleet(t, 7, 2000, 1000), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.version, 7);
	assert_int_equal(m.expires, 2000);
	assert_int_equal(m.applied, 1000);
	assert_int_equal(m.drift, 0);
	assert_true(m.has_hash);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_memory_equal(now, want, BL_SUBS_HASH_LEN);

	/* Local: the same mapping again is no change; a new one and a removal are two. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "10.0.0.0/8", "kids");
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.drift, 0);
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "198.51.100.0/24", "kids");
	assert_int_equal(bl_prefix_parse("192.0.2.7", &p), 0);
	assert_int_equal(bl_clients_del(t, &p), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.drift, 2);
	assert_int_equal(m.version, 7);
	assert_memory_not_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_hash(f->db, now), 0); /* kept up to date = from scratch */
	assert_memory_equal(now, m.hash, BL_SUBS_HASH_LEN);
	/* Changing a mapping and changing it back: the hash comes back too. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "10.0.0.0/8", "open");
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_memory_equal(now, m.hash, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	put(t, "10.0.0.0/8", "kids");
	put(t, "192.0.2.7/32", "open");
	assert_int_equal(bl_prefix_parse("198.51.100.0/24", &p), 0);
	assert_int_equal(bl_clients_del(t, &p), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(m.drift, 6);

	/* The next fleet apply (a full replace) puts it back and resets the drift. */
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	assert_int_equal(bl_clients_clear(t), 0);
	put(t, "10.0.0.0/8", "kids");
	put(t, "192.0.2.7/32", "open");
	put(t, "2001:db8::/32", "teen");
	assert_int_equal(bl_clients_fleet(t, 8, 3000, 1100), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.version, 8);
	assert_int_equal(m.drift, 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);

	/* Poll status. */
	assert_int_equal(bl_clients_record(f->db, 1200, "manifest: bad signature"), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.last_attempt, 1200);
	assert_string_equal(m.last_error, "manifest: bad signature");
	assert_int_equal(bl_clients_record(f->db, 1300, ""), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_string_equal(m.last_error, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_parse),
	    cmocka_unit_test_setup_teardown(test_longest_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_hash_and_drift, setup, teardown),
	};

	return cmocka_run_group_tests_name("bl_clients", tests, NULL, NULL);
}
