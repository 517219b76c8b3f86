/*
 * Subscriber profiles: the store's "clients" table (blocklist/bl_clients.c) maps an ISP's
 * address prefixes to profile names. The lookup itself is part of the decision (rs_decide.c,
 * shared with kidguard-ctl, the API and the block page); what is the worker's own lives here:
 * knowing once per store generation that the table is empty (most appliances have none, and
 * then a query costs no LMDB get), and the counters and warnings of what the lookup found.
 */
#include "rs_daemon_int.h"

#include "kg_log.h"

bool rs__subscribers_empty(struct rs_worker *w, uint64_t gen)
{
	uint64_t n = 0;

	if (!w->bl)
		return true;
	if (gen != w->subs_gen) {
		w->subs_empty = bl_clients_count(w->srv->bl, &n) == 0 && n == 0;
		w->subs_gen = gen;
	}
	return w->subs_empty;
}

void rs__subscriber_account(struct rs_worker *w, const struct rs_verdict *v)
{
	if (v->sub_status == RS_SUB_HIT) {
		RS_INC(w, subscriber_hits);
		return;
	}
	if (v->sub_status != RS_SUB_UNKNOWN_PROFILE)
		return; /* a store error is counted with the query's other store errors */
	RS_INC(w, subscriber_unknown_profile);
	/* Every query of such a subscriber would warn: one line a minute, for all workers. */
	log_every(60, KG_LOG_WARN,
	          "worker %d: the subscriber table names profile '%s', which the config does not "
	          "define; using the config's clients = match (counted in "
	          "kidguard_subscriber_unknown_profile_total; next warning in a minute)",
	          w->index, v->sub_profile);
}
