/*
 * One line of a snapshot or delta: a JSON object naming one rule. Strict: known keys only,
 * names already in normalised form (the publisher normalised them; a name that changes under
 * normalisation is refused rather than silently rewritten), categories from the manifest only.
 */
#include "sy_int.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const line_keys[] = {"op",      "name",  "hash", "labels",
                                        "subtree", "allow", "cats", NULL};

static int parse_cats(const struct sy_manifest *m, const cJSON *a, uint64_t *mask)
{
	const cJSON *c;

	*mask = 0;
	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return SY_EFORMAT;
	cJSON_ArrayForEach(c, a)
	{
		int i = 0;
		if (!cJSON_IsString(c))
			return SY_EFORMAT;
		while (i < m->n_categories && strcmp(m->categories[i].name, c->valuestring) != 0)
			i++;
		if (i == m->n_categories)
			return SY_EFORMAT;
		*mask |= 1ULL << i;
	}
	return 0;
}

static int parse_subject(const cJSON *o, struct sy_line *out)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *hash = cJSON_GetObjectItemCaseSensitive(o, "hash");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
	char norm[BL_NAME_MAX];

	if (cJSON_IsString(name) && !hash && !labels) {
		if (bl_name_normalize(name->valuestring, norm, sizeof(norm)) != 0 ||
		    strcmp(norm, name->valuestring) != 0)
			return SY_EFORMAT;
		memcpy(out->name, norm, strlen(norm) + 1);
		return 0;
	}
	if (name || !cJSON_IsString(hash) || !cJSON_IsNumber(labels) || labels->valuedouble < 1 ||
	    labels->valuedouble > 127 || labels->valuedouble != (double)(int)labels->valuedouble ||
	    sy__hex_decode(hash->valuestring, strlen(hash->valuestring), out->hash, BL_HASH_LEN) !=
	        0)
		return SY_EFORMAT;
	out->hashed = true;
	out->labels = (unsigned)labels->valuedouble;
	return 0;
}

static int parse_obj(const struct sy_manifest *m, bool delta, const cJSON *o, struct sy_line *out)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
	const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "subtree");
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(o, "allow");
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(o, "cats");

	if (!cJSON_IsObject(o) || !sy__keys_known(o, line_keys) || !cJSON_IsBool(sub) ||
	    (allow && !cJSON_IsBool(allow)))
		return SY_EFORMAT;
	if (op && (!delta || !cJSON_IsString(op)))
		return SY_EFORMAT;
	if (op && strcmp(op->valuestring, "del") == 0)
		out->op = SY_OP_DEL;
	else if (op && strcmp(op->valuestring, "add") != 0)
		return SY_EFORMAT;
	else if (delta && !op)
		return SY_EFORMAT;
	out->flags =
	    (cJSON_IsTrue(sub) ? BL_F_SUBTREE : 0) | (cJSON_IsTrue(allow) ? BL_F_ALLOW : 0);
	if (parse_subject(o, out) != 0 || parse_cats(m, cats, &out->cat_index) != 0)
		return SY_EFORMAT;
	/* An allow or a removal names no categories; a deny needs at least one. */
	if ((out->op == SY_OP_DEL || (out->flags & BL_F_ALLOW)) ? out->cat_index != 0
	                                                        : out->cat_index == 0)
		return SY_EFORMAT;
	return 0;
}

int sy_line_parse(const struct sy_manifest *m, bool delta, const char *line, size_t len,
                  struct sy_line *out)
{
	cJSON *o;
	int rc;

	if (len == 0 || len > SY_LINE_MAX || memchr(line, '\0', len))
		return SY_EFORMAT;
	o = sy__json_parse(line, len);
	if (!o)
		return SY_EFORMAT;
	memset(out, 0, sizeof(*out));
	rc = parse_obj(m, delta, o, out);
	cJSON_Delete(o);
	return rc;
}
