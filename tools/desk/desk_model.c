/*
 * The classifier behind triage's harm (helper g's library, tools/desk/dk_model.h). Built
 * without it (KG_DESK_MODEL undefined) the desk still triages, with harm 1 for every name,
 * and `model train` says it is missing.
 */
#include "desk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		fprintf(stderr, "kidguard-desk: model %s: %s\n", file, strerror(-rc));
		free(h);
		return rc;
	}
	*out = h;
	return 0;
#else
	fprintf(stderr,
	        "kidguard-desk: model %s: this kidguard-desk was built without the "
	        "classifier\n",
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

int desk_harm(void *arg, const char *domain, char *category, size_t len, double *harm)
{
#ifdef KG_DESK_MODEL
	struct desk_harm *h = arg;
	double p = 0;
	int rc = dk_model_predict(h->m, domain, category, len, &p);

	if (rc != 0)
		return rc;
	/* The probability of the predicted class; a harmless prediction leaves the rest. */
	*harm = strcmp(category, "none") == 0 ? 1.0 - p : p;
	return 0;
#else
	return -ENOTSUP;
#endif
}

int desk_model_cmd(const struct desk_conf *c, int argc, char **argv)
{
	fprintf(stderr, "kidguard-desk: model train: this kidguard-desk was built without the "
	                "classifier (tools/desk/dk_model.h)\n");
	return 1;
}
