/*
 * The operator's HTTP server, shared by rs_http.c (daemons, routing, static files, auth),
 * rs_http_api.c (JSON API), rs_http_body.c (request bodies), rs_http_metrics.c (Prometheus,
 * /health), rs_http_block.c (block page), rs_http_report.c (report outbox) and rs_events.c
 * (the bounded rings).
 *
 * Threads. libmicrohttpd runs each daemon (API, block page) on one internal thread of its own;
 * a third thread, the sampler, records the per-minute history and delivers reports. None of
 * them ever blocks a DNS worker: workers only take their own ring's mutex for a few stores
 * (see rs_events.c for why a mutex and not a seqlock).
 *
 * What is kept (privacy): counters; a per-minute history of counts; the last RS_EV_RING
 * blocked names per worker (name, type, categories, profile, time — no client address unless
 * the query log is on); the query log only when [http] query_log = on; RS_SEEN_MAX recently
 * seen devices per worker (address, the MAC or ECS address a trusted forwarder named, profile,
 * and 32-bit hashes of their last RS_SEEN_NAMES names, never shown: the block page's link to
 * the device behind a router); the report outbox (domain, kind, category, feed version).
 * Nothing is written to disk.
 */
#ifndef RS_HTTP_INT_H
#define RS_HTTP_INT_H

#include <pthread.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>

#include "bl.h"
#include "kg_i18n.h"
#include "rs_daemon.h"
#include "rs_dns.h"
#include "rs.h"

#define RS_EV_RING      128   /* recent blocked events kept per worker */
#define RS_HIST_SLOTS   1440  /* one per minute: 24 hours */
#define RS_OUTBOX       64    /* reports kept (queued, sent or failed) */
#define RS_REPORT_TRIES 12    /* delivery attempts before a report is given up */
#define RS_BODY_MAX     16384 /* largest request body we accept */

/* Reports: per client prefix (/24, /56) and in all, per RS_REPORT_WINDOW seconds. The table of
 * prefixes is emptied with each window and holds at most one entry per accepted report, so
 * RS_REPORT_CEILING entries always suffice. */
#define RS_REPORT_WINDOW     600
#define RS_REPORT_PER_PREFIX 10
#define RS_REPORT_CEILING    200
#define RS_REPORT_TOKEN_LEN  32 /* hex characters of the block page's form token */

/* A client address as kept: family 0 (none), AF_INET or AF_INET6, already truncated. */
struct rs_ev_addr {
	uint8_t family;
	uint8_t addr[16];
};

struct rs_ev_blocked {
	uint64_t t_ms; /* wall clock */
	uint64_t categories;
	uint32_t feed_version;
	uint16_t qtype;
	uint8_t source;   /* enum bl_source */
	char profile[32]; /* the profile's name (a store profile has no config index) */
	uint8_t qname_len;
	uint8_t qname[RS_MAX_NAME]; /* wire, lowercase */
	struct rs_ev_addr client;
};

struct rs_ev_query {
	uint64_t t_ms;
	uint16_t qtype;
	uint8_t rcode;
	bool blocked, tcp;
	char profile[32]; /* the profile decided for, "" when none was (refused, malformed) */
	uint8_t qname_len;
	uint8_t qname[RS_MAX_NAME];
	struct rs_ev_addr client;
};

/* A client seen recently (GET /api/devices/seen): the Family page's "add a device" list, and
 * how the block page finds the device a trusted forwarder spoke for (rs__seen_client). */
#define RS_SEEN_MAX    64  /* per worker; the least recently seen is replaced */
#define RS_SEEN_NAMES  8   /* names remembered per device (hashes), for the block page */
#define RS_SEEN_LINK_S 300 /* how old a device's query may be for the block page to use it */
struct rs_ev_seen {
	struct rs_ev_addr addr;   /* the peer (the forwarder); family 0: a free slot */
	struct rs_ev_addr subnet; /* ECS a trusted forwarder sent (the device's address), or 0 */
	bool has_mac;             /* a trusted forwarder named the device's MAC */
	uint8_t mac[6];
	char profile[32];
	uint64_t last_seen; /* unix seconds */
	uint64_t queries;
	/* The last names asked (rs__seen_name_hash, newest at names[n_names % RS_SEEN_NAMES]
	 * - 1), never shown: the block page's "which device behind the router asked this". */
	uint32_t names[RS_SEEN_NAMES];
	uint32_t n_names;
};

/* One worker's rings. The worker is the only writer; the HTTP thread copies under `lock`. */
struct rs_ev_ring {
	pthread_mutex_t lock;
	uint64_t n_blocked; /* total written; slot = n % RS_EV_RING */
	struct rs_ev_blocked blocked[RS_EV_RING];
	struct rs_ev_query *qlog; /* NULL: query log off at start */
	uint32_t qlog_cap;
	uint64_t n_qlog;
	bool block_pending; /* worker only: the next answer sent is a block */
	struct rs_ev_seen seen[RS_SEEN_MAX];
};

struct rs_hist_point {
	uint64_t t; /* start of the minute, epoch seconds */
	uint64_t queries, blocked, cache_hits, servfail;
	uint64_t upstream_queries, upstream_failures; /* timeouts and errors */
};

enum rs_report_state { RS_REPORT_QUEUED, RS_REPORT_SENT, RS_REPORT_FAILED, RS_REPORT_MANUAL };

struct rs_report {
	uint64_t id;
	char domain[BL_NAME_MAX];
	char kind[16];      /* "wrong_block" or "not_blocked" */
	char category[128]; /* the store's categories of the name, "" when none */
	uint64_t feed_version;
	uint64_t created, next_try; /* epoch seconds */
	int attempts;
	int state; /* enum rs_report_state */
	char error[160];
};

/* The compiled-in catalogues (embed_i18n.cmake of common/i18n, into rs_i18n_data.c). */
extern const struct kg_i18n_src rs__i18n_srcs[];
extern const int rs__i18n_srcs_n;

struct rs_http {
	struct rs_server *srv;
	struct MHD_Daemon *api, *block;
	uint64_t started; /* epoch seconds */
	char assets[RS_PATH_MAX];
	struct kg_i18n i18n; /* parsed at start, read-only afterwards */

	pthread_mutex_t cfg_lock; /* guards cfg (the pointer, not the snapshot) */
	struct rs_cfg_ref *cfg;

	pthread_mutex_t bl_lock; /* one reader for both MHD threads (MDB_NOTLS) */
	struct bl_reader *bl;

	struct rs_ev_ring *rings; /* rs_server_n_workers(srv) */

	pthread_mutex_t hist_lock;
	struct rs_hist_point hist[RS_HIST_SLOTS];
	uint64_t n_hist;
	struct rs_stats last; /* counters at the start of the current minute */
	uint64_t last_t;

	pthread_mutex_t out_lock;
	struct rs_report outbox[RS_OUTBOX];
	int n_out;
	uint64_t next_report_id;
	uint64_t rate_t, rate_n; /* reports accepted in the current window, in all */
	struct rs_report_quota {
		uint8_t pfx[8]; /* family byte, then the /24 or /56 */
		uint32_t n;
	} rate_pfx[RS_REPORT_CEILING]; /* reports accepted per prefix in the window */
	int n_rate_pfx;
	uint8_t report_key[32]; /* per process: the block page's form tokens */

	/* [signal]: the last closed day's batch until delivered (sampler thread only) */
	char *signal_batch; /* malloc'd JSON, NULL when none is pending */
	size_t signal_len;
	char signal_day[16];
	uint32_t signal_domains;
	int signal_tries;
	uint64_t signal_next_try;                    /* epoch seconds */
	_Atomic uint64_t signal_sent, signal_failed; /* batches, for /metrics */

	pthread_t sampler;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping, sampler_started;
};

/* A request as the handlers see it. */
struct rs_req {
	struct rs_http *h;
	struct MHD_Connection *conn;
	const char *method, *url;
	char *body;
	size_t body_len;
	bool body_too_big;
	const struct sockaddr *client;
};

/* What a handler hands back: a status, a content type and an owned body. */
struct rs_resp {
	int status;
	const char *type;
	char *body; /* malloc'd, owned; NULL means empty */
	size_t len;
	const char *www_auth;         /* WWW-Authenticate value, or NULL */
	const char *content_language; /* Content-Language value (static), or NULL */
};

/* rs_http.c */
struct rs_cfg_ref *rs__http_cfg_get(struct rs_http *h); /* a reference: release with put */
void rs__http_cfg_put(struct rs_cfg_ref *r);
void rs__resp_text(struct rs_resp *r, int status, const char *type, const char *text);
void rs__resp_owned(struct rs_resp *r, int status, const char *type, char *body);
/* Read an asset file into a malloc'd NUL-terminated buffer; NULL when missing. */
char *rs__http_asset(struct rs_http *h, const char *name, size_t *len);
/* Lookup with the shared reader (locks bl_lock). */
int rs__http_lookup(struct rs_http *h, const char *name, uint64_t mask, struct bl_verdict *v);
/* The daemon's decision (rs_decide, all stages) for a normalised text name, now (the
 * daemon's clock), through the HTTP thread's reader; `cl->device_id` is looked up there
 * (rs_client_device). Returns 0, RS_EINVAL, or a store error (BL_ESTORE, ...). */
struct rs_client;
struct rs_verdict;
int rs__http_decide(struct rs_http *h, const struct rs_cfg_ref *cr, const struct rs_client *cl,
                    const char *name, struct rs_verdict *v);
/* "adult, gambling" (sep ", ") of a mask into buf. */
const char *rs__cat_names(struct rs_http *h, uint64_t mask, char *buf, size_t len);
bool rs__is_loopback(const struct sockaddr *sa);
/* Whether a Host header value names the API ([http] listen, localhost, [http] hostname). */
bool rs__http_host_ok(const struct rs_config *cfg, const char *host);

/* rs_http_api.c */
void rs__api_handle(struct rs_req *q, struct rs_resp *r);
/* rs_http_clients.c: /api/clients/PREFIX (GET, PUT, DELETE), the subscriber table */
void rs__api_clients(struct rs_req *q, struct rs_resp *r);

/* rs_http_devices.c: /api/devices (GET, POST) and /api/devices/NAME (DELETE), device IDs */
void rs__api_devices(struct rs_req *q, struct rs_resp *r);
/* rs_http_profiles.c: /api/profiles and /api/profiles/devices, the household's profiles */
void rs__api_profiles(struct rs_req *q, struct rs_resp *r);

/* rs_http_body.c: request bodies to structs. Pure: no libmicrohttpd, no store. `body` is
 * NUL-terminated as rs_http.c keeps it (at most RS_BODY_MAX bytes) or NULL (no body). */

/* POST /api/overrides: {"name", "action": "deny"|"block"|"allow", "subtree", "categories"}. */
struct rs_override_req {
	char name[BL_NAME_MAX];            /* normalised */
	unsigned flags;                    /* BL_F_SUBTREE (unless "subtree": false), BL_F_ALLOW */
	uint64_t categories;               /* bits by `find`; always 0 for an allow rule */
	char profile[BL_PROFILE_NAME_MAX]; /* "profile": a rule of that profile only; "" none */
};
/* "deny" or "block" (flags unchanged), "allow" (sets BL_F_ALLOW); else (or NULL) -EINVAL. */
int rs__override_action(const char *action, unsigned *flags);
/* Returns 0 and fills `out`, or -EINVAL with the message for a 400 in `err` (`errlen` bytes,
 * borrowed). `find` is called with `arg` for each category name. */
int rs__body_override(const char *body, rs_cat_find_fn find, void *arg, struct rs_override_req *out,
                      char *err, size_t errlen);

/* POST /api/report: {"domain", "kind": "wrong_block"|"not_blocked"}. */
struct rs_report_req {
	char domain[BL_NAME_MAX]; /* normalised */
	char kind[16];
};
int rs__report_kind_ok(const char *kind); /* 0 for the two kinds above, else -EINVAL */
/* Returns 0 and fills `out`, or -EINVAL: not that shape, unknown kind or a bad name. */
int rs__body_report(const char *body, struct rs_report_req *out);

/* PUT /api/clients/PREFIX: {"profile": NAME}. Copies NAME into `profile` (`len` bytes,
 * borrowed) and returns 0, or -EINVAL when absent, not a string or `len` bytes or longer. */
int rs__body_client_profile(const char *body, char *profile, size_t len);

/* POST /api/devices: {"name": NAME, "profile": PROFILE}. */
struct rs_device_req {
	char name[BL_DEVICE_NAME_MAX];       /* bl_device_name_valid() */
	char profile[BL_CLIENT_PROFILE_MAX]; /* 1..31 bytes, not yet checked against the config */
};
/* Returns 0 and fills `out`, or -EINVAL (not that shape, a bad name, a profile that does not
 * fit) with `out` untouched. */
int rs__body_device(const char *body, struct rs_device_req *out);

/* PUT /api/profiles?name=N: rs_profile_json() (rs.h) on the NUL-terminated body. */
int rs__body_profile(const char *body, rs_cat_find_fn find, void *arg, struct rs_profile_req *out,
                     char *err, size_t errlen);

/* POST /api/profiles/devices: {"profile", "address"} or {"profile", "mac"}. */
struct rs_profile_device_req {
	char profile[BL_PROFILE_NAME_MAX];
	bool is_mac;
	uint8_t mac[6];
	struct bl_prefix prefix; /* the address as a host prefix (or a prefix given as such) */
};
/* Returns 0 and fills `out`, or -EINVAL with the message in `err`. */
int rs__body_profile_device(const char *body, struct rs_profile_device_req *out, char *err,
                            size_t errlen);

/* One field `key` of an application/x-www-form-urlencoded body (the block page's form),
 * %-decoded and '+' as a blank, cut to fit `out` (`len` bytes, NUL-terminated). Returns 0,
 * -ENOENT when the field is absent or -EINVAL when `len` is 0. */
int rs__form_field(const char *body, const char *key, char *out, size_t len);

/* rs_http_i18n.c: the message catalogues. `lang` is an index into h->i18n. */
#define RS_LANG_COOKIE    "kg_lang"   /* the dashboard's language switch (www/app.js) */
#define RS_ERROR_TEXT_MAX 1400        /* an API error's text, placeholders filled */
int rs__i18n_load(struct rs_http *h); /* at start; 0 or RS_ENOMEM (no catalogue at all) */
void rs__i18n_free(struct rs_http *h);
/* The language of a page or an API answer: the viewer's choice (?lang=, else the kg_lang
 * cookie), else [http] language, else the request's Accept-Language (conn may be NULL: none),
 * else English. */
struct MHD_Connection;
int rs__i18n_pick(const struct rs_http *h, const struct rs_config *cfg,
                  struct MHD_Connection *conn);
const char *rs__i18n_code(const struct rs_http *h, int lang); /* static: "vi" */
/* rs__i18n_pick for request `q`, with the configuration of the moment. */
int rs__req_lang(struct rs_req *q);
/* The text of `key` in `lang`, else in English, else the key itself; never NULL, valid until
 * the HTTP server stops. */
const char *rs__msg(const struct rs_http *h, int lang, const char *key);
/* A category's name in `lang` into `buf` (the feed's translation, the catalogue's, or `name`
 * itself); returns buf. */
const char *rs__cat_label(struct rs_http *h, int lang, const char *name, char *buf, size_t len);
/* rs__cat_names in `lang`. */
const char *rs__cat_labels(struct rs_http *h, int lang, uint64_t mask, char *buf, size_t len);
/* `tmpl` (a message) with each "{key}" replaced by its value from `kv` (key, value, ..., NULL;
 * borrowed) into buf (`len` bytes, always NUL-terminated, cut to fit); unknown ones stay. */
void rs__msg_fill(char *buf, size_t len, const char *tmpl, const char *const *kv);
/* The message key that says why step k->step blocked ("block.step.list"), NULL for none. */
const char *rs__step_msg(const struct rs_verdict *k);
/* An answer ("sinkhole", rs_verdict_answer) in `lang` into buf; returns buf. */
const char *rs__answer_label(const struct rs_http *h, int lang, const char *answer, char *buf,
                             size_t len);
/* The catalogue a URL asks for ("/i18n.json": negotiated; "/i18n/vi.json"), or -1. */
int rs__i18n_url(struct rs_req *q, const struct rs_config *cfg);
void rs__i18n_serve(struct rs_req *q, struct rs_resp *r, int lang);

/* An API error {"error": TEXT, "key": KEY, "args": {NAME: VALUE...}}: TEXT is message KEY
 * ("error.*" of www/i18n/<lang>.json) in the request's language (rs__i18n_pick) with each
 * "{NAME}" filled from `kv` (NAME, VALUE, ..., NULL; borrowed; NULL: none); "args" carries
 * the same values so that a page can say it in its own words. In English TEXT is what the API
 * always said, for scripts. */
void rs__api_error(struct rs_req *q, struct rs_resp *r, int status, const char *key,
                   const char *const *kv);
/* The `kv` of rs__api_error: RS_KV("name", name, "valid", list). */
#define RS_KV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* The answer to a change of the store whose result is `rc`: 200 with `body` (JSON text,
 * borrowed) on success, 404 with message `missing` ("error.*") when what it names is not
 * there (BL_ENOTFOUND), 500 with the error otherwise. */
void rs__api_done(struct rs_req *q, struct rs_resp *r, int rc, const char *missing,
                  const char *body);

/* rs_http_metrics.c */
void rs__metrics(struct rs_http *h, struct rs_resp *r);
void rs__health(struct rs_http *h, struct rs_resp *r);
/* 0 when healthy; otherwise writes the reason. */
int rs__health_reason(struct rs_http *h, char *why, size_t len);
/* What kind of problem (rc, why from rs__health_reason) is: "ok", "store", "stale", "expired"
 * or "other"; static. The dashboard says it in the parent's language. */
const char *rs__health_code(int rc, const char *why);

/* rs_http_block.c */
void rs__block_handle(struct rs_req *q, struct rs_resp *r);

/* rs_http_report.c */
/* Queue a report from `client` (borrowed; only its prefix counts, it is not kept); `kind`
 * "wrong_block" or "not_blocked". Returns 0, -EAGAIN (the client's prefix or everyone is over
 * the quota, or the outbox is full) or -EINVAL. The category and feed version come from the
 * store, not the client. */
int rs__report_add(struct rs_http *h, const struct sockaddr *client, const char *domain,
                   const char *kind, struct rs_report *out);
/* The block page's form token for `client`: an HMAC with the per-process key over the client's
 * prefix and the current time slot. `out` receives RS_REPORT_TOKEN_LEN + 1 bytes. */
void rs__report_token(struct rs_http *h, const struct sockaddr *client, char *out);
/* Whether `token` (NULL: none) was made for this client's prefix in the last two slots. */
bool rs__report_token_ok(struct rs_http *h, const struct sockaddr *client, const char *token);
/* The address reports go to ("" when none). */
void rs__report_address(struct rs_http *h, char *buf, size_t len);
/* A mailto: link for one report (the dashboard's report list), its subject and body in
 * language `lang` (the parent's: they are what the parent's mail program sends). */
void rs__report_mailto(const struct rs_http *h, int lang, const char *addr,
                       const struct rs_report *rep, char *buf, size_t len);
void rs__reports_deliver(struct rs_http *h); /* sampler thread */
/* rs_http_signal.c: close the signal's day and deliver its batch (sampler thread). */
void rs__signal_deliver(struct rs_http *h);

/* rs_events.c */
int rs__events_init(struct rs_http *h, const struct rs_config *cfg);
void rs__events_fini(struct rs_http *h);
void rs__history_sample(struct rs_http *h); /* sampler thread, once a second */
/* Wire name to text ("www.example.com"); "." for the root. */
void rs__wire_to_text(const uint8_t *wire, size_t len, char *out, size_t outlen);
void rs__ev_addr_str(const struct rs_ev_addr *a, bool full, char *buf, size_t len);

/* A JSON answer (takes `j`, NULL = out of memory); errors are rs__api_error's. */
struct cJSON;
void rs__json_resp(struct rs_resp *r, int status, struct cJSON *j);

/* The entries of rs_http_plugin()'s table (struct rs_http_ops says when each runs). */
int rs__http_start(struct rs_server *srv);
void rs__http_stop(struct rs_server *srv);
void rs__http_reload(struct rs_server *srv);
void rs__event_seen(struct rs_http *h, int worker, const struct sockaddr *peer, const uint8_t *mac,
                    const struct sockaddr *subnet, const struct rs_question *q,
                    const char *profile);
/* Where a trusted forwarder stands between a device and us, its browser's address is not the
 * one its queries came from. For the block page asked from `client` about `name` (text,
 * normalised): the client its DNS query was decided for, into `cl` (only addr, mac and
 * subnet set), borrowing `fwd`, `subnet` and `mac` (the caller's storage). In order: the
 * device a forwarder named by this address (ECS) in the last RS_SEEN_LINK_S seconds; `client`
 * itself when it asks us directly;
 * the device a forwarder named by MAC that asked `name` in the last RS_SEEN_LINK_S seconds
 * (the newest); else `client`. rs_decide still checks that the forwarder is trusted. */
void rs__seen_client(struct rs_http *h, const struct sockaddr *client, const char *name,
                     struct rs_client *cl, struct sockaddr_storage *fwd,
                     struct sockaddr_storage *subnet, uint8_t mac[6]);
/* GET /api/devices/seen (operator only: the token, also for reading). */
void rs__api_devices_seen(struct rs_req *q, struct rs_resp *r);
/* The state-changing requests' authorisation, for reads that need it too. 0 or -1 (r set). */
int rs__http_authorize(struct rs_req *q, struct rs_resp *r);

/* POST `len` bytes of JSON `body` (borrowed) to https `url`, trusting `ca_file` ("" or NULL:
 * the system's CAs), 10 s at most; blocking, so only from the HTTP side's background thread.
 * Returns 0 on a 2xx, or -1 with `err` (`errlen` bytes) filled. (rs_http_report.c) */
int rs__http_post_json(const char *url, const char *body, size_t len, const char *ca_file,
                       char *err, size_t errlen);
void rs__event_blocked(struct rs_http *h, int worker, const struct rs_config *cfg,
                       const struct rs_question *q, const struct bl_verdict *v,
                       const struct rs_profile *prof);
void rs__event_answer(struct rs_http *h, int worker, const struct rs_config *cfg,
                      const struct rs_question *q, const struct sockaddr *peer, bool stream,
                      const char *profile, const uint8_t *msg, size_t len);

#endif
