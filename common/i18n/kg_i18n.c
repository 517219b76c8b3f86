/*
 * Message catalogues and the choice of a language (kg_i18n.h). The catalogues are parsed once
 * with cJSON at start and only read afterwards, which is why no function here takes a lock.
 */
#include "kg_i18n.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kg_log.h"

int kg_i18n_load(struct kg_i18n *c, const struct kg_i18n_src *srcs, int n)
{
	c->n = 0;
	c->en = 0;
	for (int i = 0; i < n && c->n < KG_I18N_MAX; i++) {
		cJSON *j = cJSON_ParseWithLength(srcs[i].json, srcs[i].len);
		if (!cJSON_IsObject(j)) {
			/* tests/i18n checks every catalogue at build time: a broken build */
			log_err("i18n: message catalogue %s.json does not parse", srcs[i].code);
			cJSON_Delete(j);
			continue;
		}
		snprintf(c->lang[c->n].code, sizeof(c->lang[c->n].code), "%s", srcs[i].code);
		c->lang[c->n].msgs = j;
		if (strcmp(srcs[i].code, "en") == 0)
			c->en = c->n;
		c->n++;
	}
	return c->n ? 0 : -ENOENT;
}

void kg_i18n_free(struct kg_i18n *c)
{
	for (int i = 0; i < c->n; i++)
		cJSON_Delete(c->lang[i].msgs);
	c->n = 0;
}

/* q=VALUE of one Accept-Language item (RFC 9110 12.4.2: 0, 1, 0.xyz, 1.000) in thousandths;
 * anything else is -1 (the item is ignored). */
static int qvalue(const char *p, const char *end)
{
	int q, digits = 0;

	if (p >= end || (*p != '0' && *p != '1'))
		return -1;
	q = (*p++ - '0') * 1000;
	if (p < end && *p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
			q += (*p - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
	}
	return p == end && q <= 1000 ? q : -1;
}

/* The q of one item "TAG[;q=V]" (blanks allowed around); -1 when the item is malformed. */
static int item_q(const char *semi, const char *end)
{
	const char *p = semi;

	if (p == end)
		return 1000;
	for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return -1;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return qvalue(p + 2, end);
}

int kg_i18n_accept_language(const char *header, const char *const *codes, int n)
{
	const char *p = header;
	int best = -1, best_q = 0;

	while (p && *p) {
		const char *end = p + strcspn(p, ","), *tag, *semi;
		size_t tlen;
		int q;

		for (tag = p; tag < end && (*tag == ' ' || *tag == '\t'); tag++)
			;
		semi = tag;
		while (semi < end && *semi != ';')
			semi++;
		tlen = strcspn(tag, "-;, \t");
		if (tag + tlen > semi)
			tlen = (size_t)(semi - tag);
		q = item_q(semi, end);
		/* the primary subtag decides: "vi-VN" is Vietnamese, "en-GB" English */
		for (int i = 0; i < n && q > best_q; i++) {
			if (strlen(codes[i]) == tlen && strncasecmp(tag, codes[i], tlen) == 0) {
				best = i;
				best_q = q;
			}
		}
		p = *end ? end + 1 : end;
	}
	return best;
}

int kg_i18n_find(const struct kg_i18n *c, const char *code)
{
	for (int i = 0; code && i < c->n; i++) {
		if (strcmp(code, c->lang[i].code) == 0)
			return i;
	}
	return -1;
}

int kg_i18n_pick(const struct kg_i18n *c, const char *forced, const char *accept)
{
	const char *codes[KG_I18N_MAX];
	int i = kg_i18n_find(c, forced);

	if (i >= 0)
		return i;
	for (i = 0; i < c->n; i++)
		codes[i] = c->lang[i].code;
	i = accept ? kg_i18n_accept_language(accept, codes, c->n) : -1;
	return i >= 0 ? i : c->en;
}

int kg_i18n_choose(const struct kg_i18n *c, const char *chosen, const char *forced,
                   const char *accept)
{
	int i = kg_i18n_find(c, chosen);

	return i >= 0 ? i : kg_i18n_pick(c, forced, accept);
}

const char *kg_i18n_code(const struct kg_i18n *c, int lang)
{
	return lang >= 0 && lang < c->n ? c->lang[lang].code : "en";
}

const char *kg_i18n_get(const struct kg_i18n *c, int lang, const char *key)
{
	const cJSON *v;

	if (lang < 0 || lang >= c->n)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(c->lang[lang].msgs, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *kg_i18n_msg(const struct kg_i18n *c, int lang, const char *key)
{
	const char *m = kg_i18n_get(c, lang, key);

	if (!m || (!m[0] && key[0] != '@'))
		m = kg_i18n_get(c, c->en, key);
	return m ? m : key;
}

const struct cJSON *kg_i18n_json(const struct kg_i18n *c, int lang)
{
	return lang >= 0 && lang < c->n ? c->lang[lang].msgs : NULL;
}

cJSON *kg_i18n_page_json(const struct kg_i18n *c, int lang)
{
	cJSON *j = cJSON_Duplicate(kg_i18n_json(c, lang), 1), *names;

	if (!j)
		return NULL;
	names = cJSON_AddObjectToObject(j, "@languages");
	for (int i = 0; names && i < c->n; i++) {
		if (!cJSON_AddStringToObject(names, c->lang[i].code, kg_i18n_msg(c, i, "@name")))
			names = NULL;
	}
	if (!names) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int kg_i18n_url(const struct kg_i18n *c, const char *url, int negotiated)
{
	if (strcmp(url, "/i18n.json") == 0)
		return negotiated;
	if (strncmp(url, "/i18n/", 6) != 0)
		return -1;
	for (int i = 0; i < c->n; i++) {
		size_t n = strlen(c->lang[i].code);
		if (strncmp(url + 6, c->lang[i].code, n) == 0 && strcmp(url + 6 + n, ".json") == 0)
			return i;
	}
	return -1;
}
