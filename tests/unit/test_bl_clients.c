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

#define HH_LINE "profile smith {\"template\":\"kids\",\"allow\":[\"a.test\"]}\n"

/* The line digest a household record carries: SHA-256 of its channel line (and newline). */
static void digest(const char *line, uint8_t d[BL_SUBS_HASH_LEN])
{
	memset(d, 0, BL_SUBS_HASH_LEN);
	bl_clients_hash_line(d, line, strlen(line), true);
}

/* One fleet apply of a household (with a rule) and a device, in the clients' transaction. */
static void fleet_apply(struct fx *f, uint64_t version, bool snapshot, const uint8_t hash[32])
{
	struct bl_clients *t;
	struct bl_profiles *hh;
	struct bl_devices *dev;
	struct bl_profile_rec *rec = calloc(1, sizeof(*rec));

	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	assert_int_equal(bl_clients_profiles(t, &hh), -EINVAL); /* not a fleet apply yet */
	assert_int_equal(bl_clients_fleet(t, version, 5000, 1000), 0);
	assert_int_equal(bl_clients_profiles(t, &hh), 0);
	assert_int_equal(bl_clients_devices(t, &dev), 0);
	if (snapshot) {
		assert_int_equal(bl_clients_clear(t), 0);
		assert_int_equal(bl_profiles_fleet_clear(hh), 0);
		assert_int_equal(bl_devices_fleet_clear(dev), 0);
	}
	put(t, "10.0.0.0/8", "smith");
	rec->set = BL_PF_TEMPLATE;
	snprintf(rec->tmpl, sizeof(rec->tmpl), "kids");
	digest(HH_LINE, rec->digest);
	assert_int_equal(bl_profiles_put(hh, "smith", rec), 0);
	assert_int_equal(bl_profiles_rule_put(hh, "smith", "a.test", BL_F_ALLOW | BL_F_SUBTREE, 0),
	                 0);
	assert_int_equal(bl_devices_fleet_put(dev, hash, "smith"), 0);
	assert_int_equal(bl_profiles_commit(hh), 0); /* only frees */
	assert_int_equal(bl_devices_commit(dev), 0);
	assert_int_equal(bl_clients_commit(t), 0);
	free(rec);
}

/* Households and devices of the fleet channel: in the clients' transaction and hash, their
 * origin kept; a local change is drift; a snapshot replaces them and leaves local ones. */
static void test_fleet_households(void **state)
{
	struct fx *f = *state;
	struct bl_clients_meta m;
	struct bl_profiles *t;
	struct bl_devices *d;
	struct bl_profile_rec *rec = calloc(1, sizeof(*rec));
	uint8_t want[BL_SUBS_HASH_LEN] = {0}, now[BL_SUBS_HASH_LEN], hash[32], other[32];
	char line[160], name[BL_DEVICE_NAME_MAX], prof[32];

	assert_int_equal(bl_device_hash("abcdefghijklmnopqrst", hash), 0);
	assert_int_equal(bl_device_hash("tsrqponmlkjihgfedcba", other), 0);
	fleet_apply(f, 1, true, hash);
	/* the hash is the sum of the three lines, as the publisher computes it */
	bl_clients_hash_line(want, "client 10.0.0.0/8 smith\n", 24, true);
	bl_clients_hash_line(want, HH_LINE, strlen(HH_LINE), true);
	bl_clients_hash_line(want, line, bl_device_line(hash, "smith", line, sizeof(line)), true);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_memory_equal(now, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_profile_read(f->db, "smith", rec), 0);
	assert_true(rec->set & BL_PF_FLEET);
	assert_int_equal(rec->n_rules, 1);
	assert_int_equal(bl_device_lookup(f->r, hash, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "smith");

	/* A household made here: not in the hash, no drift; its device ID neither. */
	assert_int_equal(bl_profiles_begin(f->db, &t), 0);
	memset(rec, 0, sizeof(*rec));
	rec->set = BL_PF_PRESET;
	snprintf(rec->preset, sizeof(rec->preset), "13to15");
	assert_int_equal(bl_profiles_put(t, "mine", rec), 0);
	assert_int_equal(bl_profiles_commit(t), 0);
	assert_int_equal(bl_devices_begin(f->db, &d), 0);
	assert_int_equal(bl_devices_fleet_put(d, other, "mine"), -EINVAL); /* not a fleet apply */
	assert_int_equal(bl_devices_put(d, "tablet", other, "mine", 1), 0);
	assert_int_equal(bl_devices_commit(d), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(m.drift, 0);

	/* A local edit of the channel's household: drift, its line leaves the hash, it stays the
	 * channel's (zero digest) for the next snapshot to put back. */
	assert_int_equal(bl_profiles_begin(f->db, &t), 0);
	assert_int_equal(bl_profiles_get(t, "smith", rec), 0);
	rec->mode = BL_MODE_ALLOWLIST;
	rec->set |= BL_PF_MODE;
	assert_int_equal(bl_profiles_put(t, "smith", rec), 0);
	assert_int_equal(bl_profiles_commit(t), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.drift, 1);
	assert_memory_not_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_memory_equal(now, m.hash, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_profile_read(f->db, "smith", rec), 0);
	assert_true(rec->set & BL_PF_FLEET);
	/* and revoking the channel's device here: drift too */
	assert_int_equal(bl_devices_begin(f->db, &d), 0);
	bl_device_fleet_name(hash, name);
	assert_int_equal(bl_devices_del(d, name), 0);
	assert_int_equal(bl_devices_commit(d), 0);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.drift, 2);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_memory_equal(now, m.hash, BL_SUBS_HASH_LEN);

	/* The next snapshot: the channel's records back as published, the local ones kept. */
	fleet_apply(f, 2, true, hash);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_int_equal(m.drift, 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_clients_hash(f->db, now), 0);
	assert_memory_equal(now, want, BL_SUBS_HASH_LEN);
	assert_int_equal(bl_profile_read(f->db, "smith", rec), 0);
	assert_int_equal(rec->mode, BL_MODE_FILTER);
	assert_int_equal(rec->n_rules, 1);
	assert_int_equal(bl_profile_read(f->db, "mine", rec), 0);
	assert_int_equal(bl_device_lookup(f->r, other, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "mine");
	/* A delta onto it (the same lines again): nothing doubles. */
	fleet_apply(f, 3, false, hash);
	assert_int_equal(bl_clients_meta(f->db, &m), 0);
	assert_memory_equal(m.hash, want, BL_SUBS_HASH_LEN);
	/* The channel cannot take a local device's ID. */
	{
		struct bl_clients *c;
		struct bl_devices *fd;
		assert_int_equal(bl_clients_begin(f->db, &c), 0);
		assert_int_equal(bl_clients_fleet(c, 4, 5000, 1000), 0);
		assert_int_equal(bl_clients_devices(c, &fd), 0);
		assert_int_equal(bl_devices_fleet_put(fd, other, "smith"), -EEXIST);
		assert_int_equal(bl_devices_fleet_del(fd, other), BL_ENOTFOUND);
		bl_devices_abort(fd);
		bl_clients_abort(c);
	}
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_parse),
	    cmocka_unit_test_setup_teardown(test_longest_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_hash_and_drift, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_households, setup, teardown),
	};

	return cmocka_run_group_tests_name("bl_clients", tests, NULL, NULL);
}
