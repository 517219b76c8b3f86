/*
 * The server's moving parts, shared by rs_server.c (threads, signals, reload), rs_worker.c
 * (one libuv loop: listeners and the query path), rs_forward.c (upstream queries) and
 * rs_tcp.c (client TCP connections). Not a public interface.
 */
#ifndef RS_DAEMON_INT_H
#define RS_DAEMON_INT_H

#include <stdatomic.h>
#include <sys/socket.h>
#include <uv.h>

#include "bl.h"
#include "rs_daemon.h"
#include "rs_dns.h"
#include "rs.h"

#define RS_PENDING_BUCKETS    4096    /* in-flight questions per worker, hashed */
#define RS_MAX_WAITERS        64      /* clients coalesced onto one upstream question */
#define RS_TCP_PIPELINE       32      /* queries in flight on one client TCP connection */
#define RS_TCP_EVICT_IDLE_MS  1000    /* at the cap, a connection this quiet may be closed */
#define RS_MMSG_SLOTS         32      /* datagrams per recvmmsg / sendmmsg call on a listener */
#define RS_RX_MSG             4096    /* largest query datagram taken (PROXY header included) */
#define RS_RX_ROUNDS          4       /* recvmmsg calls per wakeup before other handles' turn */
#define RS_COALESCE_QPS       50000   /* per-worker arrival rate above which udp_coalesce applies */
#define RS_COALESCE_WINDOW_NS 5000000 /* measured over windows of at least 5 ms */
#define RS_UDP_RCVBUF         (4 << 20) /* listener receive queue asked for (kernel caps it) */

/* Counters have one writer (the worker's thread) and are read by the stats thread: relaxed
 * atomic stores and loads, which compile to plain moves, keep both sides well defined. */
#define RS_ADD(w, field, n)                                                                        \
	__atomic_store_n(&(w)->stats.field, (w)->stats.field + (n), __ATOMIC_RELAXED)
#define RS_INC(w, field)    RS_ADD(w, field, 1)
#define RS_SET(w, field, v) __atomic_store_n(&(w)->stats.field, (v), __ATOMIC_RELAXED)

struct rs_worker;
struct rs_tcp_conn;

/*
 * A client stream that carries answers back: a TCP connection, and later DoT and DoH. The
 * waiter of a forwarded query holds a reference until it is answered or dropped.
 * send(): `msg` is preceded by 2 writable bytes (room for a length prefix).
 */
struct rs_stream_ops {
	int transport; /* enum rs_transport */
	void (*send)(void *stream, const uint8_t *msg, size_t len);
	void (*ref)(void *stream);
	void (*unref)(void *stream);
	/* The device ID the client presented (DoT SNI, DoH path), or NULL; may itself be NULL. */
	const char *(*client_id)(void *stream);
	/* Optional: a bound of the transport's own on its questions waiting upstream (DoT and
	 * DoH: [tls] max_pending, counted by ref/unref). rs__forward asks it where a question
	 * would wait, next to [upstream] max_inflight, so blocks and cache hits never meet it;
	 * true: refuse this one. */
	bool (*full)(void *stream);
	/* Optional: refuse a question at that bound the transport's own way (DoH: 503); NULL:
	 * SERVFAIL, as at max_inflight. */
	void (*busy)(void *stream);
};

/* A client waiting for an upstream answer. */
struct rs_waiter {
	struct rs_waiter *next;
	struct rs_question q;
	const struct rs_stream_ops *ops; /* NULL for UDP */
	void *stream;                    /* the stream (holds a reference while waiting) */
	uint64_t mask; /* categories blocked for this client now (CNAME inspection) */
	bool rewrite;  /* safe search: answer q as a CNAME to the pending's name */
	char profile[RS_PROFILE_NAME_MAX]; /* the profile decided for (query log), "" before */
	uv_udp_t *udp;                     /* listener to answer a UDP client from */
	struct kg_sockaddr peer;     /* the client: ACL, profile, logs (behind a PROXY header: the
	                              * address the header names) */
	struct kg_sockaddr reply_to; /* UDP behind a proxy: where the answer goes (the proxy,
	                              * the datagram's source); len 0: to `peer` */
};

/* One upstream question in flight, shared by every client that asked it. */
struct rs_pending {
	struct rs_pending *hnext;
	struct rs_worker *w;
	struct rs_cache_key key;
	uint32_t hash;
	struct rs_question q; /* canonical: lowercase name, first asker's EDNS flags */
	struct rs_waiter *waiters;
	int n_waiters;
	uv_timer_t timer;         /* current try */
	uint64_t deadline;        /* whole query, loop ms */
	uint64_t sent_at;         /* current try */
	uint32_t tried;           /* bitmask of upstreams tried */
	int upstream;             /* index of the current try */
	uint16_t id;              /* current try's message ID */
	struct rs_usock *sock;    /* current try's socket (UDP or TCP) */
	struct rs_dot_query *dot; /* current try on a DoT upstream connection (rs_upstream_tls.c) */
	bool finishing;
	bool case_mismatch; /* this try got an answer in another letter case (0x20) */
};

#define RS_BATCH_MSG 4096 /* largest UDP answer we send (max_udp_size's maximum) */

/* Answers waiting for one sendmmsg (rs_sendbatch.c). */
struct rs_sendbatch {
	uv_udp_t *udp; /* the listener they leave from */
	int n;
	struct mmsghdr msgs[RS_MMSG_SLOTS];
	struct iovec iov[RS_MMSG_SLOTS];
	struct sockaddr_storage addrs[RS_MMSG_SLOTS];
	uint8_t bufs[RS_MMSG_SLOTS][RS_BATCH_MSG];
};

/* Datagrams of one recvmmsg call on a listener (rs_worker.c). */
struct rs_recvbatch {
	struct mmsghdr msgs[RS_MMSG_SLOTS];
	struct iovec iov[RS_MMSG_SLOTS];
	struct sockaddr_storage addrs[RS_MMSG_SLOTS];
	uint8_t bufs[RS_MMSG_SLOTS][RS_RX_MSG];
};

/* Recently seen device IDs and their SHA-256 (rs_devices.c): a phone asks many questions on one
 * connection, and the hash is the only costly step of a device lookup. */
#define RS_DEVID_MEMO 8
struct rs_devid_memo {
	uint64_t gen; /* store generation `empty` was read at */
	bool empty;   /* the device table has no entries: no hashing at all */
	unsigned next;
	struct {
		char id[RS_CLIENT_ID_MAX];
		uint8_t hash[BL_DEVICE_HASH_LEN];
	} e[RS_DEVID_MEMO];
};

/* A worker: one thread, one loop, its own sockets, cache and upstream health. */
struct rs_worker {
	int index;
	struct rs_server *srv;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wakeup; /* stop request or new config */
	struct rs_cfg_ref *cfg;
	_Atomic(struct rs_cfg_ref *) next_cfg;
	atomic_bool stop;
	bool stopping;

	uv_udp_t udp[RS_MAX_LISTEN];       /* listener sockets; answers are sent through them */
	uv_poll_t udp_poll[RS_MAX_LISTEN]; /* their readability: our recvmmsg loop reads them */
	uv_tcp_t tcp[RS_MAX_LISTEN];
	int n_listen;

	struct rs_cache *cache;
	struct rs_vcache *vcache;      /* verdict cache ([cache] verdict_entries), NULL when off */
	uint64_t vc_hits0, vc_misses0; /* counts of the tables a reload replaced */
	bool test_clock;      /* KIDGUARD_TEST_CLOCK: next to the cache, read on every lookup */
	struct bl_reader *bl; /* this thread's blocklist reader */
	struct rs_profile_scratch *scratch; /* store profiles resolved by this worker (owned) */
	struct rs_ratelimit *rl;
	uint64_t subs_gen; /* store generation subs_empty was read at */
	bool subs_empty;   /* the subscriber table has no entries */
	struct rs_devid_memo devids;
	struct rs_upstream_health health[RS_MAX_UPSTREAMS];
	struct rs_pending *pending[RS_PENDING_BUCKETS];
	int n_pending;
	struct rs_tcp_conn *conns; /* list of open client connections */
	int n_conns, max_conns;    /* TCP, DoT and DoH connections together */
	struct rs_tls_worker *tls; /* DoT/DoH listeners and DoT upstreams (rs_dot.c), or NULL */

	uint64_t clock_sec; /* loop second the schedule clock was last read */
	int minute_of_week; /* local time, 0 = Monday 00:00 */
	uint8_t rand_buf[512];
	size_t rand_pos;
	struct rs_recvbatch *rx;               /* listeners' recvmmsg slots, owned */
	uint64_t rx_window_start, rx_window_n; /* arrival-rate window (uv_hrtime ns, datagrams) */
	bool rx_busy;                          /* the last window's rate was over RS_COALESCE_QPS */
	struct rs_sendbatch batch;
	uv_check_t batch_check;
	uint8_t rbuf[RS_MAX_MSG];     /* upstream UDP receive buffer */
	uint8_t wbuf[RS_MAX_MSG + 2]; /* reply scratch (+2 for the TCP length prefix) */
	struct rs_stats stats;

	/* KIDGUARD_TEST_CLOCK (tests only): the cache clock is the file's value (rs__cache_now) */
	bool test_clock_due;          /* a new loop iteration: read the file before using it */
	uint64_t test_clock_ms;       /* its last value (never goes back) */
	uv_prepare_t test_clock_prep; /* marks each iteration due */
};

/* The sync child process and the feed-freshness watch (rs_supervise.c), main thread only. */
struct rs_supervisor {
	struct rs_server *srv;
	uv_loop_t *loop;
	uv_process_t proc;
	uv_timer_t restart, watch;
	bool running, stopping, was_stale;
	bool respawn; /* stopped for a new [sync] config: start again at once */
	/* The sync launcher (rs_sync_launch.c), when the sync process has its own user. */
	bool has_launcher, lpoll_open;
	int launcher_fd;
	uv_poll_t lpoll;
	int pid;
	uint64_t started_at, backoff_ms;           /* loop ms */
	uint64_t daemon_started;                   /* epoch seconds */
	uint64_t bound_defined, bound_child_allow; /* the feed categories the config is bound to */
	char exe[RS_PATH_MAX];
	char config[RS_PATH_MAX];
};

/* Drop private/loopback addresses under public names from an upstream answer (`pkt`, scanned
 * into `s`, OPT cut) before it is cached; `s` is rescanned. rs_private.c. */
void rs__strip_private(struct rs_worker *w, uint8_t *pkt, struct rs_scan *s);

/* Messages between the daemon and the sync launcher (one SOCK_SEQPACKET each): daemon ->
 * launcher 'S' start, 'K' signal a; launcher -> daemon 'P' started pid a, 'E' fork failed
 * errno a, 'X' exited status a signal b. */
struct rs_launch_msg {
	char type;
	int32_t a, b;
};
int rs__launch_send(int fd, char type, int32_t a, int32_t b);

/* A reload changed [sync]: restart the sync process with it (rs_supervise.c). */
void rs__supervisor_config_changed(struct rs_server *srv);

/* Load the config file again (SIGHUP), bound to the store's feed categories now. */
void rs__server_reload(struct rs_server *srv);

struct rs_server {
	struct rs_cfg_ref *cfg;
	struct rs_supervisor sup;
	atomic_bool fail_closed; /* feed stale and on_stale = fail_closed */
	int64_t clock_offset;    /* seconds added to the clock (KIDGUARD_FAKE_NOW, tests only) */
	bool test_store_fault;   /* every store lookup fails (KIDGUARD_TEST_STORE_FAULT, tests) */
	const char *test_clock;  /* KIDGUARD_TEST_CLOCK: the cache clock's file (tests) */
	struct bl_db *bl;        /* the policy store, shared read-only by the workers */
	int n_workers;
	struct rs_worker *workers;
	int fds_udp[RS_MAX_WORKERS][RS_MAX_LISTEN];
	int fds_tcp[RS_MAX_WORKERS][RS_MAX_LISTEN];
	char config_path[RS_PATH_MAX];  /* empty: embedded default */
	_Atomic(struct rs_http *) http; /* rs_http.c: API, metrics, event rings; NULL when off */
	struct rs_tls_server *tls;      /* rs_tls.c: certificates and listener sockets */
	struct rs_signal_srv *signal;   /* rs_signal_srv.c: [signal] counts; NULL when off */
};

/* rs_signal_srv.c: the early-warning signal. `*out` NULL when [signal] is off. */
int rs__signal_new(struct rs_server *srv, const struct rs_config *cfg, struct rs_signal_srv **out);
void rs__signal_free(struct rs_signal_srv *s);
/* Count `peer` for the registrable domain of `q` (query path; no allocation, no I/O). */
void rs__signal_note(struct rs_worker *w, const struct sockaddr *peer, const struct rs_question *q,
                     const struct rs_verdict *dv);
/* The signal's clock (epoch seconds): KIDGUARD_TEST_CLOCK's file when set, else time(). */
uint64_t rs__signal_now(const struct rs_server *srv);

/* rs_server.c */
/* A snapshot with its loaded tables; NULL (logged) when a table cannot be read. */
struct rs_cfg_ref *rs__cfg_ref_new(const struct rs_config *cfg, int refs);

/* rs_sendbatch.c */
void rs__batch_init(struct rs_worker *w);
void rs__batch_stop(struct rs_worker *w);
/* Answers from now on leave from `udp` in one batch. */
void rs__batch_begin(struct rs_worker *w, uv_udp_t *udp);
/* Queue an answer; false when it cannot be batched (other socket, too big): send it now. */
bool rs__batch_add(struct rs_worker *w, uv_udp_t *udp, const uint8_t *msg, size_t len,
                   const struct kg_sockaddr *to);
void rs__batch_flush(struct rs_worker *w);

/* rs_supervise.c */
int rs__supervisor_start(struct rs_server *srv, uv_loop_t *loop);
void rs__supervisor_stop(struct rs_server *srv);
void rs__supervisor_poke(struct rs_server *srv);

/* rs_worker.c */
int rs__worker_init(struct rs_worker *w);
void rs__worker_run(void *arg); /* thread entry */
void rs__worker_fini(struct rs_worker *w);
uint32_t rs__random32(struct rs_worker *w);
uint64_t rs__test_clock_now(struct rs_worker *w);

/*
 * The clock cache entries are stored and aged by, TTLs and negative TTLs included (loop ms).
 * Tests replace it with a file's value (KIDGUARD_TEST_CLOCK) so TTLs can be checked exactly
 * without sleeping; upstream timeouts, retries and health keep the real loop time. Without
 * the variable the flag is never set: one predictable branch, no system call per query.
 */
static inline uint64_t rs__cache_now(struct rs_worker *w)
{
	return w->test_clock ? rs__test_clock_now(w) : uv_now(&w->loop);
}
/* Answer one query that arrived on UDP (ops NULL, `udp` the listener) or on a stream. `pkt`
 * is borrowed. */
void rs__handle_query(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                      const struct sockaddr *peer, const struct rs_stream_ops *ops, void *stream);
/* The same for a query a proxy relayed: `peer` is the client the PROXY header named (what the
 * ACL, the profile and any limit see), `reply_to` (NULL: `peer`) the UDP datagram's source.
 * Both borrowed. */
void rs__handle_query_via(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                          const struct sockaddr *reply_to, const struct sockaddr *peer,
                          const struct rs_stream_ops *ops, void *stream);
/* Send a finished answer to a waiter (UDP datagram or TCP frame). */

/* rs_forward.c */
/* Forward `upq` (usually wt->q; the safe endpoint's name for a rewrite) for this waiter;
 * coalesces onto an identical question in flight. */
/* rs_answer.c: every answer the query path and forwarding send. */
void rs__send_answer(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *msg,
                     size_t len);
void rs__answer_error(struct rs_worker *w, const struct rs_waiter *wt, int rcode,
                      bool with_question);
/* Send what the verdict decided (a block or a refusal) and count it; false when the query
 * goes on. */
bool rs__answer_decided(struct rs_worker *w, const struct rs_waiter *wt,
                        const struct rs_verdict *v);
/* What rs_decide reads for this worker now, and who asks (address, device ID, MAC, ECS). */
void rs__decide_ctx(struct rs_worker *w, struct rs_decide_ctx *cx);
void rs__decide_client(struct rs_worker *w, const struct rs_waiter *wt, struct rs_client *cl,
                       struct sockaddr_storage *subnet);
/* An upstream body (fresh or cached) as the answer to wt: safe-search rewrite or CNAME
 * inspection, then the reply. False when the CNAME chain was blocked (answered already). */
bool rs__answer_from_body(struct rs_worker *w, const struct rs_waiter *wt, const uint8_t *body,
                          size_t len, const uint16_t *ttl_offs, int n_ttl, uint32_t age,
                          const uint8_t *rewrite_target, size_t rewrite_len);

/* Refused at once (SERVFAIL, or the stream's `busy`) over [upstream] max_inflight, a
 * question's waiter limit, or the stream's own bound (`full`). */
void rs__forward(struct rs_worker *w, const struct rs_cache_key *key, uint32_t hash,
                 const struct rs_question *upq, const struct rs_waiter *wt);
/* Answer a waiter from an answer body (fresh or cached): safe-search rewrite, CNAME
 * inspection, or the plain reply. False when a CNAME target turned out blocked (the block
 * answer was sent instead). */
/* Drop every question in flight without answering (shutdown). */
void rs__forward_drop_all(struct rs_worker *w);

/* rs_proxy_srv.c: PROXY v2 from [server] proxy_from, on the listeners */
/* A datagram from a UDP listener: strip and honour the header of a trusted frontend, drop
 * one from anyone else (and a headerless datagram from a frontend), then rs__handle_query. */
void rs__udp_datagram(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                      const struct sockaddr *peer);
/* TCP, at the start of a connection: the state a new connection from `peer` starts in. */
enum rs_proxy_tcp { RS_PROXY_TCP_DONE = 0, RS_PROXY_TCP_EXPECT, RS_PROXY_TCP_FORBID };
int rs__proxy_tcp_state(struct rs_worker *w, const struct sockaddr *peer);
/* Consume the header from the first `*len` bytes of `buf` while `*state` is not DONE: on
 * success the header is removed from `buf`, `peer` becomes the client it names and `*state`
 * DONE. Returns 0 (done, or more bytes needed: check *state) or -1 (close the connection). */
int rs__proxy_tcp_consume(struct rs_worker *w, uint8_t *buf, size_t *len, struct kg_sockaddr *peer,
                          int *state);

/* rs_server.c: a listening TCP socket with SO_REUSEPORT (after checking that the address is
 * free when `probe`). Returns the fd or -errno. */
int rs__listen_socket(const struct kg_sockaddr *a, bool probe);

/* rs_forward.c: what a DoT upstream connection reports about the try of `p` it carried. */
void rs__forward_answer(struct rs_pending *p, uint8_t *pkt, size_t len);
void rs__forward_try_failed(struct rs_pending *p);

/*
 * What the TLS library (daemon/tls/, kgtls: DNS over TLS and HTTPS, DoT upstreams) plugs into
 * the server. kgdaemon calls TLS only through this table (rs_daemon_use_tls), so the
 * libraries link one way: kgtls -> kgdaemon. Without it the server has no DoT/DoH listeners
 * and refuses a config with tls:// upstreams.
 */
struct rs_tls_ops {
	int (*server_new)(struct rs_server *srv); /* certificates, listener sockets */
	void (*server_free)(struct rs_server *srv);
	/* SIGHUP, main thread: new certificates for new connections; open ones keep theirs. May
	 * adjust `cfg` (listeners change only on restart). A failure keeps the running one. */
	void (*reload)(struct rs_server *srv, struct rs_config *cfg);
	int (*worker_init)(struct rs_worker *w);  /* worker's loop: listeners */
	void (*worker_stop)(struct rs_worker *w); /* close listeners and connections */
	void (*worker_fini)(struct rs_worker *w); /* after the loop drained */
	/* Send p's current try to its DoT upstream (p->upstream); 0, or negative (nothing sent). */
	int (*upstream_send)(struct rs_pending *p);
	/* Forget p's try on its DoT connection (retry, answer or shutdown). */
	void (*upstream_cancel)(struct rs_pending *p);
};
extern const struct rs_tls_ops *rs__tls; /* never NULL: a table that does nothing by default */

/* rs_subscriber.c: the store's subscriber table ("clients"), which rs_decide() consults
 * before the config's `clients =` prefixes. Is it empty (known once per store generation)?
 * Count what the decision's lookup found (and warn, once a minute, of an unknown profile). */
bool rs__subscribers_empty(struct rs_worker *w, uint64_t gen);
void rs__subscriber_account(struct rs_worker *w, const struct rs_verdict *v);

/* rs_devices.c: who device ID `id` (DoT server name label, DoH path) names, into `cl`
 * (rs_client_device: config client_ids, then the store's device table, whose hash of the ID
 * this worker memoises). A failed store lookup counts as a policy error. */
void rs__device_profile(struct rs_worker *w, const char *id, struct rs_client *cl);

/* rs_tcp.c */
void rs__tcp_on_connection(uv_stream_t *server, int status);
extern const struct rs_stream_ops rs__tcp_ops;
/* Accept and close at once (over the connection cap, or a client not allowed). */
void rs__reject_connection(uv_stream_t *server, const char *why);
void rs__tcp_close_all(struct rs_worker *w);

extern const struct rs_http_ops *rs__http; /* never NULL: a table that does nothing by default */

#endif
