/*
 * Device IDs on the query path. A DoT or DoH client may present an ID (the first label of the
 * server name, or /dns-query/ID); the config's client_ids are tried first (small setups), then
 * the store's device table (blocklist/bl_devices.c), where kidguard-ctl and the API keep the
 * SHA-256 of each generated ID. The lookup itself is rs_client_device (rs_policy.c), shared
 * with kidguard-ctl check and GET /api/check; this file only memoises the hash per worker.
 * Whether the ID's profile applies or the address's is rs_decide's choice, not this file's.
 */
#include "rs_daemon_int.h"

#include <string.h>

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

void rs__device_profile(struct rs_worker *w, const char *id, struct rs_client *cl)
{
	const uint8_t *hash = NULL;
	struct bl_reader *rd = NULL;
	uint64_t gen, n = 0;

	/* Most appliances have no device table: know that once per store generation. */
	if (w->bl) {
		gen = bl_db_generation(w->srv->bl);
		if (gen != w->devids.gen || w->devids.gen == 0) {
			w->devids.empty = bl_devices_count(w->srv->bl, &n) == 0 && n == 0;
			w->devids.gen = gen;
		}
		if (!w->devids.empty && id_hash(&w->devids, id, &hash) == 0)
			rd = w->bl;
	}
	if (rs_client_device(&w->cfg->cfg, rd, id, hash, cl) < 0)
		RS_INC(w, policy_errors);
}
