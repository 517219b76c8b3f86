/*
 * DNS over TLS and HTTPS, shared by rs_tls.c (contexts, certificates, the memory-BIO engine),
 * rs_dot.c (client connections: accept, handshake, RFC 7858 framing), rs_doh.c (RFC 8484 over
 * HTTP/2 and HTTP/1.1) and rs_upstream_tls.c (DoT to upstreams). Not a public interface.
 *
 * How TLS sits in libuv: OpenSSL never touches a socket. Each connection's SSL object reads
 * ciphertext from one memory BIO (`in`, filled by libuv's read callback) and writes ciphertext
 * to another (`out`, drained into uv_write after every SSL call). So the loop stays the only
 * thing that waits, and a slow peer costs memory we bound, never a blocked thread.
 */
#ifndef RS_TLS_INT_H
#define RS_TLS_INT_H

#include <openssl/ssl.h>

#include "rs_daemon_int.h"
#include "rs_tls.h"

#define RS_TLS_MAX_BUFFERED (256 * 1024) /* unsent ciphertext before we give up on a peer */
#define RS_TLS_SCRATCH      (64 * 1024)
#define RS_DOH_MAX_INFLIGHT 100 /* requests in flight on one DoH connection (and h2 streams) */
#define RS_DOT_UP_BUCKETS   64  /* in-flight queries of one upstream connection, by ID */
#define RS_DOT_UP_MAX_QUEUE (64 * 1024) /* query bytes waiting for the upstream's handshake */
/* Answer bytes one DoH connection holds before they reach the wire: answers made and not yet
 * handed to TLS (HTTP/1.1: waiting their turn behind a slower request; HTTP/2: waiting for the
 * client's flow-control window) plus ciphertext libuv still queues. At it, no new request of
 * that connection is taken until some are sent. Answers are handed to TLS only while libuv
 * queues less than half of RS_TLS_MAX_BUFFERED, so a slow reader is not dropped for them. */
#define RS_DOH_HELD_MAX (256 * 1024)
/* Questions in flight on one upstream connection: far below the 65536 message IDs, so a free
 * random ID is found in a few tries. A full connection is retired (it finishes what it carries)
 * and the next question opens another. */
#define RS_DOT_UP_MAX_INFLIGHT 4096
#define RS_DOT_UP_MAX_RETIRED  64 /* retired connections per worker still finishing */

/* Server-wide, main thread owns; workers take contexts under `lock`. */
struct rs_tls_server {
	uv_mutex_t lock;
	SSL_CTX *server_ctx; /* new client connections; NULL without DoT/DoH listeners */
	SSL_CTX *client_ctx; /* new upstream connections */
	int fds_dot[RS_MAX_WORKERS], fds_doh[RS_MAX_WORKERS];
	atomic_long pending; /* DoH requests and DoT questions waiting upstream, all workers */
};

/* One TLS session over memory BIOs, fed and drained through a libuv stream. */
struct rs_tls_io {
	SSL *ssl;
	BIO *in;  /* ciphertext received, for OpenSSL */
	BIO *out; /* ciphertext OpenSSL produced, for the socket */
	uv_stream_t *stream;
	uint8_t *scratch;          /* the worker's RS_TLS_SCRATCH bytes */
	const unsigned char *alpn; /* server: protocols we offer, wire format, preferred first */
	unsigned alpn_len;
	void *owner; /* the connection (client sessions are filed by it) */
	/* Called when a write libuv had queued completed (the peer read some): lets a
	 * connection that paused at its write bound go on. NULL: nobody asks. */
	void (*drained)(struct rs_tls_io *io);
};

enum { RS_TC_DOT = 0, RS_TC_DOH = 1 };

/* A client connection on a DoT or DoH listener (rs_dot.c). Freed when closed and unreferenced:
 * `refs` counts waiters and DoH requests, plus one while open. */
struct rs_tconn {
	uv_tcp_t h;
	uv_timer_t timer; /* handshake deadline, then idle timeout */
	struct rs_worker *w;
	struct rs_tconn *prev, *next;
	struct kg_sockaddr peer;
	struct rs_tls_io io;
	int kind; /* RS_TC_DOT or RS_TC_DOH: the listener it came from */
	int refs, handles_open;
	int waiting; /* DoT: questions waiting upstream (RS_TCP_PIPELINE) */
	bool closing, reading, established, in_process;
	char client_id[RS_CLIENT_ID_MAX]; /* from the SNI, "" none */
	uint8_t *buf;                     /* DoT: plaintext not yet framed */
	size_t len, cap;
	struct rs_doh *doh; /* rs_doh.c, after the handshake of a DoH connection */
	/* PROXY v2 before the TLS handshake (rs_dot.c): enum rs_proxy_tcp, and the bytes read
	 * while it is not DONE (malloc'd, RS_PROXY_MAX_HDR, freed once it is). */
	int proxy;
	uint8_t *phdr;
	size_t plen;
};

struct rs_dot_up;

/* A worker's part. */
struct rs_tls_worker {
	uv_tcp_t dot, doh;
	bool dot_open, doh_open;
	struct rs_tconn *conns;
	struct rs_dot_up *up[RS_MAX_UPSTREAMS];
	struct rs_dot_up *up_retired; /* full connections finishing their questions */
	int n_up_retired;
	SSL_SESSION *up_sess[RS_MAX_UPSTREAMS]; /* for resumption on reconnect */
	struct kg_sockaddr up_sess_addr[RS_MAX_UPSTREAMS];
	uint64_t up_retry_at[RS_MAX_UPSTREAMS]; /* no new connection before (loop ms) */
	uint32_t up_backoff_ms[RS_MAX_UPSTREAMS];
	uint8_t scratch[RS_TLS_SCRATCH];
};

/* rs_tls.c: the engine. Every function returning int gives 0 (or a count) or negative. */
int rs__tls_io_init(struct rs_tls_io *io, struct rs_tls_server *ts, bool server, uv_stream_t *s,
                    uint8_t *scratch);
void rs__tls_io_free(struct rs_tls_io *io);
int rs__tls_io_feed(struct rs_tls_io *io, const void *data, size_t len);
/* Send what OpenSSL wrote; negative when the peer is too far behind or the socket failed. */
int rs__tls_io_flush(struct rs_tls_io *io);
/* Encrypt and send. */
int rs__tls_io_write(struct rs_tls_io *io, const void *data, size_t len);
/* One handshake step: 1 done, 0 needs more input, negative failed. Flushes. */
int rs__tls_io_handshake(struct rs_tls_io *io);
/* Plaintext: bytes read, 0 when more input is needed, negative at close or error. */
int rs__tls_io_read(struct rs_tls_io *io, void *buf, size_t len);
/* Best-effort close_notify before the socket closes. */
void rs__tls_io_shutdown(struct rs_tls_io *io);
/* The negotiated ALPN protocol: "h2", "http/1.1", "dot" or "". */
const char *rs__tls_alpn(const struct rs_tls_io *io, char *buf, size_t len);

/* rs_dot.c: used by rs_doh.c. */
/* [tls] max_pending: true when it is reached. */
bool rs__tls_pending_full(struct rs_worker *w);
/* Count one more waiting (delta 1) or one fewer (-1), in the total and the worker's gauge. */
void rs__tls_pending_add(struct rs_worker *w, int delta);
void rs__tconn_ref(struct rs_tconn *c);
void rs__tconn_unref(struct rs_tconn *c);
void rs__tconn_close(struct rs_tconn *c);
/* Encrypt and send, closing the connection on failure. */
int rs__tconn_write(struct rs_tconn *c, const void *data, size_t len);

/* rs_doh.c */
int rs__doh_start(struct rs_tconn *c);                                  /* after the handshake */
int rs__doh_input(struct rs_tconn *c, const uint8_t *data, size_t len); /* <0: close */
void rs__doh_free(struct rs_tconn *c);                                  /* at close */
/* RS_DOH_MAX_INFLIGHT requests, or HTTP/1.1 input at its bound: reading waits for answers. */
bool rs__doh_full(const struct rs_tconn *c);
/* A queued write of DoH connection `c` completed: send what waited, take what may come. */
void rs__doh_drained(struct rs_tconn *c);
/* Bytes libuv still queues for the peer of `io`. */
size_t rs__tls_io_queued(const struct rs_tls_io *io);
/* Decode base64url without padding (RFC 8484 §4.1). Returns the length or -1. Pure. */
int rs__base64url_decode(const char *in, size_t len, uint8_t *out, size_t max);

/* rs_upstream_tls.c */
void rs__dot_up_close_all(struct rs_worker *w);
void rs__dot_up_free_sessions(struct rs_tls_worker *tw);
/* A new client session (ticket) for the upstream connection `owner`; takes the reference. */
void rs__dot_up_store_session(void *owner, SSL_SESSION *sess);

/* The entries of rs_tls_plugin()'s table (struct rs_tls_ops says when each runs). */
int rs__tls_server_new(struct rs_server *srv);
void rs__tls_server_free(struct rs_server *srv);
void rs__tls_reload(struct rs_server *srv, struct rs_config *cfg);
int rs__tls_worker_init(struct rs_worker *w);
void rs__tls_worker_stop(struct rs_worker *w);
void rs__tls_worker_fini(struct rs_worker *w);
int rs__dot_upstream_send(struct rs_pending *p);
void rs__dot_upstream_cancel(struct rs_pending *p);

#endif
