/* Unit tests: profiles as data (blocklist/bl_profiles.c): the record's encoding, the
 * profiles/prules/macs tables, and the lookup with a profile's rules and the walled garden. */
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

static void sample(struct bl_profile_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->set = BL_PF_TEMPLATE | BL_PF_PRESET | BL_PF_SCHEDULES | BL_PF_BEDTIME_ALLOW;
	snprintf(r->tmpl, sizeof(r->tmpl), "kids");
	snprintf(r->preset, sizeof(r->preset), "under9");
	r->mode = BL_MODE_ALLOWLIST;
	r->block_add = 1ULL << 10;
	r->block_del = 1ULL << 40;
	r->n_sched = 1;
	r->sched[0] = (struct bl_profile_sched){0x7f, true, 21 * 60, 6 * 60 + 30, 0};
	assert_int_equal(bl_profile_rec_allow_add(r, "school.example"), 0);
	assert_int_equal(bl_profile_rec_allow_add(r, "wiki.example"), 0);
	r->updated = 1700000000;
}

static void test_rec_roundtrip(void **state)
{
	struct bl_profile_rec a, b;
	uint8_t buf[BL_PROFILE_REC_MAX];
	int n;

	(void)state;
	sample(&a);
	n = bl_profile_rec_encode(&a, buf, sizeof(buf));
	assert_true(n > 0 && n <= BL_PROFILE_REC_MAX);
	assert_int_equal(bl_profile_rec_decode(buf, (size_t)n, &b), 0);
	assert_int_equal(b.set, a.set);
	assert_string_equal(b.tmpl, "kids");
	assert_string_equal(b.preset, "under9");
	assert_int_equal(b.mode, BL_MODE_ALLOWLIST);
	assert_true(b.block_add == a.block_add && b.block_del == a.block_del);
	assert_int_equal(b.n_sched, 1);
	assert_int_equal(b.sched[0].start, 21 * 60);
	assert_true(b.sched[0].bedtime);
	assert_int_equal(b.n_allow, 2);
	assert_string_equal(bl_profile_rec_allow(&b, 1), "wiki.example");
	assert_null(bl_profile_rec_allow(&b, 2));
	/* "24:00" (1440) ends a day: what the schedule parser takes, the store reads back; a
	 * minute beyond is never written */
	a.sched[0].end = 1440;
	n = bl_profile_rec_encode(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(bl_profile_rec_decode(buf, (size_t)n, &b), 0);
	assert_int_equal(b.sched[0].end, 1440);
	a.sched[0].end = 1441;
	assert_int_equal(bl_profile_rec_encode(&a, buf, sizeof(buf)), -EINVAL);
	a.sched[0].end = 6 * 60 + 30;
	n = bl_profile_rec_encode(&a, buf, sizeof(buf));
	/* every truncation is refused, and a wrong format byte is a version error */
	for (int cut = 0; cut < n; cut++)
		assert_int_not_equal(bl_profile_rec_decode(buf, (size_t)cut, &b), 0);
	buf[0] = 9;
	assert_int_equal(bl_profile_rec_decode(buf, (size_t)n, &b), BL_EVERSION);
	/* a bad template name is refused before anything is written */
	snprintf(a.tmpl, sizeof(a.tmpl), "Bad Name");
	assert_int_equal(bl_profile_rec_encode(&a, buf, sizeof(buf)), -EINVAL);
	assert_false(bl_profile_name_valid(""));
	assert_false(bl_profile_name_valid("UPPER"));
	assert_true(bl_profile_name_valid("little-1_a"));
}

static int count_rule(const struct bl_rule *rule, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%s%s;", rule->flags & BL_F_ALLOW ? "+" : "-", rule->name);
	return 0;
}

static int count_prof(const char *name, const struct bl_profile_rec *rec, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%s:%u;", name, rec->n_rules);
	return 0;
}

static void test_tables(void **state)
{
	struct fx *f = *state;
	struct bl_profiles *t;
	struct bl_profile_rec r, g;
	uint8_t mac[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	char prof[BL_PROFILE_NAME_MAX], out[256] = "";
	uint64_t n = 9;

	assert_int_equal(bl_profile_get(f->r, "little", &g), BL_ENOTFOUND);
	assert_int_equal(bl_mac_lookup(f->r, mac, prof, sizeof(prof)), BL_ENOTFOUND);
	sample(&r);
	assert_int_equal(bl_profiles_begin(f->db, &t), 0);
	assert_int_equal(bl_profiles_put(t, "little", &r), 0);
	assert_int_equal(bl_profiles_put(t, "No", &r), -EINVAL);
	assert_int_equal(
	    bl_profiles_rule_put(t, "little", "roblox.com", BL_F_ALLOW | BL_F_SUBTREE, 0), 0);
	assert_int_equal(
	    bl_profiles_rule_put(t, "little", "roblox.com", BL_F_ALLOW | BL_F_SUBTREE, 0), 0);
	assert_int_equal(bl_profiles_rule_put(t, "big", "tiktok.com", BL_F_SUBTREE, 0), 0);
	assert_int_equal(bl_profiles_mac_put(t, mac, "little"), 0);
	assert_int_equal(bl_profiles_commit(t), 0);

	assert_int_equal(bl_profile_get(f->r, "little", &g), 0);
	assert_int_equal(g.n_rules, 1); /* the same rule twice is one rule */
	assert_string_equal(g.tmpl, "kids");
	assert_int_equal(bl_profile_read(f->db, "big", &g), 0);
	assert_int_equal(g.set, 0); /* made by its rule: sets nothing */
	assert_int_equal(g.n_rules, 1);
	assert_int_equal(bl_mac_lookup(f->r, mac, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "little");
	assert_int_equal(bl_profiles_count(f->db, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bl_profiles_list(f->db, count_prof, out), 0);
	assert_string_equal(out, "big:1;little:1;");
	out[0] = '\0';
	assert_int_equal(bl_profile_rules_list(f->db, "little", count_rule, out), 0);
	assert_string_equal(out, "+roblox.com;");

	/* a device moves; a profile and its rules go together */
	assert_int_equal(bl_profiles_begin(f->db, &t), 0);
	assert_int_equal(bl_profiles_mac_put(t, mac, "big"), 0);
	assert_int_equal(bl_profiles_rule_del(t, "big", "tiktok.com", BL_F_ALLOW), BL_ENOTFOUND);
	assert_int_equal(bl_profiles_del(t, "little"), 0);
	assert_int_equal(bl_profiles_del(t, "little"), BL_ENOTFOUND);
	assert_int_equal(bl_profiles_rule_del(t, "big", "tiktok.com", BL_F_SUBTREE), 0);
	assert_int_equal(bl_profiles_commit(t), 0);
	assert_int_equal(bl_mac_lookup(f->r, mac, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "big");
	out[0] = '\0';
	assert_int_equal(bl_profile_rules_list(f->db, "little", count_rule, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(bl_profile_read(f->db, "big", &g), 0);
	assert_int_equal(g.n_rules, 0);
}

static uint8_t *wire(const char *text, uint8_t *buf, size_t *len)
{
	size_t o = 0;
	const char *p = text;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		buf[o++] = (uint8_t)l;
		memcpy(buf + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	buf[o++] = 0;
	*len = o;
	return buf;
}

static int look(struct fx *f, const struct bl_lookup_opts *o, const char *name,
                struct bl_verdict *v)
{
	uint8_t buf[256];
	size_t len;

	wire(name, buf, &len);
	return bl_lookup_wire_opts(f->r, o, buf, len, v);
}

/* The lookup's precedence: mandatory > profile rule > local rule > feed; the walled garden. */
static void test_lookup_precedence(void **state)
{
	struct fx *f = *state;
	struct bl_writer *w;
	struct bl_profiles *t;
	struct bl_verdict v;
	uint64_t games = 1ULL << BL_CAT_GAMES, adult = 1ULL << BL_CAT_ADULT;
	uint64_t learn = 1ULL << BL_CAT_OTHER;
	struct bl_lookup_opts little = {games | adult, "little", false};
	struct bl_lookup_opts big = {games | adult, "big", false};
	struct bl_lookup_opts garden = {games | adult, "little", true};

	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "roblox.com", BL_F_SUBTREE, games, 7), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "porn.example", BL_F_SUBTREE, adult, 7),
	                 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "learn.example", BL_F_SUBTREE, learn, 7),
	                 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "chess.example", BL_F_SUBTREE, 0, 0), 0);
	assert_int_equal(bl_writer_set_feed_policy(w, adult, 0), 0);
	assert_int_equal(bl_writer_set_child_safe(w, learn), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	assert_int_equal(bl_profiles_begin(f->db, &t), 0);
	assert_int_equal(
	    bl_profiles_rule_put(t, "little", "roblox.com", BL_F_ALLOW | BL_F_SUBTREE, 0), 0);
	assert_int_equal(
	    bl_profiles_rule_put(t, "little", "porn.example", BL_F_ALLOW | BL_F_SUBTREE, 0), 0);
	assert_int_equal(
	    bl_profiles_rule_put(t, "little", "chess.example", BL_F_ALLOW | BL_F_SUBTREE, 0), 0);
	assert_int_equal(bl_profiles_commit(t), 0);

	/* profile allow beats the feed, for that profile only */
	assert_int_equal(look(f, &little, "www.roblox.com", &v), 0);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_int_equal(v.source, BL_SOURCE_PROFILE);
	assert_int_equal(look(f, &big, "www.roblox.com", &v), 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_int_equal(v.source, BL_SOURCE_FEED);
	/* profile allow beats a household deny */
	assert_int_equal(look(f, &little, "chess.example", &v), 0);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_int_equal(look(f, &big, "chess.example", &v), 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_int_equal(v.source, BL_SOURCE_LOCAL);
	/* a mandatory category beats the profile's allow */
	assert_int_equal(look(f, &little, "porn.example", &v), 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_true(v.mandatory);
	/* walled garden: profile allow and child-safe feed names resolve, the rest does not */
	assert_int_equal(look(f, &garden, "roblox.com", &v), 0);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_int_equal(look(f, &garden, "a.learn.example", &v), 0);
	assert_int_equal(v.action, BL_ACTION_ALLOW);
	assert_true(v.child_safe);
	assert_int_equal(look(f, &garden, "example.org", &v), 0);
	assert_int_equal(v.action, BL_ACTION_BLOCK);
	assert_true(v.not_allowed);
	/* ... and without the garden, the same name is simply unlisted */
	assert_int_equal(look(f, &little, "example.org", &v), 0);
	assert_int_equal(v.action, BL_ACTION_NONE);
	assert_false(v.not_allowed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rec_roundtrip),
	    cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lookup_precedence, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
