/*
 * kidguard-ctl profile: the household's profiles as data (blocklist/bl_profiles.c), the same
 * records the dashboard's Family page writes through PUT /api/profiles.
 *
 *   profile list                         every profile: the file's and the store's
 *   profile show NAME                    one record and its rules
 *   profile set NAME KEY=VALUE...        template=, preset=, mode=filter|allowlist,
 *                                        block_add=C[,C], block_remove=C[,C],
 *                                        bedtime=HH:MM-HH:MM[@DAYS] | bedtime=off,
 *                                        bedtime_allow=NAME[,NAME],
 *                                        schedule='DAYS HH:MM-HH:MM block C[,C]' (each one
 *                                        given replaces the other windows) | schedule=off
 *   profile delete NAME                  the store record and its rules (the file's stays)
 *   profile device add NAME --address A | --mac M    (a device already assigned moves)
 *   profile device del --address A | --mac M
 *
 * Unknown presets, categories, templates and modes are refused with exit 1.
 */
#include "ctl.h"

#include "bl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void)
{
	fputs(_("usage: kidguard-ctl profile list | show NAME | delete NAME\n"
	        "       kidguard-ctl profile set NAME KEY=VALUE... (template, preset, mode,\n"
	        "                    block_add, block_remove, bedtime, bedtime_allow,\n"
	        "                    schedule='DAYS HH:MM-HH:MM block C[,C]' or schedule=off)\n"
	        "       kidguard-ctl profile device add NAME --address IP | --mac MAC\n"
	        "       kidguard-ctl profile device del --address IP | --mac MAC\n"),
	      stderr);
	return CTL_EXIT_USAGE;
}

bool ctl_profile_known(const struct ctl *c, struct bl_db *db, const char *name)
{
	struct bl_profile_rec *rec;
	bool known = rs_profile_named(&c->cfg, name) != NULL;

	if (!known && (rec = malloc(sizeof(*rec)))) {
		known = bl_profile_read(db, name, rec) == 0;
		free(rec);
	}
	return known;
}

static void print_mask(struct bl_db *db, const char *label, uint64_t mask)
{
	const char *sep = "";

	printf("%-14s", label);
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n = (mask & (1ULL << b)) ? bl_category_name(db, b) : NULL;
		if (n) {
			printf("%s%s", sep, n);
			sep = ", ";
		}
	}
	printf("\n");
}

/* A schedule window as kidguard.conf writes it: "schedule  mon,tue 08:00-15:00 block games". */
static void print_window(struct bl_db *db, const struct bl_profile_sched *w)
{
	static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	const char *sep = "";

	printf("%-14s ", "schedule");
	for (int d = 0; d < 7; d++)
		if (w->days & (1u << d)) {
			printf("%s%s", sep, days[d]);
			sep = ",";
		}
	printf(" %02u:%02u-%02u:%02u block", w->start / 60, w->start % 60, w->end / 60,
	       w->end % 60);
	sep = " ";
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n = (w->extra_block & (1ULL << b)) ? bl_category_name(db, b) : NULL;
		if (n) {
			printf("%s%s", sep, n);
			sep = ", ";
		}
	}
	printf("\n");
}

static int print_rule(const struct bl_rule *rule, void *arg)
{
	(void)arg;
	printf("rule           %s %s%s\n", rule->flags & BL_F_ALLOW ? "allow" : "deny", rule->name,
	       rule->flags & BL_F_SUBTREE ? "" : " (exact)");
	return 0;
}

static int print_rec(struct bl_db *db, const char *name, const struct bl_profile_rec *r)
{
	printf("profile        %s\n", name);
	if (r->set & BL_PF_FLEET) { /* a household of the ISP's subscriber channel */
		static const uint8_t zero[BL_SUBS_HASH_LEN];
		printf("source         subscribers%s\n",
		       memcmp(r->digest, zero, sizeof(zero)) ? "" : " (changed on this node)");
	}
	if (r->set & BL_PF_TEMPLATE)
		printf("template       %s\n", r->tmpl);
	if (r->set & BL_PF_PRESET)
		printf("preset         %s\n", r->preset);
	if (r->set & BL_PF_MODE)
		printf("mode           %s\n",
		       r->mode == BL_MODE_ALLOWLIST ? "allowlist" : "filter");
	if (r->set & BL_PF_BLOCK) {
		print_mask(db, "block_add", r->block_add);
		print_mask(db, "block_remove", r->block_del);
	}
	for (int i = 0; i < r->n_sched; i++)
		if (r->sched[i].bedtime)
			printf("bedtime        %02u:%02u-%02u:%02u\n", r->sched[i].start / 60,
			       r->sched[i].start % 60, r->sched[i].end / 60, r->sched[i].end % 60);
		else
			print_window(db, &r->sched[i]);
	for (int i = 0; i < r->n_allow; i++)
		printf("bedtime_allow  %s\n", bl_profile_rec_allow(r, i));
	printf("rules          %u\n", r->n_rules);
	return 0;
}

static int list_one(const char *name, const struct bl_profile_rec *rec, void *arg)
{
	const struct ctl *c = arg;

	if (!rs_profile_named(&c->cfg, name))
		printf("%-31s %s%s\n", name, rec->set & BL_PF_FLEET ? "subscribers" : "store",
		       rec->n_rules ? " (rules)" : "");
	return 0;
}

static int cmd_list(const struct ctl *c, struct bl_db *db)
{
	struct bl_profile_rec *rec = malloc(sizeof(*rec));

	for (int i = 0; rec && i < c->cfg.n_profiles; i++) {
		const char *n = c->cfg.profiles[i].name;
		printf("%-31s %s\n", n,
		       bl_profile_read(db, n, rec) == 0 ? "config+store" : "config");
	}
	free(rec);
	return bl_profiles_list(db, list_one, (void *)c) < 0 ? CTL_EXIT_FAIL : 0;
}

/* "21:00-06:30" or "21:00-06:30@mon-fri" into a bedtime window. */
static int parse_bedtime(const char *v, struct bl_profile_sched *s)
{
	char range[32];
	const char *at = strchr(v, '@');
	struct rs_schedule rs;
	size_t n = at ? (size_t)(at - v) : strlen(v);

	if (n >= sizeof(range))
		return -1;
	memcpy(range, v, n);
	range[n] = '\0';
	if (rs_schedule_parse(at ? at + 1 : "daily", range, &rs) < 0)
		return -1;
	*s = (struct bl_profile_sched){rs.days, true, rs.start, rs.end, 0};
	return 0;
}

/* Categories "a,b" into bits; prints the unknown one. */
static int parse_cats(struct bl_db *db, const char *v, uint64_t *mask)
{
	char buf[512], *tok, *save = NULL;
	int bit;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (bl_category_find(db, tok, &bit) != 0) {
			fprintf(stderr, _("kidguard-ctl: unknown category %s\n"), tok);
			return -1;
		}
		*mask |= 1ULL << bit;
	}
	return 0;
}

static int set_bedtime(const struct ctl *c, const char *name, const char *v,
                       struct bl_profile_rec *r)
{
	struct bl_profile_sched s;
	bool off = strcmp(v, "off") == 0;

	if (!off && parse_bedtime(v, &s) < 0)
		return -1;
	/* the same change as the dashboard's (PUT /api/profiles "bedtime") */
	return rs_profile_rec_windows(r, rs_profile_rec_base(&c->cfg, name, r), true,
	                              off ? NULL : &s, false, NULL, 0)
	           ? -1
	           : 0;
}

static int set_allow(const char *v, struct bl_profile_rec *r)
{
	char buf[1024], norm[BL_NAME_MAX], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	r->n_allow = 0;
	memset(r->allow, 0, sizeof(r->allow));
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (bl_name_normalize(tok, norm, sizeof(norm)) || bl_profile_rec_allow_add(r, norm))
			return -1;
	r->set |= BL_PF_BEDTIME_ALLOW;
	return 0;
}

struct set_ctx {
	struct bl_profile_rec rec;
	struct rs_profile tmp;
	bool windows_set; /* a schedule= was given: the windows below replace the record's */
	int n_windows;
	struct bl_profile_sched windows[BL_PROFILE_SCHED_MAX - 1]; /* one slot for bedtime */
};

/* "DAYS HH:MM-HH:MM block C[,C]" (what `profile show` prints and the config's `schedule =`
 * takes) into the next window of `s`, or "off". Returns 0, or -1 after printing why. */
static int add_window(struct bl_db *db, const char *v, struct set_ctx *s)
{
	char days[64], range[32], word[16];
	int used = 0;
	struct rs_schedule rs;
	uint64_t cats = 0;

	s->windows_set = true;
	if (strcmp(v, "off") == 0)
		return 0;
	if (sscanf(v, "%63s %31s %15s %n", days, range, word, &used) != 3 || used == 0 ||
	    strcmp(word, "block") != 0 || rs_schedule_parse(days, range, &rs) < 0) {
		fprintf(
		    stderr,
		    _("kidguard-ctl: schedule: expected 'DAYS HH:MM-HH:MM block C[,C]' or off\n"));
		return -1;
	}
	if (parse_cats(db, v + used, &cats) < 0)
		return -1;
	if (!cats) {
		fprintf(stderr, _("kidguard-ctl: schedule: name the categories it blocks\n"));
		return -1;
	}
	if (s->n_windows >= (int)(sizeof(s->windows) / sizeof(s->windows[0]))) {
		fprintf(stderr, _("kidguard-ctl: schedule: at most %d windows\n"),
		        (int)(sizeof(s->windows) / sizeof(s->windows[0])));
		return -1;
	}
	s->windows[s->n_windows++] =
	    (struct bl_profile_sched){rs.days, false, rs.start, rs.end, cats};
	return 0;
}

/* One KEY=VALUE into the record. Returns 0, or -1 after printing why. */
static int set_one(const struct ctl *c, struct bl_db *db, const char *name, const char *kv,
                   struct set_ctx *s)
{
	struct bl_profile_rec *r = &s->rec;
	struct rs_profile *tmp = &s->tmp;
	const char *eq = strchr(kv, '='), *v;
	uint64_t m = 0;
	int mode;

	if (!eq) {
		fprintf(stderr, _("kidguard-ctl: %s: expected KEY=VALUE\n"), kv);
		return -1;
	}
	v = eq + 1;
#define KEY(k) ((size_t)(eq - kv) == strlen(k) && strncmp(kv, k, strlen(k)) == 0)
	if (KEY("template")) {
		if (*v && !rs_profile_named(&c->cfg, v)) {
			fprintf(stderr,
			        _("kidguard-ctl: unknown template %s (a profile of the config)\n"),
			        v);
			return -1;
		}
		snprintf(r->tmpl, sizeof(r->tmpl), "%s", v);
		r->set |= BL_PF_TEMPLATE;
	} else if (KEY("preset")) {
		if (strlen(v) >= sizeof(r->preset) || rs_preset_apply(v, tmp) < 0) {
			fprintf(stderr, _("kidguard-ctl: unknown preset %s (known: %s)\n"), v,
			        rs_preset_names());
			return -1;
		}
		snprintf(r->preset, sizeof(r->preset), "%s", v);
		r->set |= BL_PF_PRESET;
	} else if (KEY("mode")) {
		if (rs_mode_parse(v, &mode) < 0) {
			fprintf(stderr, _("kidguard-ctl: mode: expected filter or allowlist\n"));
			return -1;
		}
		r->mode = mode == RS_MODE_ALLOWLIST ? BL_MODE_ALLOWLIST : BL_MODE_FILTER;
		r->set |= BL_PF_MODE;
	} else if (KEY("block_add") || KEY("block_remove")) {
		if (parse_cats(db, v, &m) < 0)
			return -1;
		if (kv[6] == 'a') {
			r->block_add |= m;
			r->block_del &= ~m;
		} else {
			r->block_del |= m;
			r->block_add &= ~m;
		}
		r->set |= BL_PF_BLOCK;
	} else if (KEY("bedtime")) {
		if (set_bedtime(c, name, v, r) < 0) {
			fprintf(stderr,
			        _("kidguard-ctl: bedtime: expected HH:MM-HH:MM[@DAYS] or off\n"));
			return -1;
		}
	} else if (KEY("schedule")) {
		return add_window(db, v, s);
	} else if (KEY("bedtime_allow")) {
		if (set_allow(v, r) < 0) {
			fprintf(stderr,
			        _("kidguard-ctl: bedtime_allow: bad name or more than %d\n"),
			        BL_PROFILE_ALLOW_MAX);
			return -1;
		}
	} else {
		fprintf(stderr, _("kidguard-ctl: unknown key %.*s\n"), (int)(eq - kv), kv);
		return -1;
	}
#undef KEY
	return 0;
}

static int cmd_set(const struct ctl *c, struct bl_db *db, const char *name, int n, char **kv)
{
	struct set_ctx *s = calloc(1, sizeof(*s));
	struct bl_profiles *t = NULL;
	int rc;

	if (!s)
		return CTL_EXIT_FAIL;
	if ((rc = bl_profiles_begin(db, &t)) < 0)
		goto out;
	rc = bl_profiles_get(t, name, &s->rec);
	if (rc == BL_ENOTFOUND)
		rc = 0;
	for (int i = 0; rc == 0 && i < n; i++)
		if (set_one(c, db, name, kv[i], s) < 0)
			rc = RS_EINVAL;
	/* the same change as the dashboard's (PUT /api/profiles "schedules") */
	if (rc == 0 && s->windows_set &&
	    rs_profile_rec_windows(&s->rec, rs_profile_rec_base(&c->cfg, name, &s->rec), false,
	                           NULL, true, s->windows, s->n_windows)) {
		fprintf(stderr, _("kidguard-ctl: schedule: the profile has no room for another "
		                  "window\n"));
		rc = RS_EINVAL;
	}
	s->rec.updated = (uint64_t)time(NULL);
	if (rc == 0 && (rc = bl_profiles_put(t, name, &s->rec)) == 0) {
		rc = bl_profiles_commit(t);
		t = NULL;
	}
out:
	bl_profiles_abort(t);
	if (rc < 0 && rc != RS_EINVAL)
		fprintf(stderr, _("kidguard-ctl: profile set %s: %s\n"), name, kg_strerror(rc));
	free(s);
	return rc ? CTL_EXIT_FAIL : 0;
}

static int cmd_delete(struct bl_db *db, const char *name)
{
	struct bl_profiles *t;
	int rc = bl_profiles_begin(db, &t);

	if (rc == 0) {
		rc = bl_profiles_del(t, name);
		if (rc == 0)
			rc = bl_profiles_commit(t);
		else
			bl_profiles_abort(t);
	}
	if (rc)
		fprintf(stderr, _("kidguard-ctl: profile delete %s: %s\n"), name, kg_strerror(rc));
	return rc ? CTL_EXIT_FAIL : 0;
}

/* profile device add NAME --address A | --mac M;  profile device del --address A | --mac M */
static int cmd_device(const struct ctl *c, struct bl_db *db, int argc, char **argv)
{
	static const struct option opts[] = {{"address", required_argument, NULL, 'a'},
	                                     {"mac", required_argument, NULL, 'm'},
	                                     {NULL, 0, NULL, 0}};
	const char *addr = NULL, *mac = NULL, *prof;
	struct bl_prefix p;
	uint8_t mb[6];
	bool add;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			addr = optarg;
		else if (ch == 'm')
			mac = optarg;
		else
			return usage();
	}
	if (optind + 2 > argc || (!addr == !mac))
		return usage();
	add = strcmp(argv[optind + 1], "add") == 0;
	if (!add && strcmp(argv[optind + 1], "del") != 0)
		return usage();
	prof = add && optind + 2 < argc ? argv[optind + 2] : NULL;
	if (add && (!prof || !ctl_profile_known(c, db, prof))) {
		fprintf(stderr, _("kidguard-ctl: no profile %s in the config or the store\n"),
		        prof ? prof : "(none)");
		return CTL_EXIT_FAIL;
	}
	if ((mac && rs_mac_parse(mac, mb) < 0) || (addr && bl_prefix_parse(addr, &p) < 0)) {
		fprintf(stderr, _("kidguard-ctl: not an address or MAC: %s\n"), mac ? mac : addr);
		return CTL_EXIT_FAIL;
	}
	if (mac) {
		struct bl_profiles *t;
		if ((rc = bl_profiles_begin(db, &t)) == 0) {
			rc = add ? bl_profiles_mac_put(t, mb, prof) : bl_profiles_mac_del(t, mb);
			rc = rc ? (bl_profiles_abort(t), rc) : bl_profiles_commit(t);
		}
	} else {
		struct bl_clients *t;
		if ((rc = bl_clients_begin(db, &t)) == 0) {
			rc = add ? bl_clients_put(t, &p, prof) : bl_clients_del(t, &p);
			rc = rc ? (bl_clients_abort(t), rc) : bl_clients_commit(t);
		}
	}
	if (rc)
		fprintf(stderr, _("kidguard-ctl: profile device: %s\n"), kg_strerror(rc));
	else if (mac && add && c->cfg.n_trusted_forwarders == 0)
		fprintf(stderr,
		        _("kidguard-ctl: warning: MAC addresses are believed only from [server] "
		          "trusted_forwarders (the router that adds them); the configuration "
		          "sets none, so this device gets its address's profile\n"));
	return rc ? CTL_EXIT_FAIL : 0;
}

int ctl_cmd_profile(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct bl_profile_rec *rec;
	struct bl_db *db;
	int rc;

	if (strcmp(sub, "device") == 0) {
		if (!(db = ctl_open(c, false)))
			return CTL_EXIT_FAIL;
		rc = cmd_device(c, db, argc, argv);
		bl_db_close(db);
		return rc;
	}
	if (strcmp(sub, "list") != 0 && (argc < 3 || !bl_profile_name_valid(argv[2])))
		return usage();
	if (!(db = ctl_open(c, strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0)))
		return CTL_EXIT_FAIL;
	if (strcmp(sub, "list") == 0) {
		rc = cmd_list(c, db);
	} else if (strcmp(sub, "show") == 0 && (rec = malloc(sizeof(*rec)))) {
		rc = bl_profile_read(db, argv[2], rec);
		if (rc == 0) {
			print_rec(db, argv[2], rec);
			bl_profile_rules_list(db, argv[2], print_rule, NULL);
		} else if (rs_profile_named(&c->cfg, argv[2])) {
			/* TRANSLATORS: "profile" and "source" are the record's keys, as
			 * "profile show" prints them */
			printf(_("profile        %s\nsource         config only\n"), argv[2]);
			rc = 0;
		} else {
			fprintf(stderr, _("kidguard-ctl: no profile %s\n"), argv[2]);
		}
		free(rec);
		rc = rc ? CTL_EXIT_FAIL : 0;
	} else if (strcmp(sub, "set") == 0 && argc > 3) {
		rc = cmd_set(c, db, argv[2], argc - 3, argv + 3);
	} else if (strcmp(sub, "delete") == 0) {
		rc = cmd_delete(db, argv[2]);
	} else {
		rc = usage();
	}
	bl_db_close(db);
	return rc;
}
