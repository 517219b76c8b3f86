/*
 * The decision a query gets, in docs/policy.md's order ("How a query is decided"):
 *
 *   profile (device ID → MAC/ECS from a trusted forwarder → subscriber table → address →
 *   default; a store record of that name overlays it) → feed stale and fail_closed → bypass
 *   canaries → schedule and bedtime → blocklist (mandatory category > the profile's rules >
 *   the household's local rules > the feed; then the walled garden of mode = allowlist; a
 *   store error fails closed unless on_store_error = forward) → safe search.
 *
 * One implementation for the daemon's query path and for every explanation of it
 * (kidguard-ctl check, GET /api/check, the block page). Pure: it reads the config snapshot
 * and the store through the caller's reader, allocates nothing and keeps no state.
 */
#include "rs.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "bl.h"
#include "rs_dns.h"

const char *rs_profile_by_name(int by)
{
	static const char *const names[] = {"default profile", "device ID",        "MAC address",
	                                    "client subnet",   "subscriber table", "address",
	                                    "asked for"};

	return by >= 0 && by <= RS_BY_ASKED ? names[by] : "?";
}

bool rs_trusted_forwarder(const struct rs_config *cfg, const struct sockaddr *addr)
{
	if (!addr)
		return false;
	for (int i = 0; i < cfg->n_trusted_forwarders; i++)
		if (kg_cidr_match(&cfg->trusted_forwarders[i], addr))
			return true;
	return false;
}

const char *rs_verdict_answer(const struct rs_verdict *v)
{
	switch (v->outcome) {
	case RS_OUT_BLOCK:
		return rs_action_name(v->action);
	case RS_OUT_REWRITE:
		return "rewrite";
	case RS_OUT_REFUSE:
		return "refused";
	default:
		return "forward";
	}
}

uint64_t rs_feed_fresh_since(const struct bl_meta *m, uint64_t started, uint64_t now)
{
	/* A transfer proves nothing about freshness (a mirror can replay the manifest or answer
	 * 304 for ever); a signed time does. No grace after a restart either: the signing time
	 * says how old the list is, whenever the daemon started. */
	if (m->timestamp_ttl && m->timestamp_signed)
		return m->timestamp_signed < now ? m->timestamp_signed : now;
	return m->last_sync > started ? m->last_sync : started;
}

bool rs_feed_stale(const struct rs_config *cfg, const struct bl_meta *m, uint64_t now,
                   uint64_t since)
{
	uint64_t fresh_since = rs_feed_fresh_since(m, since, now);

	if (!cfg->sync_url[0])
		return false;
	/* No successful poll (with signed timestamps: no timestamp signed) for max_age, or the
	 * signed manifest itself has expired (a publisher that stopped signing, or a freeze attack
	 * on the path). */
	return now > fresh_since + (uint64_t)cfg->sync_max_age_s ||
	       (m->feed_expires && now > m->feed_expires);
}

/* A wire name as text, for explanations ("forcesafesearch.google.com"). */
static void wire_text(const uint8_t *w, size_t len, char *out, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && w[i] && i + 1 + w[i] <= len && n + w[i] + 2 < max) {
		if (n)
			out[n++] = '.';
		memcpy(out + n, w + i + 1, w[i]);
		n += w[i];
		i += 1 + (size_t)w[i];
	}
	out[n] = '\0';
}

uint64_t rs_verdict_categories(const struct rs_verdict *v)
{
	uint64_t c = v->list.categories & v->mask;

	return c ? c : v->list.categories;
}

static const struct rs_profile *profile_named(const struct rs_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

/* The store's subscriber table (an ISP's RADIUS/DHCP view) for this address, or NULL. */
static const struct rs_profile *subscriber_profile(const struct rs_decide_ctx *cx,
                                                   const struct sockaddr *sa, struct rs_verdict *v)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const struct rs_profile *prof;
	const uint8_t *addr;
	int family, rc;

	if (sa->sa_family == AF_INET) {
		family = BL_FAMILY_V4;
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		family = memcmp(addr, mapped, 12) == 0 ? BL_FAMILY_V4 : BL_FAMILY_V6;
		if (family == BL_FAMILY_V4)
			addr += 12;
	} else {
		return NULL;
	}
	rc = cx->test_store_fault ? BL_ESTORE
	                          : bl_client_lookup(cx->rd, family, addr, v->sub_profile,
	                                             sizeof(v->sub_profile), NULL);
	if (rc == BL_ENOTFOUND) {
		v->sub_status = RS_SUB_NO_MATCH;
		return NULL;
	}
	if (rc < 0) {
		/* Fall back to the config's clients =; the blocklist lookup that follows meets
		 * the same store and fails closed there (on_store_error). */
		v->sub_status = RS_SUB_ERROR;
		v->store_rc = rc;
		return NULL;
	}
	prof = profile_named(cx->cfg, v->sub_profile);
	if (!prof) /* a profile only the store defines (made from the dashboard) */
		prof = rs_profile_resolve(cx, v->sub_profile);
	v->sub_status = prof ? RS_SUB_HIT : RS_SUB_UNKNOWN_PROFILE;
	return prof;
}

static bool mac_listed(const struct rs_config *cfg, const uint8_t *mac)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		for (int k = 0; k < cfg->profiles[i].n_macs; k++)
			if (memcmp(cfg->profiles[i].macs[k], mac, 6) == 0)
				return true;
	return false;
}

/* A MAC address the household assigned from the dashboard ("macs" table), or NULL. */
static const struct rs_profile *store_mac_profile(const struct rs_decide_ctx *cx,
                                                  const uint8_t *mac)
{
	char name[RS_PROFILE_NAME_MAX];

	if (!cx->rd || !cx->scratch || cx->test_store_fault ||
	    bl_mac_lookup(cx->rd, mac, name, sizeof(name)) != 0)
		return NULL;
	return rs_profile_resolve(cx, name);
}

/* Address rules (`clients =`), else the default profile. */
static const struct rs_profile *address_profile(const struct rs_config *cfg,
                                                const struct sockaddr *sa, int by,
                                                struct rs_verdict *v)
{
	const struct rs_profile *def = &cfg->profiles[cfg->default_profile];
	const struct rs_profile *prof = sa ? rs_profile_for(cfg, sa) : def;

	v->profile_by = prof == def ? RS_BY_DEFAULT : by;
	return prof;
}

/* Step 1a: the profile the client's address says (MAC or subnet from a trusted forwarder,
 * the subscriber table, address rules), else the default. */
static void address_choice(const struct rs_decide_ctx *cx, const struct rs_client *cl,
                           struct rs_verdict *v)
{
	const struct rs_config *cfg = cx->cfg;
	bool trusted =
	    (cl->mac || cl->subnet) && (cl->assume_trusted || rs_trusted_forwarder(cfg, cl->addr));

	if (trusted) {
		/* A forwarder speaking for its clients: the MAC it names, else the subnet. */
		if (cl->mac && mac_listed(cfg, cl->mac)) {
			v->profile = rs_profile_select(cfg, cl->addr, cl->mac, NULL);
			v->profile_by = RS_BY_MAC;
			return;
		}
		if (cl->mac && (v->profile = store_mac_profile(cx, cl->mac))) {
			v->profile_by = RS_BY_MAC;
			return;
		}
		v->profile = address_profile(cfg, cl->subnet ? cl->subnet : cl->addr,
		                             cl->subnet ? RS_BY_SUBNET : RS_BY_ADDRESS, v);
		return;
	}
	if (cl->addr && cx->rd && !cx->no_subscribers &&
	    (v->profile = subscriber_profile(cx, cl->addr, v))) {
		v->profile_by = RS_BY_SUBSCRIBER;
		return;
	}
	v->profile = address_profile(cfg, cl->addr, RS_BY_ADDRESS, v);
}

/* Step 1: which profile. False when the client is refused. A device ID is weighed against
 * the address's choice by rs_profile_for_device (it cannot loosen a child's prefix). */
static bool choose_profile_cfg(const struct rs_decide_ctx *cx, const struct rs_client *cl,
                               struct rs_verdict *v)
{
	const struct rs_config *cfg = cx->cfg;
	const struct rs_profile *def = &cfg->profiles[cfg->default_profile], *addr, *chosen, *idp;

	v->profile = NULL;
	v->profile_by = RS_BY_DEFAULT;
	if (cl->profile || cl->profile_name) {
		/* The operator names the profile: nothing to choose, every later step applies. */
		v->profile = cl->profile ? cl->profile : rs_profile_resolve(cx, cl->profile_name);
		v->profile_by = RS_BY_ASKED;
		return true;
	}
	address_choice(cx, cl, v);
	if (!cl->device_id || !cl->device_id[0])
		return true;
	addr = v->profile;
	/* Only the default applies (no rule named this address): nothing to weigh an ID
	 * against, as for a phone away from home. */
	if (addr == def && v->profile_by == RS_BY_DEFAULT && !def->n_clients && !def->n_macs)
		addr = NULL;
	idp = cl->id_profile;
	if (!idp && cl->id_profile_name[0]) /* a household's device */
		idp = rs_profile_resolve(cx, cl->id_profile_name);
	chosen = rs_profile_for_device(cfg, idp, true, addr);
	if (!chosen) {
		v->profile = NULL; /* an unknown ID, refused by [tls] unknown_client_id */
		v->profile_by = RS_BY_DEFAULT;
		return false;
	}
	if (chosen != v->profile || (idp == chosen && addr == NULL)) {
		v->profile = chosen;
		v->profile_by = RS_BY_DEVICE_ID;
	}
	return true;
}

/* Step 1, then the store: a record of the chosen profile's name overlays it (a profile
 * already resolved through the store, or asked as such, is kept). */
static bool choose_profile(const struct rs_decide_ctx *cx, const struct rs_client *cl,
                           struct rs_verdict *v)
{
	const struct rs_profile *p;

	if (!choose_profile_cfg(cx, cl, v))
		return false;
	if (v->profile && !v->profile->from_store && cx->scratch &&
	    (p = rs_profile_resolve(cx, v->profile->name)))
		v->profile = p;
	return true;
}

static void block(struct rs_verdict *v, int step, int action, uint16_t ede, const char *by,
                  const char *text)
{
	v->outcome = RS_OUT_BLOCK;
	v->step = step;
	v->action = action;
	v->ede_code = ede;
	v->decided_by = by;
	snprintf(v->text, sizeof(v->text), "%s", text);
}

/* Steps 2-4: fail-closed, canaries, schedule and bedtime; sets the mask. */
static void apply_policy(const struct rs_decide_ctx *cx, const struct rs_ask *q,
                         struct rs_verdict *v)
{
	const struct rs_profile *prof = v->profile;
	int action;

	v->mask = 0;
	v->bedtime = -1;
	if (!cx->rd)
		return; /* no store: the daemon filters nothing */
	if (cx->fail_closed && prof->block_mask != 0) {
		block(v, RS_STEP_STALE, prof->action, RS_EDE_BLOCKED,
		      "feed stale (on_stale = fail_closed)", "feed stale; failing closed");
		return;
	}
	if (prof->hardening && (action = rs_hardening_action(q->qname, q->len)) >= 0) {
		block(v, RS_STEP_CANARY, action, RS_EDE_BLOCKED,
		      "bypass hardening (a DoH, Private Relay or DDR canary)", "bypass-canary");
		return;
	}
	if (prof->n_schedules) {
		v->minute_of_week = cx->clock ? cx->clock(cx->clock_arg) : cx->minute_of_week;
		v->mask = rs_profile_mask_at(prof, v->minute_of_week, &v->bedtime);
	} else {
		v->mask = prof->block_mask;
	}
	if (v->bedtime >= 0 && !rs_bedtime_allows(prof, q->qname, q->len)) {
		block(v, RS_STEP_BEDTIME, prof->action, RS_EDE_FILTERED,
		      "schedule (bedtime: only the profile's bedtime_allow names)",
		      "schedule=bedtime; profile allow list only");
		return;
	}
	/* Safe search is decided after the blocklist, but the query path's cache shortcut
	 * must know now whether this name would be rewritten. */
	if (prof->safe_search && cx->ss && q->qclass == RS_CLASS_IN &&
	    rs_safesearch_find(cx->ss, q->qname, q->len, prof->safe_search, &v->rewrite_target,
	                       &v->rewrite_len))
		return;
	v->rewrite_target = NULL;
	v->rewrite_len = 0;
}

/* Append `str` (`len` bytes) to the text at `*n`, cut at the buffer's end (NUL kept). */
static void text_add(char *buf, size_t size, size_t *n, const char *str, size_t len)
{
	if (*n + len >= size)
		len = *n < size - 1 ? size - 1 - *n : 0;
	memcpy(buf + *n, str, len);
	*n += len;
	buf[*n] = '\0';
}

static void text_str(char *buf, size_t size, size_t *n, const char *str)
{
	text_add(buf, size, n, str, strlen(str));
}

/*
 * "category=adult,gambling; list=feed@1234": what an operator or a parent needs to know.
 * Built with copies rather than snprintf: it is on every blocked answer's path.
 */
static void list_text(const struct rs_decide_ctx *cx, const struct rs_ask *q, struct rs_verdict *v)
{
	uint64_t cats = rs_verdict_categories(v);
	size_t len = sizeof(v->text), n = 0;
	const char *sep = "category=", *name;
	char *buf = v->text, num[16];
	int k = (int)sizeof(num);
	uint32_t ver = v->list.feed_version;

	buf[0] = '\0';
	if (q->via) {
		text_str(buf, len, &n, "cname=");
		text_str(buf, len, &n, q->via);
		text_str(buf, len, &n, "; ");
	}
	for (uint64_t c = cats; c; c &= c - 1) {
		int b = __builtin_ctzll(c);
		if (!cx->db || !(name = bl_category_name(cx->db, b)))
			continue;
		text_str(buf, len, &n, sep);
		text_str(buf, len, &n, name);
		sep = ",";
	}
	if (v->list.mandatory) /* the publisher's word, not the parent's: say so */
		text_str(buf, len, &n, n ? "; mandatory (publisher)" : "mandatory (publisher)");
	if (n)
		text_str(buf, len, &n, "; ");
	if (v->list.source == BL_SOURCE_LOCAL) {
		text_str(buf, len, &n, "list=local");
		return;
	}
	if (v->list.source == BL_SOURCE_PROFILE) {
		text_str(buf, len, &n, "list=profile:");
		text_str(buf, len, &n, v->profile->name);
		return;
	}
	text_str(buf, len, &n, "list=feed@");
	do
		num[--k] = (char)('0' + ver % 10);
	while ((ver /= 10) != 0);
	text_add(buf, len, &n, num + k, sizeof(num) - (size_t)k);
}

/* What the verdict cache keeps per name: the snapshot's mandatory categories, then the rules. */
#define VC_RECS 2
_Static_assert(8 + VC_RECS * sizeof(struct bl_raw_rec) <= RS_VCACHE_VAL_MAX, "fits a slot");

/*
 * The blocklist's verdict for `mask`. With the worker's verdict cache, the rules found for
 * the name are remembered per store generation and decided from per mask, so every profile
 * shares one entry and a commit (any process) is seen at the next query. The decision itself
 * is bl_raw_decide either way: the cache cannot change an answer.
 */
static int list_lookup(const struct rs_decide_ctx *cx, const struct rs_ask *q, uint64_t mask,
                       struct bl_verdict *out)
{
	struct bl_raw_rec recs[VC_RECS];
	uint64_t val[RS_VCACHE_VAL_MAX / 8];
	struct bl_raw raw;
	size_t vlen;
	int rc;

	if (!cx->vcache || !cx->db)
		return bl_lookup_wire(cx->rd, q->qname, q->len, mask, out);
	rs_vcache_generation(cx->vcache,
	                     cx->generation ? cx->generation : bl_db_generation(cx->db));
	if (rs_vcache_get(cx->vcache, q->qname, q->len, val, &vlen)) {
		raw.snapshot = rs_vcache_current(cx->vcache);
		raw.mandatory = val[0];
		raw.n = (int)((vlen - 8) / sizeof(struct bl_raw_rec));
		memcpy(recs, val + 1, vlen - 8);
		raw.rec = recs;
		return bl_raw_decide(&raw, q->qname, q->len, mask, out);
	}
	if ((rc = bl_lookup_raw(cx->rd, q->qname, q->len, &raw)) < 0)
		return rc;
	if (raw.n <= VC_RECS) { /* else too many rules along the path: asked every time */
		val[0] = raw.mandatory;
		memcpy(val + 1, raw.rec, (size_t)raw.n * sizeof(struct bl_raw_rec));
		rs_vcache_put(cx->vcache, raw.snapshot, q->qname, q->len, val,
		              8 + (size_t)raw.n * sizeof(struct bl_raw_rec));
	}
	return bl_raw_decide(&raw, q->qname, q->len, mask, out);
}

/* Step 5: the blocklist. */
static void apply_list(const struct rs_decide_ctx *cx, const struct rs_ask *q, struct rs_verdict *v)
{
	const struct rs_profile *prof = v->profile;
	struct bl_lookup_opts o = {v->mask, prof->has_rules ? prof->name : NULL,
	                           prof->mode == RS_MODE_ALLOWLIST};
	int rc;

	if (!cx->rd)
		return;
	/* A profile's own rules or a walled garden: not a function of name and mask alone, so
	 * not from the verdict cache. */
	if (cx->test_store_fault)
		rc = BL_ESTORE;
	else if (o.profile || o.allowlist)
		rc = bl_lookup_wire_opts(cx->rd, &o, q->qname, q->len, &v->list);
	else
		rc = list_lookup(cx, q, v->mask, &v->list);
	if (rc == BL_ENAME) {
		/* A label with a zero byte cannot be keyed, so no rule could match it: refuse
		 * rather than let "\000.blocked.example" slip past a subtree block. */
		block(v, RS_STEP_NAME, RS_ACTION_REFUSED, RS_EDE_BLOCKED,
		      "a name the blocklist cannot check",
		      "name not checkable against the blocklist");
		return;
	}
	if (rc < 0) {
		/* A child-protection filter must not fail open silently: block for profiles
		 * that block anything unless the operator chose to forward. */
		v->store_rc = rc;
		if (cx->cfg->on_store_error == RS_STORE_ERROR_FAIL_CLOSED && prof->block_mask != 0)
			block(v, RS_STEP_STORE, prof->action, RS_EDE_BLOCKED,
			      "store error (on_store_error = fail_closed)",
			      "store error; failing closed");
		else
			v->decided_by = "store error (on_store_error = forward)";
		return;
	}
	v->have_list = true;
	if (v->list.not_allowed) {
		/* The walled garden: the parent's choice, so "filtered". */
		block(v, RS_STEP_GARDEN, prof->action, RS_EDE_FILTERED,
		      "walled garden (mode = allowlist)", "not on the allow list");
		return;
	}
	if (v->list.action != BL_ACTION_BLOCK) {
		v->decided_by = v->list.action != BL_ACTION_ALLOW     ? "no rule"
		                : v->list.source == BL_SOURCE_PROFILE ? "profile allow rule"
		                : v->list.child_safe                  ? "child-safe feed category"
		                                                      : "allow rule";
		return;
	}
	v->outcome = RS_OUT_BLOCK;
	v->action = prof->action;
	v->ede_code = v->list.source == BL_SOURCE_FEED ? RS_EDE_BLOCKED : RS_EDE_FILTERED;
	v->decided_by = v->list.mandatory ? "mandatory (publisher)" : "blocklist rule";
	v->step = RS_STEP_LIST;
	list_text(cx, q, v);
}

int rs_decide(const struct rs_decide_ctx *cx, const struct rs_client *cl, const struct rs_ask *q,
              unsigned stages, struct rs_verdict *v)
{
	v->outcome = RS_OUT_CONTINUE;
	v->text[0] = '\0';
	v->have_list = false;
	v->step = RS_STEP_NONE;
	v->store_rc = 0;
	v->minute_of_week = cx->clock ? -1 : cx->minute_of_week;
	if (stages & RS_STAGE_PROFILE) {
		v->decided_by = "no rule";
		v->sub_status = RS_SUB_NOT_ASKED;
		v->rewrite_target = NULL;
		v->rewrite_len = 0;
		v->mask = 0;
		v->bedtime = -1;
		if (!choose_profile(cx, cl, v)) {
			v->outcome = RS_OUT_REFUSE;
			v->step = RS_STEP_REFUSE;
			v->decided_by = "device ID no profile claims (unknown_client_id = refuse)";
			return 0;
		}
	}
	if (!v->profile)
		return RS_EINVAL;
	if (stages & RS_STAGE_POLICY) {
		apply_policy(cx, q, v);
		if (v->outcome != RS_OUT_CONTINUE)
			return 0;
	}
	if (stages & RS_STAGE_LIST) {
		apply_list(cx, q, v);
		if (v->outcome != RS_OUT_CONTINUE)
			return 0;
	}
	if (stages & RS_STAGE_SAFE) {
		if (v->rewrite_target) {
			v->outcome = RS_OUT_REWRITE;
			v->step = RS_STEP_SAFE;
			memcpy(v->text, "CNAME ", 6);
			wire_text(v->rewrite_target, v->rewrite_len, v->text + 6,
			          sizeof(v->text) - 6);
			v->decided_by = "safe search";
		} else {
			v->outcome = RS_OUT_FORWARD;
		}
	}
	return 0;
}
