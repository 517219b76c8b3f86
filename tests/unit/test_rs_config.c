/*
 * Unit tests: the configuration (resolver/policy/rs_config.c): defaults, a full file, every kind of
 * mistake with its "NAME:LINE: [section] key: ..." message, lists, and the printed form
 * (golden text and re-parse round trip).
 *
 * Run with --known-bugs for the tests of bugs not fixed yet (unit_rs_config_known_bugs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "rs.h"

/* Defaults with a fixed upstream, so that no test depends on this host's resolv.conf. */
static void base(struct rs_config *cfg)
{
	rs_config_defaults(cfg);
	kg_sockaddr_parse("192.0.2.53", 53, &cfg->upstream[0]);
	cfg->n_upstream = 1;
}

static const char *addr_str(const struct kg_sockaddr *a, char *buf)
{
	return kg_sockaddr_str((const struct sockaddr *)&a->ss, buf, KG_ADDRSTRLEN);
}

static int load(const char *text, struct rs_config *cfg, char *err, size_t errlen)
{
	base(cfg);
	return rs_config_load_string(text, "t.conf", cfg, err, errlen);
}

/* The load fails with RS_EINVAL, leaves the config alone, and says exactly `want`. */
static void bad(const char *text, const char *want)
{
	struct rs_config cfg, before;
	char err[512];

	base(&cfg);
	before = cfg;
	memset(err, 'x', sizeof(err));
	assert_int_equal(rs_config_load_string(text, "t.conf", &cfg, err, sizeof(err)), RS_EINVAL);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	assert_string_equal(err, want);
}

static const char full_conf[] = "; a full configuration\n"
                                "[server]\n"
                                "listen = 127.0.0.1:5300, [::1]:5300\n"
                                "workers = 4\n"
                                "tcp_max_connections = 500\n"
                                "tcp_idle_timeout = 30\n"
                                "max_udp_size = 1400\n"
                                "log_level = debug\n"
                                "\n"
                                "[upstream]\n"
                                "servers = 192.0.2.1, 192.0.2.2:5353, [2001:db8::1]\n"
                                "timeout = 800\n"
                                "query_timeout = 2500\n"
                                "\n"
                                "[cache]\n"
                                "size = 5000\n"
                                "min_ttl = 5\n"
                                "max_ttl = 7200\n"
                                "negative_max_ttl = 900\n"
                                "\n"
                                "[access]\n"
                                "allow = 10.0.0.0/8, 192.168.1.7/24, fd00::/8, 127.0.0.1\n"
                                "\n"
                                "[blocklist]\n"
                                "path = /var/lib/kidguard\n"
                                "\n"
                                "[blocking]\n"
                                "sinkhole_ipv4 = 192.0.2.99\n"
                                "sinkhole_ipv6 = 2001:db8::99\n"
                                "ttl = 120\n"
                                "\n"
                                "[profile kids]\n"
                                "block = adult, gambling\n"
                                "action = nxdomain\n"
                                "clients = 192.168.1.0/24\n";

/* What rs_config_print writes for full_conf, read from "full.conf". One line per key, as the
 * file has them (clang-format would pack them once no line is long). */
/* clang-format off */
static const char full_golden[] =
    "; effective configuration from full.conf\n"
    "[server]\n"
    "listen = 127.0.0.1:5300, [::1]:5300\n"
    "workers = 4\n"
    "tcp_max_connections = 500\n"
    "tcp_idle_timeout = 30\n"
    "max_udp_size = 1400\n"
    "udp_coalesce = 100\n"
    "log_level = debug\n"
    "\n"
    "[upstream]\n"
    "servers = 192.0.2.1:53, 192.0.2.2:5353, [2001:db8::1]:53\n"
    "timeout = 800\n"
    "query_timeout = 2500\n"
    "max_inflight = 10000\n"
    "randomize_case = off\n"
    "private_address_answers = drop\n"
    "private_domains = home.arpa, lan, internal, localhost\n"
    "\n"
    "[cache]\n"
    "size = 5000\n"
    "min_ttl = 5\n"
    "max_ttl = 7200\n"
    "negative_max_ttl = 900\n"
    "max_memory = 256\n"
    "verdict_entries = 65536\n"
    "\n"
    "[ratelimit]\n"
    "qps = 0\n"
    "burst = 0\n"
    "ipv4_prefix = 32\n"
    "ipv6_prefix = 56\n"
    "action = truncate\n"
    "\n"
    "[access]\n"
    "allow = 10.0.0.0/8, 192.168.1.0/24, fd00::/8, 127.0.0.1/32\n"
    "\n"
    "[blocklist]\n"
    "path = /var/lib/kidguard\n"
    "\n"
    "[blocking]\n"
    "sinkhole_ipv4 = 192.0.2.99\n"
    "sinkhole_ipv6 = 2001:db8::99\n"
    "ttl = 120\n"
    "on_store_error = fail_closed\n"
    "\n"
    "[profile default]\n"
    "block = all\n"
    "action = sinkhole\n"
    "safe_search = off\n"
    "hardening = off\n"
    "mode = filter\n"
    "\n"
    "[profile kids]\n"
    "block = adult, gambling\n"
    "action = nxdomain\n"
    "clients = 192.168.1.0/24\n"
    "safe_search = off\n"
    "hardening = off\n"
    "mode = filter\n"
    "\n"
    "[http]\n"
    "listen = 127.0.0.1:8053\n"
    "trust_loopback = off\n"
    "block_page_listen = off\n"
    "language = auto\n"
    "query_log = off\n"
    "query_log_size = 1000\n"
    "query_log_full_addresses = off\n"
    "\n"
    "[tls]\n"
    "listen_dot = off\n"
    "listen_doh = off\n"
    "self_signed = off\n"
    "unknown_client_id = default\n"
    "device_id_overrides_address = off\n"
    "max_pending = 10000\n";
/* clang-format on */

static char *print_to_string(const struct rs_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	rs_config_print(cfg, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_defaults(void **state)
{
	struct rs_config cfg;
	char buf[KG_ADDRSTRLEN];

	rs_config_defaults(&cfg);
	assert_string_equal(cfg.source, "(embedded default)");
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(addr_str(&cfg.listen[0], buf), "127.0.0.1:5353");
	assert_string_equal(addr_str(&cfg.listen[1], buf), "[::1]:5353");
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(cfg.tcp_max_connections, 1024);
	assert_int_equal(cfg.tcp_idle_timeout_ms, 10000);
	assert_int_equal(cfg.max_udp_size, 1232);
	assert_int_equal(cfg.upstream_timeout_ms, 1000);
	assert_int_equal(cfg.query_timeout_ms, 3000);
	assert_int_equal(cfg.cache_size, 100000);
	assert_int_equal(cfg.cache_min_ttl, 0);
	assert_int_equal(cfg.cache_max_ttl, 86400);
	assert_int_equal(cfg.cache_neg_max_ttl, 3600);
	assert_int_equal(cfg.n_allow, 9); /* loopback and private ranges only */
	assert_string_equal(cfg.state_dir, "./kidguard-data");
	/* The default upstreams are exactly the host's resolvers, in order (/etc/resolv.conf). */
	{
		struct rs_config host;
		char b2[KG_ADDRSTRLEN];

		assert_int_equal(rs_config_upstreams_from_resolv(&host, "/etc/resolv.conf"),
		                 cfg.n_upstream);
		for (int i = 0; i < cfg.n_upstream; i++)
			assert_string_equal(addr_str(&cfg.upstream[i], buf),
			                    addr_str(&host.upstream[i], b2));
	}
}

/* resolv.conf: nameserver lines in order, port 53, zone indexes and other lines skipped, at
 * most RS_MAX_UPSTREAMS; a missing file gives none. */
static void test_upstreams_from_resolv(void **state)
{
	char path[] = "/tmp/kg_test_rs_resolv_XXXXXX";
	int fd = mkstemp(path);
	struct rs_config cfg;
	char buf[KG_ADDRSTRLEN];
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# generated\nsearch lan\nnameserver 192.0.2.53\noptions edns0\n"
	      "nameserver fe80::1%eth0\nnameserver 2001:db8::53\n",
	      f);
	for (int i = 0; i < RS_MAX_UPSTREAMS; i++)
		fprintf(f, "nameserver 198.51.100.%d\n", i + 1);
	fclose(f);
	assert_int_equal(rs_config_upstreams_from_resolv(&cfg, path), RS_MAX_UPSTREAMS);
	assert_string_equal(addr_str(&cfg.upstream[0], buf), "192.0.2.53:53");
	assert_string_equal(addr_str(&cfg.upstream[1], buf), "[2001:db8::53]:53");
	assert_string_equal(addr_str(&cfg.upstream[2], buf), "198.51.100.1:53");
	assert_string_equal(addr_str(&cfg.upstream[RS_MAX_UPSTREAMS - 1], buf), "198.51.100.14:53");
	unlink(path);
	assert_int_equal(rs_config_upstreams_from_resolv(&cfg, path), 0);
	assert_int_equal(cfg.n_upstream, 0);
}

static void test_defaults_acl(void **state)
{
	struct rs_config cfg;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	bool allowed;

	rs_config_defaults(&cfg);
	/* Private addresses are allowed, a public one is not: never an open resolver. */
	static const char *const in[] = {"127.0.0.1", "10.1.2.3", "172.31.0.1", "192.168.0.1",
	                                 "100.64.0.1"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		inet_pton(AF_INET, in[i], &sin.sin_addr);
		allowed = false;
		for (int k = 0; k < cfg.n_allow; k++)
			allowed = allowed || kg_cidr_match(&cfg.allow[k], (struct sockaddr *)&sin);
		assert_true(allowed);
	}
	inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr);
	for (int k = 0; k < cfg.n_allow; k++)
		assert_false(kg_cidr_match(&cfg.allow[k], (struct sockaddr *)&sin));
}

static void test_full(void **state)
{
	struct rs_config cfg;
	char err[512], buf[KG_ADDRSTRLEN];

	base(&cfg);
	assert_int_equal(rs_config_load_string(full_conf, "full.conf", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.source, "full.conf");
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(addr_str(&cfg.listen[0], buf), "127.0.0.1:5300");
	assert_string_equal(addr_str(&cfg.listen[1], buf), "[::1]:5300");
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.tcp_max_connections, 500);
	assert_int_equal(cfg.tcp_idle_timeout_ms, 30000); /* seconds in the file */
	assert_int_equal(cfg.max_udp_size, 1400);
	assert_int_equal(cfg.log_level, 3);
	assert_int_equal(cfg.n_upstream, 3);
	assert_string_equal(addr_str(&cfg.upstream[0], buf), "192.0.2.1:53");
	assert_string_equal(addr_str(&cfg.upstream[1], buf), "192.0.2.2:5353");
	assert_string_equal(addr_str(&cfg.upstream[2], buf), "[2001:db8::1]:53");
	assert_int_equal(cfg.upstream_timeout_ms, 800);
	assert_int_equal(cfg.query_timeout_ms, 2500);
	assert_int_equal(cfg.cache_size, 5000);
	assert_int_equal(cfg.cache_min_ttl, 5);
	assert_int_equal(cfg.cache_max_ttl, 7200);
	assert_int_equal(cfg.cache_neg_max_ttl, 900);
	assert_int_equal(cfg.n_allow, 4);
	assert_int_equal(cfg.allow[1].prefix, 24);
	assert_int_equal(cfg.allow[1].addr[3], 0); /* host bits cleared */
	assert_int_equal(cfg.allow[3].prefix, 32);
	assert_string_equal(cfg.state_dir, "/var/lib/kidguard");
}

static void test_from_file(void **state)
{
	char path[] = "/tmp/kg_test_rs_config_XXXXXX";
	int fd = mkstemp(path);
	struct rs_config cfg;
	char err[512], want[600];
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("[cache]\nsize = 7\n\n[server]\nworkers = 0\n", f);
	fclose(f);
	base(&cfg);
	assert_int_equal(rs_config_load(path, &cfg, err, sizeof(err)), RS_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:5: [server] workers: invalid value \"0\" (expected auto or an integer in "
	         "1..64)",
	         path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[cache]\nsize = 7\n", f);
	fclose(f);
	assert_int_equal(rs_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.cache_size, 7);
	assert_string_equal(cfg.source, path);
	unlink(path);

	assert_true(rs_config_load(path, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_errors(void **state)
{
	bad("[server]\nbogus = 1\n", "t.conf:2: [server] bogus: unknown key");
	bad("; comment\n\n[nope]\nx = 1\n", "t.conf:4: [nope] x: unknown section [nope]");
	bad("x = 1\n", "t.conf:1: [] x: unknown section []");
	bad("[server]\n; c\n# c\nworkers = 65\n",
	    "t.conf:4: [server] workers: invalid value \"65\" (expected auto or an integer in "
	    "1..64)");
	bad("[server]\nmax_udp_size = 511\n",
	    "t.conf:2: [server] max_udp_size: invalid value \"511\" (expected an integer in "
	    "512..4096)");
	bad("[cache]\nsize = 12abc\n",
	    "t.conf:2: [cache] size: invalid value \"12abc\" (expected an integer in "
	    "0..10000000)");
	bad("[cache]\nmax_ttl = 99999999999999999999\n",
	    "t.conf:2: [cache] max_ttl: invalid value \"99999999999999999999\" (expected an "
	    "integer in 1..604800)");
	bad("[server]\nlog_level = loud\n",
	    "t.conf:2: [server] log_level: invalid value \"loud\" (expected error, warning, info "
	    "or debug)");
	bad("[server]\nworkers = 2\nlisten = 127.0.0.1:53, 1.2.3.4:99999\n",
	    "t.conf:3: [server] listen: invalid item \"1.2.3.4:99999\" (expected ADDR[:PORT] or "
	    "[V6ADDR]:PORT, comma separated)");
	bad("[upstream]\nservers = example.com\n",
	    "t.conf:2: [upstream] servers: invalid item \"example.com\" (expected ADDR[:PORT], "
	    "[V6ADDR]:PORT or tls://ADDR[@PORT][#NAME], comma separated)");
	bad("[access]\nallow = 10.0.0.0/8 10.0.0.0/33\n",
	    "t.conf:2: [access] allow: invalid item \"10.0.0.0/33\" (expected a comma separated "
	    "list of CIDR prefixes)");
	bad("[access]\nallow = fd00::/129\n",
	    "t.conf:2: [access] allow: invalid item \"fd00::/129\" (expected a comma separated "
	    "list of CIDR prefixes)");
	bad("[server]\nthis is not ini\n",
	    "t.conf:2: [?] ?: syntax error (expected [section] or key = value)");
	bad("[blocking]\non_store_error = open\n",
	    "t.conf:2: [blocking] on_store_error: invalid value \"open\" (expected fail_closed or "
	    "forward)");
	/* Only the first mistake is reported. */
	bad("[server]\nworkers = x\nbogus = 1\n",
	    "t.conf:2: [server] workers: invalid value \"x\" (expected auto or an integer in "
	    "1..64)");
}

/* Checks across keys happen after the file is read. */
/* [blocking] on_store_error: fail_closed by default (a filter must not fail open). */
static void test_on_store_error(void **state)
{
	struct rs_config cfg;
	char err[256];

	(void)state;
	rs_config_defaults(&cfg);
	assert_int_equal(cfg.on_store_error, RS_STORE_ERROR_FAIL_CLOSED);
	assert_int_equal(load("[blocking]\non_store_error = forward\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.on_store_error, RS_STORE_ERROR_FORWARD);
	assert_int_equal(load("[blocking]\non_store_error = fail_closed\n", &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.on_store_error, RS_STORE_ERROR_FAIL_CLOSED);
}

static void test_cross_checks(void **state)
{
	struct rs_config cfg;
	char err[512];

	assert_int_equal(load("[cache]\nmin_ttl = 500\nmax_ttl = 100\n", &cfg, err, sizeof(err)),
	                 RS_EINVAL);
	assert_non_null(strstr(err, "[cache] min_ttl: min_ttl (500) is larger than max_ttl (100)"));
	assert_int_equal(
	    load("[upstream]\ntimeout = 5000\nquery_timeout = 1000\n", &cfg, err, sizeof(err)),
	    RS_EINVAL);
	assert_non_null(strstr(err, "[upstream] timeout: timeout (5000 ms) exceeds"));
	assert_int_equal(load("[cache]\nmin_ttl = 100\nmax_ttl = 100\n", &cfg, err, sizeof(err)),
	                 0);

	/* No upstream at all. */
	rs_config_defaults(&cfg);
	cfg.n_upstream = 0;
	assert_int_equal(
	    rs_config_load_string("[cache]\nsize = 1\n", "t.conf", &cfg, err, sizeof(err)),
	    RS_EINVAL);
	assert_non_null(strstr(err, "[upstream] servers: no upstream servers"));
}

static void test_lists(void **state)
{
	struct rs_config cfg;
	char err[512], buf[KG_ADDRSTRLEN];

	/* The first line replaces the default, later lines append. */
	assert_int_equal(load("[server]\nlisten = 10.0.0.1\nlisten = 10.0.0.2:5300, [::1]\n", &cfg,
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.n_listen, 3);
	assert_string_equal(addr_str(&cfg.listen[0], buf), "10.0.0.1:53");
	assert_string_equal(addr_str(&cfg.listen[1], buf), "10.0.0.2:5300");
	assert_string_equal(addr_str(&cfg.listen[2], buf), "[::1]:53");

	assert_int_equal(load("[access]\nallow = 10.0.0.0/8\n[server]\nworkers=1\n[access]\n"
	                      "allow = 192.168.0.0/16\n",
	                      &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.n_allow, 2);

	/* A continuation line (leading blank) appends to the list too. */
	assert_int_equal(
	    load("[upstream]\nservers = 192.0.2.1\n  192.0.2.2\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_upstream, 2);

	/* The limits, with the limit in the message. */
	assert_int_equal(load("[server]\nlisten = 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5\n"
	                      "listen = 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9 10.0.0.10\n"
	                      "listen = 10.0.0.11 10.0.0.12 10.0.0.13 10.0.0.14 10.0.0.15\n"
	                      "listen = 10.0.0.16\nlisten = 10.0.0.17\n",
	                      &cfg, err, sizeof(err)),
	                 RS_EINVAL);
	assert_string_equal(err, "t.conf:6: [server] listen: more than 16 items (the limit)");
	assert_int_equal(load("[server]\nlisten = 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5\n"
	                      "listen = 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9 10.0.0.10\n"
	                      "listen = 10.0.0.11 10.0.0.12 10.0.0.13 10.0.0.14 10.0.0.15\n"
	                      "listen = 10.0.0.16\n",
	                      &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.n_listen, 16);
}

static void test_workers_auto(void **state)
{
	struct rs_config cfg;
	char err[512];
	char *text;

	assert_int_equal(load("[server]\nworkers = auto\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 0);
	text = print_to_string(&cfg);
	assert_non_null(strstr(text, "\nworkers = auto\n"));
	free(text);
	assert_int_equal(load("[server]\nworkers = 64\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 64);
}

static void test_long_line_rejected(void **state)
{
	struct rs_config cfg;
	char err[512];
	size_t n = 6000;
	char *text = malloc(n + 64);

	assert_non_null(text);
	strcpy(text, "[blocklist]\npath = ");
	memset(text + strlen(text), 'a', n);
	strcpy(text + 19 + n, "\n");
	assert_int_equal(load(text, &cfg, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "t.conf:2: [blocklist] path: line longer than"));
	free(text);
}

static void test_print_golden(void **state)
{
	struct rs_config cfg;
	char err[512];
	char *text;

	base(&cfg);
	assert_int_equal(rs_config_load_string(full_conf, "full.conf", &cfg, err, sizeof(err)), 0);
	text = print_to_string(&cfg);
	assert_string_equal(text, full_golden);
	free(text);
}

/* Print, read the print back over fresh defaults: the same configuration. */
static void round_trip(const char *conf)
{
	struct rs_config a, b;
	char err[512];
	char *text;

	base(&a);
	assert_int_equal(rs_config_load_string(conf, "rt.conf", &a, err, sizeof(err)), 0);
	text = print_to_string(&a);
	rs_config_defaults(&b);
	b.n_upstream = 0; /* the print must carry the upstreams itself */
	if (rs_config_load_string(text, "rt.conf", &b, err, sizeof(err)) != 0)
		fail_msg("re-parse failed: %s\n%s", err, text);
	b.serial = a.serial; /* each load is a new snapshot */
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

static void test_print_round_trip(void **state)
{
	round_trip(full_conf);
	round_trip("[server]\nworkers = auto\nlog_level = error\n");
	round_trip("[access]\nallow = ::ffff:10.0.0.0/104, 0.0.0.0/0, ::/0\n"
	           "[server]\nlisten = [::ffff:127.0.0.1]:53\n");
	round_trip("[profile a]\nblock = none\n[profile b]\nblock = all\naction = refused\n"
	           "[profile c]\nblock = ads, tracking\naction = nodata\nclients = 10.0.0.0/8\n");
	round_trip("[blocklist]\npath = /a path/with spaces=and:colons\n");
	round_trip("[subscribers]\nurl = https://subs.example/manifest.json\n"
	           "public_keys = k1, k2\nca_file = /etc/isp-ca.pem\ninterval = 30\n");
}

/* [subscribers] (issue 19): the ISP's signed table; a url needs keys, the interval a range. */
static void test_subscribers(void **state)
{
	struct rs_config cfg;
	char err[512];

	assert_int_equal(load("[subscribers]\nurl = https://s.example/m.json\npublic_keys = k\n",
	                      &cfg, err, sizeof(err)),
	                 0);
	assert_string_equal(cfg.subs_url, "https://s.example/m.json");
	assert_int_equal(cfg.subs_interval_s, 60);
	bad("[subscribers]\n\nurl = https://s.example/m.json\n",
	    "t.conf:3: [subscribers] public_keys: a subscriber table url needs at least one pinned "
	    "key of the ISP (kidguard-feed keygen)");
	bad("[subscribers]\ninterval = 1\n",
	    "t.conf:2: [subscribers] interval: invalid value \"1\" (expected an integer in "
	    "2..86400)");
	bad("[subscribers]\nurl = http://s.example/m.json\npublic_keys = k\n",
	    "t.conf:2: [subscribers] url: invalid value \"http://s.example/m.json\" (expected an "
	    "https:// URL of a signed manifest)");
	bad("[subscribers]\nurls = x\n", "t.conf:2: [subscribers] urls: unknown key");
}

/* [http] hostname (issue 15): names only, normalised, bounded; printed and read back. */
static void test_http_hostnames(void **state)
{
	struct rs_config cfg;
	char err[512];

	assert_int_equal(load("[http]\nhostname = Router.LAN., kidguard.home.arpa\n"
	                      "hostname = x.example\n",
	                      &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.n_http_hostnames, 3);
	assert_string_equal(cfg.http_hostnames[0], "router.lan");
	assert_string_equal(cfg.http_hostnames[1], "kidguard.home.arpa");
	assert_string_equal(cfg.http_hostnames[2], "x.example");
	round_trip("[http]\nhostname = router.lan, kidguard.home.arpa\n");
	bad("[http]\nhostname = router.lan:8053\n",
	    "t.conf:2: [http] hostname: invalid item \"router.lan:8053\" (expected host names "
	    "without a port, comma separated)");
	bad("[http]\nhostname = *.lan\n",
	    "t.conf:2: [http] hostname: invalid item \"*.lan\" (expected host names without a "
	    "port, comma separated)");
	bad("[http]\nhostname = 192.168.1.1\n",
	    "t.conf:2: [http] hostname: invalid item \"192.168.1.1\" (expected host names "
	    "without a port, comma separated)");
	bad("[http]\nhostname = a b c d e f g h i j k l m n o p q\n",
	    "t.conf:2: [http] hostname: more than 16 items (the limit)");
}

/* ------------------------------------------ regressions (bugs once known, now fixed) --- */

/* Regression: min_ttl > max_ttl and timeout > query_timeout were reported at line 0; they
 * name the line of the key. */
static void test_cross_check_names_line(void **state)
{
	struct rs_config cfg;
	char err[512];

	assert_int_equal(
	    load("[cache]\n; c\nmin_ttl = 500\nmax_ttl = 100\n", &cfg, err, sizeof(err)),
	    RS_EINVAL);
	assert_string_equal(
	    err, "t.conf:3: [cache] min_ttl: min_ttl (500) is larger than max_ttl (100)");
	assert_int_equal(
	    load("[upstream]\n\ntimeout = 5000\nquery_timeout = 1000\n", &cfg, err, sizeof(err)),
	    RS_EINVAL);
	assert_non_null(strstr(err, "t.conf:3: [upstream] timeout: timeout (5000 ms) exceeds"));
}

/* Regression: Debian's libinih reads into a heap buffer of ini_initial_alloc (200) bytes
 * unless realloc is allowed, so ini_max_line = 4096 had no effect and any line of 199 bytes
 * or more was rejected as "longer than 4094 bytes". */
static void test_line_of_300_bytes(void **state)
{
	struct rs_config cfg;
	char err[512];

	/* 12 ACL prefixes on one line: 300 bytes. */
	assert_int_equal(load("[access]\nallow = 10.10.10.0/24, 10.10.11.0/24, 10.10.12.0/24, "
	                      "10.10.13.0/24, 10.10.14.0/24, 10.10.15.0/24, 10.10.16.0/24, "
	                      "10.10.17.0/24, 10.10.18.0/24, 10.10.19.0/24, 10.10.20.0/24, "
	                      "10.10.21.0/24, 10.10.22.0/24, 10.10.23.0/24, 10.10.24.0/24, "
	                      "10.10.25.0/24, 10.10.26.0/24, 10.10.27.0/24, 10.10.28.0/24\n",
	                      &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.n_allow, 19);
}

/* Regression: "[profile ]" made a profile with an empty name, though names are 1..31. */
static void test_empty_profile_name_refused(void **state)
{
	struct rs_config cfg;
	char err[512];

	assert_int_equal(load("[profile ]\nblock = all\n", &cfg, err, sizeof(err)), RS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_upstreams_from_resolv),
	    cmocka_unit_test(test_defaults_acl),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_from_file),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_cross_checks),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_workers_auto),
	    cmocka_unit_test(test_long_line_rejected),
	    cmocka_unit_test(test_print_golden),
	    cmocka_unit_test(test_on_store_error),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_subscribers),
	    cmocka_unit_test(test_http_hostnames),
	    cmocka_unit_test(test_cross_check_names_line),
	    cmocka_unit_test(test_line_of_300_bytes),
	    cmocka_unit_test(test_empty_profile_name_refused),
	};

	return cmocka_run_group_tests_name("rs_config", tests, NULL, NULL);
}
