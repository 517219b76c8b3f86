/*
 * The subscriber table: address prefixes mapped to profile names, in the named database
 * "clients" (key-space comment in bl_store.c).
 *
 *   key  u8 family (4 or 6) | address bytes (4 or 16), masked to the prefix | u8 prefix length
 *        value: the profile name (1..31 bytes, no NUL)
 *   key  u8 0 | u8 family   value: u32 LE count of prefixes per length, 0..32 (33 counts) or
 *                           0..128 (129 counts); absent when the family has no prefix
 *
 * Why per-length counts rather than one cursor walk: sorted keys put a prefix right before the
 * addresses it holds, but between a short prefix and an address inside it sit every longer
 * prefix of that range (a /16 with a thousand /32 below it); a walk back is unbounded, while
 * an exact get per length in use is bounded by the lengths an ISP uses (a handful). The longest
 * length is tried first, so the first hit is the longest match. The counts also make the empty
 * table cheap to detect: one get that finds nothing.
 */
#include "bl_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/sha.h>

#define KEY_MAX    18 /* family, 16 address bytes, length */
#define V4_COUNTS  33
#define V6_COUNTS  129
#define COUNTS_MAX V6_COUNTS

struct bl_clients {
	struct bl_db *db;
	MDB_txn *txn;
	bool dead;
	bool append; /* the table was empty and every key so far came in ascending order */
	size_t last_len;
	uint8_t last[KEY_MAX];
	uint32_t counts[2][COUNTS_MAX]; /* [v4, v6][length] as this transaction sees them */
	uint64_t changes;               /* prefixes added, changed or removed */
	uint8_t sum[BL_SUBS_HASH_LEN];  /* the table's hash as this transaction sees it */
	bool fleet;                     /* a fleet apply (bl_clients_fleet) */
	struct bl__subs hh;             /* the channel's households and devices in the hash */
	uint64_t fleet_version, fleet_expires, fleet_now;
};

static int fam_index(int family)
{
	return family == BL_FAMILY_V4 ? 0 : family == BL_FAMILY_V6 ? 1 : -1;
}

static unsigned fam_bits(int family)
{
	return family == BL_FAMILY_V4 ? 32 : 128;
}

/* ---- Prefixes -------------------------------------------------------------------------- */

static void mask_addr(uint8_t *a, unsigned bytes, unsigned len)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;
		a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int bl_prefix_parse(const char *text, struct bl_prefix *out)
{
	char buf[64];
	const char *slash;
	struct bl_prefix p;
	uint8_t masked[16];
	size_t alen;
	unsigned long len;
	char *end;

	if (!text || !out)
		return -EINVAL;
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	memset(&p, 0, sizeof(p));
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = BL_FAMILY_V4;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = BL_FAMILY_V6;
	else
		return -EINVAL;
	p.len = fam_bits(p.family);
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end != '\0' || len > p.len)
			return -EINVAL;
		p.len = (unsigned)len;
	}
	memcpy(masked, p.addr, sizeof(masked));
	mask_addr(masked, p.family == BL_FAMILY_V4 ? 4 : 16, p.len);
	if (memcmp(masked, p.addr, sizeof(masked)) != 0)
		return -EINVAL; /* host bits set: say so rather than guess what was meant */
	*out = p;
	return 0;
}

const char *bl_prefix_str(const struct bl_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family == BL_FAMILY_V4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

/* Key of (family, addr masked to len, len). Returns its length. */
static size_t make_key(int family, const uint8_t *addr, unsigned len, uint8_t *key)
{
	unsigned bytes = family == BL_FAMILY_V4 ? 4 : 16;

	key[0] = (uint8_t)family;
	memcpy(key + 1, addr, bytes);
	mask_addr(key + 1, bytes, len);
	key[1 + bytes] = (uint8_t)len;
	return 2 + bytes;
}

static bool profile_ok(const char *s, size_t *n)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= BL_CLIENT_PROFILE_MAX - 1 || ch <= ' ' || ch > '~' || ch == '"' ||
		    ch == '\\')
			return false;
	}
	*n = i;
	return i > 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- Lookup ---------------------------------------------------------------------------- */

static int lookup_txn(struct bl_db *db, MDB_txn *txn, int family, const uint8_t *addr,
                      char *profile, size_t plen, struct bl_prefix *match)
{
	uint8_t mk[2] = {0, (uint8_t)family}, key[KEY_MAX];
	MDB_val k = {sizeof(mk), mk}, v;
	unsigned bits = fam_bits(family);
	const uint8_t *counts;
	int rc = mdb_get(txn, db->dbi_clients, &k, &v);

	if (rc == MDB_NOTFOUND)
		return BL_ENOTFOUND;
	if (rc != 0)
		return bl__mdb_err(rc, "client lookup");
	if (v.mv_size != 4 * (bits + 1))
		return BL_ECORRUPT;
	counts = v.mv_data;
	for (int len = (int)bits; len >= 0; len--) {
		if (get_le32(counts + 4 * len) == 0)
			continue;
		k.mv_size = make_key(family, addr, (unsigned)len, key);
		k.mv_data = key;
		rc = mdb_get(txn, db->dbi_clients, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return bl__mdb_err(rc, "client lookup");
		if (v.mv_size == 0 || v.mv_size >= plen)
			return BL_ECORRUPT;
		memcpy(profile, v.mv_data, v.mv_size); /* borrowed until the reset: copy */
		profile[v.mv_size] = '\0';
		if (match) {
			memset(match, 0, sizeof(*match));
			match->family = family;
			memcpy(match->addr, key + 1, bits / 8);
			match->len = (unsigned)len;
		}
		return 0;
	}
	return BL_ENOTFOUND;
}

int bl_client_lookup(struct bl_reader *r, int family, const uint8_t *addr, char *profile,
                     size_t plen, struct bl_prefix *match)
{
	struct bl_db *db = bl__reader_db(r);
	MDB_txn *txn = bl__reader_txn(r);
	int rc;

	if (fam_index(family) < 0 || !addr || !profile || plen == 0)
		return -EINVAL;
	if (!db->has_clients)
		return BL_ENOTFOUND;
	rc = mdb_txn_renew(txn);
	if (rc != 0)
		return bl__mdb_err(rc, "renew");
	rc = lookup_txn(db, txn, family, addr, profile, plen, match);
	mdb_txn_reset(txn);
	return rc;
}

int bl_clients_list(struct bl_db *db, bl_client_cb cb, void *arg)
{
	char prof[BL_CLIENT_PROFILE_MAX];
	struct bl_prefix p;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, stop = 0;

	if (!db->has_clients)
		return 0;
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bl__mdb_err(rc, "begin");
	if ((rc = mdb_cursor_open(txn, db->dbi_clients, &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			const uint8_t *kb = k.mv_data;
			if (kb[0] == 0)
				continue; /* the prefix-length counts */
			if (fam_index(kb[0]) < 0 || k.mv_size != 2 + fam_bits(kb[0]) / 8 ||
			    v.mv_size == 0 || v.mv_size >= sizeof(prof)) {
				rc = BL_ECORRUPT;
				break;
			}
			memset(&p, 0, sizeof(p));
			p.family = kb[0];
			memcpy(p.addr, kb + 1, fam_bits(kb[0]) / 8);
			p.len = kb[k.mv_size - 1];
			memcpy(prof, v.mv_data, v.mv_size);
			prof[v.mv_size] = '\0';
			stop = cb(&p, prof, arg);
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (rc == BL_ECORRUPT)
		return rc;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "clients list");
}

int bl_clients_count(struct bl_db *db, uint64_t *n)
{
	MDB_txn *txn;
	uint64_t total = 0;
	int rc;

	if (!db->has_clients) {
		*n = 0;
		return 0;
	}
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	for (int family = BL_FAMILY_V4; family <= BL_FAMILY_V6; family += 2) {
		uint8_t mk[2] = {0, (uint8_t)family};
		MDB_val k = {sizeof(mk), mk}, v;
		rc = mdb_get(txn, db->dbi_clients, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			break;
		for (size_t i = 0; i + 4 <= v.mv_size; i += 4)
			total += get_le32((const uint8_t *)v.mv_data + i);
	}
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return bl__mdb_err(rc, "client count");
	*n = total;
	return 0;
}

/* ---- Fleet meta and the table's hash ------------------------------------------------------ */

int bl_prefix_cmp(const struct bl_prefix *a, const struct bl_prefix *b)
{
	uint8_t ka[KEY_MAX], kb[KEY_MAX];
	size_t la = make_key(a->family, a->addr, a->len, ka),
	       lb = make_key(b->family, b->addr, b->len, kb);
	int c = memcmp(ka, kb, la < lb ? la : lb);

	return c ? c : (int)la - (int)lb;
}

size_t bl_clients_line(const struct bl_prefix *p, const char *profile, char *buf, size_t len)
{
	char pfx[64];
	int n = snprintf(buf, len, "client %s %s\n", bl_prefix_str(p, pfx, sizeof(pfx)), profile);

	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/* sum +/- SHA-256(line) mod 2^256, big-endian: an order-independent hash of a set of lines,
 * updated in O(1) per change (a full recompute per API call would cost ~0.5 s of CPU at 1M). */
void bl__sum_digest(uint8_t sum[BL_SUBS_HASH_LEN], const uint8_t d[BL_SUBS_HASH_LEN], bool add)
{
	unsigned carry = 0;

	for (int i = BL_SUBS_HASH_LEN - 1; i >= 0; i--) {
		if (add) {
			unsigned x = (unsigned)sum[i] + d[i] + carry;
			sum[i] = (uint8_t)x;
			carry = x >> 8;
		} else {
			int x = (int)sum[i] - (int)d[i] - (int)carry;
			carry = x < 0;
			sum[i] = (uint8_t)(x + (x < 0 ? 256 : 0));
		}
	}
}

void bl_clients_hash_line(uint8_t sum[BL_SUBS_HASH_LEN], const char *line, size_t len, bool add)
{
	uint8_t d[BL_SUBS_HASH_LEN];

	SHA256((const unsigned char *)line, len, d);
	bl__sum_digest(sum, d, add);
}

/* Add or take out the line of mapping (p, profile of `plen` bytes, not NUL-terminated). */
static void sum_entry(uint8_t sum[BL_SUBS_HASH_LEN], const struct bl_prefix *p, const void *profile,
                      size_t plen, bool add)
{
	char line[128], prof[BL_CLIENT_PROFILE_MAX];

	if (plen >= sizeof(prof))
		plen = sizeof(prof) - 1;
	memcpy(prof, profile, plen);
	prof[plen] = '\0';
	bl_clients_hash_line(sum, line, bl_clients_line(p, prof, line, sizeof(line)), add);
}

/* The hash of the table as `txn` sees it, from scratch (a walk of every entry). */
static int hash_txn(struct bl_db *db, MDB_txn *txn, uint8_t out[BL_SUBS_HASH_LEN])
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, db->dbi_clients, &cur);

	memset(out, 0, BL_SUBS_HASH_LEN);
	if (rc != 0)
		return bl__mdb_err(rc, "client hash");
	for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
		const uint8_t *key;
		struct bl_prefix p;
		int mr = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
		if (mr == MDB_NOTFOUND)
			break;
		if (mr != 0) {
			rc = bl__mdb_err(mr, "client hash");
			break;
		}
		key = k.mv_data;
		if (key[0] == 0)
			continue; /* the per-length counts */
		if ((k.mv_size != 6 && k.mv_size != 18) || v.mv_size == 0 ||
		    v.mv_size >= BL_CLIENT_PROFILE_MAX) {
			rc = BL_ECORRUPT;
			break;
		}
		memset(&p, 0, sizeof(p));
		p.family = key[0];
		memcpy(p.addr, key + 1, k.mv_size - 2);
		p.len = key[k.mv_size - 1];
		sum_entry(out, &p, v.mv_data, v.mv_size, true);
	}
	mdb_cursor_close(cur);
	return rc;
}

int bl_clients_hash(struct bl_db *db, uint8_t out[BL_SUBS_HASH_LEN])
{
	MDB_txn *txn;
	int rc;

	if (!db->has_clients) {
		memset(out, 0, BL_SUBS_HASH_LEN);
		return 0;
	}
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = hash_txn(db, txn, out);
	if (rc == 0) {
		uint8_t hh[BL_SUBS_HASH_LEN] = {0};
		rc = bl__profiles_fleet_sum(db, txn, hh);
		rc = rc ? rc : bl__devices_fleet_sum(db, txn, hh);
		bl__sum_digest(out, hh, true);
	}
	mdb_txn_abort(txn);
	return rc;
}

static int meta_put(MDB_txn *txn, struct bl_db *db, const char *key, const void *d, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)d};
	int rc = mdb_put(txn, db->dbi_meta, &k, &v, 0);

	return rc ? bl__mdb_err(rc, "meta") : 0;
}

static int meta_put_u64(MDB_txn *txn, struct bl_db *db, const char *key, uint64_t x)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	return meta_put(txn, db, key, b, sizeof(b));
}

int bl__subs_load(struct bl_db *db, MDB_txn *txn, struct bl__subs *s)
{
	MDB_val k = {12, "subs_hash_hh"}, v;
	int rc;

	if (s->loaded)
		return 0;
	rc = mdb_get(txn, db->dbi_meta, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return bl__mdb_err(rc, "meta");
	/* absent: no fleet apply yet wrote a household or a device, so there is none */
	if (rc == 0 && v.mv_size == BL_SUBS_HASH_LEN)
		memcpy(s->sum, v.mv_data, BL_SUBS_HASH_LEN);
	else
		memset(s->sum, 0, BL_SUBS_HASH_LEN);
	s->loaded = true;
	return 0;
}

int bl__subs_store(struct bl_db *db, MDB_txn *txn, const struct bl__subs *s)
{
	int rc;

	if (!s->loaded)
		return 0;
	rc = meta_put(txn, db, "subs_hash_hh", s->sum, BL_SUBS_HASH_LEN);
	if (rc == 0 && s->changes > 0)
		rc = meta_put_u64(txn, db, "subs_drift",
		                  bl__meta_u64(txn, db->dbi_meta, "subs_drift") + s->changes);
	return rc;
}

int bl_clients_profiles(struct bl_clients *t, struct bl_profiles **out)
{
	if (t->dead)
		return BL_ESTORE;
	if (!t->fleet)
		return -EINVAL;
	return bl__profiles_join(t->db, t->txn, &t->hh, out);
}

int bl_clients_devices(struct bl_clients *t, struct bl_devices **out)
{
	if (t->dead)
		return BL_ESTORE;
	if (!t->fleet)
		return -EINVAL;
	return bl__devices_join(t->db, t->txn, &t->hh, out);
}

int bl_clients_fleet(struct bl_clients *t, uint64_t version, uint64_t expires, uint64_t now)
{
	if (t->dead)
		return BL_ESTORE;
	t->fleet = true;
	t->fleet_version = version;
	t->fleet_expires = expires;
	t->fleet_now = now;
	return 0;
}

/* The table's hash as it starts: the stored one, or (a store from before the fleet channel)
 * computed once from the table. */
static int load_sum(struct bl_clients *t)
{
	MDB_val k = {9, "subs_hash"}, v;
	int rc = mdb_get(t->txn, t->db->dbi_meta, &k, &v);

	if (rc == 0 && v.mv_size == BL_SUBS_HASH_LEN) {
		memcpy(t->sum, v.mv_data, BL_SUBS_HASH_LEN);
		return 0;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return bl__mdb_err(rc, "meta");
	return hash_txn(t->db, t->txn, t->sum);
}

/* The hash of the table as committed, and the fleet version or the drift. */
static int store_fleet_meta(struct bl_clients *t)
{
	struct bl_db *db = t->db;
	int rc = meta_put(t->txn, db, "subs_hash", t->sum, sizeof(t->sum));

	if (rc == 0 && t->fleet) {
		rc = meta_put_u64(t->txn, db, "subs_version", t->fleet_version);
		rc = rc ? rc : meta_put_u64(t->txn, db, "subs_expires", t->fleet_expires);
		rc = rc ? rc : meta_put_u64(t->txn, db, "subs_applied", t->fleet_now);
		rc = rc ? rc : meta_put_u64(t->txn, db, "subs_drift", 0);
		rc = rc ? rc : bl__subs_store(db, t->txn, &t->hh);
	} else if (rc == 0) {
		uint64_t d = bl__meta_u64(t->txn, db->dbi_meta, "subs_drift");
		rc = meta_put_u64(t->txn, db, "subs_drift", d + t->changes);
	}
	if (rc != 0)
		t->dead = true;
	return rc;
}

int bl_clients_meta(struct bl_db *db, struct bl_clients_meta *m)
{
	MDB_txn *txn;
	MDB_val k = {9, "subs_hash"}, v;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	memset(m, 0, sizeof(*m));
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	m->version = bl__meta_u64(txn, db->dbi_meta, "subs_version");
	m->expires = bl__meta_u64(txn, db->dbi_meta, "subs_expires");
	m->applied = bl__meta_u64(txn, db->dbi_meta, "subs_applied");
	m->drift = bl__meta_u64(txn, db->dbi_meta, "subs_drift");
	m->last_attempt = bl__meta_u64(txn, db->dbi_meta, "subs_attempt");
	if (mdb_get(txn, db->dbi_meta, &k, &v) == 0 && v.mv_size == BL_SUBS_HASH_LEN) {
		m->has_hash = true;
		memcpy(m->hash, v.mv_data, BL_SUBS_HASH_LEN);
	}
	k = (MDB_val){12, "subs_hash_hh"}; /* the channel's households and devices */
	if (mdb_get(txn, db->dbi_meta, &k, &v) == 0 && v.mv_size == BL_SUBS_HASH_LEN) {
		m->has_hash = true;
		bl__sum_digest(m->hash, v.mv_data, true);
	}
	k = (MDB_val){10, "subs_error"};
	if (mdb_get(txn, db->dbi_meta, &k, &v) == 0) {
		size_t n = v.mv_size < BL_META_ERR_MAX - 1 ? v.mv_size : BL_META_ERR_MAX - 1;
		memcpy(m->last_error, v.mv_data, n);
		m->last_error[n] = '\0';
	}
	mdb_txn_abort(txn);
	return 0;
}

int bl_clients_record(struct bl_db *db, uint64_t when, const char *err)
{
	MDB_txn *txn;
	MDB_val k = {10, "subs_error"};
	int rc, dead;

	if (db->readonly)
		return -EROFS;
	mdb_reader_check(db->env, &dead);
	rc = mdb_txn_begin(db->env, NULL, 0, &txn);
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = meta_put_u64(txn, db, "subs_attempt", when);
	if (rc == 0 && err && *err) {
		rc = meta_put(txn, db, "subs_error", err, strnlen(err, BL_META_ERR_MAX - 1));
	} else if (rc == 0) {
		int dr = mdb_del(txn, db->dbi_meta, &k, NULL);
		rc = dr == 0 || dr == MDB_NOTFOUND ? 0 : bl__mdb_err(dr, "meta");
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return bl__commit_durable(db, txn);
}

/* ---- Writes ---------------------------------------------------------------------------- */

static int fail(struct bl_clients *t, int rc, const char *what)
{
	int err = bl__mdb_err(rc, what);

	if (err != BL_ENOTFOUND)
		t->dead = true;
	return err;
}

static int load_counts(struct bl_clients *t)
{
	for (int family = BL_FAMILY_V4; family <= BL_FAMILY_V6; family += 2) {
		uint8_t mk[2] = {0, (uint8_t)family};
		MDB_val k = {sizeof(mk), mk}, v;
		int fi = fam_index(family), rc = mdb_get(t->txn, t->db->dbi_clients, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return bl__mdb_err(rc, "client counts");
		if (v.mv_size != 4 * (fam_bits(family) + 1))
			return BL_ECORRUPT;
		for (unsigned i = 0; i <= fam_bits(family); i++)
			t->counts[fi][i] = get_le32((const uint8_t *)v.mv_data + 4 * i);
	}
	return 0;
}

int bl_clients_begin(struct bl_db *db, struct bl_clients **out)
{
	struct bl_clients *t;
	MDB_stat st;
	int rc, dead;

	if (db->readonly || !db->has_clients)
		return -EROFS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->db = db;
	mdb_reader_check(db->env, &dead);
	rc = mdb_txn_begin(db->env, NULL, 0, &t->txn);
	if (rc == 0)
		rc = mdb_stat(t->txn, db->dbi_clients, &st);
	if (rc != 0) {
		if (t->txn)
			mdb_txn_abort(t->txn);
		free(t);
		return bl__mdb_err(rc, "clients begin");
	}
	t->append = st.ms_entries == 0;
	rc = load_counts(t);
	if (rc == 0)
		rc = load_sum(t);
	if (rc == 0)
		rc = bl__subs_load(db, t->txn, &t->hh);
	if (rc < 0) {
		mdb_txn_abort(t->txn);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static bool key_after_last(const struct bl_clients *t, const uint8_t *key, size_t len)
{
	size_t n = len < t->last_len ? len : t->last_len;
	int c = memcmp(key, t->last, n);

	return t->last_len == 0 || c > 0 || (c == 0 && len > t->last_len);
}

int bl_clients_put(struct bl_clients *t, const struct bl_prefix *p, const char *profile)
{
	uint8_t key[KEY_MAX];
	size_t klen, vlen;
	MDB_val k, v;
	int fi, rc;

	if (t->dead)
		return BL_ESTORE;
	if (!p || (fi = fam_index(p->family)) < 0 || p->len > fam_bits(p->family) || !profile ||
	    !profile_ok(profile, &vlen))
		return -EINVAL;
	klen = make_key(p->family, p->addr, p->len, key);
	k = (MDB_val){klen, key};
	v = (MDB_val){vlen, (void *)profile};
	if (t->append && key_after_last(t, key, klen)) {
		rc = mdb_put(t->txn, t->db->dbi_clients, &k, &v, MDB_APPEND);
		if (rc != 0)
			return fail(t, rc, "client put");
		memcpy(t->last, key, klen);
		t->last_len = klen;
		t->counts[fi][p->len]++;
		t->changes++;
		sum_entry(t->sum, p, profile, vlen, true);
		return 0;
	}
	t->append = false;
	rc = mdb_put(t->txn, t->db->dbi_clients, &k, &v, MDB_NOOVERWRITE);
	if (rc == 0) {
		t->counts[fi][p->len]++;
		t->changes++;
		sum_entry(t->sum, p, profile, vlen, true);
		return 0;
	}
	if (rc == MDB_KEYEXIST) {
		if (v.mv_size == vlen && memcmp(v.mv_data, profile, vlen) == 0)
			return 0; /* the same mapping: no change, no drift */
		sum_entry(t->sum, p, v.mv_data, v.mv_size, false);
		sum_entry(t->sum, p, profile, vlen, true);
		v = (MDB_val){vlen, (void *)profile};
		rc = mdb_put(t->txn, t->db->dbi_clients, &k, &v, 0);
		t->changes++;
	}
	return rc == 0 ? 0 : fail(t, rc, "client put");
}

int bl_clients_del(struct bl_clients *t, const struct bl_prefix *p)
{
	uint8_t key[KEY_MAX];
	MDB_val k, v;
	int fi, rc;

	if (t->dead)
		return BL_ESTORE;
	if (!p || (fi = fam_index(p->family)) < 0 || p->len > fam_bits(p->family))
		return -EINVAL;
	k = (MDB_val){make_key(p->family, p->addr, p->len, key), key};
	rc = mdb_get(t->txn, t->db->dbi_clients, &k, &v);
	if (rc == 0) /* the line it had leaves the hash (v is valid until the del) */
		sum_entry(t->sum, p, v.mv_data, v.mv_size, false);
	if (rc == 0)
		rc = mdb_del(t->txn, t->db->dbi_clients, &k, NULL);
	if (rc != 0)
		return fail(t, rc, "client del");
	if (t->counts[fi][p->len] > 0)
		t->counts[fi][p->len]--;
	t->changes++;
	return 0;
}

int bl_clients_clear(struct bl_clients *t)
{
	int rc;

	if (t->dead)
		return BL_ESTORE;
	rc = mdb_drop(t->txn, t->db->dbi_clients, 0);
	if (rc != 0)
		return fail(t, rc, "client clear");
	for (int f = 0; f < 2; f++) {
		for (int i = 0; i < COUNTS_MAX; i++)
			t->changes += t->counts[f][i];
	}
	memset(t->counts, 0, sizeof(t->counts));
	memset(t->sum, 0, sizeof(t->sum)); /* the empty table */
	t->append = true;
	t->last_len = 0;
	return 0;
}

/* Write (or remove, when all zero) each family's counts. */
static int store_counts(struct bl_clients *t)
{
	for (int family = BL_FAMILY_V4; family <= BL_FAMILY_V6; family += 2) {
		uint8_t mk[2] = {0, (uint8_t)family}, buf[4 * COUNTS_MAX];
		unsigned n = fam_bits(family) + 1;
		int fi = fam_index(family), rc;
		uint64_t total = 0;
		MDB_val k = {sizeof(mk), mk}, v = {4 * n, buf};
		for (unsigned i = 0; i < n; i++) {
			uint32_t c = t->counts[fi][i];
			total += c;
			buf[4 * i] = (uint8_t)c;
			buf[4 * i + 1] = (uint8_t)(c >> 8);
			buf[4 * i + 2] = (uint8_t)(c >> 16);
			buf[4 * i + 3] = (uint8_t)(c >> 24);
		}
		if (total == 0) {
			rc = mdb_del(t->txn, t->db->dbi_clients, &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		} else {
			rc = mdb_put(t->txn, t->db->dbi_clients, &k, &v, 0);
		}
		if (rc != 0)
			return fail(t, rc, "client counts");
	}
	return 0;
}

int bl_clients_commit(struct bl_clients *t)
{
	struct bl_db *db = t->db;
	MDB_txn *txn;
	int rc;

	rc = t->dead ? BL_ESTORE : store_counts(t);
	if (rc == 0 && (t->changes > 0 || t->fleet))
		rc = store_fleet_meta(t);
	if (rc < 0) {
		bl_clients_abort(t);
		return rc;
	}
	txn = t->txn;
	free(t);
	return bl__commit_durable(db, txn);
}

void bl_clients_abort(struct bl_clients *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}
