/*
 * A profile record as JSON, to the record's fields: the body of PUT /api/profiles and the
 * `profile NAME {json}` lines of the ISP's subscriber channel. One parser for both, here in
 * kgpolicy (which knows presets, modes and schedules) so that kghttp and kgsync link the same
 * code; categories come through the caller's function (the store's names on either side).
 */
#include "rs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OR the bits of a list of category names into *mask; any name `find` does not know is an
 * error naming it. */
int rs_json_categories(const cJSON *cats, rs_cat_find_fn find, void *arg, uint64_t *mask, char *err,
                       size_t errlen)
{
	const cJSON *it;
	int bit;

	cJSON_ArrayForEach(it, cats)
	{
		if (!cJSON_IsString(it) || find(arg, it->valuestring, &bit) != 0 || bit < 0 ||
		    bit >= BL_CATEGORY_MAX) {
			snprintf(err, errlen, "unknown category %s",
			         cJSON_IsString(it) ? it->valuestring : "(not a string)");
			return -EINVAL;
		}
		*mask |= 1ULL << bit;
	}
	return 0;
}

/* "preset": a known age tier? (rs_preset_apply on a scratch profile: one list of names) */
static bool preset_known(const char *name)
{
	struct rs_profile *p = calloc(1, sizeof(*p));
	bool ok = p && rs_preset_apply(name, p) == 0;

	free(p);
	return ok;
}

/* A window's days and times: {"start": "21:00", "end": "06:30", "days": ["mon", ...]}
 * (without days: daily) into `s`; `what` names the field in the error. */
static int body_window(const cJSON *b, const char *what, struct bl_profile_sched *s, char *err,
                       size_t errlen)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "start");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(b, "end");
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(b, "days"), *it;
	char range[32], dl[64] = "";
	struct rs_schedule rs;
	size_t n = 0;

	if (!cJSON_IsString(st) || !cJSON_IsString(en) || strlen(st->valuestring) > 5 ||
	    strlen(en->valuestring) > 5 || (days && !cJSON_IsArray(days))) {
		snprintf(err, errlen,
		         "%s: expected {\"start\":\"21:00\",\"end\":\"06:30\","
		         "\"days\":[\"mon\",...]}",
		         what);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, days)
	{
		if (!cJSON_IsString(it) || strlen(it->valuestring) != 3 || n + 5 > sizeof(dl)) {
			snprintf(err, errlen, "%s: days: expected names such as \"mon\"", what);
			return -EINVAL;
		}
		n +=
		    (size_t)snprintf(dl + n, sizeof(dl) - n, "%s%s", n ? "," : "", it->valuestring);
	}
	snprintf(range, sizeof(range), "%s-%s", st->valuestring, en->valuestring);
	if (rs_schedule_parse(n ? dl : "daily", range, &rs) < 0) {
		snprintf(err, errlen, "%s: bad days or times (%s %s)", what, n ? dl : "daily",
		         range);
		return -EINVAL;
	}
	*s = (struct bl_profile_sched){rs.days, false, rs.start, rs.end, 0};
	return 0;
}

/* "bedtime": a window (or null, handled by the caller). */
static int body_bedtime(const cJSON *b, struct bl_profile_sched *s, char *err, size_t errlen)
{
	if (!cJSON_IsObject(b)) {
		snprintf(err, errlen,
		         "bedtime: expected {\"start\":\"21:00\",\"end\":\"06:30\","
		         "\"days\":[\"mon\",...]} or null");
		return -EINVAL;
	}
	if (body_window(b, "bedtime", s, err, errlen) < 0)
		return -EINVAL;
	s->bedtime = true;
	return 0;
}

/* "schedules": [{"days", "start", "end", "block": [categories]}, ...] into
 * rec->sched[1 ..]: the windows in which more categories are blocked (the config's
 * `schedule = DAYS HH:MM-HH:MM block CATS`). One slot stays for the bedtime. */
static int body_schedules(const cJSON *a, rs_cat_find_fn find, void *arg, struct rs_profile_req *o,
                          char *err, size_t errlen)
{
	const cJSON *it;
	char what[32], msg[128];
	int n = 0;

	if (!cJSON_IsArray(a)) {
		snprintf(err, errlen, "schedules: expected a list of windows");
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, a)
	{
		const cJSON *block = cJSON_GetObjectItemCaseSensitive(it, "block");
		struct bl_profile_sched *s;

		if (n + 1 >= BL_PROFILE_SCHED_MAX) {
			snprintf(err, errlen, "schedules: at most %d windows",
			         BL_PROFILE_SCHED_MAX - 1);
			return -EINVAL;
		}
		s = &o->rec.sched[1 + n];
		snprintf(what, sizeof(what), "schedules[%d]", n);
		if (!cJSON_IsObject(it)) {
			snprintf(err, errlen, "%s: expected an object", what);
			return -EINVAL;
		}
		if (body_window(it, what, s, err, errlen) < 0)
			return -EINVAL;
		if (!cJSON_IsArray(block)) {
			snprintf(err, errlen, "%s: block: expected a list of categories", what);
			return -EINVAL;
		}
		if (rs_json_categories(block, find, arg, &s->extra_block, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s: block: %s", what, msg);
			return -EINVAL;
		}
		if (!s->extra_block) {
			snprintf(err, errlen, "%s: block: expected at least one category", what);
			return -EINVAL;
		}
		n++;
	}
	o->n_windows = n;
	return 0;
}

/* "bedtime_allow": [names], normalised into rec->allow. */
static int body_allow(const cJSON *a, struct bl_profile_rec *rec, char *err, size_t errlen)
{
	char norm[BL_NAME_MAX];
	const cJSON *it;

	if (!cJSON_IsArray(a)) {
		snprintf(err, errlen, "bedtime_allow: expected a list of names");
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it) || bl_name_normalize(it->valuestring, norm, sizeof(norm)) ||
		    bl_profile_rec_allow_add(rec, norm) < 0) {
			snprintf(err, errlen, "bedtime_allow: a bad name, or more than %d names",
			         BL_PROFILE_ALLOW_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

/* The text fields: template, preset, mode. */
static int body_profile_text(const cJSON *j, struct rs_profile_req *o, char *err, size_t errlen)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "template");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "preset");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mode");
	int mode;

	if (t &&
	    (!cJSON_IsString(t) || (t->valuestring[0] && !bl_profile_name_valid(t->valuestring)))) {
		snprintf(err, errlen, "template: expected a profile name");
		return -EINVAL;
	}
	if (t) {
		snprintf(o->rec.tmpl, sizeof(o->rec.tmpl), "%s", t->valuestring);
		o->set |= BL_PF_TEMPLATE;
	}
	if (p && (!cJSON_IsString(p) || strlen(p->valuestring) >= sizeof(o->rec.preset) ||
	          !preset_known(p->valuestring))) {
		snprintf(err, errlen, "unknown preset %.32s (known: %s)",
		         cJSON_IsString(p) ? p->valuestring : "(not a string)", rs_preset_names());
		return -EINVAL;
	}
	if (p) {
		snprintf(o->rec.preset, sizeof(o->rec.preset), "%s", p->valuestring);
		o->set |= BL_PF_PRESET;
	}
	if (m && (!cJSON_IsString(m) || rs_mode_parse(m->valuestring, &mode) < 0)) {
		snprintf(err, errlen, "mode: expected filter or allowlist");
		return -EINVAL;
	}
	if (m) {
		o->rec.mode = mode == RS_MODE_ALLOWLIST ? BL_MODE_ALLOWLIST : BL_MODE_FILTER;
		o->set |= BL_PF_MODE;
	}
	return 0;
}

int rs_profile_json(const char *json, size_t len, rs_cat_find_fn find, void *arg,
                    struct rs_profile_req *out, char *err, size_t errlen)
{
	cJSON *j = json ? cJSON_ParseWithLength(json, len) : NULL;
	const cJSON *add = cJSON_GetObjectItemCaseSensitive(j, "block_add");
	const cJSON *rm = cJSON_GetObjectItemCaseSensitive(j, "block_remove");
	const cJSON *bed = cJSON_GetObjectItemCaseSensitive(j, "bedtime");
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(j, "bedtime_allow");
	const cJSON *wins = cJSON_GetObjectItemCaseSensitive(j, "schedules");
	struct rs_profile_req *o = calloc(1, sizeof(*o));
	int rc = -EINVAL;

	if (!o || !cJSON_IsObject(j)) {
		snprintf(err, errlen, "expected a JSON object");
		goto done;
	}
	if (body_profile_text(j, o, err, errlen) < 0)
		goto done;
	if ((add && !cJSON_IsArray(add)) || (rm && !cJSON_IsArray(rm))) {
		snprintf(err, errlen, "block_add, block_remove: expected lists of categories");
		goto done;
	}
	if (rs_json_categories(add, find, arg, &o->block_add, err, errlen) < 0 ||
	    rs_json_categories(rm, find, arg, &o->block_remove, err, errlen) < 0)
		goto done;
	if (add || rm)
		o->set |= BL_PF_BLOCK;
	if (bed) {
		o->set |= BL_PF_SCHEDULES;
		o->bedtime_set = true;
		o->bedtime_off = cJSON_IsNull(bed);
		if (!o->bedtime_off && body_bedtime(bed, &o->rec.sched[0], err, errlen) < 0)
			goto done;
	}
	if (wins) {
		o->set |= BL_PF_SCHEDULES;
		o->windows_set = true;
		if (body_schedules(wins, find, arg, o, err, errlen) < 0)
			goto done;
	}
	if (allow) {
		o->set |= BL_PF_BEDTIME_ALLOW;
		if (body_allow(allow, &o->rec, err, errlen) < 0)
			goto done;
	}
	*out = *o;
	rc = 0;
done:
	free(o);
	cJSON_Delete(j);
	return rc;
}
