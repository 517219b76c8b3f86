/*
 * The INI configuration. Every key is declared once in `keys[]` with its range, so that the
 * parser, the error messages and the printed config cannot disagree. libinih does the lexing;
 * we feed it through our own line reader because Debian's build does not pass line numbers to
 * the handler, and an operator must be told the line of a mistake.
 */
#include "rs.h"
#include "rs_policy_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "kg_log.h"

#define CONFIG_MAX_LINE 4096

struct load_ctx {
	struct rs_config cfg;
	const char *name;
	int line;
	bool line_too_long;
	bool seen_listen, seen_allow, seen_upstream, seen_private_domains;
	char *err;
	size_t errlen;
	bool failed;
	uint64_t block_add[RS_MAX_PROFILES], block_del[RS_MAX_PROFILES]; /* block += / -= */
	char item[128];    /* the list item a setter rejected (rc -3) */
	int limit;         /* the maximum a list exceeded (rc -2) */
	int key_line[128]; /* line that last set keys[i], 0 = not in the file (for validate) */
	int macs_line; /* the first profile `macs` line, for validate's trusted_forwarders check */
	char macs_section[RS_PROFILE_NAME_MAX + 16];
	/* for string input */
	const char *str_pos;
	FILE *file;
};

typedef int (*key_setter)(struct load_ctx *c, const char *value, long lo, long hi, size_t off);

struct key_def {
	const char *section;
	const char *name;
	key_setter set;
	long lo, hi;
	size_t off;
};

static void fail(struct load_ctx *c, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct load_ctx *c, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return; /* the first error is the one to fix */
	c->failed = true;
	n = snprintf(c->err, c->errlen, "%s:%d: [%s] %s: ", c->name, c->line, section, key);
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int parse_long(const char *v, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	return (errno || end == v || *end != '\0') ? -1 : 0;
}

static int set_int(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	long n;

	if (parse_long(v, &n) < 0 || n < lo || n > hi)
		return -1;
	*(int *)((char *)&c->cfg + off) = (int)n;
	return 0;
}

static int set_u32(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	long n;

	if (parse_long(v, &n) < 0 || n < lo || n > hi)
		return -1;
	*(uint32_t *)((char *)&c->cfg + off) = (uint32_t)n;
	return 0;
}

/* Seconds in the file, milliseconds in the struct. */
static int set_seconds_ms(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	long n;

	if (parse_long(v, &n) < 0 || n < lo || n > hi)
		return -1;
	*(int *)((char *)&c->cfg + off) = (int)(n * 1000);
	return 0;
}

static int set_workers(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strcmp(v, "auto") == 0) {
		c->cfg.workers = 0;
		return 0;
	}
	return set_int(c, v, lo, hi, off);
}

static int set_log_level(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return kg_log_level_parse(v, &c->cfg.log_level);
}

static int set_path(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	size_t n = strlen(v);

	if (n == 0 || n >= RS_PATH_MAX)
		return -1;
	memcpy((char *)&c->cfg + off, v, n + 1);
	return 0;
}

/* Lists: the first occurrence in a file replaces the default, later ones append. */
static int set_sockaddrs(struct load_ctx *c, const char *v, struct kg_sockaddr *arr, int *n,
                         int max, uint16_t port, bool *seen)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_ACL];
	int k;

	if (!*seen) {
		*n = 0;
		*seen = true;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_MAX_ACL);
	if (k <= 0)
		return -1;
	for (int i = 0; i < k; i++) {
		if (*n >= max) {
			c->limit = max;
			return -2;
		}
		if (kg_sockaddr_parse(items[i], port, &arr[*n]) < 0) {
			snprintf(c->item, sizeof(c->item), "%s", items[i]);
			return -3;
		}
		(*n)++;
	}
	return 0;
}

static int set_listen(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return set_sockaddrs(c, v, c->cfg.listen, &c->cfg.n_listen, RS_MAX_LISTEN, 53,
	                     &c->seen_listen);
}

/* Plain "ADDR[:PORT]" or DoT "tls://ADDR[@PORT][#NAME]" items (rs_config_tls.c). */
static int set_upstreams(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_ACL];
	struct rs_config *cfg = &c->cfg;
	int k;

	if (!c->seen_upstream) {
		cfg->n_upstream = 0;
		c->seen_upstream = true;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_MAX_ACL);
	for (int i = 0; i < k; i++) {
		int n = cfg->n_upstream;
		if (n >= RS_MAX_UPSTREAMS) {
			c->limit = RS_MAX_UPSTREAMS;
			return -2;
		}
		if (rs__upstream_parse(items[i], &cfg->upstream[n], &cfg->upstream_tls[n],
		                       cfg->upstream_tls_name[n], RS_TLS_NAME_MAX) < 0) {
			snprintf(c->item, sizeof(c->item), "%s", items[i]);
			return -3;
		}
		cfg->n_upstream++;
	}
	return k <= 0 ? -1 : 0;
}

static int set_unknown_id(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strcmp(v, "default") == 0)
		c->cfg.tls_unknown_client_id = RS_UNKNOWN_ID_DEFAULT;
	else if (strcmp(v, "refuse") == 0)
		c->cfg.tls_unknown_client_id = RS_UNKNOWN_ID_REFUSE;
	else
		return -1;
	return 0;
}

static int set_cidrs(struct load_ctx *c, const char *v, struct kg_cidr *arr, int *n)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_ACL];
	int k;

	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_MAX_ACL);
	if (k <= 0)
		return -1;
	for (int i = 0; i < k; i++) {
		if (*n >= RS_MAX_ACL) {
			c->limit = RS_MAX_ACL;
			return -2;
		}
		if (kg_cidr_parse(items[i], &arr[*n]) < 0) {
			snprintf(c->item, sizeof(c->item), "%s", items[i]);
			return -3;
		}
		(*n)++;
	}
	return 0;
}

static int set_trusted(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return set_cidrs(c, v, c->cfg.trusted_forwarders, &c->cfg.n_trusted_forwarders);
}

static int set_proxy_from(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return set_cidrs(c, v, c->cfg.proxy_from, &c->cfg.n_proxy_from);
}

static int set_rl_exempt(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return set_cidrs(c, v, c->cfg.rl_exempt, &c->cfg.n_rl_exempt);
}

static int set_rl_action(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strcmp(v, "truncate") == 0)
		c->cfg.rl_action = RS_RL_TRUNCATE;
	else if (strcmp(v, "drop") == 0)
		c->cfg.rl_action = RS_RL_DROP;
	else
		return -1;
	return 0;
}

static int set_allow(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (!c->seen_allow) {
		c->cfg.n_allow = 0;
		c->seen_allow = true;
	}
	return set_cidrs(c, v, c->cfg.allow, &c->cfg.n_allow);
}

static int set_ipv4(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return inet_pton(AF_INET, v, (char *)&c->cfg + off) == 1 ? 0 : -1;
}

static int set_ipv6(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return inet_pton(AF_INET6, v, (char *)&c->cfg + off) == 1 ? 0 : -1;
}

static int set_string(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	size_t n = strlen(v);

	if (n == 0 || n > (size_t)hi)
		return -1;
	memcpy((char *)&c->cfg + off, v, n + 1);
	return 0;
}

static int set_https_url(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strncmp(v, "https://", 8) != 0)
		return -1; /* the feed is verified by signature, but plain http leaks what we ask */
	return set_string(c, v, lo, hi, off);
}

/* [sync] user: the sync process's own account when the daemon starts as root. A name that is
 * not a user is refused here, not when the process would start (the daemon may not be root
 * when the file is checked, but the name must exist either way). */
static int set_sync_user(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strlen(v) > (size_t)hi || !getpwnam(v))
		return -1;
	return set_string(c, v, lo, hi, off);
}

/* A key that names one of two modes: the first name is the enum's 0, the second its 1. */
static int one_of(const char *v, const char *zero, const char *one, int *out)
{
	if (strcmp(v, zero) != 0 && strcmp(v, one) != 0)
		return -1;
	*out = strcmp(v, one) == 0;
	return 0;
}

_Static_assert(RS_STALE_KEEP == 0 && RS_STALE_FAIL_CLOSED == 1, "one_of's order");
_Static_assert(RS_STORE_ERROR_FAIL_CLOSED == 0 && RS_STORE_ERROR_FORWARD == 1, "one_of's order");
_Static_assert(RS_PRIVATE_DROP == 0 && RS_PRIVATE_ALLOW == 1, "one_of's order");

static int set_on_stale(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return one_of(v, "keep", "fail_closed", &c->cfg.sync_on_stale);
}

static int set_on_store_error(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return one_of(v, "fail_closed", "forward", &c->cfg.on_store_error);
}

static int set_private_answers(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	return one_of(v, "drop", "allow", &c->cfg.private_answers);
}

static int add_private_domain(struct rs_config *cfg, const char *name)
{
	int n = rs_name_to_wire(name, cfg->private_domains[cfg->n_private_domains],
	                        sizeof(cfg->private_domains[0]));

	if (n <= 0)
		return -1;
	cfg->private_domain_len[cfg->n_private_domains++] = (uint8_t)n;
	return 0;
}

/* The first occurrence replaces the defaults; "none" empties the list. */
static int set_private_domains(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_PRIVATE_DOMAINS + 1];
	int k;

	if (!c->seen_private_domains) {
		c->cfg.n_private_domains = 0;
		c->seen_private_domains = true;
	}
	if (strcmp(v, "none") == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_MAX_PRIVATE_DOMAINS + 1);
	if (k <= 0)
		return -1;
	for (int i = 0; i < k; i++) {
		if (c->cfg.n_private_domains >= RS_MAX_PRIVATE_DOMAINS) {
			c->limit = RS_MAX_PRIVATE_DOMAINS;
			return -2;
		}
		if (add_private_domain(&c->cfg, items[i]) < 0) {
			snprintf(c->item, sizeof(c->item), "%s", items[i]);
			return -3;
		}
	}
	return 0;
}

static int set_megabytes(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	long n;

	if (parse_long(v, &n) < 0 || n < lo || n > hi)
		return -1;
	*(uint64_t *)((char *)&c->cfg + off) = (uint64_t)n << 20;
	return 0;
}

/* "off" or an address with its port (default 80 for the block page, 8053 otherwise). */
static int set_addr_or_off(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	struct kg_sockaddr *a = (struct kg_sockaddr *)((char *)&c->cfg + off);

	if (strcmp(v, "off") == 0) {
		memset(a, 0, sizeof(*a));
		return 0;
	}
	return kg_sockaddr_parse(v, (uint16_t)hi, a);
}

static int set_bool(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	bool *b = (bool *)((char *)&c->cfg + off);

	if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
		*b = true;
	else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
		*b = false;
	else
		return -1;
	return 0;
}

static int set_report_url(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strncmp(v, "https://", 8) != 0 && strncmp(v, "mailto:", 7) != 0)
		return -1;
	return set_string(c, v, lo, hi, off);
}

/* [http] hostname: names a browser may use for the API (Host header), without a port. */
/* A decimal in lo/1000 .. hi/1000 (key_def bounds are integers). */
static int set_decimal(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	double *d = (double *)((char *)&c->cfg + off), x;
	char *end;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end || !(x >= lo / 1000.0 && x <= hi / 1000.0))
		return -1;
	*d = x;
	return 0;
}

static int set_signal_url(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	if (strncmp(v, "https://", 8) != 0)
		return -1;
	return set_string(c, v, lo, hi, off);
}

#ifndef KG_I18N_LANGS
#define KG_I18N_LANGS "en vi"
#endif

/* "auto" or the code of a message catalogue the build compiled in (KG_I18N_LANGS, from
 * resolver/http/www/i18n/<code>.json). */
static int set_language(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	const char *p = KG_I18N_LANGS;
	size_t n = strlen(v);

	if (n == 0 || n >= sizeof(c->cfg.http_language))
		return -1;
	while (strcmp(v, "auto") != 0 && *p) {
		size_t w = strcspn(p, " ");
		if (w == n && strncmp(p, v, n) == 0)
			break;
		p += w + (p[w] == ' ');
	}
	if (strcmp(v, "auto") != 0 && !*p)
		return -1;
	memcpy(c->cfg.http_language, v, n + 1);
	return 0;
}

static int set_http_hostnames(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_HTTP_HOSTNAMES_MAX + 1];
	int k;

	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_HTTP_HOSTNAMES_MAX + 1);
	if (k < 0) {
		c->limit = RS_HTTP_HOSTNAMES_MAX;
		return -2;
	}
	if (k == 0)
		return -1;
	for (int i = 0; i < k; i++) {
		char *name;
		if (c->cfg.n_http_hostnames >= RS_HTTP_HOSTNAMES_MAX) {
			c->limit = RS_HTTP_HOSTNAMES_MAX;
			return -2;
		}
		name = c->cfg.http_hostnames[c->cfg.n_http_hostnames];
		/* an address is allowed anyway; a port or a wildcard would not mean what it says */
		if (strchr(items[i], ':') || strchr(items[i], '*') ||
		    bl_name_normalize(items[i], name, RS_TLS_NAME_MAX) != 0 ||
		    strspn(name, "0123456789.") == strlen(name)) {
			snprintf(c->item, sizeof(c->item), "%s", items[i]);
			return -3;
		}
		c->cfg.n_http_hostnames++;
	}
	return 0;
}

static bool token_name_ok(const char *n, size_t len)
{
	if (len == 0 || len > 31 || (len == 7 && memcmp(n, "default", 7) == 0))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_'))
			return false;
	}
	return true;
}

/* [http] tokens: NAME:SECRET items. The name is what the audit log shows of a request; the
 * secret is as long as a guess-proof one needs to be, and never printed. */
static int set_http_tokens(struct load_ctx *c, const char *v, long lo, long hi, size_t off)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_HTTP_TOKENS_MAX + 1];
	int k;

	(void)lo, (void)hi, (void)off;
	snprintf(buf, sizeof(buf), "%s", v);
	k = kg_split_list(buf, items, RS_HTTP_TOKENS_MAX + 1);
	if (k < 0 || c->cfg.n_http_tokens + k > RS_HTTP_TOKENS_MAX) {
		c->limit = RS_HTTP_TOKENS_MAX;
		return -2;
	}
	if (k == 0)
		return -1;
	for (int i = 0; i < k; i++) {
		char *colon = strchr(items[i], ':');
		size_t nl = colon ? (size_t)(colon - items[i]) : 0,
		       sl = colon ? strlen(colon + 1) : 0;
		bool dup = false;
		for (int j = 0; colon && j < c->cfg.n_http_tokens; j++)
			dup |= strlen(c->cfg.http_tokens[j].name) == nl &&
			       memcmp(c->cfg.http_tokens[j].name, items[i], nl) == 0;
		if (!colon || !token_name_ok(items[i], nl) || dup || sl < 16 || sl > 127) {
			/* the name only: the item holds a secret */
			snprintf(c->item, sizeof(c->item), "%.*s:...",
			         colon ? (int)(nl < 40 ? nl : 40) : 0, items[i]);
			return -3;
		}
		memcpy(c->cfg.http_tokens[c->cfg.n_http_tokens].name, items[i], nl);
		c->cfg.http_tokens[c->cfg.n_http_tokens].name[nl] = '\0';
		memcpy(c->cfg.http_tokens[c->cfg.n_http_tokens].secret, colon + 1, sl + 1);
		c->cfg.n_http_tokens++;
	}
	return 0;
}

#define OFF(f) offsetof(struct rs_config, f)

/* clang-format off */
static const struct key_def keys[] = {
	{"server", "listen", set_listen, 0, 0, 0},
	{"server", "workers", set_workers, 1, RS_MAX_WORKERS, OFF(workers)},
	{"server", "tcp_max_connections", set_int, 1, 100000, OFF(tcp_max_connections)},
	{"server", "tcp_idle_timeout", set_seconds_ms, 1, 3600, OFF(tcp_idle_timeout_ms)},
	{"server", "udp_coalesce", set_int, 0, 1000, OFF(udp_coalesce_us)},
	{"server", "max_udp_size", set_int, 512, 4096, OFF(max_udp_size)},
	{"server", "log_level", set_log_level, 0, 0, 0},
	{"server", "user", set_string, 0, 63, OFF(user)},
	{"server", "group", set_string, 0, 63, OFF(group)},
	{"upstream", "servers", set_upstreams, 0, 0, 0},
	{"upstream", "timeout", set_int, 50, 30000, OFF(upstream_timeout_ms)},
	{"upstream", "query_timeout", set_int, 100, 60000, OFF(query_timeout_ms)},
	{"cache", "size", set_u32, 0, 10000000, OFF(cache_size)},
	{"cache", "min_ttl", set_u32, 0, 86400, OFF(cache_min_ttl)},
	{"cache", "max_ttl", set_u32, 1, 604800, OFF(cache_max_ttl)},
	{"cache", "negative_max_ttl", set_u32, 0, 86400, OFF(cache_neg_max_ttl)},
	{"access", "allow", set_allow, 0, 0, 0},
	{"ratelimit", "qps", set_u32, 0, 1000000, OFF(rl_qps)},
	{"ratelimit", "burst", set_u32, 0, 10000000, OFF(rl_burst)},
	{"ratelimit", "ipv4_prefix", set_int, 8, 32, OFF(rl_ipv4_prefix)},
	{"ratelimit", "ipv6_prefix", set_int, 16, 56, OFF(rl_ipv6_prefix)},
	{"ratelimit", "action", set_rl_action, 0, 0, 0},
	{"ratelimit", "exempt", set_rl_exempt, 0, 0, 0},
	{"upstream", "max_inflight", set_int, 16, 1000000, OFF(upstream_max_inflight)},
	{"upstream", "randomize_case", set_bool, 0, 0, OFF(upstream_scramble_case)},
	{"upstream", "private_address_answers", set_private_answers, 0, 0, 0},
	{"upstream", "private_domains", set_private_domains, 0, 0, 0},
	{"cache", "max_memory", set_u32, 0, 65536, OFF(cache_max_memory_mb)},
	{"cache", "verdict_entries", set_u32, 0, 16777216, OFF(verdict_entries)},
	{"blocklist", "path", set_path, 0, 0, OFF(state_dir)},
	{"blocking", "sinkhole_ipv4", set_ipv4, 0, 0, OFF(sinkhole_ipv4)},
	{"blocking", "sinkhole_ipv6", set_ipv6, 0, 0, OFF(sinkhole_ipv6)},
	{"blocking", "ttl", set_u32, 0, 86400, OFF(block_ttl)},
	{"blocking", "safe_search_table", set_path, 0, 0, OFF(safe_search_table)},
	{"blocking", "on_store_error", set_on_store_error, 0, 0, 0},
	{"server", "trusted_forwarders", set_trusted, 0, 0, 0},
	{"server", "proxy_from", set_proxy_from, 0, 0, 0},
	{"sync", "url", set_https_url, 0, 1023, OFF(sync_url)},
	{"sync", "public_keys", set_string, 0, 1199, OFF(sync_public_keys)},
	{"sync", "ca_file", set_string, 0, RS_PATH_MAX - 1, OFF(sync_ca_file)},
	{"sync", "interval", set_int, 5, 86400, OFF(sync_interval_s)},
	{"sync", "timeout", set_int, 1, 3600, OFF(sync_timeout_s)},
	{"sync", "max_age", set_int, 60, 90 * 86400, OFF(sync_max_age_s)},
	{"sync", "on_stale", set_on_stale, 0, 0, 0},
	{"sync", "max_download", set_megabytes, 1, 4096, OFF(sync_max_download)},
	{"subscribers", "url", set_https_url, 0, 1023, OFF(subs_url)},
	{"subscribers", "public_keys", set_string, 0, 1199, OFF(subs_public_keys)},
	{"subscribers", "ca_file", set_path, 0, 0, OFF(subs_ca_file)},
	{"subscribers", "interval", set_int, 2, 86400, OFF(subs_interval_s)},
	{"sync", "key_grace", set_int, 0, 365 * 86400, OFF(sync_key_grace_s)},
	{"sync", "user", set_sync_user, 0, 63, OFF(sync_user)},
	{"http", "listen", set_addr_or_off, 0, 8053, OFF(http_listen)},
	{"http", "token", set_string, 0, 127, OFF(http_token)},
	{"http", "tokens", set_http_tokens, 0, 0, 0},
	{"http", "trust_loopback", set_bool, 0, 0, OFF(http_trust_loopback)},
	{"http", "hostname", set_http_hostnames, 0, 0, 0},
	{"http", "assets", set_path, 0, 0, OFF(http_assets)},
	{"http", "block_page_listen", set_addr_or_off, 0, 80, OFF(block_page_listen)},
	{"http", "language", set_language, 0, 0, OFF(http_language)},
	{"http", "block_page_text", set_string, 0, 1023, OFF(block_page_text)},
	{"http", "block_page_contact", set_string, 0, 255, OFF(block_page_contact)},
	{"http", "report_url", set_report_url, 0, 511, OFF(report_url)},
	{"http", "query_log", set_bool, 0, 0, OFF(query_log)},
	{"http", "query_log_size", set_int, 16, 1000000, OFF(query_log_size)},
	{"http", "query_log_full_addresses", set_bool, 0, 0, OFF(query_log_full_addresses)},
	{"upstream", "tls_ca_file", set_path, 0, 0, OFF(upstream_tls_ca_file)},
	{"tls", "listen_dot", set_addr_or_off, 0, 853, OFF(tls_listen_dot)},
	{"tls", "listen_doh", set_addr_or_off, 0, 443, OFF(tls_listen_doh)},
	{"tls", "cert", set_path, 0, 0, OFF(tls_cert)},
	{"tls", "key", set_path, 0, 0, OFF(tls_key)},
	{"tls", "hostname", set_string, 0, RS_TLS_NAME_MAX - 1, OFF(tls_hostname)},
	{"tls", "self_signed", set_bool, 0, 0, OFF(tls_self_signed)},
	{"tls", "max_pending", set_u32, 16, 1000000, OFF(tls_max_pending)},
	{"tls", "unknown_client_id", set_unknown_id, 0, 0, 0},
	{"signal", "enabled", set_bool, 0, 0, OFF(signal_enabled)},
	{"signal", "k", set_u32, 2, 1000000, OFF(signal_k)},
	{"signal", "epsilon", set_decimal, 10, 10000, OFF(signal_epsilon)},
	{"signal", "max_domains", set_u32, 1024, 4194304, OFF(signal_max_domains)},
	{"signal", "url", set_signal_url, 0, 511, OFF(signal_url)},
	{"signal", "allow_list", set_path, 0, 0, OFF(signal_allow_list)},
	{"tls", "device_id_overrides_address", set_bool, 0, 0, OFF(tls_device_id_overrides)},
};
/* clang-format on */

static const char *range_hint(const struct key_def *k)
{
	static _Thread_local char buf[96];

	if (k->set == set_listen)
		return "expected ADDR[:PORT] or [V6ADDR]:PORT, comma separated";
	if (k->set == set_upstreams)
		return "expected ADDR[:PORT], [V6ADDR]:PORT or tls://ADDR[@PORT][#NAME], comma "
		       "separated";
	if (k->set == set_unknown_id)
		return "expected default or refuse";
	if (k->set == set_allow || k->set == set_trusted || k->set == set_proxy_from)
		return "expected a comma separated list of CIDR prefixes";
	if (k->set == set_log_level)
		return "expected error, warning, info or debug";
	if (k->set == set_path)
		return "expected a path shorter than 512 bytes";
	if (k->set == set_https_url)
		return "expected an https:// URL of a signed manifest";
	if (k->set == set_private_answers)
		return "expected drop or allow";
	if (k->set == set_private_domains)
		return "expected none or a list of domain names";
	if (k->set == set_on_stale)
		return "expected keep or fail_closed";
	if (k->set == set_on_store_error)
		return "expected fail_closed or forward";
	if (k->set == set_string)
		return "expected a non-empty value";
	if (k->set == set_http_tokens)
		return "expected NAME:SECRET, comma separated: NAME [a-z0-9_-]{1,31}, not default, "
		       "each once; SECRET 16..127 characters";
	if (k->set == set_sync_user)
		return "no such user: expected the name of an existing account";
	if (k->set == set_addr_or_off)
		return "expected off, ADDR[:PORT] or [V6ADDR]:PORT";
	if (k->set == set_bool)
		return "expected on or off";
	if (k->set == set_report_url)
		return "expected an https:// or mailto: address";
	if (k->set == set_language)
		return "expected auto or a language of the message catalogues (" KG_I18N_LANGS ")";
	if (k->set == set_http_hostnames)
		return "expected host names without a port, comma separated";
	if (k->set == set_decimal) {
		snprintf(buf, sizeof(buf), "expected a number in %g..%g", k->lo / 1000.0,
		         k->hi / 1000.0);
		return buf;
	}
	if (k->set == set_signal_url)
		return "expected an https:// address";
	if (k->set == set_megabytes) {
		snprintf(buf, sizeof(buf), "expected megabytes in %ld..%ld", k->lo, k->hi);
		return buf;
	}
	if (k->set == set_ipv4)
		return "expected an IPv4 address";
	if (k->set == set_ipv6)
		return "expected an IPv6 address";
	if (k->set == set_workers)
		snprintf(buf, sizeof(buf), "expected auto or an integer in %ld..%ld", k->lo, k->hi);
	else
		snprintf(buf, sizeof(buf), "expected an integer in %ld..%ld", k->lo, k->hi);
	return buf;
}

static struct rs_profile *profile_get(struct load_ctx *c, const char *pname)
{
	struct rs_profile *p;

	for (int i = 0; i < c->cfg.n_profiles; i++)
		if (strcmp(c->cfg.profiles[i].name, pname) == 0)
			return &c->cfg.profiles[i];
	if (c->cfg.n_profiles >= RS_MAX_PROFILES || pname[0] == '\0' ||
	    strlen(pname) >= RS_PROFILE_NAME_MAX)
		return NULL;
	p = &c->cfg.profiles[c->cfg.n_profiles++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", pname);
	p->block_mask = UINT64_MAX; /* a profile that names nothing blocks everything */
	p->action = RS_ACTION_SINKHOLE;
	return p;
}

/* Where a category list is being read: which profile, which operation (see rs_cat_ref). */
struct cat_site {
	int profile, schedule;
	char op;
};

/* Drop the names an earlier `block =` (or preset) of this profile gave: the new one replaces
 * them. */
static void drop_set_refs(struct rs_config *cfg, int profile)
{
	int k = 0;

	for (int i = 0; i < cfg->n_feed_cats; i++)
		if (cfg->feed_cats[i].profile != profile || cfg->feed_cats[i].op != '=')
			cfg->feed_cats[k++] = cfg->feed_cats[i];
	cfg->n_feed_cats = k;
}

/* A name the standard table does not know may be one the feed defines: keep it for
 * rs_config_bind_feed, which refuses it when the feed does not define it either. */
static int defer_category(struct load_ctx *c, const char *item, const char *section,
                          const char *name, const struct cat_site *at)
{
	struct rs_cat_ref *r;

	if (!at || strlen(item) >= sizeof(r->name) || strlen(name) >= sizeof(r->key) ||
	    item[strspn(item, "abcdefghijklmnopqrstuvwxyz0123456789_-")] != '\0') {
		fail(c, section, name,
		     "unknown category \"%s\" (known: all, none, adult, gambling, violence, "
		     "drugs, self-harm, weapons, scam, phishing, malware, social, games, "
		     "dating, doh-bypass, ads, tracking, piracy, hate, other, and the categories "
		     "the feed defines)",
		     item);
		return 0;
	}
	if (c->cfg.n_feed_cats >= RS_MAX_FEED_CAT_REFS) {
		fail(c, section, name, "more than %d feed category names in the file",
		     RS_MAX_FEED_CAT_REFS);
		return 0;
	}
	r = &c->cfg.feed_cats[c->cfg.n_feed_cats++];
	snprintf(r->name, sizeof(r->name), "%s", item);
	snprintf(r->key, sizeof(r->key), "%s", name);
	r->line = c->line;
	r->profile = (int8_t)at->profile;
	r->schedule = (int8_t)at->schedule;
	r->op = at->op;
	return 1;
}

/* "adult, gambling", "all" or "none" into a mask; other names are deferred to the feed (`at`
 * says where they apply; NULL refuses them). Returns 1, or 0 after fail(). */
static int parse_categories(struct load_ctx *c, const char *value, const char *section,
                            const char *name, uint64_t *mask, const struct cat_site *at)
{
	char buf[CONFIG_MAX_LINE];
	char *items[BL_CATEGORY_MAX + 1];
	int k, bit;

	snprintf(buf, sizeof(buf), "%s", value);
	k = kg_split_list(buf, items, BL_CATEGORY_MAX + 1);
	if (k < 0) {
		fail(c, section, name, "more than %d categories", BL_CATEGORY_MAX);
		return 0;
	}
	*mask = 0;
	for (int i = 0; i < k; i++) {
		if (strcmp(items[i], "all") == 0) {
			*mask = UINT64_MAX;
		} else if (strcmp(items[i], "none") == 0) {
			continue;
		} else if (bl_category_find(NULL, items[i], &bit) == 0) {
			*mask |= 1ULL << bit;
		} else if (!defer_category(c, items[i], section, name, at)) {
			return 0;
		}
	}
	return 1;
}

static int profile_block(struct load_ctx *c, struct rs_profile *p, const char *value,
                         const char *section, const char *name)
{
	struct cat_site at = {.profile = (int)(p - c->cfg.profiles), .schedule = -1, .op = '='};

	drop_set_refs(&c->cfg, at.profile);
	p->feed_default = false; /* an explicit list: the preset's feed default no longer applies */
	return parse_categories(c, value, section, name, &p->block_mask, &at);
}

static int profile_clients(struct load_ctx *c, struct rs_profile *p, const char *value,
                           const char *section, const char *name)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_PROFILE_CLIENTS + 1];
	int k = 0;

	snprintf(buf, sizeof(buf), "%s", value);
	k = kg_split_list(buf, items, RS_MAX_PROFILE_CLIENTS + 1);
	if (k < 0 || p->n_clients + k > RS_MAX_PROFILE_CLIENTS) {
		fail(c, section, name, "more than %d client prefixes", RS_MAX_PROFILE_CLIENTS);
		return 0;
	}
	for (int i = 0; i < k; i++) {
		if (kg_cidr_parse(items[i], &p->clients[p->n_clients]) < 0) {
			fail(c, section, name, "invalid item \"%s\" (expected a CIDR prefix)",
			     items[i]);
			return 0;
		}
		p->n_clients++;
	}
	return 1;
}

static int profile_macs(struct load_ctx *c, struct rs_profile *p, const char *value,
                        const char *section, const char *name)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_PROFILE_MACS + 1];
	int k;

	snprintf(buf, sizeof(buf), "%s", value);
	k = kg_split_list(buf, items, RS_MAX_PROFILE_MACS + 1);
	if (k < 0 || p->n_macs + k > RS_MAX_PROFILE_MACS) {
		fail(c, section, name, "more than %d MAC addresses", RS_MAX_PROFILE_MACS);
		return 0;
	}
	for (int i = 0; i < k; i++) {
		if (rs_mac_parse(items[i], p->macs[p->n_macs]) < 0) {
			fail(c, section, name, "invalid item \"%s\" (expected aa:bb:cc:dd:ee:ff)",
			     items[i]);
			return 0;
		}
		p->n_macs++;
	}
	if (!c->macs_line) {
		c->macs_line = c->line;
		snprintf(c->macs_section, sizeof(c->macs_section), "%s", section);
	}
	return 1;
}

/* "mon-thu 19:00-07:00 block games, social" or, for bedtime, "daily 21:00-06:30". */
static int profile_schedule(struct load_ctx *c, struct rs_profile *p, const char *value,
                            const char *section, const char *name, bool bedtime)
{
	char days[64], range[32], word[16];
	int used = 0;
	struct rs_schedule *s;

	if (p->n_schedules >= RS_MAX_SCHEDULES) {
		fail(c, section, name, "more than %d windows", RS_MAX_SCHEDULES);
		return 0;
	}
	s = &p->schedules[p->n_schedules];
	if (sscanf(value, "%63s %31s %n", days, range, &used) < 2 ||
	    rs_schedule_parse(days, range, s) < 0) {
		fail(c, section, name,
		     "invalid window \"%s\" (expected DAYS HH:MM-HH:MM%s; DAYS is daily, weekdays, "
		     "weekends, mon-fri or mon,wed)",
		     value, bedtime ? "" : " block CATEGORY, ...");
		return 0;
	}
	s->bedtime = bedtime;
	if (!bedtime) {
		if (sscanf(value + used, "%15s %n", word, &used) < 1 ||
		    strcmp(word, "block") != 0) {
			fail(c, section, name, "expected \"block CATEGORY, ...\" after the times");
			return 0;
		}
		struct cat_site at = {
		    .profile = (int)(p - c->cfg.profiles), .schedule = p->n_schedules, .op = 's'};
		if (!parse_categories(c, strstr(value, " block ") + 7, section, name,
		                      &s->extra_block, &at))
			return 0;
	}
	p->n_schedules++;
	return 1;
}

static int profile_allow_names(struct load_ctx *c, struct rs_profile *p, const char *value,
                               const char *section, const char *name)
{
	char buf[CONFIG_MAX_LINE];
	char *items[RS_MAX_ALLOW_NAMES + 1];
	int k;

	snprintf(buf, sizeof(buf), "%s", value);
	k = kg_split_list(buf, items, RS_MAX_ALLOW_NAMES + 1);
	for (int i = 0; k > 0 && i < k; i++) {
		if (rs_bedtime_allow_add(p, items[i]) < 0) {
			fail(c, section, name,
			     "cannot add \"%s\" (a domain name; at most %d names, %d bytes)",
			     items[i], RS_MAX_ALLOW_NAMES, RS_ALLOW_POOL);
			return 0;
		}
	}
	if (k < 0)
		fail(c, section, name, "more than %d names", RS_MAX_ALLOW_NAMES);
	return k >= 0;
}

static int parse_bool(const char *v, bool *b)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		return *b = true, 0;
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		return *b = false, 0;
	return -1;
}

/* The issue-5 keys of a profile. Sets *handled when `name` is one of them. */
static int profile_policy_key(struct load_ctx *c, struct rs_profile *p, const char *section,
                              const char *name, const char *value, bool *handled)
{
	int idx = (int)(p - c->cfg.profiles);
	uint64_t m;

	*handled = true;
	if (!strcmp(name, "preset")) {
		if (rs_preset_apply(value, p) < 0)
			fail(c, section, name, "unknown preset \"%s\" (known: %s)", value,
			     rs_preset_names());
		drop_set_refs(&c->cfg, idx);
	} else if (!strcmp(name, "block +") || !strcmp(name, "block -")) {
		struct cat_site at = {.profile = idx, .schedule = -1, .op = name[6]};
		if (parse_categories(c, value, section, name, &m, &at)) {
			if (name[6] == '+')
				c->block_add[idx] |= m;
			else
				c->block_del[idx] |= m;
		}
	} else if (!strcmp(name, "macs")) {
		profile_macs(c, p, value, section, name);
	} else if (!strcmp(name, "safe_search")) {
		if (!strcmp(value, "off"))
			p->safe_search = RS_SAFE_OFF;
		else if (!strcmp(value, "moderate"))
			p->safe_search = RS_SAFE_MODERATE;
		else if (!strcmp(value, "strict"))
			p->safe_search = RS_SAFE_STRICT;
		else
			fail(c, section, name,
			     "invalid value \"%s\" (expected off, moderate or strict)", value);
	} else if (!strcmp(name, "hardening")) {
		if (parse_bool(value, &p->hardening) < 0)
			fail(c, section, name, "invalid value \"%s\" (expected on or off)", value);
	} else if (!strcmp(name, "mode")) {
		if (rs_mode_parse(value, &p->mode) < 0)
			fail(c, section, name,
			     "invalid value \"%s\" (expected filter or allowlist)", value);
	} else if (!strcmp(name, "schedule") || !strcmp(name, "bedtime")) {
		profile_schedule(c, p, value, section, name, name[0] == 'b');
	} else if (!strcmp(name, "bedtime_allow")) {
		profile_allow_names(c, p, value, section, name);
	} else if (!strcmp(name, "client_ids")) {
		if (rs__profile_client_ids(p, value, c->item, sizeof(c->item)) < 0)
			fail(c, section, name,
			     "invalid item \"%s\" (at most %d device IDs, each a secret label of "
			     "%d..%d characters a-z, 0-9 and -; kidguard-ctl devices add makes "
			     "one)",
			     c->item, RS_MAX_CLIENT_IDS, RS_CLIENT_ID_MIN, RS_CLIENT_ID_MAX - 1);
	} else {
		*handled = false;
	}
	return *handled;
}

static int profile_handler(struct load_ctx *c, const char *section, const char *name,
                           const char *value)
{
	const char *pname = section + 8;
	struct rs_profile *p;
	bool handled = false;

	while (*pname == ' ')
		pname++;
	p = profile_get(c, pname);
	if (!p) {
		fail(c, section, name,
		     "bad profile name or more than %d profiles (names: 1..%d "
		     "characters)",
		     RS_MAX_PROFILES, RS_PROFILE_NAME_MAX - 1);
		return 0;
	}
	if (strcmp(name, "block") == 0)
		return profile_block(c, p, value, section, name);
	if (strcmp(name, "clients") == 0)
		return profile_clients(c, p, value, section, name);
	if (profile_policy_key(c, p, section, name, value, &handled) || handled)
		return !c->failed;
	if (strcmp(name, "action") == 0) {
		if (rs_action_parse(value, &p->action) == 0)
			return 1;
		fail(c, section, name,
		     "invalid value \"%s\" (expected sinkhole, nxdomain, nodata or refused)",
		     value);
		return 0;
	}
	fail(c, section, name,
	     "unknown key (a profile has preset, block, block +=, block -=, clients, macs, action, "
	     "safe_search, hardening, mode, schedule, bedtime, bedtime_allow, client_ids)");
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	bool section_known = false;
	int rc;

	if (c->failed)
		return 0;
	if (c->line_too_long) {
		fail(c, section, name, "line longer than %d bytes", CONFIG_MAX_LINE - 2);
		return 0;
	}
	if (value[0] == ';' || strstr(value, " ;") || strstr(value, "\t;")) {
		/* libinih keeps these on continuation lines; printed back they would read as a
		 * comment, so the file would not mean what `kidguard -n -v` shows. */
		fail(c, section, name,
		     "\";\" at the start of a value or after a space starts a "
		     "comment; remove it");
		return 0;
	}
	if (strncmp(section, "profile ", 8) == 0)
		return profile_handler(c, section, name, value);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_def *k = &keys[i];
		if (strcmp(k->section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(k->name, name) != 0)
			continue;
		rc = k->set(c, value, k->lo, k->hi, k->off);
		if (rc == 0)
			c->key_line[i] = c->line;
		if (rc == -3)
			fail(c, section, name, "invalid item \"%s\" (%s)", c->item, range_hint(k));
		else if (rc == -2)
			fail(c, section, name, "more than %d items (the limit)", c->limit);
		else if (rc < 0)
			fail(c, section, name, "invalid value \"%s\" (%s)", value, range_hint(k));
		return rc == 0;
	}
	if (!section_known)
		fail(c, section, name, "unknown section [%s]", section);
	else
		fail(c, section, name, "unknown key");
	return 0;
}

static char *reader_common(char *str, int num, struct load_ctx *c, char *got)
{
	size_t n;

	if (!got)
		return NULL;
	c->line++;
	n = strlen(str);
	c->line_too_long = n == (size_t)num - 1 && str[n - 1] != '\n';
	return str;
}

static char *file_reader(char *str, int num, void *stream)
{
	struct load_ctx *c = stream;

	return reader_common(str, num, c, fgets(str, num, c->file));
}

static char *string_reader(char *str, int num, void *stream)
{
	struct load_ctx *c = stream;
	const char *p = c->str_pos, *nl;
	size_t n;

	if (!p || *p == '\0')
		return NULL;
	nl = strchr(p, '\n');
	n = nl ? (size_t)(nl - p + 1) : strlen(p);
	if (n > (size_t)num - 1)
		n = (size_t)num - 1;
	memcpy(str, p, n);
	str[n] = '\0';
	c->str_pos = p + n;
	return reader_common(str, num, c, str);
}

_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 128, "grow load_ctx.key_line");

/* The line a cross-key problem is reported at: where the key named in the message was set. */
static void at_key(struct load_ctx *c, const char *section, const char *name)
{
	c->line = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			c->line = c->key_line[i];
}

static int validate(struct load_ctx *c)
{
	const char *key;
	char why[256];

	for (int i = 0; i < c->cfg.n_profiles; i++) {
		struct rs_profile *p = &c->cfg.profiles[i];
		p->block_mask = (p->block_mask | c->block_add[i]) & ~c->block_del[i];
		p->block_removed = c->block_del[i];
	}
	if (c->cfg.cache_min_ttl > c->cfg.cache_max_ttl) {
		at_key(c, "cache", "min_ttl");
		fail(c, "cache", "min_ttl", "min_ttl (%u) is larger than max_ttl (%u)",
		     c->cfg.cache_min_ttl, c->cfg.cache_max_ttl);
		return -1;
	}
	if (c->cfg.upstream_timeout_ms > c->cfg.query_timeout_ms) {
		at_key(c, "upstream", "timeout");
		fail(c, "upstream", "timeout", "timeout (%d ms) exceeds query_timeout (%d ms)",
		     c->cfg.upstream_timeout_ms, c->cfg.query_timeout_ms);
		return -1;
	}
	if (c->cfg.n_upstream == 0) {
		fail(c, "upstream", "servers",
		     "no upstream servers (none configured and none in /etc/resolv.conf)");
		return -1;
	}
	if (c->cfg.sync_url[0] && !c->cfg.sync_public_keys[0]) {
		fail(c, "sync", "public_keys",
		     "a feed url needs at least one pinned publisher key (kidguard-feed keygen)");
		return -1;
	}
	if (c->cfg.subs_url[0] && !c->cfg.subs_public_keys[0]) {
		at_key(c, "subscribers", "url");
		fail(c, "subscribers", "public_keys",
		     "a subscriber table url needs at least one pinned key of the ISP "
		     "(kidguard-feed keygen)");
		return -1;
	}
	if (c->cfg.n_listen == 0) {
		fail(c, "server", "listen", "no listen address");
		return -1;
	}
	if (c->macs_line && c->cfg.n_trusted_forwarders == 0) {
		/* A MAC is only believed from the router that adds it: without one named, the
		 * profile never matches and the device silently gets the default profile. */
		c->line = c->macs_line;
		fail(c, c->macs_section, "macs",
		     "MAC addresses are believed only from [server] trusted_forwarders (the router "
		     "that adds EDNS option 65001), and none is set, so this profile would never "
		     "match: add trusted_forwarders = ROUTER-ADDRESS");
		return -1;
	}
	if (c->cfg.signal_enabled && c->cfg.http_listen.len == 0 &&
	    c->cfg.block_page_listen.len == 0) {
		/* the batch is sent by the HTTP server's background thread */
		at_key(c, "signal", "enabled");
		fail(c, "signal", "enabled",
		     "the signal is sent by the HTTP server's thread: set [http] listen");
		return -1;
	}
	if (rs__config_tls_check(&c->cfg, &key, why, sizeof(why)) < 0) {
		at_key(c, "tls", key);
		fail(c, "tls", key, "%s", why);
		return -1;
	}
	return 0;
}

static int run_parse(struct load_ctx *c, ini_reader reader, struct rs_config *out)
{
	int rc;

	/* Debian's libinih keeps its line buffer on the stack at 200 bytes by default; long
	 * address lists need more, so use a heap buffer of our own maximum. */
	ini_use_stack = false;
	ini_max_line = CONFIG_MAX_LINE;
	ini_allow_multiline = true;
	/* With the heap buffer and no realloc, Debian's libinih reads lines of at most
	 * ini_initial_alloc (200) bytes whatever ini_max_line says. */
	ini_initial_alloc = CONFIG_MAX_LINE;
	c->err[0] = '\0';
	rc = ini_parse_stream(reader, c, handler, c);
	if (!c->failed && rc > 0) {
		c->line = rc;
		fail(c, "?", "?", "syntax error (expected [section] or key = value)");
	} else if (!c->failed && rc < 0) {
		snprintf(c->err, c->errlen, "%s: out of memory while parsing", c->name);
		return RS_ENOMEM;
	}
	if (!c->failed) {
		c->line = 0;
		validate(c);
	}
	if (c->failed)
		return RS_EINVAL;
	*out = c->cfg;
	snprintf(out->source, sizeof(out->source), "%s", c->name);
	out->serial = rs__config_serial();
	return 0;
}

int rs_config_load(const char *path, struct rs_config *cfg, char *err, size_t errlen)
{
	struct load_ctx c = {.cfg = *cfg, .name = path, .err = err, .errlen = errlen};
	int rc;

	c.file = fopen(path, "r");
	if (!c.file) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -errno;
	}
	rc = run_parse(&c, file_reader, cfg);
	fclose(c.file);
	return rc;
}

int rs_config_load_string(const char *text, const char *name, struct rs_config *cfg, char *err,
                          size_t errlen)
{
	struct load_ctx c = {.cfg = *cfg, .name = name, .err = err, .errlen = errlen};

	c.str_pos = text;
	return run_parse(&c, string_reader, cfg);
}

/* The categories the store's feed defines, as "a, b" for an error message. */
static void feed_cat_list(struct bl_db *db, uint64_t defined, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int b = BL_CATEGORY_BUILTIN; b < BL_CATEGORY_MAX && n < len; b++) {
		const char *name = (defined & (1ULL << b)) ? bl_category_name(db, b) : NULL;
		if (name)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", name);
	}
	if (!out[0])
		snprintf(out, len, "none");
}

static int bind_ref(struct rs_config *cfg, const struct rs_cat_ref *r, struct bl_db *db,
                    const struct bl_meta *m, char *err, size_t errlen)
{
	struct rs_profile *p = &cfg->profiles[r->profile];
	char known[512];
	int bit;

	if (bl_category_find_stored(db, r->name, &bit) != 0) {
		feed_cat_list(db, m->feed_defined, known, sizeof(known));
		snprintf(err, errlen,
		         "%s:%d: [profile %s] %s: unknown category \"%s\" (neither a standard "
		         "category nor one the feed defines; the feed%s defines: %s)",
		         cfg->source, r->line, p->name, r->key, r->name,
		         db ? "" : " (no store open)", known);
		return RS_EINVAL;
	}
	if (r->op == '-') {
		p->block_mask &= ~(1ULL << bit);
		p->block_removed |= 1ULL << bit;
	} else if (r->op == 's') {
		p->schedules[r->schedule].extra_block |= 1ULL << bit;
	} else if (!(p->block_removed & (1ULL << bit))) {
		p->block_mask |= 1ULL << bit; /* `block -=` wins, as for the standard names */
	}
	return 0;
}

int rs_config_bind_feed(struct rs_config *cfg, struct bl_db *db, char *err, size_t errlen)
{
	struct bl_meta m;
	int rc;

	memset(&m, 0, sizeof(m));
	if (db && bl_db_meta(db, &m) != 0)
		memset(&m, 0, sizeof(m));
	/* Removals first, so that a `block -=` anywhere in the section wins over an add. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < cfg->n_feed_cats; i++)
			if ((cfg->feed_cats[i].op == '-') == (pass == 0) &&
			    (rc = bind_ref(cfg, &cfg->feed_cats[i], db, &m, err, errlen)) != 0)
				return rc;
	for (int i = 0; i < cfg->n_profiles; i++) {
		struct rs_profile *p = &cfg->profiles[i];
		if (p->feed_default)
			p->block_mask |= m.feed_defined & ~m.child_allow & ~p->block_removed;
	}
	return 0;
}

int rs_config_upstreams_from_resolv(struct rs_config *cfg, const char *path)
{
	char line[256], addr[128];
	FILE *f = fopen(path, "r");

	cfg->n_upstream = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && cfg->n_upstream < RS_MAX_UPSTREAMS) {
		if (sscanf(line, "nameserver %127s", addr) != 1)
			continue;
		/* resolv.conf may carry a zone index ("fe80::1%eth0"); we do not support it. */
		if (strchr(addr, '%'))
			continue;
		if (kg_sockaddr_parse(addr, 53, &cfg->upstream[cfg->n_upstream]) == 0)
			cfg->n_upstream++;
	}
	fclose(f);
	return cfg->n_upstream;
}

uint64_t rs__config_serial(void)
{
	static _Atomic uint64_t serial;

	return atomic_fetch_add(&serial, 1) + 1;
}

void rs_config_defaults(struct rs_config *cfg)
{
	/* Loopback, RFC 1918, CGNAT, link-local, IPv6 ULA and link-local: never an open
	 * resolver by accident. */
	static const char *const private_nets[] = {
	    "127.0.0.0/8",    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	    "169.254.0.0/16", "::1/128",    "fc00::/7",      "fe80::/10",
	};
	static const char *const private_zones[] = {"home.arpa", "lan", "internal", "localhost"};

	memset(cfg, 0, sizeof(*cfg));
	cfg->serial = rs__config_serial();
	snprintf(cfg->source, sizeof(cfg->source), "(embedded default)");
	kg_sockaddr_parse("127.0.0.1:5353", 53, &cfg->listen[0]);
	kg_sockaddr_parse("[::1]:5353", 53, &cfg->listen[1]);
	cfg->n_listen = 2;
	cfg->workers = 1;
	cfg->tcp_max_connections = 1024;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->udp_coalesce_us = 100;
	cfg->max_udp_size = 1232;
	cfg->log_level = KG_LOG_INFO;
	rs_config_upstreams_from_resolv(cfg, "/etc/resolv.conf");
	cfg->upstream_timeout_ms = 1000;
	cfg->query_timeout_ms = 3000;
	cfg->cache_size = 100000;
	cfg->cache_min_ttl = 0;
	cfg->cache_max_ttl = 86400;
	cfg->cache_neg_max_ttl = 3600;
	for (size_t i = 0; i < sizeof(private_nets) / sizeof(private_nets[0]); i++)
		kg_cidr_parse(private_nets[i], &cfg->allow[cfg->n_allow++]);
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "./kidguard-data");
	cfg->block_ttl = 60;
	cfg->rl_ipv4_prefix = 32;
	cfg->rl_ipv6_prefix = 56;
	cfg->rl_action = RS_RL_TRUNCATE;
	cfg->upstream_max_inflight = 10000;
	/* The local network's own names may carry private addresses; public names may not. */
	cfg->private_answers = RS_PRIVATE_DROP;
	for (size_t i = 0; i < sizeof(private_zones) / sizeof(private_zones[0]); i++)
		add_private_domain(cfg, private_zones[i]);
	cfg->cache_max_memory_mb = 256;
	cfg->verdict_entries = 65536;
	cfg->sync_interval_s = 60;
	cfg->sync_timeout_s = 60;
	cfg->sync_max_age_s = 2 * 86400;
	cfg->sync_on_stale = RS_STALE_KEEP;
	cfg->sync_max_download = 512ULL << 20;
	cfg->subs_interval_s = 60;
	cfg->signal_enabled = false;
	cfg->signal_k = 5;
	cfg->signal_epsilon = 1.0;
	cfg->signal_max_domains = 65536;
	cfg->sync_key_grace_s = 30 * 86400;
	/* sinkhole addresses stay 0.0.0.0 and :: (all zero) */
	cfg->n_profiles = 1;
	snprintf(cfg->profiles[0].name, sizeof(cfg->profiles[0].name), "default");
	cfg->profiles[0].block_mask = UINT64_MAX;
	cfg->profiles[0].action = RS_ACTION_SINKHOLE;
	cfg->default_profile = 0;
	rs__config_http_defaults(cfg);
	rs__config_tls_defaults(cfg);
}

static const char *const action_names[] = {"sinkhole", "nxdomain", "nodata", "refused"};

const char *rs_action_name(int action)
{
	return action >= 0 && action < 4 ? action_names[action] : "?";
}

int rs_action_parse(const char *s, int *action)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*action = i;
			return 0;
		}
	}
	return -1;
}

const struct rs_profile *rs_profile_named(const struct rs_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

char *rs_profile_names(const struct rs_config *cfg, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < cfg->n_profiles && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
		                      cfg->profiles[i].name);
	return buf;
}

const struct rs_profile *rs_profile_for(const struct rs_config *cfg, const struct sockaddr *sa)
{
	const struct rs_profile *best = &cfg->profiles[cfg->default_profile];
	int best_len = -1;

	for (int i = 0; i < cfg->n_profiles; i++) {
		const struct rs_profile *p = &cfg->profiles[i];
		for (int k = 0; k < p->n_clients; k++) {
			/* An IPv4 prefix counts as its length within ::ffff:0:0/96. */
			int len = p->clients[k].prefix + (p->clients[k].family == AF_INET ? 96 : 0);
			if (len > best_len && kg_cidr_match(&p->clients[k], sa)) {
				best = p;
				best_len = len;
			}
		}
	}
	return best;
}

static void print_cidr(const struct kg_cidr *c, FILE *out)
{
	char buf[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, buf, sizeof(buf));
	fprintf(out, "%s/%u", buf, c->prefix);
}

static void print_mask(const char *key, uint64_t mask, FILE *out)
{
	const char *sep = "";

	fprintf(out, "%s = ", key);
	if (mask == 0)
		fprintf(out, "none");
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n = bl_category_name(NULL, b);
		if (!(mask & (1ULL << b)) || !n)
			continue;
		fprintf(out, "%s%s", sep, n);
		sep = ", ";
	}
	fprintf(out, "\n");
}

/* Bits of the standard category table (feed-defined categories have higher bits). */
static uint64_t standard_bits(void)
{
	uint64_t m = 0;

	for (int b = 0; b < BL_CATEGORY_MAX; b++)
		if (bl_category_name(NULL, b))
			m |= 1ULL << b;
	return m;
}

static void print_schedule(const struct rs_schedule *s, FILE *out)
{
	static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	const char *sep = "";

	fprintf(out, "%s = ", s->bedtime ? "bedtime" : "schedule");
	for (int d = 0; d < 7; d++) {
		if (s->days & (1u << d)) {
			fprintf(out, "%s%s", sep, days[d]);
			sep = ",";
		}
	}
	fprintf(out, " %02u:%02u-%02u:%02u", s->start / 60, s->start % 60, s->end / 60,
	        s->end % 60);
	if (!s->bedtime)
		print_mask(" block", s->extra_block, out);
	else
		fprintf(out, "\n");
}

static void print_profile_policy(const struct rs_profile *p, FILE *out)
{
	static const char *const ss[] = {"off", "moderate", "strict"};
	uint8_t key[BL_KEY_MAX];
	char name[BL_NAME_MAX];

	fprintf(out, "safe_search = %s\nhardening = %s\nmode = %s\n", ss[p->safe_search % 3],
	        p->hardening ? "on" : "off", rs_mode_name(p->mode));
	for (int i = 0; i < p->n_macs; i++) {
		const uint8_t *m = p->macs[i];
		fprintf(out, "macs = %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3], m[4],
		        m[5]);
	}
	for (int i = 0; i < p->n_schedules; i++)
		print_schedule(&p->schedules[i], out);
	rs__profile_client_ids_print(p, out);
	for (int i = 0; i < p->n_allow; i++) {
		int kl = bl_key_from_wire(p->allow_pool + p->allow_off[i], p->allow_len[i], key,
		                          sizeof(key));
		if (kl > 0 && bl_key_to_name(key, (size_t)kl, name, sizeof(name)) > 0)
			fprintf(out, "bedtime_allow = %s\n", name);
	}
}

/* The feed-defined category names of profile `idx` (op '=' and '+' as block +=). */
static void print_feed_cats(const struct rs_config *cfg, int idx, FILE *out)
{
	for (int i = 0; i < cfg->n_feed_cats; i++) {
		const struct rs_cat_ref *r = &cfg->feed_cats[i];
		if (r->profile == idx && r->op != 's')
			fprintf(out, "block %c= %s\n", r->op == '-' ? '-' : '+', r->name);
	}
}

static void print_profile(const struct rs_profile *p, FILE *out)
{
	uint64_t std = standard_bits();

	fprintf(out, "\n[profile %s]\n", p->name);
	if (p->preset[0])
		fprintf(out, "preset = %s\n", p->preset);
	if (p->block_mask == UINT64_MAX) {
		fprintf(out, "block = all\n");
	} else if ((p->block_mask | std) == UINT64_MAX) {
		/* every category but some standard ones: keep the feed-defined bits */
		fprintf(out, "block = all\n");
		print_mask("block -", ~p->block_mask & std, out);
	} else {
		print_mask("block", p->block_mask, out);
	}
	fprintf(out, "action = %s\n", rs_action_name(p->action));
	if (p->n_clients) {
		fprintf(out, "clients = ");
		for (int i = 0; i < p->n_clients; i++) {
			if (i)
				fprintf(out, ", ");
			print_cidr(&p->clients[i], out);
		}
		fprintf(out, "\n");
	}
	print_profile_policy(p, out);
}

static void print_ratelimit(const struct rs_config *cfg, FILE *out)
{
	fprintf(out, "[ratelimit]\nqps = %u\nburst = %u\nipv4_prefix = %d\nipv6_prefix = %d\n",
	        cfg->rl_qps, cfg->rl_burst, cfg->rl_ipv4_prefix, cfg->rl_ipv6_prefix);
	fprintf(out, "action = %s\n", cfg->rl_action == RS_RL_DROP ? "drop" : "truncate");
	if (cfg->n_rl_exempt) {
		fprintf(out, "exempt = ");
		for (int i = 0; i < cfg->n_rl_exempt; i++) {
			if (i)
				fprintf(out, ", ");
			print_cidr(&cfg->rl_exempt[i], out);
		}
		fprintf(out, "\n");
	}
	fprintf(out, "\n");
}

static void print_sync(const struct rs_config *cfg, FILE *out)
{
	if (!cfg->sync_url[0])
		return;
	fprintf(out, "\n[sync]\nurl = %s\npublic_keys = %s\n", cfg->sync_url,
	        cfg->sync_public_keys);
	if (cfg->sync_ca_file[0])
		fprintf(out, "ca_file = %s\n", cfg->sync_ca_file);
	fprintf(out, "interval = %d\ntimeout = %d\nmax_age = %d\non_stale = %s\n",
	        cfg->sync_interval_s, cfg->sync_timeout_s, cfg->sync_max_age_s,
	        cfg->sync_on_stale == RS_STALE_FAIL_CLOSED ? "fail_closed" : "keep");
	fprintf(out, "max_download = %llu\n", (unsigned long long)(cfg->sync_max_download >> 20));
	fprintf(out, "key_grace = %d\n", cfg->sync_key_grace_s);
	if (cfg->sync_user[0])
		fprintf(out, "user = %s\n", cfg->sync_user);
	else
		fprintf(out, "; user: kidguard-sync if that account exists, else [server] user\n");
}

static void print_subscribers(const struct rs_config *cfg, FILE *out)
{
	if (!cfg->subs_url[0])
		return;
	fprintf(out, "\n[subscribers]\nurl = %s\npublic_keys = %s\n", cfg->subs_url,
	        cfg->subs_public_keys);
	if (cfg->subs_ca_file[0])
		fprintf(out, "ca_file = %s\n", cfg->subs_ca_file);
	fprintf(out, "interval = %d\n", cfg->subs_interval_s);
}

static void print_signal(const struct rs_config *cfg, FILE *out)
{
	/* off by default, and then nothing of it matters: printed only when on (as [sync]) */
	if (!cfg->signal_enabled)
		return;
	fprintf(out, "\n[signal]\nenabled = %s\nk = %u\nepsilon = %g\nmax_domains = %u\n",
	        cfg->signal_enabled ? "on" : "off", cfg->signal_k, cfg->signal_epsilon,
	        cfg->signal_max_domains);
	if (cfg->signal_url[0])
		fprintf(out, "url = %s\n", cfg->signal_url);
	if (cfg->signal_allow_list[0])
		fprintf(out, "allow_list = %s\n", cfg->signal_allow_list);
}

static void print_blocking(const struct rs_config *cfg, FILE *out)
{
	char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET, cfg->sinkhole_ipv4, v4, sizeof(v4));
	inet_ntop(AF_INET6, cfg->sinkhole_ipv6, v6, sizeof(v6));
	fprintf(out, "\n[blocking]\nsinkhole_ipv4 = %s\nsinkhole_ipv6 = %s\nttl = %u\n", v4, v6,
	        cfg->block_ttl);
	if (cfg->safe_search_table[0])
		fprintf(out, "safe_search_table = %s\n", cfg->safe_search_table);
	fprintf(out, "on_store_error = %s\n",
	        cfg->on_store_error == RS_STORE_ERROR_FORWARD ? "forward" : "fail_closed");
	for (int i = 0; i < cfg->n_profiles; i++) {
		print_profile(&cfg->profiles[i], out);
		print_feed_cats(cfg, i, out);
	}
}

static void print_private(const struct rs_config *cfg, FILE *out)
{
	uint8_t key[BL_KEY_MAX];
	char name[BL_NAME_MAX];

	fprintf(out, "private_address_answers = %s\nprivate_domains = ",
	        cfg->private_answers == RS_PRIVATE_ALLOW ? "allow" : "drop");
	if (cfg->n_private_domains == 0)
		fprintf(out, "none");
	for (int i = 0; i < cfg->n_private_domains; i++) {
		int kl = bl_key_from_wire(cfg->private_domains[i], cfg->private_domain_len[i], key,
		                          sizeof(key));
		if (kl > 0 && bl_key_to_name(key, (size_t)kl, name, sizeof(name)) > 0)
			fprintf(out, "%s%s", i ? ", " : "", name);
	}
	fprintf(out, "\n\n");
}

void rs_config_print(const struct rs_config *cfg, FILE *out)
{
	char buf[KG_ADDRSTRLEN];
	static const char *const levels[] = {"error", "warning", "info", "debug"};

	fprintf(out, "; effective configuration from %s\n[server]\nlisten = ", cfg->source);
	for (int i = 0; i < cfg->n_listen; i++)
		fprintf(
		    out, "%s%s", i ? ", " : "",
		    kg_sockaddr_str((const struct sockaddr *)&cfg->listen[i].ss, buf, sizeof(buf)));
	if (cfg->workers)
		fprintf(out, "\nworkers = %d\n", cfg->workers);
	else
		fprintf(out, "\nworkers = auto\n");
	fprintf(out, "tcp_max_connections = %d\ntcp_idle_timeout = %d\nmax_udp_size = %d\n",
	        cfg->tcp_max_connections, cfg->tcp_idle_timeout_ms / 1000, cfg->max_udp_size);
	fprintf(out, "udp_coalesce = %d\n", cfg->udp_coalesce_us);
	if (cfg->user[0])
		fprintf(out, "user = %s\n", cfg->user);
	if (cfg->group[0])
		fprintf(out, "group = %s\n", cfg->group);
	fprintf(out, "log_level = %s\n\n[upstream]\nservers = ", levels[cfg->log_level & 3]);
	rs__upstream_print(cfg, out);
	fprintf(out, "\ntimeout = %d\nquery_timeout = %d\nmax_inflight = %d\nrandomize_case = %s\n",
	        cfg->upstream_timeout_ms, cfg->query_timeout_ms, cfg->upstream_max_inflight,
	        cfg->upstream_scramble_case ? "on" : "off");
	print_private(cfg, out);
	fprintf(out, "[cache]\nsize = %u\nmin_ttl = %u\nmax_ttl = %u\nnegative_max_ttl = %u\n",
	        cfg->cache_size, cfg->cache_min_ttl, cfg->cache_max_ttl, cfg->cache_neg_max_ttl);
	fprintf(out, "max_memory = %u\nverdict_entries = %u\n\n", cfg->cache_max_memory_mb,
	        cfg->verdict_entries);
	print_ratelimit(cfg, out);
	fprintf(out, "[access]\nallow = ");
	for (int i = 0; i < cfg->n_allow; i++) {
		if (i)
			fprintf(out, ", ");
		print_cidr(&cfg->allow[i], out);
	}
	fprintf(out, "\n\n[blocklist]\npath = %s\n", cfg->state_dir);
	if (cfg->n_trusted_forwarders) {
		fprintf(out, "\n[server]\ntrusted_forwarders = ");
		for (int i = 0; i < cfg->n_trusted_forwarders; i++) {
			if (i)
				fprintf(out, ", ");
			print_cidr(&cfg->trusted_forwarders[i], out);
		}
		fprintf(out, "\n");
	}
	if (cfg->n_proxy_from) {
		fprintf(out, "\n[server]\nproxy_from = ");
		for (int i = 0; i < cfg->n_proxy_from; i++) {
			if (i)
				fprintf(out, ", ");
			print_cidr(&cfg->proxy_from[i], out);
		}
		fprintf(out, "\n");
	}
	print_sync(cfg, out);
	print_subscribers(cfg, out);
	print_signal(cfg, out);
	print_blocking(cfg, out);
	rs__config_http_print(cfg, out);
	rs__config_tls_print(cfg, out);
}
