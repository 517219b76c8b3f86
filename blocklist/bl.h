/*
 * bl: the kidguard blocklist. Domain names, their rules (allow/deny, exact/subtree, categories)
 * and the LMDB store that holds them, plus parsers for the list formats found in the wild.
 *
 * Error model: every `int` function returns 0 on success and a negative value on error: either
 * one of the BL_E* codes below or -errno (e.g. -ENOMEM, -EINVAL). kg_strerror() (common/kg_err.h)
 * names both. Out-parameters are left untouched on failure unless stated otherwise.
 *
 * Threads: a struct bl_db is shared by all threads. A struct bl_reader belongs to one thread at
 * a time. Only one struct bl_writer may exist per store at a time (LMDB serialises writers
 * across processes; a second writer blocks in bl_writer_begin until the first one ends).
 */
#ifndef BL_H
#define BL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes: BL_E* (-4001..-4100) are defined in kg_err.h, named by kg_strerror(). */
#include "kg_err.h"

/* ---- Names ------------------------------------------------------------------------------ */

#define BL_NAME_MAX 254 /* text name, 253 characters plus the NUL */
#define BL_KEY_MAX  256 /* store key of a name; never longer than its wire form */
#define BL_WIRE_MAX 255 /* uncompressed DNS wire name */

/*
 * Normalise a domain name given as text: lowercase, one trailing dot stripped, U-labels
 * converted to A-labels (IDNA2008 via libidn2, only when non-ASCII bytes are present), and
 * validated: labels of 1..63 octets made of [a-z0-9-_], at most 253 characters in all.
 * `in` (borrowed, NUL-terminated, UTF-8) is the name; `out` (borrowed) receives the normalised
 * name, NUL-terminated; `outlen` is its size (BL_NAME_MAX is always enough).
 * Returns 0, BL_ENAME or BL_ENOSPACE. On error `out` may hold a partial result.
 */
int bl_name_normalize(const char *in, char *out, size_t outlen);

/*
 * The registrable domain (eTLD+1, the Public Suffix List through libpsl: the distribution's
 * list when installed, else the one built into libpsl) of `name`, a lowercased name without a
 * trailing dot (bl_name_normalize's output; borrowed). Returns a pointer into `name` (the
 * registrable domain is its tail: "a.b.example.co.uk" -> "example.co.uk"), or NULL when the
 * name has none (it is a public suffix itself, or a single label). The one such function of the
 * project: the appliance's signal, the desk's triage and its classifier all group by it.
 * Thread-safe (the list is loaded once per process).
 */
const char *bl_name_registrable(const char *name);

/*
 * Store key of a normalised text name: the labels in reverse order, each followed by a 0x00
 * byte ("www.example.com" -> "com\0example\0www\0"). Returns the key length (> 0), BL_ENAME or
 * BL_ENOSPACE. `name` (borrowed) must come from bl_name_normalize(); `key` (borrowed) receives
 * `keymax` bytes at most (BL_KEY_MAX is always enough).
 */
int bl_key_from_name(const char *name, uint8_t *key, size_t keymax);

/*
 * Store key of an uncompressed DNS wire name that is ALREADY lowercased
 * ("\3www\7example\3com\0"). `wire` (borrowed) holds `len` bytes; `key` (borrowed) receives at
 * most `keymax` bytes. Returns the key length (0 for the root name), BL_ENAME (compression
 * pointer, truncated name, a 0x00 byte inside a label, longer than 255) or BL_ENOSPACE.
 */
int bl_key_from_wire(const uint8_t *wire, size_t len, uint8_t *key, size_t keymax);

/*
 * Text name of a key made by the functions above ("com\0example\0" -> "example.com").
 * `key` (borrowed, `keylen` bytes), `out` (borrowed, `outlen` bytes, NUL-terminated on success).
 * Returns the text length, BL_ENAME or BL_ENOSPACE.
 */
int bl_key_to_name(const uint8_t *key, size_t keylen, char *out, size_t outlen);

/* ---- Categories ------------------------------------------------------------------------- */

#define BL_CATEGORY_MAX      64 /* bits 0..63 */
#define BL_CATEGORY_NAME_MAX 32 /* including the NUL */
#define BL_CATEGORY_DESC_MAX 128
#define BL_CATEGORY_BUILTIN  18 /* bits 0..17 are the standard table below */

/* The standard table; fixed forever so that configs and stores agree without each other. */
enum bl_category_std {
	BL_CAT_ADULT = 0,
	BL_CAT_GAMBLING,
	BL_CAT_VIOLENCE,
	BL_CAT_DRUGS,
	BL_CAT_SELF_HARM,
	BL_CAT_WEAPONS,
	BL_CAT_SCAM,
	BL_CAT_PHISHING,
	BL_CAT_MALWARE,
	BL_CAT_SOCIAL,
	BL_CAT_GAMES,
	BL_CAT_DATING,
	BL_CAT_DOH_BYPASS,
	BL_CAT_ADS,
	BL_CAT_TRACKING,
	BL_CAT_PIRACY,
	BL_CAT_HATE,
	BL_CAT_OTHER, /* = 17 */
};

struct bl_db;

/*
 * Find a category by name. `db` (borrowed) may be NULL to search the standard table only;
 * otherwise the feed-defined categories loaded at bl_db_open() (or the last commit in this
 * process) are searched too. `name` (borrowed). On success `*bit` is set to 0..63.
 * Returns 0 or BL_ECATEGORY.
 */
int bl_category_find(struct bl_db *db, const char *name, int *bit);

/*
 * bl_category_find() against the categories committed now (by any process), read in a fresh
 * read transaction; db->cats is not touched, so it is safe beside lookups. `db` may be NULL.
 */
int bl_category_find_stored(struct bl_db *db, const char *name, int *bit);

/*
 * Name of category `bit`, or NULL when the bit is not defined. `db` may be NULL as above.
 * The string is static (standard table) or owned by `db`, valid until bl_db_close() or the
 * next bl_db_categories_reload() on that db.
 */
const char *bl_category_name(struct bl_db *db, int bit);

/* ---- Store ------------------------------------------------------------------------------ */

#define BL_MAPSIZE_DEFAULT (4ULL << 30)

struct bl_db_options {
	uint64_t mapsize;    /* bytes, 0 = BL_MAPSIZE_DEFAULT */
	unsigned maxreaders; /* 0 = 126 */
	bool readonly;       /* open without creating or writing anything */
};

/*
 * Open (and create, unless read-only) the store in directory `dir` (borrowed; created with
 * mode 0750 if missing). `opts` (borrowed) may be NULL for the defaults. On success `*db`
 * receives a handle owned by the caller, released with bl_db_close().
 */
int bl_db_open(const char *dir, const struct bl_db_options *opts, struct bl_db **db);

/* Close `db` (owned, may be NULL). All readers and writers must have been closed first. */
void bl_db_close(struct bl_db *db);

/* Re-read the feed-defined categories (e.g. after another process committed). Not safe while
 * another thread uses bl_category_name()/bl_category_find() on the same db. */
int bl_db_categories_reload(struct bl_db *db);

/* Cheap counts (no scan): entries in the local overrides and in the feed, hashed entries
 * included (a name with both an allow and a deny counts once). Any pointer may be NULL. */
int bl_db_counts(struct bl_db *db, uint64_t *local, uint64_t *feed);

/*
 * A number that changes whenever any process commits to the store (the LMDB transaction id of
 * the newest commit). Costs a few loads and no lock: the resolver compares it per query to
 * know whether a verdict it remembered may have changed.
 */
uint64_t bl_db_generation(struct bl_db *db);

/* Full statistics from a scan of every entry (seconds at 10M entries; for `info`, not for the
 * query path). */
struct bl_stats {
	uint64_t rules[2];          /* [BL_SOURCE_LOCAL - 1], [BL_SOURCE_FEED - 1]: rules */
	uint64_t allow[2], deny[2]; /* rules per action, per source */
	uint64_t per_category[2][BL_CATEGORY_MAX]; /* deny rules carrying each bit */
	uint64_t uncategorized[2];                 /* deny rules with a mask of 0 */
	uint64_t disk_bytes;                       /* size of the data file */
	uint64_t map_bytes;                        /* configured map size */
};
int bl_db_stats(struct bl_db *db, struct bl_stats *st);

/* ---- Lookup ----------------------------------------------------------------------------- */

enum bl_action { BL_ACTION_NONE = 0, BL_ACTION_ALLOW, BL_ACTION_BLOCK };
enum bl_source {
	BL_SOURCE_NONE = 0,
	BL_SOURCE_LOCAL = 1,
	BL_SOURCE_FEED = 2,
	BL_SOURCE_PROFILE = 3, /* a rule of one profile ("prules", bl_profiles.c) */
};

/* Rule flags, used by entries, the writer and the parsers. */
#define BL_F_SUBTREE 0x01 /* the name and every name below it; otherwise the name only */
#define BL_F_ALLOW   0x02 /* an allow (exception) rule; otherwise a deny rule */

struct bl_verdict {
	enum bl_action action;
	enum bl_source source;   /* where the deciding rule lives; NONE with BL_ACTION_NONE */
	uint64_t categories;     /* category mask of the deciding rule */
	uint32_t feed_version;   /* version stamped on the rule (feed rules; 0 for local) */
	bool subtree;            /* the deciding rule is a subtree rule */
	bool mandatory;          /* blocked by a category the publisher made mandatory: for every
	                          * client, above local allow rules ("mandatory (publisher)") */
	bool not_allowed;        /* walled garden (bl_lookup_opts.allowlist): no allow rule and no
	                          * child-safe feed category lets the name through; action BLOCK */
	bool child_safe;         /* walled garden: let through by a child-safe feed category */
	char match[BL_NAME_MAX]; /* normalised name of the deciding rule, "" if none */
};

struct bl_reader;

/* A per-thread reader. `db` (borrowed) must outlive the reader; `*r` receives a reader owned by
 * the caller, closed with bl_reader_close(). Returns 0, BL_EREADERS, -ENOMEM or BL_ESTORE. */
int bl_reader_open(struct bl_db *db, struct bl_reader **r);
void bl_reader_close(struct bl_reader *r);

/*
 * Decide about one name. Precedence: local overrides over the feed (local is decided over all
 * levels first); within a source the most specific level with an applicable rule wins, and at
 * one level an allow beats a deny. A deny applies only when its mask intersects `block_mask`,
 * except a local deny with mask 0 which applies to everyone. Categories the publisher made
 * mandatory (meta "mandatory") are added to every `block_mask`, and a feed deny in one of them
 * beats a local allow (v->mandatory set); the feed's own allow rules still apply, they are the
 * publisher's. Each call renews a read
 * transaction and resets it before returning; nothing is held between calls.
 * `wire` (borrowed, `wirelen` bytes) is an uncompressed, lowercased wire name; `v` (borrowed)
 * receives the verdict. Returns 0 (also when no rule matched: v->action == BL_ACTION_NONE),
 * BL_ENAME or BL_ESTORE.
 */
int bl_lookup_wire(struct bl_reader *r, const uint8_t *wire, size_t wirelen, uint64_t block_mask,
                   struct bl_verdict *v);

/* Same as bl_lookup_wire() for a text name (any case, IDN allowed), normalised first. */
int bl_lookup_text(struct bl_reader *r, const char *name, uint64_t block_mask,
                   struct bl_verdict *v);

/*
 * The lookup with a profile's own rules and its mode. Precedence: a mandatory feed category >
 * the profile's rules ("prules" of `profile`) > the local rules > the feed. With `allowlist`
 * (a walled garden) a name that no profile or local allow rule lets through and no feed rule
 * in a child-safe category (meta "child_safe") holds gets action BLOCK with not_allowed set;
 * a name blocked by a rule stays blocked by it. Without a profile or a walled garden it is
 * bl_lookup_wire(); with either it is not a function of the name and the mask alone, so a
 * verdict cache does not keep it.
 */
struct bl_lookup_opts {
	uint64_t block_mask;
	const char *profile; /* borrowed; NULL or "": no profile rules are looked up */
	bool allowlist;
};
int bl_lookup_wire_opts(struct bl_reader *r, const struct bl_lookup_opts *o, const uint8_t *wire,
                        size_t wirelen, struct bl_verdict *v);
/*
 * bl_lookup_wire() in two halves, for a verdict cache: bl_lookup_raw() reads every rule that
 * could apply to a name whatever the mask (all ancestor levels, local, feed and hashed feed),
 * and bl_raw_decide() decides from them for one mask. bl_lookup_wire() is the two in a row,
 * so a decision from a remembered raw result cannot differ from a fresh one of the same
 * snapshot.
 */
#define BL_RAW_HASHED 7 /* bl_raw_rec.source of a hashed (confidential) feed rule */

struct bl_raw_rec {
	uint8_t level;  /* the rule is for the name's level + 1 rightmost labels */
	uint8_t source; /* BL_SOURCE_LOCAL, BL_SOURCE_FEED, BL_SOURCE_PROFILE
	                 * or BL_RAW_HASHED */
	uint8_t flags;  /* BL_F_* */
	uint8_t pad;
	uint32_t version;
	uint64_t categories;
};

struct bl_raw {
	uint64_t snapshot;            /* bl_db_generation() of the snapshot that was read */
	uint64_t mandatory;           /* the publisher's mandatory categories in that snapshot */
	int n;                        /* records in rec: per source, deepest level first */
	const struct bl_raw_rec *rec; /* borrowed: the reader's, valid until its next lookup */
};

/* Every rule for wire name `wire` (as bl_lookup_wire) into `raw`. Returns 0, BL_ENAME or
 * BL_ESTORE. */
int bl_lookup_raw(struct bl_reader *r, const uint8_t *wire, size_t wirelen, struct bl_raw *raw);

/* The verdict for `block_mask` from `raw` (borrowed) of the same wire name. Returns 0 or
 * BL_ENAME. Reads no store. */
int bl_raw_decide(const struct bl_raw *raw, const uint8_t *wire, size_t wirelen,
                  uint64_t block_mask, struct bl_verdict *v);

/* ---- Writer ----------------------------------------------------------------------------- */

struct bl_writer;

/* Begin the one write transaction. `db` (borrowed) must outlive the writer; `*w` receives a
 * writer owned by the caller that must end with bl_writer_commit() or bl_writer_abort(). */
int bl_writer_begin(struct bl_db *db, struct bl_writer **w);

/*
 * Add a rule for normalised `name` (borrowed) to `source` (LOCAL or FEED) with BL_F_* `flags`.
 * A name holds at most one rule per (scope, action) pair; putting an existing pair ORs
 * `categories` into it (one name may be listed in several categories) and restamps `version`.
 * `version` is stored with the rule (feed version; 0 for local rules).
 * On BL_EMAPFULL or BL_ESTORE the writer is dead: only bl_writer_abort() is allowed.
 */
int bl_writer_put(struct bl_writer *w, enum bl_source source, const char *name, unsigned flags,
                  uint64_t categories, uint32_t version);

/* Remove the rule with this (scope, action) from `name`. Returns 0 or BL_ENOTFOUND. */
int bl_writer_del(struct bl_writer *w, enum bl_source source, const char *name, unsigned flags);

/* Remove every feed rule, hashed ones included (the local overrides are untouched). */
int bl_writer_clear_feed(struct bl_writer *w);

/* Define a feed category at `bit` (BL_CATEGORY_BUILTIN..63). `name`, `desc` borrowed. */
int bl_writer_category_set(struct bl_writer *w, int bit, const char *name, const char *desc,
                           bool confidential);

/* The feed's names of categories in other languages (manifest "category_names"), shown to
 * parents and children instead of the category's own name. */
#define BL_CAT_NAMES_MAX 128 /* translations kept */
#define BL_LANG_MAX      8   /* "vi" and the NUL */
struct bl_cat_name {
	char lang[BL_LANG_MAX];          /* [a-z]{2,3} */
	char name[BL_CATEGORY_NAME_MAX]; /* a built-in or feed category */
	char text[BL_CATEGORY_DESC_MAX]; /* UTF-8, 1..127 bytes */
};
/* Replace all translations with `n` (0..BL_CAT_NAMES_MAX) entries of `names` (borrowed), in the
 * writer's transaction. Returns 0, -EINVAL (too many, or an empty or too long field) or
 * BL_ESTORE. */
int bl_writer_set_category_names(struct bl_writer *w, const struct bl_cat_name *names, int n);
/* The feed's name of category `name` in language `lang` into `buf` (`len` bytes, cut to fit).
 * Returns 0, BL_ENOTFOUND (no such translation) or BL_ESTORE. */
int bl_category_label(struct bl_reader *r, const char *lang, const char *name, char *buf,
                      size_t len);
/* Calls fn(arg, name, text) for each translation into `lang` (strings valid during the call);
 * a non-zero return stops the walk and is returned. Returns 0 or BL_ESTORE. */
int bl_category_labels(struct bl_reader *r, const char *lang,
                       int (*fn)(void *arg, const char *name, const char *text), void *arg);

/* Meta data. `err` (borrowed, NUL-terminated, truncated to BL_META_ERR_MAX - 1) may be NULL or
 * "" to clear the last error. Times are seconds since the epoch. */
#define BL_META_ERR_MAX 512
int bl_writer_set_feed_version(struct bl_writer *w, uint64_t version);
int bl_writer_set_last_sync(struct bl_writer *w, uint64_t when);
int bl_writer_set_last_attempt(struct bl_writer *w, uint64_t when, const char *err);
/* Expiry of the applied feed manifest (0 = unknown); after it the feed is stale. */
int bl_writer_set_feed_expires(struct bl_writer *w, uint64_t when);
/* The feed's signed timestamp: `signed_at`, the newest signing time verified (freshness counts
 * from it), and `ttl`, the manifest's timestamp_ttl (0: the feed has no timestamp, freshness
 * counts from last_sync as before). */
int bl_writer_set_timestamp(struct bl_writer *w, uint64_t signed_at, uint64_t ttl);
/* Where the feed's publisher takes reports of wrong or missing blocks (from the manifest).
 * `addr` borrowed, truncated to BL_META_REPORT_MAX - 1. */
#define BL_META_REPORT_MAX 256
int bl_writer_set_report_address(struct bl_writer *w, const char *addr);
/* Where appliances send the early-warning signal's daily batch ([signal]; the manifest's
 * signal_url, "" for none). `addr` borrowed, truncated to BL_META_REPORT_MAX - 1. */
int bl_writer_set_signal_address(struct bl_writer *w, const char *addr);
/* The publisher's category policy (from the signed manifest), store bits: `mandatory` is blocked
 * for every client above any allow rule outside the feed; `child_allow` is the feed-defined
 * categories the child presets leave alone (every other one they block). */
int bl_writer_set_feed_policy(struct bl_writer *w, uint64_t mandatory, uint64_t child_allow);
/* The categories the publisher marks child-safe (store bits): their names resolve for a
 * walled-garden profile (mode = allowlist). */
int bl_writer_set_child_safe(struct bl_writer *w, uint64_t child_safe);

/* Feed signing keys announced in band (meta "feed_keys"): each successor key, the date it is
 * trusted from, and the key whose signed manifest announced it (dropped a grace period after
 * that date). Written by the sync worker only from a verified manifest. */
#define BL_FEED_KEYS_MAX 8
#define BL_FEED_KEY_LEN  32
struct bl_feed_key {
	uint8_t key[BL_FEED_KEY_LEN];
	uint64_t from; /* unix seconds */
	uint8_t announcer[BL_FEED_KEY_LEN];
};
/* Replace the announcements with `k` (n, borrowed; at most BL_FEED_KEYS_MAX). */
int bl_writer_set_feed_keys(struct bl_writer *w, const struct bl_feed_key *k, int n);
/* Read them into `k` (at most `max`). Returns how many (0: none), or a negative error. */
int bl_db_feed_keys(struct bl_db *db, struct bl_feed_key *k, int max);

/* ---- Confidential (hashed) feed entries --------------------------------------------------
 *
 * A category the publisher marks confidential is published, and stored, as keyed hashes of
 * the names: the store never holds such a name in clear. A lookup hashes each candidate level
 * of the query (only while hashed entries exist, so the common path costs nothing) and treats
 * a hit like a feed rule at that level. The key is the feed's (bl_writer_set_hash_key): not a
 * secret, since every appliance needs it, but a per-feed salt that makes the hashes useless
 * to anyone without the feed and defeats precomputed tables; membership of a guessed name can
 * always be tested by anyone who can query, which is inherent to filtering.
 *
 * Hash: the first BL_HASH_LEN bytes of HMAC-SHA256(key, NAMEKEY), where NAMEKEY is the store
 * key of the normalised name (bl_key_from_name). HMAC rather than SHA-256(key || name): it is
 * the standard keyed PRF, with no length-extension caveat to argue about, and with the inner
 * and outer states precomputed per reader it costs about two SHA-256 blocks per level. 128
 * bits leave a false match among 1e7 entries and 1e12 lookups at about 2^-65.
 */
#define BL_HASH_LEN     16
#define BL_HASH_KEY_LEN 32

/* Hash normalised `name` (borrowed) with `key` into `out`. Returns 0, BL_ENAME or -ENOMEM. */
int bl_name_hash(const uint8_t key[BL_HASH_KEY_LEN], const char *name, uint8_t out[BL_HASH_LEN]);

/* Set the feed's hash key (meta "hash_key"). Entries hashed with another key stop matching:
 * change it only together with bl_writer_clear_feed() and a full refill. */
int bl_writer_set_hash_key(struct bl_writer *w, const uint8_t key[BL_HASH_KEY_LEN]);

/*
 * Add a hashed feed rule: `hash` (borrowed) from bl_name_hash(), `labels` the number of labels
 * of the hashed name (1..127; lookups hash only levels up to the largest count stored), BL_F_*
 * `flags`, categories and version as bl_writer_put(). Same merge rules as bl_writer_put().
 */
int bl_writer_put_hashed(struct bl_writer *w, const uint8_t hash[BL_HASH_LEN], unsigned labels,
                         unsigned flags, uint64_t categories, uint32_t version);
/* Remove the hashed rule with this (scope, action). Returns 0 or BL_ENOTFOUND. */
int bl_writer_del_hashed(struct bl_writer *w, const uint8_t hash[BL_HASH_LEN], unsigned flags);

/* Commit (durably: the final commit is fsynced) and free `w`. On error the changes are lost and
 * `w` is freed as well. */
int bl_writer_commit(struct bl_writer *w);
/* Discard every change and free `w` (may be NULL). */
void bl_writer_abort(struct bl_writer *w);

/* Meta read-back. Fields not yet set read as 0 / "". */
struct bl_meta {
	uint64_t feed_version;
	uint64_t last_sync;
	uint64_t last_attempt;
	uint64_t feed_expires;
	uint64_t timestamp_signed; /* newest signed feed timestamp verified (0: none) */
	uint64_t timestamp_ttl;    /* the applied manifest's timestamp_ttl (0: no timestamps) */
	char last_error[BL_META_ERR_MAX];
	char report[BL_META_REPORT_MAX]; /* the publisher's report address, "" if none */
	char signal[BL_META_REPORT_MAX]; /* the publisher's signal address, "" if none */
	bool has_hash_key;
	uint8_t hash_key[BL_HASH_KEY_LEN];
	uint64_t hashed_entries; /* entries in the hashed (confidential) feed database */
	uint64_t mandatory;      /* categories the publisher made mandatory (store bits) */
	uint64_t child_allow;    /* feed-defined categories the child presets do not block */
	uint64_t child_safe;     /* categories whose names a walled garden lets through */
	uint64_t feed_defined;   /* the feed-defined categories in the store now (bits 18..63) */
};
int bl_db_meta(struct bl_db *db, struct bl_meta *m);

/* ---- Parsers ---------------------------------------------------------------------------- */

enum bl_format {
	BL_FMT_DOMAINS, /* "name" or "*.name", both a subtree (UT1: a domain and its subdomains) */
	BL_FMT_HOSTS,   /* "0.0.0.0 name [name...]": each name exact */
	BL_FMT_ADBLOCK, /* "||name^" deny subtree, "@@||name^" allow subtree */
	BL_FMT_RPZ, /* a zone: "name CNAME ." deny exact, "*.name CNAME ." subtree, rpz-passthru. */
};

/* Parse a format name ("domains", "hosts", "adblock", "rpz"). Returns 0 or -EINVAL. */
int bl_format_parse(const char *name, enum bl_format *fmt);

enum bl_line_status {
	BL_LINE_EMPTY,   /* blank line, comment or directive: nothing to do */
	BL_LINE_OK,      /* out->n names (some lines also carry skipped tokens, see `reason`) */
	BL_LINE_SKIPPED, /* a valid rule we do not support (regex, $domain=, rpz-ip, ...) */
	BL_LINE_INVALID, /* malformed: bad name, IP literal, garbage */
};

#define BL_PARSE_MAX_NAMES 8

struct bl_parsed {
	enum bl_line_status status;
	const char *reason; /* static string when SKIPPED/INVALID (or OK with a dropped token) */
	unsigned n;         /* names produced, 0..BL_PARSE_MAX_NAMES */
	struct {
		char name[BL_NAME_MAX]; /* normalised */
		unsigned flags;         /* BL_F_* */
	} names[BL_PARSE_MAX_NAMES];
};

/*
 * Parse one line of a list. `line` (borrowed) holds `len` bytes, with or without its "\n" or
 * "\r\n", need not be NUL-terminated; lines longer than 4096 bytes are INVALID. `out`
 * (borrowed) is always filled. Pure: no state is kept between lines, so an RPZ line is read as
 * a zone file of one line (no $ORIGIN, no apex: the owner is the policy name). To read a file,
 * use a struct bl_parser. Returns 0 (see out->status) or -ENOMEM.
 */
int bl_parse_line(enum bl_format fmt, const char *line, size_t len, struct bl_parsed *out);

/*
 * A list file read line by line, for the formats whose lines depend on the lines before (RPZ:
 * $ORIGIN, $TTL, the zone apex, records in parentheses over several lines, read with ldns; a
 * record is reported on its last line, the lines before it are EMPTY). One per file.
 */
struct bl_parser;
/*
 * Returns 0 and the parser in *out, or -ENOMEM. Cost: ldns mallocs and frees ~200 KiB per RPZ
 * record, which glibc returns to the kernel each time (trim threshold 128 KiB): 50x slower
 * (13 s instead of 0.6 s for 118k records). A program reading big zones raises the threshold
 * first, mallopt(M_TRIM_THRESHOLD, 4 MiB), as kidguard-ctl import and kidguard-feed do; the
 * library leaves the process's allocator alone.
 */
int bl_parser_new(enum bl_format fmt, struct bl_parser **out);
/* As bl_parse_line, with the file's state. Returns 0 (see out->status) or -ENOMEM. */
int bl_parser_line(struct bl_parser *p, const char *line, size_t len, struct bl_parsed *out);
/* At the end of the file: INVALID when a record was left open, else EMPTY. Returns 0. */
int bl_parser_end(struct bl_parser *p, struct bl_parsed *out);
void bl_parser_free(struct bl_parser *p);

/* ---- Listing (operator views, not the query path) --------------------------------------- */

struct bl_rule {
	char name[BL_NAME_MAX]; /* normalised */
	unsigned flags;         /* BL_F_* */
	uint64_t categories;
	uint32_t version;
};

/* Return non-zero to stop the listing. `rule` is borrowed for the call only. */
typedef int (*bl_list_cb)(const struct bl_rule *rule, void *arg);

/*
 * Call `cb` for every rule of `source` (LOCAL or FEED; hashed entries are not listed) in DNS
 * canonical order, inside one read transaction of its own. Returns 0, BL_ESTORE or -errno.
 */
int bl_db_list(struct bl_db *db, enum bl_source source, bl_list_cb cb, void *arg);

/* ---- Subscribers (bl_clients.c) ---------------------------------------------------------
 *
 * The "clients" table: address prefixes (IPv4 and IPv6) mapped to the name of a profile of the
 * daemon's config, for ISPs whose RADIUS or DHCP tells them which subscriber holds which
 * address. A lookup finds the longest prefix that holds the address: one get of the family's
 * prefix-length counts, then one get per prefix length in use, longest first (an ISP uses a
 * handful: /32, /29, /64, /56, /48). Each change is an ordinary write transaction: readers see
 * it on their next lookup.
 */
#define BL_FAMILY_V4          4
#define BL_FAMILY_V6          6
#define BL_CLIENT_PROFILE_MAX 32 /* profile name and its NUL (RS_PROFILE_NAME_MAX) */

/* A prefix: family BL_FAMILY_V4/V6, address bytes (4 or 16 used), length 0..32 / 0..128. */
struct bl_prefix {
	int family;
	uint8_t addr[16];
	unsigned len;
};

/* Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host prefix). Bits beyond the
 * length must be zero. `text` and `out` borrowed. Returns 0 or -EINVAL. */
int bl_prefix_parse(const char *text, struct bl_prefix *out);
/* "192.0.2.0/24" into `buf` (64 bytes is always enough). Returns `buf`. */
const char *bl_prefix_str(const struct bl_prefix *p, char *buf, size_t len);

/*
 * The longest prefix holding address `addr` (4 or 16 bytes by `family`, borrowed) and its
 * profile name, copied into `profile` (borrowed, `plen` bytes, NUL-terminated; names longer
 * than plen - 1 are BL_ECORRUPT). `match` (may be NULL) receives the prefix. Renews and resets
 * the reader's read transaction like the lookups above; an empty table costs one get.
 * Returns 0, BL_ENOTFOUND (no prefix holds it, or the table is empty), -EINVAL, BL_ECORRUPT
 * or BL_ESTORE.
 */
int bl_client_lookup(struct bl_reader *r, int family, const uint8_t *addr, char *profile,
                     size_t plen, struct bl_prefix *match);

/* Entries in the table (cheap: a sum of the counts, no scan). */
int bl_clients_count(struct bl_db *db, uint64_t *n);
/* Every mapping in key order (family, address, length), in one read transaction; return
 * non-zero from `cb` to stop. `p` and `profile` are borrowed for the call. */
typedef int (*bl_client_cb)(const struct bl_prefix *p, const char *profile, void *arg);
int bl_clients_list(struct bl_db *db, bl_client_cb cb, void *arg);

/* One write transaction over the table (the same single-writer lock as struct bl_writer: do not
 * hold both in one thread). `db` (borrowed) must outlive it; `*t` receives a handle owned by
 * the caller, ended with bl_clients_commit() or bl_clients_abort(). */
struct bl_clients;
int bl_clients_begin(struct bl_db *db, struct bl_clients **t);
/* Map `p` (borrowed, as from bl_prefix_parse) to profile name `profile` (borrowed, 1..31 of
 * [A-Za-z0-9_.-]), replacing any previous mapping of the same prefix. Bulk loads are fast when
 * the table was empty (or cleared) and prefixes arrive in ascending order (family, address,
 * length), as `sort -V` of a file of one family produces; any order is correct.
 * Returns 0, -EINVAL, BL_EMAPFULL or BL_ESTORE (after the last two only abort is allowed). */
int bl_clients_put(struct bl_clients *t, const struct bl_prefix *p, const char *profile);
/* Remove the mapping of exactly `p`. Returns 0 or BL_ENOTFOUND. */
int bl_clients_del(struct bl_clients *t, const struct bl_prefix *p);
/* Remove every mapping (a full import replaces the table in one transaction). */
int bl_clients_clear(struct bl_clients *t);
/* Commit durably and free `t` (freed on error too). */
int bl_clients_commit(struct bl_clients *t);
/* Discard and free `t` (may be NULL). */
void bl_clients_abort(struct bl_clients *t);

/*
 * The fleet subscriber channel (sync/sy_subs.c): a transaction that applies the ISP's signed
 * table marks itself with bl_clients_fleet(); its commit records `version` and `expires`, sets
 * "subs_applied" to `now` and resets the drift to 0. Any other transaction that changes the
 * table (PUT /api/clients, kidguard-ctl clients) adds its changed prefixes to the drift. Every
 * commit that changed something stores the table's hash (CLIENTS HASH in bl_store.c), kept up
 * to date per change, so two nodes holding the same mappings report the same hash whatever
 * order they came in, and nodes with different mappings differ even with equal counts.
 */
int bl_clients_fleet(struct bl_clients *t, uint64_t version, uint64_t expires, uint64_t now);
/*
 * The households and devices of a fleet apply, in ITS transaction (one write transaction per
 * sync): handles on the profiles and devices tables that share `t`'s transaction and write
 * channel-owned records, kept in the subscriber hash. Call after bl_clients_fleet(). End each
 * with bl_profiles_commit()/bl_devices_commit() (which only free it and report whether it
 * failed; the data commits with `t`) or _abort() (frees it; abort `t` then). Returns 0,
 * -EINVAL (not a fleet apply) or BL_ESTORE.
 */
struct bl_profiles;
struct bl_devices;
int bl_clients_profiles(struct bl_clients *t, struct bl_profiles **out);
int bl_clients_devices(struct bl_clients *t, struct bl_devices **out);

#define BL_SUBS_HASH_LEN 32
struct bl_clients_meta {
	uint64_t version; /* fleet version applied last (0: never) */
	uint64_t expires, applied;
	bool has_hash;
	uint8_t hash[BL_SUBS_HASH_LEN]; /* of the table now (CLIENTS HASH) */
	uint64_t drift;                 /* local changes since the last fleet apply */
	uint64_t last_attempt;          /* of the fleet poll */
	char last_error[BL_META_ERR_MAX];
};
/* Read the above in one read transaction. Returns 0 or BL_ESTORE. */
int bl_clients_meta(struct bl_db *db, struct bl_clients_meta *m);
/* Record a fleet poll at `when` with error `err` (NULL or "": none), in its own transaction. */
int bl_clients_record(struct bl_db *db, uint64_t when, const char *err);
/*
 * The table's hash (CLIENTS HASH in bl_store.c: the sum of the SHA-256 of each line of the
 * table, mod 2^256), computed from scratch in its own read transaction: what the commits keep
 * up to date change by change. Returns 0 or BL_ESTORE.
 */
int bl_clients_hash(struct bl_db *db, uint8_t out[BL_SUBS_HASH_LEN]);
/* Add (or, `add` false, take out) one line (`line`, `len` bytes, with its newline) to the hash
 * `sum`. Shared with the publisher, which hashes the table it publishes the same way. */
void bl_clients_hash_line(uint8_t sum[BL_SUBS_HASH_LEN], const char *line, size_t len, bool add);
/* One line of the CLIENTS TEXT ("client PREFIX PROFILE\n") into `buf` (`len` >= 128 bytes).
 * Returns its length. Shared with the publisher (kidguard-feed subscribers). */
size_t bl_clients_line(const struct bl_prefix *p, const char *profile, char *buf, size_t len);
/* The store key order of two prefixes (family, address, length): <0, 0, >0. */
int bl_prefix_cmp(const struct bl_prefix *a, const struct bl_prefix *b);

/* ---- Device IDs (bl_devices.c) ----------------------------------------------------------
 *
 * The "devices" table: secret IDs a phone presents over DoT (first label of the server name)
 * or DoH (/dns-query/ID), mapped to a profile name. kidguard generates them (100 random bits);
 * the store keeps only their SHA-256, under a name the operator gave, so listing and revoking
 * work by name and the ID is shown once, when it is made. A lookup is one exact get of the
 * hash: millions of devices cost one B-tree search and no allocation.
 */
#define BL_DEVICE_ID_LEN   20 /* generated IDs: base32 characters (5 bits each: 100 bits) */
#define BL_DEVICE_NAME_MAX 64 /* a device name, 1..63 of [A-Za-z0-9_.-], and its NUL */
#define BL_DEVICE_HASH_LEN 32 /* SHA-256 */
#define BL_DEVICE_FP_MAX   9  /* fingerprint: 8 hex digits and the NUL */

/* A new ID from getrandom(): BL_DEVICE_ID_LEN lowercase base32 characters and a NUL into `out`
 * (`len` >= BL_DEVICE_ID_LEN + 1). Returns 0, -EINVAL or -errno. */
int bl_device_id_new(char *out, size_t len);
/* SHA-256 of `id` (borrowed, as presented, lowercase). Returns 0, -EINVAL (empty) or -ENOMEM. */
int bl_device_hash(const char *id, uint8_t out[BL_DEVICE_HASH_LEN]);
/* The non-secret short form shown in lists: the first 4 bytes of the hash in hex. */
void bl_device_fingerprint(const uint8_t hash[BL_DEVICE_HASH_LEN], char out[BL_DEVICE_FP_MAX]);
/* Is `name` a valid device name (1..63 of [A-Za-z0-9_.-])? */
bool bl_device_name_valid(const char *name);

/* The profile name of the device whose ID hashes to `hash`, copied into `profile` (`plen`
 * bytes, NUL-terminated). One get in the reader's read transaction, renewed and reset like the
 * lookups above; no allocation. Returns 0, BL_ENOTFOUND, BL_ENOSPACE, BL_ECORRUPT, BL_ESTORE. */
int bl_device_lookup(struct bl_reader *r, const uint8_t hash[BL_DEVICE_HASH_LEN], char *profile,
                     size_t plen);

struct bl_device {
	char name[BL_DEVICE_NAME_MAX];
	char profile[BL_CLIENT_PROFILE_MAX];
	uint64_t created; /* unix seconds */
	char fingerprint[BL_DEVICE_FP_MAX];
};
/* Return non-zero to stop. `d` is borrowed for the call only. */
typedef int (*bl_device_cb)(const struct bl_device *d, void *arg);
/* The devices in name order, from the first name after `after` (NULL: from the start), in one
 * read transaction. Returns 0 or an error. */
int bl_devices_list(struct bl_db *db, const char *after, bl_device_cb cb, void *arg);
/* Devices in the table (cheap: no scan). */
int bl_devices_count(struct bl_db *db, uint64_t *n);

/* One write transaction over the table (the single-writer lock as struct bl_writer). */
struct bl_devices;
int bl_devices_begin(struct bl_db *db, struct bl_devices **t);
/* Add device `name` with ID hash `hash` for `profile` (1..31 printable, no blank), made at
 * `created`. Returns 0, -EINVAL, -EEXIST (the name is taken; nothing written, the transaction
 * stays usable), BL_EMAPFULL or BL_ESTORE (after these two only abort is allowed). */
int bl_devices_put(struct bl_devices *t, const char *name, const uint8_t hash[BL_DEVICE_HASH_LEN],
                   const char *profile, uint64_t created);
/* Revoke device `name`: its ID stops matching at the next lookup. Returns 0 or BL_ENOTFOUND. */
int bl_devices_del(struct bl_devices *t, const char *name);
/* Commit durably and free `t` (freed on error too). */
int bl_devices_commit(struct bl_devices *t);
/* Discard and free `t` (may be NULL). */
void bl_devices_abort(struct bl_devices *t);

/*
 * The fleet channel's devices ("device HASH PROFILE" lines): a handle from
 * bl_clients_devices() writes them with their origin marked, under the name
 * "isp-" + the first 28 bytes of the hash in hex (the channel carries no name, never the ID).
 * Their line (bl_device_line) is in the subscriber hash; a local bl_devices_del of one counts
 * as drift. Put replaces the device's profile; del removes it by hash. Return 0, BL_ENOTFOUND
 * (del), -EEXIST (the hash belongs to a local device) or an error.
 */
int bl_devices_fleet_put(struct bl_devices *t, const uint8_t hash[BL_DEVICE_HASH_LEN],
                         const char *profile);
int bl_devices_fleet_del(struct bl_devices *t, const uint8_t hash[BL_DEVICE_HASH_LEN]);
/* Remove every channel-owned device, leaving local ones (a snapshot's start). */
int bl_devices_fleet_clear(struct bl_devices *t);
/* The channel line of a device ("device HEX64 PROFILE\n") into `buf` (`len` >= 128). Returns
 * its length. Shared with the publisher. */
size_t bl_device_line(const uint8_t hash[BL_DEVICE_HASH_LEN], const char *profile, char *buf,
                      size_t len);
/* The fleet name of a device hash ("isp-" and 56 hex digits) into `out` (64 bytes). */
void bl_device_fleet_name(const uint8_t hash[BL_DEVICE_HASH_LEN], char out[BL_DEVICE_NAME_MAX]);

/* ---- Profiles, their rules and MAC addresses (bl_profiles.c) ------------------------------
 *
 * A household's profiles as data: "profiles" maps a profile name to a packed record of the
 * fields a parent set (from the dashboard, the API or kidguard-ctl); the daemon overlays it on
 * the config profile of the same name (or on its template) at the next query. "prules" holds
 * each profile's own allow/deny rules (looked up only when the record counts some), "macs"
 * maps a device's MAC address to a profile name. Addresses of devices use "clients" and device
 * IDs "devices" (above).
 */
#define BL_PROFILE_NAME_MAX   32 /* 1..31 of [a-z0-9_-] and the NUL */
#define BL_PROFILE_PRESET_MAX 16
#define BL_PROFILE_SCHED_MAX  8
#define BL_PROFILE_ALLOW_MAX  16   /* bedtime_allow names */
#define BL_PROFILE_ALLOW_POOL 1024 /* their text, NUL-separated */
#define BL_PROFILE_REC_MAX    1400 /* the largest encoded record */

/* Which fields a record sets (the others come from the config profile or its template). */
enum bl_profile_field {
	BL_PF_TEMPLATE = 0x01,
	BL_PF_PRESET = 0x02,
	BL_PF_MODE = 0x04,
	BL_PF_BLOCK = 0x08,         /* block_add, block_del */
	BL_PF_SCHEDULES = 0x10,     /* sched[] (bedtime included) replaces the config's windows */
	BL_PF_BEDTIME_ALLOW = 0x20, /* allow[] replaces the config's bedtime_allow */
	/* Not a field: the record came from the ISP's subscriber channel (a household); `digest`
	 * holds the SHA-256 of its channel line, its part of the subscriber hash. Only a handle
	 * from bl_clients_profiles() writes it; a local change to such a record clears it. */
	BL_PF_FLEET = 0x40,
};
enum bl_profile_mode { BL_MODE_FILTER = 0, BL_MODE_ALLOWLIST = 1 };

struct bl_profile_sched {
	uint8_t days;   /* bit 0 = Monday .. bit 6 = Sunday */
	bool bedtime;   /* everything but bedtime_allow is blocked inside the window */
	uint16_t start; /* minutes after midnight */
	uint16_t end;
	uint64_t extra_block; /* categories blocked inside the window (not bedtime) */
};

struct bl_profile_rec {
	unsigned set; /* BL_PF_* */
	char tmpl[BL_PROFILE_NAME_MAX];
	char preset[BL_PROFILE_PRESET_MAX];
	int mode;           /* enum bl_profile_mode */
	uint64_t block_add; /* categories blocked on top of the base */
	uint64_t block_del; /* categories let through although the base blocks them */
	int n_sched;
	struct bl_profile_sched sched[BL_PROFILE_SCHED_MAX];
	int n_allow;
	char allow[BL_PROFILE_ALLOW_POOL]; /* n_allow normalised names, each NUL-terminated */
	uint32_t n_rules;                  /* rules in "prules" (kept by the writer below) */
	uint64_t updated;                  /* unix seconds of the last change */
	uint8_t digest[BL_SUBS_HASH_LEN];  /* BL_PF_FLEET: SHA-256 of the channel line */
};

/* Is `name` a valid profile name for the store (1..31 of [a-z0-9_-])? */
bool bl_profile_name_valid(const char *name);
/* Encode `rec` into `buf` (`len` >= BL_PROFILE_REC_MAX is always enough). Returns the encoded
 * length, -EINVAL (a field out of range) or BL_ENOSPACE. */
int bl_profile_rec_encode(const struct bl_profile_rec *rec, uint8_t *buf, size_t len);
/* Decode `len` bytes at `buf` into `rec` (borrowed). Returns 0, BL_ECORRUPT or BL_EVERSION. */
int bl_profile_rec_decode(const uint8_t *buf, size_t len, struct bl_profile_rec *rec);
/* Add a normalised name to rec->allow. Returns 0, -EINVAL or BL_ENOSPACE. */
int bl_profile_rec_allow_add(struct bl_profile_rec *rec, const char *name);
/* The `i`th allow name of `rec` (borrowed from it), or NULL. */
const char *bl_profile_rec_allow(const struct bl_profile_rec *rec, int i);

/* The record of profile `name` in the reader's snapshot (renewed and reset like the lookups).
 * Returns 0, BL_ENOTFOUND (also for an empty table), BL_ECORRUPT, BL_EVERSION or BL_ESTORE. */
int bl_profile_get(struct bl_reader *r, const char *name, struct bl_profile_rec *rec);
/* The same in a read transaction of its own (tools, the API). */
int bl_profile_read(struct bl_db *db, const char *name, struct bl_profile_rec *rec);
/* Records in the table (cheap: no scan). */
int bl_profiles_count(struct bl_db *db, uint64_t *n);
/* Every record in name order, in one read transaction. `name`, `rec` borrowed for the call. */
typedef int (*bl_profile_cb)(const char *name, const struct bl_profile_rec *rec, void *arg);
int bl_profiles_list(struct bl_db *db, bl_profile_cb cb, void *arg);
/* The rules of profile `name`, in DNS canonical order, in one read transaction. */
int bl_profile_rules_list(struct bl_db *db, const char *name, bl_list_cb cb, void *arg);

/* The profile of MAC address `mac`, copied into `profile` (`plen` bytes). One get in the
 * reader's transaction. Returns 0, BL_ENOTFOUND, BL_ENOSPACE, BL_ECORRUPT or BL_ESTORE. */
int bl_mac_lookup(struct bl_reader *r, const uint8_t mac[6], char *profile, size_t plen);
typedef int (*bl_mac_cb)(const uint8_t mac[6], const char *profile, void *arg);
/* Every MAC mapping in address order, in one read transaction. */
int bl_macs_list(struct bl_db *db, bl_mac_cb cb, void *arg);

/* One write transaction over the three tables (the single-writer lock as struct bl_writer). */
struct bl_profiles;
int bl_profiles_begin(struct bl_db *db, struct bl_profiles **t);
/* The record of `name` as this transaction sees it. Returns 0 or BL_ENOTFOUND (or an error). */
int bl_profiles_get(struct bl_profiles *t, const char *name, struct bl_profile_rec *rec);
/* Write the record of `name` (n_rules is kept from the stored record: the rules count it).
 * Returns 0, -EINVAL, BL_EMAPFULL or BL_ESTORE (after the last two only abort is allowed). */
int bl_profiles_put(struct bl_profiles *t, const char *name, const struct bl_profile_rec *rec);
/* Remove the record of `name` and every rule of it. Returns 0 or BL_ENOTFOUND. */
int bl_profiles_del(struct bl_profiles *t, const char *name);
/* Add (or merge, as bl_writer_put) a rule for normalised `rule` to profile `name`; a profile
 * without a record gets one that sets nothing but counts its rules. */
int bl_profiles_rule_put(struct bl_profiles *t, const char *name, const char *rule, unsigned flags,
                         uint64_t categories);
/* Remove the rule with this (scope, action). Returns 0 or BL_ENOTFOUND. */
int bl_profiles_rule_del(struct bl_profiles *t, const char *name, const char *rule, unsigned flags);
/* Map `mac` to `profile` (replacing any mapping: a device moves), or remove it. */
int bl_profiles_mac_put(struct bl_profiles *t, const uint8_t mac[6], const char *profile);
int bl_profiles_mac_del(struct bl_profiles *t, const uint8_t mac[6]);
/* Commit durably and free `t` (freed on error too). */
int bl_profiles_commit(struct bl_profiles *t);
/* Discard and free `t` (may be NULL). */
void bl_profiles_abort(struct bl_profiles *t);
/* A fleet handle (bl_clients_profiles): remove every channel-owned record (BL_PF_FLEET) and
 * its rules, leaving local ones. Streams (no list in memory). Returns 0 or an error. */
int bl_profiles_fleet_clear(struct bl_profiles *t);

#endif
