/*
 * Client TCP connections, RFC 7766: 2-byte length framing, pipelined queries answered as they
 * complete (out of order), an idle timeout, a cap on connections per worker, at most
 * RS_TCP_PIPELINE queries in flight per connection and a bound on unsent answers (a client
 * that does not read is disconnected). At the pipeline limit, whole queries already read wait
 * in the connection's buffer (at most one frame's worth, RS_MAX_MSG + 2 bytes) and reading
 * pauses; both resume as answers go out.
 *
 * A connection is freed when it is closed AND no pending upstream question still refers to it:
 * `refs` counts those waiters plus one while the connection is open.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

#define TCP_MAX_BUFFERED (256 * 1024) /* unsent answer bytes before we give up on a client */

struct rs_tcp_conn {
	uv_tcp_t h;
	uv_timer_t idle;
	struct rs_worker *w;
	struct rs_tcp_conn *prev, *next;
	struct kg_sockaddr peer;
	int refs;
	int handles_open;
	int proxy;           /* enum rs_proxy_tcp: a PROXY v2 header still expected / forbidden */
	uint64_t last_query; /* loop ms of accept or of the last whole query read */
	bool closing, reading;
	bool draining; /* in drain_frames: an answer sent meanwhile must not re-enter it */
	uint8_t *buf;
	size_t len, cap;
};

struct write_req {
	uv_write_t req;
	uint8_t data[];
};

static void maybe_free(struct rs_tcp_conn *c)
{
	if (c->refs == 0 && c->handles_open == 0) {
		free(c->buf);
		free(c);
	}
}

static void handle_closed(uv_handle_t *h)
{
	struct rs_tcp_conn *c = h->data;

	c->handles_open--;
	maybe_free(c);
}

static void conn_close(struct rs_tcp_conn *c)
{
	struct rs_worker *w = c->w;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	RS_SET(w, tcp_connections, (uint64_t)w->n_conns);
	uv_close((uv_handle_t *)&c->h, handle_closed);
	uv_close((uv_handle_t *)&c->idle, handle_closed);
	c->refs--; /* the connection's own reference */
	maybe_free(c);
}

static void tcp_ref(void *arg)
{
	struct rs_tcp_conn *c = arg;

	c->refs++;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tcp_send(void *arg, const uint8_t *msg, size_t len);
static void tcp_ref(void *arg);
static void tcp_unref(void *arg);

const struct rs_stream_ops rs__tcp_ops = {
    .transport = RS_TRANSPORT_TCP,
    .send = tcp_send,
    .ref = tcp_ref,
    .unref = tcp_unref,
};

/* refs counts the connection's own reference, one per query in flight and, while draining,
 * the caller's hold (on_read, resume_reading): only the queries count. */
static bool pipeline_full(const struct rs_tcp_conn *c)
{
	return c->refs - 1 - (c->draining ? 1 : 0) >= RS_TCP_PIPELINE;
}

static void drain_frames(struct rs_tcp_conn *c);

/* Below the pipeline limit again: first the queries already buffered, then read on. */
static void resume_reading(struct rs_tcp_conn *c)
{
	/* A stopping worker has dropped its questions: held queries must not start new ones. */
	if (c->closing || c->reading || c->draining || pipeline_full(c) || c->w->stopping)
		return;
	c->refs++; /* the query path may drop the last other reference */
	drain_frames(c);
	if (--c->refs == 0) {
		maybe_free(c); /* closed meanwhile, and that was the last answer */
		return;
	}
	if (!c->closing && !c->reading && !pipeline_full(c))
		c->reading = uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) == 0;
}

static void tcp_unref(void *arg)
{
	struct rs_tcp_conn *c = arg;

	c->refs--;
	if (c->refs == 0) {
		maybe_free(c);
		return;
	}
	resume_reading(c);
}

static void on_idle(uv_timer_t *t)
{
	struct rs_tcp_conn *c = t->data;

	/* Idle means nothing to read and nothing being answered (RFC 7766 §6.2.3). */
	if (c->refs > 1)
		uv_timer_again(&c->idle);
	else
		conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
	free(req);
}

static void tcp_send(void *arg, const uint8_t *msg, size_t len)
{
	struct rs_tcp_conn *c = arg;
	uint8_t *frame = (uint8_t *)msg - 2; /* callers leave two bytes of headroom */
	uv_buf_t b;
	int n;

	if (c->closing)
		return;
	frame[0] = (uint8_t)(len >> 8);
	frame[1] = (uint8_t)len;
	b = uv_buf_init((char *)frame, (unsigned)len + 2);
	n = uv_stream_get_write_queue_size((uv_stream_t *)&c->h)
	        ? 0
	        : uv_try_write((uv_stream_t *)&c->h, &b, 1);
	if (n == UV_EAGAIN)
		n = 0;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if ((size_t)n < len + 2) {
		struct write_req *wr;
		size_t rest = len + 2 - (size_t)n;
		if (uv_stream_get_write_queue_size((uv_stream_t *)&c->h) + rest >
		        TCP_MAX_BUFFERED ||
		    !(wr = malloc(sizeof(*wr) + rest))) {
			conn_close(c);
			return;
		}
		memcpy(wr->data, frame + n, rest);
		b = uv_buf_init((char *)wr->data, (unsigned)rest);
		if (uv_write(&wr->req, (uv_stream_t *)&c->h, &b, 1, on_write) < 0) {
			free(wr);
			conn_close(c);
			return;
		}
	}
	uv_timer_again(&c->idle);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_tcp_conn *c = h->data;
	size_t want = c->len + 4096;

	if (want > RS_MAX_MSG + 2)
		want = RS_MAX_MSG + 2;
	if (c->cap < want) {
		uint8_t *n = realloc(c->buf, want);
		if (n) {
			c->buf = n;
			c->cap = want;
		}
	}
	buf->base = (char *)c->buf + c->len;
	buf->len = c->cap - c->len;
}

static bool frame_ready(void *arg)
{
	struct rs_tcp_conn *c = arg;

	return !c->closing && !c->w->stopping && !pipeline_full(c);
}

static void frame_dispatch(void *arg, const uint8_t *msg, size_t len)
{
	struct rs_tcp_conn *c = arg;

	uv_timer_again(&c->idle);
	c->last_query = uv_now(&c->w->loop);
	rs__handle_query(c->w, msg, len, NULL, (const struct sockaddr *)&c->peer.ss, &rs__tcp_ops,
	                 c);
}

/*
 * Hand complete frames to the query path while the pipeline has room; keep the rest (a
 * partial frame, or whole ones held back at the limit) and stop reading until answers drain.
 * The caller holds a reference.
 */
static void drain_frames(struct rs_tcp_conn *c)
{
	const struct rs_frame_sink sink = {frame_ready, frame_dispatch, c};

	if (c->len == 0)
		return;
	if (c->proxy != RS_PROXY_TCP_DONE) {
		if (rs__proxy_tcp_consume(c->w, c->buf, &c->len, &c->peer, &c->proxy) < 0) {
			conn_close(c);
			return;
		}
		if (c->proxy != RS_PROXY_TCP_DONE)
			return; /* the rest of the header is still to come */
	}
	c->draining = true;
	if (rs_frame_drain(c->buf, &c->len, &sink) < 0)
		conn_close(c); /* too short to carry an ID: nothing sensible to answer */
	if (!c->closing && c->reading && pipeline_full(c)) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = false;
	}
	c->draining = false;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rs_tcp_conn *c = s->data;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->len += (size_t)nread;
	c->refs++; /* the query path may drop the last other reference */
	drain_frames(c);
	tcp_unref(c);
}

void rs__reject_connection(uv_stream_t *server, const char *why)
{
	uv_tcp_t *t = malloc(sizeof(*t));

	if (!t)
		return;
	uv_tcp_init(server->loop, t);
	if (uv_accept(server, (uv_stream_t *)t) == 0)
		log_debug("%s: closing a new connection", why);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/*
 * At the connection cap, make room by closing the connection that has gone longest without a
 * whole query, if it has none in flight and has been quiet for RS_TCP_EVICT_IDLE_MS (RFC 7766
 * §6.2.3: a server under pressure may close idle connections). Hundreds of silent
 * connections then cannot lock other clients out until tcp_idle_timeout; a slow drip of
 * partial frames does not count as a query. Returns whether a slot was freed. O(connections),
 * only at the cap.
 */
static bool evict_idle(struct rs_worker *w)
{
	uint64_t now = uv_now(&w->loop);
	struct rs_tcp_conn *victim = NULL;

	for (struct rs_tcp_conn *c = w->conns; c; c = c->next)
		if (c->refs == 1 && now - c->last_query >= RS_TCP_EVICT_IDLE_MS &&
		    (!victim || c->last_query < victim->last_query))
			victim = c;
	if (!victim)
		return false;
	RS_INC(w, tcp_evicted);
	conn_close(victim);
	return true;
}

void rs__tcp_on_connection(uv_stream_t *server, int status)
{
	struct rs_worker *w = server->data;
	struct rs_tcp_conn *c;
	int len = sizeof(struct sockaddr_storage);

	if (status < 0 || w->stopping)
		return;
	if ((w->n_conns >= w->max_conns && !evict_idle(w)) || !(c = calloc(1, sizeof(*c)))) {
		rs__reject_connection(server, "tcp: connection limit reached");
		return;
	}
	c->w = w;
	c->refs = 1;
	c->last_query = uv_now(&w->loop);
	uv_tcp_init(&w->loop, &c->h);
	uv_timer_init(&w->loop, &c->idle);
	c->h.data = c->idle.data = c;
	c->handles_open = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	RS_SET(w, tcp_connections, (uint64_t)w->n_conns);
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 ||
	    uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer.ss, &len) < 0) {
		conn_close(c);
		return;
	}
	c->peer.len = (socklen_t)len;
	c->proxy = rs__proxy_tcp_state(w, (const struct sockaddr *)&c->peer.ss);
	uv_timer_start(&c->idle, on_idle, (uint64_t)w->cfg->cfg.tcp_idle_timeout_ms,
	               (uint64_t)w->cfg->cfg.tcp_idle_timeout_ms);
	resume_reading(c);
}

void rs__tcp_close_all(struct rs_worker *w)
{
	while (w->conns)
		conn_close(w->conns);
}
