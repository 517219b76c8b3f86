/* kgdesk: the intake's parsers, the desk store, triage and the rate limiter (tools/desk/dk.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dk.h"

#define BATCH(domains)                                                                             \
	"{\"day\":\"2026-12-02\",\"feed_version\":7,\"software\":\"0.1.0\",\"epsilon\":1.0,"       \
	"\"k\":5,\"domains\":[" domains "]}"

static int parse(const char *s, struct dk_batch *b)
{
	char why[160];

	return dk_parse_signal(s, strlen(s), b, why, sizeof(why));
}

static void test_signal_ok(void **state)
{
	struct dk_batch b;
	uint32_t day;

	assert_int_equal(parse(BATCH("{\"domain\":\"Zeta.Example\",\"count\":12.7},"
	                             "{\"domain\":\"alpha.example.\",\"count\":-0.5}"),
	                       &b),
	                 0);
	assert_int_equal(b.n, 2);
	/* normalised and sorted */
	assert_string_equal(b.obs[0].domain, "alpha.example");
	assert_string_equal(b.obs[1].domain, "zeta.example");
	assert_true(b.obs[0].count == -0.5);
	assert_int_equal(b.feed_version, 7);
	assert_int_equal(b.k, 5);
	assert_int_equal(dk_day_parse("2026-12-02", &day), 0);
	assert_int_equal(b.day, day);
	dk_batch_free(&b);
}

static void test_signal_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"day\":\"2026-12-02\"",
	    BATCH("{\"domain\":\"a.example\",\"count\":1},{\"domain\":\"A.example\",\"count\":2}"),
	    BATCH("{\"domain\":\"com\",\"count\":1}"),
	    BATCH("{\"domain\":\"a b.example\",\"count\":1}"),
	    BATCH("{\"domain\":\"a.example\",\"count\":1e12}"),
	    BATCH("{\"domain\":\"a.example\",\"count\":\"5\"}"),
	    BATCH("{\"domain\":\"a.example\",\"count\":1,\"client\":\"10.0.0.1\"}"),
	    BATCH("{\"domain\":\"a.example\"}"),
	    BATCH("5"),
	    "{\"day\":\"2026-02-30\",\"feed_version\":7,\"software\":\"x\",\"epsilon\":1,\"k\":5,"
	    "\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	    "{\"day\":\"2026-12-02\",\"feed_version\":7,\"software\":\"x\",\"epsilon\":0,\"k\":5,"
	    "\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	    "{\"day\":\"2026-12-02\",\"feed_version\":7,\"software\":\"x\",\"epsilon\":1,\"k\":0,"
	    "\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	    "{\"day\":\"2026-12-02\",\"feed_version\":-1,\"software\":\"x\",\"epsilon\":1,\"k\":5,"
	    "\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	    /* a time finer than the day, an address: unknown keys are refused */
	    "{\"day\":\"2026-12-02\",\"time\":\"16:00\",\"feed_version\":7,\"software\":\"x\","
	    "\"epsilon\":1,\"k\":5,\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	    "{\"day\":\"2026-12-02\",\"day\":\"2026-12-03\",\"feed_version\":7,\"software\":\"x\","
	    "\"epsilon\":1,\"k\":5,\"domains\":[{\"domain\":\"a.example\",\"count\":1}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_batch b = {0};
		char why[160] = "";
		int rc = dk_parse_signal(bad[i], strlen(bad[i]), &b, why, sizeof(why));
		if (rc != -EINVAL)
			fail_msg("accepted bad batch %zu: %s", i, bad[i]);
		assert_null(b.obs);
		assert_true(i < 3 || why[0] != '\0');
	}
}

static void test_signal_empty(void **state)
{
	struct dk_batch b;

	/* nothing reached k clients: a valid batch of no domains */
	assert_int_equal(parse(BATCH(""), &b), 0);
	assert_int_equal(b.n, 0);
	dk_batch_free(&b);
}

static void test_day(void **state)
{
	char s[11];
	uint32_t d;

	assert_int_equal(dk_day_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(dk_day_parse("2024-02-29", &d), 0);
	dk_day_format(d, s);
	assert_string_equal(s, "2024-02-29");
	assert_int_equal(dk_day_parse("2026-12-02", &d), 0);
	assert_int_equal(d, 20789); /* (2026-12-02 - 1970-01-01) in days */
	assert_int_equal(dk_day_parse("2023-02-29", &d), -EINVAL);
	assert_int_equal(dk_day_parse("2026-1-02", &d), -EINVAL);
	assert_int_equal(dk_day_parse("2026-12-02x", &d), -EINVAL);
	assert_int_equal(dk_day_parse("1969-12-31", &d), -EINVAL);
}

static void test_report(void **state)
{
	static const char ok[] = "{\"type\":\"kidguard-report\",\"kind\":\"not_blocked\","
	                         "\"domain\":\"Bet.Example\",\"category\":\"\","
	                         "\"feed_version\":3,\"software\":\"kidguard 0.1.0\"}";
	static const char bad[] = "{\"type\":\"kidguard-report\",\"kind\":\"hate\","
	                          "\"domain\":\"bet.example\",\"category\":\"\","
	                          "\"feed_version\":3,\"software\":\"kidguard 0.1.0\"}";
	struct dk_report r;
	char why[160];

	assert_int_equal(dk_parse_report(ok, sizeof(ok) - 1, &r, why, sizeof(why)), 0);
	assert_int_equal(r.kind, DK_REPORT_NOT_BLOCKED);
	assert_string_equal(r.domain, "bet.example");
	assert_int_equal(dk_parse_report(bad, sizeof(bad) - 1, &r, why, sizeof(why)), -EINVAL);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test_dk_XXXXXX", *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rmstore(char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}

/* One appliance's batch: `n` domains with their counts. */
static void add(struct dk_store *s, const char *day, const char *const *names, const double *counts,
                size_t n, uint8_t id)
{
	struct dk_batch b = {.feed_version = 1, .epsilon = 1, .k = 5, .n = n};
	uint8_t digest[DK_SHA256_LEN] = {id};

	assert_int_equal(dk_day_parse(day, &b.day), 0);
	b.obs = calloc(n, sizeof(*b.obs));
	for (size_t i = 0; i < n; i++) {
		strcpy(b.obs[i].domain, names[i]);
		b.obs[i].count = counts[i];
	}
	assert_int_equal(dk_store_add_batch(s, &b, digest), 0);
	/* the same body again: refused, counts unchanged */
	assert_int_equal(dk_store_add_batch(s, &b, digest), -EEXIST);
	dk_batch_free(&b);
}

static int harm_by_name(void *arg, const char *domain, char *cat, size_t len, double *prob,
                        double *harm)
{
	bool bad = strstr(domain, "casino") != NULL;

	snprintf(cat, len, "%s", bad ? "gambling" : "none");
	*harm = bad ? 0.9 : 0.05;
	*prob = bad ? 0.9 : 0.95;
	return 0;
}

static void test_store_triage(void **state)
{
	static const char *const names[] = {"casino-new.example", "homework.example",
	                                    "rising.example"};
	const double c1[] = {6, 30, 1}, c2[] = {7, 31, 20};
	struct dk_triage_opts o = {.window = 7, .now = 1000};
	struct dk_cand out[10];
	struct dk_decision d = {
	    .state = DK_ACCEPTED, .category = "gambling", .operator_name = "alice", .time = 1};
	char *dir = tmpdir();
	struct dk_store *s;
	uint32_t day;
	size_t n = 10;

	assert_int_equal(dk_store_open(dir, false, &s), 0);
	add(s, "2026-11-30", names, c1, 3, 1);
	add(s, "2026-12-02", names, c2, 3, 2);
	add(s, "2026-12-02", names, c2, 3, 3);
	assert_int_equal(dk_triage(s, &o, out, &n, &day), 0);
	assert_int_equal(n, 3);
	assert_int_equal(dk_day_parse("2026-12-02", &day) == 0, 1);
	assert_string_equal(out[0].domain, "homework.example");
	assert_int_equal(out[0].appliances, 2);
	/* window sum 30 + 62, growth 62 - 30/6 */
	assert_true(out[0].strength > 92 + 56.9 && out[0].strength < 92 + 57.1);
	/* rising.example: 1 then 40: growth ranks it above casino-new (6 then 14) */
	assert_string_equal(out[1].domain, "rising.example");

	/* with harm, the gambling name comes first */
	o.harm = harm_by_name;
	n = 10;
	assert_int_equal(dk_triage(s, &o, out, &n, &day), 0);
	assert_string_equal(out[0].domain, "casino-new.example");
	assert_string_equal(out[0].category, "gambling");

	/* a decided name leaves the list; a snooze ends */
	assert_int_equal(dk_store_decide(s, "casino-new.example", &d), 0);
	d.state = DK_SNOOZED;
	d.until = 2000;
	assert_int_equal(dk_store_decide(s, "homework.example", &d), 0);
	n = 10;
	assert_int_equal(dk_triage(s, &o, out, &n, &day), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domain, "rising.example");
	o.now = 3000;
	n = 10;
	assert_int_equal(dk_triage(s, &o, out, &n, &day), 0);
	assert_int_equal(n, 2);
	/* limit 1: only the best */
	n = 1;
	o.harm = NULL;
	assert_int_equal(dk_triage(s, &o, out, &n, &day), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domain, "homework.example");
	assert_int_equal(dk_store_decision(s, "casino-new.example", &d), 0);
	assert_int_equal(d.state, DK_ACCEPTED);
	assert_string_equal(d.category, "gambling");
	assert_int_equal(dk_store_decision(s, "nothing.example", &d), -ENOENT);
	dk_store_close(s);
	rmstore(dir);
}

static void test_prune(void **state)
{
	static const char *const names[] = {"old.example", "new.example"};
	const double c[] = {10, 10};
	struct dk_triage_opts o = {.window = 365, .now = 1};
	struct dk_cand out[4];
	char *dir = tmpdir();
	struct dk_store *s;
	uint32_t before;
	uint64_t removed;
	size_t n = 4;

	assert_int_equal(dk_store_open(dir, false, &s), 0);
	add(s, "2026-11-01", names, c, 1, 1);
	add(s, "2026-12-01", names + 1, c, 1, 2);
	assert_int_equal(dk_day_parse("2026-11-15", &before), 0);
	assert_int_equal(dk_store_prune(s, before, &removed), 0);
	assert_int_equal(removed, 2); /* one signal entry, one batch digest */
	assert_int_equal(dk_triage(s, &o, out, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domain, "new.example");
	dk_store_close(s);
	rmstore(dir);
}

static void test_reports_in_triage(void **state)
{
	struct dk_report r = {.kind = DK_REPORT_NOT_BLOCKED, .domain = "reported.example"};
	struct dk_triage_opts o = {.window = 7, .now = 1};
	struct dk_cand out[4];
	char *dir = tmpdir();
	struct dk_store *s;
	size_t n = 4;

	assert_int_equal(dk_store_open(dir, false, &s), 0);
	assert_int_equal(dk_store_add_report(s, &r, 86400 * 20000), 0);
	assert_int_equal(dk_store_add_report(s, &r, 86400 * 20001), 0);
	r.kind = DK_REPORT_WRONG_BLOCK;
	strcpy(r.domain, "fine.example");
	assert_int_equal(dk_store_add_report(s, &r, 86400 * 20001), 0);
	assert_int_equal(dk_triage(s, &o, out, &n, NULL), 0);
	assert_int_equal(n, 1); /* a wrong-block report is no candidate for blocking */
	assert_string_equal(out[0].domain, "reported.example");
	assert_int_equal(out[0].reports, 2);
	assert_int_equal(out[0].first_day, 20000);
	dk_store_close(s);
	rmstore(dir);
}

/* Reports count for their registrable domain (eTLD+1): one candidate per site, its names kept. */
static void test_reports_grouped_by_site(void **state)
{
	static const char *const reported[] = {
	    "a.b.shop.example", "a.b.shop.example", "c.shop.example", "shop.example",
	    "x.other.co.uk",    "zz.shop.example",  "zy.shop.example"};
	static const char *const signal[] = {"shop.example"};
	const double count[] = {10};
	struct dk_report r = {.kind = DK_REPORT_NOT_BLOCKED};
	struct dk_triage_opts o = {.window = 7, .now = 1};
	struct dk_decision d = {.state = DK_ACCEPTED, .category = "adult", .time = 1};
	struct dk_cand out[4];
	char *dir = tmpdir();
	struct dk_store *s;
	size_t n = 4;

	assert_int_equal(dk_store_open(dir, false, &s), 0);
	add(s, "2026-12-02", signal, count, 1, 1);
	for (size_t i = 0; i < sizeof(reported) / sizeof(reported[0]); i++) {
		strcpy(r.domain, reported[i]);
		assert_int_equal(dk_store_add_report(s, &r, 86400 * 20000), 0);
	}
	assert_int_equal(dk_triage(s, &o, out, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].domain, "shop.example"); /* the signal's name, and its reports */
	assert_int_equal(out[0].reports, 6);
	assert_int_equal(out[0].n_names, 5);
	assert_string_equal(out[0].names[0], "a.b.shop.example");
	assert_string_equal(out[0].names[1], "c.shop.example");
	assert_string_equal(out[0].names[2], "shop.example");
	assert_string_equal(out[0].names[3], "zy.shop.example"); /* DK_CAND_NAMES of 5 */
	assert_string_equal(out[1].domain, "other.co.uk");
	assert_int_equal(out[1].reports, 1);
	assert_int_equal(out[1].n_names, 1);
	assert_string_equal(out[1].names[0], "x.other.co.uk");
	/* deciding the site takes every name reported under it off the list */
	assert_int_equal(dk_store_decide(s, "shop.example", &d), 0);
	n = 4;
	assert_int_equal(dk_triage(s, &o, out, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domain, "other.co.uk");
	dk_store_close(s);
	rmstore(dir);
}

static void test_rate(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, b = a;
	struct dk_rate *r;

	a.sin_addr.s_addr = htonl(0x0a000001);
	b.sin_addr.s_addr = htonl(0x0a000101); /* another /24 */
	assert_int_equal(dk_rate_new(3, &r), 0);
	for (int i = 0; i < 3; i++)
		assert_true(dk_rate_allow(r, (struct sockaddr *)&a, 1000));
	assert_false(dk_rate_allow(r, (struct sockaddr *)&a, 1000));
	a.sin_addr.s_addr = htonl(0x0a000002); /* same /24: same bucket */
	assert_false(dk_rate_allow(r, (struct sockaddr *)&a, 1000));
	assert_true(dk_rate_allow(r, (struct sockaddr *)&b, 1000));
	/* 3 per minute: one more after 20 s */
	assert_true(dk_rate_allow(r, (struct sockaddr *)&a, 21000));
	assert_false(dk_rate_allow(r, (struct sockaddr *)&a, 21000));
	dk_rate_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signal_ok),
	    cmocka_unit_test(test_signal_refused),
	    cmocka_unit_test(test_signal_empty),
	    cmocka_unit_test(test_day),
	    cmocka_unit_test(test_report),
	    cmocka_unit_test(test_store_triage),
	    cmocka_unit_test(test_reports_in_triage),
	    cmocka_unit_test(test_reports_grouped_by_site),
	    cmocka_unit_test(test_prune),
	    cmocka_unit_test(test_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
