/*
 * The daemon library (kgdaemon): the public face of the worker loops and the server, what
 * main.c, the TLS library (daemon/tls/) and the HTTP library (http/) build on. HTTP reads the
 * server only through this header (counters, config snapshot, store) and plugs in through
 * struct rs_http_ops below; TLS through struct rs_tls_ops (rs_daemon_int.h). Nothing in
 * kgdaemon calls up into either: the libraries link one way (kgtls, kghttp -> kgdaemon).
 */
#ifndef RS_DAEMON_H
#define RS_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rs.h"

/*
 * The TTL to cache a scanned answer for, with the config's caps, or 0 when it must not be
 * cached (SERVFAIL, truncated, too many RRs, zero TTL...). (rs_answer.c)
 */
uint32_t rs_cache_ttl_for(const struct rs_scan *s, const struct rs_config *cfg);

/* ----------------------------------------------------------------- counters --- */

enum rs_transport {
	RS_TRANSPORT_UDP,
	RS_TRANSPORT_TCP,
	RS_TRANSPORT_DOT, /* DNS over TLS, RFC 7858 */
	RS_TRANSPORT_DOH, /* DNS over HTTPS, RFC 8484 */
	RS_TRANSPORT_MAX
};

/* "udp", "tcp", "dot", "doh". */
const char *rs_transport_name(int transport);

/* Upstream answer times, upper bounds in ms (the last bucket is everything above). */
#define RS_LAT_BUCKETS 12
extern const unsigned rs_latency_bounds_ms[RS_LAT_BUCKETS - 1];

/* Counters since start, summed over the workers. Only counts: nothing about who asked what. */
struct rs_stats {
	uint64_t queries[RS_TRANSPORT_MAX];
	uint64_t rcode[16]; /* answers sent, by RCODE (blocked sinkhole answers are NOERROR) */
	uint64_t answers[RS_TRANSPORT_MAX][16]; /* the same, by transport and RCODE */
	uint64_t cache_hits, cache_misses;
	uint64_t blocked;
	uint64_t blocked_category[64];
	uint64_t blocked_profile[RS_MAX_PROFILES];
	uint64_t fail_closed; /* answers blocked because the feed was stale */
	uint64_t upstream_queries, upstream_timeouts, upstream_errors, upstream_tcp_fallbacks;
	uint64_t upstream_case_mismatches; /* 0x20 check failed: retried over TCP */
	uint64_t rx_coalesced;             /* listener wakeups followed by a udp_coalesce sleep */
	uint64_t tcp_evicted;              /* idle TCP connections closed to admit a new one */
	uint64_t upstream_latency[RS_LAT_BUCKETS];
	uint64_t upstream_latency_sum_ms;
	uint64_t coalesced, dropped, refused_acl, formerr, notimp, policy_errors;
	uint64_t ratelimited;     /* over a client's limit (dropped, TC=1; DoT/DoH: REFUSED) */
	uint64_t overload;        /* SERVFAIL because max_inflight was reached */
	uint64_t inflight;        /* upstream questions waiting now */
	uint64_t tcp_connections; /* open now */
	uint64_t cache_entries;   /* now */
	uint64_t verdict_hits, verdict_misses; /* verdict cache lookups ([cache] verdict_entries) */
	uint64_t verdict_entries;              /* live verdict cache entries now */
	uint64_t proxy_refused;   /* PROXY headers missing, malformed or from an untrusted peer */
	uint64_t subscriber_hits; /* profiles chosen by the subscriber table */
	uint64_t subscriber_unknown_profile; /* table entries naming a profile the config lacks */
	uint64_t store_errors;               /* blocklist or subscriber lookups the store failed */
	uint64_t cname_chain_refused;        /* SERVFAIL: an answer's CNAME/DNAME chain too long */
	uint64_t private_answers_dropped;    /* upstream answers with private addresses dropped */
	uint64_t tls_pending;                /* DoH requests and DoT questions waiting upstream */
	uint64_t tls_pending_refused;        /* refused at [tls] max_pending (503, SERVFAIL) */
};

/* -------------------------------------------------------------------- the server --- */

struct rs_server;

/*
 * Create the server: open sockets for every listen address in every worker (SO_REUSEPORT),
 * so that a bind failure is reported before anything runs. `cfg` is copied.
 */
int rs_server_new(const struct rs_config *cfg, struct rs_server **out);

/* The file SIGHUP reloads; NULL or "" for the embedded default (nothing to reload). */
void rs_server_set_config_path(struct rs_server *srv, const char *path);

/*
 * The sync process under its own user (rs_sync_launch.c): fork, while still root and single
 * threaded, the helper that starts `EXE --sync-worker -c CONFIG` as `uid`/`gid` on the
 * daemon's request. `exe` and `config` are borrowed for the process lifetime. Returns the
 * daemon's end of the channel (hand it to rs_server_set_sync_launcher), or -errno.
 */
int rs_sync_launcher_start(const char *exe, const char *config, uid_t uid, gid_t gid);
/* Start the sync process through that launcher from now on; `fd` is owned by `srv`. */
void rs_server_set_sync_launcher(struct rs_server *srv, int fd);

/* Run the workers and the signal loop until SIGTERM/SIGINT. Returns 0 on clean shutdown. */
int rs_server_run(struct rs_server *srv);

/* Sum every worker's counters into `out`. Safe from any thread while the server runs. */
void rs_server_stats(struct rs_server *srv, struct rs_stats *out);

/* Free everything. Safe on NULL. */
void rs_server_free(struct rs_server *srv);

/*
 * Plug the TLS library (rs_tls_plugin() of kgtls) and the HTTP library (rs_http_plugin() of
 * kghttp) in, before rs_server_new. Either may be left out (tests, a build without them).
 */
struct rs_tls_ops;
struct rs_http_ops;
void rs_daemon_use_tls(const struct rs_tls_ops *ops);
void rs_daemon_use_http(const struct rs_http_ops *ops);

/* ------------------------------------------- what the HTTP side sees of the server --- */

/* An immutable config snapshot shared by the workers (and the HTTP threads); freed when the
 * last one lets go. */
struct rs_safesearch;
struct rs_cfg_ref {
	atomic_int refs;
	struct rs_config cfg;
	struct rs_safesearch *safesearch; /* loaded with the config, owned */
};
void rs_cfg_unref(struct rs_cfg_ref *r);

/* The server's current snapshot, with a reference taken (main thread: start, reload). */
struct rs_cfg_ref *rs_server_cfg_hold(struct rs_server *srv);
int rs_server_n_workers(const struct rs_server *srv);
/* The policy store, shared read-only (each thread opens its own reader). */
struct bl_db *rs_server_store(const struct rs_server *srv);
/* Seconds added to the clock (KIDGUARD_FAKE_NOW, tests only). */
int64_t rs_server_clock_offset(const struct rs_server *srv);
/* The feed is stale and [sync] on_stale = fail_closed. */
bool rs_server_fail_closed(struct rs_server *srv);
/* Every store lookup fails (KIDGUARD_TEST_STORE_FAULT, tests only). */
bool rs_server_store_fault(const struct rs_server *srv);
/* The HTTP side's state (NULL when off), handed back to its event sink. */
struct rs_http;
struct rs_http *rs_server_http(struct rs_server *srv);
struct rs_http *rs_server_set_http(struct rs_server *srv, struct rs_http *h); /* returns old */

/*
 * What the HTTP library (http/, kghttp: the operator's HTTP server and the bounded rings it
 * shows) plugs into the server: start after the workers, stop after they are joined (main
 * thread), reload, and the event sink the query path reports to. kgdaemon calls HTTP only
 * through this table (rs_daemon_use_http): kghttp -> kgdaemon, never back.
 */
struct bl_verdict;
struct rs_profile;
struct rs_http_ops {
	int (*start)(struct rs_server *srv);
	void (*stop)(struct rs_server *srv);
	/* After a reload swapped the server's snapshot (main thread): HTTP takes the new one. */
	void (*reload)(struct rs_server *srv);
	/* Worker thread `worker`, after a block: remember it in its ring (no allocation). */
	void (*event_blocked)(struct rs_http *h, int worker, const struct rs_config *cfg,
	                      const struct rs_question *q, const struct bl_verdict *v,
	                      const struct rs_profile *prof);
	/* Worker thread `worker`, every answer sent (the optional query log): `peer` asked over
	 * a stream (TCP, DoT, DoH) or not. */
	void (*event_answer)(struct rs_http *h, int worker, const struct rs_config *cfg,
	                     const struct rs_question *q, const struct sockaddr *peer, bool stream,
	                     const char *profile, const uint8_t *msg, size_t len);
	/* Worker thread `worker`, every decided query: `peer` asked `q` with profile `profile`;
	 * `mac` and `subnet` (EDNS Client Subnet as an address; either may be NULL) only when a
	 * trusted forwarder named them. A bounded table, no allocation. All borrowed. */
	void (*event_seen)(struct rs_http *h, int worker, const struct sockaddr *peer,
	                   const uint8_t *mac, const struct sockaddr *subnet,
	                   const struct rs_question *q, const char *profile);
};

/*
 * The early-warning signal ([signal], rs_signal_srv.c), for the HTTP server's background
 * thread, once a second: when the local date changed since the table was started, writes
 * the closed day's batch (JSON, docs/http.md "Privacy") to `*json` (malloc'd, owned by the
 * caller, `*len` bytes), its date to `day` and its domain count to `*n_domains`, starts a new
 * day and returns 1. Returns 0 when the day goes on or the signal is off, < 0 on error.
 * `rd` (borrowed, the caller's thread's reader) drops domains the store learned today.
 */
int rs_server_signal_tick(struct rs_server *srv, struct bl_reader *rd, char **json, size_t *len,
                          char *day, size_t daylen, uint32_t *n_domains);

/* Today's signal table: domains counted and new domains dropped (table full). Returns 0, or
 * -1 when [signal] is off. */
int rs_server_signal_stats(struct rs_server *srv, uint32_t *domains, uint32_t *dropped);

/* The bundled popular-sites list ([signal] allow_list's default). */
const char *rs_signal_default_allow_list(void);

#endif
