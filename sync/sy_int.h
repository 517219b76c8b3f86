/* Internals shared by the files of the sync module only. */
#ifndef SY_INT_H
#define SY_INT_H

#include "sy.h"

#include "bl.h"
#include "kg_addr.h"
#include "kg_log.h"

#include <curl/curl.h>

#define SY__DEFAULT_MAX_DOWNLOAD (512ULL << 20)
#define SY__DEFAULT_TIMEOUT      60

struct sy_ctx {
	struct sy_options o;
	uint8_t keys[8][SY_KEY_LEN];
	int nkeys;
	struct bl_db *db;
	bool own_db; /* else borrowed from the process's other channel */
	CURL *curl;
	char etag[256];          /* of the last manifest we verified, for If-None-Match */
	uint64_t etag_version;   /* the version that manifest carried */
	uint64_t version;        /* last applied or found current */
	uint64_t poll_start;     /* unix seconds, fixed once per poll (TUF: one start time) */
	struct sy_manifest *cur; /* the manifest behind `etag` (for a 304), or NULL */
	uint8_t cur_sha256[SY_SHA256_LEN]; /* of its payload, as the signed timestamp names it */
	/* What this poll verified about the signed timestamp, written with its status. */
	bool ts_set;        /* a manifest verified: write ts_signed and ts_ttl */
	uint64_t ts_signed; /* the newest signed time verified (or the store's, ts_ttl == 0) */
	uint64_t ts_ttl;    /* the manifest's timestamp_ttl */
	/* Key rollover: the store's announcements and the keys trusted this poll (pinned ones
	 * plus announced ones whose date came, less those dropped after key_grace). */
	struct bl_feed_key ann[BL_FEED_KEYS_MAX];
	int nann;
	uint8_t trusted[8 + BL_FEED_KEYS_MAX][SY_KEY_LEN];
	int ntrusted;
};

/* sy_keys.c: compute ctx->trusted for this poll (from the store's announcements). */
int sy__keys_load(struct sy_ctx *ctx);
/* Record the successor keys verified manifest `m` announces; `signer` is the trusted key that
 * verified it. Pending announcements it no longer lists are withdrawn. Own transaction; only
 * when something changed. */
int sy__keys_record(struct sy_ctx *ctx, const struct sy_manifest *m, const uint8_t *signer);

/* hex / base64 helpers (sy_sig.c). Decoders return SY_EFORMAT on any malformed input. */
int sy__hex_decode(const char *text, size_t tlen, uint8_t *out, size_t outlen);
void sy__hex_encode(const uint8_t *in, size_t len, char *out); /* out: 2 * len + 1 bytes */
long sy__b64_decode(const char *text, size_t tlen, uint8_t *out, size_t outlen);
int sy__ed25519_verify(const uint8_t key[SY_KEY_LEN], const uint8_t *msg, size_t len,
                       const uint8_t sig[64]);

/* cJSON parse of exactly `len` bytes: trailing bytes other than white space are an error. */
struct cJSON;
struct cJSON *sy__json_parse(const char *text, size_t len);
/* o[key] as a whole number 0..max (and within JSON's exact integers) into *out; false else.
 * One reading of numbers for the manifest and the timestamp (sy_manifest.c). */
bool sy__json_uint(const struct cJSON *o, const char *key, uint64_t max, uint64_t *out);

/* A growable byte buffer with a hard cap. */
struct sy_buf {
	uint8_t *data;
	size_t len, cap, max;
};
void sy__buf_free(struct sy_buf *b);

/*
 * HTTPS GET of `url` into `out` (at most `max` bytes, else SY_ETOOBIG), HTTPS only, with the
 * context's CA file and timeouts. `etag_in` (may be NULL) is sent as If-None-Match; a 304 sets
 * `*not_modified`. `etag_out` (may be NULL, `etaglen` bytes) receives the response's ETag.
 */
int sy__fetch(struct sy_ctx *ctx, const char *url, uint64_t max, const char *etag_in,
              bool *not_modified, char *etag_out, size_t etaglen, struct sy_buf *out);
/* The channel's manifest (ctx->o.url) into `b`, If-None-Match with the ETag remembered when it
 * names the version `ours` the store holds. `etag` (sizeof(ctx->etag) bytes) receives the
 * response's ETag; a 304 sets `*not_modified`. On failure the reason is in `err`. */
int sy__manifest_fetch(struct sy_ctx *ctx, uint64_t ours, bool *not_modified, char *etag,
                       struct sy_buf *b, char *err, size_t errlen);
/* Remember `m`, verified and applied (or already held), as the channel's current: its version
 * and the ETag (sizeof(ctx->etag) bytes) it came with. */
void sy__manifest_taken(struct sy_ctx *ctx, const struct sy_manifest *m, const char *etag);
/* libcurl handle with the fixed options. NULL on failure. */
CURL *sy__curl_new(void);

/*
 * Apply a verified file to the store in one write transaction: the snapshot (clear the feed,
 * refill) or a delta, plus categories, version, expiry and status. Gzip is inflated here and
 * the inflated bytes counted against f->raw_size and `max`. Any error aborts everything.
 */
int sy__apply(struct sy_ctx *ctx, const struct sy_manifest *m, const struct sy_file *f,
              const struct sy_buf *gz, bool delta);

/* Record a failed or unchanged attempt in the store meta (own transaction). */
int sy__record(struct sy_ctx *ctx, const char *err, bool confirmed_current);

/* The URL of file `name` of the channel: the manifest's directory plus `name` (borrowed). */
int sy__feed_url(const struct sy_ctx *ctx, const char *name, char *out, size_t len);

/* sy_ctx_new() on store `db` (borrowed, outlives the context) when not NULL: LMDB allows one
 * environment per file and process, so a second channel shares the first one's. */
int sy__ctx_new_db(const struct sy_options *o, struct bl_db *db, struct sy_ctx **out);

/* One poll of the subscriber channel (sy_subs.c): sy_poll_once() for SY_CHANNEL_SUBSCRIBERS. */
int sy__subs_poll(struct sy_ctx *ctx);

/* True once SIGTERM or SIGINT is pending in this process (they are blocked by sy_run). */
bool sy__stop_requested(void);

/* sy_manifest.c: true when `o` has no key outside `known` (NULL-terminated). The feed's
 * parsers are strict: an unknown key is a format error, not something to ignore. */
struct cJSON;
bool sy__keys_known(const struct cJSON *o, const char *const *known);
/* sy_manifest.c: the rule of both channels for a verified manifest `m`: refused when older
 * than the version `ours` holds (SY_EROLLBACK) or expired at `now` (SY_EEXPIRED), the reason
 * in `err`. Returns 0 when current. */
int sy__manifest_current(const struct sy_manifest *m, uint64_t ours, uint64_t now, char *err,
                         size_t errlen);

#endif
