/*
 * DNS over HTTPS, RFC 8484: GET /dns-query?dns=BASE64URL and POST /dns-query with an
 * application/dns-message body, over HTTP/2 (nghttp2, ALPN "h2") or HTTP/1.1 for clients that
 * ask for it (ALPN "http/1.1" or none). /dns-query/ID names the device (above the SNI's ID).
 *
 * Each request is a stream for the query path (struct rs_stream_ops): it holds a reference on
 * its connection, the protocol holds one on it until the HTTP/2 stream closes (or the HTTP/1.1
 * answer is written), and a waiter holds one while the question is upstream. An answer for a
 * request whose stream is gone is dropped.
 *
 * nghttp2 forbids sending from inside its receive callbacks, so answers made while input is
 * parsed are only submitted there and sent when the parse returns (`in_recv`).
 *
 * HTTP/1.1 requests are parsed one at a time by rs_h1_parse() (rs_h1.c) in one loop, h1_run(),
 * which is never re-entered: an answer made while it runs only marks its request, and the loop
 * writes answers in request order. They are all dispatched at once (a slow question does not
 * hold back the cache hits behind it), up to RS_DOH_MAX_INFLIGHT per connection; beyond that,
 * or with a whole request's worth of bytes buffered, the connection stops reading (rs_dot.c's
 * pipeline_full asks rs__doh_full) until answers drain. HTTP/2 never stops reading (answers
 * wait for the client's WINDOW_UPDATEs): a stream beyond RS_DOH_MAX_INFLIGHT requests alive is
 * refused (RST_STREAM REFUSED_STREAM; nghttp2 itself refuses beyond MAX_CONCURRENT_STREAMS).
 *
 * Memory: a request keeps its path and body only until it is dispatched; while it waits it
 * costs its struct (and its answer, once made, sized to it and freed as soon as it is handed to
 * TLS). Answers made and not yet sent (HTTP/1.1: waiting their turn; HTTP/2: waiting for the
 * client's window) are counted per connection in `held`; with the ciphertext libuv still
 * queues, at RS_DOH_HELD_MAX no new request is taken (HTTP/1.1: parsing and reading stop;
 * HTTP/2: streams that end are queued undispatched, since reading must go on for the
 * WINDOW_UPDATEs that let answers out) until some are sent. Answers go to TLS only while libuv
 * queues under half of RS_TLS_MAX_BUFFERED (write_room); the rest wait, counted, and a
 * completed write (rs__doh_drained) sends them and takes new requests again.
 * Requests waiting for the upstream across all connections and workers, with DoT questions, are
 * bounded by [tls] max_pending: beyond it, 503 (rs__forward asks doh_full, so a block or a cache
 * hit is answered whatever the count).
 *
 * Bounds: request bodies and decoded GET parameters 65535 bytes (413 above), paths
 * DOH_PATH_MAX (414), HTTP/1.1 heads RS_H1_HEAD_MAX (431), RS_DOH_MAX_INFLIGHT requests per
 * connection.
 */

#include "rs_tls_int.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kg_log.h"

#define DOH_PATH_MAX 8192 /* "?dns=" of a 6 KB query fits */
#define DOH_BODY_MAX RS_MAX_MSG
#define DOH_CT       "application/dns-message"
/* HTTP/1.1 input kept unparsed: a whole request, plus one read that arrived meanwhile. */
#define DOH_H1_IN_FULL (RS_H1_HEAD_MAX + RS_H1_BODY_MAX)
#define DOH_H1_IN_MAX  (DOH_H1_IN_FULL + RS_TLS_SCRATCH)

struct doh_req {
	struct doh_req *prev, *next; /* the connection's list */
	struct doh_req *h1_next;     /* HTTP/1.1: the next request to answer; HTTP/2: next queued */
	struct rs_tconn *c;
	int32_t stream_id; /* 0 for HTTP/1.1 */
	int refs;
	int status;       /* the answer's, once answered */
	bool linked;      /* on the connection's list */
	bool stream_open; /* the protocol still waits for an answer */
	bool answered, dispatched, too_big, ct_ok, close_after, queued;
	char method[8];
	char *path;                       /* until dispatched; sized to the request */
	char client_id[RS_CLIENT_ID_MAX]; /* from the path, "" none */
	uint8_t *body; /* request body or decoded GET parameter, until dispatched */
	size_t body_len;
	uint8_t *resp; /* answer body until handed to TLS, counted in rs_doh.held */
	size_t resp_len, resp_off;
};

struct rs_doh {
	nghttp2_session *h2; /* NULL: HTTP/1.1 */
	struct doh_req *reqs;
	bool in_recv;   /* inside nghttp2's receive or h1_run(): answers are only queued */
	bool dead;      /* the connection closed while in_recv: free afterwards */
	bool h1_broken; /* HTTP/1.1: a request was refused; answer what came before it, close */
	struct doh_req *h1_head, *h1_tail; /* HTTP/1.1 requests not yet answered on the wire */
	int h1_n;
	int n_reqs;  /* requests alive: parsed and not yet answered, or still referenced */
	size_t held; /* bytes of answers made and not yet handed to TLS (resp) */
	struct doh_req *h2_q_head, *h2_q_tail; /* HTTP/2: ended streams waiting for held to drop */
	uint8_t *in; /* HTTP/1.1 input: parsed up to in_off, received up to in_len */
	size_t in_off, in_len;
};

static void h2_flush(struct rs_tconn *c);
static void h1_answered(struct rs_tconn *c);
static void doh_release(struct rs_tconn *c);

/* ------------------------------------------------------------------ requests --- */

static struct doh_req *req_new(struct rs_tconn *c, int32_t stream_id)
{
	struct doh_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->c = c;
	r->stream_id = stream_id;
	r->refs = 1; /* the protocol's */
	r->stream_open = true;
	r->linked = true;
	r->next = c->doh->reqs;
	if (r->next)
		r->next->prev = r;
	c->doh->reqs = r;
	c->doh->n_reqs++;
	rs__tconn_ref(c);
	return r;
}

static void req_unlink(struct doh_req *r)
{
	if (!r->linked)
		return;
	r->linked = false;
	r->c->doh->n_reqs--;
	if (r->prev)
		r->prev->next = r->next;
	else
		r->c->doh->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

/* The answer went to TLS (or will never go): it no longer counts against RS_DOH_HELD_MAX. */
static void resp_drop(struct doh_req *r)
{
	if (!r->resp)
		return;
	if (r->c->doh)
		r->c->doh->held -= r->resp_len;
	free(r->resp);
	r->resp = NULL;
}

/* RS_DOH_HELD_MAX: answers not yet on the wire, made or queued by libuv. */
static bool backlogged(const struct rs_tconn *c)
{
	return c->doh->held + rs__tls_io_queued(&c->io) >= RS_DOH_HELD_MAX;
}

/* An answer (at most 64 KiB and its head) may go to TLS without reaching RS_TLS_MAX_BUFFERED,
 * where a peer is dropped as one that does not read. */
static bool write_room(const struct rs_tconn *c)
{
	return rs__tls_io_queued(&c->io) < RS_TLS_MAX_BUFFERED / 2;
}

static void req_unref(struct doh_req *r)
{
	struct rs_tconn *c = r->c;

	if (--r->refs > 0)
		return;
	req_unlink(r);
	free(r->path);
	free(r->body);
	resp_drop(r);
	free(r);
	rs__tconn_unref(c);
}

/* A waiter's reference: the request waits upstream, counted against [tls] max_pending. */
static void doh_ref(void *arg)
{
	struct doh_req *r = arg;

	rs__tls_pending_add(r->c->w, 1);
	r->refs++;
}

static void doh_unref(void *arg)
{
	struct doh_req *r = arg;

	rs__tls_pending_add(r->c->w, -1);
	req_unref(r);
}

/* [tls] max_pending, asked by rs__forward only for a question that would wait upstream. */
static bool doh_full(void *arg)
{
	return rs__tls_pending_full(((struct doh_req *)arg)->c->w);
}

static const char *doh_client_id(void *arg)
{
	struct doh_req *r = arg;

	if (r->client_id[0])
		return r->client_id;
	return r->c->client_id[0] ? r->c->client_id : NULL;
}

/* ------------------------------------------------------------------ answers --- */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Not Implemented";
	}
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct doh_req *r = src->ptr;
	size_t n = r->resp_len - r->resp_off;

	if (n > length)
		n = length;
	memcpy(buf, r->resp + r->resp_off, n);
	r->resp_off += n;
	if (r->resp_off == r->resp_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		resp_drop(r); /* nghttp2 copied it into its frame */
	}
	return (ssize_t)n;
}

#define NV(n, v, vl)                                                                               \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE          \
	}

static void h2_respond(struct doh_req *r, int status)
{
	struct rs_tconn *c = r->c;
	char st[8], cl[24];
	nghttp2_data_provider prd = {.source.ptr = r, .read_callback = h2_read_body};

	snprintf(st, sizeof(st), "%d", status);
	snprintf(cl, sizeof(cl), "%zu", r->resp_len);
	nghttp2_nv hdrs[] = {
	    NV(":status", st, strlen(st)),
	    NV("content-type", DOH_CT, sizeof(DOH_CT) - 1),
	    NV("content-length", cl, strlen(cl)),
	};
	size_t n = status == 200 ? 3 : 1;

	if (nghttp2_submit_response(c->doh->h2, r->stream_id, hdrs, n, r->resp_len ? &prd : NULL) !=
	    0)
		rs__tconn_close(c);
}

/* Write an HTTP/1.1 answer whose turn has come. Returns 0, or negative: close. */
static int h1_write(struct rs_tconn *c, const struct doh_req *r)
{
	char head[256];
	uint8_t *out;
	int n, rc;

	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
	             r->status, status_text(r->status), r->status == 200 ? DOH_CT : "text/plain",
	             r->resp_len,
	             r->close_after || r->status != 200 ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return RS_EIO;
	out = malloc((size_t)n + r->resp_len);
	if (!out)
		return RS_ENOMEM;
	memcpy(out, head, (size_t)n);
	if (r->resp_len)
		memcpy(out + n, r->resp, r->resp_len);
	rc = rs__tconn_write(c, out, (size_t)n + r->resp_len);
	free(out);
	if (rc == 0 && (r->close_after || r->status != 200))
		rc = RS_EIO; /* said "Connection: close" */
	return rc;
}

/*
 * Send what is due: after an answer was made, or a queued write completed. Inside a read or
 * h1_run (in_recv) the running loop does it instead. Sending lets go of requests, which may
 * drop the connection below its pipeline limit; the read that rs__tconn_unref() would then
 * start must wait until we are done here, so it is held off (in_process) and started by our
 * own last unref instead.
 */
static void send_due(struct rs_tconn *c)
{
	bool was;

	rs__tconn_ref(c);
	was = c->in_process;
	c->in_process = true;
	if (!c->doh->h2)
		h1_answered(c);
	else if (!c->doh->in_recv)
		h2_flush(c);
	c->in_process = was;
	rs__tconn_unref(c);
}

void rs__doh_drained(struct rs_tconn *c)
{
	if (c->doh && !c->closing)
		send_due(c);
}

static void respond(struct doh_req *r, int status, const uint8_t *body, size_t len)
{
	struct rs_tconn *c = r->c;

	if (r->answered || !r->stream_open || c->closing)
		return;
	r->answered = true;
	r->status = status;
	if (len) {
		r->resp = malloc(len);
		if (!r->resp) {
			rs__tconn_close(c);
			return;
		}
		memcpy(r->resp, body, len);
		c->doh->held += len;
	}
	r->resp_len = len;
	if (c->doh->h2)
		h2_respond(r, status);
	if (!c->closing)
		send_due(c);
}

static void doh_send(void *arg, const uint8_t *msg, size_t len)
{
	respond(arg, 200, msg, len);
}

static void doh_busy(void *arg)
{
	respond(arg, 503, NULL, 0);
}

static const struct rs_stream_ops doh_ops = {
    .transport = RS_TRANSPORT_DOH,
    .send = doh_send,
    .ref = doh_ref,
    .unref = doh_unref,
    .client_id = doh_client_id,
    .full = doh_full,
    .busy = doh_busy,
};

/* ------------------------------------------------------------------ requests in --- */

int rs__base64url_decode(const char *in, size_t len, uint8_t *out, size_t max)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	while (len > 0 && in[len - 1] == '=')
		len--; /* tolerate padding, which RFC 8484 says to leave out */
	for (size_t i = 0; i < len; i++) {
		int v, ch = (unsigned char)in[i];
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '-')
			v = 62;
		else if (ch == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return bits >= 6 ? -1 : (int)n; /* a lone 6-bit tail is not a whole byte */
}

/* The value of parameter `dns` in a query string, or NULL. */
static const char *dns_param(const char *q, size_t *len)
{
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		if (n >= 4 && strncmp(q, "dns=", 4) == 0) {
			*len = n - 4;
			return q + 4;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* "/dns-query", "/dns-query/ID", each with an optional "?query". 0 or an HTTP status. */
static int parse_path(struct doh_req *r, const char **query)
{
	const char *p = r->path, *q;
	size_t n;

	if (strncmp(p, "/dns-query", 10) != 0)
		return 404;
	p += 10;
	q = strchr(p, '?');
	*query = q ? q + 1 : NULL;
	n = q ? (size_t)(q - p) : strlen(p);
	if (n == 0 || (n == 1 && *p == '/'))
		return 0;
	if (*p != '/' || n - 1 >= RS_CLIENT_ID_MAX)
		return 404;
	for (size_t i = 0; i < n - 1; i++)
		r->client_id[i] = (char)tolower((unsigned char)p[1 + i]);
	r->client_id[n - 1] = '\0';
	return rs_client_id_valid(r->client_id) ? 0 : 404;
}

/* Check the request and fill r->body with the DNS message. 0 or an HTTP status. */
static int request_message(struct doh_req *r)
{
	const char *query, *b64;
	size_t len, max;
	int st, n;

	if (!r->path)
		return 400;
	st = parse_path(r, &query);

	if (st)
		return st;
	if (strcmp(r->method, "POST") == 0) {
		if (!r->ct_ok)
			return 415;
		return r->body_len >= RS_HDR_LEN ? 0 : 400;
	}
	if (strcmp(r->method, "GET") != 0)
		return 405;
	if (!(b64 = dns_param(query, &len)))
		return 400;
	/* Sized to the parameter: 4 characters carry 3 bytes. */
	max = len / 4 * 3 + 3;
	if (max > DOH_BODY_MAX)
		max = DOH_BODY_MAX;
	free(r->body);
	r->body = malloc(max);
	if (!r->body)
		return 413;
	n = rs__base64url_decode(b64, len, r->body, max);
	if (n < RS_HDR_LEN)
		return 400;
	r->body_len = (size_t)n;
	return 0;
}

static void dispatch(struct doh_req *r)
{
	struct rs_tconn *c = r->c;
	int st = 0;

	if (r->dispatched || r->answered)
		return;
	r->dispatched = true;
	if (r->too_big || (st = request_message(r))) {
		respond(r, r->too_big ? 413 : st, NULL, 0);
		return;
	}
	r->refs++; /* the query path may answer and the stream close under us */
	rs__handle_query(c->w, r->body, r->body_len, NULL, (const struct sockaddr *)&c->peer.ss,
	                 &doh_ops, r);
	/* The query path took what it needs: a waiting request keeps no request bytes. */
	free(r->body);
	free(r->path);
	r->body = NULL;
	r->path = NULL;
	r->body_len = 0;
	/* Dropped without an answer and nobody waiting upstream: tell the client. */
	if (!r->answered && r->refs == 2)
		respond(r, 400, NULL, 0);
	req_unref(r);
}

static int body_append(struct doh_req *r, const uint8_t *data, size_t len)
{
	uint8_t *n;

	if (r->too_big || r->body_len + len > DOH_BODY_MAX) {
		r->too_big = true;
		return -1;
	}
	n = realloc(r->body, r->body_len + len);
	if (!n)
		return -1;
	memcpy(n + r->body_len, data, len);
	r->body = n;
	r->body_len += len;
	return 0;
}

/* ------------------------------------------------------------------ HTTP/2 --- */

static struct doh_req *stream_req(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct rs_tconn *c = user;
	struct doh_req *r;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	/* nghttp2 refuses streams beyond MAX_CONCURRENT_STREAMS, but a reset stream leaves its
	 * request waiting upstream: bound those too, the way HTTP/2 says "retry later". */
	if (c->doh->n_reqs >= RS_DOH_MAX_INFLIGHT) {
		if (nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
		                              NGHTTP2_REFUSED_STREAM) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		return 0;
	}
	if (!(r = req_new(c, f->hd.stream_id)))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	struct doh_req *r = stream_req(s, f->hd.stream_id);

	if (!r || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		snprintf(r->method, sizeof(r->method), "%.*s", (int)valuelen, (const char *)value);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		if (valuelen >= DOH_PATH_MAX || r->path)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (!(r->path = malloc(valuelen + 1)))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		memcpy(r->path, value, valuelen);
		r->path[valuelen] = '\0';
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		r->ct_ok = valuelen == sizeof(DOH_CT) - 1 &&
		           strncasecmp((const char *)value, DOH_CT, valuelen) == 0;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
	struct doh_req *r = stream_req(s, id);

	if (r && body_append(r, data, len) < 0 && r->too_big)
		respond(r, 413, NULL, 0); /* the rest of the body is read and ignored */
	return 0;
}

/* A stream ended while the connection holds RS_DOH_HELD_MAX of answers: it waits, with a
 * reference, and h2_flush() dispatches it once answers went out. */
static void h2_queue(struct rs_doh *d, struct doh_req *r)
{
	r->queued = true;
	r->refs++;
	r->h1_next = NULL;
	if (d->h2_q_tail)
		d->h2_q_tail->h1_next = r;
	else
		d->h2_q_head = r;
	d->h2_q_tail = r;
}

static struct doh_req *h2_unqueue(struct rs_doh *d)
{
	struct doh_req *r = d->h2_q_head;

	if (r) {
		d->h2_q_head = r->h1_next;
		if (!d->h2_q_head)
			d->h2_q_tail = NULL;
		r->queued = false;
	}
	return r;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct rs_tconn *c = user;
	struct doh_req *r;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || !(r = stream_req(s, f->hd.stream_id)))
		return 0;
	/* Behind queued ones too, so that they keep their order. */
	if (backlogged(c) || c->doh->h2_q_head)
		h2_queue(c->doh, r);
	else
		dispatch(r);
	return 0;
}

/* Dispatch queued streams while answers held allow; called outside nghttp2's callbacks, with
 * in_recv set so that answers are only submitted. */
static void h2_dispatch_queued(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	struct doh_req *r;

	while (!c->closing && !backlogged(c) && (r = h2_unqueue(d))) {
		if (r->stream_open)
			dispatch(r);
		req_unref(r); /* the queue's */
	}
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *user)
{
	struct doh_req *r = stream_req(s, id);

	if (r && r->stream_open) {
		r->stream_open = false;
		nghttp2_session_set_stream_user_data(s, id, NULL);
		req_unref(r);
	}
	return 0;
}

static void h2_flush(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	const uint8_t *data;
	ssize_t n = 0;

	for (;;) {
		while (!c->closing && write_room(c) &&
		       (n = nghttp2_session_mem_send(d->h2, &data)) > 0)
			if (rs__tconn_write(c, data, (size_t)n) < 0)
				return;
		if (c->closing || n < 0 || backlogged(c) || !d->h2_q_head)
			break;
		/* Answers went out: streams queued at the bound may go now. Answers they make are
		 * submitted only (in_recv) and sent by the next turn, not by a nested flush. */
		d->in_recv = true;
		h2_dispatch_queued(c);
		d->in_recv = false;
		if (d->dead) {
			doh_release(c);
			return;
		}
	}
	if (c->closing)
		return;
	if (n < 0 ||
	    (!nghttp2_session_want_read(c->doh->h2) && !nghttp2_session_want_write(c->doh->h2)))
		rs__tconn_close(c); /* GOAWAY sent and received, or a fatal error */
}

static int h2_start(struct rs_tconn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry set[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, RS_DOH_MAX_INFLIGHT},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, DOH_PATH_MAX + 4096},
	};
	int rc;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return RS_ENOMEM;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return RS_ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	/* Headers are compressed against a table we must keep: keep it small. */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	rc = nghttp2_session_server_new2(&c->doh->h2, cb, c, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rc != 0)
		return RS_ENOMEM;
	if (nghttp2_submit_settings(c->doh->h2, NGHTTP2_FLAG_NONE, set, 2) != 0)
		return RS_EIO;
	h2_flush(c);
	return c->closing ? RS_EIO : 0;
}

/* ------------------------------------------------------------------ HTTP/1.1 --- */

static void h1_enqueue(struct rs_doh *d, struct doh_req *r)
{
	if (d->h1_tail)
		d->h1_tail->h1_next = r;
	else
		d->h1_head = r;
	d->h1_tail = r;
	d->h1_n++;
}

/* Write the answers whose turn has come, in request order. Returns 0, or negative: close. */
static int h1_flush(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	struct doh_req *r;
	int rc = 0;

	while (rc == 0 && !c->closing && write_room(c) && (r = d->h1_head) && r->answered) {
		d->h1_head = r->h1_next;
		if (!d->h1_head)
			d->h1_tail = NULL;
		d->h1_n--;
		rc = h1_write(c, r);
		resp_drop(r);
		r->stream_open = false;
		req_unref(r); /* the protocol's reference */
	}
	return rc;
}

/* A request rs_h1_parse() took: the parts we keep, then the query path. */
static int h1_request(struct rs_tconn *c, const struct rs_h1_req *hr)
{
	struct doh_req *r = req_new(c, 0);

	if (!r)
		return RS_ENOMEM;
	h1_enqueue(c->doh, r);
	r->ct_ok = hr->ct_dns;
	r->close_after = hr->close;
	if (hr->method_len < sizeof(r->method))
		memcpy(r->method, hr->method, hr->method_len);
	if (hr->target_len >= DOH_PATH_MAX) {
		respond(r, 414, NULL, 0);
		return 0;
	}
	if (!(r->path = malloc(hr->target_len + 1)) ||
	    (hr->body_len && body_append(r, hr->body, hr->body_len) < 0)) {
		respond(r, 413, NULL, 0);
		return 0;
	}
	memcpy(r->path, hr->target, hr->target_len);
	r->path[hr->target_len] = '\0';
	dispatch(r);
	return 0;
}

/* The client sent what we will not parse: answer it in its turn, then close. */
static int h1_refuse(struct rs_tconn *c, int status)
{
	struct doh_req *r = req_new(c, 0);

	if (!r)
		return RS_ENOMEM;
	h1_enqueue(c->doh, r);
	c->doh->h1_broken = true;
	respond(r, status, NULL, 0);
	return 0;
}

/*
 * The one loop of an HTTP/1.1 connection: write what is due, take the next request, until the
 * input runs out or the pipeline is full. Called with in_recv set, so that answers made in it
 * (a cache hit, a block) only mark their request; this loop writes them. Returns 0, or
 * negative: close.
 */
static int h1_run(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	struct rs_h1_req hr;
	int rc = 0, n;

	while (rc == 0 && (rc = h1_flush(c)) == 0 && !c->closing) {
		if (d->h1_broken || d->h1_n >= RS_DOH_MAX_INFLIGHT || backlogged(c) ||
		    d->in_off == d->in_len)
			break;
		n = rs_h1_parse(d->in + d->in_off, d->in_len - d->in_off, &hr);
		if (n == 0)
			break;
		if (n < 0) {
			rc = h1_refuse(c, -n);
			continue;
		}
		/* hr points into d->in, which only h1_input changes, and not while we run. */
		d->in_off += (size_t)n;
		rc = h1_request(c, &hr);
	}
	if (c->closing)
		return 0;
	if (d->in_off == d->in_len) {
		/* An idle connection keeps no input buffer. */
		free(d->in);
		d->in = NULL;
		d->in_off = d->in_len = 0;
	} else if (d->in_off) {
		memmove(d->in, d->in + d->in_off, d->in_len - d->in_off);
		d->in_len -= d->in_off;
		d->in_off = 0;
	}
	return rc;
}

/* An answer was made outside h1_run: run it now (inside, the loop writes it). */
static void h1_answered(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	int rc;

	if (d->in_recv)
		return;
	d->in_recv = true;
	rc = h1_run(c);
	d->in_recv = false;
	if (d->dead)
		doh_release(c);
	else if (rc < 0)
		rs__tconn_close(c);
}

static int h1_input(struct rs_tconn *c, const uint8_t *data, size_t len)
{
	struct rs_doh *d = c->doh;
	uint8_t *n;

	if (d->h1_broken)
		return 0; /* closing after the answers due: the rest is not read */
	/* rs__doh_full() stops reading at DOH_H1_IN_FULL; this is one read past it. */
	if (d->in_len + len > DOH_H1_IN_MAX)
		return RS_ENOSPC;
	n = realloc(d->in, d->in_len + len);
	if (!n)
		return RS_ENOMEM;
	memcpy(n + d->in_len, data, len);
	d->in = n;
	d->in_len += len;
	return h1_run(c);
}

bool rs__doh_full(const struct rs_tconn *c)
{
	const struct rs_doh *d = c->doh;

	if (!d)
		return false;
	/* HTTP/2 reads on: the WINDOW_UPDATEs that let held answers out come that way, and
	 * on_begin_headers refuses streams beyond RS_DOH_MAX_INFLIGHT requests. */
	if (d->h2)
		return false;
	return d->n_reqs >= RS_DOH_MAX_INFLIGHT || d->h1_broken || d->h1_n >= RS_DOH_MAX_INFLIGHT ||
	       backlogged(c) || d->in_len - d->in_off >= DOH_H1_IN_FULL;
}

/* ------------------------------------------------------------------ connection --- */

int rs__doh_start(struct rs_tconn *c)
{
	char alpn[16];

	c->doh = calloc(1, sizeof(*c->doh));
	if (!c->doh)
		return RS_ENOMEM;
	if (strcmp(rs__tls_alpn(&c->io, alpn, sizeof(alpn)), "h2") == 0)
		return h2_start(c);
	return 0;
}

static void doh_release(struct rs_tconn *c)
{
	struct rs_doh *d = c->doh;
	struct doh_req *r;

	/* The session goes first, in case it still reports closing streams; then every request
	 * lets go of the protocol's reference (waiters keep theirs). */
	nghttp2_session_del(d->h2);
	d->h2 = NULL;
	while ((r = h2_unqueue(d)))
		req_unref(r); /* the queue's */
	while ((r = d->reqs)) {
		req_unlink(r);
		if (r->stream_open) {
			r->stream_open = false;
			req_unref(r);
		}
	}
	free(d->in);
	free(d);
	c->doh = NULL;
}

int rs__doh_input(struct rs_tconn *c, const uint8_t *data, size_t len)
{
	struct rs_doh *d = c->doh;
	ssize_t n = 0;
	int rc = 0;

	if (!d)
		return RS_EIO;
	if (d->in_recv)
		return RS_EIO; /* never: reads wait while we run (in_process) */
	d->in_recv = true;
	if (d->h2) {
		n = nghttp2_session_mem_recv(d->h2, data, len);
		if (n < 0) {
			log_debug("doh: HTTP/2 error from client: %s", nghttp2_strerror((int)n));
			/* Tell the client why (GOAWAY) before closing. */
			nghttp2_session_terminate_session(d->h2, NGHTTP2_PROTOCOL_ERROR);
			rc = RS_EIO;
		}
	} else {
		rc = h1_input(c, data, len);
	}
	d->in_recv = false;
	if (d->dead) {
		doh_release(c);
		return RS_EIO;
	}
	if (d->h2)
		h2_flush(c);
	return c->closing ? 0 : rc;
}

void rs__doh_free(struct rs_tconn *c)
{
	if (!c->doh)
		return;
	if (c->doh->in_recv) {
		c->doh->dead = true; /* nghttp2 is on the stack: free when it returns */
		return;
	}
	doh_release(c);
}
