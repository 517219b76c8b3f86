/*
 * Held-out evaluation of the classifier (dk_model.h): split by registrable domain, train on
 * one side, score the other; per class precision and recall of the most probable class, and
 * the precision at 50 % recall when the class's probability is used as a ranking score (what
 * triage does with it).
 */
#include "dk_model.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int dk_heldout(const char *name, unsigned mod)
{
	char reg[256];
	uint64_t h = 1469598103934665603ULL;

	if (mod < 2 || dk_registrable(name, reg, sizeof(reg)) != 0)
		return 0;
	/* a different hash from the features' (its own seed), so the split is not feature-aligned
	 */
	for (const char *p = "split:"; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	for (const char *p = reg; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return (h >> 17) % mod == 0;
}

struct scored {
	double p;
	int pos;
};

static int by_p_desc(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->p, y = ((const struct scored *)b)->p;
	return (x < y) - (x > y);
}

/* Precision when the top of the ranking first holds half of the positives. */
static double prec_at_half(struct scored *sc, size_t n, size_t positives)
{
	size_t tp = 0;

	if (!positives)
		return 0;
	if (n > 1)
		qsort(sc, n, sizeof(*sc), by_p_desc);
	for (size_t i = 0; i < n; i++) {
		tp += (size_t)sc[i].pos;
		if (2 * tp >= positives)
			return (double)tp / (double)(i + 1);
	}
	return 0;
}

static int score(const struct dk_model *m, const struct dk_sample *test, size_t nt,
                 struct dk_class_eval *out, size_t n_out)
{
	struct scored *sc = malloc((nt ? nt : 1) * n_out * sizeof(*sc));
	size_t ns = 0;
	double p[DK_CLASSES_MAX];

	if (!sc)
		return -ENOMEM;
	for (size_t i = 0; i < nt; i++) {
		int truth = -1, best = 0;
		for (size_t c = 0; c < n_out; c++)
			if (strcmp(out[c].name, test[i].cls) == 0)
				truth = (int)c;
		if (truth < 0 || dk_model_probs(m, test[i].name, p, DK_CLASSES_MAX) != 0)
			continue;
		for (size_t c = 1; c < n_out; c++)
			if (p[c] > p[best])
				best = (int)c;
		out[truth].n_test++;
		if (best == truth)
			out[truth].tp++;
		else {
			out[truth].fn++;
			out[best].fp++;
		}
		for (size_t c = 0; c < n_out; c++)
			sc[c * nt + ns] = (struct scored){p[c], (int)c == truth};
		ns++;
	}
	for (size_t c = 0; c < n_out; c++) {
		struct dk_class_eval *e = &out[c];
		e->precision = e->tp + e->fp ? (double)e->tp / (double)(e->tp + e->fp) : 0;
		e->recall = e->tp + e->fn ? (double)e->tp / (double)(e->tp + e->fn) : 0;
		e->prec_at_r50 = prec_at_half(sc + c * nt, ns, e->n_test);
	}
	free(sc);
	return 0;
}

int dk_eval(const struct dk_sample *s, size_t n, unsigned mod, const struct dk_train_opts *opts,
            struct dk_class_eval *out, size_t max, size_t *n_out, struct dk_model **model_out)
{
	struct dk_sample *train = malloc((n ? n : 1) * sizeof(*train));
	struct dk_sample *test = malloc((n ? n : 1) * sizeof(*test));
	struct dk_model *m = NULL;
	size_t ntr = 0, nte = 0;
	int rc;

	if (!train || !test) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (dk_heldout(s[i].name, mod))
			test[nte++] = s[i];
		else
			train[ntr++] = s[i];
	}
	rc = dk_model_train(train, ntr, opts, &m);
	if (rc)
		goto done;
	if ((size_t)dk_model_classes(m) > max) {
		rc = -EINVAL;
		goto done;
	}
	memset(out, 0, max * sizeof(*out));
	for (int c = 0; c < dk_model_classes(m); c++)
		snprintf(out[c].name, DK_CLASS_MAX, "%s", dk_model_class_name(m, c));
	*n_out = (size_t)dk_model_classes(m);
	rc = score(m, test, nte, out, *n_out);
done:
	if (rc == 0 && model_out)
		*model_out = m;
	else
		dk_model_free(m);
	free(train);
	free(test);
	return rc;
}
