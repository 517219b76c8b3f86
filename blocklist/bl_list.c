/*
 * Listing the rules of one source, in DNS canonical order (the order of the keys). For the
 * operator's views (the HTTP API's list of local overrides); never on the query path.
 */
#include "bl_internal.h"

int bl_db_list(struct bl_db *db, enum bl_source source, bl_list_cb cb, void *arg)
{
	struct bl__rec recs[BL__REC_MAX];
	struct bl_rule rule;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, n, stop = 0;

	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return bl__mdb_err(rc, "begin");
	rc = mdb_cursor_open(txn, bl__source_dbi(db, source), &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return bl__mdb_err(rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		n = bl__recs_decode(&v, recs);
		if (n < 0 || bl_key_to_name(k.mv_data, k.mv_size, rule.name, sizeof(rule.name)) < 0)
			continue; /* a damaged entry must not hide the others */
		for (int i = 0; i < n && !stop; i++) {
			rule.flags = recs[i].flags;
			rule.categories = recs[i].categories;
			rule.version = recs[i].version;
			stop = cb(&rule, arg);
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : bl__mdb_err(rc, "list");
}
