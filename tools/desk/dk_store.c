/*
 * The desk store: what the intake received and what the operators decided.
 *
 * KEY-SPACE. One LMDB environment in the store directory (data.mdb, lock.mdb), opened with
 * MDB_NOSYNC: the intake commits a batch per request without an fsync (a power cut loses the
 * last seconds of noisy counts, which the next day's batches outweigh), kidguard-desk serve
 * calls dk_store_sync() every few seconds, and a decision is synced before it returns (an
 * operator's accept must not be lost). Named databases:
 *
 *   "signal"    key: DOMAIN 0x00 u32 BE day      value: f64 sum of noisy counts, u32 LE number
 *                                                 of batches (appliances) that named it that
 *                                                 day, u32 zero              (16 bytes)
 *   "reports"   key: DOMAIN 0x00 u64 BE sequence value: u8 format(1) u8 kind(1 wrong_block,
 *                                                 2 not_blocked) 6 zero, u64 LE received (unix
 *                                                 s), u64 LE feed version, category[128],
 *                                                 software[32] (NUL-padded text)  (184 bytes)
 *   "batches"   key: SHA-256 of the request body value: u32 LE day   (a replay is refused)
 *   "decisions" key: DOMAIN                      value: u8 format(1) u8 state (1 accepted,
 *                                                 2 rejected, 3 snoozed) 6 zero, u64 LE time,
 *                                                 u64 LE snoozed until, category[32],
 *                                                 operator[64]                    (120 bytes)
 *   "audit"     key: u64 BE sequence             value: one text line, no NUL: "TIME ACTION
 *                                                 DOMAIN [category=C] [until=T] operator=WHO"
 *   "meta"      "format"      u32 LE, 1
 *               "newest_day"  u32 LE, the newest day of any batch (triage's default day)
 *               "report_seq"  u64 LE, the last report sequence number
 *
 * DOMAIN is the normalised text name (dk_name_check), so keys sort by name and one domain's
 * entries are adjacent: triage reads "signal" and "reports" once each, in order.
 * Nothing here identifies an appliance or a client: a batch carries none (dk_intake.c), and the
 * desk does not store the address a request came from.
 */
#include "dk_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kg_log.h"

#define STORE_FORMAT     1
#define MAP_SIZE         (8ULL << 30) /* sparse: only pages in use take disk */
#define REPORT_VAL_LEN   184
#define DECISION_VAL_LEN 120

int dk__mdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		log_err("desk: %s: the store is full (map size reached)", what);
		return -ENOSPC;
	default:
		if (rc > 0 && rc < 1000)
			return -rc;
		log_err("desk: %s: %s", what, mdb_strerror(rc));
		return -EIO;
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

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

uint32_t dk__be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint64_t dk__be64(const uint8_t *p)
{
	return (uint64_t)dk__be32(p) << 32 | dk__be32(p + 4);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

size_t dk__sig_key(const char *domain, uint32_t day, uint8_t *key)
{
	size_t n = strlen(domain);

	memcpy(key, domain, n);
	key[n] = 0;
	key[n + 1] = (uint8_t)(day >> 24);
	key[n + 2] = (uint8_t)(day >> 16);
	key[n + 3] = (uint8_t)(day >> 8);
	key[n + 4] = (uint8_t)day;
	return n + 5;
}

void dk__sig_value_get(const MDB_val *v, double *sum, uint32_t *appliances)
{
	*sum = 0;
	*appliances = 0;
	if (v->mv_size == DK__SIG_VALUE_LEN) {
		memcpy(sum, v->mv_data, sizeof(*sum));
		*appliances = get_le32((const uint8_t *)v->mv_data + 8);
	}
}

static int open_dbs(struct dk_store *s, MDB_txn *txn)
{
	unsigned f = s->readonly ? 0 : MDB_CREATE;
	int rc;

	if ((rc = mdb_dbi_open(txn, "signal", f, &s->signal)) != 0 ||
	    (rc = mdb_dbi_open(txn, "reports", f, &s->reports)) != 0 ||
	    (rc = mdb_dbi_open(txn, "batches", f, &s->batches)) != 0 ||
	    (rc = mdb_dbi_open(txn, "decisions", f, &s->decisions)) != 0 ||
	    (rc = mdb_dbi_open(txn, "audit", f, &s->audit)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", f, &s->meta)) != 0)
		return dk__mdb_err(rc, "open databases");
	return 0;
}

static int check_format(struct dk_store *s, MDB_txn *txn)
{
	MDB_val k = {6, "format"}, v;
	uint8_t buf[4];
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == MDB_NOTFOUND && !s->readonly) {
		put_le32(buf, STORE_FORMAT);
		v.mv_size = 4;
		v.mv_data = buf;
		return dk__mdb_err(mdb_put(txn, s->meta, &k, &v, 0), "write format");
	}
	if (rc != 0)
		return dk__mdb_err(rc, "read format");
	if (v.mv_size != 4 || get_le32(v.mv_data) != STORE_FORMAT) {
		log_err("desk: the store has format %u, this kidguard-desk reads %d",
		        v.mv_size == 4 ? get_le32(v.mv_data) : 0, STORE_FORMAT);
		return -EPROTO;
	}
	return 0;
}

static int open_env(struct dk_store *s, const char *dir)
{
	unsigned flags = MDB_NOTLS | MDB_NOSYNC | (s->readonly ? MDB_RDONLY : 0);
	MDB_txn *txn;
	int rc;

	if (!s->readonly && mkdir(dir, 0750) != 0 && errno != EEXIST)
		return -errno;
	if ((rc = mdb_env_create(&s->env)) != 0 || (rc = mdb_env_set_maxdbs(s->env, 8)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, MAP_SIZE)) != 0 ||
	    (rc = mdb_env_open(s->env, dir, flags, 0640)) != 0)
		return dk__mdb_err(rc, dir);
	if ((rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	if ((rc = open_dbs(s, txn)) != 0 || (rc = check_format(s, txn)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return dk__mdb_err(mdb_txn_commit(txn), "commit");
}

int dk_store_open(const char *dir, bool readonly, struct dk_store **out)
{
	struct dk_store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->readonly = readonly;
	if ((rc = open_env(s, dir)) != 0) {
		dk_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void dk_store_close(struct dk_store *s)
{
	if (!s)
		return;
	if (s->env) {
		if (!s->readonly)
			mdb_env_sync(s->env, 1);
		mdb_env_close(s->env);
	}
	free(s);
}

int dk_store_sync(struct dk_store *s)
{
	return s->readonly ? 0 : dk__mdb_err(mdb_env_sync(s->env, 1), "sync");
}

int dk_store_size(struct dk_store *s, uint64_t *bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if ((rc = mdb_env_info(s->env, &info)) != 0 || (rc = mdb_env_stat(s->env, &st)) != 0)
		return dk__mdb_err(rc, "stat");
	*bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

static int get_u(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v, size_t width)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc = mdb_get(txn, dbi, &k, &d);

	*v = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return dk__mdb_err(rc, name);
	if (d.mv_size == width)
		*v = width == 4 ? get_le32(d.mv_data) : get_le64(d.mv_data);
	return 0;
}

static int put_u(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v, size_t width)
{
	uint8_t buf[8];
	MDB_val k = {strlen(name), (void *)name}, d = {width, buf};

	if (width == 4)
		put_le32(buf, (uint32_t)v);
	else
		put_le64(buf, v);
	return dk__mdb_err(mdb_put(txn, dbi, &k, &d, 0), name);
}

uint32_t dk__newest_day(struct dk_store *s, MDB_txn *txn)
{
	uint64_t v = 0;

	get_u(txn, s->meta, "newest_day", &v, 4);
	return (uint32_t)v;
}

static int add_obs(struct dk_store *s, MDB_txn *txn, const struct dk_obs *o, uint32_t day)
{
	uint8_t key[DK_DOMAIN_MAX + 5], val[DK__SIG_VALUE_LEN] = {0};
	MDB_val k = {dk__sig_key(o->domain, day, key), key}, v;
	double sum = 0;
	uint32_t n = 0;
	int rc = mdb_get(txn, s->signal, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return dk__mdb_err(rc, "read signal");
	if (rc == 0)
		dk__sig_value_get(&v, &sum, &n);
	sum += o->count;
	memcpy(val, &sum, sizeof(sum));
	put_le32(val + 8, n + 1);
	v.mv_size = sizeof(val);
	v.mv_data = val;
	return dk__mdb_err(mdb_put(txn, s->signal, &k, &v, 0), "write signal");
}

int dk_store_add_batch(struct dk_store *s, const struct dk_batch *b,
                       const uint8_t digest[DK_SHA256_LEN])
{
	uint8_t dayv[4];
	MDB_val k = {DK_SHA256_LEN, (void *)digest}, v = {4, dayv};
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	put_le32(dayv, b->day);
	rc = dk__mdb_err(mdb_put(txn, s->batches, &k, &v, MDB_NOOVERWRITE), "write batch");
	for (size_t i = 0; rc == 0 && i < b->n; i++)
		rc = add_obs(s, txn, &b->obs[i], b->day);
	if (rc == 0 && b->day > dk__newest_day(s, txn))
		rc = put_u(txn, s->meta, "newest_day", b->day, 4);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return dk__mdb_err(mdb_txn_commit(txn), "commit batch");
}

int dk_store_add_report(struct dk_store *s, const struct dk_report *r, uint64_t now)
{
	uint8_t key[DK_DOMAIN_MAX + 9], val[REPORT_VAL_LEN] = {0};
	size_t n = strlen(r->domain);
	MDB_val k = {n + 9, key}, v = {sizeof(val), val};
	uint64_t seq;
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	if ((rc = get_u(txn, s->meta, "report_seq", &seq, 8)) == 0)
		rc = put_u(txn, s->meta, "report_seq", ++seq, 8);
	memcpy(key, r->domain, n);
	key[n] = 0;
	put_be64(key + n + 1, seq);
	val[0] = 1;
	val[1] = r->kind;
	put_le64(val + 8, now);
	put_le64(val + 16, r->feed_version);
	memcpy(val + 24, r->category, strnlen(r->category, DK_REPORT_CAT_MAX - 1));
	memcpy(val + 152, r->software, strnlen(r->software, DK_SOFTWARE_MAX - 1));
	if (rc == 0)
		rc = dk__mdb_err(mdb_put(txn, s->reports, &k, &v, 0), "write report");
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return dk__mdb_err(mdb_txn_commit(txn), "commit report");
}

/* One transaction's worth of pruning `dbi`: entries whose day (`day_of`) is before `before`.
 * `*done` is set when the database has been walked to its end. */
static int prune_some(struct dk_store *s, MDB_dbi dbi, uint32_t before,
                      uint32_t (*day_of)(const MDB_val *k, const MDB_val *v), uint64_t *removed,
                      bool *done)
{
	uint64_t n = 0;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		mdb_txn_abort(txn);
		return dk__mdb_err(rc, "cursor");
	}
	while (n < DK_PRUNE_TXN && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		if (day_of(&k, &v) >= before)
			continue;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	*done = rc == MDB_NOTFOUND;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return dk__mdb_err(rc, "prune");
	}
	if ((rc = dk__mdb_err(mdb_txn_commit(txn), "commit prune")) == 0 && removed)
		*removed += n;
	return rc;
}

static uint32_t signal_day(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size > 5 ? dk__be32((const uint8_t *)k->mv_data + k->mv_size - 4) : 0;
}

static uint32_t batch_day(const MDB_val *k, const MDB_val *v)
{
	return v->mv_size == 4 ? get_le32(v->mv_data) : 0;
}

int dk_store_prune(struct dk_store *s, uint32_t before, uint64_t *removed)
{
	bool done = false;
	int rc = 0;

	if (removed)
		*removed = 0;
	/* Walked again from the start after each transaction: kept entries are skipped fast. */
	while (rc == 0 && !done)
		rc = prune_some(s, s->signal, before, signal_day, removed, &done);
	done = false;
	while (rc == 0 && !done)
		rc = prune_some(s, s->batches, before, batch_day, removed, &done);
	return rc == 0 ? dk_store_sync(s) : rc;
}

static const char *action_name(uint8_t state)
{
	switch (state) {
	case DK_ACCEPTED:
		return "accept";
	case DK_REJECTED:
		return "reject";
	case DK_SNOOZED:
		return "snooze";
	default:
		return "undo";
	}
}

static void audit_line(const char *domain, const struct dk_decision *d, char *out, size_t len)
{
	time_t t = (time_t)d->time, u = (time_t)d->until;
	char when[32], until[40] = "", cat[48] = "";
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (d->state == DK_SNOOZED) {
		strftime(until, sizeof(until), " until=%Y-%m-%dT%H:%M:%SZ", gmtime_r(&u, &tm));
	}
	if (d->state == DK_ACCEPTED)
		snprintf(cat, sizeof(cat), " category=%s", d->category);
	snprintf(out, len, "%s %s %s%s%s operator=%s", when, action_name(d->state), domain, cat,
	         until, d->operator_name);
}

static int append_audit(struct dk_store *s, MDB_txn *txn, const char *line)
{
	uint8_t key[8];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t seq = 1;
	int rc = mdb_cursor_open(txn, s->audit, &c);

	if (rc != 0)
		return dk__mdb_err(rc, "audit cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		seq = dk__be64(k.mv_data) + 1;
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return dk__mdb_err(rc, "audit last");
	put_be64(key, seq);
	k.mv_size = 8;
	k.mv_data = key;
	v.mv_size = strlen(line);
	v.mv_data = (void *)line;
	return dk__mdb_err(mdb_put(txn, s->audit, &k, &v, MDB_APPEND), "write audit");
}

int dk_store_decide(struct dk_store *s, const char *domain, const struct dk_decision *d)
{
	uint8_t val[DECISION_VAL_LEN] = {0};
	MDB_val k = {strlen(domain), (void *)domain}, v = {sizeof(val), val};
	char line[512];
	MDB_txn *txn;
	int rc;

	val[0] = 1;
	val[1] = d->state;
	put_le64(val + 8, d->time);
	put_le64(val + 16, d->until);
	memcpy(val + 24, d->category, strnlen(d->category, DK_CATEGORY_MAX - 1));
	memcpy(val + 56, d->operator_name, strnlen(d->operator_name, DK_OPERATOR_MAX - 1));
	audit_line(domain, d, line, sizeof(line));
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	if (d->state == DK_NONE) {
		rc = mdb_del(txn, s->decisions, &k, NULL);
		rc = dk__mdb_err(rc == MDB_NOTFOUND ? 0 : rc, "delete decision");
	} else {
		rc = dk__mdb_err(mdb_put(txn, s->decisions, &k, &v, 0), "write decision");
	}
	if (rc == 0)
		rc = append_audit(s, txn, line);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((rc = dk__mdb_err(mdb_txn_commit(txn), "commit decision")) != 0)
		return rc;
	return dk_store_sync(s);
}

static void decision_decode(const MDB_val *v, struct dk_decision *out)
{
	const uint8_t *p = v->mv_data;

	memset(out, 0, sizeof(*out));
	if (v->mv_size != DECISION_VAL_LEN || p[0] != 1)
		return;
	out->state = p[1];
	out->time = get_le64(p + 8);
	out->until = get_le64(p + 16);
	memcpy(out->category, p + 24, DK_CATEGORY_MAX - 1);
	memcpy(out->operator_name, p + 56, DK_OPERATOR_MAX - 1);
}

int dk__decision_get(struct dk_store *s, MDB_txn *txn, const char *domain, struct dk_decision *out)
{
	MDB_val k = {strlen(domain), (void *)domain}, v;
	int rc = mdb_get(txn, s->decisions, &k, &v);

	if (rc != 0)
		return dk__mdb_err(rc, "read decision");
	decision_decode(&v, out);
	return 0;
}

int dk_store_decision(struct dk_store *s, const char *domain, struct dk_decision *out)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return dk__mdb_err(rc, "begin");
	rc = dk__decision_get(s, txn, domain, out);
	mdb_txn_abort(txn);
	return rc;
}

int dk_store_audit(struct dk_store *s, int (*cb)(void *arg, const char *line), void *arg)
{
	char line[512];
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return dk__mdb_err(rc, "begin");
	if ((rc = mdb_cursor_open(txn, s->audit, &c)) != 0) {
		mdb_txn_abort(txn);
		return dk__mdb_err(rc, "cursor");
	}
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		size_t n = v.mv_size < sizeof(line) - 1 ? v.mv_size : sizeof(line) - 1;
		memcpy(line, v.mv_data, n);
		line[n] = '\0';
		if ((rc = cb(arg, line)) != 0)
			break;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int dk_store_accepted(struct dk_store *s,
                      int (*cb)(void *arg, const char *domain, const char *category), void *arg)
{
	char name[DK_DOMAIN_MAX];
	struct dk_decision d;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return dk__mdb_err(rc, "begin");
	if ((rc = mdb_cursor_open(txn, s->decisions, &c)) != 0) {
		mdb_txn_abort(txn);
		return dk__mdb_err(rc, "cursor");
	}
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		decision_decode(&v, &d);
		if (d.state != DK_ACCEPTED || k.mv_size >= sizeof(name))
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if ((rc = cb(arg, name, d.category)) != 0)
			break;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
