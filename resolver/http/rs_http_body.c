/*
 * Request bodies, from bytes to small structs: the JSON of POST /api/overrides, POST
 * /api/report and PUT /api/clients/PREFIX, and the form of the block page's report button.
 * Pure (no libmicrohttpd, no store: categories are resolved through the caller's function),
 * so that tests/fuzz/fuzz_http_body.c reaches every line the network can send here.
 */
#include "rs_http_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int rs__override_action(const char *a, unsigned *flags)
{
	if (a && strcmp(a, "allow") == 0)
		*flags |= BL_F_ALLOW;
	else if (!a || (strcmp(a, "deny") != 0 && strcmp(a, "block") != 0))
		return -EINVAL;
	return 0;
}

/* OR the bits of "categories" into *mask; any name `find` does not know is an error. */
int rs__body_override(const char *body, rs_cat_find_fn find, void *arg, struct rs_override_req *out,
                      char *err, size_t errlen)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(j, "action");
	const cJSON *subtree = cJSON_GetObjectItemCaseSensitive(j, "subtree");
	const cJSON *profile = cJSON_GetObjectItemCaseSensitive(j, "profile");
	struct rs_override_req o = {.flags = BL_F_SUBTREE};
	int rc = -EINVAL;

	if (!cJSON_IsString(name) || bl_name_normalize(name->valuestring, o.name, sizeof(o.name))) {
		snprintf(err, errlen, "expected {\"name\":DOMAIN,\"action\":\"deny\"|\"allow\"}");
		goto done;
	}
	if (rs__override_action(cJSON_IsString(action) ? action->valuestring : NULL, &o.flags) <
	    0) {
		snprintf(err, errlen, "action: expected deny or allow");
		goto done;
	}
	if (cJSON_IsFalse(subtree))
		o.flags &= ~(unsigned)BL_F_SUBTREE;
	if (rs_json_categories(cJSON_GetObjectItemCaseSensitive(j, "categories"), find, arg,
	                       &o.categories, err, errlen) < 0)
		goto done;
	if (o.flags & BL_F_ALLOW)
		o.categories = 0; /* an allow rule has no categories */
	if (profile && (!cJSON_IsString(profile) || !bl_profile_name_valid(profile->valuestring))) {
		snprintf(err, errlen,
		         "profile: expected a profile name (1..31 of a-z, 0-9, _ and -)");
		goto done;
	}
	if (profile)
		snprintf(o.profile, sizeof(o.profile), "%s", profile->valuestring);
	*out = o;
	rc = 0;
done:
	cJSON_Delete(j);
	return rc;
}

int rs__report_kind_ok(const char *kind)
{
	return strcmp(kind, "wrong_block") == 0 || strcmp(kind, "not_blocked") == 0 ? 0 : -EINVAL;
}

int rs__body_report(const char *body, struct rs_report_req *out)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "domain");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind");
	struct rs_report_req r;
	int rc = -EINVAL;

	/* The same checks as rs__report_add, so that a body refused here is refused there. */
	if (cJSON_IsString(d) && cJSON_IsString(k) && rs__report_kind_ok(k->valuestring) == 0 &&
	    bl_name_normalize(d->valuestring, r.domain, sizeof(r.domain)) == 0) {
		snprintf(r.kind, sizeof(r.kind), "%s", k->valuestring);
		*out = r;
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

int rs__body_client_profile(const char *body, char *profile, size_t len)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "profile");
	int rc = -EINVAL;

	/* The characters are the store's to check (bl_clients_put), with its own message. */
	if (cJSON_IsString(name) && strlen(name->valuestring) < len) {
		memcpy(profile, name->valuestring, strlen(name->valuestring) + 1);
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

int rs__form_field(const char *body, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key), o = 0;
	const char *p = body;

	if (len == 0)
		return -EINVAL;
	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			for (p += kl + 1; *p && *p != '&' && o + 1 < len; p++) {
				if (*p == '+') {
					out[o++] = ' ';
				} else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
					out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
					p += 2;
				} else {
					out[o++] = *p;
				}
			}
			out[o] = '\0';
			return 0;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return -ENOENT;
}

int rs__body_device(const char *body, struct rs_device_req *out)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "profile");
	int rc = -EINVAL;

	/* The name's characters are checked here (the store would refuse them with the same
	 * rule); the profile must be one the config defines, which the handler checks. */
	if (cJSON_IsString(n) && cJSON_IsString(p) && bl_device_name_valid(n->valuestring) &&
	    p->valuestring[0] && strlen(p->valuestring) < sizeof(out->profile)) {
		snprintf(out->name, sizeof(out->name), "%s", n->valuestring);
		snprintf(out->profile, sizeof(out->profile), "%s", p->valuestring);
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

int rs__body_profile(const char *body, rs_cat_find_fn find, void *arg, struct rs_profile_req *out,
                     char *err, size_t errlen)
{
	return rs_profile_json(body, body ? strlen(body) : 0, find, arg, out, err, errlen);
}

int rs__body_profile_device(const char *body, struct rs_profile_device_req *out, char *err,
                            size_t errlen)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "profile");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "address");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mac");
	struct rs_profile_device_req o;
	int rc = -EINVAL;

	memset(&o, 0, sizeof(o));
	if (!cJSON_IsString(p) || !bl_profile_name_valid(p->valuestring)) {
		snprintf(err, errlen, "profile: expected a profile name");
		goto done;
	}
	snprintf(o.profile, sizeof(o.profile), "%s", p->valuestring);
	if (cJSON_IsString(m) && !a) {
		o.is_mac = true;
		if (rs_mac_parse(m->valuestring, o.mac) < 0) {
			snprintf(err, errlen, "mac: not a MAC address (aa:bb:cc:dd:ee:ff)");
			goto done;
		}
	} else if (!cJSON_IsString(a) || m || bl_prefix_parse(a->valuestring, &o.prefix) < 0) {
		snprintf(err, errlen,
		         "expected {\"profile\", \"address\": IP} or {\"profile\", "
		         "\"mac\": MAC}");
		goto done;
	}
	*out = o;
	rc = 0;
done:
	cJSON_Delete(j);
	return rc;
}
