/*
 * The signed timestamp (TUF's timestamp role). A mirror that replays the current manifest, or
 * answers 304 for ever, can freeze an appliance on an old list while every HTTP exchange looks
 * fine; only something the publisher signs again and again can say "this manifest is still
 * the current one, as of time T". The publisher re-signs timestamp.json every few minutes
 * (kidguard-feed timestamp) and the appliance counts [sync] max_age from the newest T it has
 * verified, never from the time of a transfer.
 */
#include "sy_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53: the integers a double holds exactly */

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int parse_root(const cJSON *root, struct sy_timestamp *ts, char *err, size_t errlen)
{
	static const char *const known[] = {"format", "feed",    "version", "manifest_sha256",
	                                    "signed", "expires", NULL};
	const cJSON *feed = cJSON_GetObjectItemCaseSensitive(root, "feed");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "manifest_sha256");
	uint64_t fmt;

	if (!cJSON_IsObject(root) || !sy__keys_known(root, known))
		return fail(SY_EFORMAT, err, errlen, "timestamp: not an object of known keys");
	if (!sy__json_uint(root, "format", 1000, &fmt) || fmt != 1)
		return fail(SY_EFORMAT, err, errlen, "timestamp: format: not 1");
	if (!cJSON_IsString(feed) || !feed->valuestring[0] ||
	    strlen(feed->valuestring) >= sizeof(ts->feed))
		return fail(SY_EFORMAT, err, errlen, "timestamp: feed: missing or too long");
	memcpy(ts->feed, feed->valuestring, strlen(feed->valuestring) + 1);
	if (!sy__json_uint(root, "version", UINT32_MAX, &ts->version) || ts->version == 0)
		return fail(SY_EFORMAT, err, errlen, "timestamp: version: not 1..2^32-1");
	if (!cJSON_IsString(h) || sy__hex_decode(h->valuestring, strlen(h->valuestring),
	                                         ts->manifest_sha256, SY_SHA256_LEN) != 0)
		return fail(SY_EFORMAT, err, errlen,
		            "timestamp: manifest_sha256: not 64 hex digits");
	if (!sy__json_uint(root, "signed", UINT64_MAX, &ts->signed_at) ||
	    !sy__json_uint(root, "expires", UINT64_MAX, &ts->expires) ||
	    ts->expires <= ts->signed_at)
		return fail(SY_EFORMAT, err, errlen,
		            "timestamp: signed/expires: missing or expires <= signed");
	return 0;
}

int sy_timestamp_parse(const char *text, size_t len, struct sy_timestamp *ts, char *err,
                       size_t errlen)
{
	cJSON *root;
	int rc;

	if (len > SY_TIMESTAMP_MAX)
		return fail(SY_EFORMAT, err, errlen, "timestamp larger than %d bytes",
		            SY_TIMESTAMP_MAX);
	if (!(root = sy__json_parse(text, len)))
		return fail(SY_EFORMAT, err, errlen, "timestamp: not JSON");
	memset(ts, 0, sizeof(*ts));
	rc = parse_root(root, ts, err, errlen);
	cJSON_Delete(root);
	return rc;
}

int sy_timestamp_check(const struct sy_manifest *m, const uint8_t msha[SY_SHA256_LEN],
                       const struct sy_timestamp *ts, uint64_t newest, uint64_t now, char *err,
                       size_t errlen)
{
	unsigned long long v = ts->version, s = ts->signed_at, e = ts->expires;

	if (m->timestamp_ttl == 0)
		return fail(SY_ESTALE, err, errlen, "the manifest has no timestamp_ttl");
	if (strcmp(ts->feed, m->feed) != 0 || ts->version != m->version ||
	    CRYPTO_memcmp(ts->manifest_sha256, msha, SY_SHA256_LEN) != 0)
		return fail(SY_ESTALE, err, errlen,
		            "timestamp (feed %s version %llu) is not for the manifest served "
		            "(feed %s version %llu): refused",
		            ts->feed, v, m->feed, (unsigned long long)m->version);
	if (e - s > m->timestamp_ttl)
		return fail(SY_ESTALE, err, errlen,
		            "timestamp signed at %llu valid until %llu: longer than the "
		            "manifest's timestamp_ttl %llu s: refused",
		            s, e, (unsigned long long)m->timestamp_ttl);
	if (s < newest)
		return fail(SY_ESTALE, err, errlen,
		            "timestamp signed at %llu is older than one already seen (%llu): "
		            "replay refused",
		            s, (unsigned long long)newest);
	if (e <= now)
		return fail(SY_ESTALE, err, errlen,
		            "timestamp signed at %llu expired at %llu: refused (a frozen mirror, "
		            "or the publisher stopped re-signing)",
		            s, e);
	return 0;
}
