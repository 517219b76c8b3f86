/* bl_strerror(): the one table of this module's error texts. */
#include "bl.h"

#include <string.h>

const char *bl_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BL_ENAME:
		return "invalid domain name";
	case BL_ENOSPACE:
		return "buffer too small";
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
		/* strerror() is not thread-safe in theory, but glibc returns static strings for
		 * known errnos, which is all we pass. */
		return err < 0 && err > -4000 ? strerror(-err) : "unknown error";
	}
}
