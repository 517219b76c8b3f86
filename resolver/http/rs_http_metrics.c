/*
 * GET /metrics (Prometheus text exposition format 0.0.4) and GET /health.
 *
 * Every series is a sum over the workers (rs_server_stats) or a fact about the store
 * (bl_db_meta, bl_db_counts): nothing here names a client.
 */
#include "rs_http_int.h"

#include "kg_err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled sample: its head, then "NAME VALUE". */
static void sample(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	head(b, name, type, help);
	bprintf(b, "%s %llu\n", name, (unsigned long long)v);
}

static const char *const rcode_names[16] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

/* Label values: category and profile names are [a-z0-9-_] but escape anyway. */
static void label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

static void queries(struct buf *b, const struct rs_stats *s)
{
	head(b, "kidguard_queries_total", "counter", "DNS queries received, by transport.");
	for (int t = 0; t < RS_TRANSPORT_MAX; t++)
		bprintf(b, "kidguard_queries_total{transport=\"%s\"} %llu\n", rs_transport_name(t),
		        (unsigned long long)s->queries[t]);
	head(b, "kidguard_answers_total", "counter",
	     "DNS answers sent, by response code (blocked sinkhole answers are NOERROR).");
	for (int i = 0; i < 16; i++)
		if (i <= 5 || s->rcode[i])
			bprintf(b, "kidguard_answers_total{rcode=\"%s\"} %llu\n", rcode_names[i],
			        (unsigned long long)s->rcode[i]);
	head(b, "kidguard_responses_total", "counter",
	     "DNS answers sent, by transport and response code.");
	for (int t = 0; t < RS_TRANSPORT_MAX; t++)
		for (int i = 0; i < 16; i++)
			if (i <= 5 || s->answers[t][i])
				bprintf(b,
				        "kidguard_responses_total{transport=\"%s\",rcode=\"%s\"} "
				        "%llu\n",
				        rs_transport_name(t), rcode_names[i],
				        (unsigned long long)s->answers[t][i]);
	head(b, "kidguard_queries_rejected_total", "counter",
	     "Queries not resolved, by reason (acl, formerr, notimp, dropped).");
	bprintf(b,
	        "kidguard_queries_rejected_total{reason=\"acl\"} %llu\n"
	        "kidguard_queries_rejected_total{reason=\"formerr\"} %llu\n"
	        "kidguard_queries_rejected_total{reason=\"notimp\"} %llu\n"
	        "kidguard_queries_rejected_total{reason=\"dropped\"} %llu\n",
	        (unsigned long long)s->refused_acl, (unsigned long long)s->formerr,
	        (unsigned long long)s->notimp, (unsigned long long)s->dropped);
	sample(b, "kidguard_tcp_evicted_total", "counter",
	       "Idle TCP connections closed at the connection cap to admit a new one.",
	       s->tcp_evicted);
	sample(b, "kidguard_rx_coalesced_total", "counter",
	       "Listener wakeups followed by a [server] udp_coalesce wait (heavy load only).",
	       s->rx_coalesced);
	sample(b, "kidguard_ratelimited_total", "counter",
	       "UDP, DoT and DoH queries over a client's [ratelimit] (TC=1 or dropped; REFUSED on "
	       "DoT and DoH).",
	       s->ratelimited);
	sample(b, "kidguard_overload_total", "counter",
	       "Queries answered SERVFAIL because [upstream] max_inflight was reached.",
	       s->overload);
	head(b, "kidguard_assert_failures_total", "counter",
	     "Queries answered SERVFAIL because the code met a state it believes impossible "
	     "(a bug: the log names the file and line).");
	bprintf(b, "kidguard_assert_failures_total %llu\n", kg_fails_assert_count());
}

static void blocked(struct rs_http *h, struct buf *b, const struct rs_stats *s,
                    const struct rs_config *cfg)
{
	head(b, "kidguard_blocked_total", "counter",
	     "Blocked answers, by category (an answer in two categories counts in both).");
	for (int i = 0; i < BL_CATEGORY_MAX; i++) {
		const char *n = bl_category_name(rs_server_store(h->srv), i);
		if (!n && !s->blocked_category[i])
			continue;
		bprintf(b, "kidguard_blocked_total{category=\"");
		if (n)
			label(b, n);
		else
			bprintf(b, "bit%d", i);
		bprintf(b, "\"} %llu\n", (unsigned long long)s->blocked_category[i]);
	}
	head(b, "kidguard_blocked_profile_total", "counter", "Blocked answers, by profile.");
	for (int i = 0; i < cfg->n_profiles; i++) {
		bprintf(b, "kidguard_blocked_profile_total{profile=\"");
		label(b, cfg->profiles[i].name);
		bprintf(b, "\"} %llu\n", (unsigned long long)s->blocked_profile[i]);
	}
	sample(b, "kidguard_fail_closed_total", "counter",
	       "Answers blocked because the feed was stale (on_stale = fail_closed).",
	       s->fail_closed);
	sample(b, "kidguard_policy_errors_total", "counter",
	       "Queries whose policy decision met a store error or an uncheckable name.",
	       s->policy_errors);
	sample(b, "kidguard_store_errors_total", "counter",
	       "Blocklist and subscriber-table lookups the store failed (the query answered per "
	       "[blocking] on_store_error).",
	       s->store_errors);
	sample(b, "kidguard_cname_chain_refused_total", "counter",
	       "SERVFAIL answers: the upstream's CNAME/DNAME chain was longer than 16.",
	       s->cname_chain_refused);
	sample(b, "kidguard_private_answers_dropped_total", "counter",
	       "Upstream answers whose private or loopback addresses under public names were "
	       "dropped.",
	       s->private_answers_dropped);
}

static void cache_upstream(struct buf *b, const struct rs_stats *s)
{
	uint64_t cum = 0;

	sample(b, "kidguard_cache_hits_total", "counter", "Answers served from the cache.",
	       s->cache_hits);
	sample(b, "kidguard_cache_misses_total", "counter", "Questions not found in the cache.",
	       s->cache_misses);
	sample(b, "kidguard_cache_entries", "gauge", "Entries in the answer caches.",
	       s->cache_entries);
	sample(b, "kidguard_verdict_cache_hits_total", "counter",
	       "Blocklist lookups answered by the verdict cache ([cache] verdict_entries).",
	       s->verdict_hits);
	sample(b, "kidguard_verdict_cache_misses_total", "counter",
	       "Blocklist lookups the verdict cache did not hold (the store was read).",
	       s->verdict_misses);
	sample(b, "kidguard_verdict_cache_entries", "gauge",
	       "Entries in the verdict caches for the store's current generation.",
	       s->verdict_entries);
	sample(b, "kidguard_upstream_queries_total", "counter", "Queries sent to upstreams.",
	       s->upstream_queries);
	head(b, "kidguard_upstream_errors_total", "counter",
	     "Upstream tries that failed, by kind (timeout, error).");
	bprintf(b, "kidguard_upstream_errors_total{kind=\"timeout\"} %llu\n",
	        (unsigned long long)s->upstream_timeouts);
	bprintf(b, "kidguard_upstream_errors_total{kind=\"error\"} %llu\n",
	        (unsigned long long)s->upstream_errors);
	sample(b, "kidguard_upstream_tcp_fallbacks_total", "counter",
	       "Truncated upstream answers retried over TCP.", s->upstream_tcp_fallbacks);
	sample(b, "kidguard_upstream_case_mismatches_total", "counter",
	       "UDP answers whose question case differed from the one sent ([upstream] "
	       "randomize_case): forged, or an upstream that does not echo case; retried over TCP.",
	       s->upstream_case_mismatches);
	sample(b, "kidguard_coalesced_total", "counter",
	       "Client questions joined to an identical one already in flight.", s->coalesced);
	head(b, "kidguard_upstream_latency_seconds", "histogram", "Upstream answer times.");
	for (int i = 0; i < RS_LAT_BUCKETS - 1; i++) {
		cum += s->upstream_latency[i];
		bprintf(b, "kidguard_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n",
		        rs_latency_bounds_ms[i] / 1000.0, (unsigned long long)cum);
	}
	cum += s->upstream_latency[RS_LAT_BUCKETS - 1];
	bprintf(b, "kidguard_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
	        (unsigned long long)cum);
	bprintf(b, "kidguard_upstream_latency_seconds_sum %.3f\n",
	        s->upstream_latency_sum_ms / 1000.0);
	bprintf(b, "kidguard_upstream_latency_seconds_count %llu\n", (unsigned long long)cum);
	sample(b, "kidguard_inflight_queries", "gauge", "Upstream questions waiting for an answer.",
	       s->inflight);
	sample(b, "kidguard_tcp_connections", "gauge", "Open client TCP connections.",
	       s->tcp_connections);
	sample(b, "kidguard_tls_pending", "gauge",
	       "DoH requests and DoT questions waiting for the upstream ([tls] max_pending).",
	       s->tls_pending);
	sample(b, "kidguard_tls_pending_refused_total", "counter",
	       "DoH requests (503) and DoT questions (SERVFAIL) refused at [tls] max_pending.",
	       s->tls_pending_refused);
}

static void feed(struct rs_http *h, struct buf *b, const struct rs_config *cfg)
{
	struct bl_meta m;
	uint64_t local = 0, fd = 0, now = (uint64_t)time(NULL);
	char why[256];
	int store_ok = bl_db_meta(rs_server_store(h->srv), &m) == 0;

	head(b, "kidguard_build_info", "gauge", "The running version (always 1).");
	bprintf(b, "kidguard_build_info{version=\"%s\"} 1\n", KG_VERSION);
	sample(b, "kidguard_start_time_seconds", "gauge", "When the daemon started, epoch seconds.",
	       h->started);
	head(b, "kidguard_healthy", "gauge", "1 when /health answers 200.");
	bprintf(b, "kidguard_healthy %d\n", rs__health_reason(h, why, sizeof(why)) == 0);
	if (!store_ok)
		return;
	bl_db_counts(rs_server_store(h->srv), &local, &fd);
	sample(b, "kidguard_feed_version", "gauge", "Version of the feed the store enforces.",
	       m.feed_version);
	sample(b, "kidguard_feed_last_sync_timestamp_seconds", "gauge",
	       "Last successful feed sync, epoch seconds (0: never).", m.last_sync);
	sample(b, "kidguard_feed_signed_timestamp_seconds", "gauge",
	       "Newest signed feed timestamp verified, epoch seconds (0: none).",
	       m.timestamp_signed);
	head(b, "kidguard_feed_age_seconds", "gauge",
	     "Seconds since the newest signed feed timestamp when the feed has them, else since "
	     "the last successful sync (absent: never synced).");
	if (m.last_sync || (m.timestamp_ttl && m.timestamp_signed)) {
		uint64_t since = rs_feed_fresh_since(&m, 0, now);
		bprintf(b, "kidguard_feed_age_seconds %llu\n",
		        (unsigned long long)(now > since ? now - since : 0));
	}
	sample(b, "kidguard_feed_last_attempt_timestamp_seconds", "gauge",
	       "Last feed sync attempt, epoch seconds (0: never).", m.last_attempt);
	head(b, "kidguard_feed_sync_configured", "gauge", "1 when [sync] url is set.");
	bprintf(b, "kidguard_feed_sync_configured %d\n", cfg->sync_url[0] != '\0');
	head(b, "kidguard_store_entries", "gauge", "Names in the policy store, by source.");
	bprintf(b, "kidguard_store_entries{source=\"local\"} %llu\n", (unsigned long long)local);
	bprintf(b, "kidguard_store_entries{source=\"feed\"} %llu\n", (unsigned long long)fd);
	bprintf(b, "kidguard_store_entries{source=\"feed_hashed\"} %llu\n",
	        (unsigned long long)m.hashed_entries);
}

/*
 * The fleet subscriber channel: which version of the ISP's table this node applied, the hash
 * of the table it holds now and how many local changes it carries. Alerts compare the hash
 * across nodes (two nodes with equal counts can still map differently); the first 48 bits fit
 * a gauge's double exactly.
 */
static void fleet(struct rs_http *h, struct buf *b)
{
	struct bl_clients_meta cm;
	uint64_t h48 = 0;

	if (bl_clients_meta(rs_server_store(h->srv), &cm) != 0)
		return;
	sample(b, "kidguard_subscribers_version", "gauge",
	       "Version of the fleet subscriber table applied last (0: none).", cm.version);
	sample(b, "kidguard_subscribers_drift", "gauge",
	       "Subscriber prefixes changed on this node (API, kidguard-ctl) since the last fleet "
	       "apply.",
	       cm.drift);
	sample(b, "kidguard_subscribers_last_attempt_seconds", "gauge",
	       "Unix time of the last poll of the subscriber channel (0: none).", cm.last_attempt);
	head(b, "kidguard_subscribers_poll_failing", "gauge",
	     "1 when the last poll of the subscriber channel failed (the last good table serves).");
	bprintf(b, "kidguard_subscribers_poll_failing %d\n", cm.last_error[0] ? 1 : 0);
	if (!cm.has_hash)
		return;
	for (int i = 0; i < 6; i++)
		h48 = h48 << 8 | cm.hash[i];
	sample(b, "kidguard_subscribers_hash", "gauge",
	       "First 48 bits of the SHA-256 of the subscriber table held now (equal on nodes that "
	       "hold the same mappings).",
	       h48);
}

/* ISP scale: PROXY v2 fronts and the subscriber table. */
static void isp(struct rs_http *h, struct buf *b, const struct rs_stats *s)
{
	uint64_t n = 0;

	sample(
	    b, "kidguard_proxy_refused_total", "counter",
	    "Queries dropped for a PROXY v2 header missing (from proxy_from), malformed, or sent "
	    "by an address not in proxy_from.",
	    s->proxy_refused);
	sample(b, "kidguard_subscriber_hits_total", "counter",
	       "Queries whose profile the subscriber table chose.", s->subscriber_hits);
	head(
	    b, "kidguard_subscriber_unknown_profile_total", "counter",
	    "Subscriber table matches naming a profile the config lacks (fell back to clients =).");
	bprintf(b, "kidguard_subscriber_unknown_profile_total %llu\n",
	        (unsigned long long)s->subscriber_unknown_profile);
	if (bl_clients_count(rs_server_store(h->srv), &n) == 0) {
		sample(b, "kidguard_subscribers_entries", "gauge",
		       "Prefixes in the subscriber table.", n);
	}
	fleet(h, b);
}

static void reports(struct rs_http *h, struct buf *b)
{
	int n[4] = {0};

	pthread_mutex_lock(&h->out_lock);
	for (int i = 0; i < h->n_out; i++)
		n[h->outbox[i].state & 3]++;
	pthread_mutex_unlock(&h->out_lock);
	head(b, "kidguard_reports", "gauge", "Reports in the outbox, by state.");
	bprintf(b, "kidguard_reports{state=\"queued\"} %d\n", n[RS_REPORT_QUEUED]);
	bprintf(b, "kidguard_reports{state=\"sent\"} %d\n", n[RS_REPORT_SENT]);
	bprintf(b, "kidguard_reports{state=\"failed\"} %d\n", n[RS_REPORT_FAILED]);
	bprintf(b, "kidguard_reports{state=\"manual\"} %d\n", n[RS_REPORT_MANUAL]);
}

/* [signal]: only when it is on (an appliance without it has nothing to show) */
static void signal_metrics(struct rs_http *h, struct buf *b)
{
	uint32_t domains, dropped;

	if (rs_server_signal_stats(h->srv, &domains, &dropped) != 0)
		return;
	head(b, "kidguard_signal_domains", "gauge",
	     "Registrable domains counted for the early-warning signal today.");
	bprintf(b, "kidguard_signal_domains %u\n", domains);
	head(b, "kidguard_signal_dropped", "gauge",
	     "New domains not counted today: the table was full ([signal] max_domains).");
	bprintf(b, "kidguard_signal_dropped %u\n", dropped);
	head(b, "kidguard_signal_batches_total", "counter",
	     "Daily signal batches delivered or given up since the start.");
	bprintf(b, "kidguard_signal_batches_total{result=\"sent\"} %llu\n",
	        (unsigned long long)atomic_load(&h->signal_sent));
	bprintf(b, "kidguard_signal_batches_total{result=\"failed\"} %llu\n",
	        (unsigned long long)atomic_load(&h->signal_failed));
}

void rs__metrics(struct rs_http *h, struct rs_resp *r)
{
	struct buf b = {.cap = 16384};
	struct rs_stats s;
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);

	b.p = malloc(b.cap);
	if (!b.p) {
		rs__http_cfg_put(cr);
		rs__resp_text(r, 500, "text/plain", "out of memory\n");
		return;
	}
	b.p[0] = '\0';
	rs_server_stats(h->srv, &s);
	queries(&b, &s);
	blocked(h, &b, &s, &cr->cfg);
	cache_upstream(&b, &s);
	feed(h, &b, &cr->cfg);
	isp(h, &b, &s);
	reports(h, &b);
	signal_metrics(h, &b);
	rs__http_cfg_put(cr);
	if (b.oom) {
		free(b.p);
		rs__resp_text(r, 500, "text/plain", "out of memory\n");
		return;
	}
	rs__resp_owned(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p);
	r->len = b.len;
}

int rs__health_reason(struct rs_http *h, char *why, size_t len)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	const struct rs_config *cfg = &cr->cfg;
	struct bl_verdict v;
	struct bl_meta m;
	uint64_t now = (uint64_t)time(NULL), since;
	int rc = 0;

	if (bl_db_meta(rs_server_store(h->srv), &m) < 0 ||
	    rs__http_lookup(h, "health.invalid", 0, &v) < 0) {
		snprintf(why, len, "the blocklist store cannot be read");
		rc = -1;
	} else if (cfg->sync_url[0]) {
		/* Like the supervisor: from the newest signed timestamp when the feed has them,
		 * else a daemon that just started gets max_age to reach the feed. */
		since = rs_feed_fresh_since(&m, h->started, now);
		if (now > since + (uint64_t)cfg->sync_max_age_s && m.timestamp_ttl) {
			snprintf(why, len,
			         "feed stale: newest signed timestamp is %llu s old (max_age %d "
			         "s)%s%s",
			         (unsigned long long)(now - since), cfg->sync_max_age_s,
			         m.last_error[0] ? "; last error: " : "", m.last_error);
			rc = -1;
		} else if (now > since + (uint64_t)cfg->sync_max_age_s) {
			snprintf(
			    why, len,
			    "feed stale: no successful sync for %llu s (max_age %d s)%s%s",
			    (unsigned long long)(now - (m.last_sync ? m.last_sync : h->started)),
			    cfg->sync_max_age_s, m.last_error[0] ? "; last error: " : "",
			    m.last_error);
			rc = -1;
		} else if (m.feed_expires && now > m.feed_expires) {
			snprintf(why, len, "feed expired %llu s ago (version %llu)",
			         (unsigned long long)(now - m.feed_expires),
			         (unsigned long long)m.feed_version);
			rc = -1;
		}
	}
	if (!rc)
		snprintf(why, len, "%s", cfg->sync_url[0] ? "ok" : "ok (no feed sync configured)");
	rs__http_cfg_put(cr);
	return rc;
}

const char *rs__health_code(int rc, const char *why)
{
	/* the beginnings rs__health_reason writes, as words for the dashboard's catalogue */
	static const struct {
		const char *prefix, *code;
	} codes[] = {
	    {"the blocklist store", "store"}, {"feed stale", "stale"}, {"feed expired", "expired"}};

	for (size_t i = 0; rc && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strncmp(why, codes[i].prefix, strlen(codes[i].prefix)) == 0)
			return codes[i].code;
	return rc ? "other" : "ok";
}

void rs__health(struct rs_http *h, struct rs_resp *r)
{
	char why[700], line[720];
	int rc = rs__health_reason(h, why, sizeof(why));

	snprintf(line, sizeof(line), "%s\n", why);
	rs__resp_text(r, rc ? 503 : 200, "text/plain; charset=utf-8", line);
}
