/* The early-warning signal's counts, noise and threshold (resolver/dns/rs_signal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_err.h"
#include "rs_dns.h"

static const uint8_t key1[RS_SIGNAL_KEY_LEN] = {1, 2, 3, 4, 5};
static const uint8_t key2[RS_SIGNAL_KEY_LEN] = {9, 8, 7, 6, 5};

/* splitmix64: a seeded generator, so the noise tests are reproducible */
static uint64_t seeded(void *arg)
{
	uint64_t *x = arg, z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void note_n(struct rs_signal *s, const char *domain, uint32_t first, uint32_t n)
{
	for (uint32_t c = first; c < first + n; c++)
		assert_int_equal(rs_signal_note(s, domain, &c, sizeof(c), NULL, NULL), 0);
}

static void distinct_counts_exact_when_small(void **state)
{
	struct rs_signal *s;

	(void)state;
	assert_int_equal(rs_signal_new(100, key1, &s), 0);
	note_n(s, "example.com", 0, 7);
	note_n(s, "example.com", 0, 7); /* the same clients again: still 7 */
	note_n(s, "example.com", 3, 2);
	assert_true(rs_signal_estimate(s, "example.com") == 7);
	assert_true(rs_signal_estimate(s, "other.com") == 0);
	note_n(s, "other.com", 100, 15);
	assert_true(rs_signal_estimate(s, "other.com") == 15);
	assert_int_equal(rs_signal_domains(s), 2);
	rs_signal_reset(s, key2);
	assert_true(rs_signal_estimate(s, "example.com") == 0);
	assert_int_equal(rs_signal_domains(s), 0);
	rs_signal_free(s);
}

static void distinct_counts_estimated_when_large(void **state)
{
	struct rs_signal *s;
	double e;

	(void)state;
	assert_int_equal(rs_signal_new(100, key1, &s), 0);
	note_n(s, "big.com", 0, 10000);
	note_n(s, "big.com", 0, 10000);
	e = rs_signal_estimate(s, "big.com");
	/* KMV with 16 values: about 26 % standard error; 3 sigma */
	assert_true(e > 10000 * 0.2 && e < 10000 * 1.8);
	rs_signal_free(s);
}

static void table_is_bounded(void **state)
{
	struct rs_signal *s;
	char name[32];
	uint32_t c = 1;

	(void)state;
	assert_int_equal(rs_signal_new(50, key1, &s), 0);
	for (int i = 0; i < 80; i++) {
		snprintf(name, sizeof(name), "d%d.com", i);
		assert_int_equal(rs_signal_note(s, name, &c, sizeof(c), NULL, NULL),
		                 i < 50 ? 0 : RS_ELIMIT);
	}
	assert_int_equal(rs_signal_domains(s), 50);
	assert_int_equal(rs_signal_dropped(s), 30);
	/* a known domain still counts when the table is full */
	c = 2;
	assert_int_equal(rs_signal_note(s, "d3.com", &c, sizeof(c), NULL, NULL), 0);
	assert_true(rs_signal_estimate(s, "d3.com") == 2);
	/* too long for a slot */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	{
		char longname[RS_SIGNAL_NAME_MAX + 8];
		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(rs_signal_note(s, longname, &c, sizeof(c), NULL, NULL), RS_EINVAL);
	}
	/* bytes a host name cannot hold never reach the JSON batch */
	assert_int_equal(rs_signal_note(s, "a\"b.com", &c, sizeof(c), NULL, NULL), RS_EINVAL);
	assert_int_equal(rs_signal_note(s, "Upper.com", &c, sizeof(c), NULL, NULL), RS_EINVAL);
	assert_int_equal(rs_signal_note(s, "a\\b.com", &c, sizeof(c), NULL, NULL), RS_EINVAL);
	rs_signal_free(s);
	assert_int_equal(rs_signal_new(0, key1, &s), RS_EINVAL);
	s = NULL;
	rs_signal_free(s);
}

static bool on_store(void *arg, const char *domain)
{
	(*(int *)arg)++;
	return strcmp(domain, "listed.com") == 0;
}

static void excluded_never_counted(void **state)
{
	struct rs_signal *s;
	int asked = 0;

	(void)state;
	assert_int_equal(rs_signal_new(10, key1, &s), 0);
	for (uint32_t c = 0; c < 9; c++) {
		rs_signal_note(s, "listed.com", &c, sizeof(c), on_store, &asked);
		rs_signal_note(s, "new.com", &c, sizeof(c), on_store, &asked);
	}
	assert_int_equal(asked, 2); /* once per domain per day, not per query */
	assert_true(rs_signal_estimate(s, "listed.com") == 0);
	assert_true(rs_signal_estimate(s, "new.com") == 9);
	rs_signal_free(s);
}

static void laplace_mean_and_scale(void **state)
{
	uint64_t seed = 42;
	const int n = 200000;
	double sum = 0, sum_abs = 0, sum_sq = 0, b = 2.0;

	(void)state;
	for (int i = 0; i < n; i++) {
		double x = rs_signal_laplace(b, seeded(&seed));
		sum += x;
		sum_abs += fabs(x);
		sum_sq += x * x;
	}
	/* Laplace(0, b): mean 0, E|x| = b, variance 2 b^2 */
	assert_true(fabs(sum / n) < 0.03);
	assert_true(fabs(sum_abs / n - b) < 0.03);
	assert_true(fabs(sum_sq / n - 2 * b * b) < 0.2);
	/* extreme inputs stay finite */
	assert_true(isfinite(rs_signal_laplace(1, 0)));
	assert_true(isfinite(rs_signal_laplace(1, UINT64_MAX)));
}

static void batch_threshold_and_format(void **state)
{
	struct rs_signal *s;
	uint64_t seed = 7;
	struct rs_signal_batch_params p = {"2026-12-02", 12,    "0.1.0", 1.0, 5,
	                                   seeded,       &seed, NULL,    NULL};
	char *json = NULL;
	size_t len;
	uint32_t sent;

	(void)state;
	assert_int_equal(rs_signal_new(100, key1, &s), 0);
	note_n(s, "five.com", 0, 5);
	note_n(s, "four.com", 0, 4); /* k - 1 clients: never sent */
	note_n(s, "many.com", 0, 40);
	assert_int_equal(rs_signal_batch(s, &p, &json, &len, &sent), 0);
	assert_int_equal(sent, 2);
	assert_int_equal(strlen(json), len);
	assert_non_null(strstr(json, "{\"day\":\"2026-12-02\",\"feed_version\":12,"
	                             "\"software\":\"0.1.0\",\"epsilon\":1,\"k\":5,\"domains\":["));
	assert_non_null(strstr(json, "\"domain\":\"five.com\""));
	assert_non_null(strstr(json, "\"domain\":\"many.com\""));
	assert_null(strstr(json, "four.com"));
	free(json);
	/* k = 4 lets four.com through; bad parameters are refused */
	p.k = 4;
	assert_int_equal(rs_signal_batch(s, &p, &json, &len, &sent), 0);
	assert_int_equal(sent, 3);
	free(json);
	p.epsilon = 0;
	assert_int_equal(rs_signal_batch(s, &p, &json, &len, &sent), RS_EINVAL);
	rs_signal_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(distinct_counts_exact_when_small),
	    cmocka_unit_test(distinct_counts_estimated_when_large),
	    cmocka_unit_test(table_is_bounded),
	    cmocka_unit_test(excluded_never_counted),
	    cmocka_unit_test(laplace_mean_and_scale),
	    cmocka_unit_test(batch_threshold_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
