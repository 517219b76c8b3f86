/* kidguard-desk triage, accept/reject/snooze/undo, audit, export, stats. */
#include "desk.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kg_err.h"

#define LIMIT_MAX   10000
#define SNOOZE_MAX  365
#define EXPORT_CATS 64

static int open_store(const struct desk_conf *c, bool readonly, struct dk_store **s)
{
	int rc = dk_store_open(c->store, readonly, s);

	if (rc != 0)
		fprintf(stderr, "kidguard-desk: store %s: %s\n", c->store, kg_strerror(rc));
	return rc;
}

/* "reported_names": the names parents reported under the candidate (the first DK_CAND_NAMES),
 * "reported_names_total": how many there are. */
static void add_names(cJSON *e, const struct dk_cand *c)
{
	cJSON *names = cJSON_AddArrayToObject(e, "reported_names");

	for (uint32_t i = 0; names && i < c->n_names && i < DK_CAND_NAMES; i++)
		cJSON_AddItemToArray(names, cJSON_CreateString(c->names[i]));
	cJSON_AddNumberToObject(e, "reported_names_total", c->n_names);
}

char *desk_triage_json(const struct dk_cand *c, size_t n, uint32_t day)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	char d[11], *s;

	dk_day_format(day, d);
	cJSON_AddStringToObject(o, "day", d);
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
		cJSON_AddStringToObject(e, "domain", c[i].domain);
		cJSON_AddNumberToObject(e, "score", c[i].score);
		cJSON_AddNumberToObject(e, "strength", c[i].strength);
		cJSON_AddNumberToObject(e, "growth", c[i].growth);
		cJSON_AddStringToObject(e, "category", c[i].category);
		cJSON_AddNumberToObject(e, "probability", c[i].prob);
		cJSON_AddNumberToObject(e, "harm", c[i].harm);
		cJSON_AddNumberToObject(e, "appliances", c[i].appliances);
		cJSON_AddNumberToObject(e, "reports", c[i].reports);
		dk_day_format(c[i].first_day, d);
		cJSON_AddStringToObject(e, "first_seen", d);
		add_names(e, &c[i]);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddItemToObject(o, "candidates", arr);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* Below a candidate's row, the names parents reported under it when they are not just it. */
static void print_names(const struct dk_cand *c)
{
	if (c->n_names == 0 || (c->n_names == 1 && strcmp(c->names[0], c->domain) == 0))
		return;
	printf("      reported as:");
	for (uint32_t i = 0; i < c->n_names && i < DK_CAND_NAMES; i++)
		printf("%s %s", i ? "," : "", c->names[i]);
	if (c->n_names > DK_CAND_NAMES)
		printf(" and %u more", c->n_names - DK_CAND_NAMES);
	printf("\n");
}

static void print_table(const struct dk_cand *c, size_t n, uint32_t day, int window)
{
	char d[11];

	dk_day_format(day, d);
	printf("triage for the %d days up to %s: %zu candidates\n", window, d, n);
	printf("%4s  %-40s %9s %9s %8s %-12s %6s %6s %5s %7s  %s\n", "rank", "domain", "score",
	       "strength", "growth", "category", "prob", "harm", "appl", "reports", "first seen");
	for (size_t i = 0; i < n; i++) {
		dk_day_format(c[i].first_day, d);
		printf("%4zu  %-40.40s %9.1f %9.1f %8.1f %-12s %6.3f %6.3f %5u %7u  %s\n", i + 1,
		       c[i].domain, c[i].score, c[i].strength, c[i].growth,
		       c[i].category[0] ? c[i].category : "-", c[i].prob, c[i].harm,
		       c[i].appliances, c[i].reports, d);
		print_names(&c[i]);
	}
}

struct triage_args {
	bool json;
	long limit;
	int window;
	uint32_t day;
	const char *model;
};

static int triage_args(struct triage_args *t, int argc, char **argv)
{
	static const struct option lo[] = {{"json", 0, NULL, 'j'},  {"limit", 1, NULL, 'l'},
	                                   {"day", 1, NULL, 'D'},   {"window", 1, NULL, 'w'},
	                                   {"model", 1, NULL, 'm'}, {NULL, 0, NULL, 0}};
	int o;

	optind = 0; /* glibc: 0 re-initialises getopt after main's parse */
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'j':
			t->json = true;
			break;
		case 'l':
			t->limit = strtol(optarg, NULL, 10);
			if (t->limit < 1 || t->limit > LIMIT_MAX)
				return -1;
			break;
		case 'D':
			if (dk_day_parse(optarg, &t->day) != 0)
				return -1;
			break;
		case 'w':
			t->window = (int)strtol(optarg, NULL, 10);
			if (t->window < 1 || t->window > 365)
				return -1;
			break;
		case 'm':
			t->model = optarg;
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

int desk_triage(const struct desk_conf *c, int argc, char **argv)
{
	struct triage_args t = {.limit = 20, .window = DK_WINDOW_DEFAULT, .model = c->model};
	struct dk_triage_opts o = {0};
	struct desk_harm *harm = NULL;
	struct dk_store *s = NULL;
	struct dk_cand *cands = NULL;
	uint32_t day = 0;
	size_t n;
	int rc = 1;

	if (triage_args(&t, argc, argv) != 0) {
		fprintf(stderr, "usage: kidguard-desk triage [--json] [--limit 1..10000] "
		                "[--day YYYY-MM-DD] [--window 1..365] [--model FILE]\n");
		return 2;
	}
	if ((t.model && t.model[0] && desk_harm_load(t.model, &harm) != 0) ||
	    open_store(c, true, &s) != 0)
		goto out;
	n = (size_t)t.limit;
	if (!(cands = calloc(n, sizeof(*cands))))
		goto out;
	o = (struct dk_triage_opts){.day = t.day,
	                            .window = t.window,
	                            .limit = n,
	                            .now = (uint64_t)time(NULL),
	                            .harm = harm ? desk_harm : NULL,
	                            .harm_arg = harm};
	if ((rc = dk_triage(s, &o, cands, &n, &day)) != 0) {
		fprintf(stderr, "kidguard-desk: triage: %s\n", kg_strerror(rc));
		rc = 1;
		goto out;
	}
	if (t.json) {
		char *j = desk_triage_json(cands, n, day);
		if (!j)
			goto out;
		printf("%s\n", j);
		free(j);
	} else {
		print_table(cands, n, day, t.window);
	}
	rc = 0;
out:
	free(cands);
	dk_store_close(s);
	desk_harm_free(harm);
	return rc;
}

static int operator_default(char *out, size_t len)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (!u || !u[0])
		u = (pw = getpwuid(getuid())) ? pw->pw_name : NULL;
	if (!u || strlen(u) >= len)
		return -1;
	memcpy(out, u, strlen(u) + 1);
	return 0;
}

static int operator_check(const char *who)
{
	size_t n = strlen(who);

	if (n == 0 || n >= DK_OPERATOR_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (who[i] <= 0x20 || who[i] > 0x7e)
			return -1;
	}
	return 0;
}

static int decide_usage(void)
{
	fprintf(stderr, "usage: kidguard-desk accept NAME --category C [--operator WHO]\n"
	                "       kidguard-desk reject|undo NAME [--operator WHO]\n"
	                "       kidguard-desk snooze NAME --days 1..365 [--operator WHO]\n");
	return 2;
}

static int decide_args(struct dk_decision *d, int argc, char **argv)
{
	static const struct option lo[] = {{"category", 1, NULL, 'c'},
	                                   {"operator", 1, NULL, 'o'},
	                                   {"days", 1, NULL, 'd'},
	                                   {NULL, 0, NULL, 0}};
	long days = 0;
	int o;

	optind = 0; /* glibc: 0 re-initialises getopt after main's parse */
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (dk_category_check(optarg) != 0 || d->state != DK_ACCEPTED) {
				fprintf(stderr,
				        "kidguard-desk: --category %s: want [a-z0-9_-]{1,31} "
				        "(accept only)\n",
				        optarg);
				return -1;
			}
			memcpy(d->category, optarg, strlen(optarg) + 1);
			break;
		case 'o':
			if (operator_check(optarg) != 0)
				return -1;
			memcpy(d->operator_name, optarg, strlen(optarg) + 1);
			break;
		case 'd':
			days = strtol(optarg, NULL, 10);
			if (days < 1 || days > SNOOZE_MAX || d->state != DK_SNOOZED)
				return -1;
			d->until = d->time + (uint64_t)days * 86400;
			break;
		default:
			return -1;
		}
	}
	if ((d->state == DK_ACCEPTED && !d->category[0]) || (d->state == DK_SNOOZED && !days))
		return -1;
	if (!d->operator_name[0] && operator_default(d->operator_name, DK_OPERATOR_MAX) != 0)
		return -1;
	return optind + 1 == argc ? optind : -1;
}

int desk_decide(const struct desk_conf *c, int argc, char **argv)
{
	struct dk_decision d = {.time = (uint64_t)time(NULL)};
	char name[DK_DOMAIN_MAX];
	struct dk_store *s;
	int at, rc;

	d.state = strcmp(argv[0], "accept") == 0   ? DK_ACCEPTED
	          : strcmp(argv[0], "reject") == 0 ? DK_REJECTED
	          : strcmp(argv[0], "snooze") == 0 ? DK_SNOOZED
	                                           : DK_NONE;
	if ((at = decide_args(&d, argc, argv)) < 0)
		return decide_usage();
	if (dk_name_check(argv[at], name) != 0) {
		fprintf(stderr, "kidguard-desk: %s: not a domain name\n", argv[at]);
		return 2;
	}
	if (open_store(c, false, &s) != 0)
		return 1;
	rc = dk_store_decide(s, name, &d);
	dk_store_close(s);
	if (rc != 0) {
		fprintf(stderr, "kidguard-desk: %s: %s\n", name, kg_strerror(rc));
		return 1;
	}
	printf("%s %s%s%s (operator %s)\n",
	       d.state == DK_ACCEPTED   ? "accepted"
	       : d.state == DK_REJECTED ? "rejected"
	       : d.state == DK_SNOOZED  ? "snoozed"
	                                : "undone",
	       name, d.category[0] ? " as " : "", d.category, d.operator_name);
	return 0;
}

static int print_line(void *arg, const char *line)
{
	printf("%s\n", line);
	return 0;
}

int desk_audit(const struct desk_conf *c, int argc, char **argv)
{
	struct dk_store *s;
	int rc;

	if (argc != 1) {
		fprintf(stderr, "usage: kidguard-desk audit\n");
		return 2;
	}
	if (open_store(c, true, &s) != 0)
		return 1;
	rc = dk_store_audit(s, print_line, NULL);
	dk_store_close(s);
	return rc == 0 ? 0 : 1;
}

/* export: one file per category, written whole (FILE.tmp, then renamed). */
struct export
{
	const char *dir;
	char cats[EXPORT_CATS][DK_CATEGORY_MAX];
	FILE *f[EXPORT_CATS];
	int n;
	size_t names;
};

static FILE *export_file(struct export *e, const char *cat)
{
	char path[DESK_PATH_MAX + 48];

	for (int i = 0; i < e->n; i++) {
		if (strcmp(e->cats[i], cat) == 0)
			return e->f[i];
	}
	if (e->n == EXPORT_CATS)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s.txt.tmp", e->dir, cat);
	if (!(e->f[e->n] = fopen(path, "w")))
		return NULL;
	memcpy(e->cats[e->n], cat, strlen(cat) + 1);
	return e->f[e->n++];
}

static int export_one(void *arg, const char *domain, const char *category)
{
	struct export *e = arg;
	FILE *f = dk_category_check(category) == 0 ? export_file(e, category) : NULL;

	if (!f)
		return -EIO;
	e->names++;
	return fprintf(f, "%s\n", domain) < 0 ? -EIO : 0;
}

static bool exported(const struct export *e, const char *cat)
{
	for (int i = 0; i < e->n; i++) {
		if (strcmp(e->cats[i], cat) == 0)
			return true;
	}
	return false;
}

/* A category whose accepted names were all undone: its old file is emptied, not left behind
 * (the publisher's command line still names it). */
static void empty_stale(const struct export *e)
{
	DIR *d = opendir(e->dir);
	struct dirent *x;

	while (d && (x = readdir(d))) {
		char cat[DK_CATEGORY_MAX], path[DESK_PATH_MAX + 48];
		size_t n = strlen(x->d_name);
		FILE *f;
		if (n < 5 || n - 4 >= sizeof(cat) || strcmp(x->d_name + n - 4, ".txt") != 0)
			continue;
		memcpy(cat, x->d_name, n - 4);
		cat[n - 4] = '\0';
		if (dk_category_check(cat) != 0 || exported(e, cat))
			continue;
		snprintf(path, sizeof(path), "%s/%s", e->dir, x->d_name);
		if ((f = fopen(path, "w")))
			fclose(f);
	}
	if (d)
		closedir(d);
}

static int export_finish(struct export *e, int rc)
{
	char tmp[DESK_PATH_MAX + 48], path[DESK_PATH_MAX + 48];

	for (int i = 0; i < e->n; i++) {
		snprintf(tmp, sizeof(tmp), "%s/%s.txt.tmp", e->dir, e->cats[i]);
		snprintf(path, sizeof(path), "%s/%s.txt", e->dir, e->cats[i]);
		if ((fflush(e->f[i]) != 0 || fsync(fileno(e->f[i])) != 0) && rc == 0)
			rc = -EIO;
		fclose(e->f[i]);
		if (rc == 0 && rename(tmp, path) != 0)
			rc = -errno;
		if (rc != 0)
			unlink(tmp);
	}
	if (rc == 0)
		empty_stale(e);
	return rc;
}

int desk_export(const struct desk_conf *c, int argc, char **argv)
{
	static struct export e;
	struct dk_store *s;
	int rc;

	if (argc != 3 || strcmp(argv[1], "--dir") != 0) {
		fprintf(stderr, "usage: kidguard-desk export --dir DIR\n");
		return 2;
	}
	e.dir = argv[2];
	if (mkdir(e.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "kidguard-desk: %s: %s\n", e.dir, strerror(errno));
		return 1;
	}
	if (open_store(c, true, &s) != 0)
		return 1;
	rc = dk_store_accepted(s, export_one, &e);
	dk_store_close(s);
	if ((rc = export_finish(&e, rc)) != 0) {
		fprintf(stderr, "kidguard-desk: export to %s: %s\n", e.dir, kg_strerror(rc));
		return 1;
	}
	/* What to add to kidguard-feed publish: one --category per file. */
	for (int i = 0; i < e.n; i++)
		printf("--category %s=%s/%s.txt:domains\n", e.cats[i], e.dir, e.cats[i]);
	fprintf(stderr, "kidguard-desk: %zu accepted names in %d categories\n", e.names, e.n);
	return 0;
}

int desk_prune(const struct desk_conf *c, int argc, char **argv)
{
	struct dk_store *s;
	uint64_t removed = 0;
	uint32_t before;
	char d[11];
	long keep;
	int rc;

	if (argc != 3 || strcmp(argv[1], "--keep-days") != 0 ||
	    (keep = strtol(argv[2], NULL, 10)) < 7 || keep > 3650) {
		fprintf(stderr, "usage: kidguard-desk prune --keep-days 7..3650\n");
		return 2;
	}
	before = (uint32_t)(time(NULL) / 86400) - (uint32_t)keep;
	if (open_store(c, false, &s) != 0)
		return 1;
	rc = dk_store_prune(s, before, &removed);
	dk_store_close(s);
	if (rc != 0) {
		fprintf(stderr, "kidguard-desk: prune: %s\n", kg_strerror(rc));
		return 1;
	}
	dk_day_format(before, d);
	printf("removed %llu entries of days before %s\n", (unsigned long long)removed, d);
	return 0;
}

int desk_stats(const struct desk_conf *c, int argc, char **argv)
{
	struct dk_store *s;
	uint64_t bytes = 0;

	if (open_store(c, true, &s) != 0)
		return 1;
	dk_store_size(s, &bytes);
	dk_store_close(s);
	printf("store %s: %llu bytes in use\n", c->store, (unsigned long long)bytes);
	return 0;
}
