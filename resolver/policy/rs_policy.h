/*
 * rs_policy: the child-protection rules beyond list lookups (presets, schedules, bedtime,
 * hardening canaries, MAC and subnet client matching). Pure functions over struct rs_config;
 * part of the kgpolicy library so kidguard-ctl explains verdicts with the daemon's own code.
 */
#ifndef RS_POLICY_H
#define RS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bl.h"
#include "rs.h"

/* Load an age tier ("under9", "9to12", "13to15", "16to17", "adult") into `p`: its blocked
 * categories, safe search strength and hardening. Returns 0, or -1 for an unknown name. */
int rs_preset_apply(const char *name, struct rs_profile *p);
const char *rs_preset_names(void);

/* Parse a window: `days` ("daily", "weekdays", "weekends", "mon-thu", "fri,sat") and
 * `range` ("19:00-07:00"). Returns 0 or -1. The caller sets bedtime/extra_block. */
int rs_schedule_parse(const char *days, const char *range, struct rs_schedule *s);

/* Is the window on at this minute of the week (0 = Monday 00:00, local time)? */
bool rs_schedule_active(const struct rs_schedule *s, int minute_of_week);

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
};

/* Who asks. All borrowed; any may be NULL. */
struct rs_client {
	const struct sockaddr *addr; /* the client (behind a proxy, the one its header named) */
	const char *device_id;       /* DoT SNI or DoH path label */
	/* The profile `device_id` names (config client_ids, else the store's device table),
	 * resolved by the caller (the daemon memoises the ID's hash: rs_devices.c); NULL when
	 * no profile claims the ID. Whether it applies is rs_decide's choice. */
	const struct rs_profile *id_profile;
	const uint8_t *mac;            /* EDNS option 65001 */
	const struct sockaddr *subnet; /* EDNS Client Subnet, as an address */
	/* Believe mac/subnet without addr being a trusted forwarder: kidguard-ctl's and the
	 * API's "what would this device get", asked by the operator. */
	bool assume_trusted;
};

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
