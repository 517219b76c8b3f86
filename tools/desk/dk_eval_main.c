/*
 * dk-eval: train the desk's classifier on labelled lists and report held-out precision and
 * recall per class (docs/desk.md, "Classifier").
 *
 *   dk-eval --data DIR [--max-per-class N] [--mod M] [--save MODEL] [--min-p50 X]
 *   dk-eval --samples FILE [...]        lines "CLASS NAME" (tests/fixtures/desk/)
 *
 * With --data, the lists under DIR (the shared data folder, SOURCES.md) are read through
 * `xz -dc`: adult = Sinfonietta pornography + UT1 mixed_adult, gambling = UT1 gambling (both
 * snapshots) + Sinfonietta gambling, drugs = Block List Project drugs, none = both Umbrella
 * top-100k lists. A registrable domain is kept once, with the first class that names it
 * (harmful lists are read before the top lists). With --min-p50, the exit status is 1 when
 * adult's or gambling's precision at 50 % recall is below X.
 */
#include "dk_model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct source {
	const char *cls;
	const char *path; /* under --data */
};

static const struct source sources[] = {
    {"adult", "blocklists/sinfonietta/pornography-hosts.xz"},
    {"adult", "blocklists/ut1/2025-07-13/mixed_adult/domains.xz"},
    {"gambling", "blocklists/ut1/2025-07-13/gambling/domains.xz"},
    {"gambling", "blocklists/ut1/2026-08-17/gambling/domains.xz"},
    {"gambling", "blocklists/sinfonietta/gambling-hosts.xz"},
    {"drugs", "blocklists/blocklistproject/drugs.txt.xz"},
    {"none", "toplists/umbrella/umbrella-top-100k_2026-07-24.txt.xz"},
    {"none", "toplists/umbrella/top-sites-100000_2025-09-26.csv.xz"},
    {NULL, NULL}};

struct set {
	char **slot;
	size_t cap, n;
	struct dk_sample *s;
	size_t ns, cap_s;
	size_t per_class_max;
	char cls_names[DK_CLASSES_MAX][DK_CLASS_MAX];
	size_t cls_count[DK_CLASSES_MAX];
	int n_cls;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

/* Insert `reg` into the set of seen registrable domains; false when it was there. */
static bool seen_add(struct set *st, const char *reg)
{
	size_t i;

	if (st->n * 2 >= st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 1 << 16;
		char **ns = calloc(cap, sizeof(*ns));
		if (!ns)
			exit(2);
		for (size_t j = 0; j < st->cap; j++) {
			if (!st->slot[j])
				continue;
			for (i = fnv(st->slot[j]) & (cap - 1); ns[i]; i = (i + 1) & (cap - 1))
				;
			ns[i] = st->slot[j];
		}
		free(st->slot);
		st->slot = ns;
		st->cap = cap;
	}
	for (i = fnv(reg) & (st->cap - 1); st->slot[i]; i = (i + 1) & (st->cap - 1))
		if (strcmp(st->slot[i], reg) == 0)
			return false;
	st->slot[i] = strdup(reg);
	if (!st->slot[i])
		exit(2);
	st->n++;
	return true;
}

static size_t *class_counter(struct set *st, const char *cls)
{
	for (int i = 0; i < st->n_cls; i++)
		if (strcmp(st->cls_names[i], cls) == 0)
			return &st->cls_count[i];
	if (st->n_cls == DK_CLASSES_MAX)
		return NULL;
	snprintf(st->cls_names[st->n_cls], DK_CLASS_MAX, "%s", cls);
	return &st->cls_count[st->n_cls++];
}

static void add_sample(struct set *st, const char *cls, const char *name)
{
	char reg[256];
	size_t *cnt = class_counter(st, cls);

	if (!cnt || (st->per_class_max && *cnt >= st->per_class_max))
		return;
	if (dk_registrable(name, reg, sizeof(reg)) != 0 || !strchr(reg, '.') || !seen_add(st, reg))
		return;
	if (st->ns == st->cap_s) {
		st->cap_s = st->cap_s ? st->cap_s * 2 : 1 << 16;
		st->s = realloc(st->s, st->cap_s * sizeof(*st->s));
		if (!st->s)
			exit(2);
	}
	/* the class name lives in cls_names for the whole run */
	for (int i = 0; i < st->n_cls; i++)
		if (strcmp(st->cls_names[i], cls) == 0)
			st->s[st->ns].cls = st->cls_names[i];
	st->s[st->ns].name = strdup(reg);
	if (!st->s[st->ns++].name)
		exit(2);
	(*cnt)++;
}

/* The name on a list line: plain, hosts ("0.0.0.0 name"), CSV ("rank,name"), "*.name",
 * AdBlock "||name^". NULL for comments and blank lines. */
static char *line_name(char *l)
{
	char *p, *c;

	l[strcspn(l, "\r\n#")] = '\0';
	p = l + strspn(l, " \t");
	if (!*p)
		return NULL;
	if ((c = strpbrk(p, " \t"))) {
		p = c + strspn(c, " \t"); /* hosts: the second field */
		p[strcspn(p, " \t")] = '\0';
	}
	if ((c = strchr(p, ',')))
		p = c + 1;
	if (strncmp(p, "||", 2) == 0)
		p += 2;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	p[strcspn(p, "^/")] = '\0';
	return *p ? p : NULL;
}

static int read_list(struct set *st, const char *cls, const char *path, bool xz)
{
	char cmd[4200], line[1024], *name;
	FILE *f;

	if (xz) {
		if (strchr(path, '\'') ||
		    snprintf(cmd, sizeof(cmd), "xz -dc '%s'", path) >= (int)sizeof(cmd))
			return -EINVAL;
		f = popen(cmd, "r");
	} else {
		f = fopen(path, "r");
	}
	if (!f)
		return -EIO;
	while (fgets(line, sizeof(line), f)) {
		if (!xz) { /* "CLASS NAME" */
			char *sp = strchr(line, ' ');
			if (!sp || line[0] == '#')
				continue;
			*sp = '\0';
			if ((name = line_name(sp + 1)))
				add_sample(st, line, name);
		} else if ((name = line_name(line))) {
			add_sample(st, cls, name);
		}
	}
	return (xz ? pclose(f) : fclose(f)) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	const char *data = NULL, *samples = NULL, *save = NULL;
	struct dk_class_eval ev[DK_CLASSES_MAX];
	struct dk_model *m = NULL;
	struct set st = {0};
	unsigned mod = 10;
	double min_p50 = -1;
	size_t n_ev = 0;
	int rc, status = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--data") == 0)
			data = argv[i + 1];
		else if (strcmp(argv[i], "--samples") == 0)
			samples = argv[i + 1];
		else if (strcmp(argv[i], "--save") == 0)
			save = argv[i + 1];
		else if (strcmp(argv[i], "--mod") == 0)
			mod = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--max-per-class") == 0)
			st.per_class_max = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--min-p50") == 0)
			min_p50 = strtod(argv[i + 1], NULL);
		else {
			fprintf(stderr, "dk-eval: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!data == !samples || mod < 2) {
		fprintf(stderr, "usage: dk-eval --data DIR | --samples FILE [--max-per-class N] "
		                "[--mod M] [--save MODEL] [--min-p50 X]\n");
		return 2;
	}
	if (samples && read_list(&st, NULL, samples, false) != 0) {
		fprintf(stderr, "dk-eval: %s: cannot read\n", samples);
		return 2;
	}
	for (const struct source *s = sources; data && s->cls; s++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", data, s->path);
		if (read_list(&st, s->cls, path, true) != 0) {
			fprintf(stderr, "dk-eval: %s: cannot read\n", path);
			return 2;
		}
	}
	rc = dk_eval(st.s, st.ns, mod, NULL, ev, DK_CLASSES_MAX, &n_ev, &m);
	if (rc) {
		fprintf(stderr, "dk-eval: training failed (%d)\n", rc);
		return 2;
	}
	printf("samples %zu (held out 1 in %u by registrable domain)\n", st.ns, mod);
	printf("%-10s %8s %9s %7s %10s\n", "class", "held-out", "precision", "recall", "prec@r50");
	for (size_t c = 0; c < n_ev; c++) {
		printf("%-10s %8zu %9.3f %7.3f %10.3f\n", ev[c].name, ev[c].n_test, ev[c].precision,
		       ev[c].recall, ev[c].prec_at_r50);
		if (min_p50 >= 0 &&
		    (strcmp(ev[c].name, "adult") == 0 || strcmp(ev[c].name, "gambling") == 0) &&
		    ev[c].prec_at_r50 < min_p50)
			status = 1;
	}
	if (save && dk_model_save(m, save) != 0) {
		fprintf(stderr, "dk-eval: %s: cannot write\n", save);
		status = 2;
	}
	dk_model_free(m);
	return status;
}
