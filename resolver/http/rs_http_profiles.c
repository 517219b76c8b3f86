/*
 * The household's profiles over the API (issue 17; blocklist/bl_profiles.c holds them):
 *
 *   GET    /api/profiles               every profile (the file's and the store's), resolved
 *                                      as the DNS sees it, with its devices (the store's
 *                                      and the file's clients = and macs =) and its rules
 *   PUT    /api/profiles?name=N        set fields (body: rs__body_profile: bedtime,
 *                                      schedules, ...); 201 when created
 *   DELETE /api/profiles?name=N        drop the store record and its rules (a config
 *                                      profile of that name stays, as the file says)
 *   POST   /api/profiles/devices       {"profile", "address"|"mac"}: assign; an address or
 *                                      MAC already assigned MOVES
 *   DELETE /api/profiles/devices?address=A|mac=M
 *
 * rs_http.c has already authorised the state-changing methods. Each change is one write
 * transaction; the workers see it at their next query (the store generation changes).
 */
#include "rs_http_int.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH "/api/profiles"

static const char *arg(struct rs_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

static cJSON *cats_json(struct rs_http *h, uint64_t mask)
{
	cJSON *a = cJSON_CreateArray();

	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n =
		    (mask & (1ULL << b)) ? bl_category_name(rs_server_store(h->srv), b) : NULL;
		if (n)
			cJSON_AddItemToArray(a, cJSON_CreateString(n));
	}
	return a;
}

static cJSON *days_json(uint8_t days)
{
	static const char *const names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	cJSON *a = cJSON_CreateArray();

	for (int d = 0; d < 7; d++)
		if (days & (1u << d))
			cJSON_AddItemToArray(a, cJSON_CreateString(names[d]));
	return a;
}

static void add_hhmm(cJSON *o, const char *key, unsigned minutes)
{
	char t[8];

	snprintf(t, sizeof(t), "%02u:%02u", (minutes / 60) % 24, minutes % 60);
	cJSON_AddStringToObject(o, key, t);
}

static cJSON *window_json(struct rs_http *h, const struct rs_schedule *s)
{
	cJSON *o = cJSON_CreateObject();

	add_hhmm(o, "start", s->start);
	add_hhmm(o, "end", s->end);
	cJSON_AddItemToObject(o, "days", days_json(s->days));
	if (!s->bedtime)
		cJSON_AddItemToObject(o, "block", cats_json(h, s->extra_block));
	return o;
}

static int rule_json(const struct bl_rule *rule, void *arg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", rule->name);
	cJSON_AddStringToObject(o, "action", rule->flags & BL_F_ALLOW ? "allow" : "deny");
	cJSON_AddBoolToObject(o, "subtree", (rule->flags & BL_F_SUBTREE) != 0);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

/* The bedtime allow names of a resolved profile (wire form in its pool). */
static cJSON *allow_json(const struct rs_profile *p)
{
	cJSON *a = cJSON_CreateArray();
	uint8_t key[BL_KEY_MAX];
	char name[BL_NAME_MAX];

	for (int i = 0; i < p->n_allow; i++) {
		int kl = bl_key_from_wire(p->allow_pool + p->allow_off[i], p->allow_len[i], key,
		                          sizeof(key));
		if (kl > 0 && bl_key_to_name(key, (size_t)kl, name, sizeof(name)) > 0)
			cJSON_AddItemToArray(a, cJSON_CreateString(name));
	}
	return a;
}

/* A profile as the DNS sees it: `base` (config, may be NULL) with store record `rec` (may be
 * NULL). `p` is scratch space. */
static cJSON *profile_json(struct rs_http *h, const struct rs_config *cfg, const char *name,
                           const struct bl_profile_rec *rec, struct rs_profile *p)
{
	const struct rs_profile *base = rs_profile_named(cfg, name);
	cJSON *o = cJSON_CreateObject(), *sch, *bed = NULL;

	if (rec && (rec->set & BL_PF_TEMPLATE) && rs_profile_named(cfg, rec->tmpl))
		*p = *rs_profile_named(cfg, rec->tmpl);
	else
		*p = base ? *base : cfg->profiles[cfg->default_profile];
	if (rec)
		rs_profile_apply_rec(p, rec);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "source", !rec ? "config" : base ? "both" : "store");
	cJSON_AddStringToObject(o, "template", rec && (rec->set & BL_PF_TEMPLATE) ? rec->tmpl : "");
	cJSON_AddStringToObject(o, "preset", p->preset);
	cJSON_AddStringToObject(o, "mode", rs_mode_name(p->mode));
	if (p->block_mask == UINT64_MAX)
		cJSON_AddItemToObject(o, "blocks",
		                      cJSON_CreateStringArray((const char *[]){"all"}, 1));
	else
		cJSON_AddItemToObject(o, "blocks", cats_json(h, p->block_mask));
	sch = cJSON_CreateArray();
	for (int i = 0; i < p->n_schedules; i++) {
		if (p->schedules[i].bedtime && !bed)
			bed = window_json(h, &p->schedules[i]);
		else if (!p->schedules[i].bedtime)
			cJSON_AddItemToArray(sch, window_json(h, &p->schedules[i]));
	}
	cJSON_AddItemToObject(o, "bedtime", bed ? bed : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "bedtime_allow", allow_json(p));
	cJSON_AddItemToObject(o, "schedules", sch);
	cJSON_AddItemToObject(o, "devices", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "rules", cJSON_CreateArray());
	if (rec && rec->n_rules)
		bl_profile_rules_list(rs_server_store(h->srv), name, rule_json,
		                      cJSON_GetObjectItem(o, "rules"));
	return o;
}

static void mac_text(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* `source`: "store" (assigned from the dashboard or kidguard-ctl: can be moved or removed
 * there) or "config" (kidguard.conf's clients = or macs =: only the file changes it). */
static void add_device(cJSON *byname, const char *profile, const char *kind, const char *value,
                       const char *source)
{
	cJSON *p = cJSON_GetObjectItemCaseSensitive(byname, profile), *d;

	if (!p)
		return; /* a profile neither the file nor the store defines: not listed here */
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "kind", kind);
	cJSON_AddStringToObject(d, "value", value);
	cJSON_AddStringToObject(d, "source", source);
	cJSON_AddItemToArray(cJSON_GetObjectItem(p, "devices"), d);
}

/* A config `clients =` entry as the parent wrote it: bare for one address, else CIDR. */
static void cidr_text(const struct kg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	bool host = c->prefix == (c->family == AF_INET ? 32 : 128);

	inet_ntop(c->family, c->addr, a, sizeof(a));
	if (host)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, c->prefix);
}

/* The file's devices: clients = and macs = of each [profile]. */
static void config_devices(cJSON *byname, const struct rs_config *cfg)
{
	char buf[INET6_ADDRSTRLEN + 8];

	for (int i = 0; i < cfg->n_profiles; i++) {
		const struct rs_profile *p = &cfg->profiles[i];
		for (int k = 0; k < p->n_clients; k++) {
			cidr_text(&p->clients[k], buf, sizeof(buf));
			add_device(byname, p->name, "address", buf, "config");
		}
		for (int k = 0; k < p->n_macs; k++) {
			mac_text(p->macs[k], buf, sizeof(buf));
			add_device(byname, p->name, "mac", buf, "config");
		}
	}
}

static int client_dev(const struct bl_prefix *p, const char *profile, void *arg)
{
	char buf[64], *slash;

	bl_prefix_str(p, buf, sizeof(buf));
	/* a home device is one address: show it bare, as the parent typed it */
	if ((p->family == BL_FAMILY_V4 && p->len == 32) ||
	    (p->family == BL_FAMILY_V6 && p->len == 128)) {
		if ((slash = strchr(buf, '/')))
			*slash = '\0';
	}
	add_device(arg, profile, "address", buf, "store");
	return 0;
}

static int mac_dev(const uint8_t mac[6], const char *profile, void *arg)
{
	char buf[24];

	mac_text(mac, buf, sizeof(buf));
	add_device(arg, profile, "mac", buf, "store");
	return 0;
}

static int id_dev(const struct bl_device *d, void *arg)
{
	add_device(arg, d->profile, "device_id", d->name, "store");
	return 0;
}

struct plist {
	struct rs_http *h;
	const struct rs_config *cfg;
	cJSON *arr, *byname;
	struct rs_profile *scratch;
};

static int store_prof(const char *name, const struct bl_profile_rec *rec, void *arg)
{
	struct plist *l = arg;
	cJSON *o = profile_json(l->h, l->cfg, name, rec, l->scratch), *it, *old = NULL;

	cJSON_ArrayForEach(it, l->arr)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			old = it;
	}
	if (old) {                                           /* the config's entry, now overlaid */
		cJSON_DeleteItemFromObject(l->byname, name); /* a reference: frees nothing shared */
		cJSON_ReplaceItemViaPointer(l->arr, old, o);
	} else {
		cJSON_AddItemToArray(l->arr, o);
	}
	cJSON_AddItemReferenceToObject(l->byname, name, o);
	return 0;
}

static void api_list(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	struct bl_db *db = rs_server_store(h->srv);
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	struct plist l = {.h = h, .cfg = &cr->cfg};
	cJSON *root = cJSON_CreateObject(), *pre, *cats;
	char names[128], *tok, *save = NULL;
	int rc = 0;

	l.scratch = malloc(sizeof(*l.scratch));
	l.arr = cJSON_AddArrayToObject(root, "profiles");
	l.byname = cJSON_CreateObject(); /* name -> the array's item, by reference */
	for (int i = 0; l.scratch && i < cr->cfg.n_profiles; i++) {
		cJSON *o = profile_json(h, &cr->cfg, cr->cfg.profiles[i].name, NULL, l.scratch);
		cJSON_AddItemToArray(l.arr, o);
		cJSON_AddItemReferenceToObject(l.byname, cr->cfg.profiles[i].name, o);
	}
	if (!l.scratch || (rc = bl_profiles_list(db, store_prof, &l)) < 0 ||
	    (rc = bl_clients_list(db, client_dev, l.byname)) < 0 ||
	    (rc = bl_macs_list(db, mac_dev, l.byname)) < 0 ||
	    (rc = bl_devices_list(db, NULL, id_dev, l.byname)) < 0) {
		rs__http_cfg_put(cr);
		cJSON_Delete(l.byname);
		cJSON_Delete(root);
		free(l.scratch);
		rs__api_error(q, r, 503, "error.internal",
		              RS_KV("detail", kg_strerror(rc ? rc : -ENOMEM)));
		return;
	}
	config_devices(l.byname, &cr->cfg);
	rs__http_cfg_put(cr);
	cJSON_Delete(l.byname);
	free(l.scratch);
	pre = cJSON_AddArrayToObject(root, "presets");
	snprintf(names, sizeof(names), "%s", rs_preset_names());
	for (tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		cJSON_AddItemToArray(pre, cJSON_CreateString(tok));
	cats = cJSON_AddArrayToObject(root, "categories");
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		const char *n = bl_category_name(db, b);
		if (n)
			cJSON_AddItemToArray(cats, cJSON_CreateString(n));
	}
	rs__json_resp(r, 200, root);
}

static int find_category(void *arg, const char *name, int *bit)
{
	return bl_category_find(arg, name, bit);
}

/* Is `name` a profile the file or the store defines? */
static bool profile_known(struct rs_http *h, const char *name, struct bl_profile_rec *rec)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	bool known = rs_profile_named(&cr->cfg, name) != NULL;

	rs__http_cfg_put(cr);
	return known || bl_profile_read(rs_server_store(h->srv), name, rec) == 0;
}

/* Merge the request into the record. Returns 0 or a message for a 400. */
static const char *merge(struct rs_http *h, const char *name, const struct rs_profile_req *in,
                         struct bl_profile_rec *rec)
{
	if (in->set & BL_PF_TEMPLATE) { /* first: the windows below start from the template's */
		memcpy(rec->tmpl, in->rec.tmpl, sizeof(rec->tmpl));
		rec->set |= BL_PF_TEMPLATE;
	}
	if (in->set & BL_PF_PRESET)
		memcpy(rec->preset, in->rec.preset, sizeof(rec->preset));
	if (in->set & BL_PF_MODE)
		rec->mode = in->rec.mode;
	if (in->set & BL_PF_BLOCK) {
		rec->block_add = (rec->block_add | in->block_add) & ~in->block_remove;
		rec->block_del = (rec->block_del | in->block_remove) & ~in->block_add;
	}
	if (in->set & BL_PF_SCHEDULES) {
		struct rs_cfg_ref *cr = rs__http_cfg_get(h);
		const char *bad = rs_profile_rec_windows(
		    rec, rs_profile_rec_base(&cr->cfg, name, rec), in->bedtime_set,
		    in->bedtime_off ? NULL : &in->rec.sched[0], in->windows_set, &in->rec.sched[1],
		    in->n_windows);
		rs__http_cfg_put(cr);
		if (bad)
			return bad;
	}
	if (in->set & BL_PF_BEDTIME_ALLOW) {
		rec->n_allow = in->rec.n_allow;
		memcpy(rec->allow, in->rec.allow, sizeof(rec->allow));
	}
	rec->set |= in->set;
	rec->updated = (uint64_t)time(NULL);
	return NULL;
}

struct put_ctx {
	struct rs_profile_req req;
	struct bl_profile_rec rec, other;
	char msg[300];
};

static void api_put(struct rs_req *q, struct rs_resp *r)
{
	const char *name = arg(q, "name"), *bad;
	struct rs_http *h = q->h;
	struct bl_db *db = rs_server_store(h->srv);
	struct put_ctx *c = calloc(1, sizeof(*c));
	struct bl_profiles *t = NULL;
	bool created;
	int rc;

	if (!c) {
		rs__api_error(q, r, 500, "error.memory", NULL);
		return;
	}
	if (!name || !bl_profile_name_valid(name)) {
		rs__api_error(q, r, 400, "error.profile_param", NULL);
		goto out;
	}
	if (rs__body_profile(q->body, find_category, db, &c->req, c->msg, sizeof(c->msg)) < 0) {
		rs__api_error(q, r, 400, "error.bad_profile", RS_KV("detail", c->msg));
		goto out;
	}
	if ((c->req.set & BL_PF_TEMPLATE) && c->req.rec.tmpl[0] &&
	    !profile_known(h, c->req.rec.tmpl, &c->other)) {
		snprintf(c->msg, sizeof(c->msg), "unknown template %s (a profile of the config)",
		         c->req.rec.tmpl);
		rs__api_error(q, r, 400, "error.bad_profile", RS_KV("detail", c->msg));
		goto out;
	}
	if ((rc = bl_profiles_begin(db, &t)) < 0)
		goto fail;
	rc = bl_profiles_get(t, name, &c->rec);
	created = rc == BL_ENOTFOUND;
	if (rc < 0 && !created)
		goto fail;
	if ((bad = merge(h, name, &c->req, &c->rec))) {
		bl_profiles_abort(t);
		rs__api_error(q, r, 400, "error.bad_profile", RS_KV("detail", bad));
		goto out;
	}
	if ((rc = bl_profiles_put(t, name, &c->rec)) < 0)
		goto fail;
	rc = bl_profiles_commit(t);
	t = NULL;
	if (rc < 0)
		goto fail;
	snprintf(c->msg, sizeof(c->msg), "{\"name\":\"%s\",\"created\":%s}", name,
	         created ? "true" : "false");
	rs__resp_text(r, created ? 201 : 200, "application/json", c->msg);
	goto out;
fail:
	bl_profiles_abort(t);
	rs__api_error(q, r, rc == -EROFS ? 409 : 500, "error.internal",
	              RS_KV("detail", kg_strerror(rc)));
out:
	free(c);
}

static void api_delete(struct rs_req *q, struct rs_resp *r)
{
	const char *name = arg(q, "name");
	struct bl_profiles *t;
	int rc;

	if (!name || !bl_profile_name_valid(name)) {
		rs__api_error(q, r, 400, "error.profile_param", NULL);
		return;
	}
	if ((rc = bl_profiles_begin(rs_server_store(q->h->srv), &t)) == 0) {
		rc = bl_profiles_del(t, name);
		if (rc == 0)
			rc = bl_profiles_commit(t);
		else
			bl_profiles_abort(t);
	}
	rs__api_done(q, r, rc, "error.no_profile_record", "{\"deleted\":true}");
}

/* Assign (add or move) or remove one device: an address in the clients table, or a MAC. */
static int device_write(struct rs_http *h, const struct rs_profile_device_req *d, bool add)
{
	struct bl_db *db = rs_server_store(h->srv);
	struct bl_clients *ct;
	struct bl_profiles *t;
	int rc;

	if (d->is_mac) {
		if ((rc = bl_profiles_begin(db, &t)) < 0)
			return rc;
		rc = add ? bl_profiles_mac_put(t, d->mac, d->profile)
		         : bl_profiles_mac_del(t, d->mac);
		if (rc < 0) {
			bl_profiles_abort(t);
			return rc;
		}
		return bl_profiles_commit(t);
	}
	if ((rc = bl_clients_begin(db, &ct)) < 0)
		return rc;
	rc = add ? bl_clients_put(ct, &d->prefix, d->profile) : bl_clients_del(ct, &d->prefix);
	if (rc < 0) {
		bl_clients_abort(ct);
		return rc;
	}
	return bl_clients_commit(ct);
}

static bool trusted_forwarders(struct rs_http *h)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	bool any = cr->cfg.n_trusted_forwarders > 0;

	rs__http_cfg_put(cr);
	return any;
}

static void api_device_add(struct rs_req *q, struct rs_resp *r)
{
	struct rs_profile_device_req d;
	struct bl_profile_rec *rec = malloc(sizeof(*rec));
	char msg[200];
	int rc;

	if (!rec) {
		rs__api_error(q, r, 500, "error.memory", NULL);
		return;
	}
	if (rs__body_profile_device(q->body, &d, msg, sizeof(msg)) < 0) {
		rs__api_error(q, r, 400, "error.bad_device", RS_KV("detail", msg));
	} else if (!profile_known(q->h, d.profile, rec)) {
		rs__api_error(q, r, 400, "error.unknown_profile", RS_KV("name", d.profile));
	} else if ((rc = device_write(q->h, &d, true)) < 0) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
	} else if (d.is_mac && !trusted_forwarders(q->h)) {
		/* stored, but it cannot match: say so rather than let the child get the adults'
		 * profile silently (docs/policy.md, "Telling devices apart behind a router") */
		rs__resp_text(
		    r, 200, "application/json",
		    "{\"assigned\":true,\"warning\":\"MAC addresses are believed only from "
		    "[server] trusted_forwarders (the router that adds them); none is set, so "
		    "this device gets its address's profile\"}");
	} else {
		rs__resp_text(r, 200, "application/json", "{\"assigned\":true}");
	}
	free(rec);
}

static void api_device_del(struct rs_req *q, struct rs_resp *r)
{
	const char *a = arg(q, "address"), *m = arg(q, "mac");
	struct rs_profile_device_req d = {.profile = "x"};
	int rc;

	if (m && *m && !(a && *a)) {
		d.is_mac = true;
		if (rs_mac_parse(m, d.mac) < 0) {
			rs__api_error(q, r, 400, "error.mac", NULL);
			return;
		}
	} else if (!a || bl_prefix_parse(a, &d.prefix) < 0) {
		rs__api_error(q, r, 400, "error.device_param", NULL);
		return;
	}
	rc = device_write(q->h, &d, false);
	rs__api_done(q, r, rc, "error.no_such_device", "{\"deleted\":true}");
}

void rs__api_profiles(struct rs_req *q, struct rs_resp *r)
{
	const char *m = q->method, *u = q->url;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (strcmp(u, PATH) == 0) {
		if (get)
			return api_list(q, r);
		if (strcmp(m, "PUT") == 0)
			return api_put(q, r);
		if (strcmp(m, "DELETE") == 0)
			return api_delete(q, r);
	} else if (strcmp(u, PATH "/devices") == 0) {
		if (strcmp(m, "POST") == 0)
			return api_device_add(q, r);
		if (strcmp(m, "DELETE") == 0)
			return api_device_del(q, r);
	}
	rs__api_error(q, r, 405, "error.method", RS_KV("allowed", "GET, PUT, DELETE, POST"));
}
