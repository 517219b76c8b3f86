/*
 * Training, saving, loading and prediction of the desk's classifier (dk_model.h), on
 * liblinear's L2-regularised logistic regression. liblinear numbers classes by the labels
 * it is given: we give class i the label i, and keep the names next to the model.
 */
#include "dk_model.h"

#include <errno.h>
#include <linear.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dk_model {
	struct model *lm;
	int n_class;
	char names[DK_CLASSES_MAX][DK_CLASS_MAX];
};

static void quiet(const char *s)
{
	(void)s;
}

static int class_index(struct dk_model *m, const char *cls)
{
	for (int i = 0; i < m->n_class; i++)
		if (strcmp(m->names[i], cls) == 0)
			return i;
	if (m->n_class == DK_CLASSES_MAX || strlen(cls) >= DK_CLASS_MAX || !cls[0])
		return -EINVAL;
	snprintf(m->names[m->n_class], DK_CLASS_MAX, "%s", cls);
	return m->n_class++;
}

/* The training problem: one pool of feature nodes, each row ending with index -1. */
struct prob_buf {
	struct problem p;
	struct feature_node *pool;
	size_t used, cap;
};

static int push_row(struct prob_buf *b, const struct dk_feature *f, size_t n)
{
	if (b->used + n + 2 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1 << 20) + n + 2;
		struct feature_node *np = realloc(b->pool, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		b->pool = np;
		b->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		b->pool[b->used + i] = (struct feature_node){f[i].index, f[i].value};
	/* the bias term is feature DK_DIMS + 1 (liblinear's convention: the caller adds it) */
	b->pool[b->used + n] = (struct feature_node){(int)DK_DIMS + 1, 1.0};
	b->pool[b->used + n + 1] = (struct feature_node){-1, 0};
	b->used += n + 2;
	return 0;
}

static int build_problem(struct dk_model *m, const struct dk_sample *s, size_t n,
                         struct prob_buf *b)
{
	struct dk_feature f[DK_FEATURES_MAX];
	size_t *start = malloc((n ? n : 1) * sizeof(*start)), nf;
	int rc = 0, l = 0;

	b->p.y = malloc((n ? n : 1) * sizeof(double));
	b->p.x = malloc((n ? n : 1) * sizeof(struct feature_node *));
	if (!start || !b->p.y || !b->p.x) {
		free(start);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		int c;
		if (!s[i].name || !s[i].cls || dk_features(s[i].name, f, DK_FEATURES_MAX, &nf) != 0)
			continue;
		c = class_index(m, s[i].cls);
		if (c < 0) {
			rc = c;
			break;
		}
		start[l] = b->used;
		b->p.y[l++] = c;
		rc = push_row(b, f, nf);
	}
	/* Rows point into the pool only now: it may have moved while it grew. */
	for (int i = 0; i < l && rc == 0; i++)
		b->p.x[i] = b->pool + start[i];
	free(start);
	b->p.l = l;
	b->p.n = (int)DK_DIMS + 1;
	b->p.bias = 1;
	if (rc == 0 && (m->n_class < 2 || l < 2))
		rc = -EINVAL;
	return rc;
}

static void free_problem(struct prob_buf *b)
{
	free(b->p.y);
	free(b->p.x);
	free(b->pool);
}

int dk_model_train(const struct dk_sample *s, size_t n, const struct dk_train_opts *opts,
                   struct dk_model **out)
{
	struct parameter par = {0};
	struct prob_buf b = {0};
	struct dk_model *m;
	int rc;

	if (!s || !out || n > (size_t)INT32_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = build_problem(m, s, n, &b);
	if (rc == 0) {
		par.solver_type = L2R_LR;
		par.C = opts && opts->C > 0 ? opts->C : 1.0;
		par.eps = opts && opts->eps > 0 ? opts->eps : 0.01;
		par.p = 0.1;
		set_print_string_function(opts && opts->verbose ? NULL : quiet);
		if (check_parameter(&b.p, &par))
			rc = -EINVAL;
		else if (!(m->lm = train(&b.p, &par)))
			rc = -ENOMEM;
	}
	free_problem(&b);
	if (rc) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int dk_model_save(const struct dk_model *m, const char *path)
{
	char cpath[4096];
	FILE *f;
	int rc = 0;

	if (!m || !path || snprintf(cpath, sizeof(cpath), "%s.classes", path) >= (int)sizeof(cpath))
		return -EINVAL;
	if (save_model(path, m->lm) != 0)
		return -EIO;
	f = fopen(cpath, "w");
	if (!f)
		return -EIO;
	for (int i = 0; i < m->n_class; i++)
		if (fprintf(f, "%s\n", m->names[i]) < 0)
			rc = -EIO;
	if (fclose(f) != 0)
		rc = -EIO;
	return rc;
}

int dk_model_load(const char *path, struct dk_model **out)
{
	char cpath[4096], line[DK_CLASS_MAX + 2];
	struct dk_model *m;
	FILE *f;

	if (!path || !out ||
	    snprintf(cpath, sizeof(cpath), "%s.classes", path) >= (int)sizeof(cpath))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	f = fopen(cpath, "r");
	while (f && m->n_class < DK_CLASSES_MAX && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strlen(line) >= DK_CLASS_MAX)
			break;
		memcpy(m->names[m->n_class++], line, strlen(line) + 1);
	}
	if (f)
		fclose(f);
	m->lm = f ? load_model(path) : NULL;
	/* the class file and the model must agree, or every prediction would be misnamed */
	if (!m->lm || get_nr_class(m->lm) != m->n_class || !check_probability_model(m->lm)) {
		if (m->lm)
			free_and_destroy_model(&m->lm);
		free(m);
		return -EIO;
	}
	*out = m;
	return 0;
}

void dk_model_free(struct dk_model *m)
{
	if (!m)
		return;
	if (m->lm)
		free_and_destroy_model(&m->lm);
	free(m);
}

int dk_model_classes(const struct dk_model *m)
{
	return m ? m->n_class : 0;
}

const char *dk_model_class_name(const struct dk_model *m, int i)
{
	return m && i >= 0 && i < m->n_class ? m->names[i] : NULL;
}

int dk_model_probs(const struct dk_model *m, const char *domain, double *probs, size_t max)
{
	struct dk_feature f[DK_FEATURES_MAX];
	struct feature_node x[DK_FEATURES_MAX + 2];
	double est[DK_CLASSES_MAX];
	int label[DK_CLASSES_MAX];
	size_t n;

	if (!m || !probs || max < (size_t)m->n_class ||
	    dk_features(domain, f, DK_FEATURES_MAX, &n) != 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		x[i] = (struct feature_node){f[i].index, f[i].value};
	/* the bias term: liblinear adds it as feature n+1 when the model has bias >= 0 */
	if (m->lm->bias >= 0)
		x[n++] = (struct feature_node){get_nr_feature(m->lm) + 1, m->lm->bias};
	x[n] = (struct feature_node){-1, 0};
	predict_probability(m->lm, x, est);
	get_labels(m->lm, label);
	for (int i = 0; i < m->n_class; i++)
		probs[i] = 0;
	for (int i = 0; i < m->n_class; i++)
		if (label[i] >= 0 && label[i] < m->n_class)
			probs[label[i]] = est[i];
	return 0;
}

int dk_model_predict(const struct dk_model *m, const char *domain, char *category, size_t len,
                     double *prob)
{
	double p[DK_CLASSES_MAX];
	int best = 0, rc = dk_model_probs(m, domain, p, DK_CLASSES_MAX);

	if (rc)
		return rc;
	for (int i = 1; i < m->n_class; i++)
		if (p[i] > p[best])
			best = i;
	if (!category || strlen(m->names[best]) >= len)
		return -ENOSPC;
	memcpy(category, m->names[best], strlen(m->names[best]) + 1);
	if (prob)
		*prob = p[best];
	return 0;
}
