/*
 * kgdesk: the publisher's desk library (issue 18). The intake's parsers of outside input (the
 * appliances' signal batches, the parents' reports), the LMDB desk store, the triage ranking
 * and the per-prefix rate limiter. kidguard-desk (desk_*.c) is the program around it.
 *
 * Errors follow common/kg_err.h: 0 or a negative -errno (-EINVAL bad input, -EEXIST a batch
 * already stored, -ENOENT not found, -ENOSPC the store's map is full, -EIO other LMDB failures).
 */
#ifndef DK_H
#define DK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DK_DOMAIN_MAX        254 /* text name, 253 characters plus the NUL */
#define DK_CATEGORY_MAX      32  /* [a-z0-9_-]{1,31} plus the NUL, as feed categories */
#define DK_OPERATOR_MAX      64
#define DK_SOFTWARE_MAX      32
#define DK_REPORT_CAT_MAX    128   /* the appliance's "category" field of a report */
#define DK_BATCH_DOMAINS_MAX 65536 /* an appliance counts at most 64k domains a day */
#define DK_COUNT_MAX         1e7   /* |noisy count| above this is not a distinct-client count */
#define DK_WINDOW_DEFAULT    7     /* days of signal triage looks at */
#define DK_SHA256_LEN        32
#define DK_CAND_NAMES        4 /* reported names a candidate lists */

/* One domain of a signal batch: a registrable domain and its noisy distinct-client count. */
struct dk_obs {
	char domain[DK_DOMAIN_MAX]; /* normalised (bl_name_normalize) */
	double count;
};

/* A parsed signal batch (design.md "Desk"). `obs` is owned: release with dk_batch_free(). */
struct dk_batch {
	uint32_t day; /* days since 1970-01-01 */
	uint64_t feed_version;
	char software[DK_SOFTWARE_MAX];
	double epsilon;
	uint32_t k;
	size_t n;
	struct dk_obs *obs;
};

enum dk_report_kind { DK_REPORT_WRONG_BLOCK = 1, DK_REPORT_NOT_BLOCKED = 2 };

/* A parent's report as the appliance sends it (resolver/http/rs_http_report.c). */
struct dk_report {
	uint8_t kind; /* enum dk_report_kind */
	char domain[DK_DOMAIN_MAX];
	char category[DK_REPORT_CAT_MAX];
	uint64_t feed_version;
	char software[DK_SOFTWARE_MAX];
};

/*
 * Parse a POST /signal body (`body`, `len` bytes, borrowed; need not be NUL-terminated). Strict:
 * unknown keys, a duplicate domain, a bad name, a non-finite or out-of-range number, more than
 * DK_BATCH_DOMAINS_MAX domains are refused with -EINVAL and a reason in `why` (`whylen` bytes).
 * On success `out` owns its `obs` array; on failure `out` is left empty (nothing to free).
 */
int dk_parse_signal(const char *body, size_t len, struct dk_batch *out, char *why, size_t whylen);
void dk_batch_free(struct dk_batch *b);

/* Parse a POST /report body. 0 or -EINVAL with a reason in `why`. */
int dk_parse_report(const char *body, size_t len, struct dk_report *out, char *why, size_t whylen);

/* "YYYY-MM-DD" <-> days since 1970-01-01. dk_day_parse returns 0 or -EINVAL. */
int dk_day_parse(const char *s, uint32_t *day);
void dk_day_format(uint32_t day, char out[11]);

/* Check a name given on the command line or in a request and normalise it into `out`
 * (DK_DOMAIN_MAX bytes): lowercase, IDN to A-labels, at least two labels. 0 or -EINVAL. */
int dk_name_check(const char *in, char *out);
/* 0 when `c` is a valid category name ([a-z0-9_-]{1,31}), else -EINVAL. */
int dk_category_check(const char *c);

/* The desk store: one LMDB environment in a directory (key-space: dk_store.c). */
struct dk_store;

/* Open (creating the directory's files unless `readonly`) the store in `dir` (borrowed).
 * `*out` is owned by the caller: dk_store_close(). */
int dk_store_open(const char *dir, bool readonly, struct dk_store **out);
void dk_store_close(struct dk_store *s);

/* Add one batch in one write transaction: per (domain, day) the noisy count is summed and the
 * number of appliances incremented. `digest` is the SHA-256 of the request body: a batch seen
 * before is refused with -EEXIST (a replay must not double its counts). */
int dk_store_add_batch(struct dk_store *s, const struct dk_batch *b,
                       const uint8_t digest[DK_SHA256_LEN]);
/* Add one report received at `now` (unix seconds). */
int dk_store_add_report(struct dk_store *s, const struct dk_report *r, uint64_t now);
/* Delete the signal of days before `before` (days since 1970-01-01), and the replay digests
 * of batches for those days, in transactions of at most DK_PRUNE_TXN deletions. Reports,
 * decisions and the audit log stay. `*removed` (may be NULL) counts the deleted entries. */
#define DK_PRUNE_TXN 100000
int dk_store_prune(struct dk_store *s, uint32_t before, uint64_t *removed);
/* Force what was committed to disk (the intake commits without fsync; see dk_store.c). */
int dk_store_sync(struct dk_store *s);
/* Bytes the store's data file holds (its last page in use) into `*bytes`. */
int dk_store_size(struct dk_store *s, uint64_t *bytes);

enum dk_state { DK_NONE = 0, DK_ACCEPTED = 1, DK_REJECTED = 2, DK_SNOOZED = 3 };

struct dk_decision {
	uint8_t state;                  /* enum dk_state */
	char category[DK_CATEGORY_MAX]; /* accepted: the feed category */
	char operator_name[DK_OPERATOR_MAX];
	uint64_t time;  /* unix seconds of the decision */
	uint64_t until; /* snoozed: unix seconds it ends */
};

/* Record a decision about normalised `domain` and its audit line, in one transaction, and
 * sync it to disk. */
int dk_store_decide(struct dk_store *s, const char *domain, const struct dk_decision *d);
/* The decision about `domain`, or -ENOENT. */
int dk_store_decision(struct dk_store *s, const char *domain, struct dk_decision *out);
/* Call `cb` for each audit line (text, borrowed for the call), oldest first; a non-zero return
 * of `cb` stops and is returned. */
int dk_store_audit(struct dk_store *s, int (*cb)(void *arg, const char *line), void *arg);
/* Call `cb` for each accepted name (domain, category; borrowed for the call), in name order. */
int dk_store_accepted(struct dk_store *s,
                      int (*cb)(void *arg, const char *domain, const char *category), void *arg);

/* Predicted harm of a domain in 0..1 (the probability that it is in any category but the
 * harmless one), the most probable category (`category`, `len` bytes) and its probability. */
typedef int (*dk_harm_fn)(void *arg, const char *domain, char *category, size_t len, double *prob,
                          double *harm);

struct dk_triage_opts {
	uint32_t day;    /* the last day of the window; 0: the newest day in the store */
	int window;      /* days, 1..365 */
	size_t limit;    /* candidates wanted, 1..10000 */
	uint64_t now;    /* unix seconds: when snoozes end */
	dk_harm_fn harm; /* NULL: every candidate has harm 1 (no model) */
	void *harm_arg;
};

struct dk_cand {
	char domain[DK_DOMAIN_MAX];
	char category[DK_CATEGORY_MAX]; /* predicted; "" without a model */
	double prob;                    /* of the predicted category */
	double score;                   /* strength x harm */
	double strength;                /* window sum of noisy counts + growth + reports */
	double growth; /* the last day's sum above the mean of the window's earlier days */
	double harm;
	uint32_t appliances; /* most appliances that counted it on one day of the window */
	uint32_t reports;    /* parents' "not blocked" reports */
	uint32_t first_day;  /* first day it was seen (signal or report) */
	/* The names parents reported under `domain` (a registrable domain: reports of
	 * "a.b.example.com" count for "example.com"), the first DK_CAND_NAMES in name order, and
	 * how many distinct names in all. */
	char names[DK_CAND_NAMES][DK_DOMAIN_MAX];
	uint32_t n_names;
};

/* Rank the undecided candidates: fills `out` (`*n` in: its size, out: how many) best first,
 * and `*day` with the window's last day. */
int dk_triage(struct dk_store *s, const struct dk_triage_opts *o, struct dk_cand *out, size_t *n,
              uint32_t *day);

/* Requests per minute per source prefix (/24, /56): a token bucket per prefix in a bounded
 * table (the least recently seen prefix makes room). Owned by the caller: dk_rate_free(). */
struct dk_rate;
int dk_rate_new(unsigned per_minute, struct dk_rate **out);
void dk_rate_free(struct dk_rate *r);
/* True when `sa` (borrowed) may make one more request at `now_ms` (monotonic milliseconds). */
bool dk_rate_allow(struct dk_rate *r, const struct sockaddr *sa, uint64_t now_ms);

#endif
