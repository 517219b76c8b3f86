/*
 * The message catalogues: every string a parent or a child sees on the block page, the report
 * pages and (through GET /i18n.json) the dashboard. One source of truth per language,
 * www/i18n/<lang>.json, a flat {"key": "text"} map with "{name}" placeholders; the build
 * compiles the files into the binary (embed_i18n.cmake), so the daemon's pages and the
 * browser's read the same text and an installed daemon cannot miss them. They are parsed once
 * with cJSON at start and only read afterwards, by both libmicrohttpd threads, without a lock.
 *
 * Keys starting with '@' describe the language itself: "@lang" (its code), "@name" (its own
 * name for it), "@default_contact" (the block page's contact when [http] block_page_contact
 * is not set: "111", the national child protection hotline, for Vietnamese; none for English).
 *
 * Which language a request gets: [http] language when it names one, else the best match of
 * the request's Accept-Language (rs__accept_language), else English. One function,
 * rs__i18n_pick, decides for every page.
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

/* The feed's name of category `name` in language `code` into buf; 0, or -1 when it has none. */
static int feed_cat_name(struct rs_http *h, const char *code, const char *name, char *buf,
                         size_t len)
{
	(void)h;
	(void)code;
	(void)name;
	(void)buf;
	(void)len;
	return -1;
}

/* Sets "category.NAME" in `j` for each category the feed names in language `code`. */
static void feed_cat_names_json(struct rs_http *h, const char *code, cJSON *j)
{
	(void)h;
	(void)code;
	(void)j;
}

int rs__i18n_load(struct rs_http *h)
{
	struct rs_i18n *c = &h->i18n;

	c->n = 0;
	c->en = 0;
	for (int i = 0; i < rs__i18n_n_srcs && c->n < RS_I18N_MAX; i++) {
		const struct rs__i18n_src *s = &rs__i18n_srcs[i];
		cJSON *j = cJSON_ParseWithLength(s->json, s->len);
		if (!cJSON_IsObject(j)) {
			/* tests/i18n checks every catalogue at build time: this is a broken build
			 */
			log_err("http: message catalogue %s.json does not parse", s->code);
			cJSON_Delete(j);
			continue;
		}
		snprintf(c->lang[c->n].code, sizeof(c->lang[c->n].code), "%s", s->code);
		c->lang[c->n].msgs = j;
		if (strcmp(s->code, "en") == 0)
			c->en = c->n;
		c->n++;
	}
	return c->n ? 0 : RS_ENOMEM;
}

void rs__i18n_free(struct rs_http *h)
{
	for (int i = 0; i < h->i18n.n; i++)
		cJSON_Delete(h->i18n.lang[i].msgs);
	h->i18n.n = 0;
}

int rs__i18n_pick(const struct rs_http *h, const struct rs_config *cfg, struct MHD_Connection *conn)
{
	const struct rs_i18n *c = &h->i18n;
	const char *codes[RS_I18N_MAX];
	const char *accept;
	int i;

	for (i = 0; i < c->n; i++) {
		codes[i] = c->lang[i].code;
		if (strcmp(cfg->http_language, codes[i]) == 0)
			return i; /* forced by [http] language */
	}
	accept =
	    conn ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language") : NULL;
	i = accept ? rs__accept_language(accept, codes, c->n) : -1;
	return i >= 0 ? i : c->en;
}

const char *rs__i18n_code(const struct rs_http *h, int lang)
{
	return lang >= 0 && lang < h->i18n.n ? h->i18n.lang[lang].code : "en";
}

static const char *lookup(const struct rs_i18n *c, int lang, const char *key)
{
	const cJSON *v;

	if (lang < 0 || lang >= c->n)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(c->lang[lang].msgs, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *rs__msg(const struct rs_http *h, int lang, const char *key)
{
	const char *m = lookup(&h->i18n, lang, key);

	if (!m || (!m[0] && key[0] != '@'))
		m = lookup(&h->i18n, h->i18n.en, key);
	return m ? m : key; /* a missing key shows itself; tests/i18n refuses it */
}

const char *rs__cat_label(struct rs_http *h, int lang, const char *name, char *buf, size_t len)
{
	char key[BL_CATEGORY_NAME_MAX + 16];
	const char *m;

	if (feed_cat_name(h, rs__i18n_code(h, lang), name, buf, len) == 0)
		return buf;
	snprintf(key, sizeof(key), "category.%s", name);
	m = lookup(&h->i18n, lang, key);
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
	const struct rs_i18n *c = &q->h->i18n;
	cJSON *j = cJSON_Duplicate(c->lang[lang].msgs, 1);

	if (j)
		feed_cat_names_json(q->h, c->lang[lang].code, j);
	rs__json_resp(r, 200, j);
	r->content_language = c->lang[lang].code;
}

/* Which catalogue a URL names: "/i18n.json" (negotiated), "/i18n/<code>.json"; -1: none. */
int rs__i18n_url(struct rs_req *q, const struct rs_config *cfg)
{
	const struct rs_i18n *c = &q->h->i18n;
	const char *u = q->url;

	if (strcmp(u, "/i18n.json") == 0)
		return rs__i18n_pick(q->h, cfg, q->conn);
	if (strncmp(u, "/i18n/", 6) != 0)
		return -1;
	for (int i = 0; i < c->n; i++) {
		size_t n = strlen(c->lang[i].code);
		if (strncmp(u + 6, c->lang[i].code, n) == 0 && strcmp(u + 6 + n, ".json") == 0)
			return i;
	}
	return -1;
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
	m = lookup(&h->i18n, lang, key);
	snprintf(buf, len, "%s", m && m[0] ? m : answer);
	return buf;
}
