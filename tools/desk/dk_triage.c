/*
 * Triage: which undecided names an operator should look at first.
 *
 * For the window of days [T-window+1, T] (T: the newest day any batch was for, or asked):
 *
 *   strength = sum of the noisy distinct-client counts over the window and over appliances
 *            + growth, the day T sum above the mean daily sum of the window's earlier days
 *              (0 when falling): a name children start to reach climbs before it is big
 *            + one per parent's "not blocked" report (all time) of the name or any name below
 *              it: a report is counted for its registrable domain (bl_name_registrable, the
 *              function the appliances' signal uses), so "a.b.example.com" and
 *              "c.example.com" make one candidate, "example.com", whose decision (a subtree
 *              rule) covers both; the names reported are kept for the reviewer to see
 *   score    = strength x harm, harm in 0..1 from the classifier (1 without a model)
 *
 * One pass over "signal" and one over "reports", both in name order, under one read
 * transaction (names point into the map, nothing is copied per key). The classifier runs only
 * while a candidate can still enter the top `limit`: candidates go strongest first, and since
 * harm <= 1 the walk stops once a strength is below the worst score kept. Accepted and
 * rejected names, and names snoozed until after `now`, are left out.
 */
#include "dk_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"

struct agg {
	const char *name; /* into the LMDB map: valid while the read transaction lives */
	size_t len;
	double strength, growth;
	uint32_t appliances, reports, first_day;
	size_t names_at, names_n; /* its reported names: struct reps v[names_at..+names_n] */
};

/* One name parents reported as not blocked, and the site (registrable domain) it counts for. */
struct rep {
	const char *site, *name; /* into the LMDB map; `site` is a tail of `name` */
	size_t site_len, len;
	uint32_t n, first_day;
};

struct reps {
	struct rep *v;
	size_t n, cap;
};

struct aggs {
	struct agg *v;
	size_t n, cap, sorted;
};

static int push(struct aggs *a, const struct agg *g)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 4096;
		struct agg *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = *g;
	return 0;
}

/* Per domain while reading "signal". */
struct group {
	struct agg g;
	double window_sum, today, earlier;
	bool in_window;
};

static int flush(struct aggs *a, struct group *cur, int window)
{
	double mean;

	if (!cur->g.name || !cur->in_window)
		return 0;
	mean = window > 1 ? cur->earlier / (window - 1) : cur->today;
	cur->g.growth = cur->today > mean ? cur->today - mean : 0;
	cur->g.strength = cur->window_sum + cur->g.growth;
	return push(a, &cur->g);
}

static void observe(struct group *cur, const MDB_val *v, uint32_t day, uint32_t last, int window)
{
	double sum;
	uint32_t n;

	if (day > last || last - day >= (uint32_t)window)
		return;
	dk__sig_value_get(v, &sum, &n);
	cur->in_window = true;
	cur->window_sum += sum;
	if (day == last)
		cur->today = sum;
	else
		cur->earlier += sum;
	if (n > cur->g.appliances)
		cur->g.appliances = n;
}

static int read_signal(struct dk_store *s, MDB_txn *txn, uint32_t last, int window, struct aggs *a)
{
	struct group cur = {0};
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->signal, &c);

	if (rc != 0)
		return dk__mdb_err(rc, "cursor");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		const uint8_t *key = k.mv_data;
		size_t len;
		uint32_t day;
		if (k.mv_size < 6)
			continue;
		len = k.mv_size - 5;
		day = dk__be32(key + len + 1);
		if (!cur.g.name || cur.g.len != len || memcmp(cur.g.name, key, len) != 0) {
			if ((rc = flush(a, &cur, window)) != 0)
				break;
			memset(&cur, 0, sizeof(cur));
			cur.g.name = (const char *)key;
			cur.g.len = len;
			cur.g.first_day = day; /* days sort ascending within a name */
		}
		observe(&cur, &v, day, last, window);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return rc < 0 ? rc : dk__mdb_err(rc, "read signal");
	return flush(a, &cur, window);
}

static int cmp_name(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static struct agg *find_sorted(struct aggs *a, const char *name, size_t len)
{
	size_t lo = 0, hi = a->sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_name(a->v[mid].name, a->v[mid].len, name, len);
		if (c == 0)
			return &a->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One site's reports (`r`: its names, `n` of them, adjacent in `all`): added to the site's
 * signal aggregate, or a new one. */
static int add_site(struct aggs *a, const struct reps *all, size_t at, size_t n)
{
	const struct rep *r = &all->v[at];
	struct agg *g, fresh = {0};
	uint32_t count = 0, first = UINT32_MAX;

	for (size_t i = 0; i < n; i++) {
		count += r[i].n;
		if (r[i].first_day < first)
			first = r[i].first_day;
	}
	g = find_sorted(a, r->site, r->site_len);
	if (!g) {
		fresh.name = r->site;
		fresh.len = r->site_len;
		fresh.first_day = first;
		if (push(a, &fresh) != 0)
			return -ENOMEM;
		g = &a->v[a->n - 1];
	}
	g->reports += count;
	g->strength += count;
	g->names_at = at;
	g->names_n = n;
	if (first < g->first_day)
		g->first_day = first;
	return 0;
}

static int by_site(const void *x, const void *y)
{
	const struct rep *a = x, *b = y;
	int c = cmp_name(a->site, a->site_len, b->site, b->site_len);

	return c ? c : cmp_name(a->name, a->len, b->name, b->len);
}

/* One reported name's "not blocked" reports; the key is NAME 0x00 sequence, so `name` is a
 * C string in the map and its registrable domain a tail of it. */
static int add_name(struct reps *rs, const char *name, size_t len, uint32_t n, uint32_t first)
{
	const char *site;

	if (n == 0) /* also the walk's first call, before any name (name NULL) */
		return 0;
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 256;
		struct rep *nv = realloc(rs->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		rs->v = nv;
		rs->cap = cap;
	}
	site = bl_name_registrable(name);
	if (!site) /* a public suffix itself: the name stands alone */
		site = name;
	rs->v[rs->n++] = (struct rep){.site = site,
	                              .site_len = len - (size_t)(site - name),
	                              .name = name,
	                              .len = len,
	                              .n = n,
	                              .first_day = first};
	return 0;
}

static int read_reports(struct dk_store *s, MDB_txn *txn, struct aggs *a, struct reps *rs)
{
	const char *name = NULL;
	size_t len = 0;
	uint32_t n = 0, first = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->reports, &c);

	if (rc != 0)
		return dk__mdb_err(rc, "cursor");
	a->sorted = a->n;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		const uint8_t *val = v.mv_data;
		size_t l;
		if (k.mv_size < 10 || v.mv_size < 16)
			continue;
		l = k.mv_size - 9;
		if (!name || l != len || memcmp(name, k.mv_data, l) != 0) {
			if ((rc = add_name(rs, name, len, n, first)) != 0)
				break;
			name = k.mv_data;
			len = l;
			n = 0;
			first = UINT32_MAX;
		}
		if (val[1] == DK_REPORT_NOT_BLOCKED) {
			uint64_t t = 0;
			for (int i = 7; i >= 0; i--)
				t = t << 8 | val[8 + i];
			n++;
			if (t / 86400 < first)
				first = (uint32_t)(t / 86400);
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return rc < 0 ? rc : dk__mdb_err(rc, "read reports");
	if ((rc = add_name(rs, name, len, n, first)) != 0)
		return rc;
	/* names of one site side by side, then one aggregate per site */
	if (rs->n > 1)
		qsort(rs->v, rs->n, sizeof(*rs->v), by_site);
	for (size_t i = 0, j; i < rs->n && rc == 0; i = j) {
		for (j = i + 1; j < rs->n && cmp_name(rs->v[j].site, rs->v[j].site_len,
		                                      rs->v[i].site, rs->v[i].site_len) == 0;
		     j++)
			;
		rc = add_site(a, rs, i, j - i);
	}
	return rc;
}

static int by_strength(const void *x, const void *y)
{
	const struct agg *a = x, *b = y;

	return (a->strength < b->strength) - (a->strength > b->strength);
}

static bool decided(struct dk_store *s, MDB_txn *txn, const char *name, uint64_t now)
{
	struct dk_decision d;

	if (dk__decision_get(s, txn, name, &d) != 0)
		return false;
	return d.state == DK_ACCEPTED || d.state == DK_REJECTED ||
	       (d.state == DK_SNOOZED && d.until > now);
}

/* Insert `c` into `out` (sorted by score, best first, `*n` of `max` used). */
static void keep(struct dk_cand *out, size_t *n, size_t max, const struct dk_cand *c)
{
	size_t i = *n < max ? (*n)++ : max - 1;

	while (i > 0 && out[i - 1].score < c->score) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = *c;
}

/* The names reported under candidate `g` into `c` (the first DK_CAND_NAMES, in name order). */
static void reported_names(const struct agg *g, const struct reps *rs, struct dk_cand *c)
{
	c->n_names = (uint32_t)g->names_n;
	for (size_t i = 0; i < g->names_n && i < DK_CAND_NAMES; i++) {
		const struct rep *r = &rs->v[g->names_at + i];
		if (r->len < DK_DOMAIN_MAX)
			memcpy(c->names[i], r->name, r->len);
	}
}

static int rank(struct dk_store *s, MDB_txn *txn, const struct dk_triage_opts *o, struct aggs *a,
                const struct reps *rs, struct dk_cand *out, size_t *n)
{
	size_t max = *n, used = 0;
	struct dk_cand *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (a->n > 1) /* a->v is NULL when empty: qsort must not see it */
		qsort(a->v, a->n, sizeof(*a->v), by_strength);
	for (size_t i = 0; i < a->n; i++) {
		const struct agg *g = &a->v[i];
		if (used == max && g->strength <= out[max - 1].score)
			break; /* harm <= 1: nothing further can enter */
		if (g->len >= DK_DOMAIN_MAX)
			continue;
		memset(c, 0, sizeof(*c));
		memcpy(c->domain, g->name, g->len);
		if (decided(s, txn, c->domain, o->now))
			continue;
		c->harm = 1.0;
		if (o->harm && o->harm(o->harm_arg, c->domain, c->category, sizeof(c->category),
		                       &c->prob, &c->harm) != 0) {
			c->harm = 1.0;
			c->category[0] = '\0';
		}
		c->strength = g->strength;
		c->growth = g->growth;
		c->score = g->strength * c->harm;
		c->appliances = g->appliances;
		c->reports = g->reports;
		c->first_day = g->first_day;
		reported_names(g, rs, c);
		if (used < max || c->score > out[max - 1].score)
			keep(out, &used, max, c);
	}
	free(c);
	*n = used;
	return 0;
}

int dk_triage(struct dk_store *s, const struct dk_triage_opts *o, struct dk_cand *out, size_t *n,
              uint32_t *day)
{
	struct aggs a = {0};
	struct reps rs = {0};
	MDB_txn *txn;
	uint32_t last;
	int rc;

	if (o->window < 1 || o->window > 365 || *n < 1)
		return -EINVAL;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return dk__mdb_err(rc, "begin");
	last = o->day ? o->day : dk__newest_day(s, txn);
	rc = read_signal(s, txn, last, o->window, &a);
	if (rc == 0)
		rc = read_reports(s, txn, &a, &rs);
	if (rc == 0)
		rc = rank(s, txn, o, &a, &rs, out, n);
	mdb_txn_abort(txn);
	free(a.v);
	free(rs.v);
	if (rc == 0 && day)
		*day = last;
	return rc;
}
