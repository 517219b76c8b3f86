/*
 * kidguard-ctl stats / sync now: ask the running daemon over its HTTP API ([http] listen of
 * the config given with -c, else the default 127.0.0.1:8053), with the bearer token from the
 * same config. libcurl; a wildcard listen address is reached over the loopback.
 */
#include "ctl.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct body {
	char *p;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *np;

	if (b->len + add > (8u << 20))
		return 0;
	np = realloc(b->p, b->len + add + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, p, add);
	b->p = np;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static void base_url(const struct ctl *c, char *buf, size_t len)
{
	const struct kg_sockaddr *a = &c->cfg.http_listen;
	const char *env = getenv("KIDGUARD_URL");
	char host[INET6_ADDRSTRLEN] = "127.0.0.1";
	unsigned port = 8053;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
		if (s->sin_addr.s_addr != htonl(INADDR_ANY))
			inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "http://%s:%u", host, port);
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
		snprintf(host, sizeof(host), "::1");
		if (!IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr))
			inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "http://[%s]:%u", host, (unsigned)ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "http://127.0.0.1:8053");
	}
}

/* One request. Returns the HTTP status (0 when unreachable, the error printed). */
static long request(const struct ctl *c, const char *method, const char *path, struct body *out)
{
	char base[400], url[512], auth[200], err[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	CURL *e;
	CURLcode rc;
	long status = 0;

	if (c->cfg.http_listen.len == 0 && !getenv("KIDGUARD_URL")) {
		fputs(_("kidguard-ctl: [http] listen is off in this configuration\n"), stderr);
		return 0;
	}
	base_url(c, base, sizeof(base));
	snprintf(url, sizeof(url), "%s%s", base, path);
	e = curl_easy_init();
	if (!e)
		return 0;
	if (c->cfg.http_token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->cfg.http_token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	else
		fprintf(stderr, _("kidguard-ctl: %s: %s (is the daemon running with [http] on?)\n"),
		        url, err[0] ? err : curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return status;
}

static double num(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL;
	const cJSON *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = cJSON_GetObjectItemCaseSensitive(cur, k);
	return cJSON_IsNumber(cur) ? cur->valuedouble : 0;
}

static void print_stats(const cJSON *s)
{
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(s, "blocked_by_category"), *it;
	const cJSON *health = cJSON_GetObjectItemCaseSensitive(s, "health");

	printf(_("health         %s\n"), cJSON_IsString(health) ? health->valuestring : "?");
	printf(_("queries        %.0f (%.0f UDP, %.0f TCP)\n"), num(s, "totals.queries"),
	       num(s, "totals.udp"), num(s, "totals.tcp"));
	printf(_("blocked        %.0f\n"), num(s, "totals.blocked"));
	cJSON_ArrayForEach(it, cats)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "category");
		printf("  %-12s %.0f\n", cJSON_IsString(n) ? n->valuestring : "?",
		       num(it, "count"));
	}
	printf(_("cache          %.0f hits, %.0f misses, %.0f entries\n"),
	       num(s, "totals.cache_hits"), num(s, "totals.cache_misses"),
	       num(s, "totals.cache_entries"));
	printf(_("upstream       %.0f queries, %.0f timeouts, %.0f errors, %.1f ms mean, %.0f "
	         "waiting\n"),
	       num(s, "totals.upstream_queries"), num(s, "totals.upstream_timeouts"),
	       num(s, "totals.upstream_errors"), num(s, "latency.mean_ms"),
	       num(s, "totals.inflight"));
	printf(_("feed version   %.0f\n"), num(s, "feed.version"));
	if (num(s, "feed.last_sync") > 0)
		printf(_("feed age       %.0f s\n"), num(s, "feed.age_s"));
	printf(_("store          %.0f feed entries, %.0f local\n"), num(s, "store.feed"),
	       num(s, "store.local"));
}

int ctl_cmd_stats(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct body b = {0};
	bool json = false;
	cJSON *s;
	long st;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return CTL_EXIT_USAGE;
		json = true;
	}
	if (optind != argc) {
		fputs(_("usage: kidguard-ctl stats [--json]\n"), stderr);
		return CTL_EXIT_USAGE;
	}
	st = request(c, "GET", "/api/stats", &b);
	if (st != 200) {
		if (st)
			fprintf(stderr, _("kidguard-ctl: stats: HTTP %ld: %s\n"), st,
			        b.p ? b.p : "");
		free(b.p);
		return CTL_EXIT_FAIL;
	}
	if (json) {
		printf("%s\n", b.p);
	} else if ((s = cJSON_Parse(b.p)) != NULL) {
		print_stats(s);
		cJSON_Delete(s);
	}
	free(b.p);
	return 0;
}

int ctl_cmd_sync(struct ctl *c, int argc, char **argv)
{
	struct body b = {0};
	long st;

	if (argc != 2 || strcmp(argv[1], "now") != 0) {
		fputs(_("usage: kidguard-ctl sync now\n"), stderr);
		return CTL_EXIT_USAGE;
	}
	st = request(c, "POST", "/api/sync", &b);
	if (st == 202)
		printf(_("sync requested: the sync process polls the feed now\n"));
	else if (st)
		fprintf(stderr, _("kidguard-ctl: sync now: HTTP %ld: %s\n"), st, b.p ? b.p : "");
	free(b.p);
	return st == 202 ? 0 : CTL_EXIT_FAIL;
}
