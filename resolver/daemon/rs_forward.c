/*
 * Forwarding a cache miss upstream.
 *
 * Spoofing defences (the lessons of Kaminsky 2008 and DNSpooq 2021): every try uses a new
 * socket bound to port 0, so the kernel picks a fresh random source port, and a message ID
 * from the CSPRNG; the socket is connect()ed, so the kernel drops datagrams from any other
 * address or port; an answer is accepted only when its ID and question match too.
 *
 * Identical questions in flight are coalesced: one upstream query, many waiters. One function,
 * finish(), releases a pending question and everything it owns.
 */
#include "rs_daemon_int.h"

#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

/* A try's socket. It can outlive its pending question (libuv closes asynchronously), so it
 * points back to it only until detach. */
struct rs_usock {
	union {
		uv_handle_t h;
		uv_udp_t udp;
		uv_tcp_t tcp;
	} u;
	bool is_tcp;
	struct rs_pending *p;
	uv_connect_t connect_req;
	uv_write_t write_req;
	uint8_t out[2 + RS_HDR_LEN + RS_MAX_NAME + 4 + 11];
	size_t out_len;
	uint8_t *in; /* TCP answer being assembled */
	size_t in_len, in_cap;
};

static void next_try(struct rs_pending *p);
static void finish(struct rs_pending *p);

static const struct rs_config *cfg_of(struct rs_pending *p)
{
	return &p->w->cfg->cfg;
}

static void usock_closed(uv_handle_t *h)
{
	struct rs_usock *s = h->data;

	free(s->in);
	free(s);
}

static void usock_release(struct rs_pending *p)
{
	struct rs_usock *s = p->sock;

	if (p->dot)
		rs__tls->upstream_cancel(p);
	if (!s)
		return;
	p->sock = NULL;
	s->p = NULL;
	uv_close(&s->u.h, usock_closed);
}

static void send_to_waiters(struct rs_pending *p, const uint8_t *body, size_t body_len,
                            const struct rs_scan *s)
{
	for (struct rs_waiter *wt = p->waiters; wt; wt = wt->next)
		rs__answer_from_body(p->w, wt, body, body_len, s->ttl_offs, s->n_ttl, 0, p->q.qname,
		                     p->q.qname_len);
}

static void fail_all(struct rs_pending *p, int rcode)
{
	struct rs_worker *w = p->w;

	for (struct rs_waiter *wt = p->waiters; wt; wt = wt->next) {
		size_t n = rs_build_error(&wt->q, true, rcode, w->wbuf + 2, sizeof(w->wbuf) - 2);
		if (n)
			rs__send_answer(w, wt, w->wbuf + 2, n);
	}
	finish(p);
}

static void try_tcp(struct rs_pending *p);

const unsigned rs_latency_bounds_ms[RS_LAT_BUCKETS - 1] = {1,   2,   5,   10,   20,  50,
                                                           100, 200, 500, 1000, 2000};

static void note_latency(struct rs_worker *w, uint64_t ms)
{
	int b = 0;

	while (b < RS_LAT_BUCKETS - 1 && ms > rs_latency_bounds_ms[b])
		b++;
	RS_INC(w, upstream_latency[b]);
	RS_ADD(w, upstream_latency_sum_ms, ms);
}

/* An answer that passed the ID and address checks. `pkt` is writable and borrowed. */
static void on_answer(struct rs_pending *p, uint8_t *pkt, size_t len, bool via_tcp)
{
	struct rs_worker *w = p->w;
	struct rs_scan s;
	uint32_t ttl;
	uint64_t now = uv_now(&w->loop);
	bool more = p->tried != (1u << cfg_of(p)->n_upstream) - 1;

	if (len < RS_HDR_LEN || ((pkt[0] << 8) | pkt[1]) != p->id || !(pkt[2] & 0x80) ||
	    !rs_response_matches(pkt, len, &p->q))
		return; /* not the answer to our question: ignore, keep waiting */
	if (!via_tcp && cfg_of(p)->upstream_scramble_case &&
	    !rs_response_same_case(pkt, len, p->sock->out + 2 + RS_HDR_LEN, p->q.qname_len)) {
		/* Forged, or an upstream that does not echo the case: ignored like any forgery.
		 * If the try then times out, it is asked again over TCP (on_try_timeout), which an
		 * off-path forger cannot answer and which needs no case check. */
		RS_INC(w, upstream_case_mismatches);
		p->case_mismatch = true;
		return;
	}
	note_latency(w, now - p->sent_at);
	if (rs_response_scan(pkt, len, &s) < 0) {
		RS_INC(w, upstream_errors);
		log_debug("upstream %d sent a malformed answer", p->upstream);
		rs_upstream_failed(&w->health[p->upstream], now);
		next_try(p);
		return;
	}
	rs_upstream_ok(&w->health[p->upstream], (uint32_t)(now - p->sent_at));
	if ((s.flags & RS_F_TC) && !via_tcp) {
		RS_INC(w, upstream_tcp_fallbacks);
		try_tcp(p);
		return;
	}
	if (s.rcode == RS_RCODE_SERVFAIL || s.rcode == RS_RCODE_REFUSED)
		RS_INC(w, upstream_errors);
	if ((s.rcode == RS_RCODE_SERVFAIL || s.rcode == RS_RCODE_REFUSED) && more &&
	    now < p->deadline) {
		next_try(p);
		return;
	}
	/* Cut the upstream's OPT (we add our own per client) and keep the rest. */
	pkt[10] = (uint8_t)(s.arcount_kept >> 8);
	pkt[11] = (uint8_t)s.arcount_kept;
	rs__strip_private(w, pkt, &s); /* DNS rebinding: before the cache sees it */
	ttl = rs_cache_ttl_for(&s, cfg_of(p));
	if (ttl) {
		/* The first client sees the same capped TTLs as those served from the cache. */
		rs_set_ttls(pkt, s.ttl_offs, s.n_ttl, ttl);
		rs_cache_put(w->cache, &p->key, pkt, s.keep_len, s.ttl_offs, s.n_ttl, ttl,
		             rs__cache_now(w));
	}
	send_to_waiters(p, pkt, s.keep_len, &s);
	finish(p);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_worker *w = h->loop->data;

	buf->base = (char *)w->rbuf;
	buf->len = sizeof(w->rbuf);
}

static void udp_on_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
	struct rs_usock *s = h->data;

	if (!s->p || nread <= 0 || (flags & UV_UDP_PARTIAL))
		return;
	on_answer(s->p, (uint8_t *)buf->base, (size_t)nread, false);
}

static const struct sockaddr *upstream_addr(struct rs_pending *p)
{
	return (const struct sockaddr *)&cfg_of(p)->upstream[p->upstream].ss;
}

static void scramble_case(struct rs_worker *w, uint8_t *name, size_t len)
{
	uint8_t bits[RS_MAX_NAME / 8 + 4];

	for (size_t i = 0; i <= len / 8; i += 4) {
		uint32_t r = rs__random32(w);
		memcpy(bits + i, &r, 4);
	}
	rs_name_scramble_case(name, len, bits);
}

static struct rs_usock *usock_new(struct rs_pending *p, bool tcp)
{
	struct rs_usock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->p = p;
	s->is_tcp = tcp;
	p->id = (uint16_t)rs__random32(p->w);
	p->case_mismatch = false;
	s->out_len = rs_build_upstream_query(&p->q, p->id, s->out + 2, sizeof(s->out) - 2);
	if (!tcp && cfg_of(p)->upstream_scramble_case)
		scramble_case(p->w, s->out + 2 + RS_HDR_LEN, p->q.qname_len);
	s->out[0] = (uint8_t)(s->out_len >> 8);
	s->out[1] = (uint8_t)s->out_len;
	p->sock = s;
	p->sent_at = uv_now(&p->w->loop);
	RS_INC(p->w, upstream_queries);
	return s;
}

static int try_udp(struct rs_pending *p)
{
	struct rs_usock *s = usock_new(p, false);
	const struct sockaddr *up = upstream_addr(p);
	struct sockaddr_storage any;
	uv_buf_t b;
	int rc;

	if (!s)
		return RS_ENOMEM;
	memset(&any, 0, sizeof(any));
	any.ss_family = up->sa_family;
	uv_udp_init(&p->w->loop, &s->u.udp);
	s->u.h.data = s;
	rc = uv_udp_bind(&s->u.udp, (const struct sockaddr *)&any, 0);
	if (!rc)
		rc = uv_udp_connect(&s->u.udp, up);
	if (!rc)
		rc = uv_udp_recv_start(&s->u.udp, udp_alloc, udp_on_read);
	if (!rc) {
		b = uv_buf_init((char *)s->out + 2, (unsigned)s->out_len);
		rc = uv_udp_try_send(&s->u.udp, &b, 1, NULL);
		rc = rc < 0 ? rc : 0;
	}
	return rc ? RS_EIO : 0;
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_usock *s = h->data;
	size_t want = s->in_len + 4096;

	if (want > RS_MAX_MSG + 2)
		want = RS_MAX_MSG + 2;
	if (s->in_cap < want) {
		uint8_t *n = realloc(s->in, want);
		if (n) {
			s->in = n;
			s->in_cap = want;
		}
	}
	buf->base = (char *)s->in + s->in_len;
	buf->len = s->in_cap - s->in_len;
}

static void tcp_fail(struct rs_pending *p)
{
	RS_INC(p->w, upstream_errors);
	rs_upstream_failed(&p->w->health[p->upstream], uv_now(&p->w->loop));
	next_try(p);
}

static void tcp_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct rs_usock *s = h->data;
	size_t need;

	if (!s->p)
		return;
	if (nread < 0 || (nread == 0 && buf->len == 0)) {
		if (nread < 0)
			tcp_fail(s->p);
		return;
	}
	s->in_len += (size_t)nread;
	if (s->in_len < 2)
		return;
	need = 2 + (size_t)((s->in[0] << 8) | s->in[1]);
	if (s->in_len >= need)
		on_answer(s->p, s->in + 2, need - 2, true);
}

void rs__forward_answer(struct rs_pending *p, uint8_t *pkt, size_t len)
{
	on_answer(p, pkt, len, true); /* a stream answer is never truncated: no TCP retry */
}

void rs__forward_try_failed(struct rs_pending *p)
{
	tcp_fail(p);
}

static void tcp_on_write(uv_write_t *req, int status)
{
	struct rs_usock *s = req->data;

	if (s->p && status < 0)
		tcp_fail(s->p);
}

static void tcp_on_connect(uv_connect_t *req, int status)
{
	struct rs_usock *s = req->data;
	uv_buf_t b;

	if (!s->p)
		return;
	if (status < 0) {
		tcp_fail(s->p);
		return;
	}
	b = uv_buf_init((char *)s->out, (unsigned)(s->out_len + 2));
	s->write_req.data = s;
	if (uv_write(&s->write_req, (uv_stream_t *)&s->u.tcp, &b, 1, tcp_on_write) < 0 ||
	    uv_read_start((uv_stream_t *)&s->u.tcp, tcp_alloc, tcp_on_read) < 0)
		tcp_fail(s->p);
}

static void arm_timer(struct rs_pending *p);

/* The UDP answer was truncated: ask the same upstream again over TCP (RFC 7766 §5). */
static void try_tcp(struct rs_pending *p)
{
	struct rs_usock *s;

	usock_release(p);
	s = usock_new(p, true);
	if (!s) {
		fail_all(p, RS_RCODE_SERVFAIL);
		return;
	}
	uv_tcp_init(&p->w->loop, &s->u.tcp);
	s->u.h.data = s;
	s->connect_req.data = s;
	arm_timer(p);
	if (uv_tcp_connect(&s->connect_req, &s->u.tcp, upstream_addr(p), tcp_on_connect) < 0)
		tcp_fail(p);
}

static void on_try_timeout(uv_timer_t *t)
{
	struct rs_pending *p = t->data;

	RS_INC(p->w, upstream_timeouts);
	if (p->case_mismatch && p->sock && !p->sock->is_tcp) {
		try_tcp(p); /* it answered, with another case: see on_answer */
		return;
	}
	rs_upstream_failed(&p->w->health[p->upstream], uv_now(&p->w->loop));
	next_try(p);
}

static void arm_timer(struct rs_pending *p)
{
	uint64_t now = uv_now(&p->w->loop);
	uint64_t left = p->deadline > now ? p->deadline - now : 0;
	uint64_t t = (uint64_t)cfg_of(p)->upstream_timeout_ms;

	uv_timer_start(&p->timer, on_try_timeout, t < left ? t : left, 0);
}

static void next_try(struct rs_pending *p)
{
	struct rs_worker *w = p->w;
	const struct rs_config *cfg = cfg_of(p);
	uint64_t now = uv_now(&w->loop);
	int idx;

	usock_release(p);
	for (;;) {
		if (now >= p->deadline) {
			fail_all(p, RS_RCODE_SERVFAIL);
			return;
		}
		idx = rs_upstream_pick(w->health, cfg->n_upstream, p->tried, now, rs__random32(w));
		if (idx < 0) {
			p->tried = 0; /* every upstream had its try: go round again */
			continue;
		}
		p->tried |= 1u << idx;
		p->upstream = idx;
		arm_timer(p);
		/* A DoT upstream is asked over TLS only: never in clear text behind its back. */
		if ((cfg->upstream_tls[idx] ? rs__tls->upstream_send(p) : try_udp(p)) == 0)
			return;
		/* Could not even send (no route...): count it and move on at once. */
		rs_upstream_failed(&w->health[idx], now);
		usock_release(p);
		if (p->tried == (1u << cfg->n_upstream) - 1) {
			fail_all(p, RS_RCODE_SERVFAIL);
			return;
		}
	}
}

static struct rs_pending **bucket(struct rs_worker *w, uint32_t hash)
{
	return &w->pending[hash & (RS_PENDING_BUCKETS - 1)];
}

static struct rs_pending *find_pending(struct rs_worker *w, const struct rs_cache_key *key,
                                       uint32_t hash)
{
	for (struct rs_pending *p = *bucket(w, hash); p; p = p->hnext)
		if (p->hash == hash && p->key.len == key->len &&
		    memcmp(p->key.data, key->data, key->len) == 0)
			return p;
	return NULL;
}

static int add_waiter(struct rs_pending *p, const struct rs_waiter *wt)
{
	struct rs_waiter *n = malloc(sizeof(*n));

	if (!n)
		return RS_ENOMEM;
	*n = *wt;
	n->next = p->waiters;
	p->waiters = n;
	p->n_waiters++;
	if (n->ops)
		n->ops->ref(n->stream);
	return 0;
}

static void pending_closed(uv_handle_t *h)
{
	free(h->data);
}

static void finish(struct rs_pending *p)
{
	struct rs_pending **pp = bucket(p->w, p->hash);
	struct rs_waiter *wt, *next;

	if (p->finishing)
		return;
	p->finishing = true;
	while (*pp && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = p->hnext;
	p->w->n_pending--;
	RS_SET(p->w, inflight, (uint64_t)p->w->n_pending);
	usock_release(p);
	for (wt = p->waiters; wt; wt = next) {
		next = wt->next;
		if (wt->ops)
			wt->ops->unref(wt->stream);
		free(wt);
	}
	p->waiters = NULL;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, pending_closed);
}

static void refuse_overload(struct rs_worker *w, const struct rs_waiter *wt)
{
	size_t n =
	    rs_build_error(&wt->q, true, RS_RCODE_SERVFAIL, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
}

/* The stream's own bound on questions waiting upstream ([tls] max_pending for DoT and DoH).
 * Checked here, where a question is about to wait, so that a flood of new names cannot make
 * kidguard refuse the blocks and cache hits that need no upstream. */
static bool stream_full(struct rs_worker *w, const struct rs_waiter *wt)
{
	if (!wt->ops || !wt->ops->full || !wt->ops->full(wt->stream))
		return false;
	RS_INC(w, tls_pending_refused);
	if (wt->ops->busy)
		wt->ops->busy(wt->stream);
	else
		refuse_overload(w, wt);
	return true;
}

void rs__forward(struct rs_worker *w, const struct rs_cache_key *key, uint32_t hash,
                 const struct rs_question *upq, const struct rs_waiter *wt)
{
	struct rs_pending *p;

	if (stream_full(w, wt))
		return;
	p = find_pending(w, key, hash);
	if (p) {
		if (p->n_waiters >= RS_MAX_WAITERS || add_waiter(p, wt) < 0)
			refuse_overload(w, wt);
		else
			RS_INC(w, coalesced);
		return;
	}
	if (w->n_pending >= w->cfg->cfg.upstream_max_inflight || !(p = calloc(1, sizeof(*p)))) {
		RS_INC(w, overload);
		refuse_overload(w, wt);
		return;
	}
	p->w = w;
	p->key = *key;
	p->hash = hash;
	p->q = *upq;
	if (add_waiter(p, wt) < 0) {
		free(p);
		refuse_overload(w, wt);
		return;
	}
	p->hnext = *bucket(w, hash);
	*bucket(w, hash) = p;
	w->n_pending++;
	RS_SET(w, inflight, (uint64_t)w->n_pending);
	uv_timer_init(&w->loop, &p->timer);
	p->timer.data = p;
	p->deadline = uv_now(&w->loop) + (uint64_t)cfg_of(p)->query_timeout_ms;
	next_try(p);
}

void rs__forward_drop_all(struct rs_worker *w)
{
	for (int i = 0; i < RS_PENDING_BUCKETS; i++)
		while (w->pending[i])
			finish(w->pending[i]);
}
