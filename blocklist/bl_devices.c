/*
 * Device IDs: secrets a phone presents over DoT (first label of the server name) or DoH (the
 * path /dns-query/ID) to get a profile, in the named database "devices" (key-space comment in
 * bl_store.c).
 *
 *   key  'h' | SHA-256(ID) (32 bytes)
 *        value: u8 format (1) | u8 namelen | u8 proflen | u8 flags | u64 LE created | name |
 *               profile; flags bit 0 (REC_FLEET): the ISP's subscriber channel owns it (its
 *               line "device HASH PROFILE" is in the subscriber hash); the byte was 0 before
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#define REC_FORMAT 1
#define REC_HEAD   12 /* format, namelen, proflen, zero, created */
#define KEY_MAX    (1 + BL_DEVICE_NAME_MAX)
#define REC_FLEET  0x01

struct bl_devices {
	struct bl__writer w;
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

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[p[i] >> 4];
		out[2 * i + 1] = x[p[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t bl_device_line(const uint8_t hash[BL_DEVICE_HASH_LEN], const char *profile, char *buf,
                      size_t len)
{
	char h[2 * BL_DEVICE_HASH_LEN + 1];
	int n;

	hex(hash, BL_DEVICE_HASH_LEN, h);
	n = snprintf(buf, len, "device %s %s\n", h, profile);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

void bl_device_fleet_name(const uint8_t hash[BL_DEVICE_HASH_LEN], char out[BL_DEVICE_NAME_MAX])
{
	memcpy(out, "isp-", 4);
	hex(hash, 28, out + 4); /* 224 bits: no two of the ISP's devices share a name */
}

/* Add or take out a device's channel line (profile of `plen` bytes, not NUL-terminated). */
static void sum_device(uint8_t sum[BL_SUBS_HASH_LEN], const uint8_t hash[BL_DEVICE_HASH_LEN],
                       const void *profile, size_t plen, bool add)
{
	char line[160], prof[BL_CLIENT_PROFILE_MAX];

	plen = plen < sizeof(prof) ? plen : sizeof(prof) - 1;
	memcpy(prof, profile, plen);
	prof[plen] = '\0';
	bl_clients_hash_line(sum, line, bl_device_line(hash, prof, line, sizeof(line)), add);
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
	int rc;

	if (db->readonly || !db->has_devices)
		return -EROFS;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	if ((rc = bl__writer_begin(&t->w, db, "devices begin")) != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int bl__devices_join(struct bl_db *db, MDB_txn *txn, struct bl__subs *s, struct bl_devices **out)
{
	struct bl_devices *t;

	if (!db->has_devices)
		return -EROFS;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	bl__writer_join(&t->w, db, txn, s);
	*out = t;
	return 0;
}

static int put_rec(struct bl_devices *t, const char *name, const uint8_t hash[BL_DEVICE_HASH_LEN],
                   const char *profile, uint64_t created, uint8_t flags);

int bl_devices_put(struct bl_devices *t, const char *name, const uint8_t hash[BL_DEVICE_HASH_LEN],
                   const char *profile, uint64_t created)
{
	if (t->w.fleet)
		return -EINVAL; /* the channel's devices: bl_devices_fleet_put */
	return put_rec(t, name, hash, profile, created, 0);
}

static int put_rec(struct bl_devices *t, const char *name, const uint8_t hash[BL_DEVICE_HASH_LEN],
                   const char *profile, uint64_t created, uint8_t flags)
{
	uint8_t nk[KEY_MAX], hk[1 + BL_DEVICE_HASH_LEN],
	    rec[REC_HEAD + BL_DEVICE_NAME_MAX + BL_CLIENT_PROFILE_MAX];
	size_t nl, pl;
	MDB_val k, v;
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!bl_device_name_valid(name) || !hash || !profile_valid(profile))
		return -EINVAL;
	nl = strlen(name);
	pl = strlen(profile);
	k = (MDB_val){name_key(name, nk), nk};
	v = (MDB_val){BL_DEVICE_HASH_LEN, (void *)hash};
	rc = mdb_put(t->w.txn, t->w.db->dbi_devices, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return -EEXIST; /* the transaction stays usable: nothing was written */
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "device put");
	rec[0] = REC_FORMAT;
	rec[1] = (uint8_t)nl;
	rec[2] = (uint8_t)pl;
	rec[3] = flags;
	put_le64(rec + 4, created);
	memcpy(rec + REC_HEAD, name, nl);
	memcpy(rec + REC_HEAD + nl, profile, pl);
	k = (MDB_val){hash_key(hash, hk), hk};
	v = (MDB_val){REC_HEAD + nl + pl, rec};
	rc = mdb_put(t->w.txn, t->w.db->dbi_devices, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		/* Two names for one ID (only possible with a chosen, not a generated, ID). */
		t->w.dead = true;
		return -EEXIST;
	}
	return rc == 0 ? 0 : bl__writer_fail(&t->w, rc, "device put");
}

/* A channel-owned device about to go: its line leaves the subscriber hash; done locally, that
 * is drift. `hk` is its 'h' key. */
static int unsum(struct bl_devices *t, const uint8_t *hk)
{
	MDB_val k = {1 + BL_DEVICE_HASH_LEN, (void *)hk}, v;
	const uint8_t *p;
	int rc = mdb_get(t->w.txn, t->w.db->dbi_devices, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "device del");
	if ((rc = rec_check(&v)) != 0)
		return rc;
	p = v.mv_data;
	if (!(p[3] & REC_FLEET))
		return 0;
	if ((rc = bl__subs_load(t->w.db, t->w.txn, t->w.subs)) != 0)
		return rc;
	sum_device(t->w.subs->sum, hk + 1, p + REC_HEAD + p[1], p[2], false);
	t->w.subs->changes += !t->w.fleet;
	return 0;
}

int bl_devices_del(struct bl_devices *t, const char *name)
{
	uint8_t nk[KEY_MAX], hk[1 + BL_DEVICE_HASH_LEN];
	MDB_val k, v;
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!bl_device_name_valid(name))
		return -EINVAL;
	k = (MDB_val){name_key(name, nk), nk};
	rc = mdb_get(t->w.txn, t->w.db->dbi_devices, &k, &v);
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "device del");
	if (v.mv_size != BL_DEVICE_HASH_LEN) {
		t->w.dead = true;
		return BL_ECORRUPT;
	}
	hash_key(v.mv_data, hk); /* copy before the value is invalidated by the deletes */
	if ((rc = unsum(t, hk)) != 0)
		return rc;
	rc = mdb_del(t->w.txn, t->w.db->dbi_devices, &k, NULL);
	if (rc == 0) {
		k = (MDB_val){sizeof(hk), hk};
		rc = mdb_del(t->w.txn, t->w.db->dbi_devices, &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc; /* a dangling name: removing it is the repair */
	}
	return rc == 0 ? 0 : bl__writer_fail(&t->w, rc, "device del");
}

int bl_devices_fleet_put(struct bl_devices *t, const uint8_t hash[BL_DEVICE_HASH_LEN],
                         const char *profile)
{
	char name[BL_DEVICE_NAME_MAX];
	uint8_t hk[1 + BL_DEVICE_HASH_LEN];
	MDB_val k = {hash_key(hash, hk), hk}, v;
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!t->w.fleet || !profile_valid(profile))
		return -EINVAL;
	rc = mdb_get(t->w.txn, t->w.db->dbi_devices, &k, &v);
	if (rc == 0) {
		if ((rc = rec_check(&v)) != 0)
			return rc;
		if (!(((const uint8_t *)v.mv_data)[3] & REC_FLEET))
			return -EEXIST; /* a local device holds this ID */
		bl_device_fleet_name(hash, name);
		if ((rc = bl_devices_del(t, name)) != 0) /* a new profile: replace */
			return rc;
	} else if (rc != MDB_NOTFOUND) {
		return bl__writer_fail(&t->w, rc, "device put");
	}
	if ((rc = bl__subs_load(t->w.db, t->w.txn, t->w.subs)) != 0)
		return rc;
	bl_device_fleet_name(hash, name);
	if ((rc = put_rec(t, name, hash, profile, 0, REC_FLEET)) != 0)
		return rc;
	sum_device(t->w.subs->sum, hash, profile, strlen(profile), true);
	return 0;
}

int bl_devices_fleet_del(struct bl_devices *t, const uint8_t hash[BL_DEVICE_HASH_LEN])
{
	char name[BL_DEVICE_NAME_MAX];
	uint8_t hk[1 + BL_DEVICE_HASH_LEN];
	MDB_val k = {hash_key(hash, hk), hk}, v;
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!t->w.fleet)
		return -EINVAL;
	rc = mdb_get(t->w.txn, t->w.db->dbi_devices, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? BL_ENOTFOUND : bl__writer_fail(&t->w, rc, "device del");
	if ((rc = rec_check(&v)) != 0)
		return rc;
	if (!(((const uint8_t *)v.mv_data)[3] & REC_FLEET))
		return BL_ENOTFOUND; /* a local device: not the channel's to remove */
	bl_device_fleet_name(hash, name);
	return bl_devices_del(t, name);
}

/* The first 'h' record after key `hk` (all of it when `first`) that the channel owns: its hash
 * into hk + 1. Returns 0, BL_ENOTFOUND at the end, or an error. */
static int next_fleet(struct bl_db *db, MDB_txn *txn, uint8_t *hk, bool first)
{
	MDB_cursor *cur;
	MDB_val k = {first ? 1 : 1 + BL_DEVICE_HASH_LEN, hk}, v;
	int rc = mdb_cursor_open(txn, db->dbi_devices, &cur), bad = 0;

	if (rc != 0)
		return bl__mdb_err(rc, "devices walk");
	hk[0] = 'h';
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kb = k.mv_data;
		if (k.mv_size != 1 + BL_DEVICE_HASH_LEN || kb[0] != 'h') {
			rc = MDB_NOTFOUND; /* past the hash keys */
			break;
		}
		if (!first && memcmp(kb, hk, k.mv_size) == 0)
			continue;
		if ((bad = rec_check(&v)) != 0)
			break;
		if (((const uint8_t *)v.mv_data)[3] & REC_FLEET) {
			memcpy(hk, kb, k.mv_size);
			break;
		}
	}
	mdb_cursor_close(cur);
	if (bad != 0)
		return bad;
	return rc == 0 ? 0 : bl__mdb_err(rc, "devices walk");
}

int bl_devices_fleet_clear(struct bl_devices *t)
{
	uint8_t hk[1 + BL_DEVICE_HASH_LEN] = {'h'};
	bool first = true;
	int rc = t->w.fleet ? 0 : -EINVAL;

	while (rc == 0 && (rc = next_fleet(t->w.db, t->w.txn, hk, first)) == 0) {
		first = false;
		rc = bl_devices_fleet_del(t, hk + 1);
	}
	return rc == BL_ENOTFOUND ? 0 : rc;
}

int bl__devices_fleet_sum(struct bl_db *db, MDB_txn *txn, uint8_t sum[BL_SUBS_HASH_LEN])
{
	uint8_t hk[1 + BL_DEVICE_HASH_LEN] = {'h'};
	bool first = true;
	int rc;

	if (!db->has_devices)
		return 0;
	while ((rc = next_fleet(db, txn, hk, first)) == 0) {
		MDB_val k = {sizeof(hk), hk}, v;
		const uint8_t *p;
		first = false;
		if ((rc = mdb_get(txn, db->dbi_devices, &k, &v)) != 0)
			return bl__mdb_err(rc, "devices walk");
		p = v.mv_data;
		sum_device(sum, hk + 1, p + REC_HEAD + p[1], p[2], true);
	}
	return rc == BL_ENOTFOUND ? 0 : rc;
}

int bl_devices_commit(struct bl_devices *t)
{
	int rc = bl__writer_commit(&t->w);

	free(t);
	return rc;
}

void bl_devices_abort(struct bl_devices *t)
{
	if (!t)
		return;
	bl__writer_abort(&t->w);
	free(t);
}
