/* Unit tests: child-protection policy (resolver/policy/rs_policy.c, rs_safesearch.c) and the
 * profile keys of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "bl.h"
#include "rs.h"

#define MOW(day, h, m) ((day)*1440 + (h)*60 + (m)) /* day 0 = Monday */

static struct rs_config cfg; /* large: keep it off the stack */

static int load(const char *text, char *err, size_t errlen)
{
	rs_config_defaults(&cfg);
	return rs_config_load_string(text, "t.conf", &cfg, err, errlen);
}

static const struct rs_profile *profile(const char *name)
{
	for (int i = 0; i < cfg.n_profiles; i++)
		if (strcmp(cfg.profiles[i].name, name) == 0)
			return &cfg.profiles[i];
	return NULL;
}

static void test_schedule_windows(void **state)
{
	struct rs_schedule s;

	assert_int_equal(rs_schedule_parse("mon-thu", "19:00-07:00", &s), 0);
	assert_int_equal(s.days, 0x0f);
	assert_true(rs_schedule_active(&s, MOW(0, 19, 0)));   /* Monday evening */
	assert_true(rs_schedule_active(&s, MOW(1, 6, 59)));   /* Tuesday morning, from Monday */
	assert_false(rs_schedule_active(&s, MOW(1, 7, 0)));   /* ends at 07:00 */
	assert_false(rs_schedule_active(&s, MOW(0, 6, 0)));   /* Monday morning: Sunday is off */
	assert_true(rs_schedule_active(&s, MOW(4, 6, 0)));    /* Friday morning, from Thursday */
	assert_false(rs_schedule_active(&s, MOW(4, 19, 30))); /* Friday evening */
	assert_int_equal(rs_schedule_parse("weekdays", "08:00-15:30", &s), 0);
	assert_true(rs_schedule_active(&s, MOW(2, 12, 0)));
	assert_false(rs_schedule_active(&s, MOW(5, 12, 0)));
	assert_int_equal(rs_schedule_parse("sun-tue", "10:00-11:00", &s), 0);
	assert_int_equal(s.days, 0x43); /* wraps: sun, mon, tue */
	assert_int_equal(rs_schedule_parse("fri,sat", "22:00-23:00", &s), 0);
	assert_int_equal(s.days, 0x30);
	assert_int_equal(rs_schedule_parse("someday", "10:00-11:00", &s), -1);
	assert_int_equal(rs_schedule_parse("daily", "25:00-11:00", &s), -1);
	assert_int_equal(rs_schedule_parse("daily", "10:00-10:00", &s), -1);
	assert_int_equal(rs_schedule_parse("daily", "10:00", &s), -1);
}

static void test_presets_and_adjustments(void **state)
{
	char err[256];
	const struct rs_profile *p;
	int bit;

	assert_int_equal(load("[profile kid]\npreset = 9to12\nblock += games\nblock -= social\n",
	                      err, sizeof(err)),
	                 0);
	p = profile("kid");
	assert_non_null(p);
	assert_string_equal(p->preset, "9to12");
	assert_int_equal(p->safe_search, RS_SAFE_STRICT);
	assert_true(p->hardening);
	assert_int_equal(bl_category_find(NULL, "games", &bit), 0);
	assert_true(p->block_mask & (1ULL << bit));
	assert_int_equal(bl_category_find(NULL, "social", &bit), 0);
	assert_false(p->block_mask & (1ULL << bit));
	assert_int_equal(bl_category_find(NULL, "adult", &bit), 0);
	assert_true(p->block_mask & (1ULL << bit));
	/* Order does not matter: += before preset still applies. */
	assert_int_equal(load("[profile kid]\nblock += games\npreset = adult\n", err, sizeof(err)),
	                 0);
	assert_int_equal(bl_category_find(NULL, "games", &bit), 0);
	assert_true(profile("kid")->block_mask & (1ULL << bit));
	assert_false(profile("kid")->hardening);
}

static void test_config_errors_name_line_and_key(void **state)
{
	char err[512];

	assert_int_not_equal(load("[profile a]\npreset = toddler\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:2: [profile a] preset: unknown preset \"toddler\""));
	assert_int_not_equal(
	    load("[profile a]\n\nschedule = mon-thu 19:00 block games\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:3: [profile a] schedule:"));
	assert_int_not_equal(
	    load("[profile a]\nschedule = daily 19:00-20:00 games\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "[profile a] schedule:"));
	assert_int_not_equal(load("[profile a]\nmacs = 00:11:22:33:44\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:2: [profile a] macs:"));
	assert_int_not_equal(load("[profile a]\nsafe_search = max\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "[profile a] safe_search:"));
	/* A name the standard table does not know waits for the feed's categories: refused
	 * when neither defines it, still naming file:line and key. */
	assert_int_equal(load("[profile a]\n\nblock += cartoons\n", err, sizeof(err)), 0);
	assert_int_not_equal(rs_config_bind_feed(&cfg, NULL, err, sizeof(err)), 0);
	assert_non_null(
	    strstr(err, "t.conf:3: [profile a] block +: unknown category \"cartoons\""));
	assert_int_not_equal(load("[profile a]\nblock = adult, Cart!\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:2: [profile a] block: unknown category \"Cart!\""));
}

/* Issue 15, finding 15: every category the feed defines is accepted in block, block += and
 * block -=, and the child presets block the feed's categories unless the publisher says a
 * category is fine for children. */
static void test_feed_categories_bind(void **state)
{
	static const char conf[] = "[profile kid]\npreset = under9\n"
	                           "[profile teen]\npreset = 13to15\nblock -= csam\n"
	                           "[profile grown]\npreset = adult\nblock += csam\n"
	                           "[profile pick]\nblock = adult, crypto\n"
	                           "[profile night]\npreset = adult\n"
	                           "schedule = daily 22:00-06:00 block crypto\n";
	char dir[] = "/tmp/kg-policy-XXXXXX", err[512];
	const uint64_t csam = 1ULL << 40, crypto = 1ULL << 41;
	struct bl_writer *w;
	struct bl_db *db;
	int bed;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(bl_db_open(dir, NULL, &db), 0);
	assert_int_equal(bl_writer_begin(db, &w), 0);
	assert_int_equal(bl_writer_category_set(w, 40, "csam", "", true), 0);
	assert_int_equal(bl_writer_category_set(w, 41, "crypto", "", false), 0);
	assert_int_equal(bl_writer_set_feed_version(w, 3), 0);
	assert_int_equal(bl_writer_set_feed_policy(w, csam, crypto), 0);
	assert_int_equal(bl_writer_commit(w), 0);

	assert_int_equal(load(conf, err, sizeof(err)), 0);
	assert_int_equal(rs_config_bind_feed(&cfg, db, err, sizeof(err)), 0);
	/* child preset: csam by default, crypto is "child_default": "allow" */
	assert_true(profile("kid")->block_mask & csam);
	assert_false(profile("kid")->block_mask & crypto);
	/* block -= a feed category wins over the preset's feed default */
	assert_false(profile("teen")->block_mask & csam);
	assert_true(profile("grown")->block_mask & csam);
	assert_false(profile("grown")->block_mask & crypto);
	assert_int_equal(profile("pick")->block_mask, (1ULL << BL_CAT_ADULT) | crypto);
	assert_true(rs_profile_mask_at(profile("night"), MOW(0, 23, 0), &bed) & crypto);
	assert_false(rs_profile_mask_at(profile("night"), MOW(0, 12, 0), &bed) & crypto);

	/* Still refused: a name the feed does not define, naming what it does define. */
	assert_int_equal(load("[profile a]\nblock -= nope\n", err, sizeof(err)), 0);
	assert_int_not_equal(rs_config_bind_feed(&cfg, db, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:2: [profile a] block -: unknown category \"nope\""));
	assert_non_null(strstr(err, "csam"));
	bl_db_close(db);
}

/* Finding 2 of issue 15: a child cannot loosen its filtering with a parent's device ID. */
static void test_profile_looser(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(load("[profile kid]\npreset = under9\n"
	                      "[profile teen]\npreset = 13to15\n"
	                      "[profile dad]\npreset = adult\n"
	                      "[profile kidlate]\npreset = under9\nbedtime = daily 21:00-07:00\n"
	                      "[profile kidlate2]\npreset = under9\nbedtime = daily 21:00-07:00\n"
	                      "bedtime_allow = school.example\n"
	                      "[profile kidsafe]\npreset = under9\nsafe_search = moderate\n",
	                      err, sizeof(err)),
	                 0);
	assert_true(rs_profile_looser(profile("dad"), profile("kid")));
	assert_true(rs_profile_looser(profile("teen"), profile("kid")));
	assert_false(rs_profile_looser(profile("kid"), profile("dad")));
	assert_false(rs_profile_looser(profile("kid"), profile("kid")));
	/* the same categories but no bedtime, or a longer bedtime allow list */
	assert_true(rs_profile_looser(profile("kid"), profile("kidlate")));
	assert_false(rs_profile_looser(profile("kidlate"), profile("kid")));
	assert_true(rs_profile_looser(profile("kidlate2"), profile("kidlate")));
	assert_false(rs_profile_looser(profile("kidlate"), profile("kidlate2")));
	/* weaker safe search */
	assert_true(rs_profile_looser(profile("kidsafe"), profile("kid")));
	assert_false(rs_profile_looser(profile("kid"), profile("kidsafe")));
}

static void test_profile_for_device(void **state)
{
	const struct rs_profile *kid, *dad, *def;
	char err[512];

	(void)state;
	assert_int_equal(load("[profile default]\nblock = none\n"
	                      "[profile kid]\npreset = under9\nclients = 192.168.1.0/24\n"
	                      "[profile dad]\npreset = adult\n",
	                      err, sizeof(err)),
	                 0);
	kid = profile("kid");
	dad = profile("dad");
	def = &cfg.profiles[cfg.default_profile];
	/* no ID: the address decides, or the default */
	assert_ptr_equal(rs_profile_for_device(&cfg, NULL, false, kid), kid);
	assert_ptr_equal(rs_profile_for_device(&cfg, NULL, false, NULL), def);
	/* the dad's ID from the child's prefix does not loosen it; the child's ID from the dad's
	 * address tightens it; away from home (no address rule) the ID decides */
	assert_ptr_equal(rs_profile_for_device(&cfg, dad, true, kid), kid);
	assert_ptr_equal(rs_profile_for_device(&cfg, kid, true, dad), kid);
	assert_ptr_equal(rs_profile_for_device(&cfg, dad, true, NULL), dad);
	/* an unknown ID: as without one, or refused */
	assert_ptr_equal(rs_profile_for_device(&cfg, NULL, true, kid), kid);
	cfg.tls_unknown_client_id = RS_UNKNOWN_ID_REFUSE;
	assert_null(rs_profile_for_device(&cfg, NULL, true, kid));
	cfg.tls_unknown_client_id = RS_UNKNOWN_ID_DEFAULT;
	/* the operator's override */
	assert_int_equal(load("[tls]\ndevice_id_overrides_address = on\n"
	                      "[profile kid]\npreset = under9\n[profile dad]\npreset = adult\n",
	                      err, sizeof(err)),
	                 0);
	assert_true(cfg.tls_device_id_overrides);
	assert_ptr_equal(rs_profile_for_device(&cfg, profile("dad"), true, profile("kid")),
	                 profile("dad"));
}

static void test_client_ids_are_secrets(void **state)
{
	char err[512];

	(void)state;
	assert_int_not_equal(load("[profile dad]\n\nclient_ids = dad\n", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "t.conf:3: [profile dad] client_ids: invalid item \"dad\""));
	assert_non_null(strstr(err, "16..63"));
	assert_int_not_equal(
	    load("[profile dad]\nclient_ids = abcdefghijklmno\n", err, sizeof(err)), 0);
	assert_int_equal(load("[profile dad]\nclient_ids = abcdefghijklmnop\n", err, sizeof(err)),
	                 0);
}

/* Issue 17: a profile matched by MAC with no router trusted to send MACs never matches; the
 * tablet would silently get the default profile. kidguard -n says so, at the macs line. */
static void test_macs_need_trusted_forwarders(void **state)
{
	char err[512];

	(void)state;
	assert_int_not_equal(load("[profile little]\npreset = under9\n\nmacs = 02:00:00:00:00:01\n",
	                          err, sizeof(err)),
	                     0);
	assert_non_null(strstr(err, "t.conf:4: [profile little] macs:"));
	assert_non_null(strstr(err, "trusted_forwarders"));
	assert_int_equal(load("[server]\ntrusted_forwarders = 192.168.1.1\n[profile little]\n"
	                      "macs = 02:00:00:00:00:01\n",
	                      err, sizeof(err)),
	                 0);
}

static void test_household_in_few_lines(void **state)
{
	/* Issue 5: three children of different ages and two adults in under 20 lines. */
	static const char household[] =
	    "[server]\ntrusted_forwarders = 192.168.1.1\n"
	    "[profile little]\npreset = under9\nmacs = 02:00:00:00:00:01\n"
	    "bedtime = daily 19:30-07:00\nbedtime_allow = school.example\n"
	    "[profile middle]\npreset = 9to12\nclients = 192.168.1.20\n"
	    "schedule = sun-thu 20:00-07:00 block games, social\n"
	    "[profile teen]\npreset = 13to15\nclients = 192.168.1.30\n"
	    "[profile default]\npreset = adult\n";
	char err[256];
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
	uint8_t wire[64];
	int bed, n, bit;

	assert_int_equal(load(household, err, sizeof(err)), 0);
	inet_pton(AF_INET, "192.168.1.20", &sin.sin_addr);
	assert_string_equal(rs_profile_select(&cfg, (struct sockaddr *)&sin, NULL, NULL)->name,
	                    "middle");
	assert_string_equal(rs_profile_select(&cfg, (struct sockaddr *)&sin, mac, NULL)->name,
	                    "little");
	inet_pton(AF_INET, "192.168.1.99", &sin.sin_addr);
	assert_string_equal(rs_profile_select(&cfg, (struct sockaddr *)&sin, NULL, NULL)->name,
	                    "default");
	/* middle: games blocked on a school night, not on Friday evening */
	assert_int_equal(bl_category_find(NULL, "games", &bit), 0);
	assert_true(rs_profile_mask_at(profile("middle"), MOW(0, 21, 0), &bed) & (1ULL << bit));
	assert_int_equal(bed, -1);
	assert_false(rs_profile_mask_at(profile("middle"), MOW(4, 21, 0), &bed) & (1ULL << bit));
	/* little: bedtime, with the allow list */
	rs_profile_mask_at(profile("little"), MOW(2, 22, 0), &bed);
	assert_int_equal(bed, 0);
	n = rs_name_to_wire("www.school.example", wire, sizeof(wire));
	assert_true(n > 0 && rs_bedtime_allows(profile("little"), wire, (size_t)n));
	n = rs_name_to_wire("fooschool.example", wire, sizeof(wire));
	assert_false(rs_bedtime_allows(profile("little"), wire, (size_t)n));
	rs_profile_mask_at(profile("little"), MOW(2, 12, 0), &bed);
	assert_int_equal(bed, -1);
}

static void test_hardening_canaries(void **state)
{
	uint8_t w[64];
	int n;

	n = rs_name_to_wire("use-application-dns.net", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), RS_ACTION_NXDOMAIN);
	n = rs_name_to_wire("MASK.icloud.com.", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), RS_ACTION_NXDOMAIN);
	n = rs_name_to_wire("mask-h2.icloud.com", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), RS_ACTION_NXDOMAIN);
	n = rs_name_to_wire("_dns.resolver.arpa", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), RS_ACTION_NODATA);
	n = rs_name_to_wire("www.icloud.com", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), -1);
	n = rs_name_to_wire("x.use-application-dns.net", w, sizeof(w));
	assert_int_equal(rs_hardening_action(w, (size_t)n), -1);
}

static void test_safesearch_table(void **state)
{
	struct rs_safesearch *t = NULL;
	char err[256];
	const uint8_t *target;
	size_t tl;
	uint8_t w[64], exp[64];
	int n, en;

	assert_int_equal(rs_safesearch_load(rs_safesearch_default_path(), &t, err, sizeof(err)), 0);
	assert_true(rs_safesearch_count(t) > 100);
	n = rs_name_to_wire("www.google.co.uk", w, sizeof(w));
	assert_true(rs_safesearch_find(t, w, (size_t)n, RS_SAFE_STRICT, &target, &tl));
	en = rs_name_to_wire("forcesafesearch.google.com", exp, sizeof(exp));
	assert_memory_equal(target, exp, (size_t)en);
	n = rs_name_to_wire("www.youtube.com", w, sizeof(w));
	assert_true(rs_safesearch_find(t, w, (size_t)n, RS_SAFE_MODERATE, &target, &tl));
	en = rs_name_to_wire("restrictmoderate.youtube.com", exp, sizeof(exp));
	assert_memory_equal(target, exp, (size_t)en);
	assert_true(rs_safesearch_find(t, w, (size_t)n, RS_SAFE_STRICT, &target, &tl));
	en = rs_name_to_wire("restrict.youtube.com", exp, sizeof(exp));
	assert_memory_equal(target, exp, (size_t)en);
	assert_false(rs_safesearch_find(t, w, (size_t)n, RS_SAFE_OFF, &target, &tl));
	n = rs_name_to_wire("mail.google.com", w, sizeof(w));
	assert_false(rs_safesearch_find(t, w, (size_t)n, RS_SAFE_STRICT, &target, &tl));
	rs_safesearch_free(t);
	assert_int_equal(rs_safesearch_load("/nonexistent", &t, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedule_windows),
	    cmocka_unit_test(test_presets_and_adjustments),
	    cmocka_unit_test(test_config_errors_name_line_and_key),
	    cmocka_unit_test(test_feed_categories_bind),
	    cmocka_unit_test(test_household_in_few_lines),
	    cmocka_unit_test(test_macs_need_trusted_forwarders),
	    cmocka_unit_test(test_profile_looser),
	    cmocka_unit_test(test_profile_for_device),
	    cmocka_unit_test(test_client_ids_are_secrets),
	    cmocka_unit_test(test_hardening_canaries),
	    cmocka_unit_test(test_safesearch_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
