/*
 * The subscriber channel: the ISP's table of prefix -> profile, published with `kidguard-feed
 * subscribers` under the ISP's own key and pulled by every node, so that a change made once
 * reaches the whole fleet within one interval. No new protocol: the same DSSE envelope (under
 * its own payload type), the same manifest with snapshot and deltas, the same fetch with byte
 * bounds and SHA-256 checks as the national feed. What differs is the data and where it goes:
 * the lines are text ("client PREFIX PROFILE", "del PREFIX") and the apply is ONE write
 * transaction of the "clients" table that also records the version, resets the drift and
 * stores the table's hash (bl_clients_fleet). Any error aborts it: the last good table serves.
 */
#include "sy_int.h"

#include <errno.h>
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
		/* "profile NAME {json}": the household hook; the JSON is checked where it is used.
		 */
		if (!word(&p, end, &w, &n) || !name_ok(w, n) || p >= end || *p != '{' ||
		    end[-1] != '}')
			return SY_EFORMAT;
		out->kind = SY_SUBS_PROFILE;
		memcpy(out->name, w, n);
		out->json = p;
		out->json_len = (size_t)(end - p);
		return 0;
	}
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

/* ---- Apply ------------------------------------------------------------------------------ */

struct apply {
	struct bl_clients *t;
	const struct sy_file *f;
	bool delta;
	bool have_last;
	struct bl_prefix last; /* snapshots are strictly ascending: no duplicates, fast appends */
	uint64_t lines;
};

static int apply_line(void *arg, const char *line, size_t len)
{
	struct apply *a = arg;
	struct sy_subs_line l;
	int rc = sy_subs_line_parse(a->delta, line, len, &l);

	a->lines++;
	if (rc != 0) {
		log_warn("subscribers: %s line %llu: malformed", a->f->url,
		         (unsigned long long)a->lines);
		return rc;
	}
	switch (l.kind) {
	case SY_SUBS_PROFILE:
		/* Households in the store come with the profiles-as-data records; until this node
		 * can apply them it refuses the table rather than serve half of it. */
		log_warn("subscribers: %s line %llu: household records (profile %s) are not "
		         "supported by this node",
		         a->f->url, (unsigned long long)a->lines, l.name);
		return SY_EFORMAT;
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

static int apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                 const struct sy_buf *gz, bool delta)
{
	struct apply a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.f = f;
	a.delta = delta;
	if ((rc = bl_clients_begin(ctx->db, &a.t)) != 0)
		return rc;
	if ((!delta && (rc = bl_clients_clear(a.t)) != 0) ||
	    (rc = sy_file_raw_lines(f, gz->data, gz->len, max_raw(ctx), apply_line, &a)) != 0 ||
	    (rc = bl_clients_fleet(a.t, m->version, m->expires, ctx->poll_start)) != 0) {
		bl_clients_abort(a.t);
		return rc;
	}
	return bl_clients_commit(a.t);
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
		log_info("subscribers: version %llu applied from the snapshot (%llu prefixes)",
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
	if (m->version < meta->version) {
		snprintf(err, errlen, "manifest version %llu is older than ours (%llu): refused",
		         (unsigned long long)m->version, (unsigned long long)meta->version);
		return SY_EROLLBACK;
	}
	if (m->expires <= ctx->poll_start) {
		snprintf(err, errlen, "manifest version %llu expired at %llu: refused",
		         (unsigned long long)m->version, (unsigned long long)m->expires);
		return SY_EEXPIRED;
	}
	return 0;
}

static int poll(struct sy_ctx *ctx, const struct bl_clients_meta *meta, char *err, size_t errlen)
{
	struct sy_buf b = {0};
	struct sy_manifest *m = NULL;
	char etag[256];
	const char *what = "";
	bool nm = false;
	int rc = sy__fetch(ctx, ctx->o.url, SY_MANIFEST_MAX,
	                   ctx->etag_version == meta->version ? ctx->etag : NULL, &nm, etag,
	                   sizeof(etag), &b);

	if (rc != 0) {
		snprintf(err, errlen, "manifest: %s", kg_strerror(rc));
		goto out;
	}
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
	memcpy(ctx->etag, etag, sizeof(etag));
	ctx->etag_version = m->version;
	ctx->version = m->version;
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
