/* The desk's classifier (tools/desk/dk_model.h): features, training, save/load, evaluation.
 * Runs on tests/fixtures/desk/samples.txt (synthetic), without the shared data folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>

#include "dk_model.h"

#ifndef DK_FIXTURE
#error DK_FIXTURE must name tests/fixtures/desk/samples.txt
#endif

static struct dk_sample samples[2000];
static char store[2000][2][200];
static size_t n_samples;

static int load(void **state)
{
	FILE *f = fopen(DK_FIXTURE, "r");
	char line[200];

	(void)state;
	if (!f)
		return -1;
	while (n_samples < 2000 && fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		sp[1 + strcspn(sp + 1, "\n")] = '\0';
		snprintf(store[n_samples][0], 200, "%s", line);
		snprintf(store[n_samples][1], 200, "%s", sp + 1);
		samples[n_samples] = (struct dk_sample){store[n_samples][1], store[n_samples][0]};
		n_samples++;
	}
	fclose(f);
	return n_samples >= 1000 ? 0 : -1;
}

static void registrable(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(dk_registrable("WWW.Example.CO.UK.", out, sizeof(out)), 0);
	assert_string_equal(out, "example.co.uk");
	assert_int_equal(dk_registrable("a.b.xoso.com.vn", out, sizeof(out)), 0);
	assert_string_equal(out, "xoso.com.vn");
	assert_int_equal(dk_registrable("bad name.com", out, sizeof(out)), -EINVAL);
	assert_int_equal(dk_registrable("", out, sizeof(out)), -EINVAL);
	assert_int_equal(dk_registrable("example.com", out, 5), -ENOSPC);
}

static void features_sorted_unique_normalised(void **state)
{
	struct dk_feature f[DK_FEATURES_MAX], g[DK_FEATURES_MAX];
	size_t n, m;
	double norm = 0;

	(void)state;
	assert_int_equal(dk_features("www.xosomienbac-vip.com", f, DK_FEATURES_MAX, &n), 0);
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++) {
		assert_true(f[i].index >= 1 && f[i].index <= (int)DK_DIMS);
		if (i)
			assert_true(f[i].index > f[i - 1].index);
		norm += f[i].value * f[i].value;
	}
	assert_true(norm > 0.999 && norm < 1.001);
	/* the registrable domain decides: a subdomain has the same features */
	assert_int_equal(dk_features("xosomienbac-vip.com", g, DK_FEATURES_MAX, &m), 0);
	assert_int_equal(m, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(f[i].index, g[i].index);
		assert_true(f[i].value == g[i].value);
	}
	/* a bounded output is respected */
	assert_int_equal(dk_features("averyveryverylongnamewithmanyngrams.com", f, 5, &n), 0);
	assert_int_equal(n, 5);
}

static void train_save_load_predict(void **state)
{
	struct dk_model *m = NULL, *m2 = NULL;
	char path[] = "/tmp/test_dk_model_XXXXXX", cpath[64], cls[DK_CLASS_MAX], cls2[DK_CLASS_MAX];
	double p, p2;
	int fd;

	(void)state;
	assert_int_equal(dk_model_train(samples, n_samples, NULL, &m), 0);
	assert_int_equal(dk_model_classes(m), 3);
	assert_int_equal(dk_model_predict(m, "best-casino-online.net", cls, sizeof(cls), &p), 0);
	assert_string_equal(cls, "gambling");
	assert_true(p > 0.5 && p <= 1.0);
	assert_int_equal(dk_model_predict(m, "freepornhub.xyz", cls, sizeof(cls), &p), 0);
	assert_string_equal(cls, "adult");
	assert_int_equal(dk_model_predict(m, "cityweather.org", cls, sizeof(cls), &p), 0);
	assert_string_equal(cls, "none");
	assert_int_equal(dk_model_predict(m, "bad name", cls, sizeof(cls), &p), -EINVAL);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dk_model_save(m, path), 0);
	assert_int_equal(dk_model_load(path, &m2), 0);
	assert_int_equal(dk_model_predict(m, "nhacai-keo.vn", cls, sizeof(cls), &p), 0);
	assert_int_equal(dk_model_predict(m2, "nhacai-keo.vn", cls2, sizeof(cls2), &p2), 0);
	assert_string_equal(cls, cls2);
	assert_true(p - p2 < 1e-6 && p2 - p < 1e-6);
	snprintf(cpath, sizeof(cpath), "%s.classes", path);
	unlink(cpath);
	/* a model without its class names is refused, not misnamed */
	dk_model_free(m2);
	m2 = NULL;
	assert_int_equal(dk_model_load(path, &m2), -EIO);
	unlink(path);
	dk_model_free(m);
	dk_model_free(m2);
}

static void one_class_is_refused(void **state)
{
	struct dk_sample one[2] = {{"a.com", "x"}, {"b.com", "x"}};
	struct dk_model *m = NULL;

	(void)state;
	assert_int_equal(dk_model_train(one, 2, NULL, &m), -EINVAL);
	assert_null(m);
}

static void heldout_eval(void **state)
{
	struct dk_class_eval ev[DK_CLASSES_MAX];
	size_t n_ev = 0, held = 0;

	(void)state;
	/* the split is by registrable domain: a subdomain falls on the same side */
	for (size_t i = 0; i < n_samples; i++) {
		char sub[80];
		snprintf(sub, sizeof(sub), "www.%s", samples[i].name);
		assert_int_equal(dk_heldout(samples[i].name, 5), dk_heldout(sub, 5));
		held += (size_t)dk_heldout(samples[i].name, 5);
	}
	assert_true(held > n_samples / 10 && held < n_samples / 3);
	assert_int_equal(dk_eval(samples, n_samples, 5, NULL, ev, DK_CLASSES_MAX, &n_ev, NULL), 0);
	assert_int_equal(n_ev, 3);
	for (size_t c = 0; c < n_ev; c++) {
		assert_true(ev[c].n_test > 0);
		assert_true(ev[c].prec_at_r50 >= 0.85);
		assert_true(ev[c].recall >= 0.5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(registrable),
	    cmocka_unit_test(features_sorted_unique_normalised),
	    cmocka_unit_test(train_save_load_predict),
	    cmocka_unit_test(one_class_is_refused),
	    cmocka_unit_test(heldout_eval),
	};
	return cmocka_run_group_tests(tests, load, NULL);
}
