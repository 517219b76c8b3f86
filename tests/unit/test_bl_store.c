/* Unit tests: the LMDB store, writer and lookup precedence (blocklist/bl_store.c, bl_write.c). */
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

#define ADULT (1ULL << BL_CAT_ADULT)
#define GAMB  (1ULL << BL_CAT_GAMBLING)
#define ADS   (1ULL << BL_CAT_ADS)
#define ALL   (~0ULL)

#include "bl_fixture.h"

static void put(struct fx *f, enum bl_source s, const char *name, unsigned fl, uint64_t cats)
{
	struct bl_writer *w;

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_put(w, s, name, fl, cats, s == BL_SOURCE_FEED ? 7 : 0), 0);
	assert_int_equal(bl_writer_commit(w), 0);
}

static struct bl_verdict check(struct fx *f, const char *name, uint64_t mask)
{
	struct bl_verdict v;

	assert_int_equal(bl_lookup_text(f->r, name, mask, &v), 0);
	return v;
}

static void test_exact_vs_subtree(void **state)
{
	struct fx *f = *state;
	struct bl_verdict v;

	put(f, BL_SOURCE_FEED, "exact.com", 0, ADULT);
	put(f, BL_SOURCE_FEED, "tree.com", BL_F_SUBTREE, ADULT);
	assert_int_equal(check(f, "exact.com", ALL).action, BL_ACTION_BLOCK);
	assert_int_equal(check(f, "www.exact.com", ALL).action, BL_ACTION_NONE);
	v = check(f, "a.b.TREE.com.", ALL);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_int_equal(v.source, BL_SOURCE_FEED);
	assert_int_equal(v.feed_version, 7);
	assert_true(v.subtree);
	assert_string_equal(v.match, "tree.com");
	assert_int_equal(check(f, "tree.com", ALL).action, BL_ACTION_BLOCK);
	assert_int_equal(check(f, "xtree.com", ALL).action, BL_ACTION_NONE);
	assert_int_equal(check(f, "com", ALL).action, BL_ACTION_NONE);
	/* Keys sorting between the ancestor and the query must not hide the ancestor. */
	put(f, BL_SOURCE_FEED, "b.tree.com", 0, ADS);
	put(f, BL_SOURCE_FEED, "c.b.tree.com", 0, ADS);
	put(f, BL_SOURCE_FEED, "zzz.tree.com", 0, ADS);
	v = check(f, "d.b.tree.com", ALL);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_string_equal(v.match, "tree.com");
	assert_string_equal(check(f, "b.tree.com", ALL).match, "b.tree.com");
	assert_string_equal(check(f, "zzzz.tree.com", ALL).match, "tree.com");
	assert_string_equal(check(f, "zzz.tree.com", ALL).match, "zzz.tree.com");
	assert_string_equal(check(f, "a.zzz.tree.com", ALL).match, "tree.com");
}

static void test_category_mask(void **state)
{
	struct fx *f = *state;

	put(f, BL_SOURCE_FEED, "casino.com", BL_F_SUBTREE, GAMB);
	put(f, BL_SOURCE_FEED, "ads.casino.com", BL_F_SUBTREE, ADS);
	assert_int_equal(check(f, "casino.com", ADULT).action, BL_ACTION_NONE);
	assert_int_equal(check(f, "casino.com", GAMB).action, BL_ACTION_BLOCK);
	/* The most specific rule does not apply to this profile, the parent's does. */
	assert_int_equal(check(f, "x.ads.casino.com", GAMB).categories, GAMB);
	assert_int_equal(check(f, "x.ads.casino.com", ADS | GAMB).categories, ADS);
	/* A feed deny with mask 0 never applies; a local one always does. */
	put(f, BL_SOURCE_FEED, "nocat.com", 0, 0);
	assert_int_equal(check(f, "nocat.com", ALL).action, BL_ACTION_NONE);
	put(f, BL_SOURCE_LOCAL, "nocat.com", 0, 0);
	assert_int_equal(check(f, "nocat.com", 0).action, BL_ACTION_BLOCK);
}

static void test_allow_beats_deny_same_level(void **state)
{
	struct fx *f = *state;
	struct bl_verdict v;

	put(f, BL_SOURCE_FEED, "both.org", BL_F_SUBTREE, ADULT);
	put(f, BL_SOURCE_FEED, "both.org", BL_F_SUBTREE | BL_F_ALLOW, 0);
	assert_int_equal(check(f, "www.both.org", ALL).action, BL_ACTION_ALLOW);
	/* TLD block with a more specific allow (hagezi spam TLDs + allow list). */
	put(f, BL_SOURCE_FEED, "africa", BL_F_SUBTREE, ADS);
	put(f, BL_SOURCE_FEED, "nation.africa", BL_F_SUBTREE | BL_F_ALLOW, 0);
	assert_int_equal(check(f, "spam.africa", ALL).action, BL_ACTION_BLOCK);
	v = check(f, "www.nation.africa", ALL);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_string_equal(v.match, "nation.africa");
	/* A more specific deny beats a less specific allow. */
	put(f, BL_SOURCE_FEED, "bad.nation.africa", 0, ADS);
	assert_int_equal(check(f, "bad.nation.africa", ALL).action, BL_ACTION_BLOCK);
}

static void test_local_beats_feed(void **state)
{
	struct fx *f = *state;
	struct bl_verdict v;
	struct bl_writer *w;

	put(f, BL_SOURCE_FEED, "school.edu", 0, ADULT);
	put(f, BL_SOURCE_LOCAL, "edu", BL_F_SUBTREE | BL_F_ALLOW, 0);
	v = check(f, "school.edu", ALL);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_int_equal(v.source, BL_SOURCE_LOCAL);
	/* A local deny beats a feed allow even when the feed rule is more specific. */
	put(f, BL_SOURCE_FEED, "ok.example", 0, 0);
	put(f, BL_SOURCE_FEED, "ok.example", BL_F_ALLOW, 0);
	put(f, BL_SOURCE_LOCAL, "example", BL_F_SUBTREE, 0);
	assert_int_equal(check(f, "ok.example", 0).action, BL_ACTION_BLOCK);
	/* Clearing the feed leaves local rules alone. */
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_clear_feed(w), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(check(f, "school.edu", ALL).source, BL_SOURCE_LOCAL);
	assert_int_equal(check(f, "ok.example", 0).action, BL_ACTION_BLOCK);
}

static void test_merge_and_delete(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	uint64_t nl, nf;

	put(f, BL_SOURCE_FEED, "multi.net", BL_F_SUBTREE, ADULT);
	put(f, BL_SOURCE_FEED, "multi.net", BL_F_SUBTREE, GAMB);
	assert_int_equal(check(f, "multi.net", ALL).categories, ADULT | GAMB);
	assert_int_equal(bl_db_counts(f->db, &nl, &nf), 0);
	assert_int_equal(nf, 1);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_del(w, BL_SOURCE_FEED, "multi.net", 0), BL_ENOTFOUND);
	assert_int_equal(bl_writer_del(w, BL_SOURCE_FEED, "multi.net", BL_F_SUBTREE), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(check(f, "multi.net", ALL).action, BL_ACTION_NONE);
	assert_int_equal(bl_db_counts(f->db, &nl, &nf), 0);
	assert_int_equal(nf, 0);
}

static void test_reader_isolation(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "new.com", 0, ADULT, 1), 0);
	/* Not yet committed: readers see the old state. */
	assert_int_equal(check(f, "new.com", ALL).action, BL_ACTION_NONE);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(check(f, "new.com", ALL).action, BL_ACTION_BLOCK);
	/* An aborted writer changes nothing. */
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_clear_feed(w), 0);
	bl_writer_abort(w);
	assert_int_equal(check(f, "new.com", ALL).action, BL_ACTION_BLOCK);
}

static void test_wire_lookup(void **state)
{
	struct fx *f = *state;
	struct bl_verdict v;
	static const uint8_t wire[] = "\3www\3bad\3com";

	put(f, BL_SOURCE_FEED, "bad.com", BL_F_SUBTREE, ADULT);
	assert_int_equal(bl_lookup_wire(f->r, wire, sizeof(wire), ALL, &v), 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_string_equal(v.match, "bad.com");
	assert_int_equal(bl_lookup_wire(f->r, (const uint8_t *)"", 1, ALL, &v), 0);
	assert_int_equal(v.action, BL_ACTION_NONE);
	assert_int_equal(bl_lookup_wire(f->r, wire, 5, ALL, &v), BL_ENAME);
}

static void test_categories_and_meta(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	struct bl_meta m;
	int bit;

	assert_int_equal(bl_category_find(NULL, "doh-bypass", &bit), 0);
	assert_int_equal(bit, BL_CAT_DOH_BYPASS);
	assert_string_equal(bl_category_name(NULL, BL_CAT_OTHER), "other");
	assert_null(bl_category_name(NULL, 40));
	assert_int_equal(bl_category_find(f->db, "crypto", &bit), BL_ECATEGORY);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_category_set(w, 40, "crypto", "Coin miners", false), 0);
	assert_int_equal(bl_writer_category_set(w, 41, "adult", "dup", false), BL_ECATEGORY);
	assert_int_equal(bl_writer_category_set(w, 3, "x", "builtin", false), BL_ECATEGORY);
	assert_int_equal(bl_writer_set_feed_version(w, 42), 0);
	assert_int_equal(bl_writer_set_last_attempt(w, 1000, "timeout"), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(bl_category_find(f->db, "crypto", &bit), 0);
	assert_int_equal(bit, 40);
	assert_string_equal(bl_category_name(f->db, 40), "crypto");
	assert_int_equal(bl_db_meta(f->db, &m), 0);
	assert_int_equal(m.feed_version, 42);
	assert_int_equal(m.last_attempt, 1000);
	assert_string_equal(m.last_error, "timeout");
}

static int count_label(void *arg, const char *name, const char *text)
{
	(*(int *)arg)++;
	return strcmp(name, "stop") == 0 ? 7 : 0;
}

/* Issue 17: the feed's category names per language, replaced as a whole with each feed. */
static void test_category_names(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	struct bl_cat_name n[3] = {{"vi", "gambling", "Cờ bạc"},
	                           {"vi", "learning", "Học tập"},
	                           {"en", "learning", "Learning"}};
	struct bl_cat_name bad = {"vi", "", "x"};
	char buf[64];
	int seen = 0;

	assert_int_equal(bl_category_label(f->r, "vi", "gambling", buf, sizeof(buf)), BL_ENOTFOUND);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_category_names(w, n, 3), 0);
	assert_int_equal(bl_writer_set_category_names(w, n, BL_CAT_NAMES_MAX + 1), -EINVAL);
	assert_int_equal(bl_writer_set_category_names(w, &bad, 1), -EINVAL);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(bl_category_label(f->r, "vi", "gambling", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Cờ bạc");
	assert_int_equal(bl_category_label(f->r, "en", "learning", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Learning");
	assert_int_equal(bl_category_label(f->r, "en", "gambling", buf, sizeof(buf)), BL_ENOTFOUND);
	assert_int_equal(bl_category_label(f->r, "vi", "learning", buf, 5), 0);
	assert_string_equal(buf, "H\xe1\xbb\x8d"); /* cut to fit, NUL-terminated */
	assert_int_equal(bl_category_labels(f->r, "vi", count_label, &seen), 0);
	assert_int_equal(seen, 2);
	/* a feed without names removes them */
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_category_names(w, NULL, 0), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(bl_category_label(f->r, "vi", "gambling", buf, sizeof(buf)), BL_ENOTFOUND);
	seen = 0;
	assert_int_equal(bl_category_labels(f->r, "vi", count_label, &seen), 0);
	assert_int_equal(seen, 0);
}

/* Issue 15, finding 15: a category the publisher made mandatory is blocked for every mask and
 * above local allow rules; the meta keeps the mask with the list. */
static void test_mandatory_category(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	struct bl_meta m;
	struct bl_verdict v;
	const uint64_t csam = 1ULL << 40;
	int bit = -1;

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_category_set(w, 40, "csam", "", true), 0);
	assert_int_equal(bl_writer_category_set(w, 41, "crypto", "", false), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "bad.example", BL_F_SUBTREE, csam, 3), 0);
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_FEED, "ok.bad.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 3), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "casino.example", 0, GAMB, 3), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	put(f, BL_SOURCE_LOCAL, "bad.example", BL_F_SUBTREE | BL_F_ALLOW, 0);
	put(f, BL_SOURCE_LOCAL, "casino.example", BL_F_ALLOW, 0);

	/* Not mandatory yet: the profile's mask and the local allow decide. */
	assert_int_equal(check(f, "www.bad.example", 0).action, BL_ACTION_ALLOW);
	assert_int_equal(check(f, "www.bad.example", csam).action, BL_ACTION_ALLOW);

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_set_feed_policy(w, csam, 1ULL << 41), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(bl_db_meta(f->db, &m), 0);
	assert_int_equal(m.mandatory, csam);
	assert_int_equal(m.child_allow, 1ULL << 41);
	assert_int_equal(m.feed_defined, csam | (1ULL << 41));

	/* Blocked for a mask of 0 (adult, block = none) and above the local allow. */
	v = check(f, "www.bad.example", 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_true(v.mandatory);
	assert_int_equal(v.source, BL_SOURCE_FEED);
	assert_int_equal(v.categories, csam);
	assert_true(check(f, "bad.example", ADULT).mandatory);
	/* The publisher's own exception still applies; other categories keep the local allow. */
	assert_int_equal(check(f, "x.ok.bad.example", 0).action, BL_ACTION_ALLOW);
	v = check(f, "casino.example", GAMB);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_false(v.mandatory);
	v = check(f, "other.example", ALL);
	assert_int_equal(v.action, BL_ACTION_NONE);
	assert_false(v.mandatory);

	/* Feed categories are found in the committed store without reloading db->cats. */
	assert_int_equal(bl_category_find_stored(f->db, "csam", &bit), 0);
	assert_int_equal(bit, 40);
	assert_int_equal(bl_category_find_stored(f->db, "adult", &bit), 0);
	assert_int_equal(bit, BL_CAT_ADULT);
	assert_int_equal(bl_category_find_stored(f->db, "nope", &bit), BL_ECATEGORY);
	assert_int_equal(bl_category_find_stored(NULL, "csam", &bit), BL_ECATEGORY);
}

static void test_map_full(void **state)
{
	struct bl_db *db;
	struct bl_writer *w;
	struct bl_db_options o = {.mapsize = 1 << 20};
	char dir[] = "/tmp/test_bl_full.XXXXXX", name[64], p[128];
	int rc = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(bl_db_open(dir, &o, &db), 0);
	assert_int_equal(bl_writer_begin(db, &w), 0);
	for (int i = 0; i < 100000 && rc == 0; i++) {
		snprintf(name, sizeof(name), "n%07d.filler-%d.example", (i * 7919) % 100000, i);
		rc = bl_writer_put(w, BL_SOURCE_FEED, name, 0, 1, 1);
	}
	assert_int_equal(rc, BL_EMAPFULL);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "x.com", 0, 1, 1), BL_ESTORE);
	assert_int_equal(bl_writer_commit(w), BL_ESTORE);
	bl_db_close(db);
	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_exact_vs_subtree),
	    T(test_category_mask),
	    T(test_allow_beats_deny_same_level),
	    T(test_local_beats_feed),
	    T(test_merge_and_delete),
	    T(test_reader_isolation),
	    T(test_wire_lookup),
	    T(test_categories_and_meta),
	    T(test_mandatory_category),
	    T(test_category_names),
	    cmocka_unit_test(test_map_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
