/* What the files of kgdesk share (dk__ prefix); not for kidguard-desk's own files. */
#ifndef DK_INT_H
#define DK_INT_H

#include <lmdb.h>

#include "dk.h"

struct dk_store {
	MDB_env *env;
	MDB_dbi signal, reports, batches, decisions, audit, meta;
	bool readonly;
};

/* The one translation of LMDB codes (dk_store.c): MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL ->
 * -ENOSPC, MDB_KEYEXIST -> -EEXIST, errno values as -errno, anything else -EIO (logged). */
int dk__mdb_err(int rc, const char *what);

/* Signal key: the domain, 0x00, the day as u32 big-endian (so a domain's days sort in order). */
#define DK__SIG_VALUE_LEN 16
size_t dk__sig_key(const char *domain, uint32_t day, uint8_t *key);
void dk__sig_value_get(const MDB_val *v, double *sum, uint32_t *appliances);
uint32_t dk__be32(const uint8_t *p);
uint64_t dk__be64(const uint8_t *p);
/* The newest day any batch was for (meta "newest_day"), 0 when none. */
uint32_t dk__newest_day(struct dk_store *s, MDB_txn *txn);
int dk__decision_get(struct dk_store *s, MDB_txn *txn, const char *domain, struct dk_decision *out);

#endif
