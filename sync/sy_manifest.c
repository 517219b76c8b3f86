/*
 * The manifest payload, parsed strictly after its signature verified: every field typed and
 * bounded, unknown keys refused (the "format" number is how the format grows), file URLs
 * restricted to plain relative paths so a manifest cannot point the worker elsewhere.
 */
#include "sy_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53: the integers a double holds exactly */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return SY_EFORMAT;
}

bool sy__json_uint(const cJSON *o, const char *key, uint64_t max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_SAFE_INT ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble || (uint64_t)v->valuedouble > max)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static bool get_str(const cJSON *o, const char *key, char *out, size_t outlen, bool empty_ok)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	size_t len;

	if (!cJSON_IsString(v))
		return false;
	len = strlen(v->valuestring);
	if (len >= outlen || (len == 0 && !empty_ok))
		return false;
	memcpy(out, v->valuestring, len + 1);
	return true;
}

/* Only these keys (a NULL-terminated list) may appear in object `o`. */
bool sy__keys_known(const cJSON *o, const char *const *known)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, o)
	{
		int i = 0;
		while (known[i] && strcmp(known[i], it->string) != 0)
			i++;
		if (!known[i])
			return false;
	}
	return true;
}

static bool url_ok(const char *u)
{
	if (!*u || *u == '/' || strstr(u, ".."))
		return false;
	for (; *u; u++) {
		unsigned char c = (unsigned char)*u;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '/'))
			return false;
	}
	return true;
}

static bool parse_file(const cJSON *o, bool delta, struct sy_file *f)
{
	static const char *const known[] = {"url",     "size", "raw_size", "sha256",
	                                    "entries", "from", NULL};
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "sha256");

	memset(f, 0, sizeof(*f));
	if (!cJSON_IsObject(o) || !sy__keys_known(o, known) ||
	    !get_str(o, "url", f->url, sizeof(f->url), false) || !url_ok(f->url) ||
	    !sy__json_uint(o, "size", UINT64_MAX, &f->size) ||
	    !sy__json_uint(o, "raw_size", UINT64_MAX, &f->raw_size) ||
	    !sy__json_uint(o, "entries", UINT64_MAX, &f->entries) || !cJSON_IsString(h) ||
	    sy__hex_decode(h->valuestring, strlen(h->valuestring), f->sha256, SY_SHA256_LEN) != 0)
		return false;
	if (delta)
		return sy__json_uint(o, "from", UINT32_MAX, &f->from) && f->from > 0;
	return cJSON_GetObjectItemCaseSensitive(o, "from") == NULL;
}

static bool cat_name_ok(const char *n)
{
	for (; *n; n++) {
		unsigned char c = (unsigned char)*n;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The optional publisher policy of one category: "mandatory" (boolean, default false),
 * "child_default" ("block", the default, or "allow") and "child_safe" (boolean, default false:
 * its names resolve for a walled-garden profile). Older appliances refuse these keys, so a
 * publisher writes them only when they differ from the default. Returns 0 or -1. */
static int parse_category_policy(const cJSON *c, struct sy_category *sc)
{
	const cJSON *mand = cJSON_GetObjectItemCaseSensitive(c, "mandatory");
	const cJSON *child = cJSON_GetObjectItemCaseSensitive(c, "child_default");
	const cJSON *safe = cJSON_GetObjectItemCaseSensitive(c, "child_safe");

	if ((mand && !cJSON_IsBool(mand)) || (safe && !cJSON_IsBool(safe)))
		return -1;
	sc->mandatory = cJSON_IsTrue(mand);
	sc->child_safe = cJSON_IsTrue(safe);
	if (!child)
		return 0;
	if (!cJSON_IsString(child) ||
	    (strcmp(child->valuestring, "block") != 0 && strcmp(child->valuestring, "allow") != 0))
		return -1;
	sc->child_allow = strcmp(child->valuestring, "allow") == 0;
	return 0;
}

static int parse_categories(const cJSON *a, struct sy_manifest *m, char *err, size_t errlen)
{
	static const char *const known[] = {"name",      "description",   "confidential",
	                                    "mandatory", "child_default", "child_safe",
	                                    NULL};
	const cJSON *c;

	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > SY_CATEGORIES_MAX)
		return bad(err, errlen, "categories: not an array of at most %d",
		           SY_CATEGORIES_MAX);
	cJSON_ArrayForEach(c, a)
	{
		struct sy_category *sc = &m->categories[m->n_categories];
		const cJSON *conf = cJSON_GetObjectItemCaseSensitive(c, "confidential");
		if (!cJSON_IsObject(c) || !sy__keys_known(c, known) ||
		    !get_str(c, "name", sc->name, sizeof(sc->name), false) ||
		    !cat_name_ok(sc->name) ||
		    !get_str(c, "description", sc->desc, sizeof(sc->desc), true) ||
		    !cJSON_IsBool(conf))
			return bad(err, errlen, "categories[%d]: malformed", m->n_categories);
		sc->confidential = cJSON_IsTrue(conf);
		if (parse_category_policy(c, sc) != 0)
			return bad(err, errlen,
			           "categories[%d]: mandatory or child_safe not a boolean or "
			           "child_default not \"block\"/\"allow\"",
			           m->n_categories);
		for (int i = 0; i < m->n_categories; i++) {
			if (strcmp(m->categories[i].name, sc->name) == 0)
				return bad(err, errlen, "categories: '%s' twice", sc->name);
		}
		m->n_categories++;
	}
	return 0;
}

static bool lang_ok(const char *l)
{
	size_t n = strlen(l);

	return n >= 2 && n <= 3 && strspn(l, "abcdefghijklmnopqrstuvwxyz") == n;
}

static bool text_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return false;
	return true;
}

/* "category_names": {LANG: {CATEGORY: TEXT}}; CATEGORY any well-formed name (the appliance
 * shows only those it knows). */
static int parse_cat_names(const cJSON *o, struct sy_manifest *m, char *err, size_t errlen)
{
	const cJSON *lang, *it;

	if (!o)
		return 0;
	if (!cJSON_IsObject(o))
		return bad(err, errlen, "category_names: not an object");
	cJSON_ArrayForEach(lang, o)
	{
		if (!lang->string || !lang_ok(lang->string) || !cJSON_IsObject(lang))
			return bad(err, errlen, "category_names: not {\"vi\": {NAME: TEXT}}");
		cJSON_ArrayForEach(it, lang)
		{
			struct sy_cat_name *cn = &m->cat_names[m->n_cat_names];
			if (m->n_cat_names >= SY_CAT_NAMES_MAX)
				return bad(err, errlen, "category_names: more than %d",
				           SY_CAT_NAMES_MAX);
			if (!it->string || !it->string[0] ||
			    strlen(it->string) >= sizeof(cn->name) || !cat_name_ok(it->string) ||
			    !cJSON_IsString(it) || !it->valuestring[0] ||
			    strlen(it->valuestring) >= sizeof(cn->text) ||
			    !text_ok(it->valuestring))
				return bad(err, errlen, "category_names.%s: malformed",
				           lang->string);
			for (int i = 0; i < m->n_cat_names; i++)
				if (strcmp(m->cat_names[i].lang, lang->string) == 0 &&
				    strcmp(m->cat_names[i].name, it->string) == 0)
					return bad(err, errlen, "category_names.%s.%s twice",
					           lang->string, it->string);
			snprintf(cn->lang, sizeof(cn->lang), "%s", lang->string);
			snprintf(cn->name, sizeof(cn->name), "%s", it->string);
			snprintf(cn->text, sizeof(cn->text), "%s", it->valuestring);
			m->n_cat_names++;
		}
	}
	return 0;
}

static int parse_files(const cJSON *root, struct sy_manifest *m, char *err, size_t errlen)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "deltas"), *it;

	if (!parse_file(cJSON_GetObjectItemCaseSensitive(root, "snapshot"), false, &m->snapshot))
		return bad(err, errlen, "snapshot: malformed");
	if (!cJSON_IsArray(d) || cJSON_GetArraySize(d) > SY_DELTAS_MAX)
		return bad(err, errlen, "deltas: not an array of at most %d", SY_DELTAS_MAX);
	cJSON_ArrayForEach(it, d)
	{
		struct sy_file *f = &m->deltas[m->n_deltas];
		if (!parse_file(it, true, f) || f->from >= m->version)
			return bad(err, errlen, "deltas[%d]: malformed", m->n_deltas);
		m->n_deltas++;
	}
	return 0;
}

/* Optional "next_keys": [{"key": base64 or hex Ed25519 key, "from": unix seconds}], at most
 * SY_NEXT_KEYS_MAX, each key once. */
static int parse_next_keys(const cJSON *a, struct sy_manifest *m, char *err, size_t errlen)
{
	static const char *const known[] = {"key", "from", NULL};
	const cJSON *it;

	if (!a)
		return 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 ||
	    cJSON_GetArraySize(a) > SY_NEXT_KEYS_MAX)
		return bad(err, errlen, "next_keys: not an array of 1..%d", SY_NEXT_KEYS_MAX);
	cJSON_ArrayForEach(it, a)
	{
		struct sy_next_key *nk = &m->next_keys[m->n_next_keys];
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
		if (!cJSON_IsObject(it) || !sy__keys_known(it, known) || !cJSON_IsString(k) ||
		    sy_key_decode(k->valuestring, nk->key) != 0 ||
		    !sy__json_uint(it, "from", UINT64_MAX, &nk->from))
			return bad(err, errlen, "next_keys[%d]: malformed", m->n_next_keys);
		for (int i = 0; i < m->n_next_keys; i++) {
			if (memcmp(m->next_keys[i].key, nk->key, SY_KEY_LEN) == 0)
				return bad(err, errlen, "next_keys: a key twice");
		}
		m->n_next_keys++;
	}
	return 0;
}

static int parse_root(const cJSON *root, struct sy_manifest *m, char *err, size_t errlen)
{
	static const char *const known[] = {
	    "format",        "feed",      "version",    "created",        "expires",
	    "report",        "hash_key",  "categories", "snapshot",       "deltas",
	    "timestamp_ttl", "next_keys", "signal_url", "category_names", NULL};
	const cJSON *hk = cJSON_GetObjectItemCaseSensitive(root, "hash_key");
	uint64_t fmt;
	int rc;

	if (!cJSON_IsObject(root) || !sy__keys_known(root, known))
		return bad(err, errlen, "not an object of known keys");
	if (!sy__json_uint(root, "format", 1000, &fmt) || fmt != 1)
		return bad(err, errlen, "format: not 1");
	if (!get_str(root, "feed", m->feed, sizeof(m->feed), false) ||
	    !get_str(root, "report", m->report, sizeof(m->report), true))
		return bad(err, errlen, "feed or report: missing or too long");
	/* Optional: older feeds have no signal address. */
	if (cJSON_GetObjectItemCaseSensitive(root, "signal_url") &&
	    (!get_str(root, "signal_url", m->signal_url, sizeof(m->signal_url), true) ||
	     (m->signal_url[0] && strncmp(m->signal_url, "https://", 8) != 0)))
		return bad(err, errlen, "signal_url: not an https:// address of at most 255 bytes");
	if (!sy__json_uint(root, "version", UINT32_MAX, &m->version) || m->version == 0)
		return bad(err, errlen, "version: not 1..2^32-1");
	if (!sy__json_uint(root, "created", UINT64_MAX, &m->created) ||
	    !sy__json_uint(root, "expires", UINT64_MAX, &m->expires) || m->expires <= m->created)
		return bad(err, errlen, "created/expires: missing or expires <= created");
	if (!cJSON_IsString(hk) || sy__hex_decode(hk->valuestring, strlen(hk->valuestring),
	                                          m->hash_key, SY_HASH_KEY_LEN) != 0)
		return bad(err, errlen, "hash_key: not 64 hex digits");
	/* Optional: a feed without it has no signed timestamp (freshness as before it). */
	if (cJSON_GetObjectItemCaseSensitive(root, "timestamp_ttl") &&
	    (!sy__json_uint(root, "timestamp_ttl", SY_TIMESTAMP_TTL_MAX, &m->timestamp_ttl) ||
	     m->timestamp_ttl == 0))
		return bad(err, errlen, "timestamp_ttl: not 1..%d", SY_TIMESTAMP_TTL_MAX);
	rc = parse_categories(cJSON_GetObjectItemCaseSensitive(root, "categories"), m, err, errlen);
	if (rc == 0)
		rc = parse_next_keys(cJSON_GetObjectItemCaseSensitive(root, "next_keys"), m, err,
		                     errlen);
	if (!rc)
		rc = parse_cat_names(cJSON_GetObjectItemCaseSensitive(root, "category_names"), m,
		                     err, errlen);
	return rc ? rc : parse_files(root, m, err, errlen);
}

int sy_manifest_parse(const char *text, size_t len, struct sy_manifest *m, char *err, size_t errlen)
{
	cJSON *root;
	int rc;

	if (len > SY_MANIFEST_MAX)
		return bad(err, errlen, "manifest larger than %d bytes", SY_MANIFEST_MAX);
	root = sy__json_parse(text, len);
	if (!root)
		return bad(err, errlen, "not JSON");
	memset(m, 0, sizeof(*m));
	rc = parse_root(root, m, err, errlen);
	cJSON_Delete(root);
	return rc;
}

int sy__manifest_current(const struct sy_manifest *m, uint64_t ours, uint64_t now, char *err,
                         size_t errlen)
{
	if (m->version < ours) {
		snprintf(err, errlen, "manifest version %llu is older than ours (%llu): refused",
		         (unsigned long long)m->version, (unsigned long long)ours);
		return SY_EROLLBACK;
	}
	if (m->expires <= now) {
		snprintf(err, errlen, "manifest version %llu expired at %llu: refused",
		         (unsigned long long)m->version, (unsigned long long)m->expires);
		return SY_EEXPIRED;
	}
	return 0;
}
