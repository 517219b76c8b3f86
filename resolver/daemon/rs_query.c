/*
 * The query path, run to completion inside one callback of a worker:
 *
 *   parse (rs_wire.c) → ACL → rs_decide() stage PRE (profile, fail-closed, canaries,
 *   schedule/bedtime) → cache hit with a current policy note? → rs_decide() stage POST
 *   (blocklist, safe search) → cache → forward (rs_forward.c).
 *
 * The decision itself is rs_decide.c's, shared with kidguard-ctl check, /api/check and the
 * block page; this file only turns its verdict into answers and counters.
 *
 * Answers built from an upstream body (fresh or cached) pass through rs__answer_from_body
 * (rs_answer.c, shared with forwarding), which does the safe-search rewrite and CNAME
 * inspection.
 */
#include "rs_daemon_int.h"

#include <string.h>
#include <time.h>

#include "kg_err.h"
#include "kg_log.h"

static bool acl_allows(const struct rs_config *cfg, const struct sockaddr *peer)
{
	for (int i = 0; i < cfg->n_allow; i++)
		if (kg_cidr_match(&cfg->allow[i], peer))
			return true;
	return false;
}

static void set_addr(struct kg_sockaddr *a, const struct sockaddr *sa)
{
	a->len =
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memcpy(&a->ss, sa, a->len);
}

static void set_peer(struct rs_waiter *wt, const struct sockaddr *peer)
{
	set_addr(&wt->peer, peer);
}

/* A cache hit whose policy note is current: the answer as stored, no store lookup at all. */
static void answer_known(struct rs_worker *w, const struct rs_waiter *wt,
                         const struct rs_cache_entry_view *v)
{
	size_t limit = wt->ops ? RS_MAX_MSG : rs_udp_limit(&wt->q, w->cfg->cfg.max_udp_size);
	size_t n = rs_build_reply(v->body, v->body_len, v->ttl_offs, v->n_ttl, v->age, &wt->q,
	                          limit, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
}

/* UDP only: a TCP client has completed a handshake, so its address is real. A query that did
 * not parse counts against the limit too (a flood of junk must not earn answers) but is never
 * given a TC answer: it has no question to echo. */
static bool over_limit(struct rs_worker *w, const struct rs_waiter *wt, const struct sockaddr *peer,
                       bool parsed)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	uint32_t n = (uint32_t)w->srv->n_workers, qps, burst;
	size_t len;

	/* Plain TCP stays unlimited: it is where a truncated UDP client goes next. DoT and DoH
	 * are not, or a client could flood through them. */
	if (!cfg->rl_qps || (wt->ops && wt->ops->transport == RS_TRANSPORT_TCP))
		return false;
	for (int i = 0; i < cfg->n_rl_exempt; i++)
		if (kg_cidr_match(&cfg->rl_exempt[i], peer))
			return false;
	/* The kernel spreads one client's flows over the workers: each enforces its share. */
	qps = (cfg->rl_qps + n - 1) / n;
	burst = ((cfg->rl_burst ? cfg->rl_burst : 2 * cfg->rl_qps) + n - 1) / n;
	if (rs_ratelimit_allow(w->rl,
	                       rs_ratelimit_key(peer, cfg->rl_ipv4_prefix, cfg->rl_ipv6_prefix),
	                       uv_now(&w->loop), qps, burst))
		return false;
	RS_INC(w, ratelimited);
	/* TC means nothing on a stream (there is nowhere bigger to retry): REFUSED, even for
	 * action = drop, as a stream client would otherwise wait on the question. */
	if (wt->ops) {
		if (parsed)
			rs__answer_error(w, wt, RS_RCODE_REFUSED, true);
		return true;
	}
	if (parsed && cfg->rl_action == RS_RL_TRUNCATE &&
	    (len = rs_build_truncated(&wt->q, w->wbuf + 2, sizeof(w->wbuf) - 2)))
		rs__send_answer(w, wt, w->wbuf + 2, len);
	return true;
}

static bool answer_parse_failure(struct rs_worker *w, const struct rs_waiter *wt, int verdict)
{
	switch (verdict) {
	case RS_Q_OK:
		return false;
	case RS_Q_DROP:
		RS_INC(w, dropped);
		return true;
	case RS_Q_NOTIMP:
		RS_INC(w, notimp);
		rs__answer_error(w, wt, RS_RCODE_NOTIMP, false);
		return true;
	case RS_Q_BADVERS:
		rs__answer_error(w, wt, RS_RCODE_BADVERS, true);
		return true;
	default:
		RS_INC(w, formerr);
		rs__answer_error(w, wt, RS_RCODE_FORMERR, true);
		return true;
	}
}

/* Safe search: ask for (or serve from cache) the safe endpoint, answer with a CNAME to it. */
static void safe_search(struct rs_worker *w, struct rs_waiter *wt, const uint8_t *target,
                        size_t tlen)
{
	struct rs_question tq;
	struct rs_cache_key key;
	struct rs_cache_entry_view v;

	tq = wt->q;
	memcpy(tq.qname, target, tlen);
	memcpy(tq.qname_raw, target, tlen);
	tq.qname_len = (uint8_t)tlen;
	wt->rewrite = true;
	rs_cache_key_make(&tq, &key);
	if (rs_cache_get(w->cache, &key, rs__cache_now(w), &v)) {
		RS_INC(w, cache_hits);
		rs__answer_from_body(w, wt, v.body, v.body_len, v.ttl_offs, v.n_ttl, v.age, target,
		                     tlen);
		return;
	}
	RS_INC(w, cache_misses);
	rs__forward(w, &key, rs_cache_key_hash(&key), &tq, wt);
}

void rs__handle_query(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                      const struct sockaddr *peer, const struct rs_stream_ops *ops, void *stream)
{
	rs__handle_query_via(w, pkt, len, udp, NULL, peer, ops, stream);
}

/* The verdict cache's counters, for /metrics (CNAME inspections count at the next query). */
static void verdict_stats(struct rs_worker *w)
{
	struct rs_vcache_stats st;

	if (!w->vcache)
		return;
	rs_vcache_stats(w->vcache, &st);
	RS_SET(w, verdict_hits, w->vc_hits0 + st.hits);
	RS_SET(w, verdict_misses, w->vc_misses0 + st.misses);
	RS_SET(w, verdict_entries, st.entries);
}

/* From here on `peer` is the client (behind a proxy, the one its header named). */
void rs__handle_query_via(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                          const struct sockaddr *reply_to, const struct sockaddr *peer,
                          const struct rs_stream_ops *ops, void *stream)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_waiter wt;
	struct rs_cache_key key;
	struct rs_cache_entry_view v;
	struct rs_decide_ctx cx;
	struct rs_client cl;
	struct sockaddr_storage subnet;
	struct rs_ask ask;
	struct rs_verdict dv;
	uint64_t gen;
	bool hit, own;
	int verdict;

	RS_INC(w, queries[ops ? ops->transport : RS_TRANSPORT_UDP]);
	wt.next = NULL;
	wt.ops = ops;
	wt.stream = stream;
	wt.udp = udp;
	wt.rewrite = false;
	wt.profile[0] = '\0';
	set_peer(&wt, peer);
	wt.reply_to.len = 0;
	if (reply_to)
		set_addr(&wt.reply_to, reply_to);
	verdict = rs_query_parse(pkt, len, &wt.q);
	if (verdict != RS_Q_DROP && over_limit(w, &wt, peer, verdict == RS_Q_OK))
		return;
	if (answer_parse_failure(w, &wt, verdict))
		return;
	if (!acl_allows(cfg, peer)) {
		RS_INC(w, refused_acl);
		rs__answer_error(w, &wt, RS_RCODE_REFUSED, true);
		return;
	}
	rs__decide_ctx(w, &cx);
	rs__decide_client(w, &wt, &cl, &subnet);
	ask = (struct rs_ask){wt.q.qname, wt.q.qname_len, wt.q.qclass, NULL};
	/* rs_decide() fails only on a state it believes impossible (no profile after the profile
	 * stage); going on would forward unfiltered. */
	if (kg_fails_assert(rs_decide(&cx, &cl, &ask, RS_STAGE_PRE, &dv) == 0)) {
		rs__answer_error(w, &wt, RS_RCODE_SERVFAIL, true);
		return;
	}
	rs__subscriber_account(w, &dv);
	if (dv.profile)
		snprintf(wt.profile, sizeof(wt.profile), "%s", dv.profile->name);
	if (dv.profile && rs_server_http(w->srv)) {
		bool trusted = (cl.mac || cl.subnet) && rs_trusted_forwarder(cfg, peer);
		rs__http->event_seen(rs_server_http(w->srv), w->index, peer,
		                     trusted ? cl.mac : NULL, trusted ? cl.subnet : NULL, &wt.q,
		                     dv.profile->name);
	}
	if (rs__answer_decided(w, &wt, &dv))
		return;
	/* before the cache: every client counts, not only the first to ask */
	rs__signal_note(w, peer, &wt.q, &dv);
	wt.mask = dv.mask;
	/*
	 * The hot path: a cached answer that already passed the blocklist for this category mask
	 * at the store's current generation is sent without touching the store. Anything else
	 * (a miss, a new commit, another mask, a safe-search host) takes the full path.
	 */
	rs_cache_key_make(&wt.q, &key);
	hit = rs_cache_get(w->cache, &key, rs__cache_now(w), &v);
	gen = cx.generation;
	/* A profile with rules of its own or a walled garden is not described by its mask
	 * alone: such a query always takes the full path (and never marks an entry). */
	own = dv.profile->has_rules || dv.profile->mode != RS_MODE_FILTER;
	if (hit && !own && !dv.rewrite_target && rs_cache_policy_known(&v, gen, wt.mask)) {
		RS_INC(w, cache_hits);
		answer_known(w, &wt, &v);
		return;
	}
	if (kg_fails_assert(rs_decide(&cx, &cl, &ask, RS_STAGE_POST, &dv) == 0)) {
		rs__answer_error(w, &wt, RS_RCODE_SERVFAIL, true);
		return;
	}
	verdict_stats(w);
	if (rs__answer_decided(w, &wt, &dv))
		return;
	if (dv.outcome == RS_OUT_REWRITE) {
		safe_search(w, &wt, dv.rewrite_target, dv.rewrite_len);
		return;
	}
	if (hit) {
		RS_INC(w, cache_hits);
		if (rs__answer_from_body(w, &wt, v.body, v.body_len, v.ttl_offs, v.n_ttl, v.age,
		                         NULL, 0) &&
		    !own)
			rs_cache_policy_note(&v, gen, wt.mask);
		return;
	}
	RS_INC(w, cache_misses);
	RS_SET(w, cache_entries, rs_cache_count(w->cache));
	rs__forward(w, &key, rs_cache_key_hash(&key), &wt.q, &wt);
}
