/*
 * DNS over TLS to upstreams ([upstream] servers = tls://ADDR@PORT#NAME).
 *
 * Each worker keeps one persistent TLS connection per DoT upstream and multiplexes every
 * question for it over that connection (RFC 7766 pipelining), matching answers by message ID:
 * IDs are random and unique among the connection's questions in flight. The certificate must
 * chain to the system's CAs (or [upstream] tls_ca_file) and name NAME (or carry ADDR when no
 * NAME is given); a connection that fails verification fails its questions, which rs_forward.c
 * then retries at the next configured upstream — never in clear text at this one.
 *
 * A connection that breaks fails every question it carried; the next question opens a new one,
 * resuming the previous TLS session when the server allows. Questions sent before the
 * handshake completes wait in a bounded queue. A connection carries at most
 * RS_DOT_UP_MAX_INFLIGHT questions: at that point it is retired (it takes no new question,
 * answers the ones it has, and closes when they are done) and a new one is opened; past
 * RS_DOT_UP_MAX_RETIRED retired connections per worker, a question fails at this upstream.
 *
 * A question's try is an rs_dot_query, owned by its connection and pointed to by p->dot; it is
 * freed when answered, cancelled (retry, finish) or failed with its connection.
 */
#include "rs_tls_int.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

#define UP_BACKOFF_MIN_MS 250
#define UP_BACKOFF_MAX_MS 30000

struct rs_dot_query {
	struct rs_dot_query *next;
	struct rs_dot_up *u;
	struct rs_pending *p;
	uint16_t id;
};

struct rs_dot_up {
	uv_tcp_t h;
	uv_timer_t timer; /* connect + handshake deadline */
	uv_connect_t creq;
	struct rs_worker *w;
	int idx;
	struct kg_sockaddr addr;
	char name[RS_TLS_NAME_MAX];
	struct rs_tls_io io;
	bool io_ok, connected, established, dead, retired;
	struct rs_dot_up *rnext; /* on tw->up_retired */
	int handles_open;
	struct rs_dot_query *bucket[RS_DOT_UP_BUCKETS];
	int n_inflight;
	uint8_t *queue; /* framed queries waiting for the handshake */
	size_t queue_len;
	uint8_t *in; /* plaintext answers being framed */
	size_t in_len, in_cap;
};

static void up_closed(uv_handle_t *h)
{
	struct rs_dot_up *u = h->data;

	if (--u->handles_open > 0)
		return;
	if (u->io_ok)
		rs__tls_io_free(&u->io);
	free(u->queue);
	free(u->in);
	free(u);
}

static struct rs_dot_query **slot_of(struct rs_dot_up *u, uint16_t id)
{
	return &u->bucket[id % RS_DOT_UP_BUCKETS];
}

static void up_fail(struct rs_dot_up *u, const char *why);

static struct rs_dot_query *take(struct rs_dot_up *u, uint16_t id)
{
	struct rs_dot_query **pp = slot_of(u, id), *q;

	while ((q = *pp) && q->id != id)
		pp = &q->next;
	if (q) {
		*pp = q->next;
		u->n_inflight--;
		q->p->dot = NULL;
		/* A retired connection has done its work with its last question. up_fail only
		 * schedules the close: `u` stays valid for the caller until the loop turns. */
		if (u->retired && u->n_inflight == 0)
			up_fail(u, NULL);
	}
	return q;
}

static void retired_unlink(struct rs_dot_up *u)
{
	struct rs_tls_worker *tw = u->w->tls;
	struct rs_dot_up **pp = &tw->up_retired;

	while (*pp && *pp != u)
		pp = &(*pp)->rnext;
	if (*pp) {
		*pp = u->rnext;
		tw->n_up_retired--;
	}
}

/* The connection is broken: take it out of service, then fail what it carried (each failure
 * may start a new try, even on a new connection to this upstream). */
static void up_fail(struct rs_dot_up *u, const char *why)
{
	struct rs_tls_worker *tw = u->w->tls;
	char a[KG_ADDRSTRLEN];

	if (u->dead)
		return;
	u->dead = true;
	if (u->retired)
		retired_unlink(u);
	if (tw->up[u->idx] == u) {
		tw->up[u->idx] = NULL;
		/* A server that cannot be reached or verified is not asked again at once: the
		 * questions meanwhile go to the other upstreams, or fail (never to clear text). */
		if (!u->established && why) {
			uint32_t *b = &tw->up_backoff_ms[u->idx];
			*b = *b ? (*b * 2 > UP_BACKOFF_MAX_MS ? UP_BACKOFF_MAX_MS : *b * 2)
			        : UP_BACKOFF_MIN_MS;
			tw->up_retry_at[u->idx] = uv_now(&u->w->loop) + *b;
		}
	}
	/* Backed off per upstream, but every worker reconnects: rate limited. */
	if (why)
		log_every(10, KG_LOG_WARN, "DoT upstream %s (%s): %s",
		          kg_sockaddr_str((const struct sockaddr *)&u->addr.ss, a, sizeof(a)),
		          u->name[0] ? u->name : "no name", why);
	uv_close((uv_handle_t *)&u->h, up_closed);
	uv_close((uv_handle_t *)&u->timer, up_closed);
	for (int b = 0; b < RS_DOT_UP_BUCKETS; b++) {
		struct rs_dot_query *q;
		while ((q = u->bucket[b])) {
			struct rs_pending *p = q->p;
			take(u, q->id);
			free(q);
			rs__forward_try_failed(p);
		}
	}
}

void rs__dot_upstream_cancel(struct rs_pending *p)
{
	struct rs_dot_query *q = p->dot;

	if (q)
		free(take(q->u, q->id));
}

void rs__dot_up_store_session(void *owner, SSL_SESSION *sess)
{
	struct rs_dot_up *u = owner;
	struct rs_tls_worker *tw = u->w->tls;

	SSL_SESSION_free(tw->up_sess[u->idx]);
	tw->up_sess[u->idx] = sess;
	tw->up_sess_addr[u->idx] = u->addr;
}

void rs__dot_up_free_sessions(struct rs_tls_worker *tw)
{
	for (int i = 0; i < RS_MAX_UPSTREAMS; i++) {
		SSL_SESSION_free(tw->up_sess[i]);
		tw->up_sess[i] = NULL;
	}
}

static void on_answers(struct rs_dot_up *u)
{
	size_t off = 0;

	/* Each complete frame goes to the question with its ID; unknown IDs (a late answer to a
	 * cancelled try) are dropped. */
	while (!u->dead && u->in_len - off >= 2) {
		size_t len = (size_t)((u->in[off] << 8) | u->in[off + 1]);
		struct rs_dot_query *q;
		if (u->in_len - off < 2 + len)
			break;
		if (len >= RS_HDR_LEN &&
		    (q = take(u, (uint16_t)((u->in[off + 2] << 8) | u->in[off + 3])))) {
			struct rs_pending *p = q->p;
			free(q);
			rs__forward_answer(p, u->in + off + 2, len);
		}
		off += 2 + len;
	}
	if (off && !u->dead) {
		memmove(u->in, u->in + off, u->in_len - off);
		u->in_len -= off;
	}
}

static int read_records(struct rs_dot_up *u)
{
	int n;

	while (!u->dead) {
		if (u->in_cap < RS_MAX_MSG + 2) {
			uint8_t *b = realloc(u->in, RS_MAX_MSG + 2);
			if (!b)
				return RS_ENOMEM;
			u->in = b;
			u->in_cap = RS_MAX_MSG + 2;
		}
		n = rs__tls_io_read(&u->io, u->in + u->in_len, u->in_cap - u->in_len);
		if (n <= 0)
			return n;
		u->in_len += (size_t)n;
		on_answers(u);
	}
	return 0;
}

static void verify_failed(struct rs_dot_up *u)
{
	long v = SSL_get_verify_result(u->io.ssl);
	char why[256];

	snprintf(why, sizeof(why), "TLS handshake failed%s%s", v != X509_V_OK ? ": " : "",
	         v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	up_fail(u, why);
}

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_dot_up *u = h->data;

	buf->base = (char *)u->w->tls->scratch;
	buf->len = RS_TLS_SCRATCH;
}

static void up_step(struct rs_dot_up *u)
{
	int rc;

	if (!u->established) {
		rc = rs__tls_io_handshake(&u->io);
		if (rc < 0) {
			verify_failed(u);
			return;
		}
		if (rc == 0)
			return;
		u->established = true;
		u->w->tls->up_backoff_ms[u->idx] = 0;
		uv_timer_stop(&u->timer);
		if (u->queue_len && rs__tls_io_write(&u->io, u->queue, u->queue_len) < 0) {
			up_fail(u, "write failed");
			return;
		}
		u->queue_len = 0;
	}
	rc = read_records(u);
	if (!u->dead && (rc < 0 || rs__tls_io_flush(&u->io) < 0))
		up_fail(u, rc < 0 ? "connection closed" : "write failed");
}

static void up_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rs_dot_up *u = s->data;

	if (u->dead)
		return;
	if (nread < 0) {
		up_fail(u, nread == UV_EOF ? NULL : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	if (rs__tls_io_feed(&u->io, buf->base, (size_t)nread) < 0) {
		up_fail(u, "out of memory");
		return;
	}
	up_step(u);
}

static void up_on_connect(uv_connect_t *req, int status)
{
	struct rs_dot_up *u = req->data;

	if (u->dead)
		return;
	if (status < 0) {
		up_fail(u, uv_strerror(status));
		return;
	}
	u->connected = true;
	uv_tcp_nodelay(&u->h, 1);
	if (uv_read_start((uv_stream_t *)&u->h, up_alloc, up_on_read) < 0) {
		up_fail(u, "read failed");
		return;
	}
	up_step(u); /* the ClientHello */
}

static void up_on_timeout(uv_timer_t *t)
{
	up_fail(t->data, "connect or handshake timed out");
}

/* Name or address verification, SNI, and the previous session when it is for this server. */
static int up_tls_setup(struct rs_dot_up *u)
{
	struct rs_tls_worker *tw = u->w->tls;
	SSL *ssl = u->io.ssl;
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&u->addr.ss;

	if (u->name[0]) {
		if (SSL_set_tlsext_host_name(ssl, u->name) != 1 || SSL_set1_host(ssl, u->name) != 1)
			return RS_EINVAL;
	} else {
		const void *bin = sa->sa_family == AF_INET6
		                      ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		                      : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
		if (!inet_ntop(sa->sa_family, bin, ip, sizeof(ip)) ||
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1)
			return RS_EINVAL;
	}
	if (tw->up_sess[u->idx] &&
	    memcmp(&tw->up_sess_addr[u->idx], &u->addr, sizeof(u->addr)) == 0)
		SSL_set_session(ssl, tw->up_sess[u->idx]);
	return 0;
}

static struct rs_dot_up *up_open(struct rs_worker *w, int idx)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_dot_up *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->w = w;
	u->idx = idx;
	u->addr = cfg->upstream[idx];
	snprintf(u->name, sizeof(u->name), "%s", cfg->upstream_tls_name[idx]);
	uv_tcp_init(&w->loop, &u->h);
	uv_timer_init(&w->loop, &u->timer);
	u->h.data = u->timer.data = u->creq.data = u;
	u->handles_open = 2;
	w->tls->up[idx] = u;
	if (rs__tls_io_init(&u->io, w->srv->tls, false, (uv_stream_t *)&u->h, w->tls->scratch) <
	    0) {
		up_fail(u, "out of memory");
		return NULL;
	}
	u->io_ok = true;
	u->io.owner = u;
	if (up_tls_setup(u) < 0 ||
	    uv_tcp_connect(&u->creq, &u->h, (const struct sockaddr *)&u->addr.ss, up_on_connect) <
	        0) {
		up_fail(u, "cannot connect");
		return NULL;
	}
	uv_timer_start(&u->timer, up_on_timeout, (uint64_t)cfg->upstream_timeout_ms, 0);
	return u;
}

/* A full connection stops taking questions; it closes when its last one is done (take). */
static int up_retire(struct rs_dot_up *u)
{
	struct rs_tls_worker *tw = u->w->tls;

	if (tw->n_up_retired >= RS_DOT_UP_MAX_RETIRED)
		return RS_ENOSPC;
	tw->up[u->idx] = NULL;
	u->retired = true;
	u->rnext = tw->up_retired;
	tw->up_retired = u;
	tw->n_up_retired++;
	log_debug("DoT upstream %d: %d questions in flight on one connection, opening another",
	          u->idx, u->n_inflight);
	return 0;
}

/* The live connection for upstream `idx`, opening one when there is none, when the config now
 * names another server at that index, or when the current one is full. */
static struct rs_dot_up *up_get(struct rs_worker *w, int idx)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_dot_up *u = w->tls->up[idx];

	if (u && (memcmp(&u->addr, &cfg->upstream[idx], sizeof(u->addr)) != 0 ||
	          strcmp(u->name, cfg->upstream_tls_name[idx]) != 0))
		up_fail(u, "reconfigured");
	u = w->tls->up[idx];
	if (u && u->n_inflight >= RS_DOT_UP_MAX_INFLIGHT && up_retire(u) < 0)
		return NULL; /* too many connections to this upstream already finishing */
	u = w->tls->up[idx];
	if (!u && uv_now(&w->loop) < w->tls->up_retry_at[idx])
		return NULL; /* backing off after a failed connection */
	return u ? u : up_open(w, idx);
}

static bool id_in_use(struct rs_dot_up *u, uint16_t id)
{
	struct rs_dot_query *q = *slot_of(u, id);

	while (q && q->id != id)
		q = q->next;
	return q != NULL;
}

/*
 * A random ID no question in flight on `u` uses. Fewer than RS_DOT_UP_MAX_INFLIGHT (1/16 of the
 * ID space) are in use, so a random pick is free with odds above 15/16 and a few picks almost
 * always do; should they all miss, a walk from the last pick ends at a free ID for sure.
 */
static int unique_id(struct rs_worker *w, struct rs_dot_up *u, uint16_t *out)
{
	uint16_t id = 0;

	for (int i = 0; i < 8; i++) {
		id = (uint16_t)rs__random32(w);
		if (!id_in_use(u, id)) {
			*out = id;
			return 0;
		}
	}
	for (uint32_t n = 0; n < 65536; n++, id++) {
		if (!id_in_use(u, id)) {
			*out = id;
			return 0;
		}
	}
	return RS_ENOSPC;
}

static int queue_query(struct rs_dot_up *u, const uint8_t *frame, size_t len)
{
	uint8_t *n;

	if (u->queue_len + len > RS_DOT_UP_MAX_QUEUE)
		return RS_ENOSPC;
	n = realloc(u->queue, u->queue_len + len);
	if (!n)
		return RS_ENOMEM;
	memcpy(n + u->queue_len, frame, len);
	u->queue = n;
	u->queue_len += len;
	return 0;
}

int rs__dot_upstream_send(struct rs_pending *p)
{
	struct rs_worker *w = p->w;
	struct rs_dot_up *u;
	struct rs_dot_query *q;
	uint8_t frame[2 + RS_HDR_LEN + RS_MAX_NAME + 4 + 11];
	size_t len;
	int rc;

	if (!w->tls || !(u = up_get(w, p->upstream)))
		return RS_EIO;
	if (!(q = calloc(1, sizeof(*q))))
		return RS_ENOMEM;
	if (unique_id(w, u, &q->id) < 0) {
		free(q);
		return RS_ENOSPC;
	}
	len = rs_build_upstream_query(&p->q, q->id, frame + 2, sizeof(frame) - 2);
	frame[0] = (uint8_t)(len >> 8);
	frame[1] = (uint8_t)len;
	rc = len == 0         ? RS_ENOSPC
	     : u->established ? rs__tls_io_write(&u->io, frame, len + 2)
	                      : queue_query(u, frame, len + 2);
	if (rc < 0) {
		free(q);
		if (u->established)
			up_fail(u, "write failed");
		return rc;
	}
	q->u = u;
	q->p = p;
	q->next = *slot_of(u, q->id);
	*slot_of(u, q->id) = q;
	u->n_inflight++;
	p->dot = q;
	p->id = q->id;
	p->sent_at = uv_now(&w->loop);
	RS_INC(w, upstream_queries);
	return 0;
}

void rs__dot_up_close_all(struct rs_worker *w)
{
	for (int i = 0; i < RS_MAX_UPSTREAMS; i++)
		if (w->tls->up[i])
			up_fail(w->tls->up[i], NULL);
	while (w->tls->up_retired)
		up_fail(w->tls->up_retired, NULL);
}
