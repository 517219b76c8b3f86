/*
 * sy: the sync worker for the signed national feed, and the feed format it shares with the
 * publisher's tool (kidguard-feed) and the fuzz targets. The format is described in
 * docs/feed-format.md.
 *
 * The worker runs in its own process (`kidguard --sync-worker`), is the only writer of feed
 * entries, and never trusts the network: a manifest counts only when a pinned Ed25519 key
 * signed its exact bytes, a file only when its size and SHA-256 match the signed manifest, and
 * a version only when it is newer than the store's and not expired; freshness comes only from
 * a signed timestamp (when the feed publishes them), never from the time of a transfer. A file
 * is applied in ONE write transaction together with the new version and status, so readers
 * switch at commit and a failure anywhere leaves the last good list serving.
 *
 * Error model: 0 is success, negative is an error: one of the SY_E* codes below, a BL_E* code
 * from the store, or -errno. kg_strerror() (common/kg_err.h) names all of them.
 */
#ifndef SY_H
#define SY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bl.h"

/* Error codes: SY_E* (-4101..-4200) are defined in kg_err.h, named by kg_strerror(). */
#include "kg_err.h"

/* ---- The worker ------------------------------------------------------------------------- */

/* The channels one sync process polls: the national feed and the ISP's subscriber table
 * (docs/feed-format.md, "The subscriber channel"). Same envelope, manifest, snapshots and
 * deltas; each has its own URL, keys, interval and status. */
enum sy_channel { SY_CHANNEL_FEED = 0, SY_CHANNEL_SUBSCRIBERS = 1 };

struct sy_options {
	char url[1024];           /* https://.../manifest.json */
	char public_keys[8][128]; /* base64 or hex Ed25519 public keys, as keygen prints them */
	int n_public_keys;
	int interval_s;              /* poll period; jitter ±10% */
	char ca_file[512];           /* "" = system CAs */
	char state_dir[512];         /* the LMDB store directory */
	uint64_t max_download_bytes; /* cap on any file, after decompression too; 0 = 512 MiB */
	int timeout_s;               /* per transfer; 0 = 60 */
	enum sy_channel channel;     /* what the URL serves (default: the feed) */
	int key_grace_s; /* a key that announced a successor is trusted this long after the
	                  * successor's date ([sync] key_grace) */
	/* The subscriber channel: the config's profile names, the templates a household may
	 * name (space-separated); "" = not checked (kidguard-sync-once without --profiles). */
	char templates[32 * 33];
	/* Tests only (kidguard-sync-once --now): the poll's clock, unix seconds; 0 = real time.
	 * Lets a test cross a key's date and grace period without waiting for them. */
	uint64_t fake_now;
};

struct sy_ctx;

/*
 * Parse the `public_keys` config value (a comma and/or space list, at most 8) into
 * o->public_keys and o->n_public_keys; each key is checked (32 bytes as base64 or hex).
 * `text` borrowed; `err` (borrowed, `errlen` bytes) receives a message on failure.
 * Returns 0 or -1; `o` is untouched on failure.
 */
int sy_parse_keys(const char *text, struct sy_options *o, char *err, size_t errlen);

/*
 * Make a context: decodes the keys, opens the store in o->state_dir (creating it) and a
 * libcurl handle. `o` is copied (borrowed for the call only). `*out` receives a context owned
 * by the caller, released with sy_ctx_free(). Returns 0, -EINVAL (bad option), SY_EFORMAT (a
 * bad key), or a store error.
 */
int sy_ctx_new(const struct sy_options *o, struct sy_ctx **out);
void sy_ctx_free(struct sy_ctx *ctx); /* `ctx` owned, may be NULL */

/*
 * One poll: fetch the manifest (If-None-Match with the last ETag), verify it, fetch and verify
 * the delta from the store's version (else the snapshot), apply it in one transaction with the
 * version and status, or record the error as the last attempt. Returns 0 (applied or
 * unchanged) or negative; the store then keeps the last good version.
 */
int sy_poll_once(struct sy_ctx *ctx);

/* Version the last sy_poll_once() applied or found current (0 before any). */
uint64_t sy_ctx_version(const struct sy_ctx *ctx);

/*
 * The sync process main loop: poll at start and then every interval with ±10% jitter until
 * SIGTERM or SIGINT; SIGUSR1 polls at once. Writes its pid to STATE_DIR/sync.pid and asks the
 * kernel for SIGTERM when its parent dies. A transfer or an apply in progress stops at
 * SIGTERM (nothing is committed). Returns 0 on SIGTERM, negative when it cannot start.
 */
int sy_run(const struct sy_options *o);
/* sy_run() for `n` channels (1..2, `o` borrowed), each polled on its own interval in the one
 * process; SIGUSR1 polls all of them at once. */
int sy_run_channels(const struct sy_options *o, int n);

/* ---- The feed format --------------------------------------------------------------------- */

#define SY_KEY_LEN        32 /* Ed25519 public key */
#define SY_SHA256_LEN     32
#define SY_HASH_KEY_LEN   32        /* = BL_HASH_KEY_LEN */
#define SY_MANIFEST_MAX   (1 << 20) /* bytes of a signed manifest envelope */
#define SY_LINE_MAX       4096      /* bytes of one feed line */
#define SY_DELTAS_MAX     16
#define SY_CATEGORIES_MAX 64
#define SY_SIGS_MAX       8
#define SY_PAYLOAD_TYPE   "application/vnd.kidguard.feed.v1+json"
/* The signed timestamp (timestamp.json) travels in the same envelope under its own type, so
 * a signed manifest can never be replayed as a timestamp or the other way round. */
#define SY_TIMESTAMP_TYPE "application/vnd.kidguard.timestamp.v1+json"
#define SY_TIMESTAMP_FILE "timestamp.json"
/* The subscriber channel's manifests travel under their own payload type: a national feed
 * manifest (or the other way round) is never taken for a subscriber table. */
#define SY_SUBS_TYPE         "application/vnd.kidguard.subscribers.v1+json"
#define SY_TIMESTAMP_MAX     (64 * 1024) /* bytes of a signed timestamp envelope */
#define SY_TIMESTAMP_TTL_MAX (31 * 86400)

struct sy_file {
	char url[256];     /* relative to the manifest's URL: [A-Za-z0-9._/-], no ".." */
	uint64_t size;     /* bytes as downloaded (gzip) */
	uint64_t raw_size; /* bytes after decompression */
	uint8_t sha256[SY_SHA256_LEN]; /* of the downloaded bytes */
	uint64_t from;                 /* deltas: the version this leads from; 0 for the snapshot */
	uint64_t entries;              /* lines in the file */
};

struct sy_category {
	char name[32]; /* [a-z0-9_-]{1,31} */
	char desc[128];
	bool confidential;
	bool mandatory;   /* blocked for every profile, above local allow rules */
	bool child_allow; /* "child_default": "allow": the child presets do not block it */
	bool child_safe;  /* "child_safe": true: its names resolve in a walled garden */
};

/*
 * Key rollover in band: a manifest signed by a trusted key may announce successor keys, each
 * trusted from its date on. The appliance keeps the announcements in the store (meta
 * "feed_keys", only from a verified manifest), so no config edit is needed; the announcing key
 * stays trusted [sync] key_grace after the successor's date, then is dropped.
 */
#define SY_NEXT_KEYS_MAX 4
struct sy_next_key {
	uint8_t key[SY_KEY_LEN];
	uint64_t from; /* unix seconds: trusted from then on */
};

/* "category_names": {"vi": {"gambling": "Cờ bạc"}}: the publisher's names of its (and the
 * built-in) categories in other languages, for parents and children. Optional; older
 * appliances refuse the key, so a publisher writes it only when it has translations. */
#define SY_CAT_NAMES_MAX 128
struct sy_cat_name {
	char lang[8];   /* [a-z]{2,3} */
	char name[32];  /* [a-z0-9_-]{1,31}: a built-in category or one of `categories` */
	char text[128]; /* 1..127 bytes of UTF-8 without control characters */
};

struct sy_manifest {
	char feed[64];
	uint64_t version; /* 1..2^32-1 */
	uint64_t created, expires;
	char report[256];     /* where to report wrong or missing blocks */
	char signal_url[256]; /* where appliances send the [signal] batch ("" = none) */
	uint8_t hash_key[SY_HASH_KEY_LEN];
	int n_categories;
	struct sy_category categories[SY_CATEGORIES_MAX];
	struct sy_file snapshot;
	int n_deltas;
	struct sy_file deltas[SY_DELTAS_MAX];
	uint64_t timestamp_ttl; /* longest validity of a signed timestamp; 0: the feed has none */
	int n_next_keys;        /* "next_keys": announced successor keys (optional) */
	struct sy_next_key next_keys[SY_NEXT_KEYS_MAX];
	int n_cat_names;
	struct sy_cat_name cat_names[SY_CAT_NAMES_MAX];
};

/*
 * The signed timestamp (TUF's timestamp role): re-signed every few minutes by `kidguard-feed
 * timestamp` without a new version, it is what tells an appliance that the manifest it holds
 * is still the current one. Freshness ([sync] max_age) counts from `signed`.
 */
struct sy_timestamp {
	char feed[64];
	uint64_t version;                       /* of the current manifest */
	uint8_t manifest_sha256[SY_SHA256_LEN]; /* of that manifest's payload bytes */
	uint64_t signed_at, expires;            /* unix seconds; expires > signed_at */
};

/* Decode a public key written as 44 base64 characters or 64 hex digits. `text` borrowed.
 * Returns 0 or SY_EFORMAT. */
int sy_key_decode(const char *text, uint8_t key[SY_KEY_LEN]);

/* Key id: hex of the first 8 bytes of SHA-256(key), as written in the envelope. `out` needs
 * 17 bytes. */
void sy_key_id(const uint8_t key[SY_KEY_LEN], char out[17]);

/*
 * Open a signed envelope (DSSE: {"payloadType", "payload" (base64), "signatures": [{"keyid",
 * "sig"}]}): find a signature by one of `keys` (nkeys, borrowed) that verifies over the PAE of
 * the exact payload bytes. Nothing of the payload is parsed here. On success `*payload`
 * receives a malloc'd copy of the payload (owned by the caller; NUL-terminated) and `*plen` its
 * length. Returns 0, SY_ESIG (signed by no pinned key, or a bad signature), SY_EFORMAT,
 * SY_ETOOBIG (over SY_MANIFEST_MAX) or -ENOMEM.
 */
int sy_envelope_open(const uint8_t *data, size_t len, const uint8_t (*keys)[SY_KEY_LEN], int nkeys,
                     char **payload, size_t *plen);

/* sy_envelope_open() for an envelope of payload type `type` (borrowed): SY_PAYLOAD_TYPE or
 * SY_TIMESTAMP_TYPE. */
int sy_envelope_open_type(const char *type, const uint8_t *data, size_t len,
                          const uint8_t (*keys)[SY_KEY_LEN], int nkeys, char **payload,
                          size_t *plen);

/* sy_envelope_open_type() that also says which of `keys` verified: `*signer` (may be NULL)
 * receives its index on success. */
int sy_envelope_open_signer(const char *type, const uint8_t *data, size_t len,
                            const uint8_t (*keys)[SY_KEY_LEN], int nkeys, char **payload,
                            size_t *plen, int *signer);

/*
 * The keys trusted at `now`: the pinned `cfg` keys (ncfg) and every announced key whose date
 * has come, less each key that announced a successor whose date is `grace` seconds past.
 * `ann` (nann) are the store's announcements (bl_db_feed_keys). Writes at most `max` keys to
 * `out` and returns how many. All borrowed.
 */
struct bl_feed_key;
int sy_trusted_keys(const uint8_t (*cfg)[SY_KEY_LEN], int ncfg, const struct bl_feed_key *ann,
                    int nann, uint64_t now, uint64_t grace, uint8_t (*out)[SY_KEY_LEN], int max);

/* Pre-authentication encoding signed by DSSE: "DSSEv1 LEN(type) type LEN(body) body". Writes
 * into `out` (borrowed, `outlen` bytes). Returns the length, or -1 when it does not fit.
 * Exposed for the publisher. */
long sy_pae(const char *type, const char *body, size_t blen, uint8_t *out, size_t outlen);

/* Parse a verified manifest payload (`text`, `len` bytes, borrowed) strictly into `m`.
 * Returns 0 or SY_EFORMAT with a reason in `err` (borrowed, `errlen` bytes). */
int sy_manifest_parse(const char *text, size_t len, struct sy_manifest *m, char *err,
                      size_t errlen);

/* Parse a verified timestamp payload strictly into `ts` (keys format, feed, version,
 * manifest_sha256, signed, expires; nothing else). Returns 0 or SY_EFORMAT with a reason. */
int sy_timestamp_parse(const char *text, size_t len, struct sy_timestamp *ts, char *err,
                       size_t errlen);

/*
 * Accept verified timestamp `ts` for manifest `m`, whose payload hashes to `msha`: same feed,
 * version and hash; `expires` within m->timestamp_ttl of `signed` and after `now`; `signed`
 * not before `newest` (the newest signed time this appliance has seen: a replayed older
 * timestamp is a rollback). All borrowed. Returns 0 or SY_ESTALE with a reason in `err`.
 */
int sy_timestamp_check(const struct sy_manifest *m, const uint8_t msha[SY_SHA256_LEN],
                       const struct sy_timestamp *ts, uint64_t newest, uint64_t now, char *err,
                       size_t errlen);

enum sy_op { SY_OP_ADD = 0, SY_OP_DEL = 1 };

struct sy_line {
	enum sy_op op;
	bool hashed;        /* a confidential entry: `hash` and `labels`, no name */
	char name[254];     /* normalised name (BL_NAME_MAX) when !hashed */
	uint8_t hash[16];   /* BL_HASH_LEN */
	unsigned labels;    /* labels of the hashed name, 1..127 */
	unsigned flags;     /* BL_F_SUBTREE | BL_F_ALLOW */
	uint64_t cat_index; /* bit i: the manifest's category i */
};

/*
 * Parse one feed line (`line`, `len` bytes, no newline, borrowed) against the category table
 * of `m` (borrowed). `delta` allows "op": "del". Names must be already normalised; an allow
 * rule carries no categories, a deny rule at least one. Returns 0 or SY_EFORMAT.
 */
int sy_line_parse(const struct sy_manifest *m, bool delta, const char *line, size_t len,
                  struct sy_line *out);

/* Check a downloaded file's size and SHA-256 (constant time) against `f`. Returns 0 or
 * SY_EHASH. */
int sy_file_check(const struct sy_file *f, const uint8_t *data, size_t len);

/* Called for each parsed line; a non-zero return stops the walk and is returned. */
typedef int (*sy_line_cb)(void *arg, const struct sy_line *l);

/*
 * Inflate a gzip feed file (`data`, `len` bytes, borrowed), split it into lines, parse each
 * with sy_line_parse() and call `cb` (with `arg`) for each, in order. The inflated bytes must
 * equal f->raw_size and never exceed `max_raw`; the line count must equal f->entries; one gzip
 * member and nothing after it. Returns 0, SY_EFORMAT, SY_ETOOBIG, -ENOMEM or what `cb`
 * returned. Lines before an error have been passed to `cb`: apply inside a transaction.
 */
int sy_file_lines(const struct sy_manifest *m, const struct sy_file *f, bool delta,
                  const uint8_t *data, size_t len, uint64_t max_raw, sy_line_cb cb, void *arg);

/* ---- The subscriber channel's lines ------------------------------------------------------ */

/* Called for each raw line (no newline, `len` bytes, borrowed for the call). */
typedef int (*sy_raw_cb)(void *arg, const char *line, size_t len);

/* sy_file_lines() without the feed's line parser: inflate, bound, split, count; `cb` gets each
 * line as text. Same return values. */
int sy_file_raw_lines(const struct sy_file *f, const uint8_t *data, size_t len, uint64_t max_raw,
                      sy_raw_cb cb, void *arg);

enum sy_subs_kind {
	SY_SUBS_CLIENT,     /* "client PREFIX PROFILE": map PREFIX to PROFILE (replacing) */
	SY_SUBS_DEL,        /* "del PREFIX" (deltas only): remove the mapping */
	SY_SUBS_PROFILE,    /* "profile NAME {json}": a household record (replacing) */
	SY_SUBS_DELPROFILE, /* "delprofile NAME" (deltas only) */
	SY_SUBS_DEVICE,     /* "device HASH PROFILE": a device ID's SHA-256 (64 hex digits) */
	SY_SUBS_DELDEVICE,  /* "deldevice HASH" (deltas only) */
};

#define SY_SUBS_NAME_MAX 32 /* profile name and its NUL (BL_CLIENT_PROFILE_MAX) */

struct sy_subs_line {
	enum sy_subs_kind kind;
	struct bl_prefix prefix;     /* CLIENT, DEL */
	char name[SY_SUBS_NAME_MAX]; /* CLIENT, DEVICE: the profile; *PROFILE: the household */
	const char *json;            /* PROFILE: the record, borrowed from the line */
	size_t json_len;
	uint8_t hash[BL_DEVICE_HASH_LEN]; /* DEVICE, DELDEVICE */
};

/*
 * Parse one subscriber line (`line`, `len` bytes, no newline, borrowed). Strict: single
 * spaces, the prefix in its canonical form (as bl_prefix_str() writes it: what the table's
 * hash covers), a profile name of 1..31 [A-Za-z0-9_.-]; `del` only in a delta. Returns 0 or
 * SY_EFORMAT.
 */
int sy_subs_line_parse(bool delta, const char *line, size_t len, struct sy_subs_line *out);

/*
 * A household's JSON (`profile NAME {json}`): the keys of PUT /api/profiles, read by the same
 * parser (rs_profile_json), and the household's own rules, "allow" and "deny": lists of names
 * (each a subtree rule). Any other key is refused. The line is the whole record: `rec` gets
 * exactly what it sets ("bedtime" is its only window; null: none), BL_PF_FLEET not set; the
 * template is the caller's to check. `find` (with `arg`) resolves category names (the
 * store's, bl_category_find's contract). Returns 0, or -EINVAL with `err` naming the key.
 */
typedef int (*sy_cat_find_fn)(void *arg, const char *name, int *bit);
int sy_household_decode(const char *json, size_t len, sy_cat_find_fn find, void *arg,
                        struct bl_profile_rec *rec, char *err, size_t errlen);
/* Call `cb` for each rule of a household's JSON that sy_household_decode() accepted: the
 * normalised name and its BL_F_* flags. Stops at and returns the first non-zero. */
typedef int (*sy_rule_fn)(void *arg, const char *name, unsigned flags);
int sy_household_rules(const char *json, size_t len, sy_rule_fn cb, void *arg);
/* The 64 lowercase hex digits of a device hash, as `device` lines carry it. True if valid. */
bool sy_hex_hash(const char *s, size_t n, uint8_t out[BL_DEVICE_HASH_LEN]);

#endif
