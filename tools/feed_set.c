/*
 * Rule sets of the publisher and the gzip'd line files written from them. Rules sort in the
 * store's key order (clear names by NAMEKEY, then hashed ones by hash), so the worker applies a
 * snapshot with LMDB's append fast path.
 */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

int fset_add(struct fset *s, const uint8_t *key, size_t klen, unsigned flags, bool hashed,
             unsigned labels, uint64_t cats)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 65536;
		struct fe *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (s->alen + klen > s->acap) {
		size_t cap = s->acap ? s->acap * 2 : 1 << 20;
		uint8_t *a = realloc(s->arena, cap);
		if (!a || cap > UINT32_MAX)
			return -ENOMEM;
		s->arena = a;
		s->acap = cap;
	}
	memcpy(s->arena + s->alen, key, klen);
	s->v[s->n++] = (struct fe){(uint32_t)s->alen, (uint8_t)klen, (uint8_t)flags, hashed,
	                           (uint8_t)labels,   cats};
	s->alen += klen;
	return 0;
}

int fe_cmp(const struct fset *a, const struct fe *x, const struct fset *b, const struct fe *y)
{
	int c;

	if (x->hashed != y->hashed)
		return x->hashed - y->hashed;
	c = memcmp(a->arena + x->off, b->arena + y->off, x->klen < y->klen ? x->klen : y->klen);
	if (c == 0)
		c = (x->klen > y->klen) - (x->klen < y->klen);
	return c ? c : (int)x->flags - (int)y->flags;
}

static const struct fset *sort_set; /* qsort has no argument pointer */

static int cmp_sorted(const void *p, const void *q)
{
	return fe_cmp(sort_set, p, sort_set, q);
}

void fset_finish(struct fset *s)
{
	size_t m = 0;

	sort_set = s;
	qsort(s->v, s->n, sizeof(*s->v), cmp_sorted);
	for (size_t i = 0; i < s->n; i++) {
		if (m > 0 && fe_cmp(s, &s->v[m - 1], s, &s->v[i]) == 0)
			s->v[m - 1].cats |= s->v[i].cats;
		else
			s->v[m++] = s->v[i];
	}
	s->n = m;
}

void fset_free(struct fset *s)
{
	free(s->v);
	free(s->arena);
	memset(s, 0, sizeof(*s));
}

struct gzw {
	int fd;
	z_stream z;
	EVP_MD_CTX *md;
	uint64_t size, raw, entries;
	unsigned char out[65536];
};

int gzw_open(struct gzw **out, const char *path)
{
	struct gzw *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	g->md = EVP_MD_CTX_new();
	if (g->fd < 0 || !g->md || !EVP_DigestInit_ex(g->md, EVP_sha256(), NULL) ||
	    deflateInit2(&g->z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
		int e = g->fd < 0 ? -errno : -ENOMEM;
		if (g->fd >= 0)
			close(g->fd);
		EVP_MD_CTX_free(g->md);
		free(g);
		return e;
	}
	*out = g;
	return 0;
}

static int pump(struct gzw *g, int flush)
{
	int zr;

	do {
		size_t n;
		g->z.next_out = g->out;
		g->z.avail_out = sizeof(g->out);
		zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		n = sizeof(g->out) - g->z.avail_out;
		if (n &&
		    (write(g->fd, g->out, n) != (ssize_t)n || !EVP_DigestUpdate(g->md, g->out, n)))
			return -EIO;
		g->size += n;
	} while (g->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static int put(struct gzw *g, const char *p, size_t n)
{
	g->z.next_in = (unsigned char *)p;
	g->z.avail_in = (uInt)n;
	g->raw += n;
	return pump(g, Z_NO_FLUSH);
}

static size_t cats_text(const struct fe *e, const struct sy_manifest *m, char *p, size_t len)
{
	size_t o = 0;

	for (int i = 0; i < m->n_categories && o < len; i++) {
		if (e->cats & (1ULL << i)) {
			int w = snprintf(p + o, len - o, "%s\"%s\"", o ? "," : "",
			                 m->categories[i].name);
			o += w > 0 ? (size_t)w : 0;
		}
	}
	return o < len ? o : len - 1;
}

int gzw_line(struct gzw *g, const struct fset *s, const struct fe *e, int op,
             const struct sy_manifest *m)
{
	char line[SY_LINE_MAX], subj[300], cats[2600], hex[2 * BL_HASH_LEN + 1];
	const uint8_t *k = s->arena + e->off;
	int n;

	if (e->hashed) {
		for (int i = 0; i < BL_HASH_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", k[i]);
		snprintf(subj, sizeof(subj), "\"hash\":\"%s\",\"labels\":%u", hex, e->labels);
	} else {
		char name[BL_NAME_MAX];
		if (bl_key_to_name(k, e->klen, name, sizeof(name)) < 0)
			return -EINVAL;
		snprintf(subj, sizeof(subj), "\"name\":\"%s\"", name);
	}
	cats[0] = '\0';
	if (op != SY_OP_DEL && !(e->flags & BL_F_ALLOW))
		cats_text(e, m, cats, sizeof(cats));
	n = snprintf(line, sizeof(line), "{%s%s,\"subtree\":%s%s%s%s%s}\n",
	             op == SY_OP_ADD   ? "\"op\":\"add\","
	             : op == SY_OP_DEL ? "\"op\":\"del\","
	                               : "",
	             subj, (e->flags & BL_F_SUBTREE) ? "true" : "false",
	             (e->flags & BL_F_ALLOW) ? ",\"allow\":true" : "", cats[0] ? ",\"cats\":[" : "",
	             cats, cats[0] ? "]" : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		return -E2BIG;
	g->entries++;
	return put(g, line, (size_t)n);
}

int gzw_text(struct gzw *g, const char *line, size_t len)
{
	g->entries++;
	return put(g, line, len);
}

int gzw_close(struct gzw *g, struct sy_file *f)
{
	unsigned mdlen = 0;
	int rc = pump(g, Z_FINISH);

	if (rc == 0 && (!EVP_DigestFinal_ex(g->md, f->sha256, &mdlen) || fsync(g->fd) != 0))
		rc = -EIO;
	if (close(g->fd) != 0 && rc == 0)
		rc = -EIO;
	f->size = g->size;
	f->raw_size = g->raw;
	f->entries = g->entries;
	deflateEnd(&g->z);
	EVP_MD_CTX_free(g->md);
	free(g);
	return rc;
}
