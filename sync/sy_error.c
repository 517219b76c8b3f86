/* The one sy_strerror(). */
#include "sy_int.h"

#include <string.h>

const char *sy_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
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
		if (err <= -4001 && err >= -4100)
			return bl_strerror(err);
		return err < 0 ? strerror(-err) : "unknown error";
	}
}
