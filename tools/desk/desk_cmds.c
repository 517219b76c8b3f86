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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "kg_err.h"
#include "kg_i18n.h" /* _(): human output in the user's language */

#define LIMIT_MAX   10000
#define SNOOZE_MAX  365
#define EXPORT_CATS 64

static int open_store(const struct desk_conf *c, bool readonly, struct dk_store **s)
{
	int rc = dk_store_open(c->store, readonly, s);

	if (rc != 0)
		fprintf(stderr, _("kidguard-desk: store %s: %s\n"), c->store, kg_strerror(rc));
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
	printf("      %s", _("reported as:"));
	for (uint32_t i = 0; i < c->n_names && i < DK_CAND_NAMES; i++)
		printf("%s %s", i ? "," : "", c->names[i]);
	if (c->n_names > DK_CAND_NAMES) {
		putchar(' ');
		printf(_("and %u more"), c->n_names - DK_CAND_NAMES);
	}
	printf("\n");
}

/* UTF-8 under the user's LC_CTYPE (kg_i18n_gettext_init), so that a Vietnamese header or
 * category name ("Người lớn") pads like an English one; its bytes when it does not decode
 * (LANG=C: the English text is ASCII). */
int desk_columns(const char *s)
{
	mbstate_t st = {0};
	size_t left = strlen(s), k;
	int w = 0, cw;
	wchar_t wc;

	for (const char *p = s; left > 0; p += k, left -= k) {
		k = mbrtowc(&wc, p, left, &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
			return (int)strlen(s);
		cw = wcwidth(wc);
		w += cw > 0 ? cw : 0;
	}
	return w;
}

void desk_print_cell(const char *s, int width, bool left)
{
	int pad = width - desk_columns(s);

	if (!left)
		printf("%*s", pad > 0 ? pad : 0, "");
	fputs(s, stdout);
	if (left)
		printf("%*s", pad > 0 ? pad : 0, "");
}

/* The triage table's columns: header (translated when printed), least width, text first. A
 * column is as wide as its translated header when that is wider. */
enum {
	COL_RANK,
	COL_DOMAIN,
	COL_SCORE,
	COL_STRENGTH,
	COL_GROWTH,
	COL_CATEGORY,
	COL_PROB,
	COL_HARM,
	COL_APPL,
	COL_REPORTS,
	COL_FIRST,
	COL_N
};
static const struct {
	const char *head;
	int width;
	bool left;
	const char *sep; /* printed before the column */
} table_cols[COL_N] = {
    /* TRANSLATORS: the triage table's column headers; keep them short (the table is wide) */
    {N_("rank"), 4, false, ""},
    {N_("domain"), 40, true, "  "},
    {N_("score"), 9, false, " "},
    {N_("strength"), 9, false, " "},
    {N_("growth"), 8, false, " "},
    {N_("category"), 12, true, " "},
    /* TRANSLATORS: the classifier's probability of the category */
    {N_("prob"), 6, false, " "},
    {N_("harm"), 6, false, " "},
    /* TRANSLATORS: how many appliances sent the name */
    {N_("appl"), 5, false, " "},
    {N_("reports"), 7, false, " "},
    {N_("first seen"), 0, true, "  "},
};

/* The category's name in the language of the output, from the Desk page's catalogues
 * ("category.adult"), followed by its code when that is not just the name in other letters:
 * `accept --category` takes the code ("Người lớn (adult)", "Adult"). The code alone when the
 * catalogues have no name for it, "-" for none. */
static void category_label(const struct kg_i18n *cat, int lang, const char *code, char *out,
                           size_t len)
{
	char key[DK_CATEGORY_MAX + 16];
	const char *name;

	snprintf(key, sizeof(key), "category.%s", code);
	name = code[0] && lang >= 0 ? kg_i18n_get(cat, lang, key) : NULL;
	if (!code[0])
		snprintf(out, len, "-");
	else if (!name || !name[0] || strcasecmp(name, code) == 0)
		snprintf(out, len, "%s", name && name[0] ? name : code);
	else
		snprintf(out, len, "%s (%s)", name, code);
}

#define CELL_MAX  48 /* a number, a day or a domain cut to 40 */
#define LABEL_MAX 128

static void print_row(const struct dk_cand *c, size_t rank, const int *w, const char *category)
{
	char cell[COL_N][CELL_MAX];
	const char *v[COL_N];

	for (int i = 0; i < COL_N; i++)
		v[i] = cell[i];
	snprintf(cell[COL_RANK], CELL_MAX, "%zu", rank);
	snprintf(cell[COL_DOMAIN], CELL_MAX, "%.40s", c->domain);
	snprintf(cell[COL_SCORE], CELL_MAX, "%.1f", c->score);
	snprintf(cell[COL_STRENGTH], CELL_MAX, "%.1f", c->strength);
	snprintf(cell[COL_GROWTH], CELL_MAX, "%.1f", c->growth);
	v[COL_CATEGORY] = category;
	snprintf(cell[COL_PROB], CELL_MAX, "%.3f", c->prob);
	snprintf(cell[COL_HARM], CELL_MAX, "%.3f", c->harm);
	snprintf(cell[COL_APPL], CELL_MAX, "%u", c->appliances);
	snprintf(cell[COL_REPORTS], CELL_MAX, "%u", c->reports);
	dk_day_format(c->first_day, cell[COL_FIRST]);
	for (int i = 0; i < COL_N; i++) {
		fputs(table_cols[i].sep, stdout);
		desk_print_cell(v[i], i == COL_N - 1 ? 0 : w[i], table_cols[i].left);
	}
	putchar('\n');
}

/* The candidates' category labels (category_label), `n` of LABEL_MAX bytes, malloc'ed; NULL
 * when out of memory. */
static char *category_labels(const struct dk_cand *c, size_t n)
{
	struct kg_i18n cat; /* the category names; a few KB of cJSON, for this table only */
	char *labels = malloc(n ? n * LABEL_MAX : 1);
	/* TRANSLATORS: the code of this catalogue's language, as in tools/desk/www/i18n/<code>.json
	 * ("vi"): it picks the category names of the triage table */
	const char *code = _("en");
	int lang = -1;

	if (!labels)
		return NULL;
	if (desk_i18n_load(&cat) == 0) /* it empties `cat` first: kg_i18n_free() is safe */
		lang = kg_i18n_find(&cat, code);
	for (size_t i = 0; i < n; i++)
		category_label(&cat, lang, c[i].category, labels + i * LABEL_MAX, LABEL_MAX);
	kg_i18n_free(&cat);
	return labels;
}

static int print_table(const struct dk_cand *c, size_t n, uint32_t day, int window)
{
	char *labels = category_labels(c, n), d[11];
	int w[COL_N];

	if (!labels)
		return -ENOMEM;
	dk_day_format(day, d);
	printf(_("triage for the %d days up to %s: %zu candidates\n"), window, d, n);
	for (int i = 0; i < COL_N; i++) {
		int hw = desk_columns(_(table_cols[i].head));
		w[i] = hw > table_cols[i].width ? hw : table_cols[i].width;
	}
	for (size_t i = 0; i < n; i++) {
		int lw = desk_columns(labels + i * LABEL_MAX);
		w[COL_CATEGORY] = lw > w[COL_CATEGORY] ? lw : w[COL_CATEGORY];
	}
	for (int i = 0; i < COL_N; i++) {
		fputs(table_cols[i].sep, stdout);
		desk_print_cell(_(table_cols[i].head), i == COL_N - 1 ? 0 : w[i],
		                table_cols[i].left);
	}
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		print_row(&c[i], i + 1, w, labels + i * LABEL_MAX);
		print_names(&c[i]);
	}
	free(labels);
	return 0;
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
		fprintf(stderr, _("usage: kidguard-desk triage [--json] [--limit 1..10000] "
		                  "[--day YYYY-MM-DD] [--window 1..365] [--model FILE]\n"));
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
		fprintf(stderr, _("kidguard-desk: triage: %s\n"), kg_strerror(rc));
		rc = 1;
		goto out;
	}
	if (t.json) {
		char *j = desk_triage_json(cands, n, day);
		if (!j)
			goto out;
		printf("%s\n", j);
		free(j);
	} else if (print_table(cands, n, day, t.window) != 0) {
		goto out;
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
	fputs(_("usage: kidguard-desk accept NAME --category C [--operator WHO]\n"
	        "       kidguard-desk reject|undo NAME [--operator WHO]\n"
	        "       kidguard-desk snooze NAME --days 1..365 [--operator WHO]\n"),
	      stderr);
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
				        _("kidguard-desk: --category %s: want [a-z0-9_-]{1,31} "
				          "(accept only)\n"),
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
		fprintf(stderr, _("kidguard-desk: %s: not a domain name\n"), argv[at]);
		return 2;
	}
	if (open_store(c, false, &s) != 0)
		return 1;
	rc = dk_store_decide(s, name, &d);
	dk_store_close(s);
	if (rc != 0) {
		fprintf(stderr, _("kidguard-desk: %s: %s\n"), name, kg_strerror(rc));
		return 1;
	}
	if (d.state == DK_ACCEPTED)
		printf(_("accepted %s as %s (operator %s)\n"), name, d.category, d.operator_name);
	else
		printf(d.state == DK_REJECTED  ? _("rejected %s (operator %s)\n")
		       : d.state == DK_SNOOZED ? _("snoozed %s (operator %s)\n")
		                               : _("undone %s (operator %s)\n"),
		       name, d.operator_name);
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
		fputs(_("usage: kidguard-desk audit\n"), stderr);
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
		fputs(_("usage: kidguard-desk export --dir DIR\n"), stderr);
		return 2;
	}
	e.dir = argv[2];
	if (mkdir(e.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, _("kidguard-desk: %s: %s\n"), e.dir, strerror(errno));
		return 1;
	}
	if (open_store(c, true, &s) != 0)
		return 1;
	rc = dk_store_accepted(s, export_one, &e);
	dk_store_close(s);
	if ((rc = export_finish(&e, rc)) != 0) {
		fprintf(stderr, _("kidguard-desk: export to %s: %s\n"), e.dir, kg_strerror(rc));
		return 1;
	}
	/* What to add to kidguard-feed publish: one --category per file (machine output: never
	 * translated). */
	for (int i = 0; i < e.n; i++)
		printf("--category %s=%s/%s.txt:domains\n", e.cats[i], e.dir, e.cats[i]);
	fprintf(stderr, _("kidguard-desk: %zu accepted names in %d categories\n"), e.names, e.n);
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
		fputs(_("usage: kidguard-desk prune --keep-days 7..3650\n"), stderr);
		return 2;
	}
	before = (uint32_t)(time(NULL) / 86400) - (uint32_t)keep;
	if (open_store(c, false, &s) != 0)
		return 1;
	rc = dk_store_prune(s, before, &removed);
	dk_store_close(s);
	if (rc != 0) {
		fprintf(stderr, _("kidguard-desk: prune: %s\n"), kg_strerror(rc));
		return 1;
	}
	dk_day_format(before, d);
	printf(_("removed %llu entries of days before %s\n"), (unsigned long long)removed, d);
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
	printf(_("store %s: %llu bytes in use\n"), c->store, (unsigned long long)bytes);
	return 0;
}
