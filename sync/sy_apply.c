/*
 * Apply one verified file in one write transaction. The file's size and SHA-256 were checked
 * before we get here; sy_file_lines() still parses every line strictly and bounds the inflated
 * bytes. Any error aborts the transaction: readers keep the last good version.
 */
#include "sy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_EVERY 65536 /* lines between checks for SIGTERM */

struct apply {
	struct sy_ctx *ctx;
	const struct sy_manifest *m;
	const struct sy_file *f;
	struct bl_writer *w;
	bool delta;
	int bits[SY_CATEGORIES_MAX]; /* manifest category index -> store bit */
	uint64_t lines;
};

/* Map the manifest's categories to store bits: the standard table, the feed-defined ones the
 * store already knows, else a free bit. Returns 0 or BL_ECATEGORY (no free bit left). */
static int map_categories(struct apply *a)
{
	uint64_t used = 0;

	for (int i = 0; i < a->m->n_categories; i++) {
		if (bl_category_find(a->ctx->db, a->m->categories[i].name, &a->bits[i]) == 0)
			used |= 1ULL << a->bits[i];
		else
			a->bits[i] = -1;
	}
	for (int i = 0; i < a->m->n_categories; i++) {
		int b = BL_CATEGORY_BUILTIN;
		if (a->bits[i] >= 0)
			continue;
		while (b < BL_CATEGORY_MAX &&
		       ((used & (1ULL << b)) || bl_category_name(a->ctx->db, b) != NULL))
			b++;
		if (b == BL_CATEGORY_MAX)
			return BL_ECATEGORY;
		a->bits[i] = b;
		used |= 1ULL << b;
	}
	return 0;
}

static int define_categories(struct apply *a)
{
	for (int i = 0; i < a->m->n_categories; i++) {
		const struct sy_category *c = &a->m->categories[i];
		int rc;
		if (a->bits[i] < BL_CATEGORY_BUILTIN)
			continue;
		rc = bl_writer_category_set(a->w, a->bits[i], c->name, c->desc, c->confidential);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int apply_line(void *arg, const struct sy_line *l)
{
	struct apply *a = arg;
	uint64_t cats = 0;
	uint32_t ver = (uint32_t)a->m->version;
	int rc;

	for (int i = 0; i < a->m->n_categories; i++) {
		if (l->cat_index & (1ULL << i))
			cats |= 1ULL << a->bits[i];
	}
	if (l->op == SY_OP_ADD)
		rc = l->hashed ? bl_writer_put_hashed(a->w, l->hash, l->labels, l->flags, cats, ver)
		               : bl_writer_put(a->w, BL_SOURCE_FEED, l->name, l->flags, cats, ver);
	else
		rc = l->hashed ? bl_writer_del_hashed(a->w, l->hash, l->flags)
		               : bl_writer_del(a->w, BL_SOURCE_FEED, l->name, l->flags);
	if (rc == BL_ENOTFOUND) {
		log_warn("sync: %s line %llu: removes a rule the store does not hold", a->f->url,
		         (unsigned long long)a->lines + 1);
		return SY_EFORMAT;
	}
	a->lines++;
	if (a->lines % STOP_EVERY == 0 && sy__stop_requested())
		return SY_ESTOP;
	return rc;
}

/* The publisher's category policy in store bits, written in the same transaction as the list
 * it belongs to. */
static int set_policy(struct apply *a)
{
	uint64_t mand = 0, child_allow = 0, safe = 0;
	int rc;

	for (int i = 0; i < a->m->n_categories; i++) {
		if (a->m->categories[i].mandatory)
			mand |= 1ULL << a->bits[i];
		if (a->m->categories[i].child_allow)
			child_allow |= 1ULL << a->bits[i];
		if (a->m->categories[i].child_safe)
			safe |= 1ULL << a->bits[i];
	}
	rc = bl_writer_set_feed_policy(a->w, mand, child_allow);
	return rc ? rc : bl_writer_set_child_safe(a->w, safe);
}

static int finish(struct apply *a)
{
	uint64_t now = (uint64_t)time(NULL);
	int rc = bl_writer_set_feed_version(a->w, a->m->version);

	if (rc == 0)
		rc = set_policy(a);
	if (rc == 0)
		rc = bl_writer_set_feed_expires(a->w, a->m->expires);
	if (rc == 0)
		rc = bl_writer_set_report_address(a->w, a->m->report);
	if (rc == 0)
		rc = bl_writer_set_last_sync(a->w, now);
	if (rc == 0)
		rc = bl_writer_set_last_attempt(a->w, now, "");
	if (rc == 0 && a->ctx->ts_set)
		rc = bl_writer_set_timestamp(a->w, a->ctx->ts_signed, a->ctx->ts_ttl);
	return rc;
}

static uint64_t max_raw(const struct sy_ctx *ctx)
{
	return ctx->o.max_download_bytes ? ctx->o.max_download_bytes : SY__DEFAULT_MAX_DOWNLOAD;
}

int sy__apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
              const struct sy_buf *gz, bool delta)
{
	struct apply a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	a.m = m;
	a.f = f;
	a.delta = delta;
	if ((rc = map_categories(&a)) != 0 || (rc = bl_writer_begin(ctx->db, &a.w)) != 0)
		return rc;
	if (!delta && ((rc = bl_writer_clear_feed(a.w)) != 0 ||
	               (rc = bl_writer_set_hash_key(a.w, m->hash_key)) != 0))
		goto fail;
	if ((rc = define_categories(&a)) != 0 ||
	    (rc = sy_file_lines(m, f, delta, gz->data, gz->len, max_raw(ctx), apply_line, &a)) !=
	        0 ||
	    (rc = finish(&a)) != 0)
		goto fail;
	return bl_writer_commit(a.w);
fail:
	bl_writer_abort(a.w);
	return rc;
}
