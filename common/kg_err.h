/*
 * kg_err: the one error model of every kidguard module, and its two kinds of assertion.
 *
 * Every `int` function returns 0 on success and a negative value on failure, from one space:
 *
 *   -1 .. -999       -errno (-ENOMEM, -EINVAL, ...). libuv's UV_E* codes are -errno on Unix
 *                    and may be returned as they are.
 *   -1000 .. -1099   RS_E*  the resolver (resolver/dns/rs_dns.h)
 *   -4001 .. -4100   BL_E*  the blocklist and its store (blocklist/bl.h)
 *   -4101 .. -4200   SY_E*  the sync worker and the feed format (sync/sy.h)
 *
 * The codes are defined here, not in the module headers, so that the one kg_strerror() knows
 * all of them: a store error that travels up through the resolver or the sync worker is named
 * where it is logged, whichever module logs it.
 *
 * Foreign codes never cross a module header. Each library's codes are translated in exactly one
 * place, where the library is called:
 *   LMDB MDB_*         bl__mdb_err()      blocklist/bl_store.c  (MDB_MAP_FULL → BL_EMAPFULL, ...;
 *                                                               errno values pass as -errno)
 *   libcurl CURLcode   curl_err()         sync/sy_fetch.c       (→ SY_EFETCH, SY_ETOOBIG, ...)
 *   OpenSSL ERR_*      ssl_err()          resolver/daemon/tls/rs_tls.c  (text for the log; the
 *                                                               caller returns an RS_E* or -errno)
 *   libuv UV_*         -errno as is; UV_EOF and UV_EAI_* are handled or logged with
 *                      uv_strerror() at the call and never returned.
 *   ldns ldns_status   not used by the product today; a reader that adopts ldns translates its
 *                      status in one function next to the call.
 */
#ifndef KG_ERR_H
#define KG_ERR_H

#include <stdbool.h>

#include "kg_log.h"

/* Resolver: -1000 .. -1099. */
#define RS_EINVAL (-1000) /* bad argument or config value */
#define RS_ENOMEM (-1001) /* out of memory */
#define RS_EPARSE (-1002) /* malformed packet */
#define RS_ENOSPC (-1003) /* output buffer too small */
#define RS_EIO    (-1004) /* I/O or start-up failure, details in the log */
#define RS_ELIMIT (-1005) /* a bound on outside input was exceeded (e.g. a CNAME chain) */

/* Blocklist: -4001 .. -4100. */
#define BL_ENAME     (-4001) /* not a valid domain name */
#define BL_ENOSPACE  (-4002) /* output buffer too small */
#define BL_EMAPFULL  (-4003) /* the store reached its map size; raise it */
#define BL_ECORRUPT  (-4004) /* a stored record is malformed */
#define BL_EVERSION  (-4005) /* store or record written by an incompatible version */
#define BL_ENOTFOUND (-4006) /* no such entry, category or meta key */
#define BL_EREADERS  (-4007) /* too many reader slots in use */
#define BL_ECATEGORY (-4008) /* unknown category name, or no free category bit */
#define BL_ESTORE    (-4009) /* any other store (LMDB) failure, details in the log */
#define BL_EFULLTXN  (-4010) /* too many changes in one write transaction */

/* Sync: -4101 .. -4200. */
#define SY_ESIG      (-4101) /* no valid signature by a pinned key */
#define SY_EFORMAT   (-4102) /* malformed envelope, manifest or feed line */
#define SY_EROLLBACK (-4103) /* manifest version older than the store's */
#define SY_EEXPIRED  (-4104) /* manifest expired (freeze attack or a stalled publisher) */
#define SY_EHASH     (-4105) /* a file's size or SHA-256 differs from the manifest */
#define SY_ETOOBIG   (-4106) /* a download, or its decompressed content, exceeds a cap */
#define SY_EFETCH    (-4107) /* transfer failed: DNS, connect, TLS, HTTP status, timeout */
#define SY_ESTOP     (-4108) /* interrupted by SIGTERM */
#define SY_ESTALE    (-4109) /* signed timestamp refused: expired, older than seen, mismatch */

/* Static English text for any return value of any module: 0, a code above, or -errno. Never
 * NULL; safe from any thread. */
const char *kg_strerror(int err);

/*
 * KG_REQUIRE(cond): an invariant whose failure means memory corruption or a programming error
 * that no caller can recover from (a NULL where the type says never, no kernel randomness).
 * Logs file:line and the condition, then aborts. Always compiled in, unlike assert().
 */
#define KG_REQUIRE(cond)                                                                           \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			kg__require_failed(#cond, __FILE__, __LINE__, __func__);                   \
	} while (0)

/*
 * kg_fails_assert(cond): a surprise on the query path (a state the code believes impossible,
 * but one bad query must not take the daemon down). True when `cond` does NOT hold; then it is
 * logged (rate-limited per call site: at most one line every 10 s) and counted in
 * kg_fails_assert_count(). The caller abandons the query and answers SERVFAIL:
 *
 *     if (kg_fails_assert(p->upstream < n_upstream))
 *             return servfail(p);
 */
#define kg_fails_assert(cond)                                                                      \
	({                                                                                         \
		static struct kg_log_limit kg__site_;                                              \
		__builtin_expect(!(cond), 0)                                                       \
		    ? kg__fails_assert(&kg__site_, #cond, __FILE__, __LINE__, __func__)            \
		    : false;                                                                       \
	})

/* How many kg_fails_assert() checks failed since the start of the process (all threads). */
unsigned long long kg_fails_assert_count(void);

/* ---- for the macros above only -------------------------------------------------------- */

__attribute__((noreturn, cold)) void kg__require_failed(const char *cond, const char *file,
                                                        int line, const char *func);
__attribute__((cold)) bool kg__fails_assert(struct kg_log_limit *site, const char *cond,
                                            const char *file, int line, const char *func);

#endif
