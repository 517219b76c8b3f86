/*
 * Internals shared by the files of the resolver module (rs__ would be the prefix of anything
 * that is not also unit-tested). The pure parts — wire reader/writer, cache, upstream
 * selection — are declared here so that tests/unit and tests/fuzz can reach them.
 */
#ifndef RS_DNS_H
#define RS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Errors: the RS_E* codes live with every other range in kg_err.h (constants, libc only). */
#include "kg_err.h"

/* ---------------------------------------------------------------- wire (rs_wire.c) --- */

#define RS_MAX_NAME     255   /* wire octets, RFC 1035 §2.3.4 */
#define RS_MAX_MSG      65535 /* a DNS message never exceeds this (TCP length prefix) */
#define RS_HDR_LEN      12
#define RS_EDNS_SIZE    1232 /* what we advertise upstream and to clients (DNS flag day 2020) */
#define RS_MAX_TTL_OFFS 256  /* answers with more RRs are served but not cached */

/* DNS constants we use by name. */
enum {
	RS_RCODE_NOERROR = 0,
	RS_RCODE_FORMERR = 1,
	RS_RCODE_SERVFAIL = 2,
	RS_RCODE_NXDOMAIN = 3,
	RS_RCODE_NOTIMP = 4,
	RS_RCODE_REFUSED = 5,
	RS_RCODE_BADVERS = 16, /* extended: needs OPT */
	RS_TYPE_A = 1,
	RS_TYPE_NS = 2,
	RS_TYPE_CNAME = 5,
	RS_TYPE_SOA = 6,
	RS_TYPE_AAAA = 28,
	RS_TYPE_DNAME = 39,
	RS_TYPE_OPT = 41,
	RS_CLASS_IN = 1,
};

/* Header flag bits (second 16-bit word). */
#define RS_F_QR        0x8000
#define RS_F_AA        0x0400
#define RS_F_TC        0x0200
#define RS_F_RD        0x0100
#define RS_F_RA        0x0080
#define RS_F_AD        0x0020
#define RS_F_CD        0x0010
#define RS_F_OPCODE(f) (((f) >> 11) & 0xf)

/* A client's question, checked and converted once at the edge. Policy and cache see only this. */
struct rs_question {
	uint16_t id;
	uint16_t flags; /* the query's header flags word */
	uint16_t qtype, qclass;
	uint8_t qname_len;              /* wire length including the root label */
	uint8_t qname[RS_MAX_NAME];     /* lowercased: the cache and blocklist key */
	uint8_t qname_raw[RS_MAX_NAME]; /* as the client sent it, echoed in replies (0x20) */
	bool edns;
	bool do_bit;
	uint8_t edns_version;
	uint16_t udp_size; /* the client's advertised size, 512 without EDNS */
	/* Options a forwarder may add for the client behind it; trusted only from
	 * [server] trusted_forwarders. Never passed upstream. */
	bool has_mac; /* EDNS option 65001 (dnsmasq --add-mac) */
	uint8_t mac[6];
	bool has_ecs;       /* EDNS Client Subnet, RFC 7871 */
	uint8_t ecs_family; /* 1 = IPv4, 2 = IPv6 */
	uint8_t ecs_prefix;
	uint8_t ecs_addr[16];
};

/* What rs_query_parse decided. */
enum rs_parse_verdict {
	RS_Q_OK = 0,
	RS_Q_DROP = 1,    /* no reply at all: QR=1, or too short to carry an ID */
	RS_Q_FORMERR = 2, /* header readable, rest malformed; q->id and q->flags are valid */
	RS_Q_NOTIMP = 3,  /* opcode other than QUERY */
	RS_Q_BADVERS = 4, /* EDNS version other than 0 (RFC 6891 §6.1.3) */
};

/* Check a client query's shape and fill `q`. Returns an rs_parse_verdict. Pure. */
int rs_query_parse(const uint8_t *pkt, size_t len, struct rs_question *q);

/*
 * Build an error answer (FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS) to `q`. The question is
 * echoed when `with_question`; an OPT record is added when the client sent one. Returns the
 * length written, or 0 when `max` is too small.
 */
size_t rs_build_error(const struct rs_question *q, bool with_question, int rcode, uint8_t *out,
                      size_t max);

/* Build the query we send upstream for `q` with message ID `id` (RD=1, EDNS 1232, DO/CD as
 * the client's). Returns the length, or 0 when `max` is too small. */
size_t rs_build_upstream_query(const struct rs_question *q, uint16_t id, uint8_t *out, size_t max);

/* What rs_response_scan learned of an upstream answer. */
struct rs_scan {
	uint16_t id, flags;
	int rcode; /* including the extended bits from OPT */
	uint16_t ancount;
	size_t keep_len;       /* bytes to keep: everything up to the OPT record (RFC 1035 order) */
	uint16_t arcount_kept; /* ARCOUNT once the OPT and what follows it are cut */
	uint32_t min_ttl;      /* smallest TTL of the kept records; UINT32_MAX when none */
	uint32_t neg_ttl;      /* min(SOA TTL, SOA MINIMUM) of an authority SOA, or UINT32_MAX */
	uint16_t n_ttl;
	uint16_t ttl_offs[RS_MAX_TTL_OFFS]; /* offsets of the TTL fields of the kept records */
	bool too_many_rrs;                  /* more than RS_MAX_TTL_OFFS: do not cache */
};

/*
 * DNS rebinding ([upstream] private_address_answers, like unbound's private-address): true for
 * an address (4 or 16 bytes) in 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.168/16, ::, ::1, fc00::/7, fe80::/10, or ::ffff: mapped from one of those. Pure.
 */
bool rs_addr_private(const uint8_t *addr, size_t len);

/* Is the lowercased wire name `name` equal to or below `zone` (same form)? Pure. */
bool rs_name_at_or_under(const uint8_t *name, size_t nl, const uint8_t *zone, size_t zl);

/* Names in lowercased wire form, borrowed: `n` of them, name[i] of len[i] bytes. (The DNS
 * library sees no config; rs_private_zones() in rs.h makes one of [upstream] private_domains.) */
struct rs_zones {
	const uint8_t (*name)[256];
	const uint8_t *len;
	int n;
};

/*
 * Drop from `pkt` (`len` bytes, an answer rs_response_scan accepted, OPT already cut) every
 * IN A/AAAA record, in any section, whose address is private (rs_addr_private) while its owner
 * is not at or below one of `allowed`. Returns 0 when there is none (`out` untouched), else
 * the number dropped, with the rest (pointers re-aimed, counts lowered) in `out` (at least
 * `len` bytes) and its length in *out_len; an answer left without records is NODATA with the
 * upstream's RCODE, as unbound answers. With `out` NULL, only counts. RS_EPARSE when
 * malformed. Pure.
 */
int rs_private_strip(const uint8_t *pkt, size_t len, const struct rs_zones *allowed, uint8_t *out,
                     size_t *out_len);

/*
 * Walk a whole upstream response, checking every name (compression pointers must point
 * backwards and stay in bounds), every RR length and the counts. Returns 0 or RS_EPARSE. Pure.
 */
int rs_response_scan(const uint8_t *pkt, size_t len, struct rs_scan *s);

/*
 * 0x20 (draft-vixie-dnsext-dns0x20): flip the case of the letters of the uncompressed wire
 * name `name` (`len` bytes) whose bit in `bits` (len / 8 + 1 random bytes) is set; an
 * off-path forger must then guess those bits as well as the ID and port. And: true when the
 * response's question name has exactly the bytes we sent. Pure.
 */
void rs_name_scramble_case(uint8_t *name, size_t len, const uint8_t *bits);
bool rs_response_same_case(const uint8_t *pkt, size_t len, const uint8_t *sent, size_t sent_len);

/* True when the response's question equals q's (name case-insensitively, type, class). */
bool rs_response_matches(const uint8_t *pkt, size_t len, const struct rs_question *q);

/*
 * Write the client's answer from a scanned response body `body` (keep_len bytes, OPT removed):
 * the client's ID and question case, RD/CD from the client, every TTL lowered by `age` seconds,
 * an OPT when the client sent EDNS. When the result would exceed `limit` (the client's UDP
 * size; pass RS_MAX_MSG for TCP) an empty TC=1 answer is written instead. Returns the length,
 * or 0 when `max` is too small.
 */
size_t rs_build_reply(const uint8_t *body, size_t body_len, const uint16_t *ttl_offs, int n_ttl,
                      uint32_t age, const struct rs_question *q, size_t limit, uint8_t *out,
                      size_t max);

/* What a blocked name gets. */
enum rs_block_action {
	RS_ACTION_SINKHOLE = 0, /* A/AAAA → the sinkhole address, other types → NODATA */
	RS_ACTION_NXDOMAIN,
	RS_ACTION_NODATA,
	RS_ACTION_REFUSED,
};

/* How to answer a blocked question (RFC 8914 for the Extended DNS Error). */
#define RS_EDE_BLOCKED  15
#define RS_EDE_FILTERED 17
#define RS_EDE_TEXT_MAX 200
struct rs_block_answer {
	int action;          /* enum rs_block_action */
	const uint8_t *ipv4; /* 4 bytes, borrowed */
	const uint8_t *ipv6; /* 16 bytes, borrowed */
	uint32_t ttl;
	uint16_t ede_code;
	const char *ede_text; /* borrowed; cut at RS_EDE_TEXT_MAX */
};

/* Build the local answer for a blocked name: sinkhole address, NXDOMAIN, NODATA or REFUSED,
 * with the EDE option when the client sent EDNS. Returns the length, or 0 if `max` is small. */
size_t rs_build_blocked(const struct rs_question *q, const struct rs_block_answer *b, uint8_t *out,
                        size_t max);

/* The longest CNAME/DNAME chain an answer may carry: longer is a loop or an attack (unbound
 * gives up after 11 restarts), and every name of it must be checked. */
#define RS_MAX_CNAME_CHAIN 16

/* What a name reported by rs_answer_names is in its record. */
enum rs_answer_name_kind { RS_ANAME_OWNER, RS_ANAME_CNAME, RS_ANAME_DNAME };

/* Called per name; `name` (wire form, lowercased, uncompressed) is borrowed for the call. A
 * nonzero return stops the walk and is returned by rs_answer_names. */
typedef int (*rs_answer_name_cb)(void *ctx, const uint8_t *name, size_t len, int kind);

/*
 * Every name in the answer section of `body` that policy could apply to: each record's owner,
 * each CNAME and DNAME target, in order, skipping a name equal to the one reported just before
 * (the question's name counts as reported). `cb` may be NULL (only the checks below). Returns
 * 0 after the last name, cb's nonzero return, RS_ELIMIT when more than `max_chain` CNAME and
 * DNAME records are present, RS_EPARSE when malformed. Pure; two names on the stack.
 */
int rs_answer_names(const uint8_t *body, size_t len, int max_chain, rs_answer_name_cb cb,
                    void *ctx);

/*
 * Safe search: the answer to `orig` as "orig CNAME target" followed by the address and CNAME
 * records of `body`, the (scanned, OPT-less) answer for `target`. Names are written
 * uncompressed. TTLs lowered by `age`. TC=1 empty answer when over `limit`. Returns the length
 * or 0.
 */
size_t rs_build_rewrite(const uint8_t *body, size_t body_len, const uint8_t *target,
                        size_t target_len, uint32_t age, const struct rs_question *orig,
                        size_t limit, uint8_t *out, size_t max);

/* Set every listed TTL field of `body` to `ttl` (what the cache will count down from). */
void rs_set_ttls(uint8_t *body, const uint16_t *ttl_offs, int n_ttl, uint32_t ttl);

/* Largest UDP answer for this client: its EDNS size (512 without) capped at `server_max`. */
size_t rs_udp_limit(const struct rs_question *q, int server_max);

/* ------------------------------------------------- PROXY protocol v2 (rs_proxy.c) --- */

#define RS_PROXY_SIG_LEN 12
#define RS_PROXY_MAX_HDR 1040 /* 16 fixed bytes + 1024 of addresses and TLVs */
extern const uint8_t rs_proxy_sig[RS_PROXY_SIG_LEN];

struct sockaddr_storage;

/*
 * Parse the PROXY protocol v2 header at the start of `p` (`len` bytes, borrowed). On success
 * returns 0, `*src` (borrowed) receives the client's address and port (AF_INET or AF_INET6;
 * AF_UNSPEC for a LOCAL command or an UNSPEC family: use the connection's own peer) and
 * `*hdr_len` the header's length (the DNS message starts there). Returns -EAGAIN when `p` is
 * a valid but incomplete header (TCP: read more; UDP: malformed), RS_EPARSE when it is not a
 * header we accept, RS_EINVAL on NULL arguments. Out-parameters untouched on failure. Pure.
 */
int rs_proxy_parse(const uint8_t *p, size_t len, struct sockaddr_storage *src, size_t *hdr_len);

/* ------------------------------------------- TCP and DoT stream framing (rs_frame.c) --- */

/*
 * Split the next DNS message off a client stream (RFC 7766 §8: a 2-byte length, then the
 * message). `buf` (borrowed) holds the `len` unconsumed bytes. Returns 0 when a whole message
 * is there: it lies at buf + *msg_off (always 2) for *msg_len bytes, and the next frame starts
 * at *msg_off + *msg_len. Returns -EAGAIN when more bytes are needed (a buffer of RS_MAX_MSG +
 * 2 bytes always has room for the rest), and RS_EPARSE when the announced length is below
 * RS_HDR_LEN: too short to carry an ID, so nothing can be answered and the connection should
 * be closed. Out-parameters untouched unless 0 is returned. Pure, allocation-free.
 */
int rs_frame_next(const uint8_t *buf, size_t len, size_t *msg_off, size_t *msg_len);

/* Where rs_frame_drain hands messages: `ready` says whether the connection can take one more
 * query now (open, below its pipeline limit); `dispatch` gets one message (borrowed for the
 * call). */
struct rs_frame_sink {
	bool (*ready)(void *arg);
	void (*dispatch)(void *arg, const uint8_t *msg, size_t len);
	void *arg;
};

/*
 * Dispatch the whole messages at the front of buf[0..*len) one at a time, asking sink->ready
 * before each, then move what was not dispatched (a partial frame, or whole frames held back
 * because the connection was not ready) to the front and update *len. The caller must stop
 * reading while frames are held back and call this again when the connection is ready.
 * Returns 0, or RS_EPARSE for a frame too short to carry an ID (close the connection).
 */
int rs_frame_drain(uint8_t *buf, size_t *len, const struct rs_frame_sink *sink);

/* ------------------------------------------------------------- cache (rs_cache.c) --- */

/* (name, type, class) plus the DO and CD bits, which change what an upstream returns. */
struct rs_cache_key {
	uint16_t len;
	uint32_t hash; /* of data, keyed per process: set by rs_cache_key_make */
	uint8_t data[RS_MAX_NAME + 5];
};

/* Build the key of `q` and hash it once (SipHash-1-3 under this process's random key); the
 * cache and the in-flight table both index by that hash. */
void rs_cache_key_make(const struct rs_question *q, struct rs_cache_key *k);
/* The hash rs_cache_key_make stored: no rehashing on the query path. */
uint32_t rs_cache_key_hash(const struct rs_cache_key *k);

struct rs_cache;

/* A cached answer, borrowed from the cache until the next put on the same cache. */
struct rs_cache_entry_view {
	const uint8_t *body;
	size_t body_len;
	const uint16_t *ttl_offs;
	int n_ttl;
	uint32_t age; /* seconds since it was stored */
	void *entry;  /* for rs_cache_policy_*; valid as long as the view */
};

/*
 * The policy verdict remembered with a cached answer: "passed the blocklist (question and
 * CNAME targets) for this category mask at this store generation". A cache hit whose note
 * matches skips the blocklist; any commit to the store changes the generation.
 */
bool rs_cache_policy_known(const struct rs_cache_entry_view *v, uint64_t gen, uint64_t mask);
void rs_cache_policy_note(const struct rs_cache_entry_view *v, uint64_t gen, uint64_t mask);

/* `max_entries` 0 disables caching. Returns 0 or RS_ENOMEM. */
int rs_cache_new(uint32_t max_entries, struct rs_cache **out);
void rs_cache_free(struct rs_cache *c);
/* Shrink or grow the bound (evicting least recently used entries at once). */
void rs_cache_set_limit(struct rs_cache *c, uint32_t max_entries);
uint32_t rs_cache_count(const struct rs_cache *c);
/* Also bound the heap the entries hold (0 = no byte bound); evicts at once. */
void rs_cache_set_max_bytes(struct rs_cache *c, size_t max_bytes);
size_t rs_cache_bytes(const struct rs_cache *c);

/* Find a live entry; an expired one is removed. Marks the entry most recently used. */
bool rs_cache_get(struct rs_cache *c, const struct rs_cache_key *k, uint64_t now_ms,
                  struct rs_cache_entry_view *v);

/*
 * Store an answer for `ttl` seconds; the body and offsets are copied. The TTL fields in the
 * stored copy are clamped to `ttl` so that ages count down consistently. Replaces an existing
 * entry for the key. Returns 0 or RS_ENOMEM.
 */
int rs_cache_put(struct rs_cache *c, const struct rs_cache_key *k, const uint8_t *body,
                 size_t body_len, const uint16_t *ttl_offs, int n_ttl, uint32_t ttl,
                 uint64_t now_ms);

/* ---------------------------------------------------- verdict cache (rs_vcache.c) --- */

/*
 * A bounded per-worker table: lowercased wire name -> a small value of the caller's (the
 * blocklist's raw result for the name), valid for one store generation. No allocation after
 * rs_vcache_new; names longer than RS_VCACHE_NAME_MAX are not kept.
 */
#define RS_VCACHE_WAYS     16 /* slots a name may live in (the probe bound) */
#define RS_VCACHE_NAME_MAX 86 /* wire bytes kept per name */
#define RS_VCACHE_VAL_MAX  40 /* value bytes kept per name */

struct rs_vcache;

struct rs_vcache_stats {
	uint64_t hits, misses;
	uint64_t evictions; /* a live entry replaced by another name of its set */
	uint64_t flushes;   /* generation changes (every entry dropped at once) */
	uint64_t skipped;   /* values not kept (too long, or read in another snapshot) */
	uint32_t entries;   /* live entries of the current generation */
	uint32_t capacity;  /* slots: at most the `entries` asked for */
};

/* A table of at most `entries` slots (132 bytes each: the slot and its tag); 0: `*out` =
 * NULL, caching off. Returns 0 or RS_ENOMEM. `*out` owned by the caller, freed with
 * rs_vcache_free (NULL allowed). */
int rs_vcache_new(uint32_t entries, struct rs_vcache **out);
void rs_vcache_free(struct rs_vcache *vc);
/* The store generation now: when it differs from the table's, every entry is dropped. */
void rs_vcache_generation(struct rs_vcache *vc, uint64_t gen);
/* The generation last set. */
uint64_t rs_vcache_current(const struct rs_vcache *vc);
/* Copy the value for `name` (borrowed, `len` bytes) into `val` (RS_VCACHE_VAL_MAX bytes) and
 * its length into `*vlen`; false on a miss. */
bool rs_vcache_get(struct rs_vcache *vc, const uint8_t *name, size_t len, void *val, size_t *vlen);
/* Keep `val` (`vlen` bytes, copied) for `name`, read at store generation `gen`: refused
 * (RS_EINVAL) unless `gen` is the table's generation and both fit. Evicts within the set. */
int rs_vcache_put(struct rs_vcache *vc, uint64_t gen, const uint8_t *name, size_t len,
                  const void *val, size_t vlen);
void rs_vcache_stats(const struct rs_vcache *vc, struct rs_vcache_stats *st);

/* ------------------------------------------------ rate limiting (rs_ratelimit.c) --- */

struct rs_ratelimit;

/* A table of at least `slots` client buckets (rounded up to a power of two). `seed` keys the
 * hash (random per worker). Returns 0 or RS_ENOMEM. */
int rs_ratelimit_new(uint32_t slots, uint64_t seed, struct rs_ratelimit **out);
void rs_ratelimit_free(struct rs_ratelimit *rl);

/* The client key of an address: its prefix (IPv6 prefixes longer than /56 count as /56). */
uint64_t rs_ratelimit_key(const struct sockaddr *sa, int v4_prefix, int v6_prefix);

/* Take one token from the client's bucket (refilled at `qps` a second up to `burst`).
 * False when the bucket is empty: the query is over the limit. Pure but for the table. */
bool rs_ratelimit_allow(struct rs_ratelimit *rl, uint64_t key, uint64_t now_ms, uint32_t qps,
                        uint32_t burst);

/* An empty TC=1 answer to q (the client should retry over TCP). Returns the length or 0. */
size_t rs_build_truncated(const struct rs_question *q, uint8_t *out, size_t max);

/* --------------------------------------------------- upstream choice (rs_upstream.c) --- */

struct rs_upstream_health {
	uint32_t srtt_ms;    /* smoothed RTT, 0 = never measured */
	uint32_t fails;      /* consecutive timeouts/errors */
	uint64_t down_until; /* ms; not preferred before this */
};

/*
 * Choose the upstream for the next try: the healthy one with the lowest smoothed RTT among
 * those not in `tried` (a bitmask); a down one only when nothing else is left. `coin` is a
 * random number: 1 time in 32 an untried healthy upstream is picked at random so that RTTs of
 * the others stay fresh. Returns the index, or -1 when every upstream was tried. Pure.
 */
int rs_upstream_pick(const struct rs_upstream_health *h, int n, uint32_t tried, uint64_t now,
                     uint32_t coin);
void rs_upstream_ok(struct rs_upstream_health *h, uint32_t rtt_ms);
void rs_upstream_failed(struct rs_upstream_health *h, uint64_t now);

/* --------------------------------------------- DoH's HTTP/1.1 requests (rs_h1.c) --- */

#define RS_H1_HEAD_MAX   16384      /* request line and headers, blank line included */
#define RS_H1_BODY_MAX   RS_MAX_MSG /* a DNS message */
#define RS_H1_METHOD_MAX 7

/* One request; every pointer is borrowed from the buffer given to rs_h1_parse(). */
struct rs_h1_req {
	const uint8_t *method, *target, *body; /* body NULL when body_len is 0 */
	size_t method_len, target_len, body_len;
	bool ct_dns; /* Content-Type: application/dns-message */
	bool close;  /* the client wants the connection closed after the answer */
};

/*
 * Parse the request at the front of buf[0, len). Returns its length in bytes (head and body,
 * > 0), 0 when more bytes are needed (never once len >= RS_H1_HEAD_MAX + RS_H1_BODY_MAX), or
 * minus the HTTP status to answer before closing: -400 malformed, -413 body over
 * RS_H1_BODY_MAX, -431 head over RS_H1_HEAD_MAX, -501 Transfer-Encoding. `req` is written only
 * when a request is returned. Pure: no allocation, no state.
 */
int rs_h1_parse(const uint8_t *buf, size_t len, struct rs_h1_req *req);

/* ------------------------------------ early-warning signal counts (rs_signal.c) --- */

/*
 * Per day, how many distinct clients asked each registrable domain ([signal], issue 18): a
 * bounded table of domains, each with a k-minimum-values sketch of keyed client hashes (exact
 * below RS_SIGNAL_KMV clients). Not thread-safe: the daemon serialises calls.
 */
#define RS_SIGNAL_KMV         16
#define RS_SIGNAL_NAME_MAX    64 /* a registrable domain's bytes, NUL included; longer: skipped */
#define RS_SIGNAL_KEY_LEN     32 /* table key + client key, random per day */
#define RS_SIGNAL_DOMAINS_MAX (1u << 22)

struct rs_signal;

/* A table of at most `max_domains` (1..RS_SIGNAL_DOMAINS_MAX) domains, keyed with `key`
 * (copied). `*out` owned by the caller (rs_signal_free). Returns 0, RS_EINVAL or RS_ENOMEM. */
int rs_signal_new(uint32_t max_domains, const uint8_t key[RS_SIGNAL_KEY_LEN],
                  struct rs_signal **out);
void rs_signal_free(struct rs_signal *s);

/* Forget every count and take a new key (a new day). */
void rs_signal_reset(struct rs_signal *s, const uint8_t key[RS_SIGNAL_KEY_LEN]);

/*
 * Count client `client` (`client_len` bytes, e.g. its address; hashed with the day's key,
 * never kept) for `domain` (lowercase registrable domain, borrowed). A domain seen for the
 * first time is asked `excluded(arg, domain)` (may be NULL): true keeps it out for the day.
 * Returns 0, RS_EINVAL (empty, too long, or a byte outside [a-z0-9._-]) or RS_ELIMIT (table
 * full: counted in dropped).
 */
int rs_signal_note(struct rs_signal *s, const char *domain, const void *client, size_t client_len,
                   bool (*excluded)(void *arg, const char *domain), void *arg);

/* Distinct clients of `domain` (exact below RS_SIGNAL_KMV), 0 when unknown or excluded. */
double rs_signal_estimate(const struct rs_signal *s, const char *domain);
uint32_t rs_signal_domains(const struct rs_signal *s);
uint32_t rs_signal_dropped(const struct rs_signal *s);

/* A Laplace(0, scale) draw from 64 uniform random bits `r`. */
double rs_signal_laplace(double scale, uint64_t r);

struct rs_signal_batch_params {
	const char *day; /* "YYYY-MM-DD" */
	uint64_t feed_version;
	const char *software;          /* the appliance's version */
	double epsilon;                /* > 0: each count gets Laplace(1/epsilon) noise */
	uint32_t k;                    /* >= 1: only domains with at least k distinct clients */
	uint64_t (*rand64)(void *arg); /* uniform random bits (a CSPRNG in the daemon) */
	void *rand_arg;
	bool (*excluded)(void *arg, const char *domain); /* may be NULL: on the store now? */
	void *excl_arg;
};

/*
 * The day's batch as JSON (docs/http.md "Privacy"): {"day","feed_version","software",
 * "epsilon","k","domains":[{"domain","count"}]}, counts with noise, only domains reached by
 * >= k clients and not excluded. `*json` (malloc'd, NUL-terminated, `*len` bytes) owned by
 * the caller; `*n_sent` (may be NULL) the number of domains. Returns 0, RS_EINVAL,
 * RS_ENOMEM (RS_ENOSPC only if the size bound were wrong).
 */
int rs_signal_batch(const struct rs_signal *s, const struct rs_signal_batch_params *p, char **json,
                    size_t *len, uint32_t *n_sent);

#endif
