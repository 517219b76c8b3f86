/*
 * The write transaction behind a profiles or devices handle (struct bl__writer): its own
 * transaction, begun here, or a fleet apply's that it joins. Both tables follow the same
 * rules, so they are written once: an MDB error kills the transaction, a commit stores the
 * subscriber hash it carries, and a joined transaction is the fleet apply's to end.
 */
#include "bl_internal.h"

int bl__writer_begin(struct bl__writer *w, struct bl_db *db, const char *what)
{
	int rc, dead;

	w->db = db;
	w->subs = &w->own;
	mdb_reader_check(db->env, &dead);
	rc = mdb_txn_begin(db->env, NULL, 0, &w->txn);
	return rc == 0 ? 0 : bl__mdb_err(rc, what);
}

void bl__writer_join(struct bl__writer *w, struct bl_db *db, MDB_txn *txn, struct bl__subs *s)
{
	*w = (struct bl__writer){.db = db, .txn = txn, .fleet = true, .subs = s};
}

int bl__writer_fail(struct bl__writer *w, int rc, const char *what)
{
	int err = bl__mdb_err(rc, what);

	if (err != BL_ENOTFOUND)
		w->dead = true;
	return err;
}

int bl__writer_commit(struct bl__writer *w)
{
	if (w->fleet) /* the fleet apply commits */
		return w->dead ? BL_ESTORE : 0;
	if (w->dead || bl__subs_store(w->db, w->txn, w->subs) != 0) {
		mdb_txn_abort(w->txn);
		return BL_ESTORE;
	}
	return bl__commit_durable(w->db, w->txn);
}

void bl__writer_abort(struct bl__writer *w)
{
	if (!w->fleet)
		mdb_txn_abort(w->txn);
}
