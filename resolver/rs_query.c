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
 * Answers built from an upstream body (fresh or cached) pass through rs__answer_from_body,
 * which does the safe-search rewrite and CNAME inspection.
 */
#include "rs_srv.h"

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

/* Send the profile's block answer with this EDE. */
static void answer_blocked(struct rs_worker *w, const struct rs_waiter *wt, int action,
                           uint16_t ede, const char *text)
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

/* Local time as a minute of the week, read at most once a loop second (rs_decide's clock,
 * asked only for profiles with schedules). */
static int minute_of_week(void *arg)
{
	struct rs_worker *w = arg;
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

/* What the decision reads for this worker, now. */
static void decide_ctx(struct rs_worker *w, struct rs_decide_ctx *cx)
{
	cx->cfg = &w->cfg->cfg;
	cx->ss = w->cfg->safesearch;
	cx->db = w->srv->bl;
	cx->rd = w->bl;
	cx->minute_of_week = -1;
	cx->clock = minute_of_week;
	cx->clock_arg = w;
	cx->fail_closed = atomic_load(&w->srv->fail_closed);
	cx->no_subscribers = rs__subscribers_empty(w);
	cx->test_store_fault = w->srv->test_store_fault;
}

/* Who asks: the address, a device ID (DoT SNI, DoH path), the MAC and ECS a forwarder sent
 * (rs_decide believes those only from [server] trusted_forwarders). */
static void decide_client(struct rs_worker *w, const struct rs_waiter *wt, struct rs_client *cl,
                          struct sockaddr_storage *subnet)
{
	const struct rs_question *q = &wt->q;

	cl->addr = (const struct sockaddr *)&wt->peer.ss;
	cl->device_id = wt->ops && wt->ops->client_id ? wt->ops->client_id(wt->stream) : NULL;
	cl->id_profile =
	    cl->device_id && cl->device_id[0] ? rs__device_profile(w, cl->device_id) : NULL;
	cl->mac = q->has_mac ? q->mac : NULL;
	cl->subnet = NULL;
	cl->assume_trusted = false;
	if (!q->has_ecs)
		return;
	memset(subnet, 0, sizeof(*subnet));
	if (q->ecs_family == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)subnet;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, q->ecs_addr, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)subnet;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, q->ecs_addr, 16);
	}
	cl->subnet = (const struct sockaddr *)subnet;
}

/* A failing store must be visible: counted, and logged at most once per 10 s. */
static void count_store_error(struct rs_worker *w, const struct rs_verdict *v)
{
	if (v->store_rc >= 0)
		return;
	RS_INC(w, store_errors);
	RS_INC(w, policy_errors);
	log_every(10, KG_LOG_ERR,
	          "worker %d: a blocklist store lookup failed (%s); %s (counted in "
	          "kidguard_store_errors_total)",
	          w->index, kg_strerror(v->store_rc),
	          v->step == RS_STEP_STORE
	              ? "failing closed ([blocking] on_store_error = fail_closed)"
	              : "answering unfiltered ([blocking] on_store_error = forward, or a profile "
	                "that blocks nothing)");
}

/* Send what the verdict decided (a block or a refusal) and count it; false when the query
 * goes on. */
static bool answer_decided(struct rs_worker *w, const struct rs_waiter *wt,
                           const struct rs_verdict *v)
{
	count_store_error(w, v);
	if (v->outcome == RS_OUT_REFUSE) {
		/* an unknown device ID, refused by [tls] unknown_client_id */
		RS_INC(w, refused_acl);
		answer_error(w, wt, RS_RCODE_REFUSED, true);
		return true;
	}
	if (v->outcome != RS_OUT_BLOCK)
		return false;
	if (v->step == RS_STEP_STALE) {
		RS_INC(w, fail_closed);
	} else if (v->step == RS_STEP_LIST) {
		count_blocked(w, v->profile, rs_verdict_categories(v));
		rs__event_blocked(w, &wt->q, &v->list, v->profile);
	} else if (v->step == RS_STEP_CANARY || v->step == RS_STEP_BEDTIME) {
		count_blocked(w, v->profile, 0);
	} else if (v->step == RS_STEP_NAME) {
		RS_INC(w, policy_errors);
	}
	answer_blocked(w, wt, v->action, v->ede_code, v->text);
	return true;
}

/* The state of one answer's inspection (rs_answer_names' callback context). */
struct inspect {
	struct rs_worker *w;
	const struct rs_waiter *wt;
	struct rs_decide_ctx cx;
	struct rs_client cl;
	struct rs_verdict v; /* the question's profile and mask, from the profile stage */
};

/* One name of the answer, checked with the question's profile and mask: 1 when it was blocked
 * and the answer sent. */
static int inspect_name(void *ctx, const uint8_t *name, size_t len, int kind)
{
	struct inspect *in = ctx;
	char text[BL_NAME_MAX + 8];
	uint8_t key[BL_KEY_MAX];
	int kl = bl_key_from_wire(name, len, key, sizeof(key));
	struct rs_ask ask;

	(void)kind;
	if (kl < 0 || bl_key_to_name(key, (size_t)kl, text, sizeof(text)) < 0)
		text[0] = '\0'; /* rs_decide refuses a name that cannot be keyed */
	ask = (struct rs_ask){name, len, in->wt->q.qclass, text};
	if (kg_fails_assert(rs_decide(&in->cx, &in->cl, &ask, RS_STAGE_LIST, &in->v) == 0)) {
		answer_error(in->w, in->wt, RS_RCODE_SERVFAIL, true);
		return 1;
	}
	return answer_decided(in->w, in->wt, &in->v) ? 1 : 0;
}

/*
 * CNAME inspection: an answer naming a blocked name anywhere in its answer section (a CNAME or
 * DNAME target, an owner) is blocked as if the question had named it. An answer whose chain is
 * longer than RS_MAX_CNAME_CHAIN, or that cannot be walked, gets SERVFAIL: it is never passed.
 * Also for a profile that blocks nothing: the publisher's mandatory categories apply to every
 * client (bl_lookup adds them). Returns true when the answer was sent here.
 */
static bool cname_blocked(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *body,
                          size_t len)
{
	struct inspect inspection, *in = &inspection; /* < 1 KiB: one verdict and a context */
	struct sockaddr_storage subnet;
	struct rs_ask ask = {wt->q.qname, wt->q.qname_len, wt->q.qclass, NULL};
	bool inspect = w->bl != NULL;
	int rc;

	in->w = w;
	in->wt = wt;
	if (inspect) {
		decide_ctx(w, &in->cx);
		decide_client(w, wt, &in->cl, &subnet);
		if (kg_fails_assert(rs_decide(&in->cx, &in->cl, &ask, RS_STAGE_PROFILE, &in->v) ==
		                    0)) {
			answer_error(w, wt, RS_RCODE_SERVFAIL, true);
			return true;
		}
		inspect = in->v.outcome == RS_OUT_CONTINUE;
		in->v.mask = wt->mask; /* the question's mask, as its policy stage computed it */
	}
	rc = rs_answer_names(body, len, RS_MAX_CNAME_CHAIN, inspect ? inspect_name : NULL, in);
	if (rc == 1)
		return true;
	if (rc < 0) {
		RS_INC(w, cname_chain_refused);
		answer_error(w, wt, RS_RCODE_SERVFAIL, true);
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

	/* A safe-search endpoint's answer is inspected too: every name a client is given. */
	if (cname_blocked(w, wt, body, len))
		return false;
	if (wt->rewrite)
		n = rs_build_rewrite(body, len, rewrite_target, rewrite_len, age, &wt->q, limit,
		                     w->wbuf + 2, sizeof(w->wbuf) - 2);
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
	bool hit;
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
	decide_ctx(w, &cx);
	decide_client(w, &wt, &cl, &subnet);
	ask = (struct rs_ask){wt.q.qname, wt.q.qname_len, wt.q.qclass, NULL};
	/* rs_decide() fails only on a state it believes impossible (no profile after the profile
	 * stage); going on would forward unfiltered. */
	if (kg_fails_assert(rs_decide(&cx, &cl, &ask, RS_STAGE_PRE, &dv) == 0)) {
		answer_error(w, &wt, RS_RCODE_SERVFAIL, true);
		return;
	}
	rs__subscriber_account(w, &dv);
	if (answer_decided(w, &wt, &dv))
		return;
	wt.mask = dv.mask;
	/*
	 * The hot path: a cached answer that already passed the blocklist for this category mask
	 * at the store's current generation is sent without touching the store. Anything else
	 * (a miss, a new commit, another mask, a safe-search host) takes the full path.
	 */
	rs_cache_key_make(&wt.q, &key);
	hit = rs_cache_get(w->cache, &key, rs__cache_now(w), &v);
	gen = w->bl ? bl_db_generation(w->srv->bl) : 0;
	if (hit && !dv.rewrite_target && rs_cache_policy_known(&v, gen, wt.mask)) {
		RS_INC(w, cache_hits);
		answer_known(w, &wt, &v);
		return;
	}
	if (kg_fails_assert(rs_decide(&cx, &cl, &ask, RS_STAGE_POST, &dv) == 0)) {
		answer_error(w, &wt, RS_RCODE_SERVFAIL, true);
		return;
	}
	if (answer_decided(w, &wt, &dv))
		return;
	if (dv.outcome == RS_OUT_REWRITE) {
		safe_search(w, &wt, dv.rewrite_target, dv.rewrite_len);
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
