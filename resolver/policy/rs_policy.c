/*
 * Child-protection policy that is not a list lookup, as pure functions so that kidguard-ctl
 * and the unit tests reach them: age-tier presets, schedules, the bedtime allow list, bypass
 * hardening (canary names), MAC addresses and which profile a client gets.
 * docs/policy.md describes the behaviour for parents and operators.
 */
#include "rs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"

#define C(x) (1ULL << (x))

/* The age tiers. Each is a documented bundle (docs/policy.md); a profile may start from one
 * and add or remove categories. */
static const struct {
	const char *name;
	uint64_t block;
	int safe_search;
	bool hardening;
} presets[] = {
    {"under9",
     C(BL_CAT_ADULT) | C(BL_CAT_GAMBLING) | C(BL_CAT_VIOLENCE) | C(BL_CAT_DRUGS) |
         C(BL_CAT_SELF_HARM) | C(BL_CAT_WEAPONS) | C(BL_CAT_SCAM) | C(BL_CAT_PHISHING) |
         C(BL_CAT_MALWARE) | C(BL_CAT_SOCIAL) | C(BL_CAT_DATING) | C(BL_CAT_DOH_BYPASS) |
         C(BL_CAT_HATE) | C(BL_CAT_PIRACY) | C(BL_CAT_GAMES),
     RS_SAFE_STRICT, true},
    {"9to12",
     C(BL_CAT_ADULT) | C(BL_CAT_GAMBLING) | C(BL_CAT_VIOLENCE) | C(BL_CAT_DRUGS) |
         C(BL_CAT_SELF_HARM) | C(BL_CAT_WEAPONS) | C(BL_CAT_SCAM) | C(BL_CAT_PHISHING) |
         C(BL_CAT_MALWARE) | C(BL_CAT_SOCIAL) | C(BL_CAT_DATING) | C(BL_CAT_DOH_BYPASS) |
         C(BL_CAT_HATE) | C(BL_CAT_PIRACY),
     RS_SAFE_STRICT, true},
    {"13to15",
     C(BL_CAT_ADULT) | C(BL_CAT_GAMBLING) | C(BL_CAT_DRUGS) | C(BL_CAT_SELF_HARM) |
         C(BL_CAT_WEAPONS) | C(BL_CAT_SCAM) | C(BL_CAT_PHISHING) | C(BL_CAT_MALWARE) |
         C(BL_CAT_DATING) | C(BL_CAT_DOH_BYPASS) | C(BL_CAT_HATE),
     RS_SAFE_MODERATE, true},
    {"16to17",
     C(BL_CAT_ADULT) | C(BL_CAT_GAMBLING) | C(BL_CAT_SELF_HARM) | C(BL_CAT_SCAM) |
         C(BL_CAT_PHISHING) | C(BL_CAT_MALWARE) | C(BL_CAT_DOH_BYPASS) | C(BL_CAT_HATE),
     RS_SAFE_MODERATE, true},
    {"adult", C(BL_CAT_SCAM) | C(BL_CAT_PHISHING) | C(BL_CAT_MALWARE), RS_SAFE_OFF, false},
};

int rs_preset_apply(const char *name, struct rs_profile *p)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strcmp(presets[i].name, name) != 0)
			continue;
		p->block_mask = presets[i].block;
		p->safe_search = presets[i].safe_search;
		p->hardening = presets[i].hardening;
		/* The age tiers below adult block what the feed adds unless its publisher says
		 * a category is fine for children (docs/feed-format.md, child_default). */
		p->feed_default = strcmp(name, "adult") != 0;
		snprintf(p->preset, sizeof(p->preset), "%s", name);
		return 0;
	}
	return -1;
}

const char *rs_preset_names(void)
{
	return "under9, 9to12, 13to15, 16to17, adult";
}

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s)
{
	for (int i = 0; i < 7; i++)
		if (strncmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* "daily", "weekdays", "weekends", "mon-thu", "sun-thu" (wraps), "mon,wed,fri". */
static int parse_days(const char *s, uint8_t *days)
{
	char buf[64];
	char *save = NULL;

	if (strcmp(s, "daily") == 0 || strcmp(s, "everyday") == 0)
		return *days = 0x7f, 0;
	if (strcmp(s, "weekdays") == 0)
		return *days = 0x1f, 0;
	if (strcmp(s, "weekends") == 0)
		return *days = 0x60, 0;
	snprintf(buf, sizeof(buf), "%s", s);
	*days = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int a = day_index(t), b = a;
		if (a < 0 || (strlen(t) != 3 && (strlen(t) != 7 || t[3] != '-')))
			return -1;
		if (strlen(t) == 7 && (b = day_index(t + 4)) < 0)
			return -1;
		for (int d = a;; d = (d + 1) % 7) {
			*days |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
	}
	return *days ? 0 : -1;
}

static int parse_hhmm(const char *s, uint16_t *min)
{
	unsigned h, m;
	char tail;

	if (sscanf(s, "%2u:%2u%c", &h, &m, &tail) != 2 || h > 24 || m > 59 || (h == 24 && m))
		return -1;
	*min = (uint16_t)(h * 60 + m);
	return 0;
}

int rs_schedule_parse(const char *days, const char *range, struct rs_schedule *s)
{
	char a[8], b[8];
	const char *dash = strchr(range, '-');

	memset(s, 0, sizeof(*s));
	if (parse_days(days, &s->days) < 0 || !dash || dash - range >= (long)sizeof(a) ||
	    strlen(dash + 1) >= sizeof(b))
		return -1;
	memcpy(a, range, (size_t)(dash - range));
	a[dash - range] = '\0';
	snprintf(b, sizeof(b), "%s", dash + 1);
	if (parse_hhmm(a, &s->start) < 0 || parse_hhmm(b, &s->end) < 0 || s->start == s->end)
		return -1;
	return 0;
}

bool rs_schedule_active(const struct rs_schedule *s, int minute_of_week)
{
	int day = minute_of_week / 1440, min = minute_of_week % 1440;
	int yesterday = (day + 6) % 7;

	if (s->end > s->start) /* within one day */
		return (s->days & (1u << day)) && min >= s->start && min < s->end;
	/* past midnight: the evening part today, or the morning part of a window that started
	 * yesterday */
	return ((s->days & (1u << day)) && min >= s->start) ||
	       ((s->days & (1u << yesterday)) && min < s->end);
}

uint64_t rs_profile_mask_at(const struct rs_profile *p, int minute_of_week, int *bedtime)
{
	uint64_t mask = p->block_mask;

	*bedtime = -1;
	for (int i = 0; i < p->n_schedules; i++) {
		if (!rs_schedule_active(&p->schedules[i], minute_of_week))
			continue;
		if (p->schedules[i].bedtime && *bedtime < 0)
			*bedtime = i;
		mask |= p->schedules[i].extra_block;
	}
	return mask;
}

/* True when `name` equals `suffix` or ends with "." + suffix (wire forms, lowercased). */
static bool wire_has_suffix(const uint8_t *name, size_t len, const uint8_t *suffix, size_t slen)
{
	size_t off = 0;

	while (off < len) {
		if (len - off == slen && memcmp(name + off, suffix, slen) == 0)
			return true;
		if (name[off] == 0)
			break;
		off += 1u + name[off];
	}
	return false;
}

bool rs_bedtime_allows(const struct rs_profile *p, const uint8_t *qname, size_t len)
{
	for (int i = 0; i < p->n_allow; i++)
		if (wire_has_suffix(qname, len, p->allow_pool + p->allow_off[i], p->allow_len[i]))
			return true;
	return false;
}

/* Text to lowercased wire form; empty names, empty or long labels are refused. */
int rs_name_to_wire(const char *text, uint8_t *out, size_t max)
{
	const char *p = text;
	size_t n = 0;

	if (*p == '\0')
		return -1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || n + 1 + l + 1 > max || n + 1 + l + 1 > 255)
			return -1;
		out[n++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			out[n++] = (uint8_t)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
		p += l;
		if (*p == '.')
			p++;
	}
	out[n++] = 0;
	return (int)n;
}

int rs_bedtime_allow_add(struct rs_profile *p, const char *name)
{
	uint8_t wire[256];
	size_t used = 0;
	int n;

	if (p->n_allow >= RS_MAX_ALLOW_NAMES)
		return -1;
	if (p->n_allow)
		used = (size_t)p->allow_off[p->n_allow - 1] + p->allow_len[p->n_allow - 1];
	n = rs_name_to_wire(name, wire, sizeof(wire));
	if (n < 0 || used + (size_t)n > RS_ALLOW_POOL)
		return -1;
	memcpy(p->allow_pool + used, wire, (size_t)n);
	p->allow_off[p->n_allow] = (uint16_t)used;
	p->allow_len[p->n_allow] = (uint8_t)n;
	p->n_allow++;
	return 0;
}

int rs_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6 &&
	    sscanf(s, "%2x-%2x-%2x-%2x-%2x-%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

const struct rs_profile *rs_profile_select(const struct rs_config *cfg, const struct sockaddr *peer,
                                           const uint8_t *mac, const struct sockaddr *subnet)
{
	if (mac) {
		for (int i = 0; i < cfg->n_profiles; i++)
			for (int k = 0; k < cfg->profiles[i].n_macs; k++)
				if (memcmp(cfg->profiles[i].macs[k], mac, 6) == 0)
					return &cfg->profiles[i];
	}
	return rs_profile_for(cfg, subnet ? subnet : peer);
}

/* Wire forms of the canaries (lowercase). */
static const uint8_t canary_doh[] = "\23use-application-dns\3net";
static const uint8_t canary_relay[] = "\4mask\6icloud\3com";
static const uint8_t canary_relay2[] = "\7mask-h2\6icloud\3com";
static const uint8_t ddr_zone[] = "\10resolver\4arpa";

static bool wire_eq(const uint8_t *q, size_t len, const uint8_t *c, size_t clen)
{
	/* `c` lacks its root label; sizeof() counted the string's NUL, which is that label. */
	return len == clen && memcmp(q, c, clen) == 0;
}

int rs_hardening_action(const uint8_t *qname, size_t len)
{
	/* Browsers ask use-application-dns.net before turning on their own DoH; NXDOMAIN
	 * keeps them on this resolver. Apple's Private Relay does the same with
	 * mask(-h2).icloud.com. */
	if (wire_eq(qname, len, canary_doh, sizeof(canary_doh)) ||
	    wire_eq(qname, len, canary_relay, sizeof(canary_relay)) ||
	    wire_eq(qname, len, canary_relay2, sizeof(canary_relay2)))
		return RS_ACTION_NXDOMAIN;
	/* Discovery of Designated Resolvers (RFC 9462) would point clients to an encrypted
	 * resolver of their choosing: answer "nothing here". */
	if (wire_has_suffix(qname, len, ddr_zone, sizeof(ddr_zone)))
		return RS_ACTION_NODATA;
	return -1;
}

/* Does `a` have a window like `s` (same days and times, same kind) blocking at least as much? */
static bool has_window(const struct rs_profile *a, const struct rs_schedule *s)
{
	for (int i = 0; i < a->n_schedules; i++) {
		const struct rs_schedule *t = &a->schedules[i];
		if (t->days == s->days && t->start == s->start && t->end == s->end &&
		    t->bedtime == s->bedtime && (t->extra_block & s->extra_block) == s->extra_block)
			return true;
	}
	return false;
}

/* Is every bedtime allow name of `a` also on `b`'s list? */
static bool allow_subset(const struct rs_profile *a, const struct rs_profile *b)
{
	for (int i = 0; i < a->n_allow; i++) {
		bool found = false;
		for (int k = 0; k < b->n_allow && !found; k++)
			found = a->allow_len[i] == b->allow_len[k] &&
			        memcmp(a->allow_pool + a->allow_off[i],
			               b->allow_pool + b->allow_off[k], a->allow_len[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

bool rs_profile_looser(const struct rs_profile *a, const struct rs_profile *b)
{
	bool b_bedtime = false;

	if (a == b)
		return false;
	if ((b->block_mask & ~a->block_mask) != 0 || a->safe_search < b->safe_search ||
	    (b->hardening && !a->hardening))
		return true;
	for (int i = 0; i < b->n_schedules; i++) {
		if (!has_window(a, &b->schedules[i]))
			return true;
		b_bedtime |= b->schedules[i].bedtime;
	}
	/* The action is not compared: sinkhole, NXDOMAIN, NODATA and REFUSED all withhold the
	 * address; none of them lets more through than another. */
	return b_bedtime && !allow_subset(a, b);
}

const struct rs_profile *rs_profile_for_device(const struct rs_config *cfg,
                                               const struct rs_profile *id_prof, bool id_given,
                                               const struct rs_profile *addr_prof)
{
	const struct rs_profile *fallback =
	    addr_prof ? addr_prof : &cfg->profiles[cfg->default_profile];

	if (!id_given)
		return fallback;
	if (!id_prof)
		return cfg->tls_unknown_client_id == RS_UNKNOWN_ID_REFUSE ? NULL : fallback;
	/* A phone away from home (no address rule) gets its ID's profile; at home, an ID may
	 * tighten the address's profile but only loosen it when the operator said so. */
	if (!addr_prof || cfg->tls_device_id_overrides || !rs_profile_looser(id_prof, addr_prof))
		return id_prof;
	return addr_prof;
}

int rs_client_device(const struct rs_config *cfg, struct bl_reader *rd, const char *id,
                     const uint8_t *hash, struct rs_client *cl)
{
	uint8_t own[BL_DEVICE_HASH_LEN];
	char name[BL_CLIENT_PROFILE_MAX];
	int rc;

	cl->device_id = id;
	cl->id_profile_name[0] = '\0';
	if ((cl->id_profile = rs_profile_for_id(cfg, id)) || !rd)
		return 0;
	if (!hash) {
		if ((rc = bl_device_hash(id, own)) < 0)
			return rc;
		hash = own;
	}
	rc = bl_device_lookup(rd, hash, name, sizeof(name));
	if (rc < 0)
		return rc == BL_ENOTFOUND ? 0 : rc;
	/* a profile the config lacks: a household of the store, resolved with the query */
	if (!(cl->id_profile = rs_profile_named(cfg, name)))
		memcpy(cl->id_profile_name, name, sizeof(name));
	return 0;
}
