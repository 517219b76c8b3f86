/*
 * Internals shared by the files of the blocklist module only. Not installed, not included by
 * other modules.
 */
#ifndef BL_INTERNAL_H
#define BL_INTERNAL_H

#include "bl.h"

#include <lmdb.h>

/* Record format of one rule inside an entry value; see the key-space comment in bl_store.c. */
#define BL__REC_VERSION 1
#define BL__REC_SIZE    16
#define BL__REC_MAX     4 /* one per (scope, action) pair */
/* Records one lookup can gather: 127 levels x (local, feed, hashed feed) x BL__REC_MAX. */
#define BL__RAW_CAP (127 * 3 * BL__REC_MAX)

struct bl__rec {
	uint8_t flags; /* BL_F_* */
	uint32_t version;
	uint64_t categories;
};

struct bl__category {
	char name[BL_CATEGORY_NAME_MAX];
	bool defined;
};

struct bl_db {
	MDB_env *env;
	MDB_dbi dbi_feed, dbi_local, dbi_cat, dbi_meta, dbi_hashed, dbi_clients, dbi_devices;
	MDB_dbi dbi_profiles, dbi_prules, dbi_macs; /* bl_profiles.c */
	bool has_profiles; /* false only for a read-only open of a store made before profiles */
	bool has_hashed; /* false only for a read-only open of a store made before hashed entries */
	bool has_clients; /* the same for the subscriber table */
	bool has_devices; /* the same for the device IDs */
	uint64_t mapsize;
	bool readonly;
	char path[4096];
	struct bl__category cats[BL_CATEGORY_MAX]; /* feed-defined ones (bit >= BUILTIN) */
};

/* The one place MDB_* codes become BL_E* / -errno. `what` names the operation for the log. */
int bl__mdb_err(int rc, const char *what);
/* Commit `txn` (consumed, committed or not) and sync the env: the one durable commit of every
 * writer (lists, subscriber table, devices). Returns 0 or a BL_E* code. */
int bl__commit_durable(struct bl_db *db, MDB_txn *txn);

/* Decode an entry value into `recs` (BL__REC_MAX). Returns the count or BL_ECORRUPT/EVERSION. */
int bl__recs_decode(const MDB_val *val, struct bl__rec *recs);
/* Encode `n` records into `buf` (n * BL__REC_SIZE bytes). */
void bl__recs_encode(const struct bl__rec *recs, int n, uint8_t *buf);

MDB_dbi bl__source_dbi(const struct bl_db *db, enum bl_source source);

/* A reader's read transaction (reset between calls) and store, for lookups in other files. */
MDB_txn *bl__reader_txn(struct bl_reader *r);
struct bl_db *bl__reader_db(struct bl_reader *r);

/* Load the feed-defined categories from the store into db->cats using `txn`. */
int bl__categories_load(struct bl_db *db, MDB_txn *txn);

/* Keyed name hashing (bl_hash.c): HMAC-SHA256 with the inner and outer states precomputed. */
struct bl__hmac;
/* Allocate a hasher for `key`. Returns NULL on allocation failure. */
struct bl__hmac *bl__hmac_new(const uint8_t key[BL_HASH_KEY_LEN]);
void bl__hmac_free(struct bl__hmac *h);
/* True when `h` was made with `key`. */
bool bl__hmac_has_key(const struct bl__hmac *h, const uint8_t key[BL_HASH_KEY_LEN]);
/* Truncated MAC of `len` bytes at `data`. Returns 0 or -ENOMEM. */
int bl__hmac_trunc(struct bl__hmac *h, const uint8_t *data, size_t len, uint8_t out[BL_HASH_LEN]);

/* Meta keys of the hashed entries, shared by the writer and the readers. */
#define BL__META_HASH_KEY      "hash_key"
#define BL__META_HASHED_LABELS "hashed_labels"
#define BL__META_MANDATORY     "mandatory"
#define BL__META_FEED_KEYS     "feed_keys"
#define BL__FEED_KEY_REC       (2 * BL_FEED_KEY_LEN + 8) /* key | u64 LE from | announcer */
#define BL__META_CHILD_ALLOW   "child_allow"
#define BL__META_CAT_NAMES     "cat_names"
#define BL__META_CHILD_SAFE    "child_safe"

/* "prules" key of profile `name`'s rule at NAMEKEY `nk` (`nklen` bytes) into `key`
 * (BL__PRULE_KEY_MAX bytes): NAME 0x00 NAMEKEY. Returns the length, or -EINVAL. */
#define BL__PRULE_KEY_MAX (BL_PROFILE_NAME_MAX + BL_KEY_MAX)
int bl__prule_key(const char *name, const uint8_t *nk, size_t nklen, uint8_t *key);

/*
 * The fleet channel's households and devices in the subscriber hash (bl_clients.c): their
 * part of the sum is kept apart from the clients' (meta "subs_hash_hh") so that clearing the
 * clients table leaves it alone; the hash reported is the sum of both. Every write transaction
 * over profiles or devices carries one: a fleet apply adds and takes out the channel's lines,
 * a local change to a record the channel owns takes its line out and counts as drift.
 */
struct bl__subs {
	uint8_t sum[BL_SUBS_HASH_LEN];
	bool loaded;      /* read from meta in this transaction */
	uint64_t changes; /* local changes to channel-owned records (drift) */
};
/* Read the stored part into `s` (once per transaction). Returns 0 or BL_ESTORE. */
int bl__subs_load(struct bl_db *db, MDB_txn *txn, struct bl__subs *s);
/* Store `s` (when loaded) and add its changes to the drift. Returns 0 or BL_ESTORE. */
int bl__subs_store(struct bl_db *db, MDB_txn *txn, const struct bl__subs *s);
/* sum +/- `d` mod 2^256, big-endian. */
void bl__sum_digest(uint8_t sum[BL_SUBS_HASH_LEN], const uint8_t d[BL_SUBS_HASH_LEN], bool add);
/* The channel-owned records' part of the sum, from scratch, as `txn` sees them. */
int bl__profiles_fleet_sum(struct bl_db *db, MDB_txn *txn, uint8_t sum[BL_SUBS_HASH_LEN]);
int bl__devices_fleet_sum(struct bl_db *db, MDB_txn *txn, uint8_t sum[BL_SUBS_HASH_LEN]);
/*
 * The write transaction of a profiles or a devices handle (bl_writer.c; each handle is one of
 * these): its own, carrying its own part of the subscriber hash, or a fleet apply's, joined,
 * sharing the apply's hash. One set of rules for both tables.
 */
struct bl__writer {
	struct bl_db *db;
	MDB_txn *txn;
	bool dead;           /* an MDB error: every later call fails, the commit aborts */
	bool fleet;          /* shares a fleet apply's transaction (bl_clients_profiles/devices) */
	struct bl__subs own; /* the subscriber hash of a transaction of its own */
	struct bl__subs *subs; /* &own, or the fleet apply's */
};
/* Begin a transaction of `w`'s own (`w` zeroed by the caller); `what` names it in the log.
 * Returns 0 or a BL_E* code. */
int bl__writer_begin(struct bl__writer *w, struct bl_db *db, const char *what);
/* Make `w` share the fleet apply's `txn` and hash `s` (both borrowed for `w`'s life). */
void bl__writer_join(struct bl__writer *w, struct bl_db *db, MDB_txn *txn, struct bl__subs *s);
/* The MDB error `rc` of the write `what` as a BL_E* code; any but BL_ENOTFOUND kills `w`. */
int bl__writer_fail(struct bl__writer *w, int rc, const char *what);
/* End `w`: its own transaction is committed with its hash (aborted when dead); a joined one is
 * left to the fleet apply. Returns 0 or a BL_E* code (BL_ESTORE when dead). */
int bl__writer_commit(struct bl__writer *w);
/* End `w` without writing: its own transaction is aborted, a joined one left alone. */
void bl__writer_abort(struct bl__writer *w);
/* Handles sharing a fleet apply's transaction (bl_clients_profiles, bl_clients_devices). */
int bl__profiles_join(struct bl_db *db, MDB_txn *txn, struct bl__subs *s, struct bl_profiles **out);
int bl__devices_join(struct bl_db *db, MDB_txn *txn, struct bl__subs *s, struct bl_devices **out);

/* A u64 LE meta value read in `txn`, 0 when absent or malformed. */
uint64_t bl__meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *key);

/* Name syntax check of one text label; used by normalize and the parsers. */
bool bl__is_label_char(unsigned char c);

/* Normalise `text` and append it to `out` with `flags`. Returns NULL or why it was dropped. */
const char *bl__parsed_add(struct bl_parsed *out, const char *text, unsigned flags);

/* The RPZ reader (bl_rpz.c): a zone file's state between lines. */
struct bl__rpz;
/* Returns NULL on allocation failure. */
struct bl__rpz *bl__rpz_new(void);
void bl__rpz_free(struct bl__rpz *z);
/* One line, NUL-terminated, without its line ending. Returns 0 (see out) or -ENOMEM. */
int bl__rpz_line(struct bl__rpz *z, const char *line, struct bl_parsed *out);
/* End of file: a record still open is an invalid line. Returns 0. */
int bl__rpz_end(struct bl__rpz *z, struct bl_parsed *out);

#endif
