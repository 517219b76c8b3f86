/*
 * Device IDs on the query path. A DoT or DoH client may present an ID (the first label of the
 * server name, or /dns-query/ID); the config's client_ids are tried first (small setups), then
 * the store's device table (blocklist/bl_devices.c), where kidguard-ctl and the API keep the
 * SHA-256 of each generated ID. Whether the ID's profile applies or the address's is
 * rs_profile_for_device()'s decision (rs_policy.c), not this file's.
 */
#include "rs_daemon_int.h"

#include <string.h>

static const struct rs_profile *profile_named(const struct rs_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

/* The hash of `id`, from the memo or computed into it. Returns 0 or < 0. */
static int id_hash(struct rs_devid_memo *m, const char *id, const uint8_t **hash)
{
	unsigned slot;
	int rc;

	for (unsigned i = 0; i < RS_DEVID_MEMO; i++) {
		if (strcmp(m->e[i].id, id) == 0) {
			*hash = m->e[i].hash;
			return 0;
		}
	}
	slot = m->next++ % RS_DEVID_MEMO;
	m->e[slot].id[0] = '\0';
	rc = bl_device_hash(id, m->e[slot].hash);
	if (rc < 0 || strlen(id) >= sizeof(m->e[slot].id))
		return rc < 0 ? rc : -1;
	memcpy(m->e[slot].id, id, strlen(id) + 1);
	*hash = m->e[slot].hash;
	return 0;
}

const struct rs_profile *rs__device_profile(struct rs_worker *w, const char *id, char *store_name)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	const struct rs_profile *prof = rs_profile_for_id(cfg, id);
	char name[BL_CLIENT_PROFILE_MAX];
	const uint8_t *hash;
	uint64_t gen, n = 0;
	int rc;

	store_name[0] = '\0';
	if (prof || !w->bl)
		return prof;
	/* Most appliances have no device table: know that once per store generation. */
	gen = bl_db_generation(w->srv->bl);
	if (gen != w->devids.gen || w->devids.gen == 0) {
		w->devids.empty = bl_devices_count(w->srv->bl, &n) == 0 && n == 0;
		w->devids.gen = gen;
	}
	if (w->devids.empty || id_hash(&w->devids, id, &hash) < 0)
		return NULL;
	rc = bl_device_lookup(w->bl, hash, name, sizeof(name));
	if (rc < 0) {
		if (rc != BL_ENOTFOUND)
			RS_INC(w, policy_errors);
		return NULL;
	}
	if (!(prof = profile_named(cfg, name)))
		memcpy(store_name, name, sizeof(name)); /* a household: resolved with the query */
	return prof;
}
