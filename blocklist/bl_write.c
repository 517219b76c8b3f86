/*
 * The writer: one LMDB write transaction with entry puts/deletes, feed clearing, categories and
 * meta keys. See the key-space comment in bl_store.c.
 *
 * Bulk imports are fast without the caller doing anything special: while a database was empty
 * when the transaction began (or was cleared in it) and keys arrive in ascending order, they are
 * appended with MDB_APPEND (no tree search, full pages). The first key out of order switches
 * that database to ordinary puts for the rest of the transaction. The hashed feed database has
 * the same fast path, keyed by hash.
 */
#include "bl_internal.h"

#include "kg_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct bl_writer {
	struct bl_db *db;
	MDB_txn *txn;
	bool dead; /* an LMDB error happened: only abort is allowed */
	bool cats_changed;
	unsigned hashed_labels; /* meta "hashed_labels" as this transaction sees it */
	struct {
		bool append;
		size_t last_len;
		uint8_t last[BL_KEY_MAX];
	} src[3]; /* [source - 1], then [HASHED] */
};

#define HASHED 2 /* index of the hashed feed database in src[] */

static int fail(struct bl_writer *w, int rc, const char *what)
{
	int err = bl__mdb_err(rc, what);
	if (err != BL_ENOTFOUND)
		w->dead = true;
	return err;
}

static void append_reset(struct bl_writer *w, int s, bool on)
{
	w->src[s].append = on;
	w->src[s].last_len = 0;
}

static unsigned read_hashed_labels(struct bl_writer *w)
{
	MDB_val k = {sizeof(BL__META_HASHED_LABELS) - 1, BL__META_HASHED_LABELS}, v;
	const uint8_t *p;

	if (mdb_get(w->txn, w->db->dbi_meta, &k, &v) != 0 || v.mv_size != 4)
		return 0;
	p = v.mv_data;
	return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24;
}

int bl_writer_begin(struct bl_db *db, struct bl_writer **out)
{
	struct bl_writer *w;
	MDB_stat sl, sf, sh;
	int rc, dead;

	if (db->readonly)
		return -EROFS;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->db = db;
	/* A writer killed with its read transactions open (kill -9 of the sync process) leaves
	 * reader slots that pin old pages; clear them before each write. */
	mdb_reader_check(db->env, &dead);
	rc = mdb_txn_begin(db->env, NULL, 0, &w->txn);
	if (rc == 0)
		rc = mdb_stat(w->txn, db->dbi_local, &sl);
	if (rc == 0)
		rc = mdb_stat(w->txn, db->dbi_feed, &sf);
	if (rc == 0)
		rc = mdb_stat(w->txn, db->dbi_hashed, &sh);
	if (rc != 0) {
		if (w->txn)
			mdb_txn_abort(w->txn);
		free(w);
		return bl__mdb_err(rc, "writer begin");
	}
	append_reset(w, BL_SOURCE_LOCAL - 1, sl.ms_entries == 0);
	append_reset(w, BL_SOURCE_FEED - 1, sf.ms_entries == 0);
	append_reset(w, HASHED, sh.ms_entries == 0);
	w->hashed_labels = read_hashed_labels(w);
	*out = w;
	return 0;
}

/* LMDB's default key order: bytes, then length. */
static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int checked_key(struct bl_writer *w, enum bl_source source, const char *name, uint8_t *key)
{
	if (w->dead)
		return BL_ESTORE;
	if (source != BL_SOURCE_LOCAL && source != BL_SOURCE_FEED)
		return -EINVAL;
	return bl_key_from_name(name, key, BL_KEY_MAX);
}

/* Merge `nrec` into the records of an existing value (if any). Returns the new count. */
static int merge_recs(struct bl__rec *recs, int n, const struct bl__rec *nrec)
{
	unsigned kind = BL_F_SUBTREE | BL_F_ALLOW;

	for (int i = 0; i < n; i++) {
		if ((recs[i].flags & kind) == (nrec->flags & kind)) {
			recs[i].categories |= nrec->categories;
			recs[i].version = nrec->version;
			return n;
		}
	}
	recs[n] = *nrec;
	return n + 1;
}

static int put_recs(struct bl_writer *w, MDB_dbi dbi, MDB_val *k, const struct bl__rec *recs, int n,
                    unsigned flags)
{
	uint8_t buf[BL__REC_MAX * BL__REC_SIZE];
	MDB_val v = {(size_t)n * BL__REC_SIZE, buf};
	int rc;

	bl__recs_encode(recs, n, buf);
	rc = mdb_put(w->txn, dbi, k, &v, flags);
	return rc ? fail(w, rc, "put") : 0;
}

/* Put one record under `key` in database `dbi`, whose append state is src[s]. */
static int put_key(struct bl_writer *w, int s, MDB_dbi dbi, const uint8_t *key, size_t klen,
                   const struct bl__rec *nrec_in)
{
	struct bl__rec recs[BL__REC_MAX], nrec = *nrec_in;
	MDB_val k = {klen, (void *)key}, v;
	int n = 0, rc;

	if (w->src[s].append) {
		int c = keycmp(key, klen, w->src[s].last, w->src[s].last_len);
		if (c > 0 || w->src[s].last_len == 0) {
			memcpy(w->src[s].last, key, klen);
			w->src[s].last_len = klen;
			return put_recs(w, dbi, &k, &nrec, 1, MDB_APPEND);
		}
		if (c < 0)
			append_reset(w, s, false);
	}
	rc = mdb_get(w->txn, dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return fail(w, rc, "get");
	if (rc == 0 && (n = bl__recs_decode(&v, recs)) < 0)
		return n;
	n = merge_recs(recs, n, &nrec);
	return put_recs(w, dbi, &k, recs, n, 0);
}

int bl_writer_put(struct bl_writer *w, enum bl_source source, const char *name, unsigned flags,
                  uint64_t categories, uint32_t version)
{
	uint8_t key[BL_KEY_MAX];
	struct bl__rec nrec = {flags & (BL_F_SUBTREE | BL_F_ALLOW), version, categories};
	int klen = checked_key(w, source, name, key);

	if (klen < 0)
		return klen;
	return put_key(w, source - 1, bl__source_dbi(w->db, source), key, (size_t)klen, &nrec);
}

static int meta_put(struct bl_writer *w, const char *key, const void *data, size_t len);

int bl_writer_put_hashed(struct bl_writer *w, const uint8_t hash[BL_HASH_LEN], unsigned labels,
                         unsigned flags, uint64_t categories, uint32_t version)
{
	struct bl__rec nrec = {flags & (BL_F_SUBTREE | BL_F_ALLOW), version, categories};
	uint8_t b[4];
	int rc;

	if (w->dead)
		return BL_ESTORE;
	if (labels == 0 || labels > 127)
		return -EINVAL;
	if (labels > w->hashed_labels) {
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(labels >> (8 * i));
		if ((rc = meta_put(w, BL__META_HASHED_LABELS, b, sizeof(b))) != 0)
			return rc;
		w->hashed_labels = labels;
	}
	return put_key(w, HASHED, w->db->dbi_hashed, hash, BL_HASH_LEN, &nrec);
}

/* Remove the rule of kind `flags` under `key` from `dbi`. Returns 0 or BL_ENOTFOUND. */
static int del_key(struct bl_writer *w, int s, MDB_dbi dbi, const uint8_t *key, size_t klen,
                   unsigned flags)
{
	struct bl__rec recs[BL__REC_MAX];
	unsigned kind = BL_F_SUBTREE | BL_F_ALLOW;
	MDB_val k = {klen, (void *)key}, v;
	int n, m = 0, rc;

	append_reset(w, s, false);
	rc = mdb_get(w->txn, dbi, &k, &v);
	if (rc != 0)
		return fail(w, rc, "get");
	if ((n = bl__recs_decode(&v, recs)) < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if ((recs[i].flags & kind) != (flags & kind))
			recs[m++] = recs[i];
	}
	if (m == n)
		return BL_ENOTFOUND;
	if (m > 0)
		return put_recs(w, dbi, &k, recs, m, 0);
	rc = mdb_del(w->txn, dbi, &k, NULL);
	return rc ? fail(w, rc, "del") : 0;
}

int bl_writer_del(struct bl_writer *w, enum bl_source source, const char *name, unsigned flags)
{
	uint8_t key[BL_KEY_MAX];
	int klen = checked_key(w, source, name, key);

	if (klen < 0)
		return klen;
	return del_key(w, source - 1, bl__source_dbi(w->db, source), key, (size_t)klen, flags);
}

int bl_writer_del_hashed(struct bl_writer *w, const uint8_t hash[BL_HASH_LEN], unsigned flags)
{
	if (w->dead)
		return BL_ESTORE;
	return del_key(w, HASHED, w->db->dbi_hashed, hash, BL_HASH_LEN, flags);
}

int bl_writer_clear_feed(struct bl_writer *w)
{
	MDB_val k = {sizeof(BL__META_HASHED_LABELS) - 1, BL__META_HASHED_LABELS};
	int rc;

	if (w->dead)
		return BL_ESTORE;
	rc = mdb_drop(w->txn, w->db->dbi_feed, 0);
	if (rc == 0)
		rc = mdb_drop(w->txn, w->db->dbi_hashed, 0);
	if (rc == 0) {
		rc = mdb_del(w->txn, w->db->dbi_meta, &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (rc != 0)
		return fail(w, rc, "clear feed");
	append_reset(w, BL_SOURCE_FEED - 1, true);
	append_reset(w, HASHED, true);
	w->hashed_labels = 0;
	return 0;
}

static bool category_name_ok(const char *name)
{
	size_t len = strnlen(name, BL_CATEGORY_NAME_MAX);

	if (len == 0 || len >= BL_CATEGORY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!bl__is_label_char((unsigned char)name[i]))
			return false;
	}
	return true;
}

int bl_writer_category_set(struct bl_writer *w, int bit, const char *name, const char *desc,
                           bool confidential)
{
	uint8_t buf[4 + BL_CATEGORY_NAME_MAX + BL_CATEGORY_DESC_MAX], kb = (uint8_t)bit;
	size_t nl, dl = desc ? strnlen(desc, BL_CATEGORY_DESC_MAX - 1) : 0;
	MDB_val k = {1, &kb}, v;
	int other, rc;

	if (w->dead)
		return BL_ESTORE;
	if (bit < BL_CATEGORY_BUILTIN || bit >= BL_CATEGORY_MAX || !name || !category_name_ok(name))
		return BL_ECATEGORY;
	if (bl_category_find(w->db, name, &other) == 0 && other != bit)
		return BL_ECATEGORY;
	nl = strlen(name);
	buf[0] = 1;
	buf[1] = confidential ? 1 : 0;
	buf[2] = (uint8_t)nl;
	buf[3] = (uint8_t)dl;
	memcpy(buf + 4, name, nl);
	if (dl)
		memcpy(buf + 4 + nl, desc, dl);
	v.mv_size = 4 + nl + dl;
	v.mv_data = buf;
	rc = mdb_put(w->txn, w->db->dbi_cat, &k, &v, 0);
	if (rc != 0)
		return fail(w, rc, "category");
	w->cats_changed = true;
	return 0;
}

static int meta_put(struct bl_writer *w, const char *key, const void *data, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
	int rc;

	if (w->dead)
		return BL_ESTORE;
	rc = mdb_put(w->txn, w->db->dbi_meta, &k, &v, 0);
	return rc ? fail(w, rc, "meta") : 0;
}

static int meta_put_u64(struct bl_writer *w, const char *key, uint64_t x)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	return meta_put(w, key, b, sizeof(b));
}

int bl_writer_set_feed_version(struct bl_writer *w, uint64_t version)
{
	return meta_put_u64(w, "feed_version", version);
}

int bl_writer_set_last_sync(struct bl_writer *w, uint64_t when)
{
	return meta_put_u64(w, "last_sync", when);
}

int bl_writer_set_feed_expires(struct bl_writer *w, uint64_t when)
{
	return meta_put_u64(w, "feed_expires", when);
}

int bl_writer_set_timestamp(struct bl_writer *w, uint64_t signed_at, uint64_t ttl)
{
	int rc = meta_put_u64(w, "ts_signed", signed_at);

	return rc ? rc : meta_put_u64(w, "ts_ttl", ttl);
}

int bl_writer_set_report_address(struct bl_writer *w, const char *addr)
{
	size_t n = strlen(addr);

	return meta_put(w, "report", addr, n < BL_META_REPORT_MAX ? n : BL_META_REPORT_MAX - 1);
}

int bl_writer_set_feed_policy(struct bl_writer *w, uint64_t mandatory, uint64_t child_allow)
{
	int rc = meta_put_u64(w, BL__META_MANDATORY, mandatory);

	return rc ? rc : meta_put_u64(w, BL__META_CHILD_ALLOW, child_allow);
}

int bl_writer_set_child_safe(struct bl_writer *w, uint64_t child_safe)
{
	return meta_put_u64(w, BL__META_CHILD_SAFE, child_safe);
}

int bl_writer_set_hash_key(struct bl_writer *w, const uint8_t key[BL_HASH_KEY_LEN])
{
	return meta_put(w, BL__META_HASH_KEY, key, BL_HASH_KEY_LEN);
}

int bl_writer_set_last_attempt(struct bl_writer *w, uint64_t when, const char *err)
{
	MDB_val k = {10, "last_error"};
	int rc = meta_put_u64(w, "last_attempt", when);

	if (rc != 0)
		return rc;
	if (err && *err)
		return meta_put(w, "last_error", err, strnlen(err, BL_META_ERR_MAX - 1));
	rc = mdb_del(w->txn, w->db->dbi_meta, &k, NULL);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(w, rc, "meta");
}

int bl_writer_commit(struct bl_writer *w)
{
	struct bl_db *db = w->db;
	bool cats = w->cats_changed;
	MDB_txn *txn;
	int rc;

	if (w->dead) {
		bl_writer_abort(w);
		return BL_ESTORE;
	}
	txn = w->txn;
	free(w);
	rc = bl__commit_durable(db, txn);
	if (rc != 0)
		return rc;
	return cats ? bl_db_categories_reload(db) : 0;
}

void bl_writer_abort(struct bl_writer *w)
{
	if (!w)
		return;
	mdb_txn_abort(w->txn);
	free(w);
}
