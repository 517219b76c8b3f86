/*
 * Answers from the query path and from forwarding: one place turns a verdict, an error or an
 * upstream body (fresh or cached) into the bytes a client gets, so that forwarding hands an
 * upstream answer here instead of calling back into the query path (rs_query.c).
 */
#include "rs_daemon_int.h"

#include <string.h>
#include <time.h>

#include "kg_err.h"
#include "kg_log.h"

void rs__send_answer(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *msg,
                     size_t len)
{
	RS_INC(w, rcode[msg[3] & 0xf]);
	RS_INC(w, answers[wt->ops ? wt->ops->transport : RS_TRANSPORT_UDP][msg[3] & 0xf]);
	struct rs_http *h = rs_server_http(w->srv);
	if (h)
		rs__http->event_answer(h, w->index, &w->cfg->cfg, &wt->q,
		                       (const struct sockaddr *)&wt->peer.ss, wt->ops != NULL,
		                       wt->profile, msg, len);
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

void rs__answer_error(struct rs_worker *w, const struct rs_waiter *wt, int rcode,
                      bool with_question)
{
	size_t n = rs_build_error(&wt->q, with_question, rcode, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
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
	RS_INC(w, blocked_profile[rs_profile_index(cfg, prof)]);
	for (; cats; cats &= cats - 1)
		RS_INC(w, blocked_category[__builtin_ctzll(cats)]);
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
void rs__decide_ctx(struct rs_worker *w, struct rs_decide_ctx *cx)
{
	cx->cfg = &w->cfg->cfg;
	cx->ss = w->cfg->safesearch;
	cx->db = w->srv->bl;
	cx->rd = w->bl;
	cx->minute_of_week = -1;
	cx->clock = minute_of_week;
	cx->clock_arg = w;
	cx->fail_closed = atomic_load(&w->srv->fail_closed);
	/* Read once per query: the subscriber check, the verdict cache and the answer cache's
	 * policy note all go by it. */
	cx->generation = w->bl ? bl_db_generation(w->srv->bl) : 0;
	cx->no_subscribers = rs__subscribers_empty(w, cx->generation);
	cx->test_store_fault = w->srv->test_store_fault;
	cx->scratch = w->scratch;
	cx->vcache = w->vcache;
}

/* Who asks: the address, a device ID (DoT SNI, DoH path), the MAC and ECS a forwarder sent
 * (rs_decide believes those only from [server] trusted_forwarders). */
void rs__decide_client(struct rs_worker *w, const struct rs_waiter *wt, struct rs_client *cl,
                       struct sockaddr_storage *subnet)
{
	const struct rs_question *q = &wt->q;

	cl->addr = (const struct sockaddr *)&wt->peer.ss;
	cl->device_id = wt->ops && wt->ops->client_id ? wt->ops->client_id(wt->stream) : NULL;
	cl->id_profile_name[0] = '\0';
	cl->id_profile = NULL;
	if (cl->device_id && cl->device_id[0])
		rs__device_profile(w, cl->device_id, cl);
	cl->mac = q->has_mac ? q->mac : NULL;
	cl->subnet = NULL;
	cl->assume_trusted = false;
	cl->profile = NULL; /* only the operator names a profile (GET /api/check) */
	cl->profile_name = NULL;
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
bool rs__answer_decided(struct rs_worker *w, const struct rs_waiter *wt, const struct rs_verdict *v)
{
	count_store_error(w, v);
	if (v->outcome == RS_OUT_REFUSE) {
		/* an unknown device ID, refused by [tls] unknown_client_id */
		RS_INC(w, refused_acl);
		rs__answer_error(w, wt, RS_RCODE_REFUSED, true);
		return true;
	}
	if (v->outcome != RS_OUT_BLOCK)
		return false;
	if (v->step == RS_STEP_STALE) {
		RS_INC(w, fail_closed);
	} else if (v->step == RS_STEP_LIST) {
		count_blocked(w, v->profile, rs_verdict_categories(v));
		struct rs_http *h = rs_server_http(w->srv);
		if (h)
			rs__http->event_blocked(h, w->index, &w->cfg->cfg, &wt->q, &v->list,
			                        v->profile);
	} else if (v->step == RS_STEP_CANARY || v->step == RS_STEP_BEDTIME ||
	           v->step == RS_STEP_GARDEN) {
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
		rs__answer_error(in->w, in->wt, RS_RCODE_SERVFAIL, true);
		return 1;
	}
	return rs__answer_decided(in->w, in->wt, &in->v) ? 1 : 0;
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
		rs__decide_ctx(w, &in->cx);
		rs__decide_client(w, wt, &in->cl, &subnet);
		if (kg_fails_assert(rs_decide(&in->cx, &in->cl, &ask, RS_STAGE_PROFILE, &in->v) ==
		                    0)) {
			rs__answer_error(w, wt, RS_RCODE_SERVFAIL, true);
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
		rs__answer_error(w, wt, RS_RCODE_SERVFAIL, true);
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

/* Here rather than in dns/rs_cache.c: the caps come from the config, which the DNS library
 * does not know. */
uint32_t rs_cache_ttl_for(const struct rs_scan *s, const struct rs_config *cfg)
{
	uint32_t ttl;

	if (s->too_many_rrs || (s->flags & RS_F_TC))
		return 0;
	if (s->rcode == RS_RCODE_NXDOMAIN || (s->rcode == RS_RCODE_NOERROR && s->ancount == 0)) {
		/* Negative answer: only with an SOA to say for how long (RFC 2308 §5). */
		if (s->neg_ttl == UINT32_MAX)
			return 0;
		ttl = s->neg_ttl;
		if (ttl > cfg->cache_neg_max_ttl)
			ttl = cfg->cache_neg_max_ttl;
	} else if (s->rcode == RS_RCODE_NOERROR) {
		if (s->min_ttl == UINT32_MAX)
			return 0;
		ttl = s->min_ttl;
		if (ttl > cfg->cache_max_ttl)
			ttl = cfg->cache_max_ttl;
	} else {
		return 0; /* SERVFAIL, REFUSED...: never cached */
	}
	if (ttl < cfg->cache_min_ttl)
		ttl = cfg->cache_min_ttl;
	return ttl;
}
