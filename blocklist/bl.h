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
enum bl_source { BL_SOURCE_NONE = 0, BL_SOURCE_LOCAL = 1, BL_SOURCE_FEED = 2 };

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
 * bl_lookup_wire() in two halves, for a verdict cache: bl_lookup_raw() reads every rule that
 * could apply to a name whatever the mask (all ancestor levels, local, feed and hashed feed),
 * and bl_raw_decide() decides from them for one mask. bl_lookup_wire() is the two in a row,
 * so a decision from a remembered raw result cannot differ from a fresh one of the same
 * snapshot.
 */
#define BL_RAW_HASHED 3 /* bl_raw_rec.source of a hashed (confidential) feed rule */

struct bl_raw_rec {
	uint8_t level;  /* the rule is for the name's level + 1 rightmost labels */
	uint8_t source; /* BL_SOURCE_LOCAL, BL_SOURCE_FEED or BL_RAW_HASHED */
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
/* The publisher's category policy (from the signed manifest), store bits: `mandatory` is blocked
 * for every client above any allow rule outside the feed; `child_allow` is the feed-defined
 * categories the child presets leave alone (every other one they block). */
int bl_writer_set_feed_policy(struct bl_writer *w, uint64_t mandatory, uint64_t child_allow);

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
	bool has_hash_key;
	uint8_t hash_key[BL_HASH_KEY_LEN];
	uint64_t hashed_entries; /* entries in the hashed (confidential) feed database */
	uint64_t mandatory;      /* categories the publisher made mandatory (store bits) */
	uint64_t child_allow;    /* feed-defined categories the child presets do not block */
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

#endif
