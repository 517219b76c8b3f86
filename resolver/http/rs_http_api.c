/*
 * The JSON API under /api/ (cJSON). Reading endpoints are open to whoever can reach
 * [http] listen; rs_http.c has already refused state changes that are not authorised.
 *
 *   GET    /api/stats                    counters, 24 h history, feed, store, upstreams
 *   GET    /api/check?name=N[&client=IP][&mac=M][&profile=P]
 *                                        the verdict, as `kidguard-ctl check --json`, explained
 *   GET    /api/overrides                local allow/deny rules
 *   POST   /api/overrides                {"name","action":"deny"|"allow","subtree","categories"}
 *   DELETE /api/overrides?name=N&action=A[&subtree=0|1]
 *   POST   /api/sync                     ask the sync process to poll the feed now
 *   GET|PUT|DELETE /api/clients/PREFIX   the subscriber table (rs_http_clients.c)
 *   GET|POST /api/devices, DELETE /api/devices/NAME   device IDs (rs_http_devices.c)
 *   GET    /api/events[?limit=N]         recent blocked names (no client unless query_log)
 *   GET    /api/querylog[?limit=N]       the query log, when [http] query_log = on
 *   POST   /api/report                   {"domain","kind":"wrong_block"|"not_blocked"}
 *   GET    /api/reports                  the report outbox
 */
#include "rs_http_int.h"
#include "rs.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kg_addr.h"

static const char *const action_names[] = {"none", "allow", "block"};
static const char *const source_names[] = {"none", "local", "feed", "profile"};

static const char *arg(struct rs_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

static long arg_long(struct rs_req *q, const char *name, long def, long lo, long hi)
{
	const char *v = arg(q, name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	if (*end)
		return def;
	return n < lo ? lo : n > hi ? hi : n;
}

static cJSON *cat_array(struct rs_http *h, uint64_t mask)
{
	cJSON *a = cJSON_CreateArray();

	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n;
		if (!(mask & (1ULL << b)))
			continue;
		n = bl_category_name(rs_server_store(h->srv), b);
		cJSON_AddItemToArray(a, cJSON_CreateString(n ? n : "?"));
	}
	return a;
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
	cJSON_AddNumberToObject(o, k, (double)v);
}

/* ------------------------------------------------------------------------ stats --- */

/* Queries over every transport (UDP, TCP, DoT, DoH). */
static uint64_t all_queries(const struct rs_stats *s)
{
	uint64_t n = 0;

	for (int i = 0; i < RS_TRANSPORT_MAX; i++)
		n += s->queries[i];
	return n;
}

static void stats_history(struct rs_http *h, cJSON *root, const struct rs_stats *s)
{
	cJSON *pts = cJSON_AddArrayToObject(root, "history");
	uint64_t n, first, fail5 = 0, up5 = 0;

	pthread_mutex_lock(&h->hist_lock);
	n = h->n_hist;
	first = n > RS_HIST_SLOTS ? n - RS_HIST_SLOTS : 0;
	for (uint64_t i = first; i < n; i++) {
		const struct rs_hist_point *p = &h->hist[i % RS_HIST_SLOTS];
		cJSON *a = cJSON_CreateArray();
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)p->t));
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)p->queries));
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)p->blocked));
		cJSON_AddItemToArray(pts, a);
		if (n - i <= 5) {
			up5 += p->upstream_queries;
			fail5 += p->upstream_failures;
		}
	}
	/* The minute in progress, so that a query shows at once. */
	if (h->last_t) {
		cJSON *a = cJSON_CreateArray();
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)h->last_t));
		cJSON_AddItemToArray(
		    a, cJSON_CreateNumber((double)(all_queries(s) - all_queries(&h->last))));
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)(s->blocked - h->last.blocked)));
		cJSON_AddItemToArray(pts, a);
		up5 += s->upstream_queries - h->last.upstream_queries;
		fail5 += s->upstream_timeouts + s->upstream_errors - h->last.upstream_timeouts -
		         h->last.upstream_errors;
	}
	pthread_mutex_unlock(&h->hist_lock);
	cJSON_AddNumberToObject(root, "history_step", 60);
	cJSON *u = cJSON_AddObjectToObject(root, "upstream_health");
	add_u64(u, "queries_5m", up5);
	add_u64(u, "failures_5m", fail5);
	cJSON_AddStringToObject(u, "status",
	                        up5 == 0           ? "idle"
	                        : fail5 * 2 > up5  ? "down"
	                        : fail5 * 20 > up5 ? "degraded"
	                                           : "ok");
}

static void stats_totals(struct rs_http *h, cJSON *root, const struct rs_stats *s,
                         const struct rs_config *cfg)
{
	static const char *const rc[] = {"NOERROR",  "FORMERR", "SERVFAIL",
	                                 "NXDOMAIN", "NOTIMP",  "REFUSED"};
	cJSON *t = cJSON_AddObjectToObject(root, "totals");
	cJSON *rcodes = cJSON_AddObjectToObject(root, "rcodes");
	cJSON *cats = cJSON_AddArrayToObject(root, "blocked_by_category");
	cJSON *profs = cJSON_AddArrayToObject(root, "blocked_by_profile");
	cJSON *lat = cJSON_AddObjectToObject(root, "latency");
	cJSON *bounds = cJSON_AddArrayToObject(lat, "bounds_ms");
	cJSON *counts = cJSON_AddArrayToObject(lat, "counts");
	uint64_t lat_n = 0;

	add_u64(t, "queries", all_queries(s));
	for (int i = 0; i < RS_TRANSPORT_MAX; i++)
		add_u64(t, rs_transport_name(i), s->queries[i]);
	add_u64(t, "blocked", s->blocked);
	add_u64(t, "cache_hits", s->cache_hits);
	add_u64(t, "cache_misses", s->cache_misses);
	add_u64(t, "cache_entries", s->cache_entries);
	add_u64(t, "upstream_queries", s->upstream_queries);
	add_u64(t, "upstream_timeouts", s->upstream_timeouts);
	add_u64(t, "upstream_errors", s->upstream_errors);
	add_u64(t, "inflight", s->inflight);
	add_u64(t, "refused_acl", s->refused_acl);
	add_u64(t, "fail_closed", s->fail_closed);
	add_u64(t, "store_errors", s->store_errors);
	add_u64(t, "tcp_connections", s->tcp_connections);
	for (int i = 0; i < 6; i++)
		add_u64(rcodes, rc[i], s->rcode[i]);
	for (int i = 0; i < BL_CATEGORY_MAX; i++) {
		const char *n = bl_category_name(rs_server_store(h->srv), i);
		if (!s->blocked_category[i])
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "category", n ? n : "?");
		add_u64(o, "count", s->blocked_category[i]);
		cJSON_AddItemToArray(cats, o);
	}
	for (int i = 0; i < cfg->n_profiles; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "profile", cfg->profiles[i].name);
		add_u64(o, "count", s->blocked_profile[i]);
		cJSON_AddItemToArray(profs, o);
	}
	for (int i = 0; i < RS_LAT_BUCKETS; i++) {
		if (i < RS_LAT_BUCKETS - 1)
			cJSON_AddItemToArray(bounds, cJSON_CreateNumber(rs_latency_bounds_ms[i]));
		cJSON_AddItemToArray(counts, cJSON_CreateNumber((double)s->upstream_latency[i]));
		lat_n += s->upstream_latency[i];
	}
	cJSON_AddNumberToObject(lat, "mean_ms",
	                        lat_n ? (double)s->upstream_latency_sum_ms / (double)lat_n : 0);
}

static void stats_feed(struct rs_http *h, cJSON *root, const struct rs_config *cfg)
{
	cJSON *f = cJSON_AddObjectToObject(root, "feed");
	cJSON *st = cJSON_AddObjectToObject(root, "store");
	cJSON *ups = cJSON_AddArrayToObject(root, "upstreams");
	struct bl_meta m;
	uint64_t local = 0, feed = 0, now = (uint64_t)time(NULL);
	char why[700], a[KG_ADDRSTRLEN];
	int bad = rs__health_reason(h, why, sizeof(why));

	cJSON_AddBoolToObject(root, "healthy", !bad);
	cJSON_AddStringToObject(root, "health", why);
	cJSON_AddStringToObject(root, "health_code", rs__health_code(bad, why));
	cJSON_AddBoolToObject(f, "sync_configured", cfg->sync_url[0] != '\0');
	cJSON_AddNumberToObject(f, "max_age", cfg->sync_max_age_s);
	cJSON_AddNumberToObject(f, "interval", cfg->sync_interval_s);
	if (bl_db_meta(rs_server_store(h->srv), &m) == 0) {
		add_u64(f, "version", m.feed_version);
		add_u64(f, "last_sync", m.last_sync);
		add_u64(f, "last_attempt", m.last_attempt);
		add_u64(f, "expires", m.feed_expires);
		if (m.last_sync)
			add_u64(f, "age_s", now > m.last_sync ? now - m.last_sync : 0);
		cJSON_AddStringToObject(f, "last_error", m.last_error);
		add_u64(st, "feed_hashed", m.hashed_entries);
	}
	bl_db_counts(rs_server_store(h->srv), &local, &feed);
	add_u64(st, "local", local);
	add_u64(st, "feed", feed);
	for (int i = 0; i < cfg->n_upstream; i++)
		cJSON_AddItemToArray(
		    ups, cJSON_CreateString(kg_sockaddr_str(
		             (const struct sockaddr *)&cfg->upstream[i].ss, a, sizeof(a))));
}

static void stats_settings(struct rs_http *h, cJSON *root, const struct rs_config *cfg)
{
	cJSON *o = cJSON_AddObjectToObject(root, "settings");
	char addr[600], a[KG_ADDRSTRLEN];

	rs__report_address(h, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "report_address", addr);
	cJSON_AddStringToObject(o, "contact", cfg->block_page_contact);
	cJSON_AddBoolToObject(o, "query_log", cfg->query_log);
	cJSON_AddBoolToObject(o, "token_configured", cfg->http_token[0] != '\0');
	cJSON_AddBoolToObject(o, "trust_loopback", cfg->http_trust_loopback);
	cJSON_AddStringToObject(
	    o, "block_page",
	    cfg->block_page_listen.len
	        ? kg_sockaddr_str((const struct sockaddr *)&cfg->block_page_listen.ss, a, sizeof(a))
	        : "");
	cJSON *profs = cJSON_AddArrayToObject(o, "profiles");
	for (int i = 0; i < cfg->n_profiles; i++)
		cJSON_AddItemToArray(profs, cJSON_CreateString(cfg->profiles[i].name));
	cJSON_AddStringToObject(o, "default_profile", cfg->profiles[cfg->default_profile].name);
}

static void api_stats(struct rs_req *q, struct rs_resp *r)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	cJSON *root = cJSON_CreateObject();
	struct rs_stats s;

	rs_server_stats(q->h->srv, &s);
	cJSON_AddStringToObject(root, "version", KG_VERSION);
	add_u64(root, "now", (uint64_t)time(NULL));
	add_u64(root, "started", q->h->started);
	stats_totals(q->h, root, &s, &cr->cfg);
	stats_history(q->h, root, &s);
	stats_feed(q->h, root, &cr->cfg);
	stats_settings(q->h, root, &cr->cfg);
	rs__http_cfg_put(cr);
	rs__json_resp(r, 200, root);
}

/* ------------------------------------------------------------------------ check --- */

/* Why, in words, in the viewer's language (the catalogue's "why.*" messages). */
static void explain(struct rs_http *h, int lang, const char *name, const struct bl_verdict *v,
                    const struct rs_profile *prof, char *buf, size_t len)
{
	char cats[512], scope[BL_NAME_MAX + 160], ans[96], ver[16];
	struct bl_verdict any;
	const char *key;

	rs__msg_fill(scope, sizeof(scope),
	             v->subtree ? rs__msg(h, lang, "why.scope_subtree") : "{match}",
	             (const char *const[]){"match", v->match, NULL});
	snprintf(ver, sizeof(ver), "%u", v->feed_version);
	rs__answer_label(h, lang, rs_action_name(prof->action), ans, sizeof(ans));
	cats[0] = '\0';
	if (v->action == BL_ACTION_BLOCK && v->source == BL_SOURCE_FEED)
		key = "why.feed";
	else if (v->action == BL_ACTION_BLOCK)
		key = "why.local";
	else if (v->action == BL_ACTION_ALLOW)
		key = v->source == BL_SOURCE_LOCAL ? "why.allow_local" : "why.allow_feed";
	else if (rs__http_lookup(h, name, UINT64_MAX, &any) == 0 && any.action == BL_ACTION_BLOCK)
		key = "why.listed_other";
	else
		key = "why.none";
	if (v->action == BL_ACTION_BLOCK && v->categories)
		rs__cat_labels(h, lang, v->categories, cats, sizeof(cats));
	else if (v->action == BL_ACTION_BLOCK)
		snprintf(cats, sizeof(cats), "%s", rs__msg(h, lang, "why.local_all"));
	else if (strcmp(key, "why.listed_other") == 0)
		rs__cat_labels(h, lang, any.categories, cats, sizeof(cats));
	rs__msg_fill(buf, len, rs__msg(h, lang, key),
	             (const char *const[]){"name", name, "profile", prof->name, "version", ver,
	                                   "scope", scope, "categories", cats, "answer", ans,
	                                   NULL});
}

/* Why, when a step before or beside the lists decided (bedtime, fail-closed, safe search). */
static void explain_step(struct rs_http *h, int lang, const char *name, const struct rs_verdict *k,
                         const struct rs_profile *prof, char *buf, size_t len)
{
	const char *why = k->outcome == RS_OUT_BLOCK ? rs__step_msg(k) : NULL;
	char ans[96];

	rs__answer_label(h, lang, rs_verdict_answer(k), ans, sizeof(ans));
	rs__msg_fill(buf, len,
	             rs__msg(h, lang,
	                     why                            ? "why.step"
	                     : k->outcome == RS_OUT_REWRITE ? "why.safe"
	                                                    : "why.other"),
	             (const char *const[]){"name", name, "profile", prof->name, "reason",
	                                   why ? rs__msg(h, lang, why) : k->decided_by, "detail",
	                                   k->text, "answer", ans, NULL});
}

static int minute_of_week(struct rs_http *h)
{
	time_t t = time(NULL) + (time_t)rs_server_clock_offset(h->srv);
	struct tm tm;

	localtime_r(&t, &tm);
	return ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
}

/* Store profiles resolved for this thread's requests (the API and the block page each have
 * their own polling thread): a verdict's profile may point into it until the thread's next
 * decision, so it must not be shared. Freed when the thread ends. */
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;

static void scratch_key_make(void)
{
	pthread_key_create(&scratch_key, free);
}

static struct rs_profile_scratch *thread_scratch(void)
{
	struct rs_profile_scratch *s;

	pthread_once(&scratch_once, scratch_key_make);
	s = pthread_getspecific(scratch_key);
	if (!s && (s = rs_profile_scratch_new()) && pthread_setspecific(scratch_key, s) != 0) {
		free(s);
		s = NULL;
	}
	return s; /* NULL: config profiles only, as before the store had any */
}

int rs__http_decide(struct rs_http *h, const struct rs_cfg_ref *cr, const struct rs_client *cl,
                    const char *name, struct rs_verdict *v)
{
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire)), rc;
	struct rs_ask ask = {wire, n > 0 ? (size_t)n : 0, RS_CLASS_IN, NULL};
	struct rs_decide_ctx cx = {
	    .cfg = &cr->cfg,
	    .ss = cr->safesearch,
	    .db = rs_server_store(h->srv),
	    .minute_of_week = minute_of_week(h),
	    .fail_closed = rs_server_fail_closed(h->srv),
	    .test_store_fault = rs_server_store_fault(h->srv),
	};
	struct rs_client who = *cl; /* with the device ID's profile filled in */

	if (n <= 0)
		return RS_EINVAL;
	memset(v, 0, sizeof(*v));
	/* The daemon's own decision (rs_decide.c), through the HTTP thread's reader; a device
	 * ID is looked up as the DoT/DoH path does (rs_client_device). */
	pthread_mutex_lock(&h->bl_lock);
	cx.rd = h->bl;
	cx.scratch = thread_scratch();
	rc = h->bl ? 0 : BL_ESTORE;
	if (rc == 0 && who.device_id && who.device_id[0])
		rc = rs_client_device(&cr->cfg, h->bl, who.device_id, NULL, &who);
	if (rc == 0)
		rc = rs_decide(&cx, &who, &ask, RS_STAGE_ALL, v);
	pthread_mutex_unlock(&h->bl_lock);
	return rc;
}

/* profile=NAME of /api/check: true when the config or the store knows it, else false after a
 * 400 listing the valid names (an unknown name is refused, not ignored: the answer would be
 * for someone else). */
static bool asked_profile(struct rs_req *q, const struct rs_config *cfg, const char *name,
                          struct rs_resp *r)
{
	struct rs_http *h = q->h;
	struct bl_profile_rec *rec = malloc(sizeof(*rec));
	char msg[1024], shown[72];
	size_t off = 0;
	bool known = rs_profile_named(cfg, name) != NULL;

	if (!known && rec)
		known = bl_profile_read(rs_server_store(h->srv), name, rec) == 0;
	free(rec);
	if (known)
		return true;
	msg[0] = '\0';
	for (int i = 0; i < cfg->n_profiles && off < sizeof(msg); i++)
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s", i ? ", " : "",
		                        cfg->profiles[i].name);
	snprintf(shown, sizeof(shown), "%.64s", name);
	rs__api_error(q, r, 400, "error.no_profile", RS_KV("name", shown, "valid", msg));
	return false;
}

static void api_check(struct rs_req *q, struct rs_resp *r)
{
	struct rs_cfg_ref *cr;
	const char *name = arg(q, "name"), *client = arg(q, "client"), *mac = arg(q, "mac");
	const char *asked = arg(q, "profile"), *device = arg(q, "device");
	const char *device_id = arg(q, "device_id");
	static const struct rs_profile refused; /* an unknown device ID refused: no profile */
	const struct rs_profile *prof;
	struct kg_sockaddr ca;
	struct rs_client cl = {0};
	struct rs_verdict k;
	const struct bl_verdict *v = &k.list;
	uint8_t macb[6];
	char norm[BL_NAME_MAX], text[1400];
	int lang;
	cJSON *o;

	if (!name || bl_name_normalize(name, norm, sizeof(norm)) != 0) {
		rs__api_error(q, r, 400, "error.check_name", NULL);
		return;
	}
	if (client && *client && kg_sockaddr_parse(client, 53, &ca) < 0) {
		rs__api_error(q, r, 400, "error.client_addr", NULL);
		return;
	}
	if (mac && *mac && rs_mac_parse(mac, macb) < 0) {
		rs__api_error(q, r, 400, "error.mac", NULL);
		return;
	}
	/* "for whom": a device given by its address or its MAC, as the Family page lists it */
	if (device && *device && rs_mac_parse(device, macb) == 0) {
		mac = device;
	} else if (device && *device) {
		if (kg_sockaddr_parse(device, 53, &ca) < 0) {
			rs__api_error(q, r, 400, "error.device_addr", NULL);
			return;
		}
		client = device;
	}
	/* A device ID is a secret that selects a profile: only the operator may try one (and it
	 * is never echoed nor logged; the audit line masks it). */
	if (device_id && *device_id && rs__http_authorize(q, r) != 0)
		return;
	cl.addr = client && *client ? (const struct sockaddr *)&ca.ss : NULL;
	cl.mac = mac && *mac ? macb : NULL;
	cl.device_id = device_id && *device_id ? device_id : NULL;
	cl.assume_trusted = true; /* the operator asks what that device would get */
	cr = rs__http_cfg_get(q->h);
	if (asked && *asked && !asked_profile(q, &cr->cfg, asked, r)) {
		rs__http_cfg_put(cr);
		return;
	}
	cl.profile_name = asked && *asked ? asked : NULL;
	if (rs__http_decide(q->h, cr, &cl, norm, &k) != 0 ||
	    !(prof = k.outcome == RS_OUT_REFUSE ? &refused : k.profile)) {
		rs__http_cfg_put(cr);
		rs__api_error(q, r, 503, "error.store", NULL);
		return;
	}
	/* The fields of `kidguard-ctl check --json`, then the explanation. */
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", norm);
	cJSON_AddStringToObject(o, "action", action_names[v->action]);
	cJSON_AddStringToObject(o, "source", source_names[v->source % 4]);
	cJSON_AddNumberToObject(o, "feed_version", v->feed_version);
	cJSON_AddStringToObject(o, "match", v->match);
	cJSON_AddBoolToObject(o, "subtree", v->subtree);
	cJSON_AddBoolToObject(o, "mandatory", v->mandatory);
	cJSON_AddItemToObject(o, "categories", cat_array(q->h, v->categories));
	cJSON_AddStringToObject(o, "profile", prof->name);
	cJSON_AddStringToObject(o, "profile_by", rs_profile_by_name(k.profile_by));
	cJSON_AddStringToObject(o, "answer", rs_verdict_answer(&k));
	cJSON_AddStringToObject(o, "decided_by", k.decided_by);
	cJSON_AddStringToObject(o, "detail", k.text);
	cJSON_AddBoolToObject(o, "bedtime", k.bedtime >= 0);
	if (prof->block_mask == UINT64_MAX)
		cJSON_AddItemToObject(o, "profile_blocks",
		                      cJSON_CreateStringArray((const char *[]){"all"}, 1));
	else
		cJSON_AddItemToObject(o, "profile_blocks", cat_array(q->h, prof->block_mask));
	lang = rs__i18n_pick(q->h, &cr->cfg, q->conn);
	if (!k.have_list || k.outcome == RS_OUT_REWRITE)
		explain_step(q->h, lang, norm, &k, prof, text, sizeof(text));
	else
		explain(q->h, lang, norm, v, prof, text, sizeof(text));
	cJSON_AddStringToObject(o, "explanation", text);
	rs__http_cfg_put(cr);
	rs__json_resp(r, 200, o);
}

/* -------------------------------------------------------------------- overrides --- */

struct list_ctx {
	struct rs_http *h;
	cJSON *arr;
	int n, max;
};

static int list_one(const struct bl_rule *rule, void *arg)
{
	struct list_ctx *c = arg;
	cJSON *o;

	if (c->n >= c->max)
		return 1;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", rule->name);
	cJSON_AddStringToObject(o, "action", rule->flags & BL_F_ALLOW ? "allow" : "deny");
	cJSON_AddBoolToObject(o, "subtree", (rule->flags & BL_F_SUBTREE) != 0);
	cJSON_AddItemToObject(o, "categories", cat_array(c->h, rule->categories));
	cJSON_AddItemToArray(c->arr, o);
	c->n++;
	return 0;
}

static void api_overrides_list(struct rs_req *q, struct rs_resp *r)
{
	cJSON *root = cJSON_CreateObject();
	struct list_ctx c = {.h = q->h, .max = 5000};

	const char *prof = arg(q, "profile");
	int rc;

	c.arr = cJSON_AddArrayToObject(root, "overrides");
	if (prof && *prof && !bl_profile_name_valid(prof)) {
		cJSON_Delete(root);
		rs__api_error(q, r, 400, "error.profile_name", NULL);
		return;
	}
	rc = prof && *prof ? bl_profile_rules_list(rs_server_store(q->h->srv), prof, list_one, &c)
	                   : bl_db_list(rs_server_store(q->h->srv), BL_SOURCE_LOCAL, list_one, &c);
	if (rc < 0) {
		cJSON_Delete(root);
		rs__api_error(q, r, 503, "error.store", NULL);
		return;
	}
	cJSON_AddBoolToObject(root, "truncated", c.n >= c.max);
	rs__json_resp(r, 200, root);
}

/* One local rule change in its own write transaction (waits for any other writer). */
/* A rule of one profile ("prules"): the profile must be one the file or the store knows. */
static int write_profile_rule(struct rs_http *h, const char *profile, bool add, const char *name,
                              unsigned flags, uint64_t cats)
{
	struct bl_db *db = rs_server_store(h->srv);
	struct bl_profile_rec *rec = malloc(sizeof(*rec));
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	bool known = rs_profile_named(&cr->cfg, profile) != NULL;
	struct bl_profiles *t;
	int rc;

	rs__http_cfg_put(cr);
	if (rec && !known)
		known = bl_profile_read(db, profile, rec) == 0;
	free(rec);
	if (!known)
		return RS_EINVAL;
	if ((rc = bl_profiles_begin(db, &t)) < 0)
		return rc;
	rc = add ? bl_profiles_rule_put(t, profile, name, flags, cats)
	         : bl_profiles_rule_del(t, profile, name, flags);
	if (rc < 0) {
		bl_profiles_abort(t);
		return rc;
	}
	return bl_profiles_commit(t);
}

static int write_rule(struct rs_http *h, bool add, const char *name, unsigned flags, uint64_t cats)
{
	struct bl_writer *w;
	int rc = bl_writer_begin(rs_server_store(h->srv), &w);

	if (rc)
		return rc;
	rc = add ? bl_writer_put(w, BL_SOURCE_LOCAL, name, flags, cats, 0)
	         : bl_writer_del(w, BL_SOURCE_LOCAL, name, flags);
	if (rc) {
		bl_writer_abort(w);
		return rc;
	}
	return bl_writer_commit(w);
}

static int find_category(void *arg, const char *name, int *bit)
{
	return bl_category_find(arg, name, bit);
}

static void api_override_add(struct rs_req *q, struct rs_resp *r)
{
	struct rs_override_req o;
	char msg[300];
	cJSON *j;
	int rc;

	if (rs__body_override(q->body, find_category, rs_server_store(q->h->srv), &o, msg,
	                      sizeof(msg)) < 0) {
		rs__api_error(q, r, 400, "error.bad_rule", RS_KV("detail", msg));
		return;
	}
	rc = o.profile[0] ? write_profile_rule(q->h, o.profile, true, o.name, o.flags, o.categories)
	                  : write_rule(q->h, true, o.name, o.flags, o.categories);
	if (rc == RS_EINVAL) {
		rs__api_error(q, r, 400, "error.unknown_profile", RS_KV("name", o.profile));
		return;
	}
	if (rc) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", o.name);
	cJSON_AddStringToObject(j, "action", o.flags & BL_F_ALLOW ? "allow" : "deny");
	cJSON_AddBoolToObject(j, "subtree", (o.flags & BL_F_SUBTREE) != 0);
	cJSON_AddItemToObject(j, "categories", cat_array(q->h, o.categories));
	if (o.profile[0])
		cJSON_AddStringToObject(j, "profile", o.profile);
	rs__json_resp(r, 201, j);
}

static void api_override_del(struct rs_req *q, struct rs_resp *r)
{
	const char *name = arg(q, "name"), *subtree = arg(q, "subtree"), *prof = arg(q, "profile");
	char norm[BL_NAME_MAX];
	unsigned flags = BL_F_SUBTREE;
	int rc;

	if (!name || bl_name_normalize(name, norm, sizeof(norm)) ||
	    rs__override_action(arg(q, "action"), &flags) < 0) {
		rs__api_error(q, r, 400, "error.override_args", NULL);
		return;
	}
	if (subtree && (strcmp(subtree, "0") == 0 || strcmp(subtree, "false") == 0))
		flags &= ~(unsigned)BL_F_SUBTREE;
	rc = prof && *prof ? write_profile_rule(q->h, prof, false, norm, flags, 0)
	                   : write_rule(q->h, false, norm, flags, 0);
	if (rc == BL_ENOTFOUND || rc == RS_EINVAL) {
		rs__api_error(q, r, 404,
		              rc == RS_EINVAL ? "error.no_such_profile" : "error.no_such_rule",
		              NULL);
		return;
	}
	if (rc) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	rs__resp_text(r, 200, "application/json", "{\"deleted\":true}");
}

/* ------------------------------------------------------------------ sync, events --- */

static void api_sync(struct rs_req *q, struct rs_resp *r)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	bool configured = cr->cfg.sync_url[0] != '\0';

	rs__http_cfg_put(cr);
	if (!configured) {
		rs__api_error(q, r, 409, "error.no_feed", NULL);
		return;
	}
	/* The main thread owns the sync process: SIGUSR1 reaches it through its signal loop. */
	kill(getpid(), SIGUSR1);
	rs__resp_text(r, 202, "application/json", "{\"sync\":\"requested\"}");
}

static int by_time_desc(const void *a, const void *b)
{
	uint64_t ta = *(const uint64_t *)a, tb = *(const uint64_t *)b;

	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

static void api_events(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	int nw = rs_server_n_workers(h->srv), n = 0;
	long limit = arg_long(q, "limit", 50, 1, RS_EV_RING * (long)nw);
	struct rs_ev_blocked *all = malloc(sizeof(*all) * RS_EV_RING * (size_t)nw);
	struct rs_cfg_ref *cr;
	cJSON *root, *arr;
	char name[BL_NAME_MAX + 8], cl[64];

	if (!all) {
		rs__api_error(q, r, 500, "error.memory", NULL);
		return;
	}
	for (int k = 0; k < nw; k++) {
		struct rs_ev_ring *ring = &h->rings[k];
		pthread_mutex_lock(&ring->lock);
		uint64_t have = ring->n_blocked < RS_EV_RING ? ring->n_blocked : RS_EV_RING;
		for (uint64_t i = 0; i < have; i++)
			all[n++] = ring->blocked[(ring->n_blocked - 1 - i) % RS_EV_RING];
		pthread_mutex_unlock(&ring->lock);
	}
	/* t_ms is the first member: sort the structs by it. */
	qsort(all, (size_t)n, sizeof(*all), by_time_desc);
	cr = rs__http_cfg_get(h);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "events");
	for (int i = 0; i < n && i < limit; i++) {
		const struct rs_ev_blocked *e = &all[i];
		cJSON *o = cJSON_CreateObject();
		rs__wire_to_text(e->qname, e->qname_len, name, sizeof(name));
		cJSON_AddNumberToObject(o, "time", (double)e->t_ms / 1000.0);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddNumberToObject(o, "qtype", e->qtype);
		cJSON_AddItemToObject(o, "categories", cat_array(h, e->categories));
		cJSON_AddStringToObject(o, "profile", e->profile);
		cJSON_AddStringToObject(o, "source", source_names[e->source % 4]);
		if (e->source == BL_SOURCE_FEED)
			cJSON_AddNumberToObject(o, "feed_version", e->feed_version);
		if (e->client.family) {
			rs__ev_addr_str(&e->client, cr->cfg.query_log_full_addresses, cl,
			                sizeof(cl));
			cJSON_AddStringToObject(o, "client", cl);
		}
		cJSON_AddItemToArray(arr, o);
	}
	rs__http_cfg_put(cr);
	free(all);
	rs__json_resp(r, 200, root);
}

static void api_querylog(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	int nw = rs_server_n_workers(h->srv);
	size_t cap = 0, n = 0;
	struct rs_ev_query *all;
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	bool on = cr->cfg.query_log, full = cr->cfg.query_log_full_addresses;
	cJSON *root, *arr;
	char name[BL_NAME_MAX + 8], cl[64];

	rs__http_cfg_put(cr);
	for (int k = 0; k < nw; k++)
		cap += h->rings[k].qlog_cap;
	if (!on || cap == 0) {
		rs__api_error(q, r, 404, "error.query_log_off", NULL);
		return;
	}
	long limit = arg_long(q, "limit", 100, 1, (long)cap);
	all = malloc(sizeof(*all) * cap);
	if (!all) {
		rs__api_error(q, r, 500, "error.memory", NULL);
		return;
	}
	for (int k = 0; k < nw; k++) {
		struct rs_ev_ring *ring = &h->rings[k];
		pthread_mutex_lock(&ring->lock);
		uint64_t have = ring->n_qlog < ring->qlog_cap ? ring->n_qlog : ring->qlog_cap;
		for (uint64_t i = 0; i < have; i++)
			all[n++] = ring->qlog[(ring->n_qlog - 1 - i) % ring->qlog_cap];
		pthread_mutex_unlock(&ring->lock);
	}
	qsort(all, n, sizeof(*all), by_time_desc);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "queries");
	for (size_t i = 0; i < n && (long)i < limit; i++) {
		cJSON *o = cJSON_CreateObject();
		rs__wire_to_text(all[i].qname, all[i].qname_len, name, sizeof(name));
		rs__ev_addr_str(&all[i].client, full, cl, sizeof(cl));
		cJSON_AddNumberToObject(o, "time", (double)all[i].t_ms / 1000.0);
		cJSON_AddStringToObject(o, "client", cl);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddNumberToObject(o, "qtype", all[i].qtype);
		cJSON_AddNumberToObject(o, "rcode", all[i].rcode);
		cJSON_AddBoolToObject(o, "blocked", all[i].blocked);
		cJSON_AddStringToObject(o, "transport", all[i].tcp ? "tcp" : "udp");
		if (all[i].profile[0])
			cJSON_AddStringToObject(o, "profile", all[i].profile);
		cJSON_AddItemToArray(arr, o);
	}
	free(all);
	rs__json_resp(r, 200, root);
}

/* ---------------------------------------------------------------------- reports --- */

static cJSON *report_json(const struct rs_http *h, int lang, const char *addr,
                          const struct rs_report *rep)
{
	static const char *const states[] = {"queued", "sent", "failed", "manual"};
	cJSON *o = cJSON_CreateObject();
	char mailto[1400];

	add_u64(o, "id", rep->id);
	cJSON_AddStringToObject(o, "domain", rep->domain);
	cJSON_AddStringToObject(o, "kind", rep->kind);
	cJSON_AddStringToObject(o, "category", rep->category);
	add_u64(o, "feed_version", rep->feed_version);
	add_u64(o, "created", rep->created);
	cJSON_AddNumberToObject(o, "attempts", rep->attempts);
	cJSON_AddStringToObject(o, "state", states[rep->state & 3]);
	cJSON_AddStringToObject(o, "error", rep->error);
	if (strncmp(addr, "mailto:", 7) == 0) {
		rs__report_mailto(h, lang, addr, rep, mailto, sizeof(mailto));
		cJSON_AddStringToObject(o, "mailto", mailto);
	}
	return o;
}

static void api_report(struct rs_req *q, struct rs_resp *r)
{
	struct rs_report_req req;
	struct rs_report rep;
	char addr[600];
	int rc;

	rc = rs__body_report(q->body, &req);
	if (rc == 0)
		rc = rs__report_add(q->h, q->client, req.domain, req.kind, &rep);
	if (rc == -EAGAIN) {
		rs__api_error(q, r, 429, "error.report_quota", NULL);
		return;
	}
	if (rc) {
		rs__api_error(q, r, 400, "error.report_body", NULL);
		return;
	}
	rs__report_address(q->h, addr, sizeof(addr));
	rs__json_resp(r, 202, report_json(q->h, rs__req_lang(q), addr, &rep));
}

static void api_reports(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	cJSON *root = cJSON_CreateObject(), *arr;
	char addr[600];
	int lang = rs__req_lang(q);

	rs__report_address(h, addr, sizeof(addr));
	cJSON_AddStringToObject(root, "address", addr);
	arr = cJSON_AddArrayToObject(root, "reports");
	pthread_mutex_lock(&h->out_lock);
	for (int i = h->n_out - 1; i >= 0; i--)
		cJSON_AddItemToArray(arr, report_json(h, lang, addr, &h->outbox[i]));
	pthread_mutex_unlock(&h->out_lock);
	rs__json_resp(r, 200, root);
}

void rs__api_handle(struct rs_req *q, struct rs_resp *r)
{
	const char *m = q->method, *u = q->url;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	bool post = strcmp(m, "POST") == 0;

	if (get && strcmp(u, "/api/stats") == 0)
		return api_stats(q, r);
	if (get && strcmp(u, "/api/check") == 0)
		return api_check(q, r);
	if (strcmp(u, "/api/overrides") == 0) {
		if (get)
			return api_overrides_list(q, r);
		if (post)
			return api_override_add(q, r);
		if (strcmp(m, "DELETE") == 0)
			return api_override_del(q, r);
	}
	if (post && strcmp(u, "/api/sync") == 0)
		return api_sync(q, r);
	if (strncmp(u, "/api/clients/", 13) == 0)
		return rs__api_clients(q, r); /* rs_http_clients.c */
	if (strcmp(u, "/api/profiles") == 0 || strcmp(u, "/api/profiles/devices") == 0)
		return rs__api_profiles(q, r); /* rs_http_profiles.c */
	if (get && strcmp(u, "/api/devices/seen") == 0)
		return rs__api_devices_seen(q, r); /* rs_events.c */
	if (strcmp(u, "/api/devices") == 0 || strncmp(u, "/api/devices/", 13) == 0)
		return rs__api_devices(q, r); /* rs_http_devices.c */
	if (get && strcmp(u, "/api/events") == 0)
		return api_events(q, r);
	if (get && strcmp(u, "/api/querylog") == 0)
		return api_querylog(q, r);
	if (post && strcmp(u, "/api/report") == 0)
		return api_report(q, r);
	if (get && strcmp(u, "/api/reports") == 0)
		return api_reports(q, r);
	rs__api_error(q, r, 404, "error.no_endpoint", NULL);
}
