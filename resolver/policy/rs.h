/*
 * rs.h: the policy library's one public header (kgpolicy, shared by the daemon and
 * kidguard-ctl) — the configuration snapshot and its parser, and the child-protection rules
 * beyond list lookups: presets, schedules, bedtime, hardening canaries, MAC and subnet client
 * matching, safe search, and the one decision a query gets (rs_decide). Pure functions over
 * struct rs_config and the store; no event loop.
 *
 * Data flow of one query (see README.md):
 *   packet → rs_query_parse (shape check) → ACL → rs_decide (profile, policy, blocklist, safe
 *   search) → cache → forward → reply.
 *
 * Errors: functions return 0 on success and a negative value on failure: an RS_E* code, a
 * BL_E* code from the store, or -errno; all are defined in kg_err.h and named by kg_strerror().
 * Foreign codes (OpenSSL, uv) are translated where they are called and never leave the module.
 */
#ifndef RS_H
#define RS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bl.h"
#include "kg_addr.h"
#include "kg_err.h"
#include "rs_dns.h"

/* ------------------------------------------------------------------ configuration --- */

/* Hard maxima: a config asking for more is rejected with the limit in the message. */
#define RS_MAX_LISTEN          16
#define RS_MAX_UPSTREAMS       16
#define RS_MAX_ACL             256
#define RS_MAX_WORKERS         64
#define RS_PATH_MAX            512
#define RS_MAX_PROFILES        32
#define RS_MAX_PROFILE_CLIENTS 32
#define RS_PROFILE_NAME_MAX    32
#define RS_MAX_CLIENT_IDS      8   /* device IDs per profile ([profile NAME] client_ids) */
#define RS_CLIENT_ID_MAX       64  /* one DNS label and its NUL */
#define RS_CLIENT_ID_MIN       16  /* config client_ids are secrets: no guessable "dad" */
#define RS_TLS_NAME_MAX        256 /* a host name and its NUL */
#define RS_HTTP_TOKENS_MAX     8   /* [http] tokens */
#define RS_HTTP_HOSTNAMES_MAX  16  /* [http] hostname entries */

#define RS_MAX_SCHEDULES    8
#define RS_MAX_PROFILE_MACS 16
#define RS_MAX_ALLOW_NAMES  16
#define RS_ALLOW_POOL       1024

enum rs_safe_search { RS_SAFE_OFF = 0, RS_SAFE_MODERATE, RS_SAFE_STRICT };

/*
 * A time window of a profile, in local time: from `start` to `end` minutes after midnight on
 * the days in `days` (bit 0 = Monday .. bit 6 = Sunday; the day the window starts). A window
 * whose end is not after its start runs past midnight into the next day.
 */
struct rs_schedule {
	uint8_t days;
	uint16_t start, end;
	bool bedtime;         /* everything but the profile's bedtime allow list is blocked */
	uint64_t extra_block; /* categories blocked inside the window */
};

/* A named set of blocked categories, assigned to clients by source prefix or MAC address. */
struct rs_profile {
	char name[RS_PROFILE_NAME_MAX];
	uint64_t block_mask; /* bit i = category i of the blocklist's table */
	int action;          /* enum rs_block_action */
	int safe_search;     /* enum rs_safe_search */
	bool hardening;      /* DoH/Private Relay canaries, DDR; see docs/policy.md */
	char preset[16];     /* the age tier it started from, "" for none */
	struct kg_cidr clients[RS_MAX_PROFILE_CLIENTS];
	int n_clients;
	uint8_t macs[RS_MAX_PROFILE_MACS][6];
	int n_macs;
	struct rs_schedule schedules[RS_MAX_SCHEDULES];
	int n_schedules;
	/* bedtime allow list: lowercased wire names packed in `allow_pool` */
	uint16_t allow_off[RS_MAX_ALLOW_NAMES];
	uint8_t allow_len[RS_MAX_ALLOW_NAMES];
	int n_allow;
	uint8_t allow_pool[RS_ALLOW_POOL];
	/* device IDs from DoT SNI / DoH path (rs_config_tls.c): lowercase labels */
	char client_ids[RS_MAX_CLIENT_IDS][RS_CLIENT_ID_MAX];
	int n_client_ids;
	/* A child preset: also blocks the feed-defined categories the publisher does not mark
	 * "child_default": "allow" (rs_config_bind_feed). Cleared by an explicit `block =`. */
	bool feed_default;
	uint64_t block_removed; /* `block -=` bits: never added back by feed_default */
	int mode;               /* enum rs_mode: filter, or a walled garden (allowlist) */
	/* Set only on a profile resolved through the store (rs_profile_resolve): */
	bool has_rules;    /* the store holds rules of this profile ("prules") */
	bool from_store;   /* a store record shaped it (a parent's change, not the file) */
	int8_t base_index; /* the config profile it was made from, for per-profile counters */
};

/* [profile] mode: filter (the blocklist decides), or allowlist (a walled garden: only the
 * profile's and the household's allow rules and the feed's child-safe categories resolve). */
enum rs_mode { RS_MODE_FILTER = 0, RS_MODE_ALLOWLIST = 1 };
int rs_mode_parse(const char *s, int *mode); /* 0 or -1 */
const char *rs_mode_name(int mode);

/* A category named in the config that only the feed defines, resolved against the store by
 * rs_config_bind_feed (kept so that its error names file:line and -n -v prints it). */
#define RS_MAX_FEED_CAT_REFS 64
struct rs_cat_ref {
	char name[32];
	char key[16]; /* "block", "block +", "block -" or "schedule" */
	int line;
	int8_t profile;
	int8_t schedule; /* the window it extends (op 's') */
	char op;         /* '=', '+', '-' or 's' */
};

/* [upstream] private_address_answers: private or loopback addresses under public names (DNS
 * rebinding) are dropped from upstream answers, or allowed. */
enum rs_private_answers { RS_PRIVATE_DROP = 0, RS_PRIVATE_ALLOW = 1 };
#define RS_MAX_PRIVATE_DOMAINS 16

/* [tls] unknown_client_id: what a client whose ID no profile claims gets. */
enum rs_unknown_id { RS_UNKNOWN_ID_DEFAULT = 0, RS_UNKNOWN_ID_REFUSE = 1 };

struct rs_config {
	char source[RS_PATH_MAX]; /* file the config came from, or "(embedded default)" */
	uint64_t serial;          /* unique per loaded snapshot (memos compare it, not pointers) */

	/* [server] */
	struct kg_sockaddr listen[RS_MAX_LISTEN];
	int n_listen;
	int workers;             /* 1..RS_MAX_WORKERS; 0 = one per CPU ("auto") */
	int tcp_max_connections; /* whole daemon; each worker gets its share */
	int tcp_idle_timeout_ms;
	int udp_coalesce_us; /* receive coalescing sleep under heavy load; 0 = off */
	int max_udp_size;    /* largest UDP answer we send (and advertise), 512..4096 */
	char user[64];       /* drop to this user after binding, when started as root */
	char group[64];      /* and this group ("" = the user's primary group) */
	int log_level;

	/* [upstream] */
	struct kg_sockaddr upstream[RS_MAX_UPSTREAMS];
	int n_upstream;
	int upstream_timeout_ms;             /* one try at one upstream */
	int query_timeout_ms;                /* whole query, then SERVFAIL */
	bool upstream_tls[RS_MAX_UPSTREAMS]; /* tls://ADDR@PORT#NAME: DNS over TLS, never clear */
	char upstream_tls_name[RS_MAX_UPSTREAMS][RS_TLS_NAME_MAX]; /* "" = verify the address */
	char upstream_tls_ca_file[RS_PATH_MAX];                    /* "" = the system's CAs */

	/* [cache] */
	uint32_t cache_size; /* entries per worker; 0 disables the cache */
	uint32_t cache_min_ttl;
	uint32_t cache_max_ttl;
	uint32_t cache_neg_max_ttl; /* cap for NXDOMAIN/NODATA (RFC 2308 §5) */

	/* [ratelimit]: per client prefix, UDP only (TCP cannot be spoofed) */
	uint32_t rl_qps;   /* 0 = off */
	uint32_t rl_burst; /* 0 = 2 * qps */
	int rl_ipv4_prefix, rl_ipv6_prefix;
	int rl_action; /* enum rs_rl_action */
	struct kg_cidr rl_exempt[RS_MAX_ACL];
	int n_rl_exempt;
	int upstream_max_inflight;   /* questions in flight upstream, per worker */
	bool upstream_scramble_case; /* 0x20: random letter case in questions sent over UDP */
	int private_answers;         /* enum rs_private_answers */
	/* names at or below which private addresses are fine: lowercased wire form */
	uint8_t private_domains[RS_MAX_PRIVATE_DOMAINS][256];
	uint8_t private_domain_len[RS_MAX_PRIVATE_DOMAINS];
	int n_private_domains;
	uint32_t cache_max_memory_mb; /* per worker; 0 = bounded by size only */
	uint32_t verdict_entries;     /* verdict cache slots per worker; 0 = off */

	/* [access] */
	struct kg_cidr allow[RS_MAX_ACL];
	int n_allow;

	/* [blocklist] */
	char state_dir[RS_PATH_MAX];

	/* [server] clients that may speak for others (EDNS Client Subnet, MAC option 65001) */
	struct kg_cidr trusted_forwarders[RS_MAX_ACL];
	int n_trusted_forwarders;

	/* [server] proxy_from: frontends (dnsdist) whose queries must start with a PROXY v2
	 * header naming the client; nobody else may send one (rs_proxy.c, rs_proxy_srv.c) */
	struct kg_cidr proxy_from[RS_MAX_ACL];
	int n_proxy_from;

	/* [blocking] */
	char safe_search_table[RS_PATH_MAX]; /* "" = the shipped table */
	uint8_t sinkhole_ipv4[4];
	uint8_t sinkhole_ipv6[16];
	uint32_t block_ttl;
	int on_store_error; /* enum rs_on_store_error */

	/* [profile NAME] sections; `default_profile` serves every client no other profile claims
	 * (the built-in one blocks every category with the sinkhole action). */
	struct rs_profile profiles[RS_MAX_PROFILES];
	int n_profiles;
	int default_profile;
	struct rs_cat_ref feed_cats[RS_MAX_FEED_CAT_REFS]; /* names only the feed defines */
	int n_feed_cats;

	/* [sync]: the signed national feed (empty url: no sync process) */
	char sync_url[1024];
	char sync_public_keys[1200];
	char sync_ca_file[RS_PATH_MAX];
	int sync_interval_s;
	int sync_timeout_s;
	int sync_max_age_s;
	int sync_on_stale;          /* enum rs_on_stale */
	uint64_t sync_max_download; /* bytes */
	int sync_key_grace_s;       /* an announced key's predecessor stays trusted this long */
	char sync_user[64];         /* "" = kidguard-sync if that user exists, else [server] user */

	/* [subscribers]: the ISP's signed subscriber table, polled by the same sync process
	 * (empty url: none). Timeout and max_download are [sync]'s. */
	char subs_url[1024];
	char subs_public_keys[1200];
	char subs_ca_file[RS_PATH_MAX];
	int subs_interval_s;

	/* [http]: API, metrics, dashboard, block page, query log (rs_http*.c, rs_config_http.c) */
	struct kg_sockaddr http_listen; /* len 0: off */
	char http_token[128];           /* bearer token for state-changing requests; "" none */
	bool http_trust_loopback;       /* loopback clients may change state without the token */
	/* [http] tokens = NAME:SECRET, ...: more bearer tokens, each with a name for the audit
	 * log (the `token` key's is named "default"). */
	struct {
		char name[32];    /* [a-z0-9_-]{1,31} */
		char secret[128]; /* 16..127 characters */
	} http_tokens[RS_HTTP_TOKENS_MAX];
	int n_http_tokens;
	/* Host names the API answers to besides its address and localhost (DNS rebinding) */
	char http_hostnames[RS_HTTP_HOSTNAMES_MAX][RS_TLS_NAME_MAX]; /* normalised, lowercase */
	int n_http_hostnames;
	char http_assets[RS_PATH_MAX];        /* "" = compiled-in default */
	struct kg_sockaddr block_page_listen; /* len 0: off */
	char block_page_text[1024];           /* "" = the catalogue's, in the viewer's language */
	char http_language[8];                /* "auto" or a catalogue's code: "vi", "en" */
	char block_page_contact[256];         /* link or phone for reports (a hotline) */
	char report_url[512];                 /* https:// or mailto:, overrides the feed's */
	bool query_log;
	int query_log_size;
	bool query_log_full_addresses;

	/* [signal]: the early-warning signal (rs_signal.c, rs_signal_srv.c, rs_http_signal.c) */
	bool signal_enabled;
	uint32_t signal_k;                   /* only domains reached by >= k distinct clients */
	double signal_epsilon;               /* Laplace noise of scale 1/epsilon on each count */
	uint32_t signal_max_domains;         /* the day's table; further new domains are dropped */
	char signal_url[512];                /* https://, overrides the manifest's signal_url */
	char signal_allow_list[RS_PATH_MAX]; /* popular sites never counted ("" = bundled) */

	/* [tls]: DoT and DoH listeners (rs_tls.c, rs_dot.c, rs_doh.c; rs_config_tls.c) */
	struct kg_sockaddr tls_listen_dot;  /* len 0: off */
	struct kg_sockaddr tls_listen_doh;  /* len 0: off */
	char tls_cert[RS_PATH_MAX];         /* PEM chain (fullchain.pem) */
	char tls_key[RS_PATH_MAX];          /* PEM private key (privkey.pem) */
	char tls_hostname[RS_TLS_NAME_MAX]; /* "dns.example.net": SNI kid1.dns.example.net = kid1 */
	bool tls_self_signed;               /* generate a throwaway certificate at start */
	int tls_unknown_client_id;          /* enum rs_unknown_id */
	bool tls_device_id_overrides;       /* device_id_overrides_address: an ID may loosen an
	                                     * address's profile (rs_profile_for_device) */
	uint32_t tls_max_pending; /* DoH requests + DoT questions waiting, all connections */
};

enum rs_rl_action {
	RS_RL_TRUNCATE = 0, /* answer TC=1: a real client retries over TCP, a spoofed one cannot */
	RS_RL_DROP = 1,
};

/* [blocking] on_store_error: a blocklist lookup that fails (I/O, corruption). */
enum rs_on_store_error {
	RS_STORE_ERROR_FAIL_CLOSED = 0, /* block, for profiles that block anything (default) */
	RS_STORE_ERROR_FORWARD = 1,     /* answer as if no rule matched */
};

enum rs_on_stale {
	RS_STALE_KEEP = 0,        /* keep enforcing the last good list */
	RS_STALE_FAIL_CLOSED = 1, /* block everything for profiles that block anything */
};

/*
 * The profile for a client: the one with the most specific matching `clients` prefix (the
 * first defined wins a tie), else the default. Never NULL. Pure.
 */
const struct rs_profile *rs_profile_for(const struct rs_config *cfg, const struct sockaddr *sa);

/* The profile called `name`, or NULL when the config defines none. Pure. */
const struct rs_profile *rs_profile_named(const struct rs_config *cfg, const char *name);

/* The index of `p` among cfg->profiles (a profile resolved through the store counts as the
 * config profile it was made from). Always a valid index. */
int rs_profile_index(const struct rs_config *cfg, const struct rs_profile *p);

/* "kids, teen, default": the config's profile names, for an error that refuses an unknown one
 * (truncated to fit `len`, always NUL-terminated). Returns `buf`. */
char *rs_profile_names(const struct rs_config *cfg, char *buf, size_t len);

/*
 * The profile that lists device ID `id` in its client_ids, or NULL when none does. Pure.
 */
const struct rs_profile *rs_profile_for_id(const struct rs_config *cfg, const char *id);

/*
 * What to paste into a phone for device ID `id`: the DoT host name "ID.HOSTNAME" (with the
 * port when [tls] listen_dot is not on 853) into `dot`, and the DoH URL
 * "https://HOSTNAME[:PORT]/dns-query/ID" into `doh` (`dotlen`, `dohlen` bytes). Returns 0, or
 * -1 with both "" when [tls] hostname is not set (or a buffer is too small). Pure.
 */
int rs_device_endpoints(const struct rs_config *cfg, const char *id, char *dot, size_t dotlen,
                        char *doh, size_t dohlen);

/* Name of an action ("sinkhole"...), and its parser (0 or -1). */
const char *rs_action_name(int action);
int rs_action_parse(const char *s, int *action);

/*
 * Fill `cfg` with the built-in defaults (embedded configuration): listen 127.0.0.1:5353 and
 * [::1]:5353, upstreams from /etc/resolv.conf, state directory ./kidguard-data.
 */
void rs_config_defaults(struct rs_config *cfg);

/*
 * Parse an INI file over the defaults. On error returns RS_EINVAL and writes
 * "FILE:LINE: [section] key: problem" into err (always NUL-terminated). `cfg` is untouched on
 * failure. `path` is borrowed.
 */
int rs_config_load(const char *path, struct rs_config *cfg, char *err, size_t errlen);

/* The same from a string; `name` is used in error messages in place of a file name. */
int rs_config_load_string(const char *text, const char *name, struct rs_config *cfg, char *err,
                          size_t errlen);

/* Write the effective configuration as INI (what `kidguard -n -v` prints). */
void rs_config_print(const struct rs_config *cfg, FILE *out);

/*
 * Resolve the category names only the feed defines (cfg->feed_cats) against the store `db`
 * (borrowed; NULL when there is none), and add the feed-defined categories the child presets
 * block. Call once on a freshly loaded config, before it is used. Returns 0, or RS_EINVAL with
 * "FILE:LINE: [section] key: unknown category ..." in `err` for a name neither the standard
 * table nor the store's feed defines.
 */
struct bl_db;
int rs_config_bind_feed(struct rs_config *cfg, struct bl_db *db, char *err, size_t errlen);

/* Read "nameserver" lines of a resolv.conf-format file into cfg->upstream. Returns count. */
int rs_config_upstreams_from_resolv(struct rs_config *cfg, const char *path);

/* [upstream] private_domains as rs_private_strip (rs_dns.h) takes them; borrows `cfg`. */
static inline struct rs_zones rs_private_zones(const struct rs_config *cfg)
{
	return (struct rs_zones){cfg->private_domains, cfg->private_domain_len,
	                         cfg->n_private_domains};
}

/* ============ the rules beyond list lookups, and the one decision (rs_policy.c, rs_decide.c,
 * rs_safesearch.c) ============ */

/* Load an age tier ("under9", "9to12", "13to15", "16to17", "adult") into `p`: its blocked
 * categories, safe search strength and hardening. Returns 0, or -1 for an unknown name. */
int rs_preset_apply(const char *name, struct rs_profile *p);
const char *rs_preset_names(void);

/* Parse a window: `days` ("daily", "weekdays", "weekends", "mon-thu", "fri,sat") and
 * `range` ("19:00-07:00"). Returns 0 or -1. The caller sets bedtime/extra_block. */
int rs_schedule_parse(const char *days, const char *range, struct rs_schedule *s);

/* Is the window on at this minute of the week (0 = Monday 00:00, local time)? */
bool rs_schedule_active(const struct rs_schedule *s, int minute_of_week);

/* ---- A profile record as JSON (rs_profile_json.c): PUT /api/profiles and the subscriber
 * channel's `profile NAME {json}` lines ---- */

/* Resolves a category name to its bit (bl_category_find's contract). Returns 0 or < 0. */
typedef int (*rs_cat_find_fn)(void *arg, const char *name, int *bit);

/* Any of {"template", "preset", "mode", "bedtime" (object or null), "schedules" (a list of
 * {"days", "start", "end", "block": [categories]}), "bedtime_allow", "block_add",
 * "block_remove"}. Each given field sets its BL_PF_* bit in `set` ("bedtime" and "schedules"
 * both BL_PF_SCHEDULES); `rec` carries the values (tmpl, preset, mode, allow; sched[0] the
 * bedtime, sched[1 .. n_windows] the schedules). */
struct rs_profile_req {
	unsigned set;              /* BL_PF_* of the fields given */
	bool bedtime_set;          /* "bedtime" given: replaces the bedtime window */
	bool bedtime_off;          /* "bedtime": null */
	bool windows_set;          /* "schedules" given: replaces every other window */
	int n_windows;             /* 0 .. BL_PROFILE_SCHED_MAX - 1 ("schedules": [] clears) */
	uint64_t block_add;        /* "block_add" bits */
	uint64_t block_remove;     /* "block_remove" bits */
	struct bl_profile_rec rec; /* tmpl, preset, mode, sched[] (see above), allow */
};
/* Parse `len` bytes of `json` (borrowed, need not be NUL-terminated; NULL = no body). Returns
 * 0 and fills `out`, or -EINVAL with a message in `err` (`errlen` bytes) naming the unknown
 * preset, category, mode, day or time. `find` is called with `arg` for each category name.
 * The template is the caller's to check (the config's profiles). */
int rs_profile_json(const char *json, size_t len, rs_cat_find_fn find, void *arg,
                    struct rs_profile_req *out, char *err, size_t errlen);

/* A JSON list of category names into `*mask` (bits ORed in), each resolved by `find`. Also
 * what POST /api/overrides' "categories" takes. `cats` (borrowed) may be NULL (nothing to
 * add). Returns 0, or -EINVAL with "unknown category NAME" in `err` (`errlen` bytes). */
struct cJSON;
int rs_json_categories(const struct cJSON *cats, rs_cat_find_fn find, void *arg, uint64_t *mask,
                       char *err, size_t errlen);

/* The profile's blocked categories at this minute, with its active windows' extras;
 * `*bedtime` is the index of an active bedtime window, or -1. */
uint64_t rs_profile_mask_at(const struct rs_profile *p, int minute_of_week, int *bedtime);

/* Is this (lowercased wire) name on the profile's bedtime allow list (the name or below)? */
bool rs_bedtime_allows(const struct rs_profile *p, const uint8_t *qname, size_t len);
int rs_bedtime_allow_add(struct rs_profile *p, const char *name);

/* Text name to lowercased wire form. Returns the length or -1. */
int rs_name_to_wire(const char *text, uint8_t *out, size_t max);

/* "aa:bb:cc:dd:ee:ff" or "aa-bb-...". Returns 0 or -1. */
int rs_mac_parse(const char *s, uint8_t mac[6]);

/*
 * The profile for a query: by MAC address (option 65001 from a trusted forwarder) when one is
 * given and a profile lists it, else by the client subnet (ECS from a trusted forwarder) when
 * given, else by the source address. Never NULL. All pointers borrowed; mac, subnet may be NULL.
 */
const struct rs_profile *rs_profile_select(const struct rs_config *cfg, const struct sockaddr *peer,
                                           const uint8_t *mac, const struct sockaddr *subnet);

/*
 * Is profile `a` less restrictive than `b` anywhere: a category `b` blocks that `a` does not,
 * weaker safe search, no hardening where `b` has it, a window (schedule or bedtime) of `b`
 * that `a` lacks or blocks less in, or a bedtime allow name `b` does not allow. Pure.
 */
bool rs_profile_looser(const struct rs_profile *a, const struct rs_profile *b);

/*
 * The one rule for a query that may carry a device ID (DoT server name, DoH path):
 * - `id_given` false: the address's profile (`addr_prof`), or the default when NULL;
 * - an ID that maps to no profile (`id_prof` NULL): NULL (refuse) with [tls]
 *   unknown_client_id = refuse, else as without an ID;
 * - an ID's profile applies when the address matched no profile (`addr_prof` NULL: a phone
 *   away from home), or when it is not looser than the address's (rs_profile_looser), or when
 *   [tls] device_id_overrides_address = on; otherwise the address's profile applies, so a
 *   device in a child's prefix cannot loosen its filtering with someone else's ID.
 * `addr_prof` is the profile an address rule, MAC, subnet or the subscriber table chose, NULL
 * when only the default profile applies. All pointers borrowed from `cfg`. Pure.
 */
const struct rs_profile *rs_profile_for_device(const struct rs_config *cfg,
                                               const struct rs_profile *id_prof, bool id_given,
                                               const struct rs_profile *addr_prof);

/* Bypass hardening: RS_ACTION_NXDOMAIN for the DoH and Private Relay canaries, RS_ACTION_NODATA
 * for resolver.arpa (DDR), or -1. `qname` lowercased wire. */
int rs_hardening_action(const uint8_t *qname, size_t len);

/* ---- the whole decision (rs_decide.c) ---- */

/*
 * rs_decide() is the one implementation of "what does this client get for this name": the
 * query path (rs_query.c), kidguard-ctl check, GET /api/check and the block page all call it,
 * so they cannot disagree. It runs in stages so that the query path can put its cache
 * shortcut between the policy (which sets the category mask) and the blocklist lookup.
 */
enum rs_stage {
	RS_STAGE_PROFILE = 1, /* which profile: device ID, MAC/ECS, subscriber table, address */
	RS_STAGE_POLICY = 2,  /* fail-closed, canaries, schedule and bedtime; sets mask */
	RS_STAGE_LIST = 4,    /* the blocklist (local rules, then the feed) */
	RS_STAGE_SAFE = 8,    /* safe search */
	RS_STAGE_PRE = RS_STAGE_PROFILE | RS_STAGE_POLICY,
	RS_STAGE_POST = RS_STAGE_LIST | RS_STAGE_SAFE,
	RS_STAGE_ALL = RS_STAGE_PRE | RS_STAGE_POST,
};

enum rs_outcome {
	RS_OUT_CONTINUE = 0, /* the stages run decided nothing yet */
	RS_OUT_FORWARD,      /* resolve normally (all stages run, nothing blocked) */
	RS_OUT_REWRITE,      /* safe search: CNAME to rewrite_target */
	RS_OUT_BLOCK,        /* answer with `action` and the EDE (ede_code, text) */
	RS_OUT_REFUSE, /* REFUSED: a device ID no profile claims, unknown_client_id = refuse */
};

/* What chose the profile. */
enum rs_profile_by {
	RS_BY_DEFAULT = 0,
	RS_BY_DEVICE_ID,
	RS_BY_MAC,
	RS_BY_SUBNET,
	RS_BY_SUBSCRIBER,
	RS_BY_ADDRESS,
	RS_BY_ASKED, /* the operator asked for this profile (GET /api/check?profile=) */
};

/* Which step decided. */
enum rs_step {
	RS_STEP_NONE = 0, /* nothing blocked (or not decided yet) */
	RS_STEP_REFUSE,   /* an unknown device ID refused */
	RS_STEP_STALE,    /* feed stale, on_stale = fail_closed */
	RS_STEP_CANARY,   /* bypass hardening */
	RS_STEP_BEDTIME,  /* an active bedtime window */
	RS_STEP_LIST,     /* a blocklist rule */
	RS_STEP_NAME,     /* a name the blocklist cannot key */
	RS_STEP_STORE,    /* the store failed; on_store_error = fail_closed */
	RS_STEP_SAFE,     /* safe search rewrite */
	RS_STEP_GARDEN,   /* a walled garden (mode = allowlist): not on the allow list */
};

/* What the subscriber table said (for the daemon's counters and warnings). */
enum rs_sub_status {
	RS_SUB_NOT_ASKED = 0,
	RS_SUB_NO_MATCH,
	RS_SUB_HIT,
	RS_SUB_UNKNOWN_PROFILE, /* the entry names a profile the config lacks: sub_profile */
	RS_SUB_ERROR,           /* the store failed: store_rc */
};

struct bl_db;
struct bl_reader;
struct rs_safesearch;
struct rs_vcache;

/*
 * Profiles resolved through the store, remembered per caller (one per worker, per HTTP
 * request, per tool run): a store record is decoded once per (name, store generation, config)
 * and then served from here, so a query allocates and decodes nothing. Made with
 * rs_profile_scratch_new(); not shared between threads.
 */
#define RS_SCRATCH_SLOTS 4
struct rs_profile_scratch {
	struct {
		char name[RS_PROFILE_NAME_MAX];
		uint64_t gen;                    /* bl_db_generation when resolved */
		const struct rs_config *cfg;     /* the snapshot it was resolved against */
		uint64_t cfg_serial;             /* and that snapshot's serial */
		const struct rs_profile *result; /* &prof, a config profile, or NULL (unknown) */
		struct rs_profile prof;
	} slot[RS_SCRATCH_SLOTS];
	int next;                  /* the slot to reuse next */
	uint64_t empty_gen;        /* generation `empty` was read at (0: not yet) */
	bool empty;                /* the "profiles" table is empty: no record to resolve */
	struct bl_profile_rec rec; /* decode buffer (too big for a stack) */
};
/* Returns NULL on allocation failure; free with free(). */
struct rs_profile_scratch *rs_profile_scratch_new(void);

/* Everything the decision reads besides the client and the name. All borrowed. */
struct rs_decide_ctx {
	const struct rs_config *cfg;
	const struct rs_safesearch *ss; /* NULL: no safe search */
	struct bl_db *db;               /* category names for the EDE text; may be NULL */
	struct bl_reader *rd;           /* NULL: no store, so nothing is filtered */
	int minute_of_week;             /* local time, 0 = Monday 00:00 ... */
	/* ... or, when set, read from this only when a profile with schedules needs it (the
	 * daemon's clock: most profiles have none, and a query should not read the time) */
	int (*clock)(void *clock_arg);
	void *clock_arg;
	bool fail_closed;      /* the feed is stale and on_stale = fail_closed */
	bool no_subscribers;   /* the caller knows the subscriber table is empty */
	bool test_store_fault; /* tests only: every store lookup fails (rs_server.c) */
	/* Where store records are resolved (profiles as data); NULL: config profiles only. */
	struct rs_profile_scratch *scratch;
	/* The worker's verdict cache (rs_vcache.c), or NULL: the blocklist's raw result per
	 * name at the store's generation, so a repeated name skips LMDB. NULL for the API and
	 * kidguard-ctl; the decision is the same either way (bl_raw_decide). Borrowed, mutable:
	 * a lookup fills it. Needs `db` for the generation. */
	struct rs_vcache *vcache;
	/* bl_db_generation(db) as the caller read it for this query; 0: read it when needed. */
	uint64_t generation;
};

/*
 * The profile called `name` as the decision sees it: a store record of that name overlays
 * the config profile of the same name (or copies its template, else the default profile) and
 * applies the fields it sets; without a record, the config profile; neither: NULL. The result
 * is borrowed from cx->cfg or cx->scratch (valid until the scratch resolves
 * RS_SCRATCH_SLOTS other names). Without cx->scratch or cx->rd: the config profile.
 */
const struct rs_profile *rs_profile_resolve(const struct rs_decide_ctx *cx, const char *name);

/* Apply store record `rec` to `p` (a copy of its base): the fields the record sets. Returns
 * 0, or -1 for an unknown preset. Pure. */
int rs_profile_apply_rec(struct rs_profile *p, const struct bl_profile_rec *rec);

/* The profile a store record of `name` overlays: its template's config profile, else the
 * config profile called `name`, else the default profile. Borrowed from `cfg`. */
const struct rs_profile *rs_profile_rec_base(const struct rs_config *cfg, const char *name,
                                             const struct bl_profile_rec *rec);

/*
 * Change `rec`'s schedule windows as PUT /api/profiles and `kidguard-ctl profile set` do: a
 * record that has none of its own (BL_PF_SCHEDULES unset) first takes `base`'s
 * (rs_profile_rec_base); with `set_bedtime`, the bedtime window is replaced by `*bedtime`
 * (NULL: removed); with `set_windows`, every other window by the `n_windows` at `windows`.
 * The rest is kept, in order, then the new windows, then the new bedtime. Sets
 * BL_PF_SCHEDULES. All borrowed; `base` may be NULL when `rec` has BL_PF_SCHEDULES set. Returns
 * NULL, or why not (no room: a 400 / exit 1).
 */
const char *rs_profile_rec_windows(struct bl_profile_rec *rec, const struct rs_profile *base,
                                   bool set_bedtime, const struct bl_profile_sched *bedtime,
                                   bool set_windows, const struct bl_profile_sched *windows,
                                   int n_windows);

/* Who asks. All borrowed; any may be NULL. */
struct rs_client {
	const struct sockaddr *addr; /* the client (behind a proxy, the one its header named) */
	const char *device_id;       /* DoT SNI or DoH path label */
	/* The profile `device_id` names (config client_ids, else the store's device table),
	 * resolved by the caller (the daemon memoises the ID's hash: rs_devices.c); NULL when
	 * no profile claims the ID. Whether it applies is rs_decide's choice. */
	const struct rs_profile *id_profile;
	/* ... or, when the device table names a profile the config lacks (a household of the
	 * store, as the subscriber channel sends them), its name: rs_decide resolves it through
	 * the store like a subscriber's. "" otherwise. */
	char id_profile_name[BL_CLIENT_PROFILE_MAX];
	const uint8_t *mac;            /* EDNS option 65001 */
	const struct sockaddr *subnet; /* EDNS Client Subnet, as an address */
	/* Believe mac/subnet without addr being a trusted forwarder: kidguard-ctl's and the
	 * API's "what would this device get", asked by the operator. */
	bool assume_trusted;
	/* The operator asks "what would this profile get" (GET /api/check?profile=): taken as
	 * is, instead of choosing one from the fields above. NULL: choose as for DNS. */
	const struct rs_profile *profile;
	/* ... or by name, resolved through the store (a profile only the store defines). */
	const char *profile_name;
};

/*
 * Who a device ID names, found the one way the DoT/DoH path, `kidguard-ctl check --device-id`
 * and GET /api/check?device_id= all use: sets cl->device_id = `id`, and cl->id_profile to the
 * profile whose client_ids list it (borrowed from `cfg`), else to the profile the store's
 * device table names for the ID's SHA-256 `hash` (NULL: computed here), read through `rd`
 * (NULL: the config only); a profile only the store defines goes to cl->id_profile_name.
 * Whether that profile applies is rs_decide's choice. Returns 0, also when nothing claims the
 * ID (both left empty: [tls] unknown_client_id decides), or < 0 when the store lookup failed.
 */
int rs_client_device(const struct rs_config *cfg, struct bl_reader *rd, const char *id,
                     const uint8_t *hash, struct rs_client *cl);

/* The name asked: lowercased wire form. `via` (text) names a CNAME chain's name, or NULL. */
struct rs_ask {
	const uint8_t *qname;
	size_t len;
	uint16_t qclass;
	const char *via;
};

#define RS_VERDICT_TEXT_MAX 200 /* RS_EDE_TEXT_MAX: what fits an EDE */

struct rs_verdict {
	int outcome;                      /* enum rs_outcome */
	const struct rs_profile *profile; /* borrowed from the config; NULL with REFUSE */
	int profile_by;                   /* enum rs_profile_by */
	int action;                       /* enum rs_block_action, with BLOCK */
	uint16_t ede_code;                /* RS_EDE_BLOCKED or RS_EDE_FILTERED, with BLOCK */
	const char *decided_by;           /* static text: which step decided */
	uint64_t mask;                    /* categories blocked for this client now */
	int bedtime;                      /* active bedtime window, or -1 */
	int minute_of_week;               /* the time it was decided for, or -1 (not needed) */
	bool have_list;                   /* `list` holds the blocklist's verdict */
	int step;                         /* enum rs_step: which step decided */
	int store_rc;                     /* < 0: a store lookup failed */
	int sub_status;                   /* enum rs_sub_status */
	char sub_profile[32];             /* with RS_SUB_UNKNOWN_PROFILE */
	const uint8_t *rewrite_target;    /* safe search would rewrite to this (POLICY sets it) */
	size_t rewrite_len;
	struct bl_verdict list;
	char text[RS_VERDICT_TEXT_MAX + 1]; /* the EDE text, also the explanation's detail */
};

/*
 * Run `stages` of the decision for client `cl` asking `q`. Stages run in their order; the
 * first that decides stops the walk (outcome != CONTINUE). A call without RS_STAGE_PROFILE
 * continues `v` from an earlier call (its profile, and without RS_STAGE_POLICY its mask and
 * rewrite_target). When RS_STAGE_SAFE ran and nothing decided, the outcome is FORWARD.
 * Allocates nothing. Returns 0, or RS_EINVAL when no profile is known to continue from.
 */
int rs_decide(const struct rs_decide_ctx *cx, const struct rs_client *cl, const struct rs_ask *q,
              unsigned stages, struct rs_verdict *v);

/* "device ID", "MAC address", ... for an enum rs_profile_by. */
const char *rs_profile_by_name(int by);

/* The categories to show for a list block: the rule's categories this profile blocks. */
uint64_t rs_verdict_categories(const struct rs_verdict *v);

/* "forward", "rewrite", "refused" or the block action's name. */
const char *rs_verdict_answer(const struct rs_verdict *v);

/* Since when the feed counts as fresh ([sync] max_age counts from it): the newest signed
 * timestamp verified when the feed publishes them, else the last successful sync or the
 * daemon's start (`started`), whichever is later. `m` borrowed; `now` epoch seconds. */
uint64_t rs_feed_fresh_since(const struct bl_meta *m, uint64_t started, uint64_t now);
/* Is the feed stale (older than max_age counted from rs_feed_fresh_since, or the signed
 * manifest expired)? `since`: when the daemon started (0 for a tool). */
bool rs_feed_stale(const struct rs_config *cfg, const struct bl_meta *m, uint64_t now,
                   uint64_t since);

/* Is `addr` one of [server] trusted_forwarders? */
bool rs_trusted_forwarder(const struct rs_config *cfg, const struct sockaddr *addr);

/* ---- safe search (rs_safesearch.c) ---- */

struct rs_safesearch;

/*
 * Load a safe-search host table: lines "HOST STRICT-TARGET [MODERATE-TARGET]" (the strict
 * target serves both levels when no moderate one is given), '#' comments. `path` borrowed;
 * `*out` owned by the caller. Returns 0, or -1 with "FILE:LINE: problem" in err.
 */
int rs_safesearch_load(const char *path, struct rs_safesearch **out, char *err, size_t errlen);
void rs_safesearch_free(struct rs_safesearch *t);
size_t rs_safesearch_count(const struct rs_safesearch *t);

/* The safe endpoint for an exact host (lowercased wire) at `level` (RS_SAFE_MODERATE or
 * RS_SAFE_STRICT). `*target` is borrowed from the table. */
bool rs_safesearch_find(const struct rs_safesearch *t, const uint8_t *qname, size_t len, int level,
                        const uint8_t **target, size_t *target_len);

/* The table used when [blocking] safe_search_table is not set: the installed one, or the
 * source tree's when running from a build directory. */
const char *rs_safesearch_default_path(void);

/* --------------------------------------------------- device IDs (rs_config_tls.c) --- */

/* The device ID in an SNI: the first label of "kid1.HOSTNAME", lowercased; "" when the name
 * is not below `hostname` or the label is not a valid ID. `out` has RS_CLIENT_ID_MAX bytes. */
void rs_client_id_from_sni(const char *sni, const char *hostname, char *out);
/* True when `id` is a valid device ID (1..63 of [a-z0-9-], as written after lowercasing). */
bool rs_client_id_valid(const char *id);

#endif
