/* kidguard-feed: the publisher's tool. Internals shared by the tools/feed_*.c files. */
#ifndef FEED_H
#define FEED_H

#include "bl.h"
#include "sy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FEED_PATH_MAX 1024
#define FEED_KEYS_MAX 8

/* One rule: a clear name (key = NAMEKEY) or a hashed one (key = BL_HASH_LEN bytes). */
struct fe {
	uint32_t off; /* of the key in the set's arena */
	uint8_t klen;
	uint8_t flags;  /* BL_F_* */
	uint8_t hashed; /* sorts after every clear rule */
	uint8_t labels; /* hashed: labels of the name */
	uint64_t cats;  /* bit i: category i of the table being published */
};

/* A set of rules with its key arena. Sorted and merged by fset_finish(). */
struct fset {
	struct fe *v;
	size_t n, cap;
	uint8_t *arena;
	size_t alen, acap;
};

int fset_add(struct fset *s, const uint8_t *key, size_t klen, unsigned flags, bool hashed,
             unsigned labels, uint64_t cats);
void fset_finish(struct fset *s); /* sort by (hashed, key, flags) and merge duplicates */
void fset_free(struct fset *s);
int fe_cmp(const struct fset *a, const struct fe *x, const struct fset *b, const struct fe *y);

/* Writes a gzip'd feed file, hashing what goes to disk. */
struct gzw;
int gzw_open(struct gzw **out, const char *path);
int gzw_line(struct gzw *g, const struct fset *s, const struct fe *e, int op,
             const struct sy_manifest *m); /* op: -1 none (snapshot), SY_OP_ADD, SY_OP_DEL */
/* Finish: fill f's size, raw_size, sha256, entries; fsync. Frees g. */
int gzw_close(struct gzw *g, struct sy_file *f);

/* Keys (feed_keys.c). */
int feed_keygen(const char *out);
/* Load a private key file; `pub` receives its public key. Returns an EVP_PKEY * or NULL. */
void *feed_key_load(const char *path, uint8_t pub[SY_KEY_LEN]);
void feed_key_free(void *k);
/* Sign `payload` in a DSSE envelope of payload type `type` (borrowed: SY_PAYLOAD_TYPE,
 * SY_TIMESTAMP_TYPE or SY_SUBS_TYPE) with every key; returns a malloc'd NUL-terminated JSON. */
char *feed_envelope_type(const char *type, const char *payload, size_t plen, void *const *keys,
                         const uint8_t (*pubs)[SY_KEY_LEN], int nkeys);

/* Input lists (feed_input.c): read FILE in FORMAT, add its rules with category `cat`. */
int feed_read_list(struct fset *s, const char *file, enum bl_format fmt, int cat, bool confidential,
                   const uint8_t hash_key[BL_HASH_KEY_LEN]);

/* Read a whole file (at most `max` bytes) into a malloc'd buffer. */
int feed_slurp(const char *path, size_t max, uint8_t **data, size_t *len);

#define FEED_LISTS_MAX 256

/* A new feed's signed timestamp is valid a day unless --timestamp-ttl says otherwise: a publisher
 * that publishes daily needs no cron, one that re-signs with `kidguard-feed timestamp` every few
 * minutes may choose far less. */
#define FEED_TIMESTAMP_TTL_DEFAULT 86400

struct pub {
	const char *dir, *feed, *report, *signal;
	uint64_t expires_in, force_version;
	int64_t timestamp_ttl; /* --timestamp-ttl; -1: not given (keep the previous version's; a
	                        * new feed gets FEED_TIMESTAMP_TTL_DEFAULT) */
	int keep;
	void *keys[FEED_KEYS_MAX];
	uint8_t pubs[FEED_KEYS_MAX][SY_KEY_LEN];
	int nkeys;
	struct {
		int cat;
		const char *file;
		enum bl_format fmt;
	} lists[FEED_LISTS_MAX];
	int nlists;
	const char *key_files[FEED_KEYS_MAX];
	int nkey_files;
	const char *conf[SY_CATEGORIES_MAX], *desc[SY_CATEGORIES_MAX];
	int nconf, ndesc;
	const char *mand[SY_CATEGORIES_MAX],
	    *child[SY_CATEGORIES_MAX]; /* --mandatory, --child-default */
	int nmand, nchild;
	struct sy_next_key announce[SY_NEXT_KEYS_MAX]; /* --announce-key KEY --from DATE */
	int nannounce;
	bool announce_dated;                 /* the last --announce-key has its --from */
	const char *names[SY_CAT_NAMES_MAX]; /* --category-name NAME:LANG=TEXT */
	int nnames;
	const char *safe[SY_CATEGORIES_MAX]; /* --child-safe */
	int nsafe;
	struct sy_manifest m, prev;
	bool have_prev;
	struct fset set;
};

/* feed_publish.c */
/* The files of FEEDDIR. */
enum feed_file { FF_MANIFEST, FF_MANIFEST_V, FF_SNAPSHOT, FF_DELTA, FF_LOCK };
/* Relative name of file `kind` (version a; deltas from a to b) into `out` (128 bytes). */
void feed_name(char *out, enum feed_file kind, uint64_t a, uint64_t b);
/* FEEDDIR/name into `out` (FEED_PATH_MAX bytes). */
int feed_path(char *out, const struct pub *p, enum feed_file kind, uint64_t a, uint64_t b);
/* Read manifest `file` of ours (payload type `type`: SY_PAYLOAD_TYPE or SY_SUBS_TYPE) and
 * verify it with the signing keys into `m`. Returns 0 or an error. */
int feed_load_manifest(const struct pub *p, const char *type, const char *file,
                       struct sy_manifest *m);
/* feed_args.c: options into `p`; then the category table, keys and hash key. */
int feed_parse_args(struct pub *p, int argc, char **argv);
int feed_prepare(struct pub *p);
/* The previous version, when FEEDDIR has one: p->prev, p->m.version, p->m.hash_key. */
int feed_load_prev(struct pub *p);
/* feed_delta.c: deltas from the kept versions into p->m.version. */
int feed_write_deltas(struct pub *p);
/* The delta file from version `v` into p->m.version, for both channels: open its temp file
 * into `*g`; after its lines, feed_delta_close (given the lines' result `rc`) closes it, moves
 * it into place and, when all went well, lists it in p->m.deltas. Both return 0 or -errno. */
int feed_delta_open(const struct pub *p, uint64_t v, struct gzw **g);
int feed_delta_close(struct pub *p, uint64_t v, struct gzw *g, int rc);

/* feed_timestamp.c: sign FEEDDIR/timestamp.json for manifest `m` (payload `payload`, `plen`
 * bytes, borrowed), valid m->timestamp_ttl seconds from now. */
int feed_write_timestamp(const struct pub *p, const struct sy_manifest *m, const char *payload,
                         size_t plen);
/* Write `len` bytes of `text` to `file` atomically (temp file, fsync, rename). */
int feed_write_atomic(const char *file, const char *text, size_t len);

/* The manifest payload JSON of `m` (malloc'd, owned by the caller). */
char *feed_manifest_json(const struct sy_manifest *m);
/* Sign manifest `payload` (borrowed) under payload type `type` with p's keys and write it as
 * manifest-VERSION.json, then as manifest.json. Returns 0 or -errno. */
int feed_write_manifest(const struct pub *p, const char *type, const char *payload);
/* fsync FEEDDIR itself, so that the renames into it survive a crash; best effort. */
void feed_sync_dir(const char *dir);
/* Remove files of FEEDDIR no client can need any more (older than p->keep versions). */
void feed_cleanup(const struct pub *p);
/* One text line (with its newline) into a feed file: the subscriber channel's lines. */
int gzw_text(struct gzw *g, const char *line, size_t len);

int feed_publish(int argc, char **argv);
/* feed_subs.c: kidguard-feed subscribers (the ISP's subscriber table). */
int feed_subscribers(int argc, char **argv);
int feed_device_hash(int argc, char **argv);
int feed_timestamp(int argc, char **argv);
int feed_verify(int argc, char **argv);

#endif
