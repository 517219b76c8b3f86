/* kg_strerror(), the one table of every module's error texts, and the two assertions. */
#include "kg_err.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ullong fails_count;

static const char *rs_text(int err)
{
	switch (err) {
	case RS_EINVAL:
		return "invalid argument or config value";
	case RS_ENOMEM:
		return "out of memory";
	case RS_EPARSE:
		return "malformed message";
	case RS_ENOSPC:
		return "buffer too small";
	case RS_EIO:
		return "I/O error (see log)";
	case RS_ELIMIT:
		return "limit exceeded";
	default:
		return NULL;
	}
}

static const char *bl_text(int err)
{
	switch (err) {
	case BL_ENAME:
		return "invalid domain name";
	case BL_ENOSPACE:
		return "name buffer too small";
	case BL_EMAPFULL:
		return "blocklist store is full (raise its map size)";
	case BL_ECORRUPT:
		return "blocklist store is corrupted";
	case BL_EVERSION:
		return "blocklist store has an incompatible format version";
	case BL_ENOTFOUND:
		return "not found";
	case BL_EREADERS:
		return "too many blocklist readers";
	case BL_ECATEGORY:
		return "unknown category or no free category bit";
	case BL_ESTORE:
		return "blocklist store error (see log)";
	case BL_EFULLTXN:
		return "too many changes in one transaction";
	default:
		return NULL;
	}
}

static const char *sy_text(int err)
{
	switch (err) {
	case SY_ESIG:
		return "no valid signature by a pinned key";
	case SY_EFORMAT:
		return "malformed feed data";
	case SY_EROLLBACK:
		return "version older than the applied one (rollback refused)";
	case SY_EEXPIRED:
		return "manifest expired";
	case SY_EHASH:
		return "size or SHA-256 differs from the signed manifest";
	case SY_ETOOBIG:
		return "download or decompressed size over the limit";
	case SY_EFETCH:
		return "transfer failed";
	case SY_ESTOP:
		return "interrupted";
	case SY_ESTALE:
		return "signed timestamp refused (stale, replayed or for another manifest)";
	default:
		return NULL;
	}
}

const char *kg_strerror(int err)
{
	const char *s = NULL;

	if (err == 0)
		return "success";
	if (err <= -1000 && err > -1100)
		s = rs_text(err);
	else if (err <= -4001 && err >= -4100)
		s = bl_text(err);
	else if (err <= -4101 && err >= -4200)
		s = sy_text(err);
	else if (err < 0 && err > -1000)
		/* strerror() is not thread-safe in theory, but glibc returns static strings for
		 * the errnos it knows, which is all the code returns. */
		s = strerror(-err);
	return s ? s : "unknown error";
}

void kg__require_failed(const char *cond, const char *file, int line, const char *func)
{
	log_err("%s:%d: %s: invariant broken: %s; aborting", file, line, func, cond);
	abort();
}

bool kg__fails_assert(struct kg_log_limit *site, const char *cond, const char *file, int line,
                      const char *func)
{
	atomic_fetch_add(&fails_count, 1);
	kg_log_limited(site, 10, KG_LOG_ERR,
	               "%s:%d: %s: unexpected state (%s); answering SERVFAIL (counted in "
	               "kidguard_assert_failures_total)",
	               file, line, func, cond);
	return true;
}

unsigned long long kg_fails_assert_count(void)
{
	return atomic_load(&fails_count);
}
