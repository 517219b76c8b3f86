/*
 * The subscriber table over the API, for a RADIUS or DHCP hook that moves one subscriber at a
 * time (bulk loads: kidguard-ctl clients import). rs_http.c has already authorised the
 * state-changing methods (bearer token, or trusted loopback).
 *
 *   GET    /api/clients/IP             {"address","profile","prefix"}, 404 when none holds it
 *   PUT    /api/clients/PREFIX         {"profile": NAME}: set (201), replacing any mapping
 *   DELETE /api/clients/PREFIX         remove exactly that prefix (404 when absent)
 *
 * PREFIX is "192.0.2.0/24", "2001:db8::/48" or a bare address; the slash may be sent as %2F.
 * Each change is one write transaction; the workers' next lookup sees it.
 */
#include "rs_http_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <string.h>

#define PATH "/api/clients/"

static bool profile_defined(struct rs_http *h, const char *name)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	bool found = rs_profile_named(&cr->cfg, name) != NULL;

	rs__http_cfg_put(cr);
	return found;
}

static bool allow_undefined(struct rs_req *q)
{
	const char *v =
	    MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "allow_undefined");

	return v && strcmp(v, "1") == 0;
}

static void unknown_profile(struct rs_req *q, const char *name, struct rs_resp *r)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	char names[512];

	rs_profile_names(&cr->cfg, names, sizeof(names));
	rs__http_cfg_put(cr);
	rs__api_error(q, r, 400, "error.client_profile", RS_KV("name", name, "valid", names));
}

static void lookup(struct rs_req *q, const struct bl_prefix *a, struct rs_resp *r)
{
	char profile[BL_CLIENT_PROFILE_MAX], buf[64];
	struct bl_prefix m;
	cJSON *j;
	int rc;

	if (a->len != (a->family == BL_FAMILY_V4 ? 32u : 128u)) {
		rs__api_error(q, r, 400, "error.clients_address", NULL);
		return;
	}
	pthread_mutex_lock(&q->h->bl_lock);
	rc = q->h->bl ? bl_client_lookup(q->h->bl, a->family, a->addr, profile, sizeof(profile), &m)
	              : BL_ESTORE;
	pthread_mutex_unlock(&q->h->bl_lock);
	if (rc == BL_ENOTFOUND) {
		rs__api_error(q, r, 404, "error.clients_none", NULL);
		return;
	}
	if (rc < 0) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "address", bl_prefix_str(a, buf, sizeof(buf)));
	cJSON_AddStringToObject(j, "profile", profile);
	cJSON_AddStringToObject(j, "prefix", bl_prefix_str(&m, buf, sizeof(buf)));
	cJSON_AddBoolToObject(j, "profile_defined", profile_defined(q->h, profile));
	rs__json_resp(r, 200, j);
}

static int change(struct rs_http *h, const struct bl_prefix *p, const char *profile)
{
	struct bl_clients *t;
	int rc = bl_clients_begin(rs_server_store(h->srv), &t);

	if (rc < 0)
		return rc;
	rc = profile ? bl_clients_put(t, p, profile) : bl_clients_del(t, p);
	if (rc < 0) {
		bl_clients_abort(t);
		return rc;
	}
	return bl_clients_commit(t);
}

static void put(struct rs_req *q, const struct bl_prefix *p, struct rs_resp *r)
{
	char prof[BL_CLIENT_PROFILE_MAX], buf[64];
	bool defined;
	cJSON *j;
	int rc;

	if (rs__body_client_profile(q->body, prof, sizeof(prof)) < 0) {
		rs__api_error(q, r, 400, "error.clients_body", NULL);
		return;
	}
	/* An unknown name would silently give the subscriber the config's clients = match (a
	 * weaker profile, for a typo): refused unless the operator says it is on purpose (the
	 * profile comes with the next config reload). */
	defined = profile_defined(q->h, prof);
	if (!defined && !allow_undefined(q)) {
		unknown_profile(q, prof, r);
		return;
	}
	rc = change(q->h, p, prof);
	if (rc == -EINVAL) {
		rs__api_error(q, r, 400, "error.clients_profile_name", NULL);
		return;
	}
	if (rc < 0) {
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "prefix", bl_prefix_str(p, buf, sizeof(buf)));
	cJSON_AddStringToObject(j, "profile", prof);
	/* With ?allow_undefined=1 an unknown name is stored (the config may gain the profile at
	 * the next reload), and said. */
	cJSON_AddBoolToObject(j, "profile_defined", defined);
	rs__json_resp(r, 201, j);
}

void rs__api_clients(struct rs_req *q, struct rs_resp *r)
{
	char text[72];
	const char *arg = q->url + strlen(PATH);
	struct bl_prefix p;
	size_t n = 0;
	int rc;

	/* "%2F" for the slash, in case a client escaped it and the server did not undo it. */
	for (const char *s = arg; *s && n < sizeof(text) - 1; s++) {
		if (strncmp(s, "%2F", 3) == 0 || strncmp(s, "%2f", 3) == 0) {
			text[n++] = '/';
			s += 2;
		} else {
			text[n++] = *s;
		}
	}
	text[n] = '\0';
	if (bl_prefix_parse(text, &p) < 0) {
		rs__api_error(q, r, 400, "error.clients_prefix", NULL);
		return;
	}
	if (strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0)
		return lookup(q, &p, r);
	if (strcmp(q->method, "PUT") == 0)
		return put(q, &p, r);
	if (strcmp(q->method, "DELETE") == 0) {
		rc = change(q->h, &p, NULL);
		rs__api_done(q, r, rc, "error.clients_no_prefix", "{\"deleted\":true}");
		return;
	}
	rs__api_error(q, r, 405, "error.method", RS_KV("allowed", "GET, PUT, DELETE"));
}
