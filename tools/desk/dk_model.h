/*
 * The desk's classifier (issue 18): predicts the category of a domain from its name alone.
 *
 * An L2-regularised logistic regression (liblinear, solver L2R_LR, one-vs-rest with
 * probability outputs) over hashed features of the registrable domain (eTLD+1, libpsl):
 * character 3..5-grams, the word pieces of its labels, and Vietnamese and English keyword
 * tokens, hashed into DK_DIMS dimensions (dk_features.c). Classes are whatever names the
 * training samples carry ("adult", "gambling", ... and "none" for negatives).
 *
 * Errors: 0, or -EINVAL (bad argument), -ENOMEM, -EIO (file); kg_strerror() names them.
 */
#ifndef DK_MODEL_H
#define DK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define DK_DIMS         (1u << 18) /* hashed feature space */
#define DK_FEATURES_MAX 256        /* features of one name, at most */
#define DK_CLASS_MAX    32         /* a class name's bytes, with the NUL */
#define DK_CLASSES_MAX  32

struct dk_model; /* opaque; dk_model_free() */

/* One labelled name. Both borrowed for the duration of the call that takes them. */
struct dk_sample {
	const char *name; /* a domain, any case, with or without a trailing dot */
	const char *cls;  /* its class */
};

/* A hashed feature: index in 1..DK_DIMS (liblinear counts from 1) and its value. */
struct dk_feature {
	int index;
	double value;
};

/* The registrable domain (eTLD+1, libpsl's built-in list) of `name`, lowercased, no trailing
 * dot; a name that is itself a public suffix (or has no dot) is returned as is. Returns 0,
 * -EINVAL for an empty or overlong name or one with bytes outside [a-z0-9._-], or -ENOSPC. */
int dk_registrable(const char *name, char *out, size_t len);

/* The features of `domain` (its registrable domain is taken first): sorted by index, unique,
 * L2-normalised. `out` holds `max` entries (DK_FEATURES_MAX is always enough); `*n` receives
 * how many were written. Returns 0 or -EINVAL. */
int dk_features(const char *domain, struct dk_feature *out, size_t max, size_t *n);

/* Training options; NULL takes the defaults (C = 1, eps = 0.01, quiet). */
struct dk_train_opts {
	double C;
	double eps;
	int verbose; /* liblinear's progress on stderr */
};

/* Train on `n` samples (at least two classes). Names whose features cannot be computed are
 * skipped. `*out` is owned by the caller (dk_model_free). Returns 0, -EINVAL or -ENOMEM. */
int dk_model_train(const struct dk_sample *s, size_t n, const struct dk_train_opts *opts,
                   struct dk_model **out);

/* Write the model to `path` (liblinear's text format) and its class names to `path`.classes.
 * Returns 0 or -EIO. */
int dk_model_save(const struct dk_model *m, const char *path);

/* Read what dk_model_save wrote. `*out` owned by the caller. Returns 0, -EIO or -ENOMEM. */
int dk_model_load(const char *path, struct dk_model **out);

void dk_model_free(struct dk_model *m);

/* Number of classes and the name of class i (borrowed from the model). */
int dk_model_classes(const struct dk_model *m);
const char *dk_model_class_name(const struct dk_model *m, int i);

/* The most probable class of `domain` into `category` (`len` bytes) and its probability.
 * Returns 0, -EINVAL (bad name) or -ENOSPC. */
int dk_model_predict(const struct dk_model *m, const char *domain, char *category, size_t len,
                     double *prob);

/* The probability of every class, in dk_model_class_name order: `probs` holds `max`
 * (>= dk_model_classes) entries. Returns 0 or -EINVAL. */
int dk_model_probs(const struct dk_model *m, const char *domain, double *probs, size_t max);

/* ---- evaluation (dk_eval.c) ---- */

/* Whether a name belongs to the held-out split: by a hash of its registrable domain, so that
 * every name of one site falls on the same side (1 in `mod`, mod >= 2). */
int dk_heldout(const char *name, unsigned mod);

struct dk_class_eval {
	char name[DK_CLASS_MAX];
	size_t n_test;      /* held-out samples of this class */
	size_t tp, fp, fn;  /* of the argmax prediction */
	double precision;   /* tp / (tp + fp), 0 when nothing predicted */
	double recall;      /* tp / (tp + fn) */
	double prec_at_r50; /* precision of "P(class) >= t" at the t where recall reaches 50 % */
};

/* Train on the samples not held out (dk_heldout(name, mod) == 0), then score the held-out
 * ones. `out` holds `max` entries, one per class; `*n_out` receives how many. `*model_out`
 * (optional) receives the trained model. Returns 0, -EINVAL or -ENOMEM. */
int dk_eval(const struct dk_sample *s, size_t n, unsigned mod, const struct dk_train_opts *opts,
            struct dk_class_eval *out, size_t max, size_t *n_out, struct dk_model **model_out);

#endif
