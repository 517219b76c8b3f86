/*
 * A feed file's bytes to parsed lines, shared by the worker (apply), the publisher's tool
 * (verify, and reading back old snapshots for deltas) and the fuzz targets. The inflated bytes
 * are counted here against the signed raw size and the caller's cap: zlib (and libcurl before
 * 8.20) bounds nothing for us, and a small gzip file can inflate a thousandfold.
 */
#include "sy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define CHUNK (64 * 1024)

struct lines {
	const struct sy_manifest *m;
	bool delta;
	sy_line_cb cb;
	sy_raw_cb raw; /* instead of parsing feed lines */
	void *arg;
	uint64_t n;
	size_t llen;
	char line[SY_LINE_MAX + 1];
};

int sy_file_check(const struct sy_file *f, const uint8_t *data, size_t len)
{
	uint8_t md[SY_SHA256_LEN];

	if (len != f->size)
		return SY_EHASH;
	if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL))
		return -ENOMEM;
	return CRYPTO_memcmp(md, f->sha256, SY_SHA256_LEN) == 0 ? 0 : SY_EHASH;
}

static int one_line(struct lines *l)
{
	struct sy_line pl;
	int rc;

	if (l->raw) {
		l->n++;
		return l->raw(l->arg, l->line, l->llen);
	}
	rc = sy_line_parse(l->m, l->delta, l->line, l->llen, &pl);
	if (rc != 0) {
		log_warn("feed: line %llu: malformed", (unsigned long long)l->n + 1);
		return rc;
	}
	l->n++;
	return l->cb(l->arg, &pl);
}

/* Split inflated bytes into lines. Every line ends with '\n'; none is empty or too long. */
static int split(struct lines *l, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		int rc;
		if (seg > SY_LINE_MAX - l->llen)
			return SY_EFORMAT;
		memcpy(l->line + l->llen, p, seg);
		l->llen += seg;
		if (!nl)
			return 0;
		if ((rc = one_line(l)) != 0)
			return rc;
		l->llen = 0;
		p += seg + 1;
		n -= seg + 1;
	}
	return 0;
}

static int inflate_all(struct lines *l, z_stream *z, unsigned char *out, uint64_t raw_size,
                       uint64_t cap)
{
	uint64_t raw = 0;
	int zr = Z_OK, rc = 0;

	while (rc == 0 && zr != Z_STREAM_END) {
		size_t got;
		z->next_out = out;
		z->avail_out = CHUNK;
		zr = inflate(z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END)
			return SY_EFORMAT; /* corrupt or truncated */
		got = CHUNK - z->avail_out;
		raw += got;
		if (raw > cap)
			return raw > raw_size ? SY_EFORMAT : SY_ETOOBIG;
		rc = split(l, (const char *)out, got);
	}
	if (rc == 0 && (z->avail_in != 0 || l->llen != 0 || raw != raw_size))
		rc = SY_EFORMAT;
	return rc;
}

static int file_lines(const struct sy_manifest *m, const struct sy_file *f, bool delta,
                      const uint8_t *data, size_t len, uint64_t max_raw, sy_line_cb cb,
                      sy_raw_cb raw, void *arg)
{
	struct lines *l = calloc(1, sizeof(*l));
	unsigned char *out = malloc(CHUNK);
	uint64_t cap = f->raw_size < max_raw ? f->raw_size : max_raw;
	z_stream z;
	int rc = -ENOMEM;

	memset(&z, 0, sizeof(z));
	if (!l || !out || len > UINT_MAX || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		goto out;
	rc = f->raw_size > max_raw ? SY_ETOOBIG : 0;
	l->m = m;
	l->delta = delta;
	l->cb = cb;
	l->raw = raw;
	l->arg = arg;
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)len;
	if (rc == 0)
		rc = inflate_all(l, &z, out, f->raw_size, cap);
	if (rc == 0 && l->n != f->entries)
		rc = SY_EFORMAT;
	inflateEnd(&z);
out:
	free(out);
	free(l);
	return rc;
}

int sy_file_lines(const struct sy_manifest *m, const struct sy_file *f, bool delta,
                  const uint8_t *data, size_t len, uint64_t max_raw, sy_line_cb cb, void *arg)
{
	return file_lines(m, f, delta, data, len, max_raw, cb, NULL, arg);
}

int sy_file_raw_lines(const struct sy_file *f, const uint8_t *data, size_t len, uint64_t max_raw,
                      sy_raw_cb cb, void *arg)
{
	return file_lines(NULL, f, false, data, len, max_raw, NULL, cb, arg);
}
