/*
 * The daemon library (kgdaemon): the public face of the worker loops and the server, what
 * main.c, the TLS library (daemon/tls/) and the HTTP library (http/) build on. The TLS and
 * HTTP sides plug in through the operation tables in rs_daemon_int.h, so that nothing in
 * kgdaemon calls up into them (the libraries link one way: kgtls, kghttp -> kgdaemon).
 */
#ifndef RS_DAEMON_H
#define RS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "rs.h"

const char *rs_strerror(int err);

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
	uint64_t ratelimited;     /* queries over a client's limit (dropped or truncated) */
	uint64_t overload;        /* SERVFAIL because max_inflight was reached */
	uint64_t inflight;        /* upstream questions waiting now */
	uint64_t tcp_connections; /* open now */
	uint64_t cache_entries;   /* now */
	uint64_t proxy_refused;   /* PROXY headers missing, malformed or from an untrusted peer */
	uint64_t subscriber_hits; /* profiles chosen by the subscriber table */
	uint64_t subscriber_unknown_profile; /* table entries naming a profile the config lacks */
	uint64_t store_errors;               /* blocklist or subscriber lookups the store failed */
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

#endif
