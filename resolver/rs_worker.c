/*
 * One worker: a thread with its own libuv loop, its own SO_REUSEPORT sockets on every listen
 * address, its own cache and upstream health. Workers share nothing on the query path; the
 * kernel spreads packets and connections across them.
 *
 * The query path (rs__handle_query) runs to completion inside one callback: parse, ACL,
 * policy, cache; only a cache miss leaves it, into rs_forward.c.
 */
#include "rs_srv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kg_log.h"

uint32_t rs__random32(struct rs_worker *w)
{
	uint32_t v;

	/* IDs and the upstream choice come from the kernel's CSPRNG, in batches. */
	if (w->rand_pos + sizeof(v) > sizeof(w->rand_buf)) {
		ssize_t n = getrandom(w->rand_buf, sizeof(w->rand_buf), 0);
		if (n != (ssize_t)sizeof(w->rand_buf))
			abort(); /* never fall back to predictable IDs */
		w->rand_pos = 0;
	}
	memcpy(&v, w->rand_buf + w->rand_pos, sizeof(v));
	w->rand_pos += sizeof(v);
	return v;
}

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
	if (wt->conn) {
		rs__tcp_send(wt->conn, msg, len);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
	/* UDP is best effort: when the socket buffer is full the answer is dropped, as the
	 * network would; the client retries. */
	if (uv_udp_try_send(wt->udp, &b, 1, (const struct sockaddr *)&wt->peer.ss) < 0)
		RS_INC(w, dropped);
}

static void answer_error(struct rs_worker *w, const struct rs_waiter *wt, int rcode,
			 bool with_question)
{
	size_t n = rs_build_error(&wt->q, with_question, rcode, w->wbuf + 2, sizeof(w->wbuf) - 2);

	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
}

static void set_peer(struct rs_waiter *wt, const struct sockaddr *peer)
{
	wt->peer.len = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);
	memcpy(&wt->peer.ss, peer, wt->peer.len);
}

/* "category=adult,gambling; list=feed@1234": what an operator or a parent needs to know. */
static void ede_text(struct rs_worker *w, const struct bl_verdict *v, uint64_t mask, char *buf,
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
		snprintf(buf + n, len - n, "%slist=local", n ? "; " : "");
	else
		snprintf(buf + n, len - n, "%slist=feed@%u", n ? "; " : "", v->feed_version);
}

/* on_stale = fail_closed and the feed is older than max_age: nothing resolves for filtering
 * profiles until a sync succeeds (settings where an outdated list is unacceptable). */
static bool answer_fail_closed(struct rs_worker *w, const struct rs_waiter *wt,
			       const struct rs_profile *prof)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_block_answer b = {
		.action = prof->action,
		.ipv4 = cfg->sinkhole_ipv4,
		.ipv6 = cfg->sinkhole_ipv6,
		.ttl = cfg->block_ttl,
		.ede_code = RS_EDE_BLOCKED,
		.ede_text = "feed stale; failing closed",
	};
	size_t n = rs_build_blocked(&wt->q, &b, w->wbuf + 2, sizeof(w->wbuf) - 2);

	RS_INC(w, fail_closed);
	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
	return true;
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

/* Returns true when the name is blocked for this client and the answer was sent. */
static bool apply_policy(struct rs_worker *w, const struct rs_waiter *wt,
			 const struct sockaddr *peer)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	const struct rs_profile *prof = rs_profile_for(cfg, peer);
	struct rs_block_answer b;
	struct bl_verdict v;
	char text[RS_EDE_TEXT_MAX + 1];
	size_t n;

	if (!w->bl)
		return false;
	if (atomic_load(&w->srv->fail_closed) && prof->block_mask != 0)
		return answer_fail_closed(w, wt, prof);
	if (bl_lookup_wire(w->bl, wt->q.qname, wt->q.qname_len, prof->block_mask, &v) < 0) {
		/* The store failed us: answer rather than go dark, and count it. */
		RS_INC(w, policy_errors);
		return false;
	}
	if (v.action != BL_ACTION_BLOCK)
		return false;
	count_blocked(w, prof, v.categories & prof->block_mask);
	ede_text(w, &v, prof->block_mask, text, sizeof(text));
	b.action = prof->action;
	b.ipv4 = cfg->sinkhole_ipv4;
	b.ipv6 = cfg->sinkhole_ipv6;
	b.ttl = cfg->block_ttl;
	b.ede_code = v.source == BL_SOURCE_LOCAL ? RS_EDE_FILTERED : RS_EDE_BLOCKED;
	b.ede_text = text;
	n = rs_build_blocked(&wt->q, &b, w->wbuf + 2, sizeof(w->wbuf) - 2);
	if (n)
		rs__send_answer(w, wt, w->wbuf + 2, n);
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

void rs__handle_query(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
		      const struct sockaddr *peer, struct rs_tcp_conn *conn)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_waiter wt;
	struct rs_cache_key key;
	struct rs_cache_entry_view v;
	size_t n, limit;

	if (conn)
		RS_INC(w, queries[RS_TRANSPORT_TCP]);
	else
		RS_INC(w, queries[RS_TRANSPORT_UDP]);
	wt.next = NULL;
	wt.conn = conn;
	wt.udp = udp;
	set_peer(&wt, peer);
	if (answer_parse_failure(w, &wt, rs_query_parse(pkt, len, &wt.q)))
		return;
	if (!acl_allows(cfg, peer)) {
		RS_INC(w, refused_acl);
		answer_error(w, &wt, RS_RCODE_REFUSED, true);
		return;
	}
	if (apply_policy(w, &wt, peer))
		return;
	rs_cache_key_make(&wt.q, &key);
	if (rs_cache_get(w->cache, &key, uv_now(&w->loop), &v)) {
		RS_INC(w, cache_hits);
		limit = conn ? RS_MAX_MSG : rs_udp_limit(&wt.q, cfg->max_udp_size);
		n = rs_build_reply(v.body, v.body_len, v.ttl_offs, v.n_ttl, v.age, &wt.q, limit,
				   w->wbuf + 2, sizeof(w->wbuf) - 2);
		if (n)
			rs__send_answer(w, &wt, w->wbuf + 2, n);
		return;
	}
	RS_INC(w, cache_misses);
	RS_SET(w, cache_entries, rs_cache_count(w->cache));
	rs__forward(w, &key, rs_cache_key_hash(&key), &wt);
}

/* Listeners read with recvmmsg: libuv cuts this buffer into 64 KiB slots, one datagram each,
 * so one system call can bring in a whole burst. */
static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_worker *w = h->loop->data;

	buf->base = (char *)w->mmsg_buf;
	buf->len = RS_MMSG_BUF;
}

static void udp_on_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags)
{
	struct rs_worker *w = h->loop->data;

	/* nread 0 with no address: "nothing more" or the end of a recvmmsg batch. */
	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL))
		return;
	rs__handle_query(w, (const uint8_t *)buf->base, (size_t)nread, h, addr, NULL);
}

static void apply_new_config(struct rs_worker *w)
{
	struct rs_cfg_ref *r = atomic_exchange(&w->next_cfg, NULL);
	struct rs_cfg_ref *old = w->cfg;

	if (!r)
		return;
	w->cfg = r;
	rs_cache_set_limit(w->cache, r->cfg.cache_size);
	if (r->cfg.n_upstream != old->cfg.n_upstream ||
	    memcmp(r->cfg.upstream, old->cfg.upstream, sizeof(r->cfg.upstream)) != 0)
		memset(w->health, 0, sizeof(w->health));
	w->max_conns = (r->cfg.tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	rs__cfg_unref(old);
}

static void begin_stop(struct rs_worker *w)
{
	w->stopping = true;
	for (int i = 0; i < w->n_listen; i++) {
		uv_close((uv_handle_t *)&w->udp[i], NULL);
		uv_close((uv_handle_t *)&w->tcp[i], NULL);
	}
	rs__forward_drop_all(w); /* in-flight questions are dropped, clients retry elsewhere */
	rs__tcp_close_all(w);
	uv_close((uv_handle_t *)&w->wakeup, NULL);
}

static void on_wakeup(uv_async_t *a)
{
	struct rs_worker *w = a->data;

	if (w->stopping)
		return;
	apply_new_config(w);
	if (atomic_load(&w->stop))
		begin_stop(w);
}

static int open_listeners(struct rs_worker *w)
{
	int rc;

	for (int i = 0; i < w->n_listen; i++) {
		uv_udp_init_ex(&w->loop, &w->udp[i], AF_UNSPEC | UV_UDP_RECVMMSG);
		uv_tcp_init(&w->loop, &w->tcp[i]);
		w->udp[i].data = w;
		w->tcp[i].data = w;
		rc = uv_udp_open(&w->udp[i], w->srv->fds_udp[w->index][i]);
		if (!rc)
			rc = uv_tcp_open(&w->tcp[i], w->srv->fds_tcp[w->index][i]);
		/* The sockets now belong to the handles. */
		w->srv->fds_udp[w->index][i] = -1;
		w->srv->fds_tcp[w->index][i] = -1;
		if (!rc)
			rc = uv_udp_recv_start(&w->udp[i], udp_alloc, udp_on_read);
		if (!rc)
			rc = uv_listen((uv_stream_t *)&w->tcp[i], 1024, rs__tcp_on_connection);
		if (rc) {
			log_err("worker %d: listener %d: %s", w->index, i, uv_strerror(rc));
			return RS_EIO;
		}
	}
	return 0;
}

int rs__worker_init(struct rs_worker *w)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	int rc;

	w->rand_pos = sizeof(w->rand_buf);
	w->max_conns = (cfg->tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	w->n_listen = cfg->n_listen;
	rc = rs_cache_new(cfg->cache_size, &w->cache);
	if (rc)
		return rc;
	w->mmsg_buf = malloc(RS_MMSG_BUF);
	if (!w->mmsg_buf)
		return RS_ENOMEM;
	if (w->srv->bl && (rc = bl_reader_open(w->srv->bl, &w->bl)) < 0) {
		log_err("worker %d: blocklist reader: %s", w->index, bl_strerror(rc));
		return RS_EIO;
	}
	if (uv_loop_init(&w->loop) < 0)
		return RS_EIO;
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	w->wakeup.data = w;
	return open_listeners(w);
}

void rs__worker_run(void *arg)
{
	struct rs_worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void close_any(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void rs__worker_fini(struct rs_worker *w)
{
	if (w->loop.data) {
		/* Anything still open (a failed start) is closed and the loop drained. */
		uv_walk(&w->loop, close_any, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&w->loop) != 0)
			log_warn("worker %d: loop closed with handles still open", w->index);
		w->loop.data = NULL;
	}
	rs_cache_free(w->cache);
	w->cache = NULL;
	bl_reader_close(w->bl);
	w->bl = NULL;
	free(w->mmsg_buf);
	w->mmsg_buf = NULL;
	if (w->cfg)
		rs__cfg_unref(w->cfg);
	w->cfg = NULL;
	if (atomic_load(&w->next_cfg))
		rs__cfg_unref(atomic_exchange(&w->next_cfg, NULL));
}
