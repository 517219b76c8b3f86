/*
 * The server: opens every socket before any thread starts (so a port in use is reported at
 * once, by name), runs one worker thread per loop, and keeps the main thread for signals:
 * SIGTERM/SIGINT stop, SIGHUP reloads the configuration. A reload builds and checks a complete
 * new snapshot and hands it to each worker; a bad file is logged and the old one keeps
 * serving. Listen addresses and the number of workers need a restart.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kg_log.h"

/* Without the TLS library: no DoT/DoH listeners, and a config that needs them is refused. */
static int no_tls_server_new(struct rs_server *srv)
{
	const struct rs_config *cfg = &srv->cfg->cfg;
	bool want = cfg->tls_listen_dot.len || cfg->tls_listen_doh.len;

	for (int i = 0; i < cfg->n_upstream; i++)
		want = want || cfg->upstream_tls[i];
	if (!want)
		return 0;
	log_err("this kidguard was built without DNS over TLS: [tls] and tls:// need it");
	return RS_EINVAL;
}

static void no_tls_server(struct rs_server *srv)
{
}
static void no_tls_reload(struct rs_server *srv, struct rs_config *cfg)
{
}
static int no_tls_worker_init(struct rs_worker *w)
{
	return 0;
}
static void no_tls_worker(struct rs_worker *w)
{
}
static int no_tls_upstream_send(struct rs_pending *p)
{
	return RS_EINVAL;
}
static void no_tls_upstream_cancel(struct rs_pending *p)
{
}

static const struct rs_tls_ops no_tls = {
    .server_new = no_tls_server_new,
    .server_free = no_tls_server,
    .reload = no_tls_reload,
    .worker_init = no_tls_worker_init,
    .worker_stop = no_tls_worker,
    .worker_fini = no_tls_worker,
    .upstream_send = no_tls_upstream_send,
    .upstream_cancel = no_tls_upstream_cancel,
};

/* Without the HTTP library: no API, no event rings. */
static int no_http_start(struct rs_server *srv)
{
	return 0;
}
static void no_http(struct rs_server *srv)
{
}
static void no_http_blocked(struct rs_http *h, int worker, const struct rs_config *cfg,
                            const struct rs_question *q, const struct bl_verdict *v,
                            const struct rs_profile *prof)
{
}
static void no_http_answer(struct rs_http *h, int worker, const struct rs_config *cfg,
                           const struct rs_question *q, const struct sockaddr *peer, bool stream,
                           const char *profile, const uint8_t *msg, size_t len)
{
}

static void no_http_seen(struct rs_http *h, int worker, const struct sockaddr *peer,
                         const uint8_t *mac, const struct sockaddr *subnet,
                         const struct rs_question *q, const char *profile)
{
}

static const struct rs_http_ops no_http_ops = {
    .start = no_http_start,
    .stop = no_http,
    .reload = no_http,
    .event_blocked = no_http_blocked,
    .event_answer = no_http_answer,
    .event_seen = no_http_seen,
};

/* Set once in main() before any thread starts; read-only afterwards. */
const struct rs_tls_ops *rs__tls = &no_tls;
const struct rs_http_ops *rs__http = &no_http_ops;

void rs_daemon_use_tls(const struct rs_tls_ops *ops)
{
	rs__tls = ops ? ops : &no_tls;
}

void rs_daemon_use_http(const struct rs_http_ops *ops)
{
	rs__http = ops ? ops : &no_http_ops;
}

struct rs_cfg_ref *rs_server_cfg_hold(struct rs_server *srv)
{
	atomic_fetch_add(&srv->cfg->refs, 1);
	return srv->cfg;
}

int rs_server_n_workers(const struct rs_server *srv)
{
	return srv->n_workers;
}

struct bl_db *rs_server_store(const struct rs_server *srv)
{
	return srv->bl;
}

int64_t rs_server_clock_offset(const struct rs_server *srv)
{
	return srv->clock_offset;
}

bool rs_server_fail_closed(struct rs_server *srv)
{
	return atomic_load(&srv->fail_closed);
}

bool rs_server_store_fault(const struct rs_server *srv)
{
	return srv->test_store_fault;
}

struct rs_http *rs_server_http(struct rs_server *srv)
{
	return atomic_load_explicit(&srv->http, memory_order_acquire);
}

struct rs_http *rs_server_set_http(struct rs_server *srv, struct rs_http *h)
{
	return atomic_exchange_explicit(&srv->http, h, memory_order_acq_rel);
}

const char *rs_transport_name(int transport)
{
	static const char *const names[RS_TRANSPORT_MAX] = {"udp", "tcp", "dot", "doh"};

	return transport >= 0 && transport < RS_TRANSPORT_MAX ? names[transport] : "?";
}

void rs_cfg_unref(struct rs_cfg_ref *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
		rs_safesearch_free(r->safesearch);
		free(r);
	}
}

struct rs_cfg_ref *rs__cfg_ref_new(const struct rs_config *cfg, int refs)
{
	struct rs_cfg_ref *r = malloc(sizeof(*r));
	const char *ss =
	    cfg->safe_search_table[0] ? cfg->safe_search_table : rs_safesearch_default_path();
	char err[512];

	if (!r)
		return NULL;
	r->cfg = *cfg;
	atomic_init(&r->refs, refs);
	r->safesearch = NULL;
	if (rs_safesearch_load(ss, &r->safesearch, err, sizeof(err)) < 0) {
		if (cfg->safe_search_table[0]) {
			/* The operator named a table: a typo must not pass unnoticed. */
			log_err("[blocking] safe_search_table: %s", err);
			free(r);
			return NULL;
		}
		log_err("safe search table missing (%s): safe search is OFF for every profile",
		        err);
	}
	return r;
}

/* A socket of ours with SO_REUSEPORT, so every worker can bind the same address. */
static int open_socket(const struct kg_sockaddr *a, int type, bool reuseport)
{
	int one = 1, fam = a->ss.ss_family;
	int fd = socket(fam, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		/* A bigger receive queue absorbs bursts the rate limiter cannot see; the kernel
		 * caps it at net.core.rmem_max, so failure here is not an error. */
		int rcvbuf = RS_UDP_RCVBUF;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail:
	one = -errno;
	close(fd);
	return one;
}

/*
 * SO_REUSEPORT would let us share a port with another kidguard of the same user (a forgotten
 * instance would silently take half the queries). Bind once without it first: if the address
 * is taken, say so.
 */
static int probe_free(const struct kg_sockaddr *a, int type)
{
	int fd = open_socket(a, type, false);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int rs__listen_socket(const struct kg_sockaddr *a, bool probe)
{
	int rc = probe ? probe_free(a, SOCK_STREAM) : 0;

	return rc < 0 ? rc : open_socket(a, SOCK_STREAM, true);
}

static int open_listeners(struct rs_server *srv)
{
	const struct rs_config *cfg = &srv->cfg->cfg;
	char name[KG_ADDRSTRLEN];

	for (int i = 0; i < cfg->n_listen; i++) {
		const struct kg_sockaddr *a = &cfg->listen[i];
		int rc = probe_free(a, SOCK_DGRAM);
		if (!rc)
			rc = probe_free(a, SOCK_STREAM);
		for (int k = 0; !rc && k < srv->n_workers; k++) {
			rc = srv->fds_udp[k][i] = open_socket(a, SOCK_DGRAM, true);
			if (rc >= 0)
				rc = srv->fds_tcp[k][i] = open_socket(a, SOCK_STREAM, true);
			rc = rc < 0 ? rc : 0;
		}
		if (rc) {
			log_err(
			    "cannot listen on %s: %s",
			    kg_sockaddr_str((const struct sockaddr *)&a->ss, name, sizeof(name)),
			    strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int rs_server_new(const struct rs_config *cfg, struct rs_server **out)
{
	struct rs_server *srv = calloc(1, sizeof(*srv));
	char err[512];
	int rc = RS_ENOMEM;

	if (!srv)
		return RS_ENOMEM;
	for (int k = 0; k < RS_MAX_WORKERS; k++)
		for (int i = 0; i < RS_MAX_LISTEN; i++)
			srv->fds_udp[k][i] = srv->fds_tcp[k][i] = -1;
	srv->n_workers = cfg->workers;
	/* Tests move the schedule clock, never the real one: KIDGUARD_FAKE_NOW=epoch seconds. */
	if (getenv("KIDGUARD_FAKE_NOW")) {
		srv->clock_offset =
		    strtoll(getenv("KIDGUARD_FAKE_NOW"), NULL, 10) - (int64_t)time(NULL);
		log_warn("KIDGUARD_FAKE_NOW set: schedules use a clock %lld s off the real one",
		         (long long)srv->clock_offset);
	}
	/* Tests make the store fail as I/O or corruption would (on_store_error). */
	if (getenv("KIDGUARD_TEST_STORE_FAULT")) {
		srv->test_store_fault = true;
		log_warn(
		    "KIDGUARD_TEST_STORE_FAULT set: every blocklist lookup fails (tests only)");
	}
	/* Tests stop the cache clock: KIDGUARD_TEST_CLOCK=file holding its value in ms. */
	if (getenv("KIDGUARD_TEST_CLOCK")) {
		srv->test_clock = getenv("KIDGUARD_TEST_CLOCK");
		log_warn(
		    "KIDGUARD_TEST_CLOCK set: cache TTLs age by the clock in %s, not real time "
		    "(tests only, never in production)",
		    srv->test_clock);
	}
	if (srv->n_workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		srv->n_workers = n < 1 ? 1 : n > RS_MAX_WORKERS ? RS_MAX_WORKERS : (int)n;
	}
	srv->cfg = rs__cfg_ref_new(cfg, 1 + srv->n_workers);
	srv->workers = calloc((size_t)srv->n_workers, sizeof(*srv->workers));
	if (!srv->cfg) {
		rc = RS_EINVAL; /* logged: a table named by the config cannot be read */
		goto fail;
	}
	if (!srv->workers)
		goto fail;
	rc = bl_db_open(cfg->state_dir, NULL, &srv->bl);
	if (rc < 0) {
		log_err("cannot open the blocklist store in %s: %s", cfg->state_dir,
		        kg_strerror(rc));
		rc = RS_EIO;
		goto fail;
	}
	/* Nothing runs yet, so the snapshot may still be completed in place. */
	if (rs_config_bind_feed(&srv->cfg->cfg, srv->bl, err, sizeof(err)) < 0) {
		log_err("%s", err);
		rc = RS_EINVAL;
		goto fail;
	}
	rc = rs__signal_new(srv, cfg, &srv->signal);
	if (!rc)
		rc = open_listeners(srv);
	if (!rc)
		rc = rs__tls->server_new(srv);
	for (int k = 0; !rc && k < srv->n_workers; k++) {
		struct rs_worker *w = &srv->workers[k];
		w->index = k;
		w->srv = srv;
		w->cfg = srv->cfg;
		rc = rs__worker_init(w);
	}
	if (rc)
		goto fail;
	*out = srv;
	return 0;
fail:
	rs_server_free(srv);
	return rc;
}

void rs_server_set_config_path(struct rs_server *srv, const char *path)
{
	snprintf(srv->config_path, sizeof(srv->config_path), "%s", path ? path : "");
}

/* The profile names differ: the subscriber channel checks households' templates against them. */
static bool profile_names_changed(const struct rs_config *a, const struct rs_config *b)
{
	if (a->n_profiles != b->n_profiles)
		return true;
	for (int i = 0; i < a->n_profiles; i++)
		if (strcmp(a->profiles[i].name, b->profiles[i].name) != 0)
			return true;
	return false;
}

/* Whether the sync process would run differently: it reads [sync] only when it starts. */
static bool sync_config_changed(const struct rs_config *a, const struct rs_config *b)
{
	return strcmp(a->sync_url, b->sync_url) != 0 ||
	       strcmp(a->sync_public_keys, b->sync_public_keys) != 0 ||
	       strcmp(a->sync_ca_file, b->sync_ca_file) != 0 ||
	       strcmp(a->sync_user, b->sync_user) != 0 ||
	       a->sync_interval_s != b->sync_interval_s || a->sync_timeout_s != b->sync_timeout_s ||
	       a->sync_key_grace_s != b->sync_key_grace_s ||
	       a->sync_max_download != b->sync_max_download ||
	       /* the subscriber channel runs in the same sync process */
	       strcmp(a->subs_url, b->subs_url) != 0 ||
	       strcmp(a->subs_public_keys, b->subs_public_keys) != 0 ||
	       strcmp(a->subs_ca_file, b->subs_ca_file) != 0 ||
	       a->subs_interval_s != b->subs_interval_s ||
	       (b->subs_url[0] && profile_names_changed(a, b));
}

void rs__server_reload(struct rs_server *srv)
{
	struct rs_config cfg;
	struct rs_cfg_ref *r;
	const struct rs_config *old = &srv->cfg->cfg;
	char err[512];
	bool sync_changed;

	if (!srv->config_path[0]) {
		log_warn("SIGHUP: running on the embedded default config, nothing to reload");
		return;
	}
	rs_config_defaults(&cfg);
	if (rs_config_load(srv->config_path, &cfg, err, sizeof(err)) < 0 ||
	    rs_config_bind_feed(&cfg, srv->bl, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	sync_changed = sync_config_changed(old, &cfg);
	if (strcmp(cfg.sync_user, old->sync_user) != 0)
		log_warn("reload: [sync] user changes only on restart");
	if (strcmp(cfg.state_dir, old->state_dir) != 0) {
		log_warn("reload: [blocklist] path changes only on restart");
		memcpy(cfg.state_dir, old->state_dir, sizeof(cfg.state_dir));
	}
	if (cfg.n_listen != old->n_listen || cfg.workers != old->workers ||
	    memcmp(cfg.listen, old->listen, sizeof(cfg.listen)) != 0) {
		log_warn("reload: listen addresses and workers change only on restart");
		memcpy(cfg.listen, old->listen, sizeof(cfg.listen));
		cfg.n_listen = old->n_listen;
		cfg.workers = old->workers;
	}
	rs__tls->reload(srv, &cfg);
	r = rs__cfg_ref_new(&cfg, 1 + srv->n_workers);
	if (!r) {
		log_err("reload failed: out of memory");
		return;
	}
	kg_log_set_level(cfg.log_level);
	for (int k = 0; k < srv->n_workers; k++) {
		struct rs_cfg_ref *prev = atomic_exchange(&srv->workers[k].next_cfg, r);
		rs_cfg_unref(prev);
		uv_async_send(&srv->workers[k].wakeup);
	}
	rs_cfg_unref(srv->cfg);
	srv->cfg = r;
	rs__http->reload(srv);
	log_info("configuration reloaded from %s", srv->config_path);
	if (sync_changed)
		rs__supervisor_config_changed(srv);
}

struct signals {
	uv_signal_t term, intr, hup, usr1;
	struct rs_server *srv;
};

static void on_signal(uv_signal_t *h, int signum)
{
	struct signals *s = h->data;

	if (signum == SIGHUP) {
		rs__server_reload(s->srv);
		return;
	}
	if (signum == SIGUSR1) {
		log_info("SIGUSR1: asking the sync process to poll now");
		rs__supervisor_poke(s->srv);
		return;
	}
	log_info("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	for (int k = 0; k < s->srv->n_workers; k++) {
		atomic_store(&s->srv->workers[k].stop, true);
		uv_async_send(&s->srv->workers[k].wakeup);
	}
	uv_close((uv_handle_t *)&s->term, NULL);
	uv_close((uv_handle_t *)&s->intr, NULL);
	uv_close((uv_handle_t *)&s->hup, NULL);
	uv_close((uv_handle_t *)&s->usr1, NULL);
	rs__supervisor_stop(s->srv);
}

/* Append to a log line, clamped: a long list of listeners is cut, never overrun. */
static size_t line_add(char *line, size_t size, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t line_add(char *line, size_t size, size_t n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (n >= size - 1)
		return n;
	va_start(ap, fmt);
	w = vsnprintf(line + n, size - n, fmt, ap);
	va_end(ap);
	return w < 0 ? n : (n + (size_t)w >= size ? size - 1 : n + (size_t)w);
}

static size_t line_listener(char *line, size_t size, size_t n, const char *what,
                            const struct kg_sockaddr *a)
{
	char s[KG_ADDRSTRLEN];

	if (!a->len)
		return n;
	return line_add(line, size, n, ", %s %s", what,
	                kg_sockaddr_str((const struct sockaddr *)&a->ss, s, sizeof(s)));
}

/*
 * The line an operator (and a test) reads to know the daemon is up: every listener with its
 * address, and the sizes of the tables it answers from. Logged once the HTTP side has started
 * (it logs its own error when a port is taken).
 */
static void log_ready(const struct rs_server *srv)
{
	const struct rs_config *cfg = &srv->cfg->cfg;
	char a[KG_ADDRSTRLEN], line[1024];
	uint64_t local = 0, feed = 0, subs = 0, devs = 0;
	struct bl_meta meta = {0};
	size_t n = line_add(line, sizeof(line), 0, "DNS");

	for (int i = 0; i < cfg->n_listen; i++)
		n = line_add(
		    line, sizeof(line), n, "%s%s", i ? ", " : " ",
		    kg_sockaddr_str((const struct sockaddr *)&cfg->listen[i].ss, a, sizeof(a)));
	n = line_add(line, sizeof(line), n, " (UDP and TCP)");
	n = line_listener(line, sizeof(line), n, "DoT", &cfg->tls_listen_dot);
	n = line_listener(line, sizeof(line), n, "DoH", &cfg->tls_listen_doh);
	n = line_listener(line, sizeof(line), n, "HTTP (dashboard, API, metrics)",
	                  &cfg->http_listen);
	line_listener(line, sizeof(line), n, "block page", &cfg->block_page_listen);
	log_info("kidguard %s ready: listening on %s; %d worker%s, %d upstream%s, config %s",
	         KG_VERSION, line, srv->n_workers, srv->n_workers == 1 ? "" : "s", cfg->n_upstream,
	         cfg->n_upstream == 1 ? "" : "s", cfg->source);
	bl_db_counts(srv->bl, &local, &feed);
	bl_db_meta(srv->bl, &meta);
	bl_clients_count(srv->bl, &subs);
	bl_devices_count(srv->bl, &devs);
	log_info("blocklist %s: %llu feed entries (version %llu), %llu local overrides, %llu "
	         "subscriber prefixes, %llu device IDs; verdict cache %u entries per worker",
	         cfg->state_dir, (unsigned long long)feed, (unsigned long long)meta.feed_version,
	         (unsigned long long)local, (unsigned long long)subs, (unsigned long long)devs,
	         cfg->verdict_entries);
}

static void log_totals(struct rs_server *srv)
{
	struct rs_stats t;

	rs_server_stats(srv, &t);
	log_info("totals: %llu UDP + %llu TCP queries, %llu cache hits, %llu misses, %llu "
	         "upstream queries (%llu timed out, %llu coalesced), %llu SERVFAIL, %llu blocked",
	         (unsigned long long)t.queries[RS_TRANSPORT_UDP],
	         (unsigned long long)t.queries[RS_TRANSPORT_TCP], (unsigned long long)t.cache_hits,
	         (unsigned long long)t.cache_misses, (unsigned long long)t.upstream_queries,
	         (unsigned long long)t.upstream_timeouts, (unsigned long long)t.coalesced,
	         (unsigned long long)t.rcode[RS_RCODE_SERVFAIL], (unsigned long long)t.blocked);
}

void rs_server_stats(struct rs_server *srv, struct rs_stats *out)
{
	const size_t n = sizeof(*out) / sizeof(uint64_t);
	uint64_t *dst = (uint64_t *)out;

	memset(out, 0, sizeof(*out));
	/* struct rs_stats is all uint64_t, so it can be summed as an array. */
	for (int k = 0; k < srv->n_workers; k++) {
		const uint64_t *src = (const uint64_t *)&srv->workers[k].stats;
		for (size_t i = 0; i < n; i++)
			dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	}
}

int rs_server_run(struct rs_server *srv)
{
	uv_loop_t loop;
	struct signals sig = {.srv = srv};
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	uv_signal_init(&loop, &sig.term);
	uv_signal_init(&loop, &sig.intr);
	uv_signal_init(&loop, &sig.hup);
	uv_signal_init(&loop, &sig.usr1);
	sig.term.data = sig.intr.data = sig.hup.data = sig.usr1.data = &sig;
	uv_signal_start(&sig.usr1, on_signal, SIGUSR1);
	uv_signal_start(&sig.term, on_signal, SIGTERM);
	uv_signal_start(&sig.intr, on_signal, SIGINT);
	uv_signal_start(&sig.hup, on_signal, SIGHUP);
	/* HTTP first: once DNS answers, the dashboard and /metrics answer too (a test, or a
	 * load balancer's health check, takes the first DNS answer as "ready"). */
	rs__http->start(srv);
	for (int k = 0; k < srv->n_workers; k++) {
		if (uv_thread_create(&srv->workers[k].thread, rs__worker_run, &srv->workers[k])) {
			log_err("cannot start worker thread %d", k);
			abort();
		}
	}
	log_ready(srv);
	rs__supervisor_start(srv, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int k = 0; k < srv->n_workers; k++)
		uv_thread_join(&srv->workers[k].thread);
	rs__http->stop(srv);
	log_totals(srv);
	if (uv_loop_close(&loop) != 0)
		rc = RS_EIO;
	return rc;
}

void rs_server_free(struct rs_server *srv)
{
	if (!srv)
		return;
	for (int k = 0; srv->workers && k < srv->n_workers; k++)
		rs__worker_fini(&srv->workers[k]);
	for (int k = 0; k < RS_MAX_WORKERS; k++) {
		for (int i = 0; i < RS_MAX_LISTEN; i++) {
			if (srv->fds_udp[k][i] >= 0)
				close(srv->fds_udp[k][i]);
			if (srv->fds_tcp[k][i] >= 0)
				close(srv->fds_tcp[k][i]);
		}
	}
	free(srv->workers);
	rs__tls->server_free(srv);
	rs__signal_free(srv->signal);
	if (srv->sup.has_launcher)
		close(srv->sup.launcher_fd); /* the launcher stops the sync process at EOF */
	bl_db_close(srv->bl);
	rs_cfg_unref(srv->cfg);
	free(srv);
}
