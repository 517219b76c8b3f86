/*
 * The intake's parsers: what an appliance (or anyone on the internet) may POST to the desk.
 *
 * Both bodies are JSON. They are parsed once, strictly, into fixed structs before anything is
 * stored: an unknown key, a duplicate, a bad name or an out-of-range number refuses the whole
 * request. Strict on purpose: a batch is defined to carry no address, no time finer than the
 * day and no profile name (design.md "Desk"); a key nobody defined is refused rather than
 * stored, so nothing identifying can slip into the store through a field the desk ignores.
 */
#include "dk.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"

#define SOFTWARE_PREFIX_MAX DK_SOFTWARE_MAX
#define EPSILON_MAX         100.0
#define K_MAX               100000
#define FEED_VERSION_MAX    4294967295.0
#define DAY_LAST            2932896u

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(unsigned y, unsigned m)
{
	static const unsigned d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

int dk_day_parse(const char *s, uint32_t *day)
{
	unsigned y, m, d;
	uint32_t n = 0;
	char tail;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3)
		return -EINVAL;
	for (int i = 0; i < 10; i++) {
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -EINVAL;
	}
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return -EINVAL;
	for (unsigned i = 1970; i < y; i++)
		n += is_leap(i) ? 366 : 365;
	for (unsigned i = 1; i < m; i++)
		n += month_days(y, i);
	*day = n + d - 1;
	return 0;
}

void dk_day_format(uint32_t day, char out[11])
{
	unsigned y = 1970, m = 1;

	if (day > DAY_LAST)
		day = DAY_LAST; /* 9999-12-31: what dk_day_parse accepts */
	while (day >= (is_leap(y) ? 366u : 365u)) {
		day -= is_leap(y) ? 366 : 365;
		y++;
	}
	while (day >= month_days(y, m)) {
		day -= month_days(y, m);
		m++;
	}
	snprintf(out, 11, "%04u-%02u-%02u", y % 10000, m % 100, (day + 1) % 100);
}

int dk_name_check(const char *in, char *out)
{
	char tmp[DK_DOMAIN_MAX];

	if (!in || strlen(in) >= DK_DOMAIN_MAX || bl_name_normalize(in, tmp, sizeof(tmp)) != 0)
		return -EINVAL;
	/* A candidate is a registrable domain or below: never a TLD alone. */
	if (!strchr(tmp, '.'))
		return -EINVAL;
	for (const char *c = tmp; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.' || *c == '_'))
			return -EINVAL;
	}
	memcpy(out, tmp, strlen(tmp) + 1);
	return 0;
}

int dk_category_check(const char *c)
{
	size_t n = c ? strlen(c) : 0;

	if (n == 0 || n >= DK_CATEGORY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '-' ||
		      c[i] == '_'))
			return -EINVAL;
	}
	return 0;
}

/* A short printable ASCII string into `out` (`len` bytes), or -EINVAL. */
static int copy_text(const cJSON *v, char *out, size_t len)
{
	size_t n;

	if (!cJSON_IsString(v) || !v->valuestring)
		return -EINVAL;
	n = strlen(v->valuestring);
	if (n >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (v->valuestring[i] < 0x20 || v->valuestring[i] > 0x7e)
			return -EINVAL;
	}
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* A whole number 0..max, or -EINVAL. */
static int whole(const cJSON *v, double max, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d > max || d != floor(d))
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

static cJSON *parse_object(const char *body, size_t len)
{
	cJSON *o;

	if (!body || len == 0)
		return NULL;
	o = cJSON_ParseWithLength(body, len);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* 0 when every key of object `o` is in `keys` (NULL-terminated) and none repeats. */
static int keys_known(const cJSON *o, const char *const *keys, char *why, size_t whylen)
{
	unsigned seen = 0;

	for (const cJSON *c = o->child; c; c = c->next) {
		int i = 0;
		while (keys[i] && (!c->string || strcmp(keys[i], c->string) != 0))
			i++;
		if (!keys[i])
			return fail(why, whylen, "unknown key \"%.40s\"",
			            c->string ? c->string : "");
		if (seen & (1u << i))
			return fail(why, whylen, "duplicate key \"%s\"", keys[i]);
		seen |= 1u << i;
	}
	return 0;
}

static int parse_obs(const cJSON *d, struct dk_obs *o, char *why, size_t whylen)
{
	static const char *const keys[] = {"domain", "count", NULL};
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "domain");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(d, "count");

	if (!cJSON_IsObject(d))
		return fail(why, whylen, "%s", "domains[] holds objects");
	if (keys_known(d, keys, why, whylen) != 0)
		return -EINVAL;
	if (!cJSON_IsString(name) || dk_name_check(name->valuestring, o->domain) != 0)
		return fail(why, whylen, "%s", "bad or missing domain");
	if (!cJSON_IsNumber(count) || !isfinite(count->valuedouble) ||
	    fabs(count->valuedouble) > DK_COUNT_MAX)
		return fail(why, whylen, "bad count for %s", o->domain);
	o->count = count->valuedouble;
	return 0;
}

static int cmp_obs(const void *a, const void *b)
{
	return strcmp(((const struct dk_obs *)a)->domain, ((const struct dk_obs *)b)->domain);
}

static int parse_domains(const cJSON *arr, struct dk_batch *b, char *why, size_t whylen)
{
	int n = cJSON_GetArraySize(arr), i = 0;
	const cJSON *d;

	if (!cJSON_IsArray(arr) || n > DK_BATCH_DOMAINS_MAX)
		return fail(why, whylen, "domains: want at most %d objects", DK_BATCH_DOMAINS_MAX);
	if (n == 0)
		return 0; /* an appliance whose children reached nothing new by k clients */
	b->obs = calloc((size_t)n, sizeof(*b->obs));
	if (!b->obs)
		return -ENOMEM;
	cJSON_ArrayForEach(d, arr)
	{
		if (parse_obs(d, &b->obs[i++], why, whylen) != 0)
			return -EINVAL;
	}
	b->n = (size_t)n;
	/* Sorted: one store transaction then writes in key order, and duplicates are adjacent. */
	if (b->n > 1)
		qsort(b->obs, b->n, sizeof(*b->obs), cmp_obs);
	for (size_t j = 1; j < b->n; j++) {
		if (strcmp(b->obs[j - 1].domain, b->obs[j].domain) == 0)
			return fail(why, whylen, "duplicate domain %s", b->obs[j].domain);
	}
	return 0;
}

static int parse_batch(const cJSON *o, struct dk_batch *b, char *why, size_t whylen)
{
	static const char *const keys[] = {"day", "feed_version", "software", "epsilon",
	                                   "k",   "domains",      NULL};
	const cJSON *day = cJSON_GetObjectItemCaseSensitive(o, "day");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "epsilon");
	uint64_t k = 0;

	if (keys_known(o, keys, why, whylen) != 0)
		return -EINVAL;
	if (!cJSON_IsString(day) || dk_day_parse(day->valuestring, &b->day) != 0)
		return fail(why, whylen, "%s", "day: want YYYY-MM-DD");
	if (whole(cJSON_GetObjectItemCaseSensitive(o, "feed_version"), FEED_VERSION_MAX,
	          &b->feed_version) != 0)
		return fail(why, whylen, "%s", "feed_version: want a whole number");
	if (copy_text(cJSON_GetObjectItemCaseSensitive(o, "software"), b->software,
	              sizeof(b->software)) != 0)
		return fail(why, whylen, "%s", "software: want a short text");
	if (!cJSON_IsNumber(eps) || !isfinite(eps->valuedouble) || eps->valuedouble <= 0 ||
	    eps->valuedouble > EPSILON_MAX)
		return fail(why, whylen, "%s", "epsilon: want a number in (0, 100]");
	b->epsilon = eps->valuedouble;
	if (whole(cJSON_GetObjectItemCaseSensitive(o, "k"), K_MAX, &k) != 0 || k < 1)
		return fail(why, whylen, "%s", "k: want a whole number >= 1");
	b->k = (uint32_t)k;
	return parse_domains(cJSON_GetObjectItemCaseSensitive(o, "domains"), b, why, whylen);
}

int dk_parse_signal(const char *body, size_t len, struct dk_batch *out, char *why, size_t whylen)
{
	cJSON *o = parse_object(body, len);
	struct dk_batch b = {0};
	int rc;

	if (!o)
		return fail(why, whylen, "%s", "not a JSON object");
	rc = parse_batch(o, &b, why, whylen);
	cJSON_Delete(o);
	if (rc != 0) {
		dk_batch_free(&b);
		return rc;
	}
	*out = b;
	return 0;
}

void dk_batch_free(struct dk_batch *b)
{
	free(b->obs);
	b->obs = NULL;
	b->n = 0;
}

static int parse_rep(const cJSON *o, struct dk_report *r, char *why, size_t whylen)
{
	static const char *const keys[] = {"type",         "kind",     "domain", "category",
	                                   "feed_version", "software", NULL};
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "domain");
	const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "category");

	if (keys_known(o, keys, why, whylen) != 0)
		return -EINVAL;
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "kidguard-report") != 0)
		return fail(why, whylen, "%s", "type: want \"kidguard-report\"");
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "wrong_block") == 0)
		r->kind = DK_REPORT_WRONG_BLOCK;
	else if (cJSON_IsString(kind) && strcmp(kind->valuestring, "not_blocked") == 0)
		r->kind = DK_REPORT_NOT_BLOCKED;
	else
		return fail(why, whylen, "%s", "kind: want wrong_block or not_blocked");
	if (!cJSON_IsString(name) || dk_name_check(name->valuestring, r->domain) != 0)
		return fail(why, whylen, "%s", "bad or missing domain");
	if (cat && copy_text(cat, r->category, sizeof(r->category)) != 0)
		return fail(why, whylen, "%s", "category: want a short text");
	if (whole(cJSON_GetObjectItemCaseSensitive(o, "feed_version"), FEED_VERSION_MAX,
	          &r->feed_version) != 0)
		return fail(why, whylen, "%s", "feed_version: want a whole number");
	if (copy_text(cJSON_GetObjectItemCaseSensitive(o, "software"), r->software,
	              sizeof(r->software)) != 0)
		return fail(why, whylen, "%s", "software: want a short text");
	return 0;
}

int dk_parse_report(const char *body, size_t len, struct dk_report *out, char *why, size_t whylen)
{
	cJSON *o = parse_object(body, len);
	struct dk_report r = {0};
	int rc;

	if (!o)
		return fail(why, whylen, "%s", "not a JSON object");
	rc = parse_rep(o, &r, why, whylen);
	cJSON_Delete(o);
	if (rc == 0)
		*out = r;
	return rc;
}
