/*
 * The LMDB store: environment, entry records, readers and the lookup.
 *
 * KEY-SPACE. One LMDB environment in the state directory (data.mdb, lock.mdb), opened with
 * MDB_NOTLS (read transactions are bound to a struct bl_reader, not to a thread) and
 * MDB_NOMETASYNC (bl_writer_commit() calls mdb_env_sync() itself, so commits stay durable).
 * Named databases:
 *
 *   "feed"  key: NAMEKEY                    value: RECORDS    rules from the national feed
 *   "local" key: NAMEKEY                    value: RECORDS    operator overrides (a feed update
 *                                                             never touches this database)
 *   "categories" key: 1 byte, the bit 18..63
 *                value: u8 format(1) u8 flags(1 = confidential) u8 namelen u8 desclen
 *                       name desc             (feed-defined categories; bits 0..17 are the
 *                                              built-in table in bl_meta.c and not stored)
 *   "feed_hashed" key: HASH (16 bytes)      value: RECORDS    confidential feed rules: names
 *                                                             kept only as keyed hashes
 *   "clients" key: u8 family (4|6) ADDR (4|16 bytes, masked) u8 prefix length
 *                                           value: profile name (1..31 bytes, no NUL)
 *             key: u8 0 u8 family           value: u32 LE prefix count per length (33|129)
 *                                           subscriber prefixes → profiles; never touched by
 *                                           a feed update (bl_clients.c explains the LPM)
 *   "devices" key: 'h' SHA-256(ID) (32 bytes)
 *                value: u8 format(1) u8 namelen u8 proflen u8 flags u64 LE created name profile
 *                       (flags bit 0: the subscriber channel's device; was always 0 before)
 *             key: 'n' NAME (1..63 bytes)  value: SHA-256(ID) (32 bytes)
 *                                           secret device IDs (DoT/DoH) → profiles, hashed;
 *                                           the ID itself is never stored (bl_devices.c)
 *   "profiles" key: NAME (1..31 bytes of [a-z0-9_-])
 *              value: u8 format(1) u8 mode u16 LE set(BL_PF_*) u32 LE n_rules u64 LE updated
 *                     u64 LE block_add u64 LE block_del u8 tmpl_len tmpl u8 preset_len preset
 *                     u8 n_sched, n_sched x (u8 days u8 bedtime u16 LE start u16 LE end
 *                     u64 LE extra_block), u8 n_allow u16 LE pool_len pool (NUL-separated
 *                     normalised names); format 2 (set has BL_PF_FLEET: a household of the
 *                     subscriber channel) adds 32 bytes, the SHA-256 of its channel line (all
 *                     zero once changed locally); at most BL_PROFILE_REC_MAX bytes
 *                                           a household's profile as data, overlaid on the
 *                                           config profile of that name (bl_profiles.c)
 *   "prules" key: NAME 0x00 NAMEKEY          value: RECORDS    one profile's own rules
 *   "macs"  key: MAC (6 bytes)              value: profile name (1..31 bytes, no NUL)
 *   "meta"  "format"        u32 LE, store format, currently 1
 *           "feed_version"  u64 LE
 *           "feed_expires"  u64 LE, unix seconds, expiry of the applied feed manifest
 *           "report"        text, the publisher's address for reports (from the manifest)
 *           "signal"        text, where appliances send the early-warning signal's daily
 *                           batch (the manifest's signal_url; "" for none)
 *           "last_sync"     u64 LE, unix seconds of the last successful feed apply
 *           "last_attempt"  u64 LE, unix seconds of the last feed attempt
 *           "ts_signed"     u64 LE, unix seconds: the newest signed feed timestamp verified
 *           "ts_ttl"        u64 LE, the applied manifest's timestamp_ttl (0/absent: none)
 *           "last_error"    text (no NUL), the error of the last attempt, absent when none
 *           "hash_key"      32 bytes, the feed's key for HASH (absent: no hashed entries)
 *           "hashed_labels" u32 LE, the most labels of any hashed name ever put since the
 *                           last clear; lookups hash only levels up to it
 *           "mandatory"     u64 LE, category bits the publisher made mandatory: blocked for
 *                           every client, above local allow rules (written with the feed)
 *           "child_allow"   u64 LE, feed-defined category bits the child presets leave alone
 *           "subs_version"  u64 LE, the fleet subscriber table's version applied last
 *           "subs_expires"  u64 LE, unix seconds, expiry of that table's manifest
 *           "subs_applied"  u64 LE, unix seconds of that apply
 *           "subs_hash"     32 bytes, CLIENTS HASH of the "clients" table as it is now,
 *                           kept up to date by every change of the table
 *           "subs_hash_hh"  32 bytes, the channel's households and devices' part of the
 *                           hash (the sum of their lines' digests); the hash reported is
 *                           subs_hash + subs_hash_hh (absent: no such record)
 *           "subs_drift"    u64 LE, prefixes, and channel households and devices, changed
 *                           locally (API, kidguard-ctl) since the last fleet apply, which
 *                           resets it to 0
 *           "subs_attempt"  u64 LE, unix seconds of the last fleet poll
 *           "subs_error"    text (no NUL), the error of that poll, absent when none
 *
 * CLIENTS TEXT: the canonical form of the "clients" table, which the fleet channel's snapshot
 * carries byte for byte: one line "client PREFIX PROFILE\n" per entry in key order, PREFIX as
 * bl_prefix_str() writes it.
 * CLIENTS HASH: the sum, mod 2^256 (big-endian), of the SHA-256 of each of those lines. Order-
 * independent and updated in O(1) per change (add the new line's digest, subtract the old
 * one's), so a PUT /api/clients on a 1M table does not walk it; equal tables give equal
 * hashes however they were built, and `kidguard-feed subscribers` prints the same sum for the
 * table it publishes. (A consistency check between nodes and the publisher, not a security
 * measure: the table's authenticity is the signature on its manifest.)
 *           "feed_keys"     n x 72 bytes (n <= 8): feed signing keys announced in band by a
 *                           verified manifest: key (32) | u64 LE trusted-from time |
 *                           the announcing key (32), dropped key_grace after that time
 *           "cat_names"     the feed's category names in other languages (manifest
 *                           "category_names", written with the feed): repeated
 *                           u8 langlen lang u8 namelen name u8 textlen text (no NULs),
 *                           at most BL_CAT_NAMES_MAX; absent: none
 *           "child_safe"    u64 LE, category bits a walled garden (mode = allowlist) lets
 *                           through (the publisher's "child_safe": true)
 *
 * HASH: the first 16 bytes of HMAC-SHA256(hash_key, NAMEKEY) (bl_hash.c). The sync worker
 * writes "feed_hashed" and "hash_key" in the same transaction as the entries they describe.
 *
 * NAMEKEY: the labels of the normalised name from the TLD down, each followed by 0x00, e.g.
 * "com\0example\0www\0" (see bl_name.c). Keys sort in DNS canonical order and a subtree rule's
 * key is a prefix of every name below it. Maximum 254 bytes (LMDB's default limit is 511).
 *
 * RECORDS: 1..4 records of 16 bytes, at most one per (scope, action) pair, in any order:
 *   u8 format (1) | u8 flags (BL_F_SUBTREE 0x01, BL_F_ALLOW 0x02) | u16 zero |
 *   u32 LE version (feed version the rule came with, 0 for local) | u64 LE category mask
 *
 * Why two databases rather than one with a 1-byte source prefix: the lookup costs one mdb_get
 * per label per source either way, but the local database is small (a B-tree of one or two
 * levels, usually empty), while the feed holds millions of keys. Per source, one MDB_SET_RANGE
 * plus MDB_PREV finds the largest key below the query; only ancestors that are a prefix of it
 * can exist (see bound_levels()), so a typical miss costs one cold tree search plus a get of
 * the (cache-hot) TLD key, instead of one get per label.
 */
#include "bl_internal.h"

#include "kg_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STORE_FORMAT 1

int bl__mdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return BL_ENOTFOUND;
	case MDB_MAP_FULL:
		log_err("blocklist: %s: the store is full (map size reached); raise the map size",
		        what);
		return BL_EMAPFULL;
	case MDB_TXN_FULL:
		return BL_EFULLTXN;
	case MDB_READERS_FULL:
		return BL_EREADERS;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		log_err("blocklist: %s: store corrupted: %s", what, mdb_strerror(rc));
		return BL_ECORRUPT;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		log_err("blocklist: %s: %s", what, mdb_strerror(rc));
		return BL_EVERSION;
	default:
		if (rc > 0)
			return -rc; /* LMDB passes errno values through */
		log_err("blocklist: %s: %s", what, mdb_strerror(rc));
		return BL_ESTORE;
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int bl__recs_decode(const MDB_val *val, struct bl__rec *recs)
{
	const uint8_t *p = val->mv_data;
	int n;

	if (val->mv_size == 0 || val->mv_size % BL__REC_SIZE != 0 ||
	    val->mv_size > BL__REC_MAX * BL__REC_SIZE)
		return BL_ECORRUPT;
	n = (int)(val->mv_size / BL__REC_SIZE);
	for (int i = 0; i < n; i++, p += BL__REC_SIZE) {
		if (p[0] != BL__REC_VERSION)
			return BL_EVERSION;
		recs[i].flags = p[1];
		recs[i].version = (uint32_t)get_le(p + 4, 4);
		recs[i].categories = get_le(p + 8, 8);
	}
	return n;
}

void bl__recs_encode(const struct bl__rec *recs, int n, uint8_t *buf)
{
	for (int i = 0; i < n; i++, buf += BL__REC_SIZE) {
		buf[0] = BL__REC_VERSION;
		buf[1] = recs[i].flags;
		buf[2] = buf[3] = 0;
		put_le32(buf + 4, recs[i].version);
		put_le64(buf + 8, recs[i].categories);
	}
}

MDB_dbi bl__source_dbi(const struct bl_db *db, enum bl_source source)
{
	return source == BL_SOURCE_LOCAL ? db->dbi_local : db->dbi_feed;
}

/* ---- Open / close ---------------------------------------------------------------------- */

static int open_dbis(struct bl_db *db, MDB_txn *txn)
{
	unsigned fl = db->readonly ? 0 : MDB_CREATE;
	int rc = mdb_dbi_open(txn, "feed", fl, &db->dbi_feed);

	if (rc == 0)
		rc = mdb_dbi_open(txn, "local", fl, &db->dbi_local);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "categories", fl, &db->dbi_cat);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", fl, &db->dbi_meta);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "feed_hashed", fl, &db->dbi_hashed);
		db->has_hashed = rc == 0;
		if (rc == MDB_NOTFOUND && db->readonly)
			rc = 0; /* an older store: no hashed entries */
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "clients", fl, &db->dbi_clients);
		db->has_clients = rc == 0;
		if (rc == MDB_NOTFOUND && db->readonly)
			rc = 0; /* an older store: no subscriber table */
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "devices", fl, &db->dbi_devices);
		db->has_devices = rc == 0;
		if (rc == MDB_NOTFOUND && db->readonly)
			rc = 0; /* an older store: no device IDs */
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "profiles", fl, &db->dbi_profiles);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "prules", fl, &db->dbi_prules);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "macs", fl, &db->dbi_macs);
		db->has_profiles = rc == 0;
		if (rc == MDB_NOTFOUND && db->readonly)
			rc = 0; /* an older store: no profiles as data */
	}
	return rc == MDB_NOTFOUND ? BL_ENOTFOUND : bl__mdb_err(rc, "open databases");
}

/* Check, or on a new store write, the store format. */
static int check_format(struct bl_db *db, MDB_txn *txn)
{
	MDB_val k = {6, "format"}, v;
	uint8_t buf[4];
	int rc = mdb_get(txn, db->dbi_meta, &k, &v);

	if (rc == MDB_NOTFOUND && !db->readonly) {
		put_le32(buf, STORE_FORMAT);
		v.mv_size = 4;
		v.mv_data = buf;
		return bl__mdb_err(mdb_put(txn, db->dbi_meta, &k, &v, 0), "write format");
	}
	if (rc != 0)
		return rc == MDB_NOTFOUND ? BL_ENOTFOUND : bl__mdb_err(rc, "read format");
	if (v.mv_size != 4 || get_le(v.mv_data, 4) != STORE_FORMAT)
		return BL_EVERSION;
	return 0;
}

static int init_store(struct bl_db *db)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(db->env, NULL, db->readonly ? MDB_RDONLY : 0, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	if ((rc = open_dbis(db, txn)) < 0 || (rc = check_format(db, txn)) < 0 ||
	    (rc = bl__categories_load(db, txn)) < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return bl__mdb_err(mdb_txn_commit(txn), "commit");
}

static int env_open(struct bl_db *db, const char *dir, const struct bl_db_options *o)
{
	unsigned flags = MDB_NOTLS | MDB_NOMETASYNC | (db->readonly ? MDB_RDONLY : 0);
	int rc = mdb_env_create(&db->env);

	if (rc != 0)
		return bl__mdb_err(rc, "env create");
	db->mapsize = (o && o->mapsize) ? o->mapsize : BL_MAPSIZE_DEFAULT;
	rc = mdb_env_set_mapsize(db->env, (size_t)db->mapsize);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(db->env, (o && o->maxreaders) ? o->maxreaders : 126);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(db->env, 16); /* room for tables to come */
	if (rc == 0)
		rc = mdb_env_open(db->env, dir, flags, 0640);
	return bl__mdb_err(rc, "env open");
}

int bl_db_open(const char *dir, const struct bl_db_options *opts, struct bl_db **out)
{
	struct bl_db *db;
	int rc;

	if (!dir || !out || strlen(dir) >= sizeof(db->path))
		return -EINVAL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->readonly = opts && opts->readonly;
	memcpy(db->path, dir, strlen(dir) + 1);
	if (!db->readonly && mkdir(dir, 0750) != 0 && errno != EEXIST) {
		rc = -errno;
		log_err("blocklist: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = env_open(db, dir, opts)) < 0 || (rc = init_store(db)) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	if (db->env)
		mdb_env_close(db->env);
	free(db);
	return rc;
}

void bl_db_close(struct bl_db *db)
{
	if (!db)
		return;
	mdb_env_close(db->env);
	free(db);
}

uint64_t bl_db_generation(struct bl_db *db)
{
	MDB_envinfo info;

	if (mdb_env_info(db->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

int bl_db_counts(struct bl_db *db, uint64_t *local, uint64_t *feed)
{
	MDB_txn *txn;
	MDB_stat sl, sf, sh;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = mdb_stat(txn, db->dbi_local, &sl);
	if (rc == 0)
		rc = mdb_stat(txn, db->dbi_feed, &sf);
	sh.ms_entries = 0;
	if (rc == 0 && db->has_hashed)
		rc = mdb_stat(txn, db->dbi_hashed, &sh);
	mdb_txn_abort(txn);
	if (rc != 0)
		return bl__mdb_err(rc, "stat");
	if (local)
		*local = sl.ms_entries;
	if (feed)
		*feed = sf.ms_entries + sh.ms_entries;
	return 0;
}

/* ---- Readers and lookup ---------------------------------------------------------------- */

struct bl_reader {
	struct bl_db *db;
	MDB_txn *txn;          /* always in the reset state between calls */
	MDB_cursor *cur[2];    /* [source - 1], renewed with the txn */
	struct bl__hmac *hmac; /* made on the first lookup that meets hashed entries */
	size_t mand_txnid;     /* the snapshot `mandatory` was read in (0: none yet) */
	uint64_t mandatory;    /* meta "mandatory" of that snapshot */
	uint64_t child_safe;   /* meta "child_safe" of that snapshot */
	int nraw;              /* records gathered by the last lookup (bl_lookup_raw) */
	struct bl_raw_rec raw[BL__RAW_CAP];
};

int bl_reader_open(struct bl_db *db, struct bl_reader **out)
{
	struct bl_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->db = db;
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &r->txn);
	if (rc == 0)
		rc = mdb_cursor_open(r->txn, db->dbi_local, &r->cur[0]);
	if (rc == 0)
		rc = mdb_cursor_open(r->txn, db->dbi_feed, &r->cur[1]);
	if (rc != 0) {
		bl_reader_close(r);
		return bl__mdb_err(rc, "reader open");
	}
	mdb_txn_reset(r->txn);
	*out = r;
	return 0;
}

MDB_txn *bl__reader_txn(struct bl_reader *r)
{
	return r->txn;
}

struct bl_db *bl__reader_db(struct bl_reader *r)
{
	return r->db;
}

void bl_reader_close(struct bl_reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++) {
		if (r->cur[i])
			mdb_cursor_close(r->cur[i]);
	}
	if (r->txn)
		mdb_txn_abort(r->txn);
	bl__hmac_free(r->hmac);
	free(r);
}

/* A name split into the key prefixes of its ancestors: ends[i] is the key length of the name
 * made of the i + 1 rightmost labels; ends[n - 1] is the whole name. */
struct levels {
	uint8_t key[BL_KEY_MAX];
	uint16_t ends[128];
	int n;
};

static void levels_split(struct levels *lv, int klen)
{
	lv->n = 0;
	for (int i = 0; i < klen; i++) {
		if (lv->key[i] == 0)
			lv->ends[lv->n++] = (uint16_t)(i + 1);
	}
}

/* Pick the deciding rule among the records `recs[0..n)` of one level. Returns the record index
 * or -1. */
static int pick_rec(const struct bl_raw_rec *recs, int n, bool full, bool local, uint64_t mask)
{
	int allow = -1, deny = -1;

	for (int i = 0; i < n; i++) {
		bool sub = recs[i].flags & BL_F_SUBTREE;
		if (!full && !sub)
			continue;
		if (recs[i].flags & BL_F_ALLOW) {
			if (allow < 0 || !sub) /* the exact rule is the more specific one */
				allow = i;
		} else if ((recs[i].categories & mask) || (local && recs[i].categories == 0)) {
			if (deny < 0 || !sub)
				deny = i;
		}
	}
	return allow >= 0 ? allow : deny;
}

/*
 * Bound the levels worth a get with one cursor search. Keys sort canonically, so every existing
 * ancestor A of the query Q satisfies A <= P < Q, where P is the largest key below Q, and then
 * P starts with A. Levels whose key is not a prefix of P cannot exist. Returns the number of
 * candidate levels (0..n); `*hit` is set to the level whose key was found by the search itself
 * (its value in `*val`), or -1.
 */
static int bound_levels(MDB_cursor *cur, const struct levels *lv, int *hit, MDB_val *val)
{
	size_t qlen = lv->ends[lv->n - 1];
	MDB_val k = {qlen, (void *)lv->key};
	int rc = mdb_cursor_get(cur, &k, val, MDB_SET_RANGE), lim = 0;

	*hit = -1;
	if (rc == 0 && k.mv_size == qlen && memcmp(k.mv_data, lv->key, qlen) == 0) {
		*hit = lv->n - 1;
		return lv->n;
	}
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, val, rc == 0 ? MDB_PREV : MDB_LAST);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return bl__mdb_err(rc, "lookup");
	while (lim < lv->n && lv->ends[lim] <= k.mv_size &&
	       memcmp(k.mv_data, lv->key, lv->ends[lim]) == 0)
		lim++;
	if (lim > 0 && lv->ends[lim - 1] == k.mv_size)
		*hit = lim - 1;
	return lim;
}

/* Append the records of one stored entry at level `lvl` to the reader's raw result. */
static int raw_add(struct bl_reader *r, const MDB_val *val, int lvl, int src)
{
	struct bl__rec recs[BL__REC_MAX];
	int n = bl__recs_decode(val, recs);

	if (n < 0)
		return n;
	if (r->nraw + n > BL__RAW_CAP) /* cannot happen: 127 levels x 3 sources x 4 */
		return BL_ECORRUPT;
	for (int i = 0; i < n; i++) {
		struct bl_raw_rec *o = &r->raw[r->nraw++];
		o->level = (uint8_t)lvl;
		o->source = (uint8_t)src;
		o->flags = recs[i].flags;
		o->pad = 0;
		o->version = recs[i].version;
		o->categories = recs[i].categories;
	}
	return 0;
}

/* Gather every rule of one source at the levels that can exist, deepest first. */
static int gather_source(struct bl_reader *r, const struct levels *lv, enum bl_source src)
{
	MDB_dbi dbi = bl__source_dbi(r->db, src);
	MDB_val val;
	int hit, lim = bound_levels(r->cur[src - 1], lv, &hit, &val);

	if (lim < 0)
		return lim;
	for (int lvl = lim - 1; lvl >= 0; lvl--) {
		MDB_val k = {lv->ends[lvl], (void *)lv->key};
		int rc = lvl == hit ? 0 : mdb_get(r->txn, dbi, &k, &val);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return bl__mdb_err(rc, "lookup");
		if ((rc = raw_add(r, &val, lvl, src)) < 0)
			return rc;
	}
	return 0;
}

/* Ready the reader's hasher for the stored key. Returns 1 when hashed lookups apply, 0 when
 * there are no hashed entries (the common case: one mdb_stat), or < 0. */
static int hashed_ready(struct bl_reader *r, unsigned *max_labels)
{
	MDB_val k = {sizeof(BL__META_HASH_KEY) - 1, BL__META_HASH_KEY}, v;
	MDB_val kl = {sizeof(BL__META_HASHED_LABELS) - 1, BL__META_HASHED_LABELS}, vl;
	MDB_stat st;
	int rc;

	if (!r->db->has_hashed || mdb_stat(r->txn, r->db->dbi_hashed, &st) != 0 ||
	    st.ms_entries == 0)
		return 0;
	rc = mdb_get(r->txn, r->db->dbi_meta, &k, &v);
	if (rc == 0)
		rc = mdb_get(r->txn, r->db->dbi_meta, &kl, &vl);
	if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != BL_HASH_KEY_LEN || vl.mv_size != 4)))
		return 0; /* entries without a usable key cannot match anything */
	if (rc != 0)
		return bl__mdb_err(rc, "hash key");
	*max_labels = (unsigned)get_le(vl.mv_data, 4);
	if (!bl__hmac_has_key(r->hmac, v.mv_data)) {
		bl__hmac_free(r->hmac);
		r->hmac = bl__hmac_new(v.mv_data);
		if (!r->hmac)
			return -ENOMEM;
	}
	return 1;
}

/* Gather the hashed feed rules of every level up to the most labels any hashed name has. */
static int gather_hashed(struct bl_reader *r, const struct levels *lv)
{
	uint8_t h[BL_HASH_LEN];
	unsigned max_labels = 0;
	int rc = hashed_ready(r, &max_labels);

	if (rc <= 0)
		return rc;
	for (int lvl = (int)(max_labels < (unsigned)lv->n ? max_labels : (unsigned)lv->n) - 1;
	     lvl >= 0; lvl--) {
		MDB_val k = {sizeof(h), h}, val;
		if (bl__hmac_trunc(r->hmac, lv->key, lv->ends[lvl], h) != 0)
			return -ENOMEM;
		rc = mdb_get(r->txn, r->db->dbi_hashed, &k, &val);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return bl__mdb_err(rc, "lookup");
		if ((rc = raw_add(r, &val, lvl, BL_RAW_HASHED)) < 0)
			return rc;
	}
	return 0;
}

/* The publisher's mandatory categories in the renewed snapshot: read once per commit. */
static uint64_t mandatory_mask(struct bl_reader *r)
{
	size_t id = mdb_txn_id(r->txn);

	if (id != r->mand_txnid) {
		r->mandatory = bl__meta_u64(r->txn, r->db->dbi_meta, BL__META_MANDATORY);
		r->child_safe = bl__meta_u64(r->txn, r->db->dbi_meta, BL__META_CHILD_SAFE);
		r->mand_txnid = id;
	}
	return r->mandatory;
}

static int gather_levels(struct bl_reader *r, const struct levels *lv, struct bl_raw *raw)
{
	int rc = mdb_txn_renew(r->txn);

	r->nraw = 0;
	if (rc == 0)
		rc = mdb_cursor_renew(r->txn, r->cur[0]);
	if (rc == 0)
		rc = mdb_cursor_renew(r->txn, r->cur[1]);
	if (rc != 0) {
		rc = bl__mdb_err(rc, "renew");
		goto out;
	}
	raw->snapshot = mdb_txn_id(r->txn);
	raw->mandatory = mandatory_mask(r);
	if (lv->n > 0) { /* the root name: no rule can match */
		rc = gather_source(r, lv, BL_SOURCE_LOCAL);
		if (rc == 0)
			rc = gather_source(r, lv, BL_SOURCE_FEED);
		if (rc == 0)
			rc = gather_hashed(r, lv);
	}
out:
	mdb_txn_reset(r->txn);
	raw->n = rc < 0 ? 0 : r->nraw;
	raw->rec = r->raw;
	return rc < 0 ? rc : 0;
}

/* ---- The decision from the gathered rules (no store access) ---- */

/* The deciding rule of one source: the most specific level with an applicable rule. Returns
 * that level + 1 with `*out` set, or 0. Records of a source are grouped by level, deepest
 * first (gather order). */
static int raw_pick(const struct bl_raw *raw, int src, int nlev, uint64_t mask,
                    const struct bl_raw_rec **out)
{
	int i = 0, j, pick;

	while (i < raw->n) {
		if (raw->rec[i].source != src) {
			i++;
			continue;
		}
		for (j = i; j < raw->n && raw->rec[j].source == src &&
		            raw->rec[j].level == raw->rec[i].level;
		     j++)
			;
		pick = pick_rec(raw->rec + i, j - i, raw->rec[i].level == nlev - 1,
		                src == BL_SOURCE_LOCAL, mask);
		if (pick >= 0) {
			*out = &raw->rec[i + pick];
			return raw->rec[i].level + 1;
		}
		i = j;
	}
	return 0;
}

static void fill_verdict(const struct levels *lv, const struct bl_raw_rec *rec,
                         struct bl_verdict *v)
{
	v->action = (rec->flags & BL_F_ALLOW) ? BL_ACTION_ALLOW : BL_ACTION_BLOCK;
	v->source = rec->source == BL_RAW_HASHED ? BL_SOURCE_FEED : (enum bl_source)rec->source;
	v->categories = rec->categories;
	v->feed_version = rec->version;
	v->subtree = rec->flags & BL_F_SUBTREE;
	v->mandatory = v->not_allowed = v->child_safe = false;
	if (bl_key_to_name(lv->key, lv->ends[rec->level], v->match, sizeof(v->match)) < 0)
		v->match[0] = '\0';
}

/* The feed in clear and the hashed feed are one source: the more specific level wins, and at
 * the same level an allow beats a deny. */
static const struct bl_raw_rec *raw_feed(const struct bl_raw *raw, int nlev, uint64_t mask)
{
	const struct bl_raw_rec *f = NULL, *h = NULL;
	int fl = raw_pick(raw, BL_SOURCE_FEED, nlev, mask, &f);
	int hl = raw_pick(raw, BL_RAW_HASHED, nlev, mask, &h);

	if (hl > fl || (hl > 0 && hl == fl && !(f->flags & BL_F_ALLOW)))
		return h;
	return fl > 0 ? f : NULL;
}

/*
 * Both sources, local first. A mandatory category is blocked whatever the client's mask and
 * above a local allow: when local allowed, the feed is asked again for the mandatory
 * categories alone, and its deny wins.
 */
static const struct bl_raw_rec *raw_decide(const struct bl_raw *raw, int nlev, uint64_t mask)
{
	uint64_t mand = raw->mandatory;
	const struct bl_raw_rec *rec = NULL, *m;

	if (!raw_pick(raw, BL_SOURCE_LOCAL, nlev, mask | mand, &rec))
		return raw_feed(raw, nlev, mask | mand);
	if (mand && (rec->flags & BL_F_ALLOW) && (m = raw_feed(raw, nlev, mand)) &&
	    !(m->flags & BL_F_ALLOW))
		return m;
	return rec;
}

static int decide_levels(const struct bl_raw *raw, const struct levels *lv, uint64_t mask,
                         struct bl_verdict *v)
{
	const struct bl_raw_rec *rec = raw->n ? raw_decide(raw, lv->n, mask) : NULL;

	if (!rec) {
		memset(v, 0, sizeof(*v));
		return 0;
	}
	fill_verdict(lv, rec, v);
	v->mandatory = v->action == BL_ACTION_BLOCK && v->source == BL_SOURCE_FEED &&
	               (v->categories & raw->mandatory);
	return 0;
}

static int levels_from_wire(const uint8_t *wire, size_t wirelen, struct levels *lv)
{
	int klen = bl_key_from_wire(wire, wirelen, lv->key, sizeof(lv->key));

	if (klen < 0)
		return klen;
	levels_split(lv, klen);
	return 0;
}

int bl_lookup_raw(struct bl_reader *r, const uint8_t *wire, size_t wirelen, struct bl_raw *raw)
{
	struct levels lv;
	int rc = levels_from_wire(wire, wirelen, &lv);

	return rc < 0 ? rc : gather_levels(r, &lv, raw);
}

int bl_raw_decide(const struct bl_raw *raw, const uint8_t *wire, size_t wirelen,
                  uint64_t block_mask, struct bl_verdict *v)
{
	struct levels lv;
	int rc;

	if (raw->n == 0) { /* nothing to name: skip building the key */
		memset(v, 0, sizeof(*v));
		return 0;
	}
	rc = levels_from_wire(wire, wirelen, &lv);
	return rc < 0 ? rc : decide_levels(raw, &lv, block_mask, v);
}

static int lookup_levels(struct bl_reader *r, const struct levels *lv, uint64_t mask,
                         struct bl_verdict *v)
{
	struct bl_raw raw;
	int rc = gather_levels(r, lv, &raw);

	return rc < 0 ? rc : decide_levels(&raw, lv, mask, v);
}

int bl_lookup_wire(struct bl_reader *r, const uint8_t *wire, size_t wirelen, uint64_t block_mask,
                   struct bl_verdict *v)
{
	struct levels lv;
	int rc = levels_from_wire(wire, wirelen, &lv);

	return rc < 0 ? rc : lookup_levels(r, &lv, block_mask, v);
}

/* ---- A profile's own rules and the walled garden (bl_lookup_wire_opts) ---- */

/* A profile's own rules ("prules"): one get per level, most specific first; the table is
 * small and asked only for a profile that has rules. Returns level + 1 with `v` set, 0 or
 * < 0. The reader's transaction must be live. */
static int lookup_profile(struct bl_reader *r, const struct levels *lv, const char *name,
                          uint64_t mask, struct bl_verdict *v)
{
	uint8_t key[BL__PRULE_KEY_MAX];
	struct bl__rec recs[BL__REC_MAX];
	struct bl_raw_rec rr[BL__REC_MAX];
	int pl = bl__prule_key(name, lv->key, lv->ends[lv->n - 1], key);

	if (pl < 0)
		return 0; /* not a store name: it can have no rules */
	pl -= lv->ends[lv->n - 1];
	for (int lvl = lv->n - 1; lvl >= 0; lvl--) {
		MDB_val k = {(size_t)pl + lv->ends[lvl], key}, val;
		int rc = mdb_get(r->txn, r->db->dbi_prules, &k, &val), n, pick;
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return bl__mdb_err(rc, "profile lookup");
		if ((n = bl__recs_decode(&val, recs)) < 0)
			return n;
		for (int i = 0; i < n; i++)
			rr[i] = (struct bl_raw_rec){(uint8_t)lvl,    BL_SOURCE_PROFILE,
			                            recs[i].flags,   0,
			                            recs[i].version, recs[i].categories};
		pick = pick_rec(rr, n, lvl == lv->n - 1, true, mask);
		if (pick >= 0) {
			fill_verdict(lv, &rr[pick], v);
			return lvl + 1;
		}
	}
	return 0;
}

static int profile_rules(struct bl_reader *r, const struct levels *lv, const char *name,
                         uint64_t mask, struct bl_verdict *v)
{
	int rc = mdb_txn_renew(r->txn);

	if (rc != 0)
		return bl__mdb_err(rc, "renew");
	rc = lookup_profile(r, lv, name, mask, v);
	mdb_txn_reset(r->txn);
	return rc;
}

/*
 * The walled garden, after the decision: a rule's block stands; an allow from the profile or
 * the household stands; otherwise only a feed rule in a child-safe category lets the name
 * through (a feed allow of another category does not: the publisher's exceptions are for
 * filtering, not for the garden). Everything else is blocked as "not on the allow list".
 */
static void walled_garden(const struct bl_raw *raw, const struct levels *lv, uint64_t safe,
                          struct bl_verdict *v)
{
	const struct bl_raw_rec *cv;

	if (v->action == BL_ACTION_BLOCK ||
	    (v->action == BL_ACTION_ALLOW && v->source != BL_SOURCE_FEED))
		return;
	if (safe && (cv = raw_feed(raw, lv->n, safe)) && (cv->categories & safe)) {
		fill_verdict(lv, cv, v);
		v->action = BL_ACTION_ALLOW;
		v->child_safe = true;
		return;
	}
	memset(v, 0, sizeof(*v));
	v->action = BL_ACTION_BLOCK;
	v->not_allowed = true;
}

/*
 * The profile's rules, then local, then the feed. A mandatory category is blocked whatever
 * the client's mask and above any allow outside the feed: when a profile rule allowed, the
 * feed's deny in a mandatory category wins. In a walled garden a child-safe category is never
 * a reason to block.
 */
static int lookup_opts(struct bl_reader *r, const struct levels *lv, const struct bl_lookup_opts *o,
                       struct bl_verdict *v)
{
	struct bl_raw raw;
	const struct bl_raw_rec *m;
	uint64_t mask = o->block_mask, safe;
	int rc = gather_levels(r, lv, &raw), pr = 0;

	if (rc < 0)
		return rc;
	safe = r->child_safe; /* read by gather_levels with the mandatory mask */
	if (o->allowlist)
		mask &= ~safe;
	if (lv->n > 0 && o->profile && o->profile[0] && r->db->has_profiles &&
	    (pr = profile_rules(r, lv, o->profile, mask | raw.mandatory, v)) < 0)
		return pr;
	if (pr > 0) {
		if (raw.mandatory && v->action == BL_ACTION_ALLOW &&
		    (m = raw_feed(&raw, lv->n, raw.mandatory)) && !(m->flags & BL_F_ALLOW)) {
			fill_verdict(lv, m, v);
			v->mandatory = true;
		}
	} else if ((rc = decide_levels(&raw, lv, mask, v)) < 0) {
		return rc;
	}
	if (o->allowlist && lv->n > 0)
		walled_garden(&raw, lv, safe, v);
	return 0;
}

int bl_lookup_wire_opts(struct bl_reader *r, const struct bl_lookup_opts *o, const uint8_t *wire,
                        size_t wirelen, struct bl_verdict *v)
{
	struct levels lv;
	int rc = levels_from_wire(wire, wirelen, &lv);

	if (rc < 0)
		return rc;
	if (!o->allowlist && !(o->profile && o->profile[0]))
		return lookup_levels(r, &lv, o->block_mask, v);
	return lookup_opts(r, &lv, o, v);
}

int bl_lookup_text(struct bl_reader *r, const char *name, uint64_t block_mask, struct bl_verdict *v)
{
	struct bl_lookup_opts o = {.block_mask = block_mask};
	char norm[BL_NAME_MAX];
	struct levels lv;
	int klen = bl_name_normalize(name, norm, sizeof(norm));

	if (klen < 0)
		return klen;

	klen = bl_key_from_name(norm, lv.key, sizeof(lv.key));
	if (klen < 0)
		return klen;
	levels_split(&lv, klen);
	return lookup_levels(r, &lv, o.block_mask, v);
}

int bl__commit_durable(struct bl_db *db, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	if (rc != 0)
		return bl__mdb_err(rc, "commit");
	/* The env uses MDB_NOMETASYNC; this makes the commit durable before we report it. */
	rc = mdb_env_sync(db->env, 1);
	return rc == 0 ? 0 : bl__mdb_err(rc, "sync");
}
