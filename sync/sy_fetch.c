/*
 * HTTPS transfers with libcurl. The network is not trusted, so the transfer layer only has to
 * keep a hostile server from costing us much: HTTPS only (redirects too), peer and host
 * verification on, a byte cap enforced in the write callback (we never ask for compressed
 * transfer encoding, so received bytes are body bytes), connect, low-speed and total timeouts,
 * and an abort when SIGTERM is pending. CURLcode is translated here and nowhere else.
 */
#include "sy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOW_SPEED_BYTES 1024 /* a transfer slower than 1 KiB/s ... */
#define LOW_SPEED_SECS  10   /* ... for this long is abandoned */
#define CONNECT_SECS    10

struct xfer {
	struct sy_buf *buf;
	char *etag;
	size_t etaglen;
	bool too_big;
};

void sy__buf_free(struct sy_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct sy_buf *b = x->buf;
	size_t len = size * n;

	if (len > b->max - b->len) {
		x->too_big = true;
		return 0;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 64 * 1024;
		uint8_t *d;
		while (cap < b->len + len)
			cap *= 2;
		cap = cap > b->max ? b->max : cap;
		d = realloc(b->data, cap + 1);
		if (!d)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, v;

	if (!x->etag || len < 5 || strncasecmp(p, "etag:", 5) != 0)
		return len;
	for (v = 5; v < len && (p[v] == ' ' || p[v] == '\t'); v++)
		;
	while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	if (len - v < x->etaglen) {
		memcpy(x->etag, p + v, len - v);
		x->etag[len - v] = '\0';
	}
	return size * n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	return sy__stop_requested() ? 1 : 0;
}

CURL *sy__curl_new(void)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK) {
		curl_easy_cleanup(c);
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kidguard-sync/" KG_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	return c;
}

static int curl_err(CURLcode rc, const char *url, const char *detail)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_FILESIZE_EXCEEDED:
		return SY_ETOOBIG;
	case CURLE_ABORTED_BY_CALLBACK:
		return SY_ESTOP;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		log_warn("sync: %s: %s%s%s", url, curl_easy_strerror(rc), *detail ? ": " : "",
		         detail);
		return SY_EFETCH;
	}
}

static void set_transfer(struct sy_ctx *ctx, const char *url, uint64_t max, struct xfer *x,
                         struct curl_slist *hdrs, char *errbuf)
{
	CURL *c = ctx->curl;
	long t = ctx->o.timeout_s > 0 ? ctx->o.timeout_s : SY__DEFAULT_TIMEOUT;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CAINFO, ctx->o.ca_file[0] ? ctx->o.ca_file : NULL);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t < CONNECT_SECS ? t : (long)CONNECT_SECS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, t);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, t < LOW_SPEED_SECS ? t : (long)LOW_SPEED_SECS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
}

int sy__fetch(struct sy_ctx *ctx, const char *url, uint64_t max, const char *etag_in,
              bool *not_modified, char *etag_out, size_t etaglen, struct sy_buf *out)
{
	struct xfer x = {out, etag_out, etaglen, false};
	struct curl_slist *hdrs = NULL;
	char inm[300], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;

	out->len = 0;
	out->max = max > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)max;
	if (etag_out && etaglen)
		etag_out[0] = '\0';
	if (not_modified)
		*not_modified = false;
	if (etag_in && *etag_in && strlen(etag_in) < 256) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", etag_in);
		hdrs = curl_slist_append(NULL, inm);
		if (!hdrs)
			return -ENOMEM;
	}
	set_transfer(ctx, url, max, &x, hdrs, errbuf);
	cc = curl_easy_perform(ctx->curl);
	curl_easy_setopt(ctx->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (x.too_big)
		return SY_ETOOBIG;
	if (cc != CURLE_OK)
		return curl_err(cc, url, errbuf);
	curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 304 && not_modified) {
		*not_modified = true;
		return 0;
	}
	if (status != 200) {
		log_warn("sync: %s: HTTP status %ld", url, status);
		return SY_EFETCH;
	}
	return 0;
}

int sy__manifest_fetch(struct sy_ctx *ctx, uint64_t ours, bool *not_modified, char *etag,
                       struct sy_buf *b, char *err, size_t errlen)
{
	/* The ETag we remember names a manifest of a version; sent for any other, a 304 would
	 * confirm what the store does not hold. */
	int rc = sy__fetch(ctx, ctx->o.url, SY_MANIFEST_MAX,
	                   ctx->etag_version == ours ? ctx->etag : NULL, not_modified, etag,
	                   sizeof(ctx->etag), b);

	if (rc != 0)
		snprintf(err, errlen, "manifest: %s", kg_strerror(rc));
	return rc;
}

void sy__manifest_taken(struct sy_ctx *ctx, const struct sy_manifest *m, const char *etag)
{
	memcpy(ctx->etag, etag, sizeof(ctx->etag));
	ctx->etag_version = m->version;
	ctx->version = m->version;
}
