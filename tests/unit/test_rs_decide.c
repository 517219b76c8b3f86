/*
 * Unit tests: the one decision (resolver/policy/rs_decide.c), one table row per rule of
 * docs/policy.md's "How a query is decided", against a real LMDB store (rules and a
 * subscriber table) and the shipped safe-search table. Also: the staged walk the query path
 * takes (PRE, then POST) gives the same verdict as one call, and a failing store fails closed.
 */
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

#include "bl_fixture.h"
#include "rs.h"
#include "rs_dns.h"

#define MOW(day, h, m) ((day)*1440 + (h)*60 + (m)) /* day 0 = Monday */
#define NOON           MOW(2, 12, 0)

static const char conf[] = "[server]\n"
                           "trusted_forwarders = 192.0.2.1\n"
                           "[tls]\n"
                           "unknown_client_id = refuse\n"
                           "[profile little]\n"
                           "preset = under9\n"
                           "clients = 10.0.0.2\n"
                           "client_ids = littlephone7k2q9x\n"
                           "[profile teen]\n"
                           "preset = 13to15\n"
                           "clients = 10.0.0.3\n"
                           "schedule = daily 20:00-21:00 block games\n"
                           "bedtime = daily 22:00-23:59\n"
                           "bedtime_allow = school.test\n"
                           "[profile mac]\n"
                           "preset = 9to12\n"
                           "macs = 02:00:00:00:00:01\n"
                           "[profile subnet]\n"
                           "preset = 9to12\n"
                           "clients = 192.168.7.0/24\n"
                           "[profile sub]\n"
                           "preset = under9\n"
                           "[profile open]\n"
                           "block = none\n"
                           "clients = 10.0.0.5, 10.0.0.7\n"
                           "[profile kid1]\n"
                           "preset = under9\n"
                           "clients = 10.0.1.1\n"
                           "[profile kid2]\n"
                           "preset = under9\n"
                           "clients = 10.0.1.2\n"
                           "[profile garden]\n"
                           "preset = under9\n"
                           "clients = 10.0.1.3\n"
                           "[profile default]\n"
                           "preset = adult\n"
                           "client_ids = dadphone2m4n6p8r\n";

static struct rs_config cfg; /* large: keep it off the stack */
static struct rs_safesearch *ss;
static struct rs_profile_scratch *scratch; /* store profiles, as a worker resolves them */

static const uint8_t mac1[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t mac9[6] = {2, 0, 0, 0, 0, 9};

struct row {
	const char *what;      /* the rule of docs/policy.md it covers */
	const char *client;    /* source address, NULL: none */
	const uint8_t *mac;    /* EDNS option 65001 */
	const char *subnet;    /* ECS address */
	const char *device_id; /* DoT SNI / DoH path */
	const char *name;
	int mow;
	bool stale;   /* feed stale and on_stale = fail_closed */
	bool fault;   /* every store lookup fails */
	bool forward; /* on_store_error = forward */
	/* expected */
	int outcome;
	const char *profile; /* NULL: none (refused) */
	int by;
	int step;
	const char *answer;
	const char *text; /* a substring of the EDE text / detail, or NULL */
};

static const struct row rows[] = {
    /* 1. which profile */
    {"device ID picks the profile", "10.0.0.9", NULL, NULL, "littlephone7k2q9x", "evil.test", NOON,
     false, false, false, RS_OUT_BLOCK, "little", RS_BY_DEVICE_ID, RS_STEP_LIST, "sinkhole",
     "category=adult"},
    {"a stricter device ID applies at an open address", "10.0.0.5", NULL, NULL, "littlephone7k2q9x",
     "evil.test", NOON, false, false, false, RS_OUT_BLOCK, "little", RS_BY_DEVICE_ID, RS_STEP_LIST,
     "sinkhole", "category=adult"},
    {"a looser device ID does not loosen a child's address", "10.0.0.2", NULL, NULL,
     "dadphone2m4n6p8r", "evil.test", NOON, false, false, false, RS_OUT_BLOCK, "little",
     RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "category=adult"},
    {"a looser device ID away from any address rule", "10.0.0.9", NULL, NULL, "dadphone2m4n6p8r",
     "evil.test", NOON, false, false, false, RS_OUT_FORWARD, "default", RS_BY_DEVICE_ID,
     RS_STEP_NONE, "forward", NULL},
    {"unknown device ID, unknown_client_id = refuse", "10.0.0.2", NULL, NULL, "nosuchdevice00000",
     "www.test", NOON, false, false, false, RS_OUT_REFUSE, NULL, 0, RS_STEP_REFUSE, "refused",
     NULL},
    {"MAC from a trusted forwarder", "192.0.2.1", mac1, NULL, NULL, "evil.test", NOON, false, false,
     false, RS_OUT_BLOCK, "mac", RS_BY_MAC, RS_STEP_LIST, "sinkhole", NULL},
    {"MAC from anyone else is ignored", "10.0.0.9", mac1, NULL, NULL, "evil.test", NOON, false,
     false, false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
    {"unknown MAC: the forwarder's own address", "192.0.2.1", mac9, NULL, NULL, "evil.test", NOON,
     false, false, false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
    {"ECS from a trusted forwarder", "192.0.2.1", NULL, "192.168.7.9", NULL, "evil.test", NOON,
     false, false, false, RS_OUT_BLOCK, "subnet", RS_BY_SUBNET, RS_STEP_LIST, "sinkhole", NULL},
    {"subscriber table", "10.0.0.4", NULL, NULL, NULL, "evil.test", NOON, false, false, false,
     RS_OUT_BLOCK, "sub", RS_BY_SUBSCRIBER, RS_STEP_LIST, "sinkhole", NULL},
    {"subscriber table beats clients =", "10.0.0.7", NULL, NULL, NULL, "evil.test", NOON, false,
     false, false, RS_OUT_BLOCK, "sub", RS_BY_SUBSCRIBER, RS_STEP_LIST, "sinkhole", NULL},
    {"subscriber entry naming no profile: clients =", "10.0.0.6", NULL, NULL, NULL, "evil.test",
     NOON, false, false, false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward",
     NULL},
    {"address rule", "10.0.0.2", NULL, NULL, NULL, "evil.test", NOON, false, false, false,
     RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "list=feed@7"},
    {"default profile", "10.0.0.9", NULL, NULL, NULL, "evil.test", NOON, false, false, false,
     RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
    /* 2. feed stale, on_stale = fail_closed */
    {"stale feed fails closed", "10.0.0.2", NULL, NULL, NULL, "www.test", NOON, true, false, false,
     RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_STALE, "sinkhole",
     "feed stale; failing closed"},
    {"stale feed: a profile blocking nothing", "10.0.0.5", NULL, NULL, NULL, "www.test", NOON, true,
     false, false, RS_OUT_FORWARD, "open", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    /* 3. bypass hardening */
    {"DoH canary", "10.0.0.2", NULL, NULL, NULL, "use-application-dns.net", NOON, false, false,
     false, RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_CANARY, "nxdomain", "bypass-canary"},
    {"DDR", "10.0.0.2", NULL, NULL, NULL, "_dns.resolver.arpa", NOON, false, false, false,
     RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_CANARY, "nodata", NULL},
    {"canary for an adult", "10.0.0.9", NULL, NULL, NULL, "use-application-dns.net", NOON, false,
     false, false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
    /* 4. schedules and bedtime */
    {"schedule off: games pass", "10.0.0.3", NULL, NULL, NULL, "play.test", NOON, false, false,
     false, RS_OUT_FORWARD, "teen", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"schedule on: games blocked", "10.0.0.3", NULL, NULL, NULL, "play.test", MOW(2, 20, 30), false,
     false, false, RS_OUT_BLOCK, "teen", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "category=games"},
    {"bedtime blocks everything", "10.0.0.3", NULL, NULL, NULL, "www.test", MOW(2, 22, 30), false,
     false, false, RS_OUT_BLOCK, "teen", RS_BY_ADDRESS, RS_STEP_BEDTIME, "sinkhole",
     "schedule=bedtime"},
    {"bedtime_allow passes", "10.0.0.3", NULL, NULL, NULL, "www.school.test", MOW(2, 22, 30), false,
     false, false, RS_OUT_FORWARD, "teen", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    /* 5. the blocklist */
    {"feed rule in a blocked category", "10.0.0.2", NULL, NULL, NULL, "a.evil.test", NOON, false,
     false, false, RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole",
     "category=adult; list=feed@7"},
    {"local allow beats the feed", "10.0.0.2", NULL, NULL, NULL, "ok.evil.test", NOON, false, false,
     false, RS_OUT_FORWARD, "little", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"local deny for everyone", "10.0.0.5", NULL, NULL, NULL, "local.test", NOON, false, false,
     false, RS_OUT_BLOCK, "open", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "list=local"},
    {"a category the profile allows", "10.0.0.9", NULL, NULL, NULL, "play.test", NOON, false, false,
     false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
    /* the store fails: on_store_error */
    {"store error fails closed", "10.0.0.2", NULL, NULL, NULL, "www.test", NOON, false, true, false,
     RS_OUT_BLOCK, "little", RS_BY_ADDRESS, RS_STEP_STORE, "sinkhole",
     "store error; failing closed"},
    {"store error, on_store_error = forward", "10.0.0.2", NULL, NULL, NULL, "www.test", NOON, false,
     true, true, RS_OUT_FORWARD, "little", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"store error: a profile blocking nothing", "10.0.0.5", NULL, NULL, NULL, "www.test", NOON,
     false, true, false, RS_OUT_FORWARD, "open", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    /* 6. safe search */
    {"safe search rewrite", "10.0.0.2", NULL, NULL, NULL, "www.google.de", NOON, false, false,
     false, RS_OUT_REWRITE, "little", RS_BY_ADDRESS, RS_STEP_SAFE, "rewrite",
     "CNAME forcesafesearch.google.com"},
    {"no safe search for adults", "10.0.0.9", NULL, NULL, NULL, "www.google.de", NOON, false, false,
     false, RS_OUT_FORWARD, "default", RS_BY_DEFAULT, RS_STEP_NONE, "forward", NULL},
};

/*
 * The household as data (issue 17): store records and per-profile rules (set up in
 * setup_all). Precedence: mandatory category > profile rule > household rule > feed; store
 * bedtime; the walled garden last.
 */
static const uint8_t mac2[6] = {2, 0, 0, 0, 0, 2};
static const struct row household_rows[] = {
    {"profile allow beats the feed", "10.0.1.1", NULL, NULL, NULL, "play.test", NOON, false, false,
     false, RS_OUT_FORWARD, "kid1", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"the other child stays blocked", "10.0.1.2", NULL, NULL, NULL, "play.test", NOON, false, false,
     false, RS_OUT_BLOCK, "kid2", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "list=feed@7"},
    {"profile allow beats a household deny", "10.0.1.1", NULL, NULL, NULL, "local.test", NOON,
     false, false, false, RS_OUT_FORWARD, "kid1", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"household deny for the other child", "10.0.1.2", NULL, NULL, NULL, "local.test", NOON, false,
     false, false, RS_OUT_BLOCK, "kid2", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "list=local"},
    {"profile deny beats a household allow", "10.0.1.1", NULL, NULL, NULL, "ok.evil.test", NOON,
     false, false, false, RS_OUT_BLOCK, "kid1", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole",
     "list=profile:kid1"},
    {"mandatory category beats a profile allow", "10.0.1.1", NULL, NULL, NULL, "harm.test", NOON,
     false, false, false, RS_OUT_BLOCK, "kid1", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole",
     "mandatory (publisher)"},
    {"store schedule on", "10.0.1.2", NULL, NULL, NULL, "chat.test", MOW(2, 18, 30), false, false,
     false, RS_OUT_BLOCK, "kid2", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole", "category=social"},
    {"store bedtime blocks everything", "10.0.1.2", NULL, NULL, NULL, "www.test", MOW(2, 22, 30),
     false, false, false, RS_OUT_BLOCK, "kid2", RS_BY_ADDRESS, RS_STEP_BEDTIME, "sinkhole",
     "schedule=bedtime"},
    {"store bedtime_allow passes", "10.0.1.2", NULL, NULL, NULL, "www.homework.test",
     MOW(2, 22, 30), false, false, false, RS_OUT_FORWARD, "kid2", RS_BY_ADDRESS, RS_STEP_NONE,
     "forward", NULL},
    {"walled garden: not on the allow list", "10.0.1.3", NULL, NULL, NULL, "www.test", NOON, false,
     false, false, RS_OUT_BLOCK, "garden", RS_BY_ADDRESS, RS_STEP_GARDEN, "sinkhole",
     "not on the allow list"},
    {"walled garden: the profile's allow rule", "10.0.1.3", NULL, NULL, NULL, "kid.test", NOON,
     false, false, false, RS_OUT_FORWARD, "garden", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"walled garden: a household allow rule", "10.0.1.3", NULL, NULL, NULL, "ok.evil.test", NOON,
     false, false, false, RS_OUT_FORWARD, "garden", RS_BY_ADDRESS, RS_STEP_NONE, "forward", NULL},
    {"walled garden: a child-safe feed category", "10.0.1.3", NULL, NULL, NULL, "a.learn.test",
     NOON, false, false, false, RS_OUT_FORWARD, "garden", RS_BY_ADDRESS, RS_STEP_NONE, "forward",
     NULL},
    {"walled garden: a block stays a block", "10.0.1.3", NULL, NULL, NULL, "evil.test", NOON, false,
     false, false, RS_OUT_BLOCK, "garden", RS_BY_ADDRESS, RS_STEP_LIST, "sinkhole",
     "category=adult"},
    {"a child-safe category outside the garden: as usual", "10.0.1.2", NULL, NULL, NULL,
     "a.learn.test", NOON, false, false, false, RS_OUT_FORWARD, "kid2", RS_BY_ADDRESS, RS_STEP_NONE,
     "forward", NULL},
    {"a store-only profile from the subscriber table", "10.0.0.8", NULL, NULL, NULL, "evil.test",
     NOON, false, false, false, RS_OUT_BLOCK, "storeonly", RS_BY_SUBSCRIBER, RS_STEP_LIST,
     "sinkhole", "category=adult"},
    {"a MAC the household assigned", "192.0.2.1", mac2, NULL, NULL, "play.test", NOON, false, false,
     false, RS_OUT_FORWARD, "kid1", RS_BY_MAC, RS_STEP_NONE, "forward", NULL},
};

/* The operator asks for a profile (GET /api/check?profile=, rs_client.profile): taken as is,
 * then every later step applies as for DNS. */
struct asked_row {
	const char *profile;
	struct row r;
};

static const struct asked_row asked_rows[] = {
    {"little",
     {"asked profile at the default's address", "10.0.0.9", NULL, NULL, NULL, "evil.test", NOON,
      false, false, false, RS_OUT_BLOCK, "little", RS_BY_ASKED, RS_STEP_LIST, "sinkhole",
      "category=adult"}},
    {"little",
     {"asked profile beats device ID and MAC", "192.0.2.1", mac1, NULL, "dadphone2m4n6p8r",
      "evil.test", NOON, false, false, false, RS_OUT_BLOCK, "little", RS_BY_ASKED, RS_STEP_LIST,
      "sinkhole", NULL}},
    {"open",
     {"asked profile can be looser than the address", "10.0.0.2", NULL, NULL, NULL, "evil.test",
      NOON, false, false, false, RS_OUT_FORWARD, "open", RS_BY_ASKED, RS_STEP_NONE, "forward",
      NULL}},
    {"little",
     {"asked profile fails closed", NULL, NULL, NULL, NULL, "www.test", NOON, true, false, false,
      RS_OUT_BLOCK, "little", RS_BY_ASKED, RS_STEP_STALE, "sinkhole", "feed stale"}},
    {"little",
     {"asked profile keeps canaries", NULL, NULL, NULL, NULL, "use-application-dns.net", NOON,
      false, false, false, RS_OUT_BLOCK, "little", RS_BY_ASKED, RS_STEP_CANARY, "nxdomain", NULL}},
    {"teen",
     {"asked profile keeps its schedule", NULL, NULL, NULL, NULL, "play.test", MOW(2, 20, 30),
      false, false, false, RS_OUT_BLOCK, "teen", RS_BY_ASKED, RS_STEP_LIST, "sinkhole",
      "category=games"}},
    {"teen",
     {"asked profile keeps its bedtime", "10.0.0.9", NULL, NULL, NULL, "www.test", MOW(2, 22, 30),
      false, false, false, RS_OUT_BLOCK, "teen", RS_BY_ASKED, RS_STEP_BEDTIME, "sinkhole",
      "schedule=bedtime"}},
    {"little",
     {"asked profile keeps safe search", "10.0.0.9", NULL, NULL, NULL, "www.google.de", NOON, false,
      false, false, RS_OUT_REWRITE, "little", RS_BY_ASKED, RS_STEP_SAFE, "rewrite",
      "CNAME forcesafesearch.google.com"}},
};

static void put_sub(struct fx *f, const char *prefix, const char *profile)
{
	struct bl_clients *t;
	struct bl_prefix p;

	assert_int_equal(bl_prefix_parse(prefix, &p), 0);
	assert_int_equal(bl_clients_begin(f->db, &t), 0);
	assert_int_equal(bl_clients_put(t, &p, profile), 0);
	assert_int_equal(bl_clients_commit(t), 0);
}

/* The household's store: rules per profile, records, a MAC, a mandatory and a child-safe
 * category (household_rows). */
/* A device ID as `kidguard-ctl devices add` stores it: only its hash. */
static int put_device(struct fx *f, const char *name, const char *id, const char *profile)
{
	uint8_t hash[BL_DEVICE_HASH_LEN];
	struct bl_devices *t;

	if (bl_device_hash(id, hash) || bl_devices_begin(f->db, &t))
		return -1;
	if (bl_devices_put(t, name, hash, profile, 1)) {
		bl_devices_abort(t);
		return -1;
	}
	return bl_devices_commit(t);
}

static int household(struct fx *f)
{
	static struct bl_profile_rec rec;
	uint64_t harm = 1ULL << BL_CAT_SELF_HARM, other = 1ULL << BL_CAT_OTHER;
	struct bl_profiles *t;
	struct bl_writer *w;

	if (bl_writer_begin(f->db, &w) ||
	    bl_writer_put(w, BL_SOURCE_FEED, "harm.test", BL_F_SUBTREE, harm, 7) ||
	    bl_writer_put(w, BL_SOURCE_FEED, "chat.test", BL_F_SUBTREE, 1ULL << BL_CAT_SOCIAL, 7) ||
	    bl_writer_put(w, BL_SOURCE_FEED, "learn.test", BL_F_SUBTREE, other, 7) ||
	    bl_writer_set_feed_policy(w, harm, 0) || bl_writer_set_child_safe(w, other) ||
	    bl_writer_commit(w) || bl_profiles_begin(f->db, &t))
		return -1;
	if (bl_profiles_rule_put(t, "kid1", "play.test", BL_F_ALLOW | BL_F_SUBTREE, 0) ||
	    bl_profiles_rule_put(t, "kid1", "local.test", BL_F_ALLOW | BL_F_SUBTREE, 0) ||
	    bl_profiles_rule_put(t, "kid1", "ok.evil.test", 0, 0) ||
	    bl_profiles_rule_put(t, "kid1", "harm.test", BL_F_ALLOW | BL_F_SUBTREE, 0) ||
	    bl_profiles_rule_put(t, "garden", "kid.test", BL_F_ALLOW | BL_F_SUBTREE, 0) ||
	    bl_profiles_mac_put(t, mac2, "kid1"))
		return -1;
	/* kid2: social blocked 18:00-19:00 and a bedtime from the dashboard; preset 13to15
	 * (which lets social through) would be the file's "block -=", here block_remove */
	memset(&rec, 0, sizeof(rec));
	rec.set = BL_PF_SCHEDULES | BL_PF_BEDTIME_ALLOW | BL_PF_BLOCK;
	rec.block_del = 1ULL << BL_CAT_SOCIAL;
	rec.n_sched = 2;
	rec.sched[0] =
	    (struct bl_profile_sched){0x7f, false, 18 * 60, 19 * 60, 1ULL << BL_CAT_SOCIAL};
	rec.sched[1] = (struct bl_profile_sched){0x7f, true, 22 * 60, 23 * 60 + 59, 0};
	if (bl_profile_rec_allow_add(&rec, "homework.test") || bl_profiles_put(t, "kid2", &rec))
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.set = BL_PF_MODE;
	rec.mode = BL_MODE_ALLOWLIST;
	if (bl_profiles_put(t, "garden", &rec))
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.set = BL_PF_TEMPLATE;
	snprintf(rec.tmpl, sizeof(rec.tmpl), "little");
	if (bl_profiles_put(t, "storeonly", &rec))
		return -1;
	return bl_profiles_commit(t);
}

static int setup_all(void **state)
{
	struct bl_writer *w;
	struct fx *f;
	char err[256];
	int adult, games;

	rs_config_defaults(&cfg);
	if (rs_config_load_string(conf, "t.conf", &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (rs_safesearch_load(rs_safesearch_default_path(), &ss, err, sizeof(err)) != 0 ||
	    setup(state) != 0)
		return -1;
	f = *state;
	if (bl_category_find(NULL, "adult", &adult) || bl_category_find(NULL, "games", &games) ||
	    bl_writer_begin(f->db, &w))
		return -1;
	bl_writer_put(w, BL_SOURCE_FEED, "evil.test", BL_F_SUBTREE, 1ULL << adult, 7);
	bl_writer_put(w, BL_SOURCE_FEED, "play.test", BL_F_SUBTREE, 1ULL << games, 7);
	bl_writer_put(w, BL_SOURCE_LOCAL, "ok.evil.test", BL_F_ALLOW, 0, 0);
	bl_writer_put(w, BL_SOURCE_LOCAL, "local.test", 0, 0, 0);
	if (bl_writer_set_feed_version(w, 7) || bl_writer_commit(w))
		return -1;
	put_sub(f, "10.0.0.4/32", "sub");
	put_sub(f, "10.0.0.7/32", "sub");
	put_sub(f, "10.0.0.6/32", "nosuch");
	put_sub(f, "10.0.0.8/32", "storeonly");
	if (put_device(f, "teen-tablet", "teentablet4x7k2m9q", "teen") ||
	    put_device(f, "store-tablet", "storetablet8c3v5b1n", "storeonly"))
		return -1;
	return household(f) == 0 && (scratch = rs_profile_scratch_new()) ? 0 : -1;
}

static int teardown_all(void **state)
{
	free(scratch);
	rs_safesearch_free(ss);
	return teardown(state);
}

static void sockaddr_of(const char *ip, struct sockaddr_storage *ss_out)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss_out;

	memset(ss_out, 0, sizeof(*ss_out));
	s4->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
}

/* Run one row, in one call (RS_STAGE_ALL) or in the query path's two (PRE, then POST). */
static void run_row_as(struct fx *f, const struct row *r, const char *asked_name, bool staged,
                       struct rs_verdict *v)
{
	struct sockaddr_storage addr, subnet;
	uint8_t wire[256];
	int n = rs_name_to_wire(r->name, wire, sizeof(wire));
	struct rs_ask ask = {wire, (size_t)n, 1, NULL};
	struct rs_client cl = {.device_id = r->device_id, .mac = r->mac};
	const struct rs_profile *asked = NULL;
	struct rs_decide_ctx cx = {
	    .cfg = &cfg,
	    .ss = ss,
	    .db = f->db,
	    .rd = f->r,
	    .minute_of_week = r->mow,
	    .fail_closed = r->stale,
	    .test_store_fault = r->fault,
	    .scratch = scratch,
	};

	assert_true(n > 0);
	for (int i = 0; asked_name && i < cfg.n_profiles; i++)
		if (strcmp(cfg.profiles[i].name, asked_name) == 0)
			asked = &cfg.profiles[i];
	assert_true(!asked_name || asked);
	cl.profile = asked;
	/* the ID found as the daemon, kidguard-ctl check and /api/check find it */
	if (r->device_id)
		assert_int_equal(rs_client_device(&cfg, f->r, r->device_id, NULL, &cl), 0);
	cfg.on_store_error = r->forward ? RS_STORE_ERROR_FORWARD : RS_STORE_ERROR_FAIL_CLOSED;
	if (r->client) {
		sockaddr_of(r->client, &addr);
		cl.addr = (const struct sockaddr *)&addr;
	}
	if (r->subnet) {
		sockaddr_of(r->subnet, &subnet);
		cl.subnet = (const struct sockaddr *)&subnet;
	}
	if (!staged) {
		assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_ALL, v), 0);
		return;
	}
	assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_PRE, v), 0);
	if (v->outcome == RS_OUT_CONTINUE)
		assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_POST, v), 0);
}

static void run_row(struct fx *f, const struct row *r, bool staged, struct rs_verdict *v)
{
	run_row_as(f, r, NULL, staged, v);
}

static void check_row(const struct row *r, const struct rs_verdict *v)
{
	if (v->outcome != r->outcome || v->step != r->step ||
	    (r->profile && (!v->profile || strcmp(v->profile->name, r->profile) != 0)) ||
	    (r->profile && v->profile_by != r->by) || (!r->profile && v->profile) ||
	    strcmp(rs_verdict_answer(v), r->answer) != 0 || (r->text && !strstr(v->text, r->text)))
		fail_msg("row \"%s\": outcome %d step %d profile %s (by %s) answer %s text \"%s\"",
		         r->what, v->outcome, v->step, v->profile ? v->profile->name : "(none)",
		         rs_profile_by_name(v->profile_by), rs_verdict_answer(v), v->text);
}

static void test_table(void **state)
{
	struct rs_verdict v;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		run_row(*state, &rows[i], false, &v);
		check_row(&rows[i], &v);
	}
}

/* The query path's split walk (its cache shortcut sits between PRE and POST) decides alike. */
static void test_staged_walk_agrees(void **state)
{
	struct rs_verdict v;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		run_row(*state, &rows[i], true, &v);
		check_row(&rows[i], &v);
	}
}

/* Profiles as data: the precedence table of issue 17, in one call and staged. */
static void test_household_table(void **state)
{
	struct rs_verdict v;

	for (size_t i = 0; i < sizeof(household_rows) / sizeof(household_rows[0]); i++) {
		for (int staged = 0; staged < 2; staged++) {
			run_row(*state, &household_rows[i], staged, &v);
			check_row(&household_rows[i], &v);
		}
	}
}

/* A profile the operator names wins over device ID, MAC and address, and loses nothing after. */
static void test_asked_profile(void **state)
{
	struct rs_verdict v;

	for (size_t i = 0; i < sizeof(asked_rows) / sizeof(asked_rows[0]); i++) {
		for (int staged = 0; staged < 2; staged++) {
			run_row_as(*state, &asked_rows[i].r, asked_rows[i].profile, staged, &v);
			check_row(&asked_rows[i].r, &v);
		}
	}
}

static const struct row *row_named(const char *what)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(rows[i].what, what) == 0)
			return &rows[i];
	fail_msg("no row \"%s\"", what);
	return NULL;
}

/* rs_client_device: the config's client_ids, then the store's hashed device table; a
 * profile only the store defines by name; nothing for an unknown ID or without the store. */
static void test_device_table(void **state)
{
	struct fx *f = *state;
	struct rs_client cl = {0};
	struct rs_verdict v;
	struct sockaddr_storage addr;
	uint8_t wire[256];
	int n = rs_name_to_wire("evil.test", wire, sizeof(wire));
	struct rs_ask ask = {wire, (size_t)n, 1, NULL};
	struct rs_decide_ctx cx = {.cfg = &cfg,
	                           .ss = ss,
	                           .db = f->db,
	                           .rd = f->r,
	                           .minute_of_week = NOON,
	                           .scratch = scratch};

	assert_int_equal(rs_client_device(&cfg, f->r, "littlephone7k2q9x", NULL, &cl), 0);
	assert_string_equal(cl.device_id, "littlephone7k2q9x");
	assert_string_equal(cl.id_profile->name, "little");
	assert_int_equal(rs_client_device(&cfg, f->r, "teentablet4x7k2m9q", NULL, &cl), 0);
	assert_string_equal(cl.id_profile->name, "teen");
	assert_string_equal(cl.id_profile_name, "");
	assert_int_equal(rs_client_device(&cfg, NULL, "teentablet4x7k2m9q", NULL, &cl), 0);
	assert_null(cl.id_profile);
	assert_int_equal(rs_client_device(&cfg, f->r, "nosuchdevice00000", NULL, &cl), 0);
	assert_null(cl.id_profile);
	assert_string_equal(cl.id_profile_name, "");
	/* a household of the store: resolved by rs_decide, from an address no rule names */
	assert_int_equal(rs_client_device(&cfg, f->r, "storetablet8c3v5b1n", NULL, &cl), 0);
	assert_null(cl.id_profile);
	assert_string_equal(cl.id_profile_name, "storeonly");
	sockaddr_of("10.0.0.9", &addr);
	cl.addr = (const struct sockaddr *)&addr;
	assert_true(n > 0);
	assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_ALL, &v), 0);
	assert_string_equal(v.profile->name, "storeonly");
	assert_int_equal(v.profile_by, RS_BY_DEVICE_ID);
	assert_int_equal(v.outcome, RS_OUT_BLOCK);
}

/* What the daemon counts and warns about comes with the verdict. */
static void test_subscriber_status_and_store_rc(void **state)
{
	struct rs_verdict v;

	run_row(*state, row_named("subscriber entry naming no profile: clients ="), false, &v);
	assert_int_equal(v.sub_status, RS_SUB_UNKNOWN_PROFILE);
	assert_string_equal(v.sub_profile, "nosuch");
	run_row(*state, row_named("subscriber table"), false, &v);
	assert_int_equal(v.sub_status, RS_SUB_HIT);
	run_row(*state, row_named("store error fails closed"), false, &v);
	assert_true(v.store_rc < 0);
	assert_int_equal(v.sub_status, RS_SUB_ERROR);
	run_row(*state, row_named("address rule"), false, &v);
	assert_int_equal(v.store_rc, 0);
}

/* A CNAME target is checked with the question's profile and mask (rs_query.c's inspection). */
static void test_list_stage_for_a_cname(void **state)
{
	struct fx *f = *state;
	struct sockaddr_storage addr;
	uint8_t q[64], t[64];
	int qn = rs_name_to_wire("cdn.test", q, sizeof(q)),
	    tn = rs_name_to_wire("x.evil.test", t, 64);
	struct rs_ask ask = {q, (size_t)qn, 1, NULL};
	struct rs_client cl = {0};
	struct rs_decide_ctx cx = {.cfg = &cfg, .db = f->db, .rd = f->r, .minute_of_week = NOON};
	struct rs_verdict v;

	sockaddr_of("10.0.0.2", &addr);
	cl.addr = (const struct sockaddr *)&addr;
	assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_PRE, &v), 0);
	assert_int_equal(v.outcome, RS_OUT_CONTINUE);
	ask = (struct rs_ask){t, (size_t)tn, 1, "x.evil.test"};
	assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_LIST, &v), 0);
	assert_int_equal(v.outcome, RS_OUT_BLOCK);
	assert_string_equal(v.text, "cname=x.evil.test; category=adult; list=feed@7");
}

/* ---- the verdict cache: the same decisions, from a remembered raw result ---- */

static const char *const cache_names[] = {
    "www.bad.example",
    "bad.example",
    "x.ok.bad.example",
    "casino.example",
    "hidden.example",
    "a.b.hidden.example",
    "only.hashed.example",
    "other.example",
    "evil.test",
    "ok.evil.test",
    "local.test",
    "x.local.test",
    "a.b.c.deep.example",
    "c.deep.example",
    "play.test",
    "a123456789012345678901234567890.b123456789012345678901234567890.long.evil.test",
};

static void decide_named(struct fx *f, struct rs_vcache *vc, const struct rs_profile *prof,
                         const char *name, struct rs_verdict *v)
{
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire));
	struct rs_ask ask = {wire, (size_t)n, 1, NULL};
	struct rs_client cl = {.profile = prof};
	struct rs_decide_ctx cx = {
	    .cfg = &cfg, .ss = ss, .db = f->db, .rd = f->r, .minute_of_week = NOON, .vcache = vc};

	assert_true(n > 0);
	assert_int_equal(rs_decide(&cx, &cl, &ask, RS_STAGE_ALL, v), 0);
}

static void same_verdict(const char *name, const struct rs_verdict *a, const struct rs_verdict *b)
{
	if (a->outcome != b->outcome || a->step != b->step || a->action != b->action ||
	    strcmp(a->text, b->text) != 0 || a->list.action != b->list.action ||
	    a->list.source != b->list.source || a->list.categories != b->list.categories ||
	    a->list.mandatory != b->list.mandatory || a->list.subtree != b->list.subtree ||
	    a->list.feed_version != b->list.feed_version || strcmp(a->list.match, b->list.match))
		fail_msg("%s (profile %s): cached \"%s\" match %s, uncached \"%s\" match %s", name,
		         a->profile->name, a->text, a->list.match, b->text, b->list.match);
}

/* Every profile and name alike with and without the cache, on a miss and on a hit. */
static void all_agree(struct fx *f, struct rs_vcache *vc)
{
	struct rs_verdict a, b;

	for (int pass = 0; pass < 2; pass++)
		for (int p = 0; p < cfg.n_profiles; p++)
			for (size_t i = 0; i < sizeof(cache_names) / sizeof(cache_names[0]); i++) {
				decide_named(f, vc, &cfg.profiles[p], cache_names[i], &a);
				decide_named(f, NULL, &cfg.profiles[p], cache_names[i], &b);
				same_verdict(cache_names[i], &a, &b);
			}
}

static void put_hashed_rule(struct bl_writer *w, const uint8_t *key, const char *name,
                            unsigned labels, unsigned fl, uint64_t cats)
{
	uint8_t h[BL_HASH_LEN];

	assert_int_equal(bl_name_hash(key, name, h), 0);
	assert_int_equal(bl_writer_put_hashed(w, h, labels, fl, cats, 9), 0);
}

/* Hashed (confidential) entries, mandatory categories above local allows, exact and subtree
 * rules at several levels, names too long for a slot: the cache answers exactly as the store,
 * and a commit is seen at the next decision. */
static void test_verdict_cache_agrees(void **state)
{
	static const uint8_t key[BL_HASH_KEY_LEN] = {7, 7, 7};
	struct fx *f;
	struct rs_vcache *vc;
	struct rs_vcache_stats st;
	struct rs_verdict v;
	struct bl_writer *w;
	uint64_t csam = 1ULL << 40, adult = 1ULL << BL_CAT_ADULT, gamb = 1ULL << BL_CAT_GAMBLING;

	(void)state;
	assert_int_equal(setup((void **)&f), 0);
	assert_int_equal(rs_vcache_new(64, &vc), 0);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_category_set(w, 40, "csam", "", true), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "bad.example", BL_F_SUBTREE, csam, 3), 0);
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_FEED, "ok.bad.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 3), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "casino.example", 0, gamb, 3), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "evil.test", BL_F_SUBTREE, adult, 3), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "deep.example", BL_F_SUBTREE, gamb, 3),
	                 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_FEED, "c.deep.example", BL_F_SUBTREE, adult, 3),
	                 0);
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_FEED, "b.c.deep.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 3),
	    0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "a.b.c.deep.example", 0, 0, 0), 0);
	assert_int_equal(
	    bl_writer_put(w, BL_SOURCE_LOCAL, "bad.example", BL_F_SUBTREE | BL_F_ALLOW, 0, 0), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "casino.example", BL_F_ALLOW, 0, 0), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "ok.evil.test", BL_F_ALLOW, 0, 0), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "local.test", 0, 0, 0), 0);
	assert_int_equal(bl_writer_set_hash_key(w, key), 0);
	put_hashed_rule(w, key, "hidden.example", 2, BL_F_SUBTREE, csam);
	put_hashed_rule(w, key, "only.hashed.example", 3, 0, adult);
	put_hashed_rule(w, key, "play.test", 2, BL_F_SUBTREE, adult);
	assert_int_equal(bl_writer_set_feed_policy(w, csam, 0), 0);
	assert_int_equal(bl_writer_commit(w), 0);

	all_agree(f, vc);
	rs_vcache_stats(vc, &st);
	assert_true(st.hits > 0);
	assert_true(st.misses > 0);

	/* A new deny is seen at once, cache or not: the commit changed the generation. */
	decide_named(f, vc, &cfg.profiles[cfg.default_profile], "other.example", &v);
	assert_int_equal(v.outcome, RS_OUT_FORWARD);
	assert_int_equal(bl_writer_begin(f->db, &w), 0);
	assert_int_equal(bl_writer_put(w, BL_SOURCE_LOCAL, "other.example", 0, 0, 0), 0);
	assert_int_equal(bl_writer_del(w, BL_SOURCE_LOCAL, "casino.example", BL_F_ALLOW), 0);
	assert_int_equal(bl_writer_commit(w), 0);
	decide_named(f, vc, &cfg.profiles[cfg.default_profile], "other.example", &v);
	assert_int_equal(v.outcome, RS_OUT_BLOCK);
	all_agree(f, vc);
	rs_vcache_free(vc);
	teardown((void **)&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_staged_walk_agrees),
	    cmocka_unit_test(test_asked_profile),
	    cmocka_unit_test(test_device_table),
	    cmocka_unit_test(test_household_table),
	    cmocka_unit_test(test_subscriber_status_and_store_rc),
	    cmocka_unit_test(test_list_stage_for_a_cname),
	    cmocka_unit_test(test_verdict_cache_agrees),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
