/*
 * kidguard-ctl check: the operator's "why is this blocked?". It calls the daemon's own decision
 * (rs_decide, resolver/policy/rs_decide.c) with the daemon's config and store: profile (device
 * ID, subscriber table, MAC, address), fail-closed, bypass canaries, schedule and bedtime,
 * blocklist, safe search.
 */

#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <stdlib.h>

#include "bl.h"
#include "rs.h"

struct check {
	const struct rs_profile *prof;
	int mow; /* minute of week, local time */
	struct kg_sockaddr client;
	uint8_t mac[6];
	struct rs_client cl;
	struct rs_verdict r;
	struct rs_profile own;     /* the verdict's profile, copied out of the decision's scratch */
	struct bl_profile_rec rec; /* --profile: does the store know it? */
};

/* "adult, gambling" into `buf` (truncated at `len`). */
static const char *cat_list(struct bl_db *db, uint64_t mask, char *buf, size_t len, bool json)
{
	size_t pos = 0;

	buf[0] = '\0';
	if (mask == UINT64_MAX && !json)
		return snprintf(buf, len, "%s", _("every category")), buf;
	for (int b = 0; b < BL_CATEGORY_MAX && pos < len; b++) {
		const char *name = bl_category_name(db, b);
		int n;
		if (!(mask & (1ULL << b)) || (!name && mask == UINT64_MAX))
			continue;
		n = snprintf(buf + pos, len - pos, json ? "%s\"%s\"" : "%s%s", pos ? ", " : "",
		             name ? name : "?");
		pos += n > 0 ? (size_t)n : 0;
	}
	return buf;
}

/* --at "2026-11-30 21:00" / "2026-11-30T21:00" or "mon 21:00"; default: now. */
static int parse_at(const char *s, int *mow)
{
	static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	struct tm tm;
	char d[4];
	unsigned h, m;
	time_t t;

	if (!s) {
		t = time(NULL);
		localtime_r(&t, &tm);
		*mow = ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
		return 0;
	}
	if (sscanf(s, "%3s %u:%u", d, &h, &m) == 3 && h < 24 && m < 60) {
		for (int i = 0; i < 7; i++)
			if (strcmp(d, days[i]) == 0)
				return *mow = i * 1440 + (int)(h * 60 + m), 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (!strptime(s, "%Y-%m-%d %H:%M", &tm) && !strptime(s, "%Y-%m-%dT%H:%M", &tm))
		return -1;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	localtime_r(&t, &tm);
	*mow = ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
	return 0;
}

/* The feed stale and on_stale = fail_closed, as the daemon's watch would see it. */
static bool failing_closed(const struct rs_config *cfg, struct bl_db *db)
{
	struct bl_meta m;

	return cfg->sync_on_stale == RS_STALE_FAIL_CLOSED && bl_db_meta(db, &m) == 0 &&
	       rs_feed_stale(cfg, &m, (uint64_t)time(NULL), 0);
}

/* The daemon's decision (rs_decide, shared with the query path, GET /api/check and the block
 * page). */
static int decide(struct ctl *c, struct bl_db *db, const char *name, struct check *k)
{
	struct bl_reader *r = NULL;
	struct rs_safesearch *ss = NULL;
	const char *path =
	    c->cfg.safe_search_table[0] ? c->cfg.safe_search_table : rs_safesearch_default_path();
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire)), rc;
	struct rs_ask ask = {wire, n > 0 ? (size_t)n : 0, 1 /* IN */, NULL};
	struct rs_decide_ctx cx = {.cfg = &c->cfg, .db = db, .minute_of_week = k->mow};
	char err[256];

	if (n <= 0)
		return BL_ENAME;
	if (!(cx.scratch = rs_profile_scratch_new()))
		return -ENOMEM;
	if ((rc = bl_reader_open(db, &r)) != 0) {
		free(cx.scratch);
		return rc;
	}
	if (rs_safesearch_load(path, &ss, err, sizeof(err)) < 0)
		fprintf(stderr, _("kidguard-ctl: %s (safe search not checked)\n"), err);
	cx.ss = ss;
	cx.rd = r;
	cx.fail_closed = failing_closed(&c->cfg, db);
	/* a DoT/DoH device ID: found as the daemon finds it */
	rc = k->cl.device_id ? rs_client_device(&c->cfg, r, k->cl.device_id, NULL, &k->cl) : 0;
	if (rc == 0)
		rc = rs_decide(&cx, &k->cl, &ask, RS_STAGE_ALL, &k->r);
	if (rc == 0 && k->r.store_rc < 0)
		rc = k->r.store_rc;
	/* the profile may live in the scratch: keep a copy that outlives it; an unknown device
	 * ID refused has none (an empty one is shown) */
	if (rc == 0 && k->r.profile)
		k->own = *k->r.profile;
	k->r.profile = k->prof = &k->own;
	free(cx.scratch);
	rs_safesearch_free(ss);
	bl_reader_close(r);
	return rc;
}

static void print_text(struct bl_db *db, const char *name, const struct check *k)
{
	static const char *const src[] = {N_("none"), N_("local"), N_("feed")};
	static const char *const dn[] = {N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"),
	                                 N_("Fri"), N_("Sat"), N_("Sun")};
	char cats[1024];
	int active = 0;

	const struct bl_verdict *v = &k->r.list;
	const char *answer = rs_verdict_answer(&k->r);
	bool passes = k->r.outcome == RS_OUT_FORWARD || k->r.outcome == RS_OUT_REWRITE;

	printf("%s: %s\n", name, passes ? _("not blocked") : _("blocked"));
	if (k->r.outcome == RS_OUT_REFUSE) {
		printf(_("  decided by: %s%s%s\n"), k->r.decided_by, "", "");
		printf(_("  answer:     %s\n"), answer);
		return;
	}
	printf(_("  profile:    %s%s%s (blocks %s; chosen by %s)\n"), k->prof->name,
	       k->prof->preset[0] ? _(", preset ") : "", k->prof->preset,
	       cat_list(db, k->prof->block_mask, cats, sizeof(cats), false),
	       rs_profile_by_name(k->r.profile_by));
	printf(_("  time:       %s %02d:%02d"), _(dn[k->mow / 1440]), k->mow % 1440 / 60,
	       k->mow % 60);
	for (int i = 0; i < k->prof->n_schedules; i++) {
		if (!rs_schedule_active(&k->prof->schedules[i], k->mow))
			continue;
		printf(_("%s window %d%s"), active++ ? "," : _(", schedule:"), i + 1,
		       k->prof->schedules[i].bedtime ? _(" (bedtime)") : "");
	}
	printf("%s\n", active ? "" : _(", no schedule active"));
	printf(_("  decided by: %s%s%s\n"), k->r.decided_by, k->r.text[0] ? ": " : "", k->r.text);
	if (k->r.have_list && v->action != BL_ACTION_NONE) {
		printf(_("  rule:       %s (%s, %s"), v->match,
		       v->subtree ? _("subtree") : _("exact"),
		       v->action == BL_ACTION_ALLOW ? _("allow") : _("deny"));
		if (v->source == BL_SOURCE_FEED)
			printf(_(", feed version %" PRIu32 ")\n"), v->feed_version);
		else
			printf(", %s)\n", _(src[v->source]));
		printf(_("  categories: %s\n"),
		       v->categories ? cat_list(db, v->categories, cats, sizeof(cats), false)
		                     : _("(none: applies to every profile)"));
	}
	printf(_("  answer:     %s\n"), k->r.outcome == RS_OUT_FORWARD ? _("forwarded upstream")
	                                : k->r.outcome == RS_OUT_REWRITE
	                                    ? _("rewritten (safe search)")
	                                    : answer);
}

static void print_json(struct bl_db *db, const char *name, const struct check *k)
{
	static const char *const act[] = {"none", "allow", "block"};
	static const char *const src[] = {"none", "local", "feed"};
	const struct bl_verdict *v = &k->r.list;
	char cats[1024];
	bool hv = k->r.have_list;

	printf("{\"name\":\"%s\",\"profile\":\"%s\",\"profile_by\":\"%s\",\"decided_by\":"
	       "\"%s\",\"detail\":\"%s\",\"answer\":\"%s\",\"action\":\"%s\",\"source\":"
	       "\"%s\",\"feed_version\":%" PRIu32
	       ",\"match\":\"%s\",\"subtree\":%s,\"categories\":[%s],\"bedtime\":%s}\n",
	       name, k->prof->name, rs_profile_by_name(k->r.profile_by), k->r.decided_by, k->r.text,
	       rs_verdict_answer(&k->r),
	       hv ? act[v->action] : (k->r.outcome == RS_OUT_BLOCK ? "block" : "none"),
	       hv ? src[v->source] : "none", hv ? v->feed_version : 0, hv ? v->match : "",
	       hv && v->subtree ? "true" : "false",
	       hv ? cat_list(db, v->categories, cats, sizeof(cats), true) : "",
	       k->r.bedtime >= 0 ? "true" : "false");
}

static int parse_check_args(struct ctl *c, int argc, char **argv, struct check *k, bool *json)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"client", required_argument, NULL, 'C'},
	                                     {"mac", required_argument, NULL, 'M'},
	                                     {"at", required_argument, NULL, 'A'},
	                                     {"profile", required_argument, NULL, 'P'},
	                                     {"device-id", required_argument, NULL, 'D'},
	                                     {NULL, 0, NULL, 0}};
	const char *at = NULL;
	bool have_client = false, have_mac = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j') {
			*json = true;
		} else if (ch == 'C' && kg_sockaddr_parse(optarg, 53, &k->client) == 0) {
			have_client = true;
		} else if (ch == 'M' && rs_mac_parse(optarg, k->mac) == 0) {
			have_mac = true;
		} else if (ch == 'A') {
			at = optarg;
		} else if (ch == 'D' && optarg[0]) {
			k->cl.device_id = optarg; /* a secret: never printed */
		} else if (ch == 'P' && bl_profile_name_valid(optarg)) {
			k->cl.profile_name = optarg; /* checked against the file and store later */
		} else {
			fprintf(stderr, _("kidguard-ctl: check: bad option or value\n"));
			return -1;
		}
	}
	if (optind + 1 != argc) {
		fputs(
		    _("usage: kidguard-ctl check DOMAIN [--client IP] [--mac MAC] [--device-id ID] "
		      "[--profile P] [--at 'YYYY-MM-DD HH:MM' | --at 'mon 21:00'] [--json]\n"),
		    stderr);
		return -1;
	}
	if (parse_at(at, &k->mow) < 0) {
		fprintf(stderr,
		        _("kidguard-ctl: --at %s: expected 'YYYY-MM-DD HH:MM' or 'mon 21:00'\n"),
		        at);
		return -1;
	}
	/* The operator asks what that client (or device, by MAC) gets: as if its router were
	 * a trusted forwarder. */
	k->cl.addr = have_client ? (const struct sockaddr *)&k->client.ss : NULL;
	k->cl.mac = have_mac ? k->mac : NULL;
	k->cl.assume_trusted = true;
	return 0;
}

int ctl_cmd_check(struct ctl *c, int argc, char **argv)
{
	struct check *k = calloc(1, sizeof(*k)); /* a profile and a verdict: too big to stack */
	char norm[BL_NAME_MAX];
	struct bl_db *db;
	bool json = false;
	int rc = CTL_EXIT_USAGE;

	if (!k)
		return CTL_EXIT_FAIL;
	if (parse_check_args(c, argc, argv, k, &json) < 0)
		goto out;
	rc = CTL_EXIT_FAIL;
	if (bl_name_normalize(argv[optind], norm, sizeof(norm)) != 0) {
		fprintf(stderr, _("kidguard-ctl: %s: %s\n"), argv[optind], kg_strerror(BL_ENAME));
		goto out;
	}
	if (!(db = ctl_open(c, true)))
		goto out;
	rc = k->cl.profile_name && !rs_profile_named(&c->cfg, k->cl.profile_name) &&
	             bl_profile_read(db, k->cl.profile_name, &k->rec) != 0
	         ? RS_EINVAL
	         : decide(c, db, norm, k);
	if (rc == 0 && json)
		print_json(db, norm, k);
	else if (rc == 0)
		print_text(db, norm, k);
	else
		fprintf(stderr, _("kidguard-ctl: lookup failed: %s\n"),
		        rc == RS_EINVAL ? "no such profile" : kg_strerror(rc));
	bl_db_close(db);
	rc = rc ? CTL_EXIT_FAIL : 0;
out:
	free(k);
	return rc;
}
