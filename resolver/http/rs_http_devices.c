/*
 * Device IDs over the API (blocklist/bl_devices.c), for a parents' portal or an ISP's
 * provisioning. rs_http.c has already authorised the state-changing methods (bearer token,
 * CSRF checks); reading lists names, profiles and fingerprints only, never an ID.
 *
 *   GET    /api/devices[?after=NAME&limit=N]  {"count", "devices": [{"name", "profile",
 *                                             "created", "fingerprint", "profile_defined"}]}
 *   POST   /api/devices                       {"name", "profile"}: 201 with the new "id" (the
 *                                             only time it is shown), "dot" and "doh"
 *   DELETE /api/devices/NAME                  revoke (404 when there is no such device)
 *
 * Each change is one write transaction; the workers' next lookup sees it.
 */
#include "rs_http_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH        "/api/devices"
#define LIST_DEF    1000
#define LIST_MAX    10000
#define ENDPOINT_SZ (RS_TLS_NAME_MAX + 128)

struct list_ctx {
	const struct rs_config *cfg;
	cJSON *arr;
	long left;
};

static bool profile_in(const struct rs_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return true;
	return false;
}

static int add_one(const struct bl_device *d, void *arg)
{
	struct list_ctx *l = arg;
	cJSON *o;

	if (l->left-- <= 0)
		return 1;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "profile", d->profile);
	cJSON_AddNumberToObject(o, "created", (double)d->created);
	cJSON_AddStringToObject(o, "fingerprint", d->fingerprint);
	cJSON_AddBoolToObject(o, "profile_defined", profile_in(l->cfg, d->profile));
	cJSON_AddItemToArray(l->arr, o);
	return 0;
}

static void list_devices(struct rs_req *q, struct rs_resp *r)
{
	const char *after = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "after");
	const char *lim = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "limit");
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	struct list_ctx l = {.cfg = &cr->cfg, .left = LIST_DEF};
	cJSON *j = cJSON_CreateObject();
	uint64_t n = 0;
	int rc;

	if (lim && *lim) {
		char *end;
		long v = strtol(lim, &end, 10);
		if (*end == '\0' && v > 0)
			l.left = v > LIST_MAX ? LIST_MAX : v;
	}
	rc = bl_devices_count(rs_server_store(q->h->srv), &n);
	cJSON_AddNumberToObject(j, "count", (double)n);
	l.arr = cJSON_AddArrayToObject(j, "devices");
	if (rc == 0)
		rc = bl_devices_list(rs_server_store(q->h->srv), after && *after ? after : NULL,
		                     add_one, &l);
	rs__http_cfg_put(cr);
	if (rc < 0) {
		cJSON_Delete(j);
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	rs__json_resp(r, 200, j);
}

static int store_new(struct rs_http *h, const struct rs_device_req *d, char *id, size_t idlen,
                     uint8_t hash[BL_DEVICE_HASH_LEN])
{
	struct bl_devices *t = NULL;
	int rc;

	if ((rc = bl_device_id_new(id, idlen)) == 0 && (rc = bl_device_hash(id, hash)) == 0 &&
	    (rc = bl_devices_begin(rs_server_store(h->srv), &t)) == 0 &&
	    (rc = bl_devices_put(t, d->name, hash, d->profile, (uint64_t)time(NULL))) == 0) {
		rc = bl_devices_commit(t);
		t = NULL;
	}
	bl_devices_abort(t);
	return rc;
}

static void add_device(struct rs_req *q, struct rs_resp *r)
{
	char id[BL_DEVICE_ID_LEN + 1], fp[BL_DEVICE_FP_MAX], dot[ENDPOINT_SZ], doh[ENDPOINT_SZ];
	uint8_t hash[BL_DEVICE_HASH_LEN];
	struct rs_device_req d;
	struct rs_cfg_ref *cr;
	bool known;
	cJSON *j;
	int rc;

	if (rs__body_device(q->body, &d) < 0) {
		rs__api_error(q, r, 400, "error.device_body", NULL);
		return;
	}
	cr = rs__http_cfg_get(q->h);
	known = profile_in(&cr->cfg, d.profile);
	rs__http_cfg_put(cr);
	if (!known) {
		rs__api_error(q, r, 400, "error.device_profile", RS_KV("name", d.profile));
		return;
	}
	rc = store_new(q->h, &d, id, sizeof(id), hash);
	if (rc == -EEXIST) {
		rs__api_error(q, r, 409, "error.device_exists", NULL);
		return;
	}
	if (rc < 0) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	cr = rs__http_cfg_get(q->h);
	rs_device_endpoints(&cr->cfg, id, dot, sizeof(dot), doh, sizeof(doh));
	rs__http_cfg_put(cr);
	bl_device_fingerprint(hash, fp);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", d.name);
	cJSON_AddStringToObject(j, "profile", d.profile);
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "fingerprint", fp);
	cJSON_AddStringToObject(j, "dot", dot);
	cJSON_AddStringToObject(j, "doh", doh);
	rs__json_resp(r, 201, j);
}

static void revoke_device(struct rs_req *q, const char *name, struct rs_resp *r)
{
	struct bl_devices *t = NULL;
	int rc = bl_device_name_valid(name) ? 0 : BL_ENOTFOUND;

	if (rc == 0 && (rc = bl_devices_begin(rs_server_store(q->h->srv), &t)) == 0 &&
	    (rc = bl_devices_del(t, name)) == 0) {
		rc = bl_devices_commit(t);
		t = NULL;
	}
	bl_devices_abort(t);
	rs__api_done(q, r, rc, "error.no_such_device", "{\"revoked\":true}");
}

void rs__api_devices(struct rs_req *q, struct rs_resp *r)
{
	const char *m = q->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (!rs_server_store(q->h->srv)) {
		rs__api_error(q, r, 503, "error.store", NULL);
		return;
	}
	if (strcmp(q->url, PATH) == 0) {
		if (get)
			return list_devices(q, r);
		if (strcmp(m, "POST") == 0)
			return add_device(q, r);
		rs__api_error(q, r, 405, "error.method", RS_KV("allowed", "GET, POST"));
		return;
	}
	if (strcmp(m, "DELETE") == 0)
		return revoke_device(q, q->url + strlen(PATH) + 1, r);
	rs__api_error(q, r, 405, "error.method", RS_KV("allowed", "DELETE /api/devices/NAME"));
}
