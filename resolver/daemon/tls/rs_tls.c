/*
 * TLS for kidguard: the server context (certificate files or a throwaway self-signed one,
 * TLS 1.2+, session tickets, ALPN), the client context for DoT upstreams (system CAs or
 * [upstream] tls_ca_file), their swap on SIGHUP, and the memory-BIO engine the connections run
 * on (see rs_tls_int.h for why memory BIOs).
 *
 * Reload: a new SSL_CTX is built from the files and swapped in under a mutex; an SSL object
 * holds a reference to the context it was made from, so open connections finish on the old
 * certificate and the old context is freed with the last of them. An ACME client only has to
 * replace the files and send SIGHUP (`systemctl reload kidguard`).
 */
#include "rs_tls_int.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_log.h"

/* The first OpenSSL error as text, for the log. */
static const char *ssl_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, len);
	return buf;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	struct rs_tls_io *io = SSL_get_app_data(ssl);
	unsigned char *sel;

	if (!io || !io->alpn)
		return SSL_TLSEXT_ERR_NOACK;
	/* Our preference order wins (h2 before http/1.1). */
	if (SSL_select_next_proto(&sel, outlen, io->alpn, io->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no overlap: carry on without ALPN */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A P-256 key and a one-year certificate for HOST and *.HOST, signed by itself. */
static int use_self_signed(SSL_CTX *ctx, const char *host)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	X509_NAME *n;
	char san[2 * RS_TLS_NAME_MAX + 16];
	uint64_t serial = 0;
	int rc = -1;

	if (!pk || !x || RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(x, n);
	snprintf(san, sizeof(san), "DNS:%s,DNS:*.%s", host, host);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (!ext || !X509_add_ext(x, ext, -1) || !X509_sign(x, pk, EVP_sha256()))
		goto out;
	if (SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, pk) == 1)
		rc = 0;
out:
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

static SSL_CTX *server_ctx_new(const struct rs_config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char e[256];

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	/* An idle DoT connection should not pin 2 × 16 KiB of record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumption by stateless tickets only: the key lives in the context, which every worker
	 * shares, so a ticket works on any worker and the server keeps no per-client state. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (cfg->tls_self_signed && !cfg->tls_cert[0]) {
		if (use_self_signed(ctx, cfg->tls_hostname) < 0) {
			log_err("[tls] self_signed: cannot make a certificate: %s",
			        ssl_err(e, sizeof(e)));
			goto fail;
		}
		log_warn("[tls] using a self-signed certificate for %s (tests only)",
		         cfg->tls_hostname);
		return ctx;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		log_err("[tls] cert %s: %s", cfg->tls_cert, ssl_err(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_err("[tls] key %s: %s", cfg->tls_key, ssl_err(e, sizeof(e)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* A TLS 1.3 ticket arrives after the handshake: keep it for the next connection. */
static int on_client_session(SSL *ssl, SSL_SESSION *sess);

static SSL_CTX *client_ctx_new(const struct rs_config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char e[256];
	int ok;

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ok = cfg->upstream_tls_ca_file[0]
	         ? SSL_CTX_load_verify_locations(ctx, cfg->upstream_tls_ca_file, NULL)
	         : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		log_err("[upstream] tls_ca_file %s: %s",
		        cfg->upstream_tls_ca_file[0] ? cfg->upstream_tls_ca_file : "(system)",
		        ssl_err(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_client_session);
	return ctx;
}

static bool listeners_on(const struct rs_config *cfg)
{
	return cfg->tls_listen_dot.len || cfg->tls_listen_doh.len;
}

static int open_fds(struct rs_server *srv, const struct kg_sockaddr *a, int *fds)
{
	char name[KG_ADDRSTRLEN];

	for (int k = 0; a->len && k < srv->n_workers; k++) {
		fds[k] = rs__listen_socket(a, k == 0);
		if (fds[k] < 0) {
			log_err(
			    "cannot listen on %s: %s",
			    kg_sockaddr_str((const struct sockaddr *)&a->ss, name, sizeof(name)),
			    strerror(-fds[k]));
			return fds[k];
		}
	}
	return 0;
}

int rs__tls_server_new(struct rs_server *srv)
{
	const struct rs_config *cfg = &srv->cfg->cfg;
	struct rs_tls_server *ts = calloc(1, sizeof(*ts));
	int rc;

	if (!ts)
		return RS_ENOMEM;
	uv_mutex_init(&ts->lock);
	for (int k = 0; k < RS_MAX_WORKERS; k++)
		ts->fds_dot[k] = ts->fds_doh[k] = -1;
	srv->tls = ts;
	ts->client_ctx = client_ctx_new(cfg);
	if (!ts->client_ctx)
		return RS_EINVAL;
	if (!listeners_on(cfg))
		return 0;
	ts->server_ctx = server_ctx_new(cfg);
	if (!ts->server_ctx)
		return RS_EINVAL;
	rc = open_fds(srv, &cfg->tls_listen_dot, ts->fds_dot);
	if (!rc)
		rc = open_fds(srv, &cfg->tls_listen_doh, ts->fds_doh);
	return rc;
}

void rs__tls_server_free(struct rs_server *srv)
{
	struct rs_tls_server *ts = srv->tls;

	if (!ts)
		return;
	for (int k = 0; k < RS_MAX_WORKERS; k++) {
		if (ts->fds_dot[k] >= 0)
			close(ts->fds_dot[k]);
		if (ts->fds_doh[k] >= 0)
			close(ts->fds_doh[k]);
	}
	SSL_CTX_free(ts->server_ctx);
	SSL_CTX_free(ts->client_ctx);
	uv_mutex_destroy(&ts->lock);
	free(ts);
	srv->tls = NULL;
}

/* Put `next` in place under the lock; the old context lives on in its connections. */
static void swap_ctx(struct rs_tls_server *ts, SSL_CTX **slot, SSL_CTX *next)
{
	SSL_CTX *old;

	uv_mutex_lock(&ts->lock);
	old = *slot;
	*slot = next;
	uv_mutex_unlock(&ts->lock);
	SSL_CTX_free(old);
}

void rs__tls_reload(struct rs_server *srv, struct rs_config *cfg)
{
	const struct rs_config *old = &srv->cfg->cfg;
	struct rs_tls_server *ts = srv->tls;
	SSL_CTX *ctx;

	if (memcmp(&cfg->tls_listen_dot, &old->tls_listen_dot, sizeof(old->tls_listen_dot)) ||
	    memcmp(&cfg->tls_listen_doh, &old->tls_listen_doh, sizeof(old->tls_listen_doh))) {
		log_warn("reload: [tls] listen_dot and listen_doh change only on restart");
		cfg->tls_listen_dot = old->tls_listen_dot;
		cfg->tls_listen_doh = old->tls_listen_doh;
	}
	if ((ctx = client_ctx_new(cfg)))
		swap_ctx(ts, &ts->client_ctx, ctx);
	else
		log_err("reload: keeping the previous upstream TLS trust store");
	if (!ts->server_ctx)
		return;
	if (!(ctx = server_ctx_new(cfg))) {
		log_err("reload: keeping the running certificate");
		return;
	}
	swap_ctx(ts, &ts->server_ctx, ctx);
	log_info("[tls] certificate reloaded from %s",
	         cfg->tls_cert[0] ? cfg->tls_cert : "(self-signed)");
}

/* ------------------------------------------------------------------ the engine --- */

int rs__tls_io_init(struct rs_tls_io *io, struct rs_tls_server *ts, bool server, uv_stream_t *s,
                    uint8_t *scratch)
{
	memset(io, 0, sizeof(*io));
	uv_mutex_lock(&ts->lock);
	io->ssl = SSL_new(server ? ts->server_ctx : ts->client_ctx);
	uv_mutex_unlock(&ts->lock);
	io->in = BIO_new(BIO_s_mem());
	io->out = BIO_new(BIO_s_mem());
	if (!io->ssl || !io->in || !io->out) {
		BIO_free(io->in);
		BIO_free(io->out);
		SSL_free(io->ssl);
		memset(io, 0, sizeof(*io));
		return RS_ENOMEM;
	}
	/* An empty memory BIO means "try again later", not end of file. */
	BIO_set_mem_eof_return(io->in, -1);
	SSL_set_bio(io->ssl, io->in, io->out);
	SSL_set_app_data(io->ssl, io);
	if (server)
		SSL_set_accept_state(io->ssl);
	else
		SSL_set_connect_state(io->ssl);
	io->stream = s;
	io->scratch = scratch;
	return 0;
}

void rs__tls_io_free(struct rs_tls_io *io)
{
	SSL_free(io->ssl); /* frees both BIOs */
	io->ssl = NULL;
}

int rs__tls_io_feed(struct rs_tls_io *io, const void *data, size_t len)
{
	if (len > INT_MAX || BIO_write(io->in, data, (int)len) != (int)len)
		return RS_ENOMEM;
	return 0;
}

struct tls_write_req {
	uv_write_t req;
	struct rs_tls_io *io;
	uint8_t data[];
};

static void on_written(uv_write_t *req, int status)
{
	struct tls_write_req *wr = (struct tls_write_req *)req;
	struct rs_tls_io *io = wr->io;

	free(wr);
	/* Not when cancelled: the connection is closing and must not start anything. */
	if (status == 0 && io->drained)
		io->drained(io);
}

size_t rs__tls_io_queued(const struct rs_tls_io *io)
{
	return uv_stream_get_write_queue_size(io->stream);
}

/* Queue `len` bytes behind what libuv already holds (order matters: records are a stream). */
static int queue_bytes(struct rs_tls_io *io, const uint8_t *data, size_t len)
{
	struct tls_write_req *wr;
	uv_buf_t b;

	if (uv_stream_get_write_queue_size(io->stream) + len > RS_TLS_MAX_BUFFERED)
		return RS_ENOSPC; /* a peer that does not read */
	wr = malloc(sizeof(*wr) + len);
	if (!wr)
		return RS_ENOMEM;
	wr->io = io;
	memcpy(wr->data, data, len);
	b = uv_buf_init((char *)wr->data, (unsigned)len);
	if (uv_write(&wr->req, io->stream, &b, 1, on_written) < 0) {
		free(wr);
		return RS_EIO;
	}
	return 0;
}

int rs__tls_io_flush(struct rs_tls_io *io)
{
	int n, sent, rc;
	uv_buf_t b;

	while (BIO_ctrl_pending(io->out) > 0) {
		n = BIO_read(io->out, io->scratch, RS_TLS_SCRATCH);
		if (n <= 0)
			return RS_EIO;
		sent = 0;
		if (uv_stream_get_write_queue_size(io->stream) == 0) {
			b = uv_buf_init((char *)io->scratch, (unsigned)n);
			sent = uv_try_write(io->stream, &b, 1);
			if (sent == UV_EAGAIN)
				sent = 0;
			if (sent < 0)
				return RS_EIO;
		}
		if (sent < n && (rc = queue_bytes(io, io->scratch + sent, (size_t)(n - sent))) < 0)
			return rc;
	}
	return 0;
}

int rs__tls_io_write(struct rs_tls_io *io, const void *data, size_t len)
{
	size_t done = 0;

	/* A memory BIO takes everything, so one call writes the whole buffer. */
	if (len && SSL_write_ex(io->ssl, data, len, &done) != 1) {
		ERR_clear_error();
		return RS_EIO;
	}
	return rs__tls_io_flush(io);
}

int rs__tls_io_handshake(struct rs_tls_io *io)
{
	int r = SSL_do_handshake(io->ssl);
	int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(io->ssl, r);

	/* Send the flight (or the alert) whatever the outcome. */
	if (rs__tls_io_flush(io) < 0)
		return RS_EIO;
	if (err == SSL_ERROR_NONE)
		return 1;
	if (err == SSL_ERROR_WANT_READ)
		return 0;
	ERR_clear_error();
	return RS_EIO;
}

int rs__tls_io_read(struct rs_tls_io *io, void *buf, size_t len)
{
	size_t n = 0;
	int r, err;

	if (len == 0)
		return 0;
	r = SSL_read_ex(io->ssl, buf, len, &n);
	if (r == 1)
		return (int)n;
	err = SSL_get_error(io->ssl, r);
	ERR_clear_error();
	return err == SSL_ERROR_WANT_READ ? 0 : RS_EIO;
}

void rs__tls_io_shutdown(struct rs_tls_io *io)
{
	if (io->ssl && SSL_is_init_finished(io->ssl)) {
		SSL_shutdown(io->ssl);
		ERR_clear_error();
		rs__tls_io_flush(io);
	}
}

const char *rs__tls_alpn(const struct rs_tls_io *io, char *buf, size_t len)
{
	const unsigned char *p = NULL;
	unsigned n = 0;

	SSL_get0_alpn_selected(io->ssl, &p, &n);
	snprintf(buf, len, "%.*s", (int)n, p ? (const char *)p : "");
	return buf;
}

/* ---------------------------------------------------- client sessions (upstreams) --- */

static int on_client_session(SSL *ssl, SSL_SESSION *sess)
{
	struct rs_tls_io *io = SSL_get_app_data(ssl);

	if (!io || !io->owner)
		return 0;
	rs__dot_up_store_session(io->owner, sess);
	return 1; /* we keep the reference */
}

static const struct rs_tls_ops tls_ops = {
    .server_new = rs__tls_server_new,
    .server_free = rs__tls_server_free,
    .reload = rs__tls_reload,
    .worker_init = rs__tls_worker_init,
    .worker_stop = rs__tls_worker_stop,
    .worker_fini = rs__tls_worker_fini,
    .upstream_send = rs__dot_upstream_send,
    .upstream_cancel = rs__dot_upstream_cancel,
};

const struct rs_tls_ops *rs_tls_plugin(void)
{
	return &tls_ops;
}
