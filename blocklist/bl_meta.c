/*
 * Categories (built-in table plus feed-defined ones), meta data read-back and statistics.
 */
#include "bl_internal.h"

#include "kg_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const builtin[BL_CATEGORY_BUILTIN] = {
    "adult",      "gambling", "violence", "drugs",  "self-harm", "weapons",
    "scam",       "phishing", "malware",  "social", "games",     "dating",
    "doh-bypass", "ads",      "tracking", "piracy", "hate",      "other",
};

int bl_category_find(struct bl_db *db, const char *name, int *bit)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < BL_CATEGORY_BUILTIN; i++) {
		if (strcmp(builtin[i], name) == 0) {
			*bit = i;
			return 0;
		}
	}
	for (int i = BL_CATEGORY_BUILTIN; db && i < BL_CATEGORY_MAX; i++) {
		if (db->cats[i].defined && strcmp(db->cats[i].name, name) == 0) {
			*bit = i;
			return 0;
		}
	}
	return BL_ECATEGORY;
}

const char *bl_category_name(struct bl_db *db, int bit)
{
	if (bit < 0 || bit >= BL_CATEGORY_MAX)
		return NULL;
	if (bit < BL_CATEGORY_BUILTIN)
		return builtin[bit];
	return (db && db->cats[bit].defined) ? db->cats[bit].name : NULL;
}

int bl__categories_load(struct bl_db *db, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, db->dbi_cat, &cur);

	if (rc != 0)
		return bl__mdb_err(rc, "categories");
	memset(db->cats, 0, sizeof(db->cats));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		uint8_t bit = k.mv_size == 1 ? *(const uint8_t *)k.mv_data : 0;
		if (bit < BL_CATEGORY_BUILTIN || bit >= BL_CATEGORY_MAX || v.mv_size < 4 ||
		    p[2] == 0 || p[2] >= BL_CATEGORY_NAME_MAX || v.mv_size < 4u + p[2]) {
			log_warn("blocklist: ignoring a malformed category record");
			continue;
		}
		memcpy(db->cats[bit].name, p + 4, p[2]);
		db->cats[bit].name[p[2]] = '\0';
		db->cats[bit].defined = true;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "categories");
}

/* The feed-defined bits stored in `txn`; with `name`, *bit is set to the one named so. */
static uint64_t stored_categories(struct bl_db *db, MDB_txn *txn, const char *name, int *bit)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t bits = 0;

	if (mdb_cursor_open(txn, db->dbi_cat, &cur) != 0)
		return 0;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		uint8_t b = k.mv_size == 1 ? *(const uint8_t *)k.mv_data : 0;
		if (b < BL_CATEGORY_BUILTIN || b >= BL_CATEGORY_MAX || v.mv_size < 4 || p[2] == 0 ||
		    v.mv_size < 4u + p[2])
			continue;
		bits |= 1ULL << b;
		if (name && bit && strlen(name) == p[2] && memcmp(name, p + 4, p[2]) == 0)
			*bit = b;
	}
	mdb_cursor_close(cur);
	return bits;
}

int bl_category_find_stored(struct bl_db *db, const char *name, int *bit)
{
	MDB_txn *txn;
	int found = -1;

	if (!name)
		return -EINVAL;
	if (bl_category_find(NULL, name, bit) == 0 || !db)
		return bl_category_find(NULL, name, bit);
	if (mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn) != 0)
		return BL_ESTORE;
	stored_categories(db, txn, name, &found);
	mdb_txn_abort(txn);
	if (found < 0)
		return BL_ECATEGORY;
	*bit = found;
	return 0;
}

int bl_db_categories_reload(struct bl_db *db)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = bl__categories_load(db, txn);
	mdb_txn_abort(txn);
	return rc;
}

uint64_t bl__meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *key)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	uint64_t x = 0;

	if (mdb_get(txn, dbi, &k, &v) != 0 || v.mv_size != 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		x = (x << 8) | ((const uint8_t *)v.mv_data)[i];
	return x;
}

static void meta_hashed(struct bl_db *db, MDB_txn *txn, struct bl_meta *m)
{
	MDB_val k = {sizeof(BL__META_HASH_KEY) - 1, BL__META_HASH_KEY}, v;
	MDB_stat st;

	m->has_hash_key = mdb_get(txn, db->dbi_meta, &k, &v) == 0 && v.mv_size == BL_HASH_KEY_LEN;
	if (m->has_hash_key)
		memcpy(m->hash_key, v.mv_data, BL_HASH_KEY_LEN);
	else
		memset(m->hash_key, 0, BL_HASH_KEY_LEN);
	m->hashed_entries = 0;
	if (db->has_hashed && mdb_stat(txn, db->dbi_hashed, &st) == 0)
		m->hashed_entries = st.ms_entries;
}

int bl_db_meta(struct bl_db *db, struct bl_meta *m)
{
	MDB_txn *txn;
	MDB_val k = {10, "last_error"}, v;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	m->feed_version = bl__meta_u64(txn, db->dbi_meta, "feed_version");
	m->last_sync = bl__meta_u64(txn, db->dbi_meta, "last_sync");
	m->last_attempt = bl__meta_u64(txn, db->dbi_meta, "last_attempt");
	m->feed_expires = bl__meta_u64(txn, db->dbi_meta, "feed_expires");
	m->timestamp_signed = bl__meta_u64(txn, db->dbi_meta, "ts_signed");
	m->timestamp_ttl = bl__meta_u64(txn, db->dbi_meta, "ts_ttl");
	m->last_error[0] = '\0';
	if (mdb_get(txn, db->dbi_meta, &k, &v) == 0) {
		size_t n = v.mv_size < BL_META_ERR_MAX - 1 ? v.mv_size : BL_META_ERR_MAX - 1;
		memcpy(m->last_error, v.mv_data, n);
		m->last_error[n] = '\0';
	}
	k.mv_data = "report";
	k.mv_size = 6;
	m->report[0] = '\0';
	if (mdb_get(txn, db->dbi_meta, &k, &v) == 0) {
		size_t n = v.mv_size < BL_META_REPORT_MAX - 1 ? v.mv_size : BL_META_REPORT_MAX - 1;
		memcpy(m->report, v.mv_data, n);
		m->report[n] = '\0';
	}
	meta_hashed(db, txn, m);
	m->mandatory = bl__meta_u64(txn, db->dbi_meta, BL__META_MANDATORY);
	m->child_allow = bl__meta_u64(txn, db->dbi_meta, BL__META_CHILD_ALLOW);
	m->child_safe = bl__meta_u64(txn, db->dbi_meta, BL__META_CHILD_SAFE);
	m->feed_defined = stored_categories(db, txn, NULL, NULL);
	mdb_txn_abort(txn);
	return 0;
}

static void stats_add(struct bl_stats *st, int s, const struct bl__rec *rec)
{
	st->rules[s]++;
	if (rec->flags & BL_F_ALLOW) {
		st->allow[s]++;
		return;
	}
	st->deny[s]++;
	if (rec->categories == 0)
		st->uncategorized[s]++;
	for (int b = 0; b < BL_CATEGORY_MAX; b++) {
		if (rec->categories & (1ULL << b))
			st->per_category[s][b]++;
	}
}

static int stats_scan(MDB_txn *txn, MDB_dbi dbi, int s, struct bl_stats *st)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct bl__rec recs[BL__REC_MAX];
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != 0)
		return bl__mdb_err(rc, "stats");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		int n = bl__recs_decode(&v, recs);
		if (n < 0) {
			mdb_cursor_close(cur);
			return n;
		}
		for (int i = 0; i < n; i++)
			stats_add(st, s, &recs[i]);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "stats");
}

int bl_db_stats(struct bl_db *db, struct bl_stats *out)
{
	struct bl_stats st;
	struct stat sb;
	char file[sizeof(db->path) + 16];
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	memset(&st, 0, sizeof(st));
	rc = stats_scan(txn, db->dbi_local, BL_SOURCE_LOCAL - 1, &st);
	if (rc == 0)
		rc = stats_scan(txn, db->dbi_feed, BL_SOURCE_FEED - 1, &st);
	mdb_txn_abort(txn);
	if (rc < 0)
		return rc;
	snprintf(file, sizeof(file), "%s/data.mdb", db->path);
	st.disk_bytes = stat(file, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
	st.map_bytes = db->mapsize;
	*out = st;
	return 0;
}
