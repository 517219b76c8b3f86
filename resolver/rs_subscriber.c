/*
 * Subscriber profiles: the store's "clients" table (blocklist/bl_clients.c) maps an ISP's
 * address prefixes to profile names. It is read through the worker's own blocklist reader, so
 * a change committed by kidguard-ctl or the HTTP API applies to the next query, and an empty
 * table costs one LMDB get.
 */
#include "rs_srv.h"

#include <netinet/in.h>
#include <string.h>

#include "kg_log.h"

#define WARN_EVERY_MS 60000 /* one unknown-profile warning per worker per minute */

static const struct rs_profile *profile_named(const struct rs_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

const struct rs_profile *rs__subscriber_profile(struct rs_worker *w, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const struct rs_profile *prof;
	char name[BL_CLIENT_PROFILE_MAX];
	const uint8_t *addr;
	int family, rc;
	uint64_t now;

	if (!w->bl)
		return NULL;
	/* Most appliances have no subscriber table: know that once per store generation
	 * instead of asking LMDB on every query. */
	uint64_t gen = bl_db_generation(w->srv->bl), n = 0;
	if (gen != w->subs_gen) {
		w->subs_empty = bl_clients_count(w->srv->bl, &n) == 0 && n == 0;
		w->subs_gen = gen;
	}
	if (w->subs_empty)
		return NULL;
	if (sa->sa_family == AF_INET) {
		family = BL_FAMILY_V4;
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		family = memcmp(addr, mapped, 12) == 0 ? BL_FAMILY_V4 : BL_FAMILY_V6;
		if (family == BL_FAMILY_V4)
			addr += 12;
	} else {
		return NULL;
	}
	rc = bl_client_lookup(w->bl, family, addr, name, sizeof(name), NULL);
	if (rc == BL_ENOTFOUND)
		return NULL;
	if (rc < 0) {
		RS_INC(w, policy_errors);
		return NULL;
	}
	prof = profile_named(&w->cfg->cfg, name);
	if (prof) {
		RS_INC(w, subscriber_hits);
		return prof;
	}
	RS_INC(w, subscriber_unknown_profile);
	now = uv_now(&w->loop);
	if (w->sub_warned_at == 0 || now - w->sub_warned_at >= WARN_EVERY_MS) {
		w->sub_warned_at = now ? now : 1;
		log_warn(
		    "worker %d: the subscriber table names profile '%s', which the config does "
		    "not define; using the config's clients = match (counted in "
		    "kidguard_subscriber_unknown_profile_total; next warning in a minute)",
		    w->index, name);
	}
	return NULL;
}
