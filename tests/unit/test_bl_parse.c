/* Unit tests: list parsers (blocklist/bl_parse.c), on hand-written lines and on real lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "bl.h"

static struct bl_parsed P;

static enum bl_line_status parse(enum bl_format fmt, const char *line)
{
	assert_int_equal(bl_parse_line(fmt, line, strlen(line), &P), 0);
	return P.status;
}

static void one(enum bl_format fmt, const char *line, const char *name, unsigned flags)
{
	assert_int_equal(parse(fmt, line), BL_LINE_OK);
	assert_int_equal(P.n, 1);
	assert_string_equal(P.names[0].name, name);
	assert_int_equal(P.names[0].flags, flags);
}

static void test_domains(void **state)
{
	one(BL_FMT_DOMAINS, "example.com\n", "example.com", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, "  WWW.Example.COM.\r\n", "www.example.com", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, "*.wild.org", "wild.org", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, ".afshin.ir", "afshin.ir", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, "_video-bagarre.com", "_video-bagarre.com", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, "bücher.de", "xn--bcher-kva.de", BL_F_SUBTREE);
	one(BL_FMT_DOMAINS, "a.com # comment", "a.com", BL_F_SUBTREE);
	assert_int_equal(parse(BL_FMT_DOMAINS, "# comment"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_DOMAINS, "   \r\n"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_DOMAINS, ""), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_DOMAINS, "118.123.4.224"), BL_LINE_INVALID);
	assert_string_equal(P.reason, "IP address, not a name");
	assert_int_equal(parse(BL_FMT_DOMAINS, "bad..name.com"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_DOMAINS, "two names.com"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_DOMAINS, "portal.cl/forum.php?f=1"), BL_LINE_INVALID);
}

static void test_hosts(void **state)
{
	one(BL_FMT_HOSTS, "0.0.0.0 ads.example.com", "ads.example.com", 0);
	one(BL_FMT_HOSTS, "127.0.0.1\tEhentai.to  # x", "ehentai.to", 0);
	one(BL_FMT_HOSTS, ":: v6.example.net\r\n", "v6.example.net", 0);
	assert_int_equal(parse(BL_FMT_HOSTS, "0.0.0.0 a.com b.com c.org"), BL_LINE_OK);
	assert_int_equal(P.n, 3);
	assert_string_equal(P.names[2].name, "c.org");
	/* A valid name plus junk: OK, with the reason for the dropped token. */
	assert_int_equal(parse(BL_FMT_HOSTS, "0.0.0.0 xxxhindi.to en"), BL_LINE_OK);
	assert_int_equal(P.n, 1);
	assert_string_equal(P.reason, "single-label name");
	assert_int_equal(parse(BL_FMT_HOSTS, "127.0.0.1 snapchat-com"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_HOSTS, "127.0.0.1 localhost"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_HOSTS, "::1 ip6-localhost ip6-loopback"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_HOSTS, "# Facebook"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_HOSTS, "example.com"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_HOSTS, "0.0.0.0 85.17.187.83"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_HOSTS, "0.0.0.0 a.com b.com c.com d.com e.com f.com "
	                                     "g.com h.com i.com"),
	                 BL_LINE_OK);
	assert_int_equal(P.n, BL_PARSE_MAX_NAMES);
	assert_string_equal(P.reason, "too many names on one line");
}

static void test_adblock(void **state)
{
	one(BL_FMT_ADBLOCK, "||example.com^", "example.com", BL_F_SUBTREE);
	one(BL_FMT_ADBLOCK, "@@||nation.africa^\r\n", "nation.africa", BL_F_SUBTREE | BL_F_ALLOW);
	one(BL_FMT_ADBLOCK, "||x.org^$important", "x.org", BL_F_SUBTREE);
	one(BL_FMT_ADBLOCK, "||xn--11b4c3d^", "xn--11b4c3d", BL_F_SUBTREE);
	one(BL_FMT_ADBLOCK, "||pipe.com^|", "pipe.com", BL_F_SUBTREE);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "[Adblock Plus]"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "! Title: x"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "||x.org^$third-party"), BL_LINE_SKIPPED);
	assert_string_equal(P.reason, "unsupported modifier");
	assert_int_equal(parse(BL_FMT_ADBLOCK, "||x.org/ads^"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "||ads*.x.org^"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "/banner[0-9]+/"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "example.com##.ad"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "|http://x.org|"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "||x.org"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_ADBLOCK, "||bad..org^"), BL_LINE_INVALID);
}

static void test_rpz(void **state)
{
	one(BL_FMT_RPZ, "bsky.app CNAME .", "bsky.app", 0);
	one(BL_FMT_RPZ, "*.bsky.app CNAME .\r\n", "bsky.app", BL_F_SUBTREE);
	one(BL_FMT_RPZ, "ok.example 300 IN CNAME rpz-passthru.", "ok.example", BL_F_ALLOW);
	one(BL_FMT_RPZ, "abs.example. CNAME *.", "abs.example", 0);
	one(BL_FMT_RPZ, "d.example CNAME rpz-drop. ; comment", "d.example", 0);
	one(BL_FMT_RPZ, "*.rpz-public-resolver1.rrdns.pch.net CNAME .",
	    "rpz-public-resolver1.rrdns.pch.net", BL_F_SUBTREE);
	assert_int_equal(parse(BL_FMT_RPZ, "$TTL 3600"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_RPZ, "$ORIGIN rpz.example."), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_RPZ, "@ SOA localhost. root.localhost. 1 2 3 4 5"),
	                 BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_RPZ, "  NS  localhost."), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_RPZ, "; Title"), BL_LINE_EMPTY);
	assert_int_equal(parse(BL_FMT_RPZ, "32.1.0.0.10.rpz-ip CNAME ."), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_RPZ, "x.com A 10.0.0.1"), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_RPZ, "x.com CNAME walled.garden."), BL_LINE_SKIPPED);
	assert_int_equal(parse(BL_FMT_RPZ, "x.com"), BL_LINE_INVALID);
	assert_int_equal(parse(BL_FMT_RPZ, "bad..com CNAME ."), BL_LINE_INVALID);
}

/* A BIND-style policy zone (issue 16): every line, what it must give. */
static const char BIND_RPZ[] =
    "; policy zone of the ministry, as BIND serves it\n"              /* 1 */
    "$TTL 2h\n"                                                       /* 2 */
    "$ORIGIN rpz.ministry.example.\n"                                 /* 3 */
    "@ IN SOA ns1.ministry.example. hostmaster.ministry.example. (\n" /* 4 */
    "        2026120201 ; serial\n"                                   /* 5 */
    "        3600 600 86400 300 )\n"                                  /* 6 */
    "  IN NS ns1.ministry.example.\n"                                 /* 7 */
    "bad.example.rpz.ministry.example. CNAME .\n"                     /* 8 */
    "*.wild.example.rpz.ministry.example. 300 IN CNAME .\n"           /* 9 */
    "relative.example CNAME .\n"                                      /* 10 */
    "\\098ad2.example CNAME rpz-drop.\n"                              /* 11 */
    "ok.bad.example CNAME rpz-passthru.\n"                            /* 12 */
    "drop.example CNAME *.\n"                                         /* 13 */
    "32.1.0.0.10.rpz-ip CNAME .\n"                                    /* 14 */
    "local.example A 192.0.2.1\n"                                     /* 15 */
    "$INCLUDE /etc/passwd\n"                                          /* 16 */
    "outside.example.org. CNAME .\n"                                  /* 17 */
    "$ORIGIN example.net.rpz.ministry.example.\n"                     /* 18 */
    "www CNAME .\n"                                                   /* 19 */
    "* CNAME .\n"                                                     /* 20 */
    "mail IN CNAME rpz-passthru. ; allowed\n"                         /* 21 */
    "(\n";                                                            /* 22 */

struct want {
	unsigned line;
	enum bl_line_status status;
	const char *name; /* OK: the one name; SKIPPED/INVALID: the reason */
	unsigned flags;
};

static void test_rpz_zone(void **state)
{
	static const struct want want[] = {
	    {8, BL_LINE_OK, "bad.example", 0},
	    {9, BL_LINE_OK, "wild.example", BL_F_SUBTREE},
	    {10, BL_LINE_OK, "relative.example", 0},
	    {11, BL_LINE_OK, "bad2.example", 0},
	    {12, BL_LINE_OK, "ok.bad.example", BL_F_ALLOW},
	    {13, BL_LINE_OK, "drop.example", 0},
	    {14, BL_LINE_SKIPPED, "RPZ trigger other than QNAME", 0},
	    {15, BL_LINE_SKIPPED, "local-data record not supported", 0},
	    {16, BL_LINE_INVALID, "$INCLUDE refused: a list must not read files", 0},
	    {17, BL_LINE_INVALID, "owner outside the policy zone", 0},
	    {19, BL_LINE_OK, "www.example.net", 0},
	    {20, BL_LINE_OK, "example.net", BL_F_SUBTREE},
	    {21, BL_LINE_OK, "mail.example.net", BL_F_ALLOW},
	    {23, BL_LINE_INVALID, "parenthesis not closed at end of file", 0},
	};
	struct bl_parser *ps;
	const char *s = BIND_RPZ, *nl;
	unsigned ln = 0, w = 0;

	assert_int_equal(bl_parser_new(BL_FMT_RPZ, &ps), 0);
	for (; *s; s = nl + 1) {
		nl = strchr(s, '\n');
		assert_int_equal(bl_parser_line(ps, s, (size_t)(nl - s + 1), &P), 0);
		ln++;
		if (w < sizeof(want) / sizeof(want[0]) && want[w].line == ln)
			goto check;
		assert_int_equal(P.status, BL_LINE_EMPTY); /* comments, directives, SOA, NS */
		assert_int_equal(P.n, 0);
		continue;
	check:
		assert_int_equal(P.status, want[w].status);
		if (P.status == BL_LINE_OK) {
			assert_int_equal(P.n, 1);
			assert_string_equal(P.names[0].name, want[w].name);
			assert_int_equal(P.names[0].flags, want[w].flags);
		} else {
			assert_int_equal(P.n, 0);
			assert_string_equal(P.reason, want[w].name);
		}
		w++;
	}
	assert_int_equal(bl_parser_end(ps, &P), 0);
	assert_int_equal(want[w].line, 23);
	assert_int_equal(P.status, want[w].status);
	assert_string_equal(P.reason, want[w].name);
	bl_parser_free(ps);
}

/* Owners before any $ORIGIN or SOA are whole names; the SOA owner becomes the apex. */
static void test_rpz_soa_apex(void **state)
{
	static const struct {
		const char *line;
		enum bl_line_status status;
		const char *name; /* OK: the name; else the reason or NULL */
	} t[] = {
	    {"@ CNAME .", BL_LINE_INVALID, "owner is the root name"},
	    {"before.example. CNAME .", BL_LINE_OK, "before.example"},
	    {"rpz.example. 3600 IN SOA localhost. root.localhost. 1 2 3 4 5", BL_LINE_EMPTY, NULL},
	    {"after.example.rpz.example. CNAME .", BL_LINE_OK, "after.example"},
	    {"rel.example CNAME .", BL_LINE_OK, "rel.example"},
	    {"UP.Example.RPZ.EXAMPLE. CNAME .", BL_LINE_OK, "up.example"},
	    {"$ORIGIN sub", BL_LINE_EMPTY, NULL}, /* relative: sub.rpz.example. */
	    {"www CNAME .", BL_LINE_OK, "www.sub"},
	    {"rpz.example. CNAME .", BL_LINE_INVALID, "record at the zone apex"},
	    {"x.example CNAME rpz-passthru", BL_LINE_SKIPPED, "unsupported RPZ action"},
	    {"$ORIGIN", BL_LINE_INVALID, "bad $ORIGIN"},
	    {"$TTL 1x", BL_LINE_INVALID, "bad $TTL"},
	    {"x.example ) CNAME .", BL_LINE_INVALID, "unbalanced parenthesis"},
	};
	struct bl_parser *ps;

	assert_int_equal(bl_parser_new(BL_FMT_RPZ, &ps), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(bl_parser_line(ps, t[i].line, strlen(t[i].line), &P), 0);
		assert_int_equal(P.status, t[i].status);
		if (t[i].status == BL_LINE_OK)
			assert_string_equal(P.names[0].name, t[i].name);
		else if (t[i].name)
			assert_string_equal(P.reason, t[i].name);
	}
	bl_parser_free(ps);
}

static void test_limits(void **state)
{
	char big[5000];

	memset(big, 'a', sizeof(big));
	assert_int_equal(parse(BL_FMT_DOMAINS, "\0"), BL_LINE_EMPTY);
	assert_int_equal(bl_parse_line(BL_FMT_DOMAINS, big, sizeof(big), &P), 0);
	assert_int_equal(P.status, BL_LINE_INVALID);
	assert_int_equal(bl_parse_line(BL_FMT_DOMAINS, "a\0b.com", 7, &P), 0);
	assert_int_equal(P.status, BL_LINE_INVALID);
}

/* ---- Real lists --------------------------------------------------------------------------- */

struct tally {
	unsigned long lines, empty, ok, skipped, invalid, names;
	uint64_t hash; /* order-independent sum of per-name hashes, to compare name sets */
};

static const char *data_dir(void)
{
	const char *env = getenv("KG_TEST_DATA");
	return env ? env : KG_TEST_DATA;
}

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static struct tally run_file(enum bl_format fmt, const char *rel)
{
	struct tally t = {0};
	struct bl_parser *ps;
	char cmd[1024], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "xz -dc '%s/%s'", data_dir(), rel);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_int_equal(bl_parser_new(fmt, &ps), 0); /* a file: RPZ keeps $ORIGIN and the apex */
	while ((len = getline(&line, &cap, fp)) >= 0) {
		assert_int_equal(bl_parser_line(ps, line, (size_t)len, &P), 0);
		t.lines++;
		t.empty += P.status == BL_LINE_EMPTY;
		t.ok += P.status == BL_LINE_OK;
		t.skipped += P.status == BL_LINE_SKIPPED;
		t.invalid += P.status == BL_LINE_INVALID;
		for (unsigned i = 0; i < P.n; i++, t.names++)
			t.hash += fnv(P.names[i].name);
	}
	assert_int_equal(bl_parser_end(ps, &P), 0);
	assert_int_equal(P.status, BL_LINE_EMPTY);
	bl_parser_free(ps);
	free(line);
	assert_int_equal(pclose(fp), 0);
	print_message("  %-55s lines %7lu ok %7lu skipped %4lu invalid %5lu\n", rel, t.lines, t.ok,
	              t.skipped, t.invalid);
	return t;
}

static bool have_data(void)
{
	struct stat sb;

	if (stat(data_dir(), &sb) == 0)
		return true;
	print_message("SKIPPED: ../shared/data not found (%s); set KG_TEST_DATA\n", data_dir());
	return false;
}

static void test_real_equivalence(void **state)
{
	struct tally a, b;

	if (!have_data())
		skip();
	/* The same names in two syntaxes must give the same name set. */
	a = run_file(BL_FMT_ADBLOCK, "blocklists/hagezi/adblock/nsfw.txt.xz");
	b = run_file(BL_FMT_DOMAINS, "blocklists/hagezi/wildcard/nsfw.txt.xz");
	assert_true(a.ok > 90000);
	assert_int_equal(a.ok, b.ok);
	assert_int_equal(a.hash, b.hash);
	assert_int_equal(a.skipped + a.invalid + b.skipped + b.invalid, 0);
	a = run_file(BL_FMT_HOSTS, "blocklists/blocklistproject/drugs.txt.xz");
	b = run_file(BL_FMT_ADBLOCK, "blocklists/blocklistproject/adguard/drugs-ags.txt.xz");
	assert_true(a.ok > 20000);
	assert_int_equal(a.names, b.names);
	assert_int_equal(a.hash, b.hash);
}

static void test_real_rpz(void **state)
{
	static const char *const f[] = {
	    "social",       "light",        "spam-tlds-rpz", "doh-vpn-proxy-bypass",
	    "nosafesearch", "urlshortener", "pro.plus.mini"};
	char rel[128];

	if (!have_data())
		skip();
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct tally t;
		snprintf(rel, sizeof(rel), "rpz/hagezi/%s.txt.xz", f[i]);
		t = run_file(BL_FMT_RPZ, rel);
		assert_true(t.ok > 100);
		assert_int_equal(t.skipped + t.invalid, 0);
	}
}

static void test_real_dirty(void **state)
{
	struct tally t;

	if (!have_data())
		skip();
	t = run_file(BL_FMT_HOSTS, "blocklists/sinfonietta/pornography-hosts.xz");
	assert_true(t.ok > 50000 && t.invalid < 20);
	t = run_file(BL_FMT_HOSTS, "blocklists/sinfonietta/social-hosts.xz");
	assert_true(t.invalid >= 1); /* "snapchat-com" */
	t = run_file(BL_FMT_ADBLOCK, "blocklists/hagezi/adblock/spam-tlds-adblock-allow.txt.xz");
	assert_true(t.ok > 800 && t.skipped + t.invalid == 0);
	t = run_file(BL_FMT_DOMAINS, "blocklists/ut1/2025-07-13/agressif/domains.xz");
	assert_true(t.ok > 200);
	t = run_file(BL_FMT_DOMAINS, "blocklists/ut1/2025-07-13/dynamic-dns/domains.xz");
	assert_int_equal(t.invalid, 0);
	t = run_file(BL_FMT_DOMAINS, "blocklists/blocklistproject/alt-version/phishing-nl.txt.xz");
	assert_true(t.ok > 150000 && t.invalid < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domains),  cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_adblock),  cmocka_unit_test(test_rpz),
	    cmocka_unit_test(test_rpz_zone), cmocka_unit_test(test_rpz_soa_apex),
	    cmocka_unit_test(test_limits),   cmocka_unit_test(test_real_equivalence),
	    cmocka_unit_test(test_real_rpz), cmocka_unit_test(test_real_dirty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
