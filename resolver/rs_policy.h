/*
 * rs_policy: the child-protection rules beyond list lookups (presets, schedules, bedtime,
 * hardening canaries, MAC and subnet client matching). Pure functions over struct rs_config;
 * part of the kgconfig library so kidguard-ctl explains verdicts with the daemon's own code.
 */
#ifndef RS_POLICY_H
#define RS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- the whole decision, for explanations (rs_check.c) ---- */

struct bl_verdict;

/* A blocklist lookup: the caller's reader (kidguard-ctl's, the HTTP thread's). */
typedef int (*rs_check_lookup)(void *ctx, const char *name, uint64_t mask, struct bl_verdict *v);

struct rs_check_result {
	int mow;                /* minute of the week it was decided for */
	uint64_t mask;          /* categories blocked at that time */
	int bedtime;            /* active bedtime window, or -1 */
	const char *decided_by; /* static text: which step decided */
	const char *answer;     /* "forward", "rewrite", or the action name */
	char detail[512];       /* bedtime window, safe-search target... */
	bool have_verdict;
	bool blocked;
};

/*
 * Walk the daemon's decisions for one (normalised text) name and profile at a minute of the
 * week, in the daemon's order (rs_query.c): canaries, schedule and bedtime, blocklist, safe
 * search. `v` receives the blocklist verdict when one was taken (have_verdict). `ss` may be
 * NULL (no safe search). Returns 0 or the lookup's error.
 */
struct rs_safesearch;
int rs_check(const struct rs_profile *prof, const char *name, int mow,
             const struct rs_safesearch *ss, rs_check_lookup lookup, void *ctx,
             struct bl_verdict *v, struct rs_check_result *out);

/* Local time now as a minute of the week (0 = Monday 00:00). */
int rs_minute_of_week_now(void);

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

#endif
