/*
 * Profiles as data: the household's profile records ("profiles"), each profile's own rules
 * ("prules") and MAC addresses ("macs"); formats in the key-space comment of bl_store.c.
 *
 * A record holds only what a parent set (the `set` bits); the daemon overlays it on the config
 * profile of the same name, or on its template, at the next query (rs_profile_resolve). The
 * record counts its rules so that a profile without rules costs no "prules" lookup.
 */
#include "bl_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_FORMAT       1
#define REC_FORMAT_FLEET 2  /* format 1 and the channel line's digest (BL_PF_FLEET) at the end */
#define REC_HEAD         32 /* format, mode, set, n_rules, updated, block_add, block_del */

struct bl_profiles {
	struct bl__writer w;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

bool bl_profile_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= BL_PROFILE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* ---- The record ------------------------------------------------------------------------- */

/* Length of the allow pool in use (n names, each NUL-terminated), or -1 when malformed. */
static int pool_len(const struct bl_profile_rec *rec)
{
	size_t off = 0;

	for (int i = 0; i < rec->n_allow; i++) {
		const char *e = memchr(rec->allow + off, '\0', sizeof(rec->allow) - off);
		if (!e || e == rec->allow + off)
			return -1;
		off = (size_t)(e - rec->allow) + 1;
	}
	return (int)off;
}

static size_t put_text(uint8_t *p, const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);

	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

/* Minutes 0..1440 (the schedule parser takes "24:00" as the end of a day), days Mon..Sun. */
static bool sched_valid(const struct bl_profile_sched *s)
{
	return s->start <= 1440 && s->end <= 1440 && s->days <= 0x7f;
}

int bl_profile_rec_encode(const struct bl_profile_rec *rec, uint8_t *buf, size_t len)
{
	int pl = pool_len(rec);
	size_t o = REC_HEAD;

	if (pl < 0 || rec->n_sched < 0 || rec->n_sched > BL_PROFILE_SCHED_MAX || rec->n_allow < 0 ||
	    rec->n_allow > BL_PROFILE_ALLOW_MAX ||
	    (rec->tmpl[0] && !bl_profile_name_valid(rec->tmpl)))
		return -EINVAL;
	for (int i = 0; i < rec->n_sched; i++)
		if (!sched_valid(&rec->sched[i]))
			return -EINVAL; /* what decode would refuse is never written */
	if (len < BL_PROFILE_REC_MAX)
		return BL_ENOSPACE;
	buf[0] = (rec->set & BL_PF_FLEET) ? REC_FORMAT_FLEET : REC_FORMAT;
	buf[1] = (uint8_t)rec->mode;
	put_le(buf + 2, rec->set, 2);
	put_le(buf + 4, rec->n_rules, 4);
	put_le(buf + 8, rec->updated, 8);
	put_le(buf + 16, rec->block_add, 8);
	put_le(buf + 24, rec->block_del, 8);
	o += put_text(buf + o, rec->tmpl, sizeof(rec->tmpl));
	o += put_text(buf + o, rec->preset, sizeof(rec->preset));
	buf[o++] = (uint8_t)rec->n_sched;
	for (int i = 0; i < rec->n_sched; i++, o += 14) {
		const struct bl_profile_sched *s = &rec->sched[i];
		buf[o] = s->days;
		buf[o + 1] = s->bedtime;
		put_le(buf + o + 2, s->start, 2);
		put_le(buf + o + 4, s->end, 2);
		put_le(buf + o + 6, s->extra_block, 8);
	}
	buf[o++] = (uint8_t)rec->n_allow;
	put_le(buf + o, (uint64_t)pl, 2);
	memcpy(buf + o + 2, rec->allow, (size_t)pl);
	o += 2 + (size_t)pl;
	if (rec->set & BL_PF_FLEET) {
		memcpy(buf + o, rec->digest, BL_SUBS_HASH_LEN);
		o += BL_SUBS_HASH_LEN;
	}
	return (int)o;
}

/* A length-prefixed text at `*o` into `out` (`max` bytes). False when it does not fit. */
static bool get_text(const uint8_t *buf, size_t len, size_t *o, char *out, size_t max)
{
	size_t n;

	if (*o >= len || (n = buf[*o]) >= max || *o + 1 + n > len || memchr(buf + *o + 1, 0, n))
		return false;
	memcpy(out, buf + *o + 1, n);
	out[n] = '\0';
	*o += 1 + n;
	return true;
}

int bl_profile_rec_decode(const uint8_t *buf, size_t len, struct bl_profile_rec *rec)
{
	size_t o = REC_HEAD, pl;
	bool fleet;

	if (len < REC_HEAD)
		return BL_ECORRUPT;
	if (buf[0] != REC_FORMAT && buf[0] != REC_FORMAT_FLEET)
		return BL_EVERSION;
	fleet = buf[0] == REC_FORMAT_FLEET;
	if (fleet) { /* the digest ends the record */
		if (len < REC_HEAD + BL_SUBS_HASH_LEN)
			return BL_ECORRUPT;
		len -= BL_SUBS_HASH_LEN;
	}
	memset(rec, 0, sizeof(*rec));
	rec->mode = buf[1];
	rec->set = (unsigned)get_le(buf + 2, 2);
	rec->n_rules = (uint32_t)get_le(buf + 4, 4);
	rec->updated = get_le(buf + 8, 8);
	rec->block_add = get_le(buf + 16, 8);
	rec->block_del = get_le(buf + 24, 8);
	if (rec->mode > BL_MODE_ALLOWLIST ||
	    !get_text(buf, len, &o, rec->tmpl, sizeof(rec->tmpl)) ||
	    !get_text(buf, len, &o, rec->preset, sizeof(rec->preset)) || o >= len)
		return BL_ECORRUPT;
	rec->n_sched = buf[o++];
	if (rec->n_sched > BL_PROFILE_SCHED_MAX || o + (size_t)rec->n_sched * 14 + 3 > len)
		return BL_ECORRUPT;
	for (int i = 0; i < rec->n_sched; i++, o += 14) {
		struct bl_profile_sched *s = &rec->sched[i];
		s->days = buf[o];
		s->bedtime = buf[o + 1] != 0;
		s->start = (uint16_t)get_le(buf + o + 2, 2);
		s->end = (uint16_t)get_le(buf + o + 4, 2);
		s->extra_block = get_le(buf + o + 6, 8);
		if (!sched_valid(s))
			return BL_ECORRUPT;
	}
	rec->n_allow = buf[o];
	pl = (size_t)get_le(buf + o + 1, 2);
	o += 3;
	if (rec->n_allow > BL_PROFILE_ALLOW_MAX || pl > sizeof(rec->allow) || o + pl != len)
		return BL_ECORRUPT;
	memcpy(rec->allow, buf + o, pl);
	if (pool_len(rec) != (int)pl || fleet != ((rec->set & BL_PF_FLEET) != 0))
		return BL_ECORRUPT;
	if (fleet)
		memcpy(rec->digest, buf + len, BL_SUBS_HASH_LEN);
	return 0;
}

int bl_profile_rec_allow_add(struct bl_profile_rec *rec, const char *name)
{
	int pl = pool_len(rec);
	size_t n = name ? strlen(name) : 0;

	if (pl < 0 || n == 0 || n >= BL_NAME_MAX)
		return -EINVAL;
	if (rec->n_allow >= BL_PROFILE_ALLOW_MAX || (size_t)pl + n + 1 > sizeof(rec->allow))
		return BL_ENOSPACE;
	memcpy(rec->allow + pl, name, n + 1);
	rec->n_allow++;
	return 0;
}

const char *bl_profile_rec_allow(const struct bl_profile_rec *rec, int i)
{
	size_t off = 0;

	if (i < 0 || i >= rec->n_allow)
		return NULL;
	for (int k = 0; k < i; k++)
		off += strlen(rec->allow + off) + 1;
	return rec->allow + off;
}

/* ---- Reading ---------------------------------------------------------------------------- */

static int get_rec(struct bl_db *db, MDB_txn *txn, const char *name, struct bl_profile_rec *rec)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc;

	if (!db->has_profiles || !bl_profile_name_valid(name))
		return BL_ENOTFOUND;
	rc = mdb_get(txn, db->dbi_profiles, &k, &v);
	if (rc != 0)
		return bl__mdb_err(rc, "profile get");
	return bl_profile_rec_decode(v.mv_data, v.mv_size, rec);
}

int bl_profile_get(struct bl_reader *r, const char *name, struct bl_profile_rec *rec)
{
	MDB_txn *txn = bl__reader_txn(r);
	int rc = mdb_txn_renew(txn);

	if (rc != 0)
		return bl__mdb_err(rc, "renew");
	rc = get_rec(bl__reader_db(r), txn, name, rec);
	mdb_txn_reset(txn);
	return rc;
}

int bl_profile_read(struct bl_db *db, const char *name, struct bl_profile_rec *rec)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = get_rec(db, txn, name, rec);
	mdb_txn_abort(txn);
	return rc;
}

int bl_profiles_count(struct bl_db *db, uint64_t *n)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	*n = 0;
	if (!db->has_profiles)
		return 0;
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bl__mdb_err(rc, "begin");
	rc = mdb_stat(txn, db->dbi_profiles, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return bl__mdb_err(rc, "stat");
	*n = st.ms_entries;
	return 0;
}

/* Walk `dbi` from key `from` (`flen` bytes) while keys start with it. */
typedef int (*walk_cb)(const MDB_val *k, const MDB_val *v, void *arg);
static int walk(struct bl_db *db, MDB_dbi dbi, const void *from, size_t flen, walk_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = {flen, (void *)from}, v;
	int rc, stop = 0;

	if (!db->has_profiles)
		return 0;
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bl__mdb_err(rc, "begin");
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0) {
		rc = mdb_cursor_get(cur, &k, &v, flen ? MDB_SET_RANGE : MDB_FIRST);
		/* flen 0 (the whole table) must not reach memcmp: `from` is NULL then */
		while (rc == 0 && !stop && k.mv_size >= flen &&
		       (flen == 0 || memcmp(k.mv_data, from, flen) == 0)) {
			stop = cb(&k, &v, arg);
			if (stop < 0)
				break;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (stop < 0)
		return stop;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "list");
}

struct list_arg {
	bl_profile_cb pcb;
	bl_list_cb rcb;
	bl_mac_cb mcb;
	void *arg;
	size_t skip; /* prules: the key's profile prefix */
};

static int profile_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_arg *a = arg;
	struct bl_profile_rec rec;
	char name[BL_PROFILE_NAME_MAX];
	int rc;

	if (k->mv_size >= sizeof(name))
		return BL_ECORRUPT;
	memcpy(name, k->mv_data, k->mv_size);
	name[k->mv_size] = '\0';
	if ((rc = bl_profile_rec_decode(v->mv_data, v->mv_size, &rec)) < 0)
		return rc;
	return a->pcb(name, &rec, a->arg);
}

int bl_profiles_list(struct bl_db *db, bl_profile_cb cb, void *arg)
{
	struct list_arg a = {.pcb = cb, .arg = arg};

	return walk(db, db->dbi_profiles, NULL, 0, profile_step, &a);
}

static int rule_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_arg *a = arg;
	struct bl__rec recs[BL__REC_MAX];
	struct bl_rule rule;
	int n = bl__recs_decode(v, recs), stop;

	if (n < 0)
		return n;
	if (bl_key_to_name((const uint8_t *)k->mv_data + a->skip, k->mv_size - a->skip, rule.name,
	                   sizeof(rule.name)) < 0)
		return BL_ECORRUPT;
	for (int i = 0; i < n; i++) {
		rule.flags = recs[i].flags;
		rule.categories = recs[i].categories;
		rule.version = recs[i].version;
		if ((stop = a->rcb(&rule, a->arg)) != 0)
			return stop;
	}
	return 0;
}

int bl_profile_rules_list(struct bl_db *db, const char *name, bl_list_cb cb, void *arg)
{
	uint8_t key[BL__PRULE_KEY_MAX];
	int kl = bl__prule_key(name, NULL, 0, key);
	struct list_arg a = {.rcb = cb, .arg = arg, .skip = (size_t)kl};

	if (kl < 0)
		return -EINVAL;
	return walk(db, db->dbi_prules, key, (size_t)kl, rule_step, &a);
}

static int mac_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_arg *a = arg;
	char prof[BL_PROFILE_NAME_MAX];

	if (k->mv_size != 6 || v->mv_size == 0 || v->mv_size >= sizeof(prof))
		return BL_ECORRUPT;
	memcpy(prof, v->mv_data, v->mv_size);
	prof[v->mv_size] = '\0';
	return a->mcb(k->mv_data, prof, a->arg);
}

int bl_macs_list(struct bl_db *db, bl_mac_cb cb, void *arg)
{
	struct list_arg a = {.mcb = cb, .arg = arg};

	return walk(db, db->dbi_macs, NULL, 0, mac_step, &a);
}

int bl_mac_lookup(struct bl_reader *r, const uint8_t mac[6], char *profile, size_t plen)
{
	struct bl_db *db = bl__reader_db(r);
	MDB_txn *txn = bl__reader_txn(r);
	MDB_val k = {6, (void *)mac}, v;
	int rc;

	if (!db->has_profiles)
		return BL_ENOTFOUND;
	if ((rc = mdb_txn_renew(txn)) != 0)
		return bl__mdb_err(rc, "renew");
	rc = mdb_get(txn, db->dbi_macs, &k, &v);
	if (rc != 0) {
		rc = bl__mdb_err(rc, "mac lookup");
	} else if (v.mv_size == 0 || v.mv_size >= BL_PROFILE_NAME_MAX) {
		rc = BL_ECORRUPT;
	} else if (v.mv_size >= plen) {
		rc = BL_ENOSPACE;
	} else {
		memcpy(profile, v.mv_data, v.mv_size); /* borrowed until the reset: copy */
		profile[v.mv_size] = '\0';
	}
	mdb_txn_reset(txn);
	return rc;
}

int bl__prule_key(const char *name, const uint8_t *nk, size_t nklen, uint8_t *key)
{
	size_t n;

	if (!bl_profile_name_valid(name) || nklen > BL_KEY_MAX)
		return -EINVAL;
	n = strlen(name);
	memcpy(key, name, n);
	key[n] = 0;
	if (nklen)
		memcpy(key + n + 1, nk, nklen);
	return (int)(n + 1 + nklen);
}

/* ---- Writing ---------------------------------------------------------------------------- */

int bl_profiles_begin(struct bl_db *db, struct bl_profiles **out)
{
	struct bl_profiles *t;
	int rc;

	if (db->readonly || !db->has_profiles)
		return -EROFS;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	if ((rc = bl__writer_begin(&t->w, db, "profiles begin")) != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int bl__profiles_join(struct bl_db *db, MDB_txn *txn, struct bl__subs *s, struct bl_profiles **out)
{
	struct bl_profiles *t;

	if (!db->has_profiles)
		return -EROFS;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	bl__writer_join(&t->w, db, txn, s);
	*out = t;
	return 0;
}

/* A record about to change: the channel's line leaves the subscriber hash when the record was
 * the channel's (a fleet apply puts its new line back). A local change is drift; the record
 * stays the channel's, so that the next snapshot puts it back, but with a zero digest: the
 * line it came as is no longer what it holds. */
static int touch(struct bl_profiles *t, struct bl_profile_rec *rec)
{
	int rc;

	if (!(rec->set & BL_PF_FLEET))
		return 0;
	if ((rc = bl__subs_load(t->w.db, t->w.txn, t->w.subs)) != 0)
		return rc;
	bl__sum_digest(t->w.subs->sum, rec->digest, false);
	memset(rec->digest, 0, sizeof(rec->digest));
	t->w.subs->changes += !t->w.fleet;
	return 0;
}

int bl_profiles_get(struct bl_profiles *t, const char *name, struct bl_profile_rec *rec)
{
	if (t->w.dead)
		return BL_ESTORE;
	return get_rec(t->w.db, t->w.txn, name, rec);
}

/* Write `rec` as is (n_rules included). */
static int put_raw(struct bl_profiles *t, const char *name, const struct bl_profile_rec *rec)
{
	uint8_t buf[BL_PROFILE_REC_MAX];
	int n = bl_profile_rec_encode(rec, buf, sizeof(buf));
	MDB_val k = {strlen(name), (void *)name}, v = {(size_t)n, buf};
	int rc;

	if (n < 0)
		return n;
	rc = mdb_put(t->w.txn, t->w.db->dbi_profiles, &k, &v, 0);
	return rc == 0 ? 0 : bl__writer_fail(&t->w, rc, "profile put");
}

int bl_profiles_put(struct bl_profiles *t, const char *name, const struct bl_profile_rec *rec)
{
	struct bl_profile_rec old, nrec = *rec;
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!bl_profile_name_valid(name))
		return -EINVAL;
	rc = get_rec(t->w.db, t->w.txn, name, &old);
	if (rc < 0 && rc != BL_ENOTFOUND)
		return rc;
	nrec.n_rules = rc == 0 ? old.n_rules : 0; /* the rules count themselves */
	if (rc == 0 && (rc = touch(t, &old)) != 0)
		return rc;
	if (t->w.fleet) {
		nrec.set |= BL_PF_FLEET;
		bl__sum_digest(t->w.subs->sum, nrec.digest, true);
	} else { /* the origin is the stored record's, never the caller's */
		nrec.set &= ~(unsigned)BL_PF_FLEET;
		if (rc == 0) {
			nrec.set |= old.set & BL_PF_FLEET;
			memcpy(nrec.digest, old.digest, sizeof(nrec.digest));
		}
	}
	return put_raw(t, name, &nrec);
}

int bl_profiles_del(struct bl_profiles *t, const char *name)
{
	uint8_t key[BL__PRULE_KEY_MAX];
	int kl = bl__prule_key(name, NULL, 0, key), rc;
	MDB_val k = {name ? strlen(name) : 0, (void *)name}, rk, v;
	struct bl_profile_rec old;
	MDB_cursor *cur;

	if (t->w.dead)
		return BL_ESTORE;
	if (kl < 0)
		return -EINVAL;
	rc = get_rec(t->w.db, t->w.txn, name, &old);
	if (rc == 0)
		rc = touch(t, &old);
	if (rc != 0 && rc != BL_ENOTFOUND)
		return rc;
	rc = mdb_del(t->w.txn, t->w.db->dbi_profiles, &k, NULL);
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "profile del");
	if ((rc = mdb_cursor_open(t->w.txn, t->w.db->dbi_prules, &cur)) != 0)
		return bl__writer_fail(&t->w, rc, "profile del");
	rk = (MDB_val){(size_t)kl, key};
	rc = mdb_cursor_get(cur, &rk, &v, MDB_SET_RANGE);
	while (rc == 0 && rk.mv_size >= (size_t)kl && memcmp(rk.mv_data, key, (size_t)kl) == 0) {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rk =
		    (MDB_val){(size_t)kl, key}; /* search again: simpler than cursor-after-delete */
		rc = mdb_cursor_get(cur, &rk, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : bl__writer_fail(&t->w, rc, "profile del");
}

/* The record of `name`, or a fresh one that sets nothing (its rules make it exist). */
static int rec_or_new(struct bl_profiles *t, const char *name, struct bl_profile_rec *rec)
{
	int rc = get_rec(t->w.db, t->w.txn, name, rec);

	if (rc == BL_ENOTFOUND) {
		memset(rec, 0, sizeof(*rec));
		return 0;
	}
	return rc;
}

/* A local rule change to a channel-owned household makes it local (its line leaves the hash);
 * a fleet apply's rules are part of its household's line already. */
static int local_change(struct bl_profiles *t, struct bl_profile_rec *rec)
{
	return t->w.fleet ? 0 : touch(t, rec);
}

static int rule_key(const char *name, const char *rule, uint8_t *key)
{
	uint8_t nk[BL_KEY_MAX];
	int nl = bl_key_from_name(rule, nk, sizeof(nk));

	if (nl <= 0)
		return nl < 0 ? nl : BL_ENAME;
	return bl__prule_key(name, nk, (size_t)nl, key);
}

int bl_profiles_rule_put(struct bl_profiles *t, const char *name, const char *rule, unsigned flags,
                         uint64_t categories)
{
	uint8_t key[BL__PRULE_KEY_MAX], buf[BL__REC_MAX * BL__REC_SIZE];
	struct bl__rec recs[BL__REC_MAX],
	    nrec = {flags & (BL_F_SUBTREE | BL_F_ALLOW), 0, categories};
	struct bl_profile_rec rec;
	int kl = rule_key(name, rule, key), n = 0, rc, i;
	MDB_val k, v;

	if (t->w.dead)
		return BL_ESTORE;
	if (kl < 0)
		return kl;
	if ((rc = rec_or_new(t, name, &rec)) < 0 || (rc = local_change(t, &rec)) < 0)
		return rc;
	k = (MDB_val){(size_t)kl, key};
	rc = mdb_get(t->w.txn, t->w.db->dbi_prules, &k, &v);
	if (rc == 0 && (n = bl__recs_decode(&v, recs)) < 0)
		return n;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return bl__writer_fail(&t->w, rc, "rule put");
	for (i = 0; i < n; i++) {
		if ((recs[i].flags & (BL_F_SUBTREE | BL_F_ALLOW)) == nrec.flags) {
			recs[i].categories |= categories;
			break;
		}
	}
	if (i == n) {
		recs[n++] = nrec;
		rec.n_rules++;
	}
	bl__recs_encode(recs, n, buf);
	v = (MDB_val){(size_t)n * BL__REC_SIZE, buf};
	if ((rc = mdb_put(t->w.txn, t->w.db->dbi_prules, &k, &v, 0)) != 0)
		return bl__writer_fail(&t->w, rc, "rule put");
	return put_raw(t, name, &rec);
}

int bl_profiles_rule_del(struct bl_profiles *t, const char *name, const char *rule, unsigned flags)
{
	uint8_t key[BL__PRULE_KEY_MAX], buf[BL__REC_MAX * BL__REC_SIZE];
	struct bl__rec recs[BL__REC_MAX];
	struct bl_profile_rec rec;
	int kl = rule_key(name, rule, key), n, m = 0, rc;
	MDB_val k, v;

	if (t->w.dead)
		return BL_ESTORE;
	if (kl < 0)
		return kl;
	k = (MDB_val){(size_t)kl, key};
	rc = mdb_get(t->w.txn, t->w.db->dbi_prules, &k, &v);
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "rule del");
	if ((n = bl__recs_decode(&v, recs)) < 0)
		return n;
	for (int i = 0; i < n; i++)
		if ((recs[i].flags & (BL_F_SUBTREE | BL_F_ALLOW)) !=
		    (flags & (BL_F_SUBTREE | BL_F_ALLOW)))
			recs[m++] = recs[i];
	if (m == n)
		return BL_ENOTFOUND;
	if (m == 0) {
		rc = mdb_del(t->w.txn, t->w.db->dbi_prules, &k, NULL);
	} else {
		bl__recs_encode(recs, m, buf);
		v = (MDB_val){(size_t)m * BL__REC_SIZE, buf};
		rc = mdb_put(t->w.txn, t->w.db->dbi_prules, &k, &v, 0);
	}
	if (rc != 0)
		return bl__writer_fail(&t->w, rc, "rule del");
	if ((rc = rec_or_new(t, name, &rec)) < 0 || (rc = local_change(t, &rec)) < 0)
		return rc;
	if (rec.n_rules > 0)
		rec.n_rules--;
	return put_raw(t, name, &rec);
}

int bl_profiles_mac_put(struct bl_profiles *t, const uint8_t mac[6], const char *profile)
{
	MDB_val k = {6, (void *)mac}, v = {profile ? strlen(profile) : 0, (void *)profile};
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	if (!bl_profile_name_valid(profile))
		return -EINVAL;
	rc = mdb_put(t->w.txn, t->w.db->dbi_macs, &k, &v, 0);
	return rc == 0 ? 0 : bl__writer_fail(&t->w, rc, "mac put");
}

int bl_profiles_mac_del(struct bl_profiles *t, const uint8_t mac[6])
{
	MDB_val k = {6, (void *)mac};
	int rc;

	if (t->w.dead)
		return BL_ESTORE;
	rc = mdb_del(t->w.txn, t->w.db->dbi_macs, &k, NULL);
	return rc == 0 ? 0 : bl__writer_fail(&t->w, rc, "mac del");
}

int bl_profiles_commit(struct bl_profiles *t)
{
	int rc = bl__writer_commit(&t->w);

	free(t);
	return rc;
}

void bl_profiles_abort(struct bl_profiles *t)
{
	if (!t)
		return;
	bl__writer_abort(&t->w);
	free(t);
}

/* The first record after `name` (of `*nlen` bytes; 0: from the start) into name/rec. Returns
 * 0, BL_ENOTFOUND at the end, or an error. A fresh search each time: deleting under a cursor
 * walk is what this avoids. */
static int next_rec(struct bl_db *db, MDB_txn *txn, char *name, size_t *nlen,
                    struct bl_profile_rec *rec)
{
	MDB_cursor *cur;
	MDB_val k = {*nlen, name}, v;
	int rc = mdb_cursor_open(txn, db->dbi_profiles, &cur);

	if (rc != 0)
		return bl__mdb_err(rc, "profiles walk");
	rc = mdb_cursor_get(cur, &k, &v, *nlen ? MDB_SET_RANGE : MDB_FIRST);
	if (rc == 0 && *nlen && k.mv_size == *nlen && memcmp(k.mv_data, name, *nlen) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	if (rc == 0 && k.mv_size >= BL_PROFILE_NAME_MAX)
		rc = BL_ECORRUPT;
	if (rc == 0) {
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		*nlen = k.mv_size;
		rc = bl_profile_rec_decode(v.mv_data, v.mv_size, rec);
	} else if (rc != BL_ECORRUPT) {
		rc = bl__mdb_err(rc, "profiles walk");
	}
	mdb_cursor_close(cur);
	return rc;
}

int bl_profiles_fleet_clear(struct bl_profiles *t)
{
	char name[BL_PROFILE_NAME_MAX];
	struct bl_profile_rec *rec = malloc(sizeof(*rec));
	size_t nlen = 0;
	int rc = 0;

	if (!rec)
		return -ENOMEM;
	if (!t->w.fleet)
		rc = -EINVAL;
	while (rc == 0 && (rc = next_rec(t->w.db, t->w.txn, name, &nlen, rec)) == 0) {
		if (rec->set & BL_PF_FLEET)
			rc = bl_profiles_del(t, name);
	}
	free(rec);
	return rc == BL_ENOTFOUND ? 0 : rc;
}

int bl__profiles_fleet_sum(struct bl_db *db, MDB_txn *txn, uint8_t sum[BL_SUBS_HASH_LEN])
{
	char name[BL_PROFILE_NAME_MAX];
	struct bl_profile_rec *rec;
	size_t nlen = 0;
	int rc;

	if (!db->has_profiles)
		return 0;
	if (!(rec = malloc(sizeof(*rec))))
		return -ENOMEM;
	while ((rc = next_rec(db, txn, name, &nlen, rec)) == 0) {
		if (rec->set & BL_PF_FLEET)
			bl__sum_digest(sum, rec->digest, true);
	}
	free(rec);
	return rc == BL_ENOTFOUND ? 0 : rc;
}
