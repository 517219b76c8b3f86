/*
 * The subscriber channel: the ISP's table of prefix -> profile, published with `kidguard-feed
 * subscribers` under the ISP's own key and pulled by every node, so that a change made once
 * reaches the whole fleet within one interval. No new protocol: the same DSSE envelope (under
 * its own payload type), the same manifest with snapshot and deltas, the same fetch with byte
 * bounds and SHA-256 checks as the national feed. What differs is the data and where it goes:
 * the lines are text ("client PREFIX PROFILE", "del PREFIX", the households' "profile NAME
 * {json}" and "delprofile NAME", the device IDs' "device HASH PROFILE" and "deldevice HASH")
 * and the apply is ONE write transaction of the "clients" table, the channel's households and
 * devices (handles sharing it: bl_clients_profiles, bl_clients_devices) that also records the
 * version, resets the drift and stores the table's hash (bl_clients_fleet). Any error aborts
 * it: the last good table serves. A snapshot replaces the channel's households and devices and
 * leaves those made on the node (API, kidguard-ctl) alone; a household line replaces its
 * record whole (no merge with what the node had).
 */
#include "sy_int.h"

#include "rs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_EVERY 65536 /* lines between checks for SIGTERM */

/* ---- Lines ------------------------------------------------------------------------------ */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= SY_SUBS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* A household's name: a store profile name (bl_profile_name_valid: 1..31 of [a-z0-9_-]). */
static bool household_ok(const char *s, size_t n)
{
	char buf[BL_PROFILE_NAME_MAX];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return bl_profile_name_valid(buf);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool sy_hex_hash(const char *s, size_t n, uint8_t out[BL_DEVICE_HASH_LEN])
{
	if (n != 2 * BL_DEVICE_HASH_LEN)
		return false;
	for (size_t i = 0; i < BL_DEVICE_HASH_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false; /* lowercase only: one text per hash */
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool word(const char **p, const char *end, const char **w, size_t *wlen);

/* "device HASH PROFILE" / "deldevice HASH" after the first word. */
static int device_line(bool delta, bool del, const char *p, const char *end,
                       struct sy_subs_line *out)
{
	const char *w;
	size_t n;

	if ((del && !delta) || !word(&p, end, &w, &n) || !sy_hex_hash(w, n, out->hash))
		return SY_EFORMAT;
	out->kind = del ? SY_SUBS_DELDEVICE : SY_SUBS_DEVICE;
	if (del)
		return p == end && end[-1] != ' ' ? 0 : SY_EFORMAT;
	if (!word(&p, end, &w, &n) || p != end || end[-1] == ' ' || !name_ok(w, n))
		return SY_EFORMAT;
	memcpy(out->name, w, n);
	return 0;
}

/* The next space-separated word of [*p, end): exactly one space between words. */
static bool word(const char **p, const char *end, const char **w, size_t *wlen)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));

	*w = *p;
	*wlen = sp ? (size_t)(sp - *p) : (size_t)(end - *p);
	*p = sp ? sp + 1 : end;
	return *wlen > 0;
}

/* A prefix in exactly its canonical text: anything else would hash differently on the
 * publisher's side than in the store. */
static bool prefix_canonical(const char *w, size_t n, struct bl_prefix *p)
{
	char buf[64], back[64];

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	return strchr(buf, '/') && bl_prefix_parse(buf, p) == 0 &&
	       strcmp(bl_prefix_str(p, back, sizeof(back)), buf) == 0;
}

int sy_subs_line_parse(bool delta, const char *line, size_t len, struct sy_subs_line *out)
{
	const char *p = line, *end = line + len, *w;
	size_t n;

	if (len == 0 || len > SY_LINE_MAX || memchr(line, '\0', len))
		return SY_EFORMAT;
	memset(out, 0, sizeof(*out));
	if (!word(&p, end, &w, &n))
		return SY_EFORMAT;
	if (n == 7 && memcmp(w, "profile", 7) == 0) {
		/* "profile NAME {json}": the JSON is checked where it is used (categories are the
		 * store's) */
		if (!word(&p, end, &w, &n) || !household_ok(w, n) || p >= end || *p != '{' ||
		    end[-1] != '}')
			return SY_EFORMAT;
		out->kind = SY_SUBS_PROFILE;
		memcpy(out->name, w, n);
		out->json = p;
		out->json_len = (size_t)(end - p);
		return 0;
	}
	if (n == 10 && memcmp(w, "delprofile", 10) == 0) {
		if (!delta || !word(&p, end, &w, &n) || p != end || end[-1] == ' ' ||
		    !household_ok(w, n))
			return SY_EFORMAT;
		out->kind = SY_SUBS_DELPROFILE;
		memcpy(out->name, w, n);
		return 0;
	}
	if ((n == 6 && memcmp(w, "device", 6) == 0) || (n == 9 && memcmp(w, "deldevice", 9) == 0))
		return device_line(delta, n == 9, p, end, out);
	if (n == 6 && memcmp(w, "client", 6) == 0)
		out->kind = SY_SUBS_CLIENT;
	else if (n == 3 && memcmp(w, "del", 3) == 0 && delta)
		out->kind = SY_SUBS_DEL;
	else
		return SY_EFORMAT;
	if (!word(&p, end, &w, &n) || !prefix_canonical(w, n, &out->prefix))
		return SY_EFORMAT;
	if (out->kind == SY_SUBS_DEL)
		return p == end && end[-1] != ' ' ? 0 : SY_EFORMAT;
	if (!word(&p, end, &w, &n) || p != end || end[-1] == ' ' || !name_ok(w, n))
		return SY_EFORMAT;
	memcpy(out->name, w, n);
	return 0;
}

/* ---- Households ------------------------------------------------------------------------- */

/* The keys a household line may carry: PUT /api/profiles' and its rules. */
static const char *const HH_KEYS[] = {"template",      "preset",    "mode",      "bedtime",
                                      "bedtime_allow", "schedules", "block_add", "block_remove",
                                      "allow",         "deny"};

static bool hh_key_known(const char *k)
{
	for (size_t i = 0; i < sizeof(HH_KEYS) / sizeof(HH_KEYS[0]); i++) {
		if (strcmp(HH_KEYS[i], k) == 0)
			return true;
	}
	return false;
}

/* Walk "allow" then "deny": each must be a list of names; `cb` (may be NULL: check only)
 * gets each normalised. */
static int hh_rules(const cJSON *j, sy_rule_fn cb, void *arg, char *err, size_t errlen)
{
	static const char *const keys[2] = {"allow", "deny"};
	char norm[BL_NAME_MAX];

	for (int a = 0; a < 2; a++) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, keys[a]), *it;
		int rc;
		if (l && !cJSON_IsArray(l)) {
			snprintf(err, errlen, "%s: expected a list of names", keys[a]);
			return -EINVAL;
		}
		cJSON_ArrayForEach(it, l)
		{
			if (!cJSON_IsString(it) ||
			    bl_name_normalize(it->valuestring, norm, sizeof(norm)) != 0) {
				snprintf(err, errlen, "%s: bad name %.64s", keys[a],
				         cJSON_IsString(it) ? it->valuestring : "(not a string)");
				return -EINVAL;
			}
			if (cb && (rc = cb(arg, norm, BL_F_SUBTREE | (a == 0 ? BL_F_ALLOW : 0))))
				return rc;
		}
	}
	return 0;
}

int sy_household_decode(const char *json, size_t len, sy_cat_find_fn find, void *arg,
                        struct bl_profile_rec *rec, char *err, size_t errlen)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	struct rs_profile_req *q = calloc(1, sizeof(*q));
	const cJSON *it;
	int rc = -EINVAL;

	if (!q || !cJSON_IsObject(j)) {
		snprintf(err, errlen, q ? "expected a JSON object" : "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, j)
	{
		if (!hh_key_known(it->string)) {
			snprintf(err, errlen, "unknown key %.64s", it->string);
			goto out;
		}
	}
	if (hh_rules(j, NULL, NULL, err, errlen) != 0 ||
	    rs_profile_json(json, len, find, arg, q, err, errlen) != 0)
		goto out;
	/* the whole record: what the line sets, nothing merged */
	*rec = q->rec;
	rec->set = q->set;
	rec->n_rules = 0;
	rec->updated = 0;
	rec->block_add = q->block_add & ~q->block_remove;
	rec->block_del = q->block_remove;
	rec->n_sched = 0;
	if (q->set & BL_PF_SCHEDULES) {
		/* The line's windows and bedtime, and nothing of the template's: the record is
		 * whole. The same merge as PUT /api/profiles, from an empty window list. */
		const char *bad = rs_profile_rec_windows(
		    rec, NULL, q->bedtime_set, q->bedtime_off ? NULL : &q->rec.sched[0],
		    q->windows_set, &q->rec.sched[1], q->n_windows);
		if (bad) {
			snprintf(err, errlen, "%s", bad);
			goto out;
		}
	}
	rc = 0;
out:
	free(q);
	cJSON_Delete(j);
	return rc;
}

int sy_household_rules(const char *json, size_t len, sy_rule_fn cb, void *arg)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	char err[128];
	int rc = cJSON_IsObject(j) ? hh_rules(j, cb, arg, err, sizeof(err)) : -EINVAL;

	cJSON_Delete(j);
	return rc;
}

/* ---- Apply ------------------------------------------------------------------------------ */

struct apply {
	struct bl_clients *t;
	struct bl_profiles *hh; /* the channel's households, in t's transaction */
	struct bl_devices *dev; /* the channel's devices, in t's transaction */
	struct sy_ctx *ctx;
	const struct sy_file *f;
	bool delta;
	bool have_last;
	struct bl_prefix last; /* snapshots are strictly ascending: no duplicates, fast appends */
	uint64_t lines;
	struct bl_profile_rec rec;            /* the household being applied */
	char hh_name[BL_PROFILE_NAME_MAX];    /* and its name: snapshots list them in name order */
	uint8_t dev_last[BL_DEVICE_HASH_LEN]; /* snapshots list devices in hash order */
	bool have_dev;
	char err[200];
};

static void line_warn(const struct apply *a, const char *what)
{
	log_warn("subscribers: %s line %llu: %s", a->f->url, (unsigned long long)a->lines, what);
}

static int cat_find(void *arg, const char *name, int *bit)
{
	return bl_category_find(arg, name, bit);
}

/* Is `name` one of the config's profiles (the templates a household may name)? */
static bool template_known(const struct sy_ctx *ctx, const char *name)
{
	const char *p = ctx->o.templates;
	size_t n = strlen(name);

	if (!p[0])
		return true; /* not told (kidguard-sync-once without --profiles) */
	while (*p) {
		size_t w = strcspn(p, " ");
		if (w == n && memcmp(p, name, n) == 0)
			return true;
		p += w;
		p += strspn(p, " ");
	}
	return false;
}

static int rule_put(void *arg, const char *name, unsigned flags)
{
	struct apply *a = arg;

	return bl_profiles_rule_put(a->hh, a->hh_name, name, flags, 0);
}

/* SHA-256 of the line and its newline: its part of the subscriber hash, as the publisher
 * computes it (bl_clients_hash_line). */
static int line_digest(const char *line, size_t len, uint8_t d[BL_SUBS_HASH_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, line, len) &&
	         EVP_DigestUpdate(c, "\n", 1) && EVP_DigestFinal_ex(c, d, NULL);

	EVP_MD_CTX_free(c);
	return ok ? 0 : -ENOMEM;
}

/* "profile NAME {json}": the record replaces whatever the node had under that name (the
 * channel's or a local one), its rules with it. */
static int apply_household(struct apply *a, const struct sy_subs_line *l, const char *line,
                           size_t len)
{
	int rc = sy_household_decode(l->json, l->json_len, cat_find, a->ctx->db, &a->rec, a->err,
	                             sizeof(a->err));

	if (rc == 0 && (a->rec.set & BL_PF_TEMPLATE) && a->rec.tmpl[0] &&
	    !template_known(a->ctx, a->rec.tmpl)) {
		snprintf(a->err, sizeof(a->err), "unknown template %s", a->rec.tmpl);
		rc = SY_EFORMAT;
	}
	if (rc != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "household %s: %s", l->name, a->err);
		line_warn(a, msg);
		return SY_EFORMAT;
	}
	a->rec.updated = a->ctx->poll_start;
	if ((rc = line_digest(line, len, a->rec.digest)) != 0)
		return rc;
	if (!a->delta && a->hh_name[0] && strcmp(a->hh_name, l->name) >= 0) {
		line_warn(a, "household out of order or repeated");
		return SY_EFORMAT;
	}
	rc = bl_profiles_del(a->hh, l->name);
	if (rc != 0 && rc != BL_ENOTFOUND)
		return rc;
	if ((rc = bl_profiles_put(a->hh, l->name, &a->rec)) != 0)
		return rc;
	memcpy(a->hh_name, l->name, sizeof(a->hh_name));
	return sy_household_rules(l->json, l->json_len, rule_put, a);
}

/* "delprofile NAME": only a household the channel owns (a local one is not its to remove). */
static int apply_delprofile(struct apply *a, const char *name)
{
	int rc = bl_profiles_get(a->hh, name, &a->rec);

	if (rc == BL_ENOTFOUND || (rc == 0 && !(a->rec.set & BL_PF_FLEET)))
		return 0; /* gone already (a local change): the goal holds */
	return rc ? rc : bl_profiles_del(a->hh, name);
}

static int apply_line(void *arg, const char *line, size_t len)
{
	struct apply *a = arg;
	struct sy_subs_line l;
	int rc = sy_subs_line_parse(a->delta, line, len, &l);

	a->lines++;
	if (rc != 0) {
		line_warn(a, "malformed");
		return rc;
	}
	switch (l.kind) {
	case SY_SUBS_PROFILE:
		rc = apply_household(a, &l, line, len);
		break;
	case SY_SUBS_DELPROFILE:
		rc = apply_delprofile(a, l.name);
		break;
	case SY_SUBS_DEVICE:
		if (!a->delta && a->have_dev && memcmp(a->dev_last, l.hash, sizeof(l.hash)) >= 0) {
			line_warn(a, "device out of order or repeated");
			return SY_EFORMAT;
		}
		memcpy(a->dev_last, l.hash, sizeof(l.hash));
		a->have_dev = true;
		rc = bl_devices_fleet_put(a->dev, l.hash, l.name);
		if (rc == -EEXIST)
			line_warn(a, "the device ID belongs to a device made on this node");
		break;
	case SY_SUBS_DELDEVICE:
		rc = bl_devices_fleet_del(a->dev, l.hash);
		rc = rc == BL_ENOTFOUND ? 0 : rc;
		break;
	case SY_SUBS_DEL:
		rc = bl_clients_del(a->t, &l.prefix);
		rc =
		    rc == BL_ENOTFOUND ? 0 : rc; /* already gone (a local change): the goal holds */
		break;
	case SY_SUBS_CLIENT:
		if (!a->delta && a->have_last && bl_prefix_cmp(&a->last, &l.prefix) >= 0) {
			log_warn("subscribers: %s line %llu: out of order or repeated", a->f->url,
			         (unsigned long long)a->lines);
			return SY_EFORMAT;
		}
		a->last = l.prefix;
		a->have_last = true;
		rc = bl_clients_put(a->t, &l.prefix, l.name);
		break;
	}
	if (rc == 0 && a->lines % STOP_EVERY == 0 && sy__stop_requested())
		return SY_ESTOP;
	return rc;
}

static uint64_t max_raw(const struct sy_ctx *ctx)
{
	return ctx->o.max_download_bytes ? ctx->o.max_download_bytes : SY__DEFAULT_MAX_DOWNLOAD;
}

static int apply_txn(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                     const struct sy_buf *gz, bool delta, struct apply *a);

static int apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                 const struct sy_buf *gz, bool delta)
{
	struct apply *ap = calloc(1, sizeof(*ap));
	int rc;

	if (!ap)
		return -ENOMEM;
	rc = apply_txn(ctx, m, f, gz, delta, ap);
	free(ap);
	return rc;
}

static int apply_txn(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                     const struct sy_buf *gz, bool delta, struct apply *a)
{
	int rc, rd;

	a->f = f;
	a->delta = delta;
	a->ctx = ctx;
	/* the categories the households name are the store's, in memory since the open (or the
	 * national feed's last apply in this process): nothing to read inside the transaction */
	if ((rc = bl_clients_begin(ctx->db, &a->t)) != 0)
		return rc;
	if ((rc = bl_clients_fleet(a->t, m->version, m->expires, ctx->poll_start)) != 0 ||
	    (rc = bl_clients_profiles(a->t, &a->hh)) != 0 ||
	    (rc = bl_clients_devices(a->t, &a->dev)) != 0)
		goto fail;
	if (!delta &&
	    ((rc = bl_clients_clear(a->t)) != 0 || (rc = bl_profiles_fleet_clear(a->hh)) != 0 ||
	     (rc = bl_devices_fleet_clear(a->dev)) != 0))
		goto fail;
	if ((rc = sy_file_raw_lines(f, gz->data, gz->len, max_raw(ctx), apply_line, a)) != 0)
		goto fail;
	rc = bl_profiles_commit(a->hh); /* these only free: the data commits with a->t */
	rd = bl_devices_commit(a->dev);
	a->hh = NULL;
	a->dev = NULL;
	if ((rc = rc ? rc : rd) != 0)
		goto fail;
	return bl_clients_commit(a->t);
fail:
	bl_profiles_abort(a->hh);
	bl_devices_abort(a->dev);
	bl_clients_abort(a->t);
	return rc;
}

static int fetch_apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                       bool delta)
{
	struct sy_buf b = {0};
	char url[1400];
	int rc;

	if (f->size > max_raw(ctx) || f->raw_size > max_raw(ctx))
		return SY_ETOOBIG;
	if ((rc = sy__feed_url(ctx, f->url, url, sizeof(url))) != 0)
		return rc;
	rc = sy__fetch(ctx, url, f->size, NULL, NULL, NULL, 0, &b);
	if (rc == 0)
		rc = sy_file_check(f, b.data, b.len);
	if (rc == 0)
		rc = apply(ctx, m, f, &b, delta);
	sy__buf_free(&b);
	return rc;
}

/* A delta only onto exactly the table it was computed from: our version, and no local change
 * since (a drifted table takes the snapshot, which puts it back to the fleet's). */
static const struct sy_file *pick_delta(const struct sy_manifest *m,
                                        const struct bl_clients_meta *meta)
{
	if (meta->version == 0 || meta->drift != 0)
		return NULL;
	for (int i = 0; i < m->n_deltas; i++) {
		if (m->deltas[i].from == meta->version)
			return &m->deltas[i];
	}
	return NULL;
}

static int update(struct sy_ctx *ctx, const struct sy_manifest *m,
                  const struct bl_clients_meta *meta, const char **what)
{
	const struct sy_file *d = pick_delta(m, meta);
	int rc;

	if (d) {
		*what = d->url;
		rc = fetch_apply(ctx, m, d, true);
		if (rc == 0 || rc == SY_ESTOP) {
			if (rc == 0)
				log_info("subscribers: version %llu applied from a delta (%llu "
				         "lines)",
				         (unsigned long long)m->version,
				         (unsigned long long)d->entries);
			return rc;
		}
		log_warn("subscribers: delta %s: %s; fetching the snapshot", d->url,
		         kg_strerror(rc));
	}
	*what = m->snapshot.url;
	rc = fetch_apply(ctx, m, &m->snapshot, false);
	if (rc == 0)
		log_info("subscribers: version %llu applied from the snapshot (%llu lines)",
		         (unsigned long long)m->version, (unsigned long long)m->snapshot.entries);
	return rc;
}

/* Verify (a pinned key of the ISP, the subscriber payload type) and parse the manifest. */
static int check_manifest(struct sy_ctx *ctx, const struct sy_buf *b,
                          const struct bl_clients_meta *meta, struct sy_manifest *m, char *err,
                          size_t errlen)
{
	char *payload = NULL, why[200] = "";
	size_t plen = 0;
	int rc = sy_envelope_open_type(SY_SUBS_TYPE, b->data, b->len,
	                               (const uint8_t(*)[SY_KEY_LEN])ctx->keys, ctx->nkeys,
	                               &payload, &plen);

	if (rc != 0) {
		snprintf(err, errlen, "manifest: %s", kg_strerror(rc));
		return rc;
	}
	rc = sy_manifest_parse(payload, plen, m, why, sizeof(why));
	free(payload);
	if (rc == 0 && m->n_categories != 0) {
		snprintf(why, sizeof(why), "a subscriber table has no categories");
		rc = SY_EFORMAT;
	}
	if (rc != 0) {
		snprintf(err, errlen, "manifest: %s", why);
		return rc;
	}
	return sy__manifest_current(m, meta->version, ctx->poll_start, err, errlen);
}

static int poll(struct sy_ctx *ctx, const struct bl_clients_meta *meta, char *err, size_t errlen)
{
	struct sy_buf b = {0};
	struct sy_manifest *m = NULL;
	char etag[256];
	const char *what = "";
	bool nm = false;
	int rc = sy__manifest_fetch(ctx, meta->version, &nm, etag, &b, err, errlen);

	if (rc != 0)
		goto out;
	if (nm) {
		if (meta->expires && meta->expires <= ctx->poll_start) {
			snprintf(err, errlen, "subscriber table version %llu expired at %llu",
			         (unsigned long long)meta->version,
			         (unsigned long long)meta->expires);
			rc = SY_EEXPIRED;
		}
		goto out;
	}
	rc = -ENOMEM;
	if (!(m = malloc(sizeof(*m))) || (rc = check_manifest(ctx, &b, meta, m, err, errlen)) != 0)
		goto out;
	if (m->version > meta->version && (rc = update(ctx, m, meta, &what)) != 0) {
		snprintf(err, errlen, "version %llu: %s: %s", (unsigned long long)m->version, what,
		         kg_strerror(rc));
		goto out;
	}
	sy__manifest_taken(ctx, m, etag);
out:
	free(m);
	sy__buf_free(&b);
	return rc;
}

int sy__subs_poll(struct sy_ctx *ctx)
{
	struct bl_clients_meta meta;
	char err[BL_META_ERR_MAX] = "";
	int rc, rr;

	ctx->poll_start = ctx->o.fake_now ? ctx->o.fake_now : (uint64_t)time(NULL);
	if ((rc = bl_clients_meta(ctx->db, &meta)) != 0)
		return rc;
	if (ctx->version == 0)
		ctx->version = meta.version;
	rc = poll(ctx, &meta, err, sizeof(err));
	if (rc == SY_ESTOP)
		return rc;
	if (rc != 0)
		log_warn("subscribers: %s; the last good table (version %llu) keeps serving", err,
		         (unsigned long long)meta.version);
	rr = bl_clients_record(ctx->db, ctx->poll_start, err);
	if (rr != 0)
		log_err("subscribers: cannot record the poll: %s", kg_strerror(rr));
	return rc;
}
