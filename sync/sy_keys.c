/*
 * Feed key rollover in band. A manifest signed by a key we trust may announce successor keys,
 * each with the date it is trusted from ("next_keys"). We keep what a verified manifest
 * announced in the store (meta "feed_keys", with the key that announced it), so the successor
 * is trusted from its date with no config edit, and the announcing key is dropped [sync]
 * key_grace after that date. Nothing here trusts an unverified byte: announcements come only
 * out of a manifest whose signature a trusted key made.
 */
#include "sy_int.h"

#include <errno.h>
#include <string.h>

int sy__keys_load(struct sy_ctx *ctx)
{
	int n = bl_db_feed_keys(ctx->db, ctx->ann, BL_FEED_KEYS_MAX);

	if (n < 0)
		return n;
	ctx->nann = n;
	ctx->ntrusted = sy_trusted_keys((const uint8_t(*)[SY_KEY_LEN])ctx->keys, ctx->nkeys,
	                                ctx->ann, ctx->nann, ctx->poll_start,
	                                (uint64_t)(ctx->o.key_grace_s > 0 ? ctx->o.key_grace_s : 0),
	                                ctx->trusted, (int)(sizeof(ctx->trusted) / SY_KEY_LEN));
	return 0;
}

static int find_ann(const struct bl_feed_key *ann, int n, const uint8_t *key)
{
	for (int i = 0; i < n; i++) {
		if (memcmp(ann[i].key, key, SY_KEY_LEN) == 0)
			return i;
	}
	return -1;
}

/* Keep the list within BL_FEED_KEYS_MAX: forget the announcement with the oldest date. */
static void make_room(struct bl_feed_key *ann, int *n)
{
	int old = 0;

	if (*n < BL_FEED_KEYS_MAX)
		return;
	for (int i = 1; i < *n; i++) {
		if (ann[i].from < ann[old].from)
			old = i;
	}
	memmove(&ann[old], &ann[old + 1], (size_t)(*n - old - 1) * sizeof(ann[0]));
	(*n)--;
}

/* Pending announcements (date not yet come) the publisher no longer lists are withdrawn:
 * that is how a publisher takes back a successor key before it ever counts. */
static bool withdraw(struct sy_ctx *ctx, const struct sy_manifest *m, struct bl_feed_key *ann,
                     int *n)
{
	bool changed = false;

	for (int i = 0; i < *n;) {
		bool listed = false;
		for (int j = 0; j < m->n_next_keys; j++)
			listed |= memcmp(m->next_keys[j].key, ann[i].key, SY_KEY_LEN) == 0;
		if (listed || ann[i].from <= ctx->poll_start) {
			i++;
			continue;
		}
		memmove(&ann[i], &ann[i + 1], (size_t)(*n - i - 1) * sizeof(ann[0]));
		(*n)--;
		changed = true;
	}
	return changed;
}

static void log_key(const char *what, const uint8_t *key, uint64_t from, const uint8_t *by)
{
	char id[17], byid[17];

	sy_key_id(key, id);
	sy_key_id(by, byid);
	log_info("sync: feed key %s %s by key %s, trusted from %llu", id, what, byid,
	         (unsigned long long)from);
}

int sy__keys_record(struct sy_ctx *ctx, const struct sy_manifest *m, const uint8_t *signer)
{
	struct bl_feed_key ann[BL_FEED_KEYS_MAX];
	struct bl_writer *w;
	int n = ctx->nann, rc;
	bool changed;

	memcpy(ann, ctx->ann, sizeof(ann));
	changed = withdraw(ctx, m, ann, &n);
	for (int j = 0; j < m->n_next_keys; j++) {
		const struct sy_next_key *nk = &m->next_keys[j];
		int i = find_ann(ann, n, nk->key);
		if (i >= 0 && ann[i].from == nk->from)
			continue;
		if (i >= 0 && ann[i].from <= ctx->poll_start)
			continue; /* already trusted: a later date cannot take that back */
		if (i < 0 && memcmp(nk->key, signer, SY_KEY_LEN) == 0)
			continue; /* a key announcing itself is already trusted */
		if (i < 0) {
			make_room(ann, &n);
			i = n++;
			memcpy(ann[i].key, nk->key, SY_KEY_LEN);
			memcpy(ann[i].announcer, signer, SY_KEY_LEN);
		}
		ann[i].from = nk->from;
		log_key("announced", nk->key, nk->from, ann[i].announcer);
		changed = true;
	}
	if (!changed)
		return 0;
	if ((rc = bl_writer_begin(ctx->db, &w)) != 0)
		return rc;
	if ((rc = bl_writer_set_feed_keys(w, ann, n)) != 0) {
		bl_writer_abort(w);
		return rc;
	}
	if ((rc = bl_writer_commit(w)) == 0) {
		memcpy(ctx->ann, ann, sizeof(ann));
		ctx->nann = n;
	}
	return rc;
}
