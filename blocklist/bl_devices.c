/*
 * Device IDs: secrets a phone presents over DoT (first label of the server name) or DoH (the
 * path /dns-query/ID) to get a profile, in the named database "devices" (key-space comment in
 * bl_store.c).
 *
 *   key  'h' | SHA-256(ID) (32 bytes)
 *        value: u8 format (1) | u8 namelen | u8 proflen | u8 0 | u64 LE created | name | profile
 *   key  'n' | NAME (1..63 bytes)   value: SHA-256(ID) (32 bytes), to list and revoke by name
 *
 * Why a plain SHA-256 and not a salted, slow hash: a generated ID carries 100 random bits, so a
 * stolen store gives nothing to guess, and the query path needs one hash per connection and one
 * exact get per query. The ID itself is never stored and never listed; the fingerprint shown
 * instead is the first 4 bytes of the hash (32 of 256 bits of a one-way function of 100 secret
 * bits: nothing a guesser can use).
 */
#include "bl_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#define REC_FORMAT 1
#define REC_HEAD   12 /* format, namelen, proflen, zero, created */
#define KEY_MAX    (1 + BL_DEVICE_NAME_MAX)

struct bl_devices {
	struct bl_db *db;
	MDB_txn *txn;
	bool dead;
};

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- IDs -------------------------------------------------------------------------------- */

int bl_device_id_new(char *out, size_t len)
{
	/* RFC 4648 base32 alphabet, lowercase: valid in a DNS label and in a URL path. */
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t rnd[BL_DEVICE_ID_LEN];
	size_t got = 0;

	if (!out || len < BL_DEVICE_ID_LEN + 1)
		return -EINVAL;
	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	/* One random byte per character, 5 bits of it used: 20 characters = 100 bits. */
	for (size_t i = 0; i < BL_DEVICE_ID_LEN; i++)
		out[i] = b32[rnd[i] & 31];
	out[BL_DEVICE_ID_LEN] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

int bl_device_hash(const char *id, uint8_t out[BL_DEVICE_HASH_LEN])
{
	unsigned n = 0;

	if (!id || !id[0])
		return -EINVAL;
	if (EVP_Digest(id, strlen(id), out, &n, EVP_sha256(), NULL) != 1 || n != BL_DEVICE_HASH_LEN)
		return -ENOMEM;
	return 0;
}

void bl_device_fingerprint(const uint8_t hash[BL_DEVICE_HASH_LEN], char out[BL_DEVICE_FP_MAX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 4; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[8] = '\0';
}

bool bl_device_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name && name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		if (i >= BL_DEVICE_NAME_MAX - 1 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return i > 0;
}

static bool profile_valid(const char *s)
{
	size_t i;

	for (i = 0; s && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= BL_CLIENT_PROFILE_MAX - 1 || c <= ' ' || c > '~' || c == '"' || c == '\\')
			return false;
	}
	return i > 0;
}

/* ---- Records ---------------------------------------------------------------------------- */

static size_t hash_key(const uint8_t hash[BL_DEVICE_HASH_LEN], uint8_t *key)
{
	key[0] = 'h';
	memcpy(key + 1, hash, BL_DEVICE_HASH_LEN);
	return 1 + BL_DEVICE_HASH_LEN;
}

static size_t name_key(const char *name, uint8_t *key)
{
	size_t n = strlen(name);

	key[0] = 'n';
	memcpy(key + 1, name, n);
	return 1 + n;
}

/* Check a 'h' record's shape; the name and profile start at REC_HEAD. */
static int rec_check(const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < REC_HEAD)
		return BL_ECORRUPT;
	if (p[0] != REC_FORMAT)
		return BL_EVERSION;
	if (p[1] == 0 || p[1] >= BL_DEVICE_NAME_MAX || p[2] == 0 || p[2] >= BL_CLIENT_PROFILE_MAX ||
	    v->mv_size != (size_t)REC_HEAD + p[1] + p[2])
		return BL_ECORRUPT;
	return 0;
}

/* ---- Lookup ----------------------------------------------------------------------------- */

int bl_device_lookup(struct bl_reader *r, const uint8_t hash[BL_DEVICE_HASH_LEN], char *profile,
                     size_t plen)
{
	struct bl_db *db = bl__reader_db(r);
	MDB_txn *txn = bl__reader_txn(r);
	uint8_t key[1 + BL_DEVICE_HASH_LEN];
	MDB_val k = {0, key}, v;
	const uint8_t *p;
	int rc;

	if (!hash || !profile || plen == 0)
		return -EINVAL;
	if (!db->has_devices)
		return BL_ENOTFOUND;
	k.mv_size = hash_key(hash, key);
	rc = mdb_txn_renew(txn);
	if (rc != 0)
		return bl__mdb_err(rc, "renew");
	rc = mdb_get(txn, db->dbi_devices, &k, &v);
	if (rc != 0) {
		rc = bl__mdb_err(rc, "device lookup");
	} else if ((rc = rec_check(&v)) == 0) {
		p = v.mv_data;
		if (p[2] >= plen) {
			rc = BL_ENOSPACE;
		} else {
			/* Borrowed until the reset below: copy. */
			memcpy(profile, p + REC_HEAD + p[1], p[2]);
			profile[p[2]] = '\0';
		}
	}
	mdb_txn_reset(txn);
	return rc;
}

int bl_devices_count(struct bl_db *db, uint64_t *n)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	if (!db->has_devices) {
		*n = 0;
		return 0;
	}
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = mdb_stat(txn, db->dbi_devices, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return bl__mdb_err(rc, "device count");
	*n = st.ms_entries / 2; /* one 'h' and one 'n' key per device */
	return 0;
}

/* Fill `d` from a name key's hash and the record it points to. */
static int device_from(struct bl_db *db, MDB_txn *txn, const MDB_val *hk, struct bl_device *d)
{
	uint8_t key[1 + BL_DEVICE_HASH_LEN];
	MDB_val k = {0, key}, v;
	const uint8_t *p;
	int rc;

	if (hk->mv_size != BL_DEVICE_HASH_LEN)
		return BL_ECORRUPT;
	k.mv_size = hash_key(hk->mv_data, key);
	rc = mdb_get(txn, db->dbi_devices, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? BL_ECORRUPT : bl__mdb_err(rc, "device list");
	if ((rc = rec_check(&v)) < 0)
		return rc;
	p = v.mv_data;
	memset(d, 0, sizeof(*d));
	memcpy(d->name, p + REC_HEAD, p[1]);
	memcpy(d->profile, p + REC_HEAD + p[1], p[2]);
	d->created = get_le64(p + 4);
	bl_device_fingerprint(hk->mv_data, d->fingerprint);
	return 0;
}

int bl_devices_list(struct bl_db *db, const char *after, bl_device_cb cb, void *arg)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	uint8_t start[KEY_MAX];
	MDB_val k = {1, "n"}, v;
	struct bl_device d;
	int rc;

	if (!db->has_devices)
		return 0;
	if (after && bl_device_name_valid(after))
		k = (MDB_val){name_key(after, start), start};
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, db->dbi_devices, &cur);
	if (rc != 0) {
		rc = bl__mdb_err(rc, "device list");
		goto out;
	}
	/* Name keys sort after every 'h' key: one range search, then forward in name order. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && after && k.mv_size == 1 + strlen(after) &&
	    memcmp((const uint8_t *)k.mv_data + 1, after, k.mv_size - 1) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* strictly after */
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 2 || ((const uint8_t *)k.mv_data)[0] != 'n')
			break;
		if ((rc = device_from(db, txn, &v, &d)) < 0)
			goto out;
		if (cb(&d, arg) != 0)
			break;
	}
	rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "device list");
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* ---- Writes ----------------------------------------------------------------------------- */

int bl_devices_begin(struct bl_db *db, struct bl_devices **out)
{
	struct bl_devices *t;
	int rc, dead;

	if (db->readonly || !db->has_devices)
		return -EROFS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->db = db;
	mdb_reader_check(db->env, &dead);
	rc = mdb_txn_begin(db->env, NULL, 0, &t->txn);
	if (rc != 0) {
		free(t);
		return bl__mdb_err(rc, "devices begin");
	}
	*out = t;
	return 0;
}

static int fail(struct bl_devices *t, int rc, const char *what)
{
	int err = bl__mdb_err(rc, what);

	if (err != BL_ENOTFOUND)
		t->dead = true;
	return err;
}

int bl_devices_put(struct bl_devices *t, const char *name, const uint8_t hash[BL_DEVICE_HASH_LEN],
                   const char *profile, uint64_t created)
{
	uint8_t nk[KEY_MAX], hk[1 + BL_DEVICE_HASH_LEN],
	    rec[REC_HEAD + BL_DEVICE_NAME_MAX + BL_CLIENT_PROFILE_MAX];
	size_t nl, pl;
	MDB_val k, v;
	int rc;

	if (t->dead)
		return BL_ESTORE;
	if (!bl_device_name_valid(name) || !hash || !profile_valid(profile))
		return -EINVAL;
	nl = strlen(name);
	pl = strlen(profile);
	k = (MDB_val){name_key(name, nk), nk};
	v = (MDB_val){BL_DEVICE_HASH_LEN, (void *)hash};
	rc = mdb_put(t->txn, t->db->dbi_devices, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return -EEXIST; /* the transaction stays usable: nothing was written */
	if (rc != 0)
		return fail(t, rc, "device put");
	rec[0] = REC_FORMAT;
	rec[1] = (uint8_t)nl;
	rec[2] = (uint8_t)pl;
	rec[3] = 0;
	put_le64(rec + 4, created);
	memcpy(rec + REC_HEAD, name, nl);
	memcpy(rec + REC_HEAD + nl, profile, pl);
	k = (MDB_val){hash_key(hash, hk), hk};
	v = (MDB_val){REC_HEAD + nl + pl, rec};
	rc = mdb_put(t->txn, t->db->dbi_devices, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		/* Two names for one ID (only possible with a chosen, not a generated, ID). */
		t->dead = true;
		return -EEXIST;
	}
	return rc == 0 ? 0 : fail(t, rc, "device put");
}

int bl_devices_del(struct bl_devices *t, const char *name)
{
	uint8_t nk[KEY_MAX], hk[1 + BL_DEVICE_HASH_LEN];
	MDB_val k, v;
	int rc;

	if (t->dead)
		return BL_ESTORE;
	if (!bl_device_name_valid(name))
		return -EINVAL;
	k = (MDB_val){name_key(name, nk), nk};
	rc = mdb_get(t->txn, t->db->dbi_devices, &k, &v);
	if (rc != 0)
		return fail(t, rc, "device del");
	if (v.mv_size != BL_DEVICE_HASH_LEN) {
		t->dead = true;
		return BL_ECORRUPT;
	}
	hash_key(v.mv_data, hk); /* copy before the value is invalidated by the deletes */
	rc = mdb_del(t->txn, t->db->dbi_devices, &k, NULL);
	if (rc == 0) {
		k = (MDB_val){sizeof(hk), hk};
		rc = mdb_del(t->txn, t->db->dbi_devices, &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc; /* a dangling name: removing it is the repair */
	}
	return rc == 0 ? 0 : fail(t, rc, "device del");
}

int bl_devices_commit(struct bl_devices *t)
{
	struct bl_db *db = t->db;
	MDB_txn *txn;

	if (t->dead) {
		bl_devices_abort(t);
		return BL_ESTORE;
	}
	txn = t->txn;
	free(t);
	return bl__commit_durable(db, txn);
}

void bl_devices_abort(struct bl_devices *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}
