/*
 * Client connections on the DoT and DoH listeners: accept (counted with plain TCP against
 * w->max_conns, refused early for addresses outside [access] allow), the TLS handshake under a
 * deadline, then either RFC 7858 DNS over TLS — the RFC 7766 rules of rs_tcp.c: 2-byte framing,
 * pipelined queries answered out of order, at most RS_TCP_PIPELINE in flight (queries already
 * decrypted wait in the buffer and reading pauses beyond; rs_frame_drain), an idle timeout — or
 * DoH (rs_doh.c) when the connection came in on listen_doh.
 *
 * The device ID is read once, from the SNI, when the handshake completes.
 *
 * A connection is freed when it is closed AND no waiter or DoH request still refers to it.
 */
#include "rs_tls_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

static const unsigned char alpn_dot[] = "\x03"
                                        "dot";
static const unsigned char alpn_doh[] = "\x02"
                                        "h2"
                                        "\x08"
                                        "http/1.1";

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void process(struct rs_tconn *c);

static void maybe_free(struct rs_tconn *c)
{
	if (c->refs == 0 && c->handles_open == 0) {
		rs__tls_io_free(&c->io);
		free(c->buf);
		free(c->phdr);
		free(c);
	}
}

static void handle_closed(uv_handle_t *h)
{
	struct rs_tconn *c = h->data;

	c->handles_open--;
	maybe_free(c);
}

void rs__tconn_close(struct rs_tconn *c)
{
	struct rs_worker *w = c->w;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->tls->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	RS_SET(w, tcp_connections, (uint64_t)w->n_conns);
	rs__tls_io_shutdown(&c->io);
	rs__doh_free(c); /* its requests let go of the connection */
	uv_close((uv_handle_t *)&c->h, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	c->refs--; /* the connection's own reference */
	maybe_free(c);
}

void rs__tconn_ref(struct rs_tconn *c)
{
	c->refs++;
}

/* Counted from what waits, not from `refs`: the references taken around process() would make
 * a connection one below its limit look full inside it and not full after, and reading would
 * stop and restart forever. */
static bool pipeline_full(const struct rs_tconn *c)
{
	return c->kind == RS_TC_DOT ? c->waiting >= RS_TCP_PIPELINE : rs__doh_full(c);
}

bool rs__tls_pending_full(struct rs_worker *w)
{
	return atomic_load_explicit(&w->srv->tls->pending, memory_order_relaxed) >=
	       (long)w->cfg->cfg.tls_max_pending;
}

void rs__tls_pending_add(struct rs_worker *w, int delta)
{
	atomic_fetch_add_explicit(&w->srv->tls->pending, delta, memory_order_relaxed);
	RS_SET(w, tls_pending, w->stats.tls_pending + (uint64_t)(int64_t)delta);
}

void rs__tconn_unref(struct rs_tconn *c)
{
	c->refs--;
	if (c->refs == 0) {
		maybe_free(c);
		return;
	}
	/* Below the pipeline limit again: read on, starting with what TLS already holds (not
	 * while the worker stops: it dropped its questions, held ones must not start new ones). */
	if (!c->closing && !c->reading && !pipeline_full(c) && !c->in_process && !c->w->stopping) {
		if (uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) < 0) {
			rs__tconn_close(c); /* else each unref would try again, recursing */
			return;
		}
		c->reading = true;
		c->refs++;
		process(c);
		rs__tconn_unref(c);
	}
}

int rs__tconn_write(struct rs_tconn *c, const void *data, size_t len)
{
	if (c->closing)
		return RS_EIO;
	if (rs__tls_io_write(&c->io, data, len) < 0) {
		rs__tconn_close(c);
		return RS_EIO;
	}
	uv_timer_again(&c->timer);
	return 0;
}

static void dot_send(void *arg, const uint8_t *msg, size_t len)
{
	uint8_t *frame = (uint8_t *)msg - 2; /* callers leave two bytes of headroom */

	frame[0] = (uint8_t)(len >> 8);
	frame[1] = (uint8_t)len;
	rs__tconn_write(arg, frame, len + 2);
}

/* A waiter's reference: one DoT question waiting, counted against [tls] max_pending. */
static void dot_ref(void *arg)
{
	struct rs_tconn *c = arg;

	rs__tls_pending_add(c->w, 1);
	c->waiting++;
	rs__tconn_ref(c);
}

static void dot_unref(void *arg)
{
	struct rs_tconn *c = arg;

	rs__tls_pending_add(c->w, -1);
	c->waiting--;
	rs__tconn_unref(c);
}

/* [tls] max_pending, asked by rs__forward: at it, SERVFAIL (the stream has no `busy`). */
static bool dot_full(void *arg)
{
	return rs__tls_pending_full(((struct rs_tconn *)arg)->w);
}

static const char *dot_client_id(void *arg)
{
	struct rs_tconn *c = arg;

	return c->client_id[0] ? c->client_id : NULL;
}

static const struct rs_stream_ops dot_ops = {
    .transport = RS_TRANSPORT_DOT,
    .send = dot_send,
    .ref = dot_ref,
    .unref = dot_unref,
    .client_id = dot_client_id,
    .full = dot_full,
};

static void on_timer(uv_timer_t *t)
{
	struct rs_tconn *c = t->data;

	/* A stalled handshake, or idle: nothing to read and nothing being answered. */
	if (c->established && c->refs > 1)
		uv_timer_again(&c->timer);
	else
		rs__tconn_close(c);
}

static bool frame_ready(void *arg)
{
	struct rs_tconn *c = arg;

	return !c->closing && !c->w->stopping && !pipeline_full(c);
}

static void frame_dispatch(void *arg, const uint8_t *msg, size_t len)
{
	struct rs_tconn *c = arg;

	uv_timer_again(&c->timer);
	rs__handle_query(c->w, msg, len, NULL, (const struct sockaddr *)&c->peer.ss, &dot_ops, c);
}

/* Hand complete frames to the query path while the pipeline has room; keep the rest (a
 * partial frame, or whole ones held back at the limit) for later. */
static void drain_frames(struct rs_tconn *c)
{
	const struct rs_frame_sink sink = {frame_ready, frame_dispatch, c};

	if (c->len && rs_frame_drain(c->buf, &c->len, &sink) < 0)
		rs__tconn_close(c); /* too short to carry an ID: nothing to answer */
}

static void on_established(struct rs_tconn *c)
{
	const char *sni = SSL_get_servername(c->io.ssl, TLSEXT_NAMETYPE_host_name);
	char alpn[16];

	c->established = true;
	rs_client_id_from_sni(sni, c->w->cfg->cfg.tls_hostname, c->client_id);
	rs__tls_alpn(&c->io, alpn, sizeof(alpn));
	/* A device ID is a secret: the log says one was given, never which. */
	log_debug("tls: %s connection established, sni %s%s, alpn %s, %s",
	          c->kind == RS_TC_DOT ? "DoT" : "DoH", c->client_id[0] ? "(device ID)." : "",
	          c->client_id[0] ? c->w->cfg->cfg.tls_hostname
	          : sni           ? sni
	                          : "-",
	          alpn[0] ? alpn : "-",
	          SSL_session_reused(c->io.ssl) ? "resumed" : "full handshake");
	uv_timer_again(&c->timer);
	if (c->kind == RS_TC_DOH && rs__doh_start(c) < 0)
		rs__tconn_close(c);
}

/* Make room for one more read of plaintext (DoT frames are at most 2 + 65535 bytes). */
static size_t dot_room(struct rs_tconn *c)
{
	if (c->cap < RS_MAX_MSG + 2) {
		uint8_t *n = realloc(c->buf, RS_MAX_MSG + 2);
		if (!n)
			return 0;
		c->buf = n;
		c->cap = RS_MAX_MSG + 2;
	}
	return c->cap - c->len;
}

/* Decrypt what arrived and act on it, until TLS needs more input or the pipeline is full. */
static void run_records(struct rs_tconn *c)
{
	int n;

	while (!c->closing && !pipeline_full(c)) {
		if (c->kind == RS_TC_DOT) {
			size_t room;
			/* Queries held back at the pipeline limit go first; decrypt more only when
			 * they are all out, so the buffer holds at most one frame's worth. */
			drain_frames(c);
			if (c->closing || pipeline_full(c))
				break;
			room = dot_room(c);
			n = room ? rs__tls_io_read(&c->io, c->buf + c->len, room) : RS_ENOMEM;
			if (n > 0) {
				c->len += (size_t)n;
				drain_frames(c);
			}
		} else {
			n = rs__tls_io_read(&c->io, c->io.scratch, RS_TLS_SCRATCH);
			if (n > 0 && rs__doh_input(c, c->io.scratch, (size_t)n) < 0)
				n = RS_EIO;
		}
		if (n < 0)
			rs__tconn_close(c);
		if (n <= 0)
			break;
	}
}

static void process(struct rs_tconn *c)
{
	int rc;

	if (c->closing || c->in_process)
		return;
	c->in_process = true;
	if (!c->established) {
		rc = rs__tls_io_handshake(&c->io);
		if (rc < 0)
			rs__tconn_close(c);
		else if (rc == 1)
			on_established(c);
	}
	if (c->established)
		run_records(c);
	/* Tickets, alerts and key updates are written by reads too. */
	if (!c->closing && rs__tls_io_flush(&c->io) < 0)
		rs__tconn_close(c);
	if (!c->closing && c->reading && pipeline_full(c)) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = false;
	}
	c->in_process = false;
}

static void on_drained(struct rs_tls_io *io)
{
	rs__doh_drained(io->owner);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_tconn *c = h->data;

	/* Ciphertext goes straight into the SSL object's BIO: one scratch buffer per worker. */
	buf->base = (char *)c->w->tls->scratch;
	buf->len = RS_TLS_SCRATCH;
}

/* The TLS handshake is the expensive part: spend it only on clients [access] allows. */
static bool allowed(const struct rs_config *cfg, const struct sockaddr *sa)
{
	for (int i = 0; i < cfg->n_allow; i++)
		if (kg_cidr_match(&cfg->allow[i], sa))
			return true;
	return false;
}

/*
 * A PROXY v2 header comes before the TLS ClientHello, in clear, as on plain TCP: required
 * from a proxy_from frontend, refused from anyone else (rs_proxy_srv.c decides). The bytes
 * read until that is settled are kept in c->phdr; what follows the header is ciphertext.
 * Returns 0 when the bytes to pass to TLS are in c->phdr (c->plen) and then data[used..len),
 * 1 when more is needed, -1 to close.
 */
static int proxy_read(struct rs_tconn *c, const char *data, size_t len, size_t *used)
{
	size_t n;

	if (!c->phdr && !(c->phdr = malloc(RS_PROXY_MAX_HDR)))
		return -1;
	n = RS_PROXY_MAX_HDR - c->plen < len ? RS_PROXY_MAX_HDR - c->plen : len;
	memcpy(c->phdr + c->plen, data, n);
	c->plen += n;
	*used = n;
	if (rs__proxy_tcp_consume(c->w, c->phdr, &c->plen, &c->peer, &c->proxy) < 0)
		return -1;
	if (c->proxy != RS_PROXY_TCP_DONE)
		return n < len ? -1 : 1; /* a header cannot be longer than the buffer */
	/* The header named the client: [access] applies to it before any handshake. */
	return allowed(&c->w->cfg->cfg, (const struct sockaddr *)&c->peer.ss) ? 0 : -1;
}

static int feed(struct rs_tconn *c, const char *data, size_t len)
{
	size_t used = 0;
	int rc;

	if (c->proxy == RS_PROXY_TCP_DONE)
		return rs__tls_io_feed(&c->io, data, len);
	if ((rc = proxy_read(c, data, len, &used)) != 0)
		return rc > 0 ? 0 : -1;
	rc = c->plen ? rs__tls_io_feed(&c->io, (const char *)c->phdr, c->plen) : 0;
	free(c->phdr);
	c->phdr = NULL;
	c->plen = 0;
	return rc < 0 || used == len ? rc : rs__tls_io_feed(&c->io, data + used, len - used);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rs_tconn *c = s->data;

	if (nread < 0) {
		rs__tconn_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (feed(c, buf->base, (size_t)nread) < 0) {
		rs__tconn_close(c);
		return;
	}
	c->refs++; /* the query path may drop the last other reference */
	process(c);
	rs__tconn_unref(c);
}

static void conn_link(struct rs_worker *w, struct rs_tconn *c)
{
	c->next = w->tls->conns;
	if (w->tls->conns)
		w->tls->conns->prev = c;
	w->tls->conns = c;
	w->n_conns++;
	RS_SET(w, tcp_connections, (uint64_t)w->n_conns);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct rs_worker *w = server->data;
	struct rs_tconn *c;
	int len = sizeof(struct sockaddr_storage);
	uint64_t ms = (uint64_t)w->cfg->cfg.tcp_idle_timeout_ms;

	if (status < 0 || w->stopping)
		return;
	if (w->n_conns >= w->max_conns || !(c = calloc(1, sizeof(*c)))) {
		rs__reject_connection(server,
		                      "tls: connection limit reached or client not allowed");
		return;
	}
	c->w = w;
	c->refs = 1;
	c->kind = server == (uv_stream_t *)&w->tls->dot ? RS_TC_DOT : RS_TC_DOH;
	uv_tcp_init(&w->loop, &c->h);
	uv_timer_init(&w->loop, &c->timer);
	c->h.data = c->timer.data = c;
	c->handles_open = 2;
	conn_link(w, c);
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 ||
	    uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer.ss, &len) < 0) {
		rs__tconn_close(c);
		return;
	}
	/* A frontend's own address need not be allowed: the client its header names must be. */
	c->proxy = rs__proxy_tcp_state(w, (const struct sockaddr *)&c->peer.ss);
	if ((c->proxy != RS_PROXY_TCP_EXPECT &&
	     !allowed(&w->cfg->cfg, (const struct sockaddr *)&c->peer.ss)) ||
	    rs__tls_io_init(&c->io, w->srv->tls, true, (uv_stream_t *)&c->h, w->tls->scratch) < 0) {
		rs__tconn_close(c);
		return;
	}
	c->peer.len = (socklen_t)len;
	c->io.owner = c;
	if (c->kind == RS_TC_DOH)
		c->io.drained = on_drained;
	c->io.alpn = c->kind == RS_TC_DOT ? alpn_dot : alpn_doh;
	c->io.alpn_len = (unsigned)(c->kind == RS_TC_DOT ? sizeof(alpn_dot) : sizeof(alpn_doh)) - 1;
	uv_tcp_nodelay(&c->h, 1);
	/* The same timer bounds the handshake and then the idle time. */
	uv_timer_start(&c->timer, on_timer, ms, ms);
	c->reading = uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) == 0;
}

static int listen_on(struct rs_worker *w, uv_tcp_t *h, int *fd, bool *open)
{
	int rc;

	if (*fd < 0)
		return 0;
	uv_tcp_init(&w->loop, h);
	h->data = w;
	*open = true;
	rc = uv_tcp_open(h, *fd);
	*fd = -1; /* the handle owns it now */
	if (!rc)
		rc = uv_listen((uv_stream_t *)h, 1024, on_connection);
	if (rc) {
		log_err("worker %d: TLS listener: %s", w->index, uv_strerror(rc));
		return RS_EIO;
	}
	return 0;
}

int rs__tls_worker_init(struct rs_worker *w)
{
	struct rs_tls_server *ts = w->srv->tls;
	int rc;

	w->tls = calloc(1, sizeof(*w->tls));
	if (!w->tls)
		return RS_ENOMEM;
	rc = listen_on(w, &w->tls->dot, &ts->fds_dot[w->index], &w->tls->dot_open);
	if (!rc)
		rc = listen_on(w, &w->tls->doh, &ts->fds_doh[w->index], &w->tls->doh_open);
	return rc;
}

void rs__tls_worker_stop(struct rs_worker *w)
{
	struct rs_tls_worker *tw = w->tls;

	if (!tw)
		return;
	if (tw->dot_open)
		uv_close((uv_handle_t *)&tw->dot, NULL);
	if (tw->doh_open)
		uv_close((uv_handle_t *)&tw->doh, NULL);
	tw->dot_open = tw->doh_open = false;
	while (tw->conns)
		rs__tconn_close(tw->conns);
	rs__dot_up_close_all(w);
}

void rs__tls_worker_fini(struct rs_worker *w)
{
	if (!w->tls)
		return;
	rs__dot_up_free_sessions(w->tls);
	free(w->tls);
	w->tls = NULL;
}
