/*
 * kidguard-ctl check: the operator's "why is this blocked?". It walks the same decisions as the
 * daemon's query path (resolver/rs_query.c), in the same order, with the daemon's own config
 * and policy code: profile, bypass canaries, schedule and bedtime, blocklist, safe search.
 */

#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bl.h"
#include "rs_policy.h"

struct check {
	const struct rs_profile *prof;
	int mow; /* minute of week, local time */
	struct rs_check_result r;
	struct bl_verdict v;
};

/* "adult, gambling" into `buf` (truncated at `len`). */
static const char *cat_list(struct bl_db *db, uint64_t mask, char *buf, size_t len, bool json)
{
	size_t pos = 0;

	buf[0] = '\0';
	if (mask == UINT64_MAX && !json)
		return snprintf(buf, len, "every category"), buf;
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

static int reader_lookup(void *ctx, const char *name, uint64_t mask, struct bl_verdict *v)
{
	return bl_lookup_text(ctx, name, mask, v);
}

/* The daemon's decision (rs_check, shared with GET /api/check). */
static int decide(struct ctl *c, struct bl_db *db, const char *name, struct check *k)
{
	struct bl_reader *r = NULL;
	struct rs_safesearch *ss = NULL;
	const char *path =
	    c->cfg.safe_search_table[0] ? c->cfg.safe_search_table : rs_safesearch_default_path();
	char err[256];
	int rc;

	if ((rc = bl_reader_open(db, &r)) != 0)
		return rc;
	if (k->prof->safe_search && rs_safesearch_load(path, &ss, err, sizeof(err)) < 0)
		fprintf(stderr, "kidguard-ctl: %s (safe search not checked)\n", err);
	rc = rs_check(k->prof, name, k->mow, ss, reader_lookup, r, &k->v, &k->r);
	rs_safesearch_free(ss);
	bl_reader_close(r);
	return rc;
}

static void print_text(struct bl_db *db, const char *name, const struct check *k)
{
	static const char *const src[] = {"none", "local", "feed"};
	static const char *const dn[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	char cats[1024];
	int active = 0;

	bool passes = strcmp(k->r.answer, "forward") == 0 || strcmp(k->r.answer, "rewrite") == 0;

	printf("%s: %s\n", name, passes ? "not blocked" : "blocked");
	printf("  profile:    %s%s%s (blocks %s)\n", k->prof->name,
	       k->prof->preset[0] ? ", preset " : "", k->prof->preset,
	       cat_list(db, k->prof->block_mask, cats, sizeof(cats), false));
	printf("  time:       %s %02d:%02d", dn[k->mow / 1440], k->mow % 1440 / 60, k->mow % 60);
	for (int i = 0; i < k->prof->n_schedules; i++) {
		if (!rs_schedule_active(&k->prof->schedules[i], k->mow))
			continue;
		printf("%s window %d%s", active++ ? "," : ", schedule:", i + 1,
		       k->prof->schedules[i].bedtime ? " (bedtime)" : "");
	}
	printf("%s\n", active ? "" : ", no schedule active");
	printf("  decided by: %s%s%s\n", k->r.decided_by, k->r.detail[0] ? ": " : "", k->r.detail);
	if (k->r.have_verdict && k->v.action != BL_ACTION_NONE) {
		printf("  rule:       %s (%s, %s", k->v.match, k->v.subtree ? "subtree" : "exact",
		       k->v.action == BL_ACTION_ALLOW ? "allow" : "deny");
		if (k->v.source == BL_SOURCE_FEED)
			printf(", feed version %" PRIu32 ")\n", k->v.feed_version);
		else
			printf(", %s)\n", src[k->v.source]);
		printf("  categories: %s\n",
		       k->v.categories ? cat_list(db, k->v.categories, cats, sizeof(cats), false)
		                       : "(none: applies to every profile)");
	}
	printf("  answer:     %s\n", strcmp(k->r.answer, "forward") == 0 ? "forwarded upstream"
	                             : strcmp(k->r.answer, "rewrite") == 0
	                                 ? "rewritten (safe search)"
	                                 : k->r.answer);
}

static void print_json(struct bl_db *db, const char *name, const struct check *k)
{
	static const char *const act[] = {"none", "allow", "block"};
	static const char *const src[] = {"none", "local", "feed"};
	char cats[1024];
	bool hv = k->r.have_verdict;

	printf("{\"name\":\"%s\",\"profile\":\"%s\",\"decided_by\":\"%s\",\"detail\":\"%s\","
	       "\"answer\":\"%s\",\"action\":\"%s\",\"source\":\"%s\",\"feed_version\":%" PRIu32
	       ",\"match\":\"%s\",\"subtree\":%s,\"categories\":[%s],\"bedtime\":%s}\n",
	       name, k->prof->name, k->r.decided_by, k->r.detail, k->r.answer,
	       hv ? act[k->v.action] : (strcmp(k->r.answer, "forward") ? "block" : "none"),
	       hv ? src[k->v.source] : "none", hv ? k->v.feed_version : 0, hv ? k->v.match : "",
	       hv && k->v.subtree ? "true" : "false",
	       hv ? cat_list(db, k->v.categories, cats, sizeof(cats), true) : "",
	       k->r.bedtime >= 0 ? "true" : "false");
}

static int parse_check_args(struct ctl *c, int argc, char **argv, struct check *k, bool *json)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"client", required_argument, NULL, 'C'},
	                                     {"mac", required_argument, NULL, 'M'},
	                                     {"at", required_argument, NULL, 'A'},
	                                     {NULL, 0, NULL, 0}};
	struct kg_sockaddr client;
	const char *at = NULL;
	uint8_t mac[6];
	bool have_client = false, have_mac = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j') {
			*json = true;
		} else if (ch == 'C' && kg_sockaddr_parse(optarg, 53, &client) == 0) {
			have_client = true;
		} else if (ch == 'M' && rs_mac_parse(optarg, mac) == 0) {
			have_mac = true;
		} else if (ch == 'A') {
			at = optarg;
		} else {
			fprintf(stderr, "kidguard-ctl: check: bad option or value\n");
			return -1;
		}
	}
	if (optind + 1 != argc) {
		fputs("usage: kidguard-ctl check DOMAIN [--client IP] [--mac MAC] "
		      "[--at 'YYYY-MM-DD HH:MM' | --at 'mon 21:00'] [--json]\n",
		      stderr);
		return -1;
	}
	if (parse_at(at, &k->mow) < 0) {
		fprintf(stderr,
		        "kidguard-ctl: --at %s: expected 'YYYY-MM-DD HH:MM' or 'mon 21:00'\n", at);
		return -1;
	}
	k->prof = have_client || have_mac
	              ? rs_profile_select(&c->cfg, (const struct sockaddr *)&client.ss,
	                                  have_mac ? mac : NULL, NULL)
	              : &c->cfg.profiles[c->cfg.default_profile];
	if (have_mac && !have_client) {
		/* a MAC that no profile lists falls back to the default profile */
		memset(&client, 0, sizeof(client));
		client.ss.ss_family = AF_UNSPEC;
	}
	return 0;
}

int ctl_cmd_check(struct ctl *c, int argc, char **argv)
{
	struct check k;
	char norm[BL_NAME_MAX];
	struct bl_db *db;
	bool json = false;
	int rc;

	memset(&k, 0, sizeof(k));
	if (parse_check_args(c, argc, argv, &k, &json) < 0)
		return CTL_EXIT_USAGE;
	if ((rc = bl_name_normalize(argv[optind], norm, sizeof(norm))) != 0) {
		fprintf(stderr, "kidguard-ctl: %s: %s\n", argv[optind], bl_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	if (!(db = ctl_open(c, true)))
		return CTL_EXIT_FAIL;
	rc = decide(c, db, norm, &k);
	if (rc == 0 && json)
		print_json(db, norm, &k);
	else if (rc == 0)
		print_text(db, norm, &k);
	else
		fprintf(stderr, "kidguard-ctl: lookup failed: %s\n", bl_strerror(rc));
	bl_db_close(db);
	return rc ? CTL_EXIT_FAIL : 0;
}
