/* kidguard-ctl commands check, deny/allow and info. */
#include "ctl.h"

#include "bl.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct bl_db *ctl_open(const struct ctl *c, bool readonly)
{
	struct bl_db_options o = {.readonly = readonly};
	struct bl_db *db = NULL;
	int rc = bl_db_open(c->state_dir, &o, &db);

	if (rc != 0) {
		fprintf(stderr, _("kidguard-ctl: cannot open store %s: %s\n"), c->state_dir,
		        kg_strerror(rc));
		return NULL;
	}
	return db;
}

int ctl_categories(struct bl_db *db, char *const *names, int n, uint64_t *mask)
{
	for (int i = 0; i < n; i++) {
		int bit;
		if (bl_category_find(db, names[i], &bit) != 0) {
			fprintf(stderr, _("kidguard-ctl: unknown category '%s'\n"), names[i]);
			return -1;
		}
		*mask |= 1ULL << bit;
	}
	return 0;
}

struct rule_args {
	bool add, exact;
	const char *name;
	const char *profile; /* --profile P: a rule of that profile only */
	char *cats[CTL_CATS_MAX];
	int ncats;
};

static int rule_parse(bool allow, int argc, char **argv, struct rule_args *a)
{
	static const struct option opts[] = {{"category", required_argument, NULL, 'C'},
	                                     {"exact", no_argument, NULL, 'e'},
	                                     {"profile", required_argument, NULL, 'P'},
	                                     {NULL, 0, NULL, 0}};
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'e')
			a->exact = true;
		else if (ch == 'P')
			a->profile = optarg;
		else if (ch == 'C' && !allow && a->ncats < CTL_CATS_MAX)
			a->cats[a->ncats++] = optarg;
		else
			return -1;
	}
	if (optind + 2 != argc || (strcmp(argv[optind], "add") && strcmp(argv[optind], "del")))
		return -1;
	a->add = argv[optind][0] == 'a';
	a->name = argv[optind + 1];
	return 0;
}

/* A rule of one profile ("prules"): the profile's rules beat the household's. */
static int profile_rule_apply(struct bl_db *db, bool allow, const struct rule_args *a,
                              const char *norm, unsigned flags, uint64_t mask)
{
	struct bl_profiles *t;
	int rc = bl_profiles_begin(db, &t);

	if (rc == 0) {
		rc = a->add ? bl_profiles_rule_put(t, a->profile, norm, flags, mask)
		            : bl_profiles_rule_del(t, a->profile, norm, flags);
		if (rc == 0)
			rc = bl_profiles_commit(t);
		else
			bl_profiles_abort(t);
	}
	if (rc != 0)
		fprintf(stderr, _("kidguard-ctl: %s %s %s --profile %s: %s\n"),
		        allow ? "allow" : "deny", a->add ? "add" : "del", norm, a->profile,
		        kg_strerror(rc));
	return rc ? CTL_EXIT_FAIL : 0;
}

static int rule_apply(struct bl_db *db, bool allow, const struct rule_args *a, const char *norm)
{
	unsigned flags = (a->exact ? 0 : BL_F_SUBTREE) | (allow ? BL_F_ALLOW : 0);
	uint64_t mask = 0;
	struct bl_writer *w;
	int rc;

	if (ctl_categories(db, a->cats, a->ncats, &mask) != 0)
		return CTL_EXIT_USAGE;
	if (a->profile)
		return profile_rule_apply(db, allow, a, norm, flags, mask);
	if ((rc = bl_writer_begin(db, &w)) != 0)
		goto out;
	rc = a->add ? bl_writer_put(w, BL_SOURCE_LOCAL, norm, flags, mask, 0)
	            : bl_writer_del(w, BL_SOURCE_LOCAL, norm, flags);
	if (rc != 0) {
		bl_writer_abort(w);
		goto out;
	}
	rc = bl_writer_commit(w);
out:
	if (rc != 0)
		fprintf(stderr, _("kidguard-ctl: %s %s %s: %s\n"), allow ? "allow" : "deny",
		        a->add ? "add" : "del", norm, kg_strerror(rc));
	return rc ? CTL_EXIT_FAIL : 0;
}

int ctl_cmd_rule(struct ctl *c, bool allow, int argc, char **argv)
{
	struct rule_args a = {0};
	char norm[BL_NAME_MAX];
	struct bl_db *db;
	int rc;

	if (rule_parse(allow, argc, argv, &a) != 0) {
		fprintf(stderr, _("usage: kidguard-ctl %s\n"),
		        allow ? "allow add|del DOMAIN [--exact] [--profile P]"
		              : "deny add|del DOMAIN [--category C]... [--exact] [--profile P]");
		return CTL_EXIT_USAGE;
	}
	if ((rc = bl_name_normalize(a.name, norm, sizeof(norm))) != 0) {
		fprintf(stderr, _("kidguard-ctl: %s: %s\n"), a.name, kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	if (!(db = ctl_open(c, false)))
		return CTL_EXIT_FAIL;
	if (a.profile && !ctl_profile_known(c, db, a.profile)) {
		fprintf(stderr, _("kidguard-ctl: no profile %s in the config or the store\n"),
		        a.profile);
		bl_db_close(db);
		return CTL_EXIT_FAIL;
	}
	rc = rule_apply(db, allow, &a, norm);
	bl_db_close(db);
	return rc;
}

static void print_time(const char *label, uint64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm))
		printf(_("%-14s never\n"), label);
	else
		printf("%-14s %s\n", label, buf);
}

static void print_stats(struct bl_db *db, const struct bl_stats *st)
{
	printf("%-14s %12s %12s\n", "", _("local"), _("feed"));
	printf("%-14s %12" PRIu64 " %12" PRIu64 "\n", _("rules"), st->rules[0], st->rules[1]);
	printf("%-14s %12" PRIu64 " %12" PRIu64 "\n", _("allow"), st->allow[0], st->allow[1]);
	printf("%-14s %12" PRIu64 " %12" PRIu64 "\n", _("deny"), st->deny[0], st->deny[1]);
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *name = bl_category_name(db, b);
		if (st->per_category[0][b] || st->per_category[1][b])
			printf("  %-12s %12" PRIu64 " %12" PRIu64 "\n", name ? name : "?",
			       st->per_category[0][b], st->per_category[1][b]);
	}
	if (st->uncategorized[0] || st->uncategorized[1])
		printf("  %-12s %12" PRIu64 " %12" PRIu64 "\n", "(all)", st->uncategorized[0],
		       st->uncategorized[1]);
	printf(_("%-14s %.1f MiB of %.0f MiB map\n"), _("disk"), st->disk_bytes / 1048576.0,
	       st->map_bytes / 1048576.0);
}

/* The fleet subscriber channel ([subscribers]): shown once the table has a hash. */
static void print_fleet(struct bl_db *db)
{
	struct bl_clients_meta cm;
	uint64_t n = 0;

	if (bl_clients_meta(db, &cm) != 0 || (!cm.has_hash && !cm.last_attempt))
		return;
	bl_clients_count(db, &n);
	/* TRANSLATORS: the first 15 columns are a label, as in the other lines of "info" */
	printf(_("subscribers    %" PRIu64 " prefixes, fleet version %" PRIu64 ", drift %" PRIu64
	         "\n"),
	       n, cm.version, cm.drift);
	if (cm.has_hash) {
		fputs(_("table hash     "), stdout);
		for (int i = 0; i < BL_SUBS_HASH_LEN; i++)
			printf("%02x", cm.hash[i]);
		printf("\n");
	}
	if (cm.last_error[0])
		printf(_("subs error     %s\n"), cm.last_error);
}

/* The feed signing keys a verified manifest announced (hex, as public_keys takes them), with
 * the time each is trusted from. */
static void print_feed_keys(struct bl_db *db)
{
	struct bl_feed_key k[BL_FEED_KEYS_MAX];
	int n = bl_db_feed_keys(db, k, BL_FEED_KEYS_MAX);

	for (int i = 0; i < n; i++) {
		fputs(_("announced key  "), stdout);
		for (int b = 0; b < BL_FEED_KEY_LEN; b++)
			printf("%02x", k[i].key[b]);
		/* TRANSLATORS: after the key: the time (unix seconds) it is trusted from */
		printf(_(" from %" PRIu64 "\n"), k[i].from);
	}
}

int ctl_cmd_info(struct ctl *c, int argc, char **argv)
{
	struct bl_stats st;
	struct bl_meta m;
	struct bl_db *db;
	int rc;

	if (argc != 1) {
		fputs(_("usage: kidguard-ctl info\n"), stderr);
		return CTL_EXIT_USAGE;
	}
	if (!(db = ctl_open(c, true)))
		return CTL_EXIT_FAIL;
	rc = bl_db_meta(db, &m);
	if (rc == 0)
		rc = bl_db_stats(db, &st);
	if (rc == 0) {
		printf(_("store          %s\n"), c->state_dir);
		printf(_("feed version   %" PRIu64 "\n"), m.feed_version);
		print_time(_("last sync"), m.last_sync);
		print_time(_("last attempt"), m.last_attempt);
		if (m.timestamp_ttl) /* freshness counts from it (docs/feed-format.md) */
			printf(_("signed at      %" PRIu64 " (timestamp valid %" PRIu64 " s)\n"),
			       m.timestamp_signed, m.timestamp_ttl);
		if (m.last_error[0])
			printf(_("last error     %s\n"), m.last_error);
		print_feed_keys(db);
		print_stats(db, &st);
		print_fleet(db);
	} else {
		fprintf(stderr, _("kidguard-ctl: info: %s\n"), kg_strerror(rc));
	}
	bl_db_close(db);
	return rc ? CTL_EXIT_FAIL : 0;
}
