/* Unit tests: confidential (hashed) feed entries in the store (blocklist/bl_hash.c, bl_store.c,
 * bl_write.c): the hash, lookups of hashed exact and subtree rules, precedence against clear
 * rules, deletion, clearing, and the key. */
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

#define CSAM (1ULL << 20)
#define ADLT (1ULL << BL_CAT_ADULT)

static const uint8_t KEY[BL_HASH_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

#include "bl_fixture.h"

static void put_hashed(struct bl_writer *w, const char *name, unsigned labels, unsigned fl,
                       uint64_t cats)
{
	uint8_t h[BL_HASH_LEN];

	assert_int_equal(bl_name_hash(KEY, name, h), 0);
	assert_int_equal(bl_writer_put_hashed(w, h, labels, fl, cats, 3), 0);
}

static enum bl_action act(struct fx *f, const char *name, uint64_t mask)
{
	struct bl_verdict v;

	assert_int_equal(bl_lookup_text(f->r, name, mask, &v), 0);
	return v.action;
}

static void test_hash_is_keyed_and_stable(void **state)
{
	uint8_t a[BL_HASH_LEN], b[BL_HASH_LEN], c[BL_HASH_LEN], k2[BL_HASH_KEY_LEN] = {9};

	assert_int_equal(bl_name_hash(KEY, "evil.example", a), 0);
	assert_int_equal(bl_name_hash(KEY, "evil.example", b), 0);
	assert_memory_equal(a, b, BL_HASH_LEN);
	assert_int_equal(bl_name_hash(k2, "evil.example", c), 0);
	assert_memory_not_equal(a, c, BL_HASH_LEN);
	assert_int_equal(bl_name_hash(KEY, "evil.exampl", c), 0);
	assert_memory_not_equal(a, c, BL_HASH_LEN);
}

static void test_hashed_lookup(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	struct bl_meta m;
	struct bl_verdict v;

	assert_int_equal(act(f, "evil.example", ~0ULL), BL_ACTION_NONE);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_hash_key(w, KEY), 0);
	put_hashed(w, "evil.example", 2, BL_F_SUBTREE, CSAM);
	put_hashed(w, "only.this.example", 3, 0, CSAM);
	assert_int_equal(bl_writer_commit(w), 0);

	assert_int_equal(act(f, "evil.example", ~0ULL), BL_ACTION_BLOCK);
	assert_int_equal(act(f, "a.b.EVIL.example.", ~0ULL), BL_ACTION_BLOCK);
	assert_int_equal(act(f, "evil.example", ADLT), BL_ACTION_NONE); /* mask */
	assert_int_equal(act(f, "notevil.example", ~0ULL), BL_ACTION_NONE);
	assert_int_equal(act(f, "only.this.example", ~0ULL), BL_ACTION_BLOCK);
	assert_int_equal(act(f, "x.only.this.example", ~0ULL), BL_ACTION_NONE); /* exact */
	assert_int_equal(bl_lookup_text(f->r, "www.evil.example", ~0ULL, &v), 0);
	assert_int_equal(v.source, BL_SOURCE_FEED);
	assert_true(v.subtree);
	assert_int_equal(v.categories, CSAM);
	assert_int_equal(v.feed_version, 3);
	assert_int_equal(bl_db_meta(f->db, &m), 0);
	assert_true(m.has_hash_key);
	assert_int_equal(m.hashed_entries, 2);
}

static void test_precedence_with_clear_rules(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_hash_key(w, KEY), 0);
	put_hashed(w, "evil.example", 2, BL_F_SUBTREE, CSAM);
	/* a more specific clear allow wins over the hashed subtree deny */
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_FEED, "ok.evil.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 3),
	    0);
	/* a hashed allow at the same level as a clear deny wins */
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "mixed.example", BL_F_SUBTREE, ADLT, 3),
	                 0);
	put_hashed(w, "mixed.example", 2, BL_F_SUBTREE | BL_F_ALLOW, 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "x.ok.evil.example", ~0ULL), BL_ACTION_ALLOW);
	assert_int_equal(act(f, "x.evil.example", ~0ULL), BL_ACTION_BLOCK);
	assert_int_equal(act(f, "mixed.example", ~0ULL), BL_ACTION_ALLOW);
	/* a local allow overrides the feed, hashed rules included */
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_LOCAL, "evil.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 0), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "x.evil.example", ~0ULL), BL_ACTION_ALLOW);
}

static void test_delete_clear_and_labels(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	uint8_t h[BL_HASH_LEN];
	uint64_t feed;

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_hash_key(w, KEY), 0);
	put_hashed(w, "a.evil.example", 3, 0, CSAM);
	put_hashed(w, "b.evil.example", 3, 0, CSAM);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "b.evil.example", ~0ULL), BL_ACTION_BLOCK);

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_name_hash(KEY, "b.evil.example", h), 0);
	assert_int_equal(bl_writer_del_hashed(w, h, BL_F_SUBTREE), BL_ENOTFOUND); /* other kind */
	assert_int_equal(bl_writer_del_hashed(w, h, 0), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "b.evil.example", ~0ULL), BL_ACTION_NONE);
	assert_int_equal(act(f, "a.evil.example", ~0ULL), BL_ACTION_BLOCK);

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_clear_feed(w), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "a.evil.example", ~0ULL), BL_ACTION_NONE);
	assert_int_equal(bl_db_counts(f->db, NULL, &feed), 0);
	assert_int_equal(feed, 0);
}

static void test_wrong_labels_bound_misses(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;

	/* labels says how deep lookups hash; an entry claiming fewer labels than it has is not
	 * reached (the publisher computes it, this documents the contract) */
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_hash_key(w, KEY), 0);
	put_hashed(w, "deep.a.b.example", 2, 0, CSAM);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "deep.a.b.example", ~0ULL), BL_ACTION_NONE);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	put_hashed(w, "deep.a.b.example", 4, 0, CSAM);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(act(f, "deep.a.b.example", ~0ULL), BL_ACTION_BLOCK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_is_keyed_and_stable),
	    T(test_hashed_lookup),
	    T(test_precedence_with_clear_rules),
	    T(test_delete_clear_and_labels),
	    T(test_wrong_labels_bound_misses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
