/*
 * kidguard-desk serve: the intake. libmicrohttpd with a pool of POOL_THREADS threads, each
 * polling its share of the connections, so that a slow request (a triage with the classifier,
 * a TLS handshake, a large batch being parsed) delays only the connections of its thread, and
 * a client that sends slowly holds a connection slot (bounded per address and in all, closed
 * after CONN_TIMEOUT_S idle) and no thread. The store's write transactions are serialized by
 * `write_lock` (LMDB would also wait for its single writer, but the lock says so here, and no
 * thread ever begins a write while holding a read). The main thread waits for a signal and
 * syncs the store every SYNC_EVERY_S seconds (the intake commits without fsync).
 *
 *   POST /signal       an appliance's daily batch (dk_parse_signal)      -> 200 {"stored":N}
 *   POST /report       a parent's report, as the block page sends it     -> 200 {"stored":1}
 *   GET  /api/triage   the ranking as kidguard-desk triage --json prints it (read only)
 *   GET  /, /desk.js   the Desk page; /i18n.json, /i18n/<code>.json its message catalogues
 *
 * Errors are {"error": TEXT, "key": KEY}: KEY names the message in the desk's catalogues
 * (www/i18n/<lang>.json), TEXT is it in the request's language ([desk] language, else
 * Accept-Language, else English); a parser's reason (for an appliance) stays English.
 *
 * Order of checks, cheapest first, before a byte of body is kept: route and method, the rate
 * per source prefix, Content-Type, Content-Length against DRAIN_FACTOR x max_body. A body is then
 * read up to max_body (beyond it: drained and answered 413). Bad input gets a 4xx and nothing is
 * stored: a batch is parsed completely before its one write transaction starts.
 */
#include "desk.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kg_addr.h"
#include "kg_err.h"
#include "kg_i18n.h"
#include "kg_log.h"

#define SYNC_EVERY_S   5
#define TRIAGE_API_MAX 200
#define PEM_MAX        (64 * 1024)
/* A body over max_body is read and dropped, so that the client (which may not read an early
 * answer while it still sends) gets its 413; beyond DRAIN_FACTOR x max_body the connection is
 * closed instead. */
#define DRAIN_FACTOR 16
/* Threads of the pool; per-address and total connection bounds; idle seconds before a
 * connection is closed (a slow client keeps a slot, not a thread). */
#define POOL_THREADS   4
#define CONN_MAX       512
#define CONN_PER_IP    64
#define CONN_TIMEOUT_S 30

struct server {
	const struct desk_conf *conf;
	struct dk_store *store;
	struct dk_rate *rate;
	struct desk_harm *harm;
	struct kg_i18n i18n;        /* the Desk page's catalogues, read-only once loaded */
	pthread_mutex_t rate_lock;  /* dk_rate is a plain table */
	pthread_mutex_t write_lock; /* one store write transaction at a time */
};

struct req {
	char *body;
	size_t len, seen;
	bool too_big;
};

struct resp {
	unsigned status;
	char *body; /* malloc'ed JSON */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned store_status(int rc)
{
	return rc == -ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE : MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* {"error": why, "key": key[, "detail": detail]}. */
static void set_error_text(struct resp *r, unsigned status, const char *key, const char *why,
                           const char *detail)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", why);
	cJSON_AddStringToObject(o, "key", key);
	if (detail)
		cJSON_AddStringToObject(o, "detail", detail);
	r->status = status;
	r->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

/* The language of the request's answer: [desk] language, else Accept-Language, else English. */
static int lang_of(const struct server *s, struct MHD_Connection *c)
{
	return kg_i18n_pick(&s->i18n, s->conf->language,
	                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language"));
}

/* An error whose text is message `key` of the catalogue, in the request's language. */
static void set_error(const struct server *s, struct MHD_Connection *c, struct resp *r,
                      unsigned status, const char *key)
{
	set_error_text(r, status, key, kg_i18n_msg(&s->i18n, lang_of(s, c), key), NULL);
}

/* The store failed with `rc`: 507 when full, else 503; kg_strerror's text as the detail. */
static void set_store_error(const struct server *s, struct MHD_Connection *c, struct resp *r,
                            int rc)
{
	const char *key = rc == -ENOSPC ? "error.store_full" : "error.store";

	set_error_text(r, store_status(rc), key, kg_i18n_msg(&s->i18n, lang_of(s, c), key),
	               kg_strerror(rc));
}

static void set_stored(struct resp *r, size_t n)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "{\"stored\":%zu}", n);
	r->status = MHD_HTTP_OK;
	r->body = strdup(buf);
}

static void set_replay(struct resp *r)
{
	r->status = MHD_HTTP_OK;
	r->body = strdup("{\"stored\":0,\"replay\":true}");
}

static void handle_signal(struct server *s, struct MHD_Connection *c, const struct req *q,
                          struct resp *r)
{
	uint8_t digest[DK_SHA256_LEN];
	struct dk_batch b;
	char why[160];
	uint32_t today = (uint32_t)(time(NULL) / 86400);
	int rc;

	if (dk_parse_signal(q->body, q->len, &b, why, sizeof(why)) != 0) {
		set_error_text(r, MHD_HTTP_BAD_REQUEST, "error.invalid", why, NULL);
		return;
	}
	if (s->conf->day_window &&
	    (b.day + s->conf->day_window < today || b.day > today + s->conf->day_window)) {
		dk_batch_free(&b);
		set_error(s, c, r, MHD_HTTP_BAD_REQUEST, "error.day");
		return;
	}
	SHA256((const unsigned char *)q->body, q->len, digest);
	pthread_mutex_lock(&s->write_lock);
	rc = dk_store_add_batch(s->store, &b, digest);
	pthread_mutex_unlock(&s->write_lock);
	if (rc == 0)
		set_stored(r, b.n);
	else if (rc == -EEXIST)
		set_replay(r); /* a retry after a lost answer: done, and counted once */
	else
		set_store_error(s, c, r, rc);
	dk_batch_free(&b);
}

static void handle_report(struct server *s, struct MHD_Connection *c, const struct req *q,
                          struct resp *r)
{
	struct dk_report rep;
	char why[160];
	int rc;

	if (dk_parse_report(q->body, q->len, &rep, why, sizeof(why)) != 0) {
		set_error_text(r, MHD_HTTP_BAD_REQUEST, "error.invalid", why, NULL);
		return;
	}
	pthread_mutex_lock(&s->write_lock);
	rc = dk_store_add_report(s->store, &rep, (uint64_t)time(NULL));
	pthread_mutex_unlock(&s->write_lock);
	if (rc == 0)
		set_stored(r, 1);
	else
		set_store_error(s, c, r, rc);
}

static void handle_triage(struct server *s, struct MHD_Connection *c, struct resp *r)
{
	const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	struct dk_triage_opts o = {
	    .window = DK_WINDOW_DEFAULT, .limit = 20, .now = (uint64_t)time(NULL)};
	struct dk_cand *cands;
	uint32_t day = 0;
	size_t n;
	int rc;

	if (lim && (atoi(lim) < 1 || atoi(lim) > TRIAGE_API_MAX)) {
		set_error(s, c, r, MHD_HTTP_BAD_REQUEST, "error.limit");
		return;
	}
	if (lim)
		o.limit = (size_t)atoi(lim);
	if (s->harm) {
		o.harm = desk_harm;
		o.harm_arg = s->harm;
	}
	n = o.limit;
	if (!(cands = calloc(n, sizeof(*cands)))) {
		set_error(s, c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "error.memory");
		return;
	}
	rc = dk_triage(s->store, &o, cands, &n, &day);
	if (rc == 0 && (r->body = desk_triage_json(cands, n, day)))
		r->status = MHD_HTTP_OK;
	else
		set_store_error(s, c, r, rc ? rc : -ENOMEM);
	free(cands);
}

static enum MHD_Result respond(struct MHD_Connection *c, struct resp *r, const char *language)
{
	struct MHD_Response *m;
	enum MHD_Result ret;

	if (!r->body) /* a failed allocation above: nothing more is likely to succeed */
		return MHD_NO;
	m = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
	if (!m) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(m, "Content-Type", "application/json");
	MHD_add_response_header(m, "Cache-Control", "no-store");
	MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
	if (language)
		MHD_add_response_header(m, "Content-Language", language);
	ret = MHD_queue_response(c, r->status, m);
	MHD_destroy_response(m);
	return ret;
}

/* A built-in file of the page; a script from this origin only, no framing. */
static enum MHD_Result static_file(struct MHD_Connection *c, const unsigned char *data, size_t len,
                                   const char *type)
{
	struct MHD_Response *m =
	    MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!m)
		return MHD_NO;
	MHD_add_response_header(m, "Content-Type", type);
	MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(m, "X-Frame-Options", "DENY");
	MHD_add_response_header(m, "Content-Security-Policy",
	                        "default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(m, "Cache-Control", "no-cache");
	ret = MHD_queue_response(c, MHD_HTTP_OK, m);
	MHD_destroy_response(m);
	return ret;
}

/* The reads (R_TRIAGE and after) are GET and limited to view_allow; the rest are POST. */
enum route { R_NONE, R_SIGNAL, R_REPORT, R_TRIAGE, R_PAGE, R_JS, R_CSS, R_ICON, R_I18N };

static enum route route_of(const struct server *s, const char *url, const char *method,
                           unsigned *status)
{
	enum route rt = kg_i18n_url(&s->i18n, url, 0) >= 0 ? R_I18N
	                : strcmp(url, "/signal") == 0      ? R_SIGNAL
	                : strcmp(url, "/report") == 0      ? R_REPORT
	                : strcmp(url, "/api/triage") == 0  ? R_TRIAGE
	                : strcmp(url, "/") == 0            ? R_PAGE
	                : strcmp(url, "/desk.js") == 0     ? R_JS
	                : strcmp(url, "/style.css") == 0   ? R_CSS
	                : strcmp(url, "/favicon.svg") == 0 ? R_ICON
	                                                   : R_NONE;
	bool reads = rt >= R_TRIAGE;
	bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;

	*status = 0;
	if (rt == R_NONE)
		*status = MHD_HTTP_NOT_FOUND;
	else if ((reads && !get) || (!reads && !post))
		*status = MHD_HTTP_METHOD_NOT_ALLOWED;
	return rt;
}

/* The candidate list is the desk's working material (unreviewed names of harmful sites), not
 * for whoever can reach the intake: only view_allow reads it. */
static bool may_view(const struct desk_conf *c, const struct sockaddr *sa)
{
	for (int i = 0; i < c->n_view_allow; i++) {
		if (kg_cidr_match(&c->view_allow[i], sa))
			return true;
	}
	return false;
}

/* The checks made before any body is read; 0 or the status to answer with. */
static unsigned first_checks(struct server *s, struct MHD_Connection *c, const char *url,
                             const char *method)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	unsigned status;
	enum route rt = route_of(s, url, method, &status);

	if (status)
		return status;
	bool allowed = false;

	if (ci) {
		pthread_mutex_lock(&s->rate_lock);
		allowed = dk_rate_allow(s->rate, ci->client_addr, now_ms());
		pthread_mutex_unlock(&s->rate_lock);
	}
	if (!allowed)
		return MHD_HTTP_TOO_MANY_REQUESTS;
	if (rt >= R_TRIAGE)
		return may_view(s->conf, ci->client_addr) ? 0 : MHD_HTTP_FORBIDDEN;
	if (!ct || strncasecmp(ct, "application/json", 16) != 0)
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	if (cl && strtoull(cl, NULL, 10) > DRAIN_FACTOR * (unsigned long long)s->conf->max_body)
		return MHD_HTTP_CONTENT_TOO_LARGE;
	return 0;
}

/* The message key of an answer to a request refused by the first checks. */
static const char *status_key(unsigned status)
{
	switch (status) {
	case MHD_HTTP_NOT_FOUND:
		return "error.not_found";
	case MHD_HTTP_FORBIDDEN:
		return "error.forbidden";
	case MHD_HTTP_METHOD_NOT_ALLOWED:
		return "error.method";
	case MHD_HTTP_TOO_MANY_REQUESTS:
		return "error.rate";
	case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE:
		return "error.media_type";
	case MHD_HTTP_CONTENT_TOO_LARGE:
		return "error.too_large";
	default:
		return "error.bad_request";
	}
}

/* GET /i18n.json (negotiated) or /i18n/<code>.json: the catalogue, and "@languages" (code: the
 * language's own name) for the page's language switch. */
static void handle_i18n(const struct server *s, struct MHD_Connection *c, const char *url,
                        struct resp *r, const char **language)
{
	int lang = kg_i18n_url(&s->i18n, url, lang_of(s, c));
	cJSON *j = kg_i18n_page_json(&s->i18n, lang);

	if (j && (r->body = cJSON_PrintUnformatted(j)) != NULL) {
		r->status = MHD_HTTP_OK;
		*language = kg_i18n_code(&s->i18n, lang);
	}
	cJSON_Delete(j);
	if (!r->body)
		set_error(s, c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "error.memory");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
	struct server *s = cls;
	struct req *q = *con_cls;
	struct resp r = {0};
	const char *language = NULL;
	unsigned status;

	if (!q) {
		if ((status = first_checks(s, c, url, method)) != 0) {
			set_error(s, c, &r, status, status_key(status));
			return respond(c, &r, NULL);
		}
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*data_size) {
		q->seen += *data_size;
		if (q->seen > DRAIN_FACTOR * s->conf->max_body)
			return MHD_NO;
		if (!q->too_big && q->len + *data_size <= s->conf->max_body) {
			char *nb = realloc(q->body, q->len + *data_size + 1);
			if (!nb)
				return MHD_NO;
			q->body = nb;
			memcpy(q->body + q->len, data, *data_size);
			q->len += *data_size;
			q->body[q->len] = '\0';
		} else {
			q->too_big = true; /* drained, never kept */
		}
		*data_size = 0;
		return MHD_YES;
	}
	switch (route_of(s, url, method, &status)) {
	case R_SIGNAL:
		if (q->too_big)
			set_error(s, c, &r, MHD_HTTP_CONTENT_TOO_LARGE, "error.too_large");
		else
			handle_signal(s, c, q, &r);
		break;
	case R_REPORT:
		if (q->too_big)
			set_error(s, c, &r, MHD_HTTP_CONTENT_TOO_LARGE, "error.too_large");
		else
			handle_report(s, c, q, &r);
		break;
	case R_I18N:
		handle_i18n(s, c, url, &r, &language);
		break;
	case R_TRIAGE:
		handle_triage(s, c, &r);
		break;
	case R_PAGE:
		return static_file(c, desk_www_index, desk_www_index_len,
		                   "text/html; charset=utf-8");
	case R_JS:
		return static_file(c, desk_www_js, desk_www_js_len,
		                   "text/javascript; charset=utf-8");
	case R_CSS:
		return static_file(c, desk_www_css, desk_www_css_len, "text/css; charset=utf-8");
	case R_ICON:
		return static_file(c, desk_www_icon, desk_www_icon_len, "image/svg+xml");
	default:
		set_error(s, c, &r, MHD_HTTP_NOT_FOUND, "error.not_found");
	}
	return respond(c, &r, language);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (q) {
		free(q->body);
		free(q);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_every(10, KG_LOG_WARN, "desk: http: %s", buf);
}

static char *read_pem(const char *file)
{
	FILE *f = fopen(file, "r");
	char *buf = calloc(1, PEM_MAX + 1);
	size_t n;

	if (!f || !buf) {
		log_err(_("desk: %s: %s"), file, strerror(errno));
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, PEM_MAX, f);
	fclose(f);
	if (n == 0 || n == PEM_MAX) {
		log_err(_("desk: %s: empty or larger than %d bytes"), file, PEM_MAX);
		free(buf);
		return NULL;
	}
	return buf;
}

static struct MHD_Daemon *start(struct server *s, const struct kg_sockaddr *a, char *cert,
                                char *key)
{
	/* A pool, not a thread per connection: slow clients cost slots, not threads. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;

	if (a->ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_SOCK_ADDR, &a->ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_END);
}

static int wait_for_stop(struct server *s)
{
	struct timespec every = {SYNC_EVERY_S, 0};
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &every);
		dk_store_sync(s->store);
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
	}
}

int desk_serve(const struct desk_conf *conf)
{
	struct server s = {.conf = conf,
	                   .rate_lock = PTHREAD_MUTEX_INITIALIZER,
	                   .write_lock = PTHREAD_MUTEX_INITIALIZER};
	struct kg_sockaddr a;
	struct MHD_Daemon *d = NULL;
	char *cert = NULL, *key = NULL, where[KG_ADDRSTRLEN];
	sigset_t set;
	int rc = 1;

	/* Blocked before the HTTP thread starts, so that it inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (kg_sockaddr_parse(conf->listen, 8443, &a) != 0) {
		log_err(_("desk: listen = %s: not an address"), conf->listen);
		return 1;
	}
	if (conf->tls_cert[0] &&
	    (!(cert = read_pem(conf->tls_cert)) || !(key = read_pem(conf->tls_key))))
		goto out;
	if (conf->model[0] && desk_harm_load(conf->model, &s.harm) != 0)
		goto out;
	if (desk_i18n_load(&s.i18n) != 0)
		goto out;
	if ((rc = dk_store_open(conf->store, false, &s.store)) != 0 ||
	    (rc = dk_rate_new(conf->rate, &s.rate)) != 0) {
		log_err(_("desk: store %s: %s"), conf->store, kg_strerror(rc));
		rc = 1;
		goto out;
	}
	rc = 1;
	if (!(d = start(&s, &a, cert, key))) {
		log_err(_("desk: cannot listen on %s"), conf->listen);
		goto out;
	}
	log_info(_("desk: listening on %s (%s), store %s"),
	         kg_sockaddr_str((struct sockaddr *)&a.ss, where, sizeof(where)),
	         cert ? "https" : "http", conf->store);
	rc = wait_for_stop(&s);
	MHD_stop_daemon(d);
out:
	dk_rate_free(s.rate);
	dk_store_close(s.store);
	desk_harm_free(s.harm);
	kg_i18n_free(&s.i18n);
	free(cert);
	free(key);
	return rc;
}
