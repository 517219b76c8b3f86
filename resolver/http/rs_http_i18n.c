/*
 * The message catalogues: every string a parent or a child sees on the block page, the report
 * pages and (through GET /i18n.json) the dashboard. One source of truth per language,
 * www/i18n/<lang>.json, a flat {"key": "text"} map with "{name}" placeholders; the build
 * compiles the files into the binary (common/i18n/embed_i18n.cmake), so the daemon's pages and
 * the browser's read the same text and an installed daemon cannot miss them. Loading, the
 * language choice and the English fallback are kgi18n's (kg_i18n.h, shared with the
 * publisher's Desk page); this file adds what needs the daemon (the feed's category names).
 *
 * Keys starting with '@' describe the language itself: "@lang" (its code), "@name" (its own
 * name for it), "@default_contact" (the block page's contact when [http] block_page_contact
 * is not set: "111", the national child protection hotline, for Vietnamese; none for English).
 *
 * Which language a request gets: the viewer's own choice (the language switch: ?lang=CODE on
 * the URL, else the kg_lang cookie the dashboard sets), else [http] language when it names
 * one, else the best match of the request's Accept-Language (kg_i18n_accept_language), else
 * English. One function, rs__i18n_pick, decides for every page and every API error. The
 * choice only selects among the compiled-in catalogues (kg_i18n_find): any other value is
 * ignored, so the cookie carries no authority and needs no protection.
 *
 * Category names: the feed's translation when its manifest carries one ("category_names",
 * stored with the categories), else "category.NAME" of the catalogue, else the list's name.
 */
#include "rs_http_int.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

/* The feed's name of category `name` in language `code` into buf; 0, or < 0 when it has none. */
static int feed_cat_name(struct rs_http *h, const char *code, const char *name, char *buf,
                         size_t len)
{
	int rc;

	pthread_mutex_lock(&h->bl_lock);
	rc = h->bl ? bl_category_label(h->bl, code, name, buf, len) : BL_ESTORE;
	pthread_mutex_unlock(&h->bl_lock);
	return rc;
}

static int put_name(void *arg, const char *name, const char *text)
{
	char key[BL_CATEGORY_NAME_MAX + 16];

	snprintf(key, sizeof(key), "category.%s", name);
	cJSON_DeleteItemFromObjectCaseSensitive(arg, key);
	return cJSON_AddStringToObject(arg, key, text) ? 0 : -1;
}

/* Sets "category.NAME" in `j` for each category the feed names in language `code`: the
 * publisher's word for its categories beats the built-in catalogue's. */
static void feed_cat_names_json(struct rs_http *h, const char *code, cJSON *j)
{
	pthread_mutex_lock(&h->bl_lock);
	if (h->bl)
		bl_category_labels(h->bl, code, put_name, j);
	pthread_mutex_unlock(&h->bl_lock);
}

int rs__i18n_load(struct rs_http *h)
{
	return kg_i18n_load(&h->i18n, rs__i18n_srcs, rs__i18n_srcs_n) == 0 ? 0 : RS_ENOMEM;
}

void rs__i18n_free(struct rs_http *h)
{
	kg_i18n_free(&h->i18n);
}

int rs__i18n_pick(const struct rs_http *h, const struct rs_config *cfg, struct MHD_Connection *conn)
{
	const char *accept = NULL, *chosen = NULL;

	if (conn) {
		accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language");
		chosen = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "lang");
		if (kg_i18n_find(&h->i18n, chosen) < 0)
			chosen = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, RS_LANG_COOKIE);
	}
	return kg_i18n_choose(&h->i18n, chosen, cfg->http_language, accept);
}

const char *rs__i18n_code(const struct rs_http *h, int lang)
{
	return kg_i18n_code(&h->i18n, lang);
}

const char *rs__msg(const struct rs_http *h, int lang, const char *key)
{
	return kg_i18n_msg(&h->i18n, lang, key);
}

const char *rs__cat_label(struct rs_http *h, int lang, const char *name, char *buf, size_t len)
{
	char key[BL_CATEGORY_NAME_MAX + 16];
	const char *m;

	if (feed_cat_name(h, rs__i18n_code(h, lang), name, buf, len) == 0)
		return buf;
	snprintf(key, sizeof(key), "category.%s", name);
	m = kg_i18n_get(&h->i18n, lang, key);
	snprintf(buf, len, "%s", m && m[0] ? m : name);
	return buf;
}

const char *rs__cat_labels(struct rs_http *h, int lang, uint64_t mask, char *buf, size_t len)
{
	char one[128];
	size_t n = 0;

	buf[0] = '\0';
	for (int b = 0; b < BL_CATEGORY_MAX && n < len; b++) {
		const char *name;
		if (!(mask & (1ULL << b)))
			continue;
		name = bl_category_name(rs_server_store(h->srv), b);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
		                      name ? rs__cat_label(h, lang, name, one, sizeof(one)) : "?");
	}
	return buf;
}

/* GET /i18n.json (the negotiated language) and /i18n/<code>.json: the catalogue, with the
 * feed's category names for that language over the built-in ones. */
void rs__i18n_serve(struct rs_req *q, struct rs_resp *r, int lang)
{
	cJSON *j = kg_i18n_page_json(&q->h->i18n, lang);

	if (j)
		feed_cat_names_json(q->h, kg_i18n_code(&q->h->i18n, lang), j);
	rs__json_resp(r, 200, j);
	r->content_language = kg_i18n_code(&q->h->i18n, lang);
}

/* Which catalogue a URL names: "/i18n.json" (negotiated), "/i18n/<code>.json"; -1: none. */
int rs__i18n_url(struct rs_req *q, const struct rs_config *cfg)
{
	if (strcmp(q->url, "/i18n.json") == 0)
		return rs__i18n_pick(q->h, cfg, q->conn);
	return kg_i18n_url(&q->h->i18n, q->url, -1);
}

void rs__msg_fill(char *buf, size_t len, const char *tmpl, const char *const *kv)
{
	size_t o = 0;
	const char *p = tmpl;

	if (!len)
		return;
	while (*p && o + 1 < len) {
		const char *close = p[0] == '{' ? strchr(p, '}') : NULL, *val = NULL;
		if (close) {
			size_t n = (size_t)(close - p - 1);
			for (int i = 0; kv[i] && kv[i + 1] && !val; i += 2)
				if (strlen(kv[i]) == n && memcmp(kv[i], p + 1, n) == 0)
					val = kv[i + 1];
		}
		if (val) {
			size_t n = strlen(val);
			if (n > len - 1 - o)
				n = len - 1 - o;
			memcpy(buf + o, val, n);
			o += n;
			p = close + 1;
		} else {
			buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
}

/* Which message says why, per deciding step (steps without one show the decision's text). */
static const char *const step_msg[] = {
    [RS_STEP_REFUSE] = "block.step.refuse", [RS_STEP_STALE] = "block.step.stale",
    [RS_STEP_CANARY] = "block.step.canary", [RS_STEP_BEDTIME] = "block.step.bedtime",
    [RS_STEP_LIST] = "block.step.list",     [RS_STEP_NAME] = "block.step.name",
    [RS_STEP_STORE] = "block.step.store",
};

const char *rs__step_msg(const struct rs_verdict *k)
{
	size_t step = (size_t)k->step;

	if (k->step == RS_STEP_LIST && k->list.mandatory)
		return "block.step.mandatory";
	return step < sizeof(step_msg) / sizeof(step_msg[0]) ? step_msg[step] : NULL;
}

const char *rs__answer_label(const struct rs_http *h, int lang, const char *answer, char *buf,
                             size_t len)
{
	char key[48];
	const char *m;

	snprintf(key, sizeof(key), "answer.%s", answer);
	m = kg_i18n_get(&h->i18n, lang, key);
	snprintf(buf, len, "%s", m && m[0] ? m : answer);
	return buf;
}

int rs__req_lang(struct rs_req *q)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	int lang = rs__i18n_pick(q->h, &cr->cfg, q->conn);

	rs__http_cfg_put(cr);
	return lang;
}

void rs__api_error(struct rs_req *q, struct rs_resp *r, int status, const char *key,
                   const char *const *kv)
{
	static const char *const none[] = {NULL};
	int lang = rs__req_lang(q);
	cJSON *j = cJSON_CreateObject(), *args = NULL;
	char *text = malloc(RS_ERROR_TEXT_MAX);

	if (!kv)
		kv = none; /* rs__msg_fill reads kv for any "{...}" in the text */
	if (text)
		rs__msg_fill(text, RS_ERROR_TEXT_MAX, rs__msg(q->h, lang, key), kv);
	if (j && kv[0])
		args = cJSON_AddObjectToObject(j, "args");
	for (int i = 0; args && kv[i] && kv[i + 1]; i += 2)
		cJSON_AddStringToObject(args, kv[i], kv[i + 1]);
	if (!text || !cJSON_AddStringToObject(j, "error", text) ||
	    !cJSON_AddStringToObject(j, "key", key)) {
		cJSON_Delete(j);
		j = NULL; /* rs__json_resp: 500 out of memory */
	}
	free(text);
	rs__json_resp(r, status, j);
	if (j)
		r->content_language = rs__i18n_code(q->h, lang);
}

void rs__api_done(struct rs_req *q, struct rs_resp *r, int rc, const char *missing,
                  const char *body)
{
	if (rc == BL_ENOTFOUND)
		rs__api_error(q, r, 404, missing, NULL);
	else if (rc < 0)
		rs__api_error(q, r, 500, "error.internal", RS_KV("detail", kg_strerror(rc)));
	else
		rs__resp_text(r, 200, "application/json", body);
}
