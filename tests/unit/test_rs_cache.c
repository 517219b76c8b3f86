/* Unit tests: the answer cache and its TTL policy (resolver/dns/rs_cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rs_daemon.h"

/* A tiny body: header + question + one A record whose TTL field sits at TTL_OFF. */
#define TTL_OFF (12 + 7 + 4 + 2 + 4)

static size_t make_body(uint8_t *b, uint32_t ttl, uint8_t last_octet)
{
	static const uint8_t tmpl[] = {
	    0x12, 0x34, 0x81, 0x80, 0,   1,   0, 1, 0, 0, 0, 0, /* header */
	    1,    'a',  3,    'c',  'o', 'm', 0, 0, 1, 0, 1,    /* a.com A IN */
	    0xc0, 12,   0,    1,    0,   1,                     /* owner, A, IN */
	    0,    0,    0,    0,                                /* TTL */
	    0,    4,    192,  0,    2,   0,                     /* rdata */
	};

	memcpy(b, tmpl, sizeof(tmpl));
	b[TTL_OFF] = (uint8_t)(ttl >> 24);
	b[TTL_OFF + 1] = (uint8_t)(ttl >> 16);
	b[TTL_OFF + 2] = (uint8_t)(ttl >> 8);
	b[TTL_OFF + 3] = (uint8_t)ttl;
	b[sizeof(tmpl) - 1] = last_octet;
	return sizeof(tmpl);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void key_for(const char *label, uint16_t qtype, uint16_t qclass, bool do_bit, bool cd,
                    struct rs_cache_key *k)
{
	struct rs_question q;
	size_t l = strlen(label);

	memset(&q, 0, sizeof(q));
	q.qname[0] = (uint8_t)l;
	memcpy(q.qname + 1, label, l);
	q.qname[l + 1] = 0;
	q.qname_len = (uint8_t)(l + 2);
	q.qtype = qtype;
	q.qclass = qclass;
	q.do_bit = do_bit;
	q.flags = cd ? RS_F_CD : 0;
	rs_cache_key_make(&q, k);
}

static const uint16_t offs[1] = {TTL_OFF};

static void put(struct rs_cache *c, const char *label, uint32_t ttl, uint8_t tag, uint64_t now)
{
	struct rs_cache_key k;
	uint8_t body[64];
	size_t n = make_body(body, 3600, tag);

	key_for(label, RS_TYPE_A, RS_CLASS_IN, false, false, &k);
	assert_int_equal(rs_cache_put(c, &k, body, n, offs, 1, ttl, now), 0);
}

/* Returns the tag (last rdata octet) of the entry, or -1 when it is not there. */
static int get(struct rs_cache *c, const char *label, uint64_t now)
{
	struct rs_cache_key k;
	struct rs_cache_entry_view v;

	key_for(label, RS_TYPE_A, RS_CLASS_IN, false, false, &k);
	if (!rs_cache_get(c, &k, now, &v))
		return -1;
	return v.body[v.body_len - 1];
}

static void test_put_get(void **state)
{
	struct rs_cache *c = NULL;
	struct rs_cache_key k;
	struct rs_cache_entry_view v;
	uint8_t body[64];
	size_t n = make_body(body, 3600, 7);

	assert_int_equal(rs_cache_new(100, &c), 0);
	key_for("a", RS_TYPE_A, RS_CLASS_IN, false, false, &k);
	assert_false(rs_cache_get(c, &k, 0, &v));
	assert_int_equal(rs_cache_put(c, &k, body, n, offs, 1, 300, 1000), 0);
	assert_int_equal(rs_cache_count(c), 1);
	body[n - 1] = 99; /* the cache holds its own copy */
	assert_true(rs_cache_get(c, &k, 1000, &v));
	assert_int_equal(v.body_len, n);
	assert_int_equal(v.body[n - 1], 7);
	assert_int_equal(v.n_ttl, 1);
	assert_int_equal(v.ttl_offs[0], TTL_OFF);
	assert_int_equal(v.age, 0);
	/* The stored TTL is the entry's lifetime, not the record's 3600. */
	assert_int_equal(rd32(v.body + TTL_OFF), 300);
	rs_cache_free(c);
}

static void test_expiry_and_age(void **state)
{
	struct rs_cache *c = NULL;
	struct rs_cache_key k;
	struct rs_cache_entry_view v;

	assert_int_equal(rs_cache_new(10, &c), 0);
	put(c, "a", 300, 1, 10000);
	key_for("a", RS_TYPE_A, RS_CLASS_IN, false, false, &k);
	assert_true(rs_cache_get(c, &k, 10999, &v));
	assert_int_equal(v.age, 0);
	assert_true(rs_cache_get(c, &k, 11000, &v));
	assert_int_equal(v.age, 1);
	assert_true(rs_cache_get(c, &k, 10000 + 299999, &v));
	assert_int_equal(v.age, 299);
	/* At exactly the TTL the entry is gone, and removed. */
	assert_false(rs_cache_get(c, &k, 10000 + 300000, &v));
	assert_int_equal(rs_cache_count(c), 0);
	rs_cache_free(c);
}

static void test_lru_eviction(void **state)
{
	struct rs_cache *c = NULL;

	assert_int_equal(rs_cache_new(3, &c), 0);
	put(c, "a", 100, 1, 0);
	put(c, "b", 100, 2, 0);
	put(c, "c", 100, 3, 0);
	assert_int_equal(rs_cache_count(c), 3);
	assert_int_equal(get(c, "a", 1), 1); /* a is now the most recently used */
	put(c, "d", 100, 4, 2);              /* evicts b, the least recently used */
	assert_int_equal(rs_cache_count(c), 3);
	assert_int_equal(get(c, "b", 3), -1);
	assert_int_equal(get(c, "a", 3), 1);
	assert_int_equal(get(c, "c", 3), 3);
	assert_int_equal(get(c, "d", 3), 4);
	put(c, "e", 100, 5, 4); /* order now a, c, d (oldest first): evicts a */
	assert_int_equal(get(c, "a", 5), -1);
	assert_int_equal(get(c, "c", 5), 3);
	rs_cache_free(c);
}

static void test_set_limit(void **state)
{
	struct rs_cache *c = NULL;
	char name[8];

	assert_int_equal(rs_cache_new(10, &c), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(c, name, 100, (uint8_t)i, (uint64_t)i);
	}
	assert_int_equal(get(c, "n0", 20), 0); /* n0 becomes the most recent */
	rs_cache_set_limit(c, 3);
	assert_int_equal(rs_cache_count(c), 3);
	assert_int_equal(get(c, "n0", 21), 0);
	assert_int_equal(get(c, "n9", 21), 9);
	assert_int_equal(get(c, "n8", 21), 8);
	assert_int_equal(get(c, "n7", 21), -1);
	/* Growing again keeps what is there; 0 empties and disables. */
	rs_cache_set_limit(c, 1000);
	assert_int_equal(rs_cache_count(c), 3);
	rs_cache_set_limit(c, 0);
	assert_int_equal(rs_cache_count(c), 0);
	put(c, "x", 100, 1, 30);
	assert_int_equal(rs_cache_count(c), 0);
	rs_cache_free(c);
}

static void test_disabled_and_uncacheable(void **state)
{
	struct rs_cache *c = NULL;
	struct rs_cache_key k;
	uint8_t body[64];
	size_t n = make_body(body, 1, 1);

	assert_int_equal(rs_cache_new(0, &c), 0);
	put(c, "a", 100, 1, 0);
	assert_int_equal(rs_cache_count(c), 0);
	rs_cache_free(c);

	assert_int_equal(rs_cache_new(10, &c), 0);
	key_for("a", RS_TYPE_A, RS_CLASS_IN, false, false, &k);
	assert_int_equal(rs_cache_put(c, &k, body, n, offs, 1, 0, 0), 0); /* TTL 0 */
	assert_int_equal(rs_cache_put(c, &k, body, n, offs, RS_MAX_TTL_OFFS + 1, 10, 0), 0);
	assert_int_equal(rs_cache_count(c), 0);
	rs_cache_free(c);
	rs_cache_free(NULL);
}

static void test_replace(void **state)
{
	struct rs_cache *c = NULL;

	assert_int_equal(rs_cache_new(2, &c), 0);
	put(c, "a", 100, 1, 0);
	put(c, "b", 100, 2, 0);
	put(c, "a", 10, 3, 50000); /* replaces a: no eviction of b */
	assert_int_equal(rs_cache_count(c), 2);
	assert_int_equal(get(c, "b", 50000), 2);
	assert_int_equal(get(c, "a", 50000), 3);
	assert_int_equal(get(c, "a", 60000), -1); /* the new TTL counts from the new store */
	assert_int_equal(get(c, "b", 60000), 2);
	rs_cache_free(c);
}

static void test_key_fields(void **state)
{
	struct rs_cache *c = NULL;
	struct rs_cache_key k[6];
	struct rs_cache_entry_view v;
	uint8_t body[64];
	size_t n;

	key_for("a", RS_TYPE_A, RS_CLASS_IN, false, false, &k[0]);
	key_for("a", RS_TYPE_AAAA, RS_CLASS_IN, false, false, &k[1]);
	key_for("a", RS_TYPE_A, 3 /* CH */, false, false, &k[2]);
	key_for("a", RS_TYPE_A, RS_CLASS_IN, true, false, &k[3]);
	key_for("a", RS_TYPE_A, RS_CLASS_IN, false, true, &k[4]);
	key_for("b", RS_TYPE_A, RS_CLASS_IN, false, false, &k[5]);
	assert_int_equal(rs_cache_new(100, &c), 0);
	for (int i = 0; i < 6; i++) {
		n = make_body(body, 60, (uint8_t)i);
		assert_int_equal(rs_cache_put(c, &k[i], body, n, offs, 1, 60, 0), 0);
	}
	assert_int_equal(rs_cache_count(c), 6);
	for (int i = 0; i < 6; i++) {
		assert_true(rs_cache_get(c, &k[i], 1, &v));
		assert_int_equal(v.body[v.body_len - 1], i);
	}
	/* Equal keys from equal questions hash equally. */
	key_for("a", RS_TYPE_A, RS_CLASS_IN, true, false, &k[5]);
	assert_int_equal(rs_cache_key_hash(&k[5]), rs_cache_key_hash(&k[3]));
	rs_cache_free(c);
}

/* FNV-1a, the unkeyed hash the tables used before issue 15: only to show the pair below
 * collides under it. */
static uint32_t fnv1a(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= d[i];
		h *= 16777619u;
	}
	return h;
}

static void key_for_name(const char *name, struct rs_cache_key *k)
{
	struct rs_question q;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	while (*name) {
		size_t l = strcspn(name, ".");
		q.qname[n++] = (uint8_t)l;
		memcpy(q.qname + n, name, l);
		n += l;
		name += l + (name[l] == '.');
	}
	q.qname[n++] = 0;
	q.qname_len = (uint8_t)n;
	q.qtype = RS_TYPE_A;
	q.qclass = RS_CLASS_IN;
	rs_cache_key_make(&q, k);
}

/* Issue 15 finding 11: names a client picks to share one FNV-1a chain (found by a birthday
 * search over c<hex>.example.com) no longer share a hash, so no bucket of the cache or of the
 * in-flight table (same hash) can be aimed at. */
static void test_fnv_collision_does_not_collide(void **state)
{
	struct rs_cache_key a, b, a2;

	(void)state;
	key_for_name("ce09.example.com", &a);
	key_for_name("c17d20.example.com", &b);
	assert_int_equal(fnv1a(a.data, a.len), fnv1a(b.data, b.len)); /* the pair is real */
	assert_int_not_equal(rs_cache_key_hash(&a), rs_cache_key_hash(&b));
	key_for_name("ce09.example.com", &a2);
	assert_int_equal(rs_cache_key_hash(&a), rs_cache_key_hash(&a2)); /* one process key */
}

static void test_many_entries(void **state)
{
	struct rs_cache *c = NULL;
	char name[16];

	/* More entries than buckets: chains and evictions stay consistent. */
	assert_int_equal(rs_cache_new(500, &c), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		put(c, name, 100, (uint8_t)i, 0);
	}
	assert_int_equal(rs_cache_count(c), 500);
	assert_int_equal(get(c, "h1499", 1), -1);
	assert_int_equal(get(c, "h1500", 1), (uint8_t)1500);
	assert_int_equal(get(c, "h1999", 1), (uint8_t)1999);
	rs_cache_free(c);
}

/* ---------------------------------------------------------------- rs_cache_ttl_for --- */

static void scan_init(struct rs_scan *s, int rcode, uint16_t ancount, uint32_t min_ttl,
                      uint32_t neg_ttl)
{
	memset(s, 0, sizeof(*s));
	s->flags = (uint16_t)(RS_F_QR | (rcode & 0xf));
	s->rcode = rcode;
	s->ancount = ancount;
	s->min_ttl = min_ttl;
	s->neg_ttl = neg_ttl;
}

static void test_ttl_for(void **state)
{
	struct rs_config cfg;
	struct rs_scan s;

	rs_config_defaults(&cfg);
	cfg.cache_min_ttl = 10;
	cfg.cache_max_ttl = 3600;
	cfg.cache_neg_max_ttl = 600;

	scan_init(&s, RS_RCODE_NOERROR, 1, 300, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 300);
	s.min_ttl = 2; /* raised to min_ttl */
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 10);
	s.min_ttl = 86400; /* lowered to max_ttl */
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 3600);
	s.min_ttl = UINT32_MAX; /* no records at all */
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);

	/* NXDOMAIN and NODATA: the SOA's negative TTL, capped by negative_max_ttl. */
	scan_init(&s, RS_RCODE_NXDOMAIN, 0, 3600, 300);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 300);
	s.neg_ttl = 7200;
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 600);
	scan_init(&s, RS_RCODE_NOERROR, 0, 3600, 120);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 120);
	/* Without an SOA: not cached. */
	scan_init(&s, RS_RCODE_NXDOMAIN, 0, UINT32_MAX, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	scan_init(&s, RS_RCODE_NOERROR, 0, 50, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);

	/* Failures, truncation, too many records: never. */
	scan_init(&s, RS_RCODE_SERVFAIL, 0, 300, 300);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	scan_init(&s, RS_RCODE_REFUSED, 1, 300, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	scan_init(&s, RS_RCODE_FORMERR, 1, 300, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	scan_init(&s, RS_RCODE_NOERROR, 1, 300, UINT32_MAX);
	s.flags |= RS_F_TC;
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	scan_init(&s, RS_RCODE_NOERROR, 1, 300, UINT32_MAX);
	s.too_many_rrs = true;
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
	/* An extended rcode (BADVERS=16 and up) is not NOERROR. */
	scan_init(&s, 16, 1, 300, UINT32_MAX);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get),
	    cmocka_unit_test(test_expiry_and_age),
	    cmocka_unit_test(test_lru_eviction),
	    cmocka_unit_test(test_set_limit),
	    cmocka_unit_test(test_disabled_and_uncacheable),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_key_fields),
	    cmocka_unit_test(test_fnv_collision_does_not_collide),
	    cmocka_unit_test(test_many_entries),
	    cmocka_unit_test(test_ttl_for),
	};

	return cmocka_run_group_tests_name("rs_cache", tests, NULL, NULL);
}
