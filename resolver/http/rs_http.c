/*
 * The operator's HTTP server: two libmicrohttpd daemons, each with its own internal thread
 * ([http] listen: dashboard, API, metrics, health; [http] block_page_listen: the block page),
 * and the sampler thread (history, report delivery). Routing, static files and the one place
 * that decides whether a request may change state.
 *
 * Which requests are answered at all (DNS rebinding): a web page whose name an attacker rebinds
 * to this server's address is, for the browser, the attacker's own origin, so it could read
 * every GET answer. The browser sends the page's name in Host; so the API daemon answers only a
 * Host that is an address literal (the [http] listen address, or any address when that is a
 * wildcard: a literal cannot be rebound), "localhost", or a name of [http] hostname, port
 * optional. Anything else gets 403 before any handler runs; HTTP/1.1 without Host gets 400.
 * The block page daemon answers any Host (it is reached through blocked names) but serves only
 * the block page and its report form, never the API.
 *
 * Who may change state (POST/PUT/DELETE under /api/, except /api/report):
 *   - a request with "Authorization: Bearer TOKEN" matching [http] token, from anywhere;
 *   - with [http] trust_loopback = on (off by default), a request from 127.0.0.0/8 or ::1
 *     without a token, provided it was not relayed by a proxy (no X-Forwarded-For, Forwarded
 *     or X-Real-IP header: behind a same-host reverse proxy every remote client would look
 *     local) and it cannot be a cross-site request forged by a web page the browser shows:
 *     the Host header must name the loopback, an Origin header, when present, must be this
 *     server, and a body must be application/json (which a foreign page cannot send without a
 *     CORS preflight that we never approve).
 * Everything else is refused: 401 when a token is configured, 403 when none is.
 */
#include "rs_http.h"
#include "rs_http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kg_addr.h"
#include "kg_log.h"

#ifndef KG_WWW_SRC_DIR
#define KG_WWW_SRC_DIR ""
#endif
#ifndef KG_WWW_INSTALL_DIR
#define KG_WWW_INSTALL_DIR "/usr/share/kidguard/www"
#endif

/* ------------------------------------------------------------------ config snapshot --- */

struct rs_cfg_ref *rs__http_cfg_get(struct rs_http *h)
{
	struct rs_cfg_ref *r;

	pthread_mutex_lock(&h->cfg_lock);
	r = h->cfg;
	atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&h->cfg_lock);
	return r;
}

void rs__http_cfg_put(struct rs_cfg_ref *r)
{
	rs_cfg_unref(r);
}

void rs__http_reload(struct rs_server *srv)
{
	struct rs_http *h = rs_server_http(srv);
	struct rs_cfg_ref *old;

	if (!h)
		return;
	pthread_mutex_lock(&h->cfg_lock);
	old = h->cfg;
	h->cfg = rs_server_cfg_hold(srv);
	pthread_mutex_unlock(&h->cfg_lock);
	rs_cfg_unref(old);
}

/* ------------------------------------------------------------------------ helpers --- */

void rs__resp_owned(struct rs_resp *r, int status, const char *type, char *body)
{
	r->status = status;
	r->type = type;
	r->body = body;
	r->len = body ? strlen(body) : 0;
}

void rs__resp_text(struct rs_resp *r, int status, const char *type, const char *text)
{
	rs__resp_owned(r, status, type, strdup(text));
}

bool rs__is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int rs__http_lookup(struct rs_http *h, const char *name, uint64_t mask, struct bl_verdict *v)
{
	int rc;

	pthread_mutex_lock(&h->bl_lock);
	rc = h->bl ? bl_lookup_text(h->bl, name, mask, v) : BL_ESTORE;
	pthread_mutex_unlock(&h->bl_lock);
	return rc;
}

const char *rs__cat_names(struct rs_http *h, uint64_t mask, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int b = 0; b < BL_CATEGORY_MAX && n < len; b++) {
		const char *name;
		if (!(mask & (1ULL << b)))
			continue;
		name = bl_category_name(rs_server_store(h->srv), b);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name ? name : "?");
	}
	return buf;
}

/* Static files: only these names, so no path ever reaches the file system from a URL. */
static const struct {
	const char *url, *file, *type;
} assets[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/index.html", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/family.js", "family.js", "text/javascript; charset=utf-8"},
    {"/style.css", "style.css", "text/css; charset=utf-8"},
    {"/favicon.svg", "favicon.svg", "image/svg+xml"},
};

char *rs__http_asset(struct rs_http *h, const char *name, size_t *len)
{
	char path[RS_PATH_MAX + 64];
	struct stat st;
	char *buf = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", h->assets, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size < (1 << 20) &&
	    (buf = malloc((size_t)st.st_size + 1))) {
		ssize_t n = read(fd, buf, (size_t)st.st_size);
		if (n < 0) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	close(fd);
	return buf;
}

static bool serve_asset(struct rs_http *h, const char *url, struct rs_resp *r)
{
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		size_t len = 0;
		char *buf;
		if (strcmp(url, assets[i].url) != 0)
			continue;
		buf = rs__http_asset(h, assets[i].file, &len);
		if (!buf) {
			rs__resp_text(r, 404, "text/plain; charset=utf-8",
			              "dashboard files not found: set [http] assets to the "
			              "directory holding index.html\n");
			return true;
		}
		rs__resp_owned(r, 200, assets[i].type, buf);
		r->len = len;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------------- auth --- */

static bool ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

/* The Host header of a request to the loopback, by name or address (not "127.evil.example"). */
static bool host_is_loopback(const char *host)
{
	size_t n;

	if (!host)
		return false;
	if (strncmp(host, "localhost", 9) == 0 && (host[9] == '\0' || host[9] == ':'))
		return true;
	if (strncmp(host, "[::1]", 5) == 0 && (host[5] == '\0' || host[5] == ':'))
		return true;
	n = strspn(host, "0123456789.");
	return strncmp(host, "127.", 4) == 0 && (host[n] == '\0' || host[n] == ':');
}

static bool same_origin(struct MHD_Connection *c)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");

	if (!host_is_loopback(host))
		return false;
	return !origin || (strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0);
}

/* A proxy on this machine relays remote clients: its loopback source address says nothing. */
static bool relayed(struct MHD_Connection *c)
{
	static const char *const hdrs[] = {"X-Forwarded-For", "Forwarded", "X-Real-IP"};

	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, hdrs[i]))
			return true;
	return false;
}

/* No body, or a JSON one: what a web page cannot send to another origin without a preflight. */
static bool json_body(struct rs_req *q)
{
	const char *ct = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Type");

	return !q->body_len || (ct && strncmp(ct, "application/json", 16) == 0);
}

/* The name of the bearer token a request presents, or NULL when it matches none. Every token
 * is compared (in constant time each), so the time does not say which one was close. */
static const char *token_name(const char *auth, const struct rs_config *cfg)
{
	const char *name = NULL;

	if (!auth || strncmp(auth, "Bearer ", 7) != 0)
		return NULL;
	if (cfg->http_token[0] && ct_equal(auth + 7, cfg->http_token))
		name = "default";
	for (int i = 0; i < cfg->n_http_tokens; i++) {
		if (ct_equal(auth + 7, cfg->http_tokens[i].secret) && !name)
			name = cfg->http_tokens[i].name;
	}
	return name;
}

/* 0: allowed, `*who` names the token ("loopback" for trust_loopback); otherwise fills `r`
 * with the refusal and `*who` is "-". */
static int authorize(struct rs_req *q, const struct rs_config *cfg, struct rs_resp *r,
                     const char **who)
{
	const char *auth = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
	bool json = json_body(q);

	if ((*who = token_name(auth, cfg)) != NULL)
		return 0;
	if (cfg->http_trust_loopback && rs__is_loopback(q->client) && !relayed(q->conn) &&
	    same_origin(q->conn) && json) {
		*who = "loopback";
		return 0;
	}
	*who = "-";
	if (cfg->http_token[0] || cfg->n_http_tokens) {
		rs__api_error(q, r, 401, "error.token_needed", NULL);
		r->www_auth = "Bearer realm=\"kidguard\"";
	} else {
		rs__api_error(q, r, 403, "error.no_token", NULL);
	}
	return -1;
}

/* ------------------------------------------------------------------------ audit --- */

/* Copy `in` for a log line: printable ASCII only, no quote or backslash (what a client sends
 * must not forge a second line or another field). */
static void audit_clean(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; in && *in && n + 1 < len; in++) {
		unsigned char ch = (unsigned char)*in;
		out[n++] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
	}
	out[n] = '\0';
}

struct audit_args {
	char *buf;
	size_t len, n;
	int count; /* arguments so far */
};

static enum MHD_Result audit_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	struct audit_args *a = cls;
	int w;

	(void)kind;
	if (a->n + 1 >= a->len)
		return MHD_NO;
	/* a device ID is a secret (GET /api/check?device_id=): its name only */
	if (value && strcmp(key, "device_id") == 0)
		value = "-";
	w = snprintf(a->buf + a->n, a->len - a->n, "%s%s=%s", a->count++ ? "&" : "?", key,
	             value ? value : "");
	a->n = w < 0 || (size_t)w >= a->len - a->n ? a->len - 1 : a->n + (size_t)w;
	return MHD_YES;
}

/*
 * The audit log: one line per state-changing API request (whatever its result) and per
 * refused one (401/403: no or a wrong token, the Host check), to stderr (journald under
 * systemd). It names the token by its name, never its secret, and gives the method, the path
 * with its query, the source address and the result.
 */
static void audit(const struct rs_req *q, const char *who, int status, const char *why)
{
	char raw[512], path[512], method[16], src[KG_ADDRSTRLEN];
	struct audit_args a = {raw, sizeof(raw), 0, 0};
	int n = snprintf(raw, sizeof(raw), "%s", q->url);

	a.n = n < 0 ? 0 : (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;
	MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, audit_arg, &a);
	audit_clean(raw, path, sizeof(path));
	audit_clean(q->method, method, sizeof(method));
	if (!kg_sockaddr_str(q->client, src, sizeof(src)))
		snprintf(src, sizeof(src), "?");
	if (status >= 400 && why)
		kg_log_always(KG_LOG_WARN,
		              "audit: refused method=%s path=\"%s\" source=%s token=%s result=%d "
		              "reason=%s",
		              method, path, src, who, status, why);
	else
		kg_log_always(KG_LOG_INFO,
		              "audit: %s method=%s path=\"%s\" source=%s token=%s result=%d",
		              status < 400 ? "change" : "failed", method, path, src, who, status);
}

int rs__http_authorize(struct rs_req *q, struct rs_resp *r)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	const char *who = "-";
	int rc = authorize(q, &cr->cfg, r, &who);

	rs__http_cfg_put(cr);
	if (rc != 0) /* a refused read of what only the operator may see */
		audit(q, who, r->status, r->status == 401 ? "token" : "no-token");
	return rc;
}

/* ------------------------------------------------------------------- host check --- */

/* Does the literal `lit` (no brackets, no port) name an address the API listens on? */
static bool host_literal_ok(const struct kg_sockaddr *listen, const char *lit)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, lit, &a4) == 1) {
		if (listen->ss.ss_family == AF_INET) {
			const struct sockaddr_in *s = (const struct sockaddr_in *)&listen->ss;
			return s->sin_addr.s_addr == htonl(INADDR_ANY) ||
			       s->sin_addr.s_addr == a4.s_addr;
		}
		/* [::] takes IPv4 too (dual stack) */
		return listen->ss.ss_family == AF_INET6 &&
		       IN6_IS_ADDR_UNSPECIFIED(
		           &((const struct sockaddr_in6 *)&listen->ss)->sin6_addr);
	}
	if (inet_pton(AF_INET6, lit, &a6) == 1 && listen->ss.ss_family == AF_INET6) {
		const struct in6_addr *l = &((const struct sockaddr_in6 *)&listen->ss)->sin6_addr;
		return IN6_IS_ADDR_UNSPECIFIED(l) || memcmp(l, &a6, sizeof(a6)) == 0;
	}
	return false;
}

/*
 * Whether a Host header value names this API: "ADDR[:PORT]", "[V6]:PORT", "localhost[:PORT]"
 * or an [http] hostname (case-insensitive, a trailing dot and a port allowed). The port is not
 * compared: a reverse proxy or a port forward may change it, and it is not what a rebinding
 * attack changes.
 */
bool rs__http_host_ok(const struct rs_config *cfg, const char *host)
{
	char h[RS_TLS_NAME_MAX];
	const char *end, *port;
	bool bracketed = host && host[0] == '[';
	size_t n;

	if (!host || !host[0])
		return false;
	if (bracketed) {
		end = strchr(host, ']');
		if (!end)
			return false;
		port = end + 1;
		host++;
	} else {
		end = host + strcspn(host, ":");
		port = end;
	}
	if (port[0] == ':' &&
	    (port[1] == '\0' || strspn(port + 1, "0123456789") != strlen(port + 1) ||
	     strlen(port + 1) > 5))
		return false;
	if (port[0] != '\0' && port[0] != ':')
		return false;
	n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(h))
		return false;
	memcpy(h, host, n);
	h[n] = '\0';
	if (bracketed)
		return host_literal_ok(&cfg->http_listen, h);
	if (h[n - 1] == '.')
		h[--n] = '\0';
	if (host_literal_ok(&cfg->http_listen, h) || strcasecmp(h, "localhost") == 0)
		return true;
	for (int i = 0; i < cfg->n_http_hostnames; i++)
		if (strcasecmp(h, cfg->http_hostnames[i]) == 0)
			return true;
	return false;
}

/* 0 when the request may go on; otherwise fills `r` (every request of the API daemon). */
static int check_host(struct rs_req *q, const char *version, bool api, struct rs_resp *r)
{
	const char *host = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Host");
	struct rs_cfg_ref *cr;
	bool ok;

	if (!host) {
		/* RFC 9112 3.2: a 1.1 request without Host is malformed; 1.0 had no Host and no
		 * browser sends one without it. */
		if (strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
			return 0;
		rs__api_error(q, r, 400, "error.no_host", NULL);
		return -1;
	}
	if (!api)
		return 0; /* the block page is reached through blocked names */
	cr = rs__http_cfg_get(q->h);
	ok = rs__http_host_ok(&cr->cfg, host);
	rs__http_cfg_put(cr);
	if (ok)
		return 0;
	audit(q, "-", 403, "host");
	rs__api_error(q, r, 403, "error.host", NULL);
	return -1;
}

/* --------------------------------------------------------------------- dispatch --- */

static void route_api(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	bool get = strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
	struct rs_cfg_ref *cr;

	if (get && serve_asset(h, q->url, r))
		return;
	if (get && strncmp(q->url, "/i18n", 5) == 0) {
		cr = rs__http_cfg_get(h);
		int lang = rs__i18n_url(q, &cr->cfg);
		rs__http_cfg_put(cr);
		if (lang >= 0)
			return rs__i18n_serve(q, r, lang);
	}
	if (get && strcmp(q->url, "/metrics") == 0)
		return rs__metrics(h, r);
	if (get && strcmp(q->url, "/health") == 0)
		return rs__health(h, r);
	if (strncmp(q->url, "/api/", 5) != 0) {
		rs__resp_text(r, 404, "text/plain; charset=utf-8", "not found\n");
		return;
	}
	if (q->body_too_big) {
		rs__api_error(q, r, 413, "error.too_large", NULL);
		return;
	}
	if (!get && strcmp(q->url, "/api/report") == 0 && !json_body(q)) {
		/* unauthenticated, so at least not from a foreign page's form (no preflight) */
		rs__api_error(q, r, 415, "error.report_json", NULL);
		return;
	}
	if (!get && strcmp(q->url, "/api/report") != 0) {
		const char *who;
		cr = rs__http_cfg_get(h);
		int rc = authorize(q, &cr->cfg, r, &who);
		if (rc == 0)
			rs__api_handle(q, r);
		/* `who` may point into the snapshot: log before letting it go */
		audit(q, who, r->status, rc ? (r->status == 401 ? "token" : "no-token") : NULL);
		rs__http_cfg_put(cr);
		return;
	}
	rs__api_handle(q, r);
}

struct conn_state {
	char *body;
	size_t len;
	bool too_big;
};

static enum MHD_Result send_resp(struct MHD_Connection *c, struct rs_resp *r, bool api)
{
	struct MHD_Response *m;
	enum MHD_Result ret;

	m = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
	                                    r->body ? MHD_RESPMEM_MUST_FREE
	                                            : MHD_RESPMEM_PERSISTENT);
	if (!m) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(m, "Content-Type", r->type ? r->type : "text/plain");
	MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(m, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(m, "Cache-Control", "no-store");
	if (api) {
		MHD_add_response_header(m, "X-Frame-Options", "DENY");
		MHD_add_response_header(
		    m, "Content-Security-Policy",
		    "default-src 'self'; img-src 'self' data:; "
		    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	}
	if (r->www_auth)
		MHD_add_response_header(m, "WWW-Authenticate", r->www_auth);
	if (r->content_language) {
		MHD_add_response_header(m, "Content-Language", r->content_language);
		/* the viewer's choice (rs__i18n_pick) travels in a cookie */
		MHD_add_response_header(m, "Vary", "Accept-Language, Cookie");
	}
	ret = MHD_queue_response(c, (unsigned)r->status, m);
	MHD_destroy_response(m);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls, bool api)
{
	struct rs_http *h = cls;
	struct conn_state *st = *con_cls;
	struct rs_req q = {.h = h, .conn = c, .method = method, .url = url};
	struct rs_resp r = {0};
	const union MHD_ConnectionInfo *ci;

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		return MHD_YES;
	}
	if (*data_size) {
		/* Bodies are small JSON documents or forms; refuse, but drain, anything larger. */
		if (!st->too_big && st->len + *data_size <= RS_BODY_MAX) {
			char *nb = realloc(st->body, st->len + *data_size + 1);
			if (!nb)
				return MHD_NO;
			st->body = nb;
			memcpy(st->body + st->len, data, *data_size);
			st->len += *data_size;
			st->body[st->len] = '\0';
		} else {
			st->too_big = true;
		}
		*data_size = 0;
		return MHD_YES;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return MHD_NO;
	q.client = ci->client_addr;
	q.body = st->body;
	q.body_len = st->len;
	q.body_too_big = st->too_big;
	if (check_host(&q, version, api, &r) == 0) {
		if (api)
			route_api(&q, &r);
		else
			rs__block_handle(&q, &r);
	}
	return send_resp(c, &r, api);
}

static enum MHD_Result on_api(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
	return on_request(cls, c, url, method, version, data, data_size, con_cls, true);
}

static enum MHD_Result on_block(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *data_size, void **con_cls)
{
	return on_request(cls, c, url, method, version, data, data_size, con_cls, false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct conn_state *st = *con_cls;

	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/* libmicrohttpd reports per connection (a reset, a bad request): rate limited. */
	log_every(10, KG_LOG_WARN, "http: %s", buf);
}

static struct MHD_Daemon *start_daemon(struct rs_http *h, const struct kg_sockaddr *a,
                                       MHD_AccessHandlerCallback cb, const char *what)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	uint16_t port;
	struct MHD_Daemon *d;
	char name[KG_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
		/* [::] takes IPv4 too; a specific v6 address only itself */
		flags |=
		    IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
		port = ntohs(s6->sin6_port);
	} else {
		port = ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	}
	d = MHD_start_daemon(flags, port, NULL, NULL, cb, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	                     MHD_OPTION_SOCK_ADDR, &a->ss, MHD_OPTION_NOTIFY_COMPLETED,
	                     on_completed, h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	kg_sockaddr_str((const struct sockaddr *)&a->ss, name, sizeof(name));
	if (!d)
		log_err("http: cannot serve the %s on %s (address in use?); DNS continues "
		        "without it",
		        what, name);
	return d;
}

/* ---------------------------------------------------------------------- sampler --- */

static void *sampler_main(void *arg)
{
	struct rs_http *h = arg;
	struct timespec ts;

	pthread_mutex_lock(&h->stop_lock);
	while (!h->stopping) {
		pthread_mutex_unlock(&h->stop_lock);
		rs__history_sample(h);
		rs__reports_deliver(h);
		rs__signal_deliver(h);
		pthread_mutex_lock(&h->stop_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!h->stopping)
			pthread_cond_timedwait(&h->stop_cond, &h->stop_lock, &ts);
	}
	pthread_mutex_unlock(&h->stop_lock);
	return NULL;
}

/* --------------------------------------------------------------------- start/stop --- */

static void find_assets(struct rs_http *h, const struct rs_config *cfg)
{
	static const char *const dirs[] = {KG_WWW_SRC_DIR, KG_WWW_INSTALL_DIR};
	char probe[RS_PATH_MAX + 16];

	if (cfg->http_assets[0]) {
		snprintf(h->assets, sizeof(h->assets), "%s", cfg->http_assets);
		return;
	}
	/* A build from a checkout uses the checkout's files; an installed one the package's. */
	for (size_t i = 0; i < 2; i++) {
		snprintf(probe, sizeof(probe), "%s/index.html", dirs[i]);
		if (dirs[i][0] && access(probe, R_OK) == 0) {
			snprintf(h->assets, sizeof(h->assets), "%s", dirs[i]);
			return;
		}
	}
	snprintf(h->assets, sizeof(h->assets), "%s", KG_WWW_INSTALL_DIR);
	log_warn("http: no dashboard files in %s; set [http] assets", KG_WWW_INSTALL_DIR);
}

static void http_free(struct rs_http *h)
{
	if (h->bl)
		bl_reader_close(h->bl);
	free(h->signal_batch);
	rs__i18n_free(h);
	rs__events_fini(h);
	if (h->cfg)
		rs_cfg_unref(h->cfg);
	pthread_mutex_destroy(&h->cfg_lock);
	pthread_mutex_destroy(&h->bl_lock);
	pthread_mutex_destroy(&h->hist_lock);
	pthread_mutex_destroy(&h->out_lock);
	pthread_mutex_destroy(&h->stop_lock);
	pthread_cond_destroy(&h->stop_cond);
	free(h);
}

int rs__http_start(struct rs_server *srv)
{
	struct rs_cfg_ref *cr = rs_server_cfg_hold(srv);
	const struct rs_config *cfg = &cr->cfg;
	struct rs_http *h;
	char name[KG_ADDRSTRLEN];
	int rc;

	if (cfg->http_listen.len == 0 && cfg->block_page_listen.len == 0) {
		rs_cfg_unref(cr);
		return 0;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rs_cfg_unref(cr);
		return RS_ENOMEM;
	}
	h->srv = srv;
	h->started = (uint64_t)time(NULL);
	pthread_mutex_init(&h->cfg_lock, NULL);
	pthread_mutex_init(&h->bl_lock, NULL);
	pthread_mutex_init(&h->hist_lock, NULL);
	pthread_mutex_init(&h->out_lock, NULL);
	pthread_mutex_init(&h->stop_lock, NULL);
	pthread_cond_init(&h->stop_cond, NULL);
	h->cfg = cr; /* the reference taken above */
	find_assets(h, cfg);
	rc = getrandom(h->report_key, sizeof(h->report_key), 0) == (ssize_t)sizeof(h->report_key)
	         ? 0
	         : RS_ENOMEM;
	if (!rc)
		rc = rs__i18n_load(h);
	if (!rc)
		rc = rs__events_init(h, cfg);
	if (!rc && (rc = bl_reader_open(rs_server_store(srv), &h->bl)) < 0) {
		log_err("http: blocklist reader: %s", kg_strerror(rc));
		h->bl = NULL; /* /health reports it */
		rc = 0;
	}

	if (rc) {
		log_err("http: %s; the HTTP server is off", kg_strerror(rc));
		http_free(h);
		return rc;
	}
	/* Workers see the rings from now on. */
	rs_server_set_http(srv, h);
	if (pthread_create(&h->sampler, NULL, sampler_main, h) == 0)
		h->sampler_started = true;
	if (cfg->http_listen.len) {
		h->api = start_daemon(h, &cfg->http_listen, on_api, "dashboard and API");
		if (h->api)
			log_info("dashboard: http://%s/ (metrics at /metrics, health at /health; "
			         "files from %s)",
			         kg_sockaddr_str((const struct sockaddr *)&cfg->http_listen.ss,
			                         name, sizeof(name)),
			         h->assets);
	}
	if (cfg->block_page_listen.len) {
		h->block = start_daemon(h, &cfg->block_page_listen, on_block, "block page");
		if (h->block)
			log_info(
			    "block page on http://%s/",
			    kg_sockaddr_str((const struct sockaddr *)&cfg->block_page_listen.ss,
			                    name, sizeof(name)));
	}
	if (cfg->query_log)
		log_info("query log on: the last %d answers are kept in memory with %s client "
		         "addresses",
		         cfg->query_log_size, cfg->query_log_full_addresses ? "full" : "truncated");
	return 0;
}

void rs__http_stop(struct rs_server *srv)
{
	struct rs_http *h = rs_server_set_http(srv, NULL);

	if (!h)
		return;
	if (h->api)
		MHD_stop_daemon(h->api);
	if (h->block)
		MHD_stop_daemon(h->block);
	pthread_mutex_lock(&h->stop_lock);
	h->stopping = true;
	pthread_cond_signal(&h->stop_cond);
	pthread_mutex_unlock(&h->stop_lock);
	if (h->sampler_started)
		pthread_join(h->sampler, NULL);
	http_free(h);
}

void rs__json_resp(struct rs_resp *r, int status, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	if (!s) {
		rs__resp_text(r, 500, "application/json", "{\"error\":\"out of memory\"}");
		return;
	}
	rs__resp_owned(r, status, "application/json", s);
}

static const struct rs_http_ops http_ops = {
    .start = rs__http_start,
    .stop = rs__http_stop,
    .reload = rs__http_reload,
    .event_blocked = rs__event_blocked,
    .event_answer = rs__event_answer,
    .event_seen = rs__event_seen,
};

const struct rs_http_ops *rs_http_plugin(void)
{
	return &http_ops;
}
