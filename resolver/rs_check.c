/*
 * The daemon's decision for one name, walked step by step so that it can be explained:
 * kidguard-ctl check and GET /api/check both use it, and both follow rs_query.c's order.
 */
#include "rs_policy.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bl.h"

int rs_minute_of_week_now(void)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	return ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
}

static void safe_search_detail(const struct rs_profile *prof, const uint8_t *wire, int n,
                               const struct rs_safesearch *ss, struct rs_check_result *k)
{
	const uint8_t *target;
	size_t tl;
	char tname[BL_NAME_MAX];
	uint8_t key[BL_KEY_MAX];
	int kl;

	if (n <= 0 || !prof->safe_search ||
	    !rs_safesearch_find(ss, wire, (size_t)n, prof->safe_search, &target, &tl))
		return;
	kl = bl_key_from_wire(target, tl, key, sizeof(key));
	if (kl >= 0 && bl_key_to_name(key, (size_t)kl, tname, sizeof(tname)) >= 0)
		snprintf(k->detail, sizeof(k->detail), "CNAME %s", tname);
	k->decided_by = "safe search";
	k->answer = "rewrite";
}

int rs_check(const struct rs_profile *prof, const char *name, int mow,
             const struct rs_safesearch *ss, rs_check_lookup lookup, void *ctx,
             struct bl_verdict *v, struct rs_check_result *k)
{
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire)), act, rc;

	memset(k, 0, sizeof(*k));
	k->mow = mow;
	k->mask = rs_profile_mask_at(prof, mow, &k->bedtime);
	if (n > 0 && prof->hardening && (act = rs_hardening_action(wire, (size_t)n)) >= 0) {
		k->decided_by = "bypass hardening (a DoH, Private Relay or DDR canary)";
		k->answer = rs_action_name(act);
		k->blocked = true;
		return 0;
	}
	if (k->bedtime >= 0 && !(n > 0 && rs_bedtime_allows(prof, wire, (size_t)n))) {
		snprintf(k->detail, sizeof(k->detail), "bedtime window %d of profile %s",
		         k->bedtime + 1, prof->name);
		k->decided_by = "schedule (bedtime: only the profile's bedtime_allow names)";
		k->answer = rs_action_name(prof->action);
		k->blocked = true;
		return 0;
	}
	rc = lookup(ctx, name, k->mask, v);
	if (rc)
		return rc;
	k->have_verdict = true;
	if (v->action == BL_ACTION_BLOCK) {
		k->decided_by = v->mandatory ? "mandatory (publisher)" : "blocklist rule";
		k->answer = rs_action_name(prof->action);
		k->blocked = true;
		return 0;
	}
	k->decided_by = v->action == BL_ACTION_ALLOW ? "allow rule" : "no rule";
	k->answer = "forward";
	safe_search_detail(prof, wire, n, ss, k);
	return 0;
}
