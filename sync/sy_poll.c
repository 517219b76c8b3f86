/*
 * One poll, in the order the TUF client workflow gives: fix the start time; fetch the small
 * manifest with an a-priori byte bound; verify a pinned key's signature over its exact bytes;
 * only then parse it; refuse rollback and freeze; fetch the one file we need up to its signed
 * size, check its SHA-256, and apply it in one transaction with the new version and status.
 */
#include "sy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sy_ctx_new(const struct sy_options *o, struct sy_ctx **out)
{
	return sy__ctx_new_db(o, NULL, out);
}

int sy__ctx_new_db(const struct sy_options *o, struct bl_db *db, struct sy_ctx **out)
{
	struct sy_ctx *ctx;
	int rc = -EINVAL;

	if (!o || strncmp(o->url, "https://", 8) != 0 || !o->state_dir[0] || o->n_public_keys < 1 ||
	    o->n_public_keys > 8)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->o = *o;
	ctx->o.url[sizeof(ctx->o.url) - 1] = '\0';
	for (int i = 0; i < o->n_public_keys; i++) {
		if ((rc = sy_key_decode(o->public_keys[i], ctx->keys[i])) != 0)
			goto fail;
	}
	ctx->nkeys = o->n_public_keys;
	ctx->db = db;
	if (!db && (rc = bl_db_open(ctx->o.state_dir, NULL, &ctx->db)) != 0)
		goto fail;
	ctx->own_db = !db;
	rc = -ENOMEM;
	if (!(ctx->curl = sy__curl_new()))
		goto fail;
	*out = ctx;
	return 0;
fail:
	sy_ctx_free(ctx);
	return rc;
}

void sy_ctx_free(struct sy_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->curl)
		curl_easy_cleanup(ctx->curl);
	if (ctx->own_db)
		bl_db_close(ctx->db);
	free(ctx->cur);
	OPENSSL_cleanse(ctx->keys, sizeof(ctx->keys));
	free(ctx);
}

uint64_t sy_ctx_version(const struct sy_ctx *ctx)
{
	return ctx->version;
}

int sy__record(struct sy_ctx *ctx, const char *err, bool confirmed_current)
{
	struct bl_writer *w;
	int rc = bl_writer_begin(ctx->db, &w);

	if (rc != 0)
		return rc;
	rc = bl_writer_set_last_attempt(w, ctx->poll_start, err);
	if (rc == 0 && confirmed_current)
		rc = bl_writer_set_last_sync(w, ctx->poll_start);
	if (rc == 0 && confirmed_current && ctx->ts_set)
		rc = bl_writer_set_timestamp(w, ctx->ts_signed, ctx->ts_ttl);
	if (rc != 0) {
		bl_writer_abort(w);
		return rc;
	}
	return bl_writer_commit(w);
}

/* The URL of a file of the feed: the manifest's directory plus the relative path `name`. */
int sy__feed_url(const struct sy_ctx *ctx, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(ctx->o.url + 8, '/');
	size_t base = slash ? (size_t)(slash - ctx->o.url) + 1 : strlen(ctx->o.url);
	int n = snprintf(out, len, "%.*s%s%s", (int)base, ctx->o.url, slash ? "" : "/", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Fetch, check and apply one file. */
static int fetch_apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
                       bool delta)
{
	uint64_t max =
	    ctx->o.max_download_bytes ? ctx->o.max_download_bytes : SY__DEFAULT_MAX_DOWNLOAD;
	struct sy_buf b = {0};
	char url[1400];
	int rc;

	if (f->size > max || f->raw_size > max)
		return SY_ETOOBIG;
	if ((rc = sy__feed_url(ctx, f->url, url, sizeof(url))) != 0)
		return rc;
	rc = sy__fetch(ctx, url, f->size, NULL, NULL, NULL, 0, &b);
	if (rc == 0)
		rc = sy_file_check(f, b.data, b.len);
	if (rc == 0)
		rc = sy__apply(ctx, m, f, &b, delta);
	sy__buf_free(&b);
	return rc;
}

static const struct sy_file *pick_delta(const struct sy_manifest *m, const struct bl_meta *meta)
{
	if (meta->feed_version == 0 || !meta->has_hash_key ||
	    memcmp(meta->hash_key, m->hash_key, SY_HASH_KEY_LEN) != 0)
		return NULL;
	for (int i = 0; i < m->n_deltas; i++) {
		if (m->deltas[i].from == meta->feed_version)
			return &m->deltas[i];
	}
	return NULL;
}

/* Apply version m->version: the delta from ours when there is one, else (or when the delta
 * fails) the snapshot. `what` receives the file that failed. */
static int update(struct sy_ctx *ctx, const struct sy_manifest *m, const struct bl_meta *meta,
                  const char **what)
{
	const struct sy_file *d = pick_delta(m, meta);
	uint64_t t0 = ms_now();
	int rc;

	if (d) {
		*what = d->url;
		rc = fetch_apply(ctx, m, d, true);
		if (rc == 0 || rc == SY_ESTOP) {
			if (rc == 0)
				log_info("sync: version %llu applied from a delta (%llu lines) in "
				         "%llu ms",
				         (unsigned long long)m->version,
				         (unsigned long long)d->entries,
				         (unsigned long long)(ms_now() - t0));
			return rc;
		}
		log_warn("sync: delta %s: %s; fetching the snapshot", d->url, kg_strerror(rc));
	}
	*what = m->snapshot.url;
	t0 = ms_now();
	rc = fetch_apply(ctx, m, &m->snapshot, false);
	if (rc == 0)
		log_info("sync: version %llu applied from the snapshot (%llu entries) in %llu ms",
		         (unsigned long long)m->version, (unsigned long long)m->snapshot.entries,
		         (unsigned long long)(ms_now() - t0));
	return rc;
}

/*
 * Fetch timestamp.json, verify a pinned key's signature over it and accept it for manifest `m`
 * (payload hash `msha`): the newest signed time then becomes what the store's freshness counts
 * from. A mirror can withhold it or replay an older one; it cannot make a stale feed look
 * fresh.
 */
static int poll_timestamp(struct sy_ctx *ctx, const struct sy_manifest *m,
                          const uint8_t msha[SY_SHA256_LEN], const struct bl_meta *meta, char *err,
                          size_t errlen)
{
	struct sy_buf b = {0};
	struct sy_timestamp ts;
	char url[1400], why[300] = "", *payload = NULL;
	size_t plen = 0;
	int rc = sy__feed_url(ctx, SY_TIMESTAMP_FILE, url, sizeof(url));

	if (rc == 0)
		rc = sy__fetch(ctx, url, SY_TIMESTAMP_MAX, NULL, NULL, NULL, 0, &b);
	if (rc == 0)
		rc = sy_envelope_open_type(SY_TIMESTAMP_TYPE, b.data, b.len,
		                           (const uint8_t(*)[SY_KEY_LEN])ctx->trusted,
		                           ctx->ntrusted, &payload, &plen);
	sy__buf_free(&b);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", SY_TIMESTAMP_FILE, kg_strerror(rc));
		return rc;
	}
	rc = sy_timestamp_parse(payload, plen, &ts, why, sizeof(why));
	free(payload);
	if (rc == 0)
		rc = sy_timestamp_check(m, msha, &ts, meta->timestamp_signed, ctx->poll_start, why,
		                        sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", SY_TIMESTAMP_FILE, why);
		return rc;
	}
	ctx->ts_set = true;
	ctx->ts_ttl = m->timestamp_ttl;
	ctx->ts_signed =
	    ts.signed_at > meta->timestamp_signed ? ts.signed_at : meta->timestamp_signed;
	return 0;
}

/* Freshness of a verified manifest `m`: its signed timestamp when the feed publishes one. */
static int check_fresh(struct sy_ctx *ctx, const struct sy_manifest *m,
                       const uint8_t msha[SY_SHA256_LEN], const struct bl_meta *meta, char *err,
                       size_t errlen)
{
	if (m->timestamp_ttl)
		return poll_timestamp(ctx, m, msha, meta, err, errlen);
	ctx->ts_set = true; /* no timestamps (any more): freshness from last_sync */
	ctx->ts_ttl = 0;
	ctx->ts_signed = meta->timestamp_signed;
	return 0;
}

/* Verify and parse the manifest bytes, then decide. `msha` receives the payload's SHA-256. */
static int check_manifest(struct sy_ctx *ctx, const struct sy_buf *b, const struct bl_meta *meta,
                          struct sy_manifest *m, uint8_t msha[SY_SHA256_LEN], char *err,
                          size_t errlen)
{
	char *payload = NULL, why[200] = "";
	size_t plen = 0;
	int signer = -1, rc = sy_envelope_open_signer(SY_PAYLOAD_TYPE, b->data, b->len,
	                                              (const uint8_t(*)[SY_KEY_LEN])ctx->trusted,
	                                              ctx->ntrusted, &payload, &plen, &signer);

	if (rc != 0) {
		snprintf(err, errlen, "manifest: %s%s", kg_strerror(rc),
		         rc == SY_ESIG ? " (no trusted key signed it: pinned, or announced by the "
		                         "feed and past its date)"
		                       : "");
		return rc;
	}
	rc = sy_manifest_parse(payload, plen, m, why, sizeof(why));
	if (EVP_Digest(payload, plen, msha, NULL, EVP_sha256(), NULL) != 1)
		rc = rc ? rc : -ENOMEM;
	free(payload);
	if (rc != 0) {
		snprintf(err, errlen, "manifest: %s", why);
		return rc;
	}
	if ((rc = sy__manifest_current(m, meta->feed_version, ctx->poll_start, err, errlen)) != 0)
		return rc;
	/* Verified, current: what it announces about keys counts (not from a rollback). */
	if ((rc = sy__keys_record(ctx, m, ctx->trusted[signer])) != 0)
		log_err("sync: cannot record the announced feed keys: %s", kg_strerror(rc));
	return 0;
}

static int poll_manifest(struct sy_ctx *ctx, const struct bl_meta *meta, char *err, size_t errlen)
{
	struct sy_buf b = {0};
	struct sy_manifest *m = NULL;
	uint8_t msha[SY_SHA256_LEN];
	char etag[256];
	const char *what = "";
	bool nm = false;
	int rc = sy__manifest_fetch(ctx, meta->feed_version, &nm, etag, &b, err, errlen);

	if (rc != 0)
		goto out;
	if (nm) { /* the manifest we verified last time, still current */
		if (meta->feed_expires && meta->feed_expires <= ctx->poll_start) {
			snprintf(err, errlen,
			         "feed version %llu expired at %llu and nothing newer "
			         "is published",
			         (unsigned long long)meta->feed_version,
			         (unsigned long long)meta->feed_expires);
			rc = SY_EEXPIRED;
		} else if (ctx->cur) {
			rc = check_fresh(ctx, ctx->cur, ctx->cur_sha256, meta, err, errlen);
		}
		goto out;
	}
	rc = -ENOMEM;
	if (!(m = malloc(sizeof(*m))) ||
	    (rc = check_manifest(ctx, &b, meta, m, msha, err, errlen)) != 0 ||
	    (rc = check_fresh(ctx, m, msha, meta, err, errlen)) != 0)
		goto out;
	if (m->version > meta->feed_version && (rc = update(ctx, m, meta, &what)) != 0) {
		snprintf(err, errlen, "version %llu: %s: %s", (unsigned long long)m->version, what,
		         kg_strerror(rc));
		goto out;
	}
	sy__manifest_taken(ctx, m, etag);
	rc = m->version > meta->feed_version ? 1 : 0; /* 1: applied, status already recorded */
	free(ctx->cur); /* keep this manifest for the timestamp check after a 304 */
	ctx->cur = m;
	memcpy(ctx->cur_sha256, msha, SY_SHA256_LEN);
	m = NULL;
out:
	free(m);
	sy__buf_free(&b);
	return rc;
}

int sy_poll_once(struct sy_ctx *ctx)
{
	struct bl_meta meta;
	char err[BL_META_ERR_MAX] = "";
	int rc, rr;

	if (ctx->o.channel == SY_CHANNEL_SUBSCRIBERS)
		return sy__subs_poll(ctx);
	ctx->poll_start = ctx->o.fake_now ? ctx->o.fake_now : (uint64_t)time(NULL);
	ctx->ts_set = false;
	if ((rc = bl_db_meta(ctx->db, &meta)) != 0 || (rc = sy__keys_load(ctx)) != 0)
		return rc;
	if (ctx->version == 0)
		ctx->version = meta.feed_version;
	rc = poll_manifest(ctx, &meta, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc == SY_ESTOP)
		return rc;
	if (rc != 0)
		log_warn("sync: %s; the last good list (version %llu) keeps serving", err,
		         (unsigned long long)meta.feed_version);
	rr = sy__record(ctx, err, rc == 0);
	if (rr != 0)
		log_err("sync: cannot record the sync status: %s", kg_strerror(rr));
	return rc;
}
