/*
 * Deltas: for each kept earlier version whose snapshot and signed manifest are still in
 * FEEDDIR, the rules to remove and to add to turn it into the new version. The old snapshot is
 * read back with the worker's own parser (sy_file_lines), so a delta is computed from exactly
 * what appliances hold. Lines are in key order; a rule whose categories changed is removed and
 * added again (a put ORs categories into an existing rule).
 */
#include "feed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct old {
	struct fset set;
	const struct sy_manifest *om; /* the old version's manifest */
	const struct sy_manifest *nm; /* the new one */
	int map[SY_CATEGORIES_MAX];   /* old category index -> new index, or 63 (gone) */
};

static int old_line(void *arg, const struct sy_line *l)
{
	struct old *o = arg;
	uint8_t key[BL_KEY_MAX];
	uint64_t cats = 0;
	int klen;

	for (int i = 0; i < o->om->n_categories; i++) {
		if (l->cat_index & (1ULL << i))
			cats |= 1ULL << o->map[i];
	}
	if (l->hashed)
		return fset_add(&o->set, l->hash, BL_HASH_LEN, l->flags, true, l->labels, cats);
	klen = bl_key_from_name(l->name, key, sizeof(key));
	return klen < 0 ? klen : fset_add(&o->set, key, (size_t)klen, l->flags, false, 0, cats);
}

static int read_old(struct pub *p, uint64_t v, const struct sy_manifest *om, struct old *o)
{
	char file[FEED_PATH_MAX];
	uint8_t *data;
	size_t len;
	int rc;

	o->om = om;
	o->nm = &p->m;
	for (int i = 0; i < om->n_categories; i++) {
		o->map[i] = 63; /* a bit no new category uses unless there are 64 of them */
		for (int j = 0; j < p->m.n_categories; j++) {
			if (strcmp(om->categories[i].name, p->m.categories[j].name) == 0)
				o->map[i] = j;
		}
	}
	feed_path(file, p, FF_SNAPSHOT, v, 0);
	if ((rc = feed_slurp(file, (size_t)1 << 32, &data, &len)) != 0)
		return rc;
	rc = sy_file_check(&om->snapshot, data, len);
	if (rc == 0)
		rc = sy_file_lines(om, &om->snapshot, false, data, len, UINT64_MAX, old_line, o);
	free(data);
	if (rc == 0)
		fset_finish(&o->set);
	return rc;
}

/* Merge the two sorted sets into delta lines. */
static int diff(struct pub *p, const struct fset *a, struct gzw *g)
{
	const struct fset *b = &p->set;
	size_t i = 0, j = 0;
	int rc = 0;

	while (rc == 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : fe_cmp(a, &a->v[i], b, &b->v[j]);
		if (c < 0) {
			rc = gzw_line(g, a, &a->v[i++], SY_OP_DEL, &p->m);
		} else if (c > 0) {
			rc = gzw_line(g, b, &b->v[j++], SY_OP_ADD, &p->m);
		} else if (a->v[i].cats != b->v[j].cats) {
			rc = gzw_line(g, a, &a->v[i++], SY_OP_DEL, &p->m);
			rc = rc ? rc : gzw_line(g, b, &b->v[j++], SY_OP_ADD, &p->m);
		} else {
			i++;
			j++;
		}
	}
	return rc;
}

static int one_delta(struct pub *p, uint64_t v)
{
	static struct sy_manifest om;
	struct old o;
	char file[FEED_PATH_MAX];
	struct gzw *g;
	int rc;

	memset(&o, 0, sizeof(o));
	feed_path(file, p, FF_MANIFEST_V, v, 0);
	if (feed_load_manifest(p, SY_PAYLOAD_TYPE, file, &om) != 0 || om.version != v ||
	    memcmp(om.hash_key, p->m.hash_key, SY_HASH_KEY_LEN) != 0)
		return 1; /* not usable (gone, other key, other hash key): no delta from v */
	if ((rc = read_old(p, v, &om, &o)) == 0 && (rc = feed_delta_open(p, v, &g)) == 0)
		rc = feed_delta_close(p, v, g, diff(p, &o.set, g));
	fset_free(&o.set);
	return rc;
}

static void delta_paths(const struct pub *p, uint64_t v, char *file, char *tmp)
{
	feed_path(file, p, FF_DELTA, v, p->m.version);
	snprintf(tmp, FEED_PATH_MAX + 8, "%s.tmp", file);
}

int feed_delta_open(const struct pub *p, uint64_t v, struct gzw **g)
{
	char file[FEED_PATH_MAX], tmp[FEED_PATH_MAX + 8];

	delta_paths(p, v, file, tmp);
	return gzw_open(g, tmp);
}

int feed_delta_close(struct pub *p, uint64_t v, struct gzw *g, int rc)
{
	struct sy_file *f = &p->m.deltas[p->m.n_deltas];
	char file[FEED_PATH_MAX], tmp[FEED_PATH_MAX + 8];

	delta_paths(p, v, file, tmp);
	memset(f, 0, sizeof(*f));
	rc = rc ? rc : gzw_close(g, f);
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	f->from = v;
	feed_name(f->url, FF_DELTA, v, p->m.version);
	if (rc == 0)
		p->m.n_deltas++;
	return rc;
}

int feed_write_deltas(struct pub *p)
{
	if (!p->have_prev)
		return 0;
	for (uint64_t v = p->prev.version; v > 0 && p->m.n_deltas < p->keep; v--) {
		int rc = one_delta(p, v);
		if (rc < 0)
			return rc;
		if (rc > 0 && v + (uint64_t)p->keep <= p->prev.version)
			break;
	}
	return 0;
}
