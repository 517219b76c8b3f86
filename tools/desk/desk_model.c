/*
 * The classifier behind triage's harm (helper g's library, tools/desk/dk_model.h). Built
 * without it (KG_DESK_MODEL undefined) the desk still triages, with harm 1 for every name,
 * and `model train` says it is missing.
 */
#include "desk.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kg_err.h"
#include "kg_i18n.h" /* _(): human output in the user's language */

#ifdef KG_DESK_MODEL
#include "dk_model.h"
#endif

struct desk_harm {
#ifdef KG_DESK_MODEL
	struct dk_model *m;
#else
	int unused;
#endif
};

int desk_harm_load(const char *file, struct desk_harm **out)
{
#ifdef KG_DESK_MODEL
	struct desk_harm *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	if ((rc = dk_model_load(file, &h->m)) != 0) {
		fprintf(stderr, _("kidguard-desk: model %s: %s\n"), file, kg_strerror(rc));
		free(h);
		return rc;
	}
	*out = h;
	return 0;
#else
	fprintf(stderr,
	        _("kidguard-desk: model %s: this kidguard-desk was built without the "
	          "classifier\n"),
	        file);
	*out = NULL;
	return -ENOTSUP;
#endif
}

void desk_harm_free(struct desk_harm *h)
{
#ifdef KG_DESK_MODEL
	if (h)
		dk_model_free(h->m);
#endif
	free(h);
}

int desk_harm(void *arg, const char *domain, char *category, size_t len, double *prob, double *harm)
{
#ifdef KG_DESK_MODEL
	struct desk_harm *h = arg;
	double probs[DK_CLASSES_MAX];
	int rc = dk_model_predict(h->m, domain, category, len, prob), n = dk_model_classes(h->m);

	if (rc != 0 || (rc = dk_model_probs(h->m, domain, probs, DK_CLASSES_MAX)) != 0)
		return rc;
	/* Harm: every category but the harmless one ("none", the negatives), so that a name the
	 * model splits between adult and gambling is not ranked as half harmless. */
	*harm = 1.0;
	for (int i = 0; i < n; i++) {
		if (strcmp(dk_model_class_name(h->m, i), "none") == 0)
			*harm = 1.0 - probs[i];
	}
	return 0;
#else
	return -ENOTSUP;
#endif
}

#ifdef KG_DESK_MODEL
#define TRAIN_LISTS_MAX 32
#define LINE_MAX_LEN    1024

struct samples {
	struct dk_sample *v;
	size_t n, cap;
};

/* The domain of one list line: "name", "0.0.0.0 name" (hosts) or "rank,name" (a toplist);
 * NULL for a blank or comment line. Edits `line`. */
static char *line_name(char *line)
{
	char *name = NULL, *tok, *save = NULL;

	line[strcspn(line, "#\r\n")] = '\0';
	for (char *c = line; *c; c++)
		if (*c == ',' || *c == '\t')
			*c = ' ';
	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		name = tok; /* the last field */
	return name && strchr(name, '.') ? name : NULL;
}

/* Add every name of `file` as class `cls` (both must outlive the samples). Plain text, or
 * .xz through `xz -dc`. */
static int read_list(struct samples *s, const char *file, const char *cls)
{
	char cmd[DESK_PATH_MAX + 32], line[LINE_MAX_LEN];
	size_t len = strlen(file);
	bool xz = len > 3 && strcmp(file + len - 3, ".xz") == 0;
	FILE *f;
	int rc = 0;

	if (xz && (strchr(file, '\'') || len >= DESK_PATH_MAX))
		return -EINVAL;
	snprintf(cmd, sizeof(cmd), "xz -dc -- '%s'", file);
	if (!(f = xz ? popen(cmd, "r") : fopen(file, "r")))
		return -errno;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *name = line_name(line);
		if (!name)
			continue;
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 65536;
			struct dk_sample *nv = realloc(s->v, cap * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			s->v = nv;
			s->cap = cap;
		}
		s->v[s->n].cls = cls;
		if (!(s->v[s->n].name = strdup(name)))
			rc = -ENOMEM;
		else
			s->n++;
	}
	if ((xz ? pclose(f) : fclose(f)) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

struct train_args {
	const char *lists[TRAIN_LISTS_MAX]; /* CLASS=FILE */
	int nlists;
	const char *out;
	unsigned heldout;
};

static int train_args(struct train_args *t, int argc, char **argv)
{
	static const struct option lo[] = {{"feed", 1, NULL, 'f'},
	                                   {"negatives", 1, NULL, 'n'},
	                                   {"heldout", 1, NULL, 'H'},
	                                   {"out", 1, NULL, 'o'},
	                                   {NULL, 0, NULL, 0}};
	static char neg[DESK_PATH_MAX + 8];
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		if (o == 'f' && t->nlists < TRAIN_LISTS_MAX && strchr(optarg, '=')) {
			t->lists[t->nlists++] = optarg;
		} else if (o == 'n' && t->nlists < TRAIN_LISTS_MAX &&
		           strlen(optarg) < DESK_PATH_MAX) {
			snprintf(neg, sizeof(neg), "none=%s", optarg);
			t->lists[t->nlists++] = neg;
		} else if (o == 'H') {
			t->heldout = (unsigned)strtoul(optarg, NULL, 10);
			if (t->heldout < 2 || t->heldout > 1000)
				return -1;
		} else if (o == 'o') {
			t->out = optarg;
		} else {
			return -1;
		}
	}
	return optind == argc && t->out && t->nlists >= 2 ? 0 : -1;
}

static void print_eval(const struct dk_class_eval *e, size_t n, unsigned mod)
{
	/* TRANSLATORS: the held-out evaluation's column headers (precision at recall 0.5) */
	static const char *const head[] = {N_("class"), N_("held-out"), N_("precision"),
	                                   N_("recall"), N_("prec@r50")};
	static const int least[] = {12, 9, 9, 7, 9};
	int w[5];

	printf(_("held out 1 in %u registrable domains\n"), mod);
	for (int i = 0; i < 5; i++) {
		w[i] = desk_columns(_(head[i]));
		w[i] = w[i] > least[i] ? w[i] : least[i];
		fputs(i ? " " : "", stdout);
		desk_print_cell(_(head[i]), w[i], i == 0);
	}
	putchar('\n');
	for (size_t i = 0; i < n; i++)
		printf("%-*s %*zu %*.3f %*.3f %*.3f\n", w[0], e[i].name, w[1], e[i].n_test, w[2],
		       e[i].precision, w[3], e[i].recall, w[4], e[i].prec_at_r50);
}

static int train(struct train_args *t, struct samples *s)
{
	struct dk_class_eval ev[DK_CLASSES_MAX];
	struct dk_model *m = NULL;
	size_t nev = 0;
	int rc = 0;

	for (int i = 0; i < t->nlists && rc == 0; i++) {
		char *eq = strchr(t->lists[i], '=');
		*eq = '\0'; /* argv is ours to edit */
		if ((rc = read_list(s, eq + 1, t->lists[i])) != 0)
			fprintf(stderr, _("kidguard-desk: %s: %s\n"), eq + 1, kg_strerror(rc));
	}
	if (rc == 0 && t->heldout) {
		rc = dk_eval(s->v, s->n, t->heldout, NULL, ev, DK_CLASSES_MAX, &nev, &m);
		if (rc == 0)
			print_eval(ev, nev, t->heldout);
	} else if (rc == 0) {
		rc = dk_model_train(s->v, s->n, NULL, &m);
	}
	if (rc == 0 && (rc = dk_model_save(m, t->out)) == 0)
		printf(_("model %s: %zu names, %d classes\n"), t->out, s->n, dk_model_classes(m));
	else
		fprintf(stderr, _("kidguard-desk: model train: %s\n"), kg_strerror(rc));
	dk_model_free(m);
	return rc;
}

int desk_model_cmd(const struct desk_conf *c, int argc, char **argv)
{
	struct train_args t = {0};
	struct samples s = {0};
	int rc;

	if (argc < 2 || strcmp(argv[1], "train") != 0 || train_args(&t, argc - 1, argv + 1) != 0) {
		fputs(_("usage: kidguard-desk model train --feed CATEGORY=FILE ... "
		        "--negatives FILE [--heldout N] -o MODEL\n"),
		      stderr);
		return 2;
	}
	rc = train(&t, &s);
	for (size_t i = 0; i < s.n; i++)
		free((char *)s.v[i].name);
	free(s.v);
	return rc == 0 ? 0 : 1;
}
#else
int desk_model_cmd(const struct desk_conf *c, int argc, char **argv)
{
	fputs(_("kidguard-desk: model train: this kidguard-desk was built without the "
	        "classifier (tools/desk/dk_model.h)\n"),
	      stderr);
	return 1;
}
#endif
