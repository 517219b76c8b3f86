/*
 * The query path, run to completion inside one callback of a worker:
 *
 *   parse (rs_wire.c) → ACL → profile (address, or ECS/MAC from a trusted forwarder)
 *   → fail-closed → bypass canaries → schedule/bedtime → blocklist → safe search
 *   → cache → forward (rs_forward.c).
 *
 * Answers built from an upstream body (fresh or cached) pass through rs__answer_from_body,
 * which does the safe-search rewrite and CNAME inspection.
 */
#include "rs_srv.h"

#include <string.h>
#include <time.h>

#include "kg_log.h"

#define MAX_CNAMES 8 /* CNAME targets inspected per answer */

static bool acl_allows(const struct rs_config *cfg, const struct sockaddr *peer)
{
	for (int i = 0; i < cfg->n_allow; i++)
		if (kg_cidr_match(&cfg->allow[i], peer))
			return true;
	return false;
}

static bool trusted_forwarder(const struct rs_config *cfg, const struct sockaddr *peer)
{
	for (int i = 0; i < cfg->n_trusted_forwarders; i++)
		if (kg_cidr_match(&cfg->trusted_forwarders[i], peer))
			return true;
	return false;
}

void rs__send_answer(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *msg,
                     size_t len)
{
	RS_INC(w, rcode[msg[3] & 0xf]);
	RS_INC(w, answers[wt->ops ? wt->ops->transport : RS_TRANSPORT_UDP][msg[3] & 0xf]);
	rs__event_answer(w, wt, msg, len);
	if (wt->ops) {
		wt->ops->send(wt->stream, msg, len);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
	const struct kg_sockaddr *to = wt->reply_to.len ? &wt->reply_to : &wt->peer;
	if (rs__batch_add(w, wt->udp, msg, len, to))
		return;
	/* UDP is best effort: when the socket buffer is full the answer is dropped, as the
	 * network would; the client retries. */
	if (uv_udp_try_send(wt->udp, &b, 1, (const struct sockaddr *)&to->ss) < 0)
		RS_INC(w, dropped);
}

static void answer_error(struct rs_worker *w, const struct rs_waiter *wt, int rcode,
                         bool with_question)
{
	size_t n = rs_build_error(&wt->q, with_question, rcode, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
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

/* "category=adult,gambling; list=feed@1234": what an operator or a parent needs to know. */
static size_t ede_text(struct rs_worker *w, const struct bl_verdict *v, uint64_t mask, char *buf,
                       size_t len)
{
	uint64_t cats = v->categories & mask;
	size_t n = 0;
	const char *sep = "category=";

	if (!cats)
		cats = v->categories;
	for (int b = 0; b < BL_CATEGORY_MAX && n < len; b++) {
		const char *name;
		if (!(cats & (1ULL << b)) || !(name = bl_category_name(w->srv->bl, b)))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, name);
		sep = ",";
	}
	if (n >= len)
		n = len - 1;
	if (v->source == BL_SOURCE_LOCAL)
		n += (size_t)snprintf(buf + n, len - n, "%slist=local", n ? "; " : "");
	else
		n += (size_t)snprintf(buf + n, len - n, "%slist=feed@%u", n ? "; " : "",
		                      v->feed_version);
	return n < len ? n : len - 1;
}

/* Send the profile's block answer with this EDE. */
static void answer_blocked(struct rs_worker *w, const struct rs_waiter *wt,
                           const struct rs_profile *prof, int action, uint16_t ede,
                           const char *text)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_block_answer b = {
	    .action = action,
	    .ipv4 = cfg->sinkhole_ipv4,
	    .ipv6 = cfg->sinkhole_ipv6,
	    .ttl = cfg->block_ttl,
	    .ede_code = ede,
	    .ede_text = text,
	};
	size_t n = rs_build_blocked(&wt->q, &b, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
}

static void count_blocked(struct rs_worker *w, const struct rs_profile *prof, uint64_t cats)
{
	const struct rs_config *cfg = &w->cfg->cfg;

	RS_INC(w, blocked);
	RS_INC(w, blocked_profile[prof - cfg->profiles]);
	for (int b = 0; cats && b < 64; b++)
		if (cats & (1ULL << b))
			RS_INC(w, blocked_category[b]);
}

/* Local time as a minute of the week, read at most once a loop second. */
static int minute_of_week(struct rs_worker *w)
{
	uint64_t sec = uv_now(&w->loop) / 1000;
	time_t now;
	struct tm tm;

	if (sec != w->clock_sec || w->clock_sec == 0) {
		w->clock_sec = sec;
		now = time(NULL) + (time_t)w->srv->clock_offset;
		localtime_r(&now, &tm);
		w->minute_of_week = ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
	}
	return w->minute_of_week;
}

static const struct rs_profile *select_profile(struct rs_worker *w, const struct rs_question *q,
                                               const struct sockaddr *peer)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct sockaddr_storage subnet;

	if (!(q->has_mac || q->has_ecs) || !trusted_forwarder(cfg, peer)) {
		/* The subscriber table first (an ISP's RADIUS/DHCP view), then `clients =`. */
		const struct rs_profile *sub = rs__subscriber_profile(w, peer);
		return sub ? sub : rs_profile_for(cfg, peer);
	}
	memset(&subnet, 0, sizeof(subnet));
	if (q->has_ecs && q->ecs_family == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&subnet;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, q->ecs_addr, 4);
	} else if (q->has_ecs) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&subnet;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, q->ecs_addr, 16);
	}
	return rs_profile_select(cfg, peer, q->has_mac ? q->mac : NULL,
	                         q->has_ecs ? (const struct sockaddr *)&subnet : NULL);
}

/*
 * A device ID (DoT SNI, DoH path) picks the profile before any address does. An ID no profile
 * claims gets the address's profile, or NULL (refuse) with [tls] unknown_client_id = refuse.
 */
static const struct rs_profile *waiter_profile(struct rs_worker *w, const struct rs_waiter *wt)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	const char *id = wt->ops && wt->ops->client_id ? wt->ops->client_id(wt->stream) : NULL;
	const struct rs_profile *prof;

	if (id && id[0]) {
		if ((prof = rs_profile_for_id(cfg, id)))
			return prof;
		if (cfg->tls_unknown_client_id == RS_UNKNOWN_ID_REFUSE)
			return NULL;
	}
	return select_profile(w, &wt->q, (const struct sockaddr *)&wt->peer.ss);
}

/* The blocklist's verdict for one name under `mask`; true (answered) when blocked. `via` names
 * the CNAME chain's blocked name, or NULL for the question itself. */
static bool block_if_listed(struct rs_worker *w, const struct rs_waiter *wt,
                            const struct rs_profile *prof, const uint8_t *name, size_t len,
                            uint64_t mask, const char *via)
{
	struct bl_verdict v;
	char text[RS_EDE_TEXT_MAX + 1];
	size_t n = 0;
	int rc = bl_lookup_wire(w->bl, name, len, mask, &v);

	if (rc == BL_ENAME) {
		/* A label with a zero byte cannot be keyed, so no rule could match it: refuse
		 * rather than let "\000.blocked.example" slip past a subtree block. */
		RS_INC(w, policy_errors);
		answer_blocked(w, wt, prof, RS_ACTION_REFUSED, RS_EDE_BLOCKED,
		               "name not checkable against the blocklist");
		return true;
	}
	if (rc < 0) {
		/* The store itself failed (I/O, corruption): answer rather than go dark, count
		 * it, and let /health and the log tell the operator. */
		RS_INC(w, policy_errors);
		return false;
	}
	if (v.action != BL_ACTION_BLOCK)
		return false;
	count_blocked(w, prof, v.categories & mask);
	rs__event_blocked(w, &wt->q, &v, prof);
	if (via)
		n = (size_t)snprintf(text, sizeof(text), "cname=%s; ", via);
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	ede_text(w, &v, mask, text + n, sizeof(text) - n);
	answer_blocked(w, wt, prof, prof->action,
	               v.source == BL_SOURCE_LOCAL ? RS_EDE_FILTERED : RS_EDE_BLOCKED, text);
	return true;
}

/*
 * The decisions before the blocklist: fail-closed, canaries, schedules and bedtime. Returns
 * true when the answer was sent; otherwise wt->mask holds the categories blocked for this
 * client now (for the blocklist and for CNAME inspection).
 */
static bool apply_policy(struct rs_worker *w, struct rs_waiter *wt, const struct rs_profile *prof)
{
	int action, bedtime;
	uint64_t mask;

	wt->mask = 0;
	if (!w->bl)
		return false;
	if (atomic_load(&w->srv->fail_closed) && prof->block_mask != 0) {
		RS_INC(w, fail_closed);
		answer_blocked(w, wt, prof, prof->action, RS_EDE_BLOCKED,
		               "feed stale; failing closed");
		return true;
	}
	if (prof->hardening && (action = rs_hardening_action(wt->q.qname, wt->q.qname_len)) >= 0) {
		count_blocked(w, prof, 0);
		answer_blocked(w, wt, prof, action, RS_EDE_BLOCKED, "bypass-canary");
		return true;
	}
	mask = prof->n_schedules ? rs_profile_mask_at(prof, minute_of_week(w), &bedtime)
	                         : (bedtime = -1, prof->block_mask);
	if (bedtime >= 0 && !rs_bedtime_allows(prof, wt->q.qname, wt->q.qname_len)) {
		count_blocked(w, prof, 0);
		answer_blocked(w, wt, prof, prof->action, RS_EDE_FILTERED,
		               "schedule=bedtime; profile allow list only");
		return true;
	}
	wt->mask = mask;
	return false; /* the blocklist itself: see rs__handle_query_via */
}

/* CNAME inspection: an answer whose chain reaches a blocked name is blocked as if the
 * question had named it. */
static bool cname_blocked(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *body,
                          size_t len)
{
	uint8_t names[MAX_CNAMES][RS_MAX_NAME], lens[MAX_CNAMES];
	char text[BL_NAME_MAX + 8];
	const struct rs_profile *prof;
	int n;

	if (!wt->mask || !w->bl)
		return false;
	n = rs_cname_targets(body, len, names, lens, MAX_CNAMES);
	if (n == 0)
		return false;
	if (!(prof = waiter_profile(w, wt)))
		return false;
	for (int i = 0; i < n; i++) {
		uint8_t key[BL_KEY_MAX];
		int kl = bl_key_from_wire(names[i], lens[i], key, sizeof(key));
		if (kl < 0 || bl_key_to_name(key, (size_t)kl, text, sizeof(text)) < 0)
			continue;
		if (block_if_listed(w, wt, prof, names[i], lens[i], wt->mask, text))
			return true;
	}
	return false;
}

bool rs__answer_from_body(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *body,
                          size_t len, const uint16_t *ttl_offs, int n_ttl, uint32_t age,
                          const uint8_t *rewrite_target, size_t rewrite_len)
{
	size_t limit = wt->ops ? RS_MAX_MSG : rs_udp_limit(&wt->q, w->cfg->cfg.max_udp_size);
	size_t n;

	if (wt->rewrite)
		n = rs_build_rewrite(body, len, rewrite_target, rewrite_len, age, &wt->q, limit,
		                     w->wbuf + 2, sizeof(w->wbuf) - 2);
	else if (cname_blocked(w, wt, body, len))
		return false;
	else
		n = rs_build_reply(body, len, ttl_offs, n_ttl, age, &wt->q, limit, w->wbuf + 2,
		                   sizeof(w->wbuf) - 2);
	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
	return true;
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

/* Would safe search rewrite this question for this profile? If so, to which name. */
static bool safe_search_target(struct rs_worker *w, const struct rs_waiter *wt,
                               const struct rs_profile *prof, const uint8_t **target, size_t *tlen)
{
	return prof->safe_search && wt->q.qclass == RS_CLASS_IN &&
	       rs_safesearch_find(w->cfg->safesearch, wt->q.qname, wt->q.qname_len,
	                          prof->safe_search, target, tlen);
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
			answer_error(w, wt, RS_RCODE_REFUSED, true);
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
		answer_error(w, wt, RS_RCODE_NOTIMP, false);
		return true;
	case RS_Q_BADVERS:
		answer_error(w, wt, RS_RCODE_BADVERS, true);
		return true;
	default:
		RS_INC(w, formerr);
		answer_error(w, wt, RS_RCODE_FORMERR, true);
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
	if (rs_cache_get(w->cache, &key, uv_now(&w->loop), &v)) {
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

/* From here on `peer` is the client (behind a proxy, the one its header named). */
void rs__handle_query_via(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                          const struct sockaddr *reply_to, const struct sockaddr *peer,
                          const struct rs_stream_ops *ops, void *stream)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	const struct rs_profile *prof;
	struct rs_waiter wt;
	struct rs_cache_key key;
	struct rs_cache_entry_view v;
	uint64_t gen;
	bool hit, ss;
	const uint8_t *ss_target = NULL;
	size_t ss_len = 0;
	int verdict;

	RS_INC(w, queries[ops ? ops->transport : RS_TRANSPORT_UDP]);
	wt.next = NULL;
	wt.ops = ops;
	wt.stream = stream;
	wt.udp = udp;
	wt.rewrite = false;
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
		answer_error(w, &wt, RS_RCODE_REFUSED, true);
		return;
	}
	if (!(prof = waiter_profile(w, &wt))) {
		RS_INC(w,
		       refused_acl); /* an unknown device ID, refused by [tls] unknown_client_id */
		answer_error(w, &wt, RS_RCODE_REFUSED, true);
		return;
	}
	if (apply_policy(w, &wt, prof))
		return;
	/*
	 * The hot path: a cached answer that already passed the blocklist for this category mask
	 * at the store's current generation is sent without touching the store. Anything else
	 * (a miss, a new commit, another mask, a safe-search host) takes the full path.
	 */
	rs_cache_key_make(&wt.q, &key);
	hit = rs_cache_get(w->cache, &key, uv_now(&w->loop), &v);
	gen = w->bl ? bl_db_generation(w->srv->bl) : 0;
	ss = safe_search_target(w, &wt, prof, &ss_target, &ss_len);
	if (hit && !ss && rs_cache_policy_known(&v, gen, wt.mask)) {
		RS_INC(w, cache_hits);
		answer_known(w, &wt, &v);
		return;
	}
	if (w->bl && block_if_listed(w, &wt, prof, wt.q.qname, wt.q.qname_len, wt.mask, NULL))
		return;
	if (ss) {
		safe_search(w, &wt, ss_target, ss_len);
		return;
	}
	if (hit) {
		RS_INC(w, cache_hits);
		if (rs__answer_from_body(w, &wt, v.body, v.body_len, v.ttl_offs, v.n_ttl, v.age,
		                         NULL, 0))
			rs_cache_policy_note(&v, gen, wt.mask);
		return;
	}
	RS_INC(w, cache_misses);
	RS_SET(w, cache_entries, rs_cache_count(w->cache));
	rs__forward(w, &key, rs_cache_key_hash(&key), &wt.q, &wt);
}
