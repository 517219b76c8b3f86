/*
 * kidguard-feed subscribers: the ISP's subscriber table (prefix -> profile) as a signed channel
 * the fleet's nodes poll ([subscribers] url). The machinery is the feed's: the same directory
 * layout, atomic writes, signed manifest (under the subscriber payload type), snapshot and
 * deltas from the kept versions, read back with the nodes' own parser. Only the lines differ
 * (docs/feed-format.md, "The subscriber channel").
 *
 * The snapshot lists the table in the store's key order, one canonical "client PREFIX PROFILE"
 * line each, then the households ("profile NAME {json}", by name; the JSON as PUT
 * /api/profiles takes it, checked by the nodes' own parser and printed without blanks) and the
 * device IDs ("device HASH PROFILE", by hash: the SHA-256 of the ID, never the ID). The hash
 * printed here is computed over those lines exactly as a node computes it over its table and
 * the channel's records (bl_clients_hash_line), so every node that applied this version
 * without local changes reports it (kidguard_subscribers_hash: its first 48 bits).
 *
 * Memory: the publisher holds the table (about 100 bytes per prefix or device, the JSON text
 * per household); the nodes stream it.
 */
#include "feed.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_EXPIRES (7 * 86400)
#define DEFAULT_KEEP    5
#define TABLE_MAX       (64ULL << 20) /* prefixes in one table */

struct ent {
	struct bl_prefix p;
	char prof[SY_SUBS_NAME_MAX];
};

/* A household: its name, the SHA-256 of its line (what the hash sums) and, for the table being
 * published, the canonical JSON. */
struct hh {
	char name[BL_PROFILE_NAME_MAX];
	uint8_t digest[BL_SUBS_HASH_LEN];
	char *json;
};

struct dev {
	uint8_t hash[BL_DEVICE_HASH_LEN];
	char prof[SY_SUBS_NAME_MAX];
};

struct table {
	struct ent *v;
	size_t n, cap;
	struct hh *h;
	size_t nh, caph;
	struct dev *d;
	size_t nd, capd;
};

/* Grow `*v` (`*cap` elements of `size`) to hold one more. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 4096;
	void *nv;

	if (n < *cap)
		return 0;
	if (c > TABLE_MAX || !(nv = realloc(*v, c * size)))
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nh; i++)
		free(t->h[i].json);
	free(t->v);
	free(t->h);
	free(t->d);
}

/* The profile names the nodes define (--profiles, --config): a table naming another is refused,
 * naming the line, unless --allow-undefined (a typo would give subscribers a weaker profile). */
#define KNOWN_MAX 256
struct known {
	char names[KNOWN_MAX][SY_SUBS_NAME_MAX];
	int n;
	bool any; /* --allow-undefined */
};
static struct known known;

static int known_add(const char *name, size_t len)
{
	if (len == 0 || len >= SY_SUBS_NAME_MAX || known.n == KNOWN_MAX)
		return -1;
	memcpy(known.names[known.n], name, len);
	known.names[known.n++][len] = '\0';
	return 0;
}

/* "a,b c": names separated by commas and/or spaces. */
static int known_list(const char *list)
{
	while (*list) {
		size_t n = strcspn(list, ", ");
		if (n && known_add(list, n) != 0)
			return -1;
		list += n;
		list += strspn(list, ", ");
	}
	return 0;
}

/* The "[profile NAME]" sections of a kidguard.conf (the nodes' config). */
static int known_config(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[512];
	int rc = 0;

	if (!f) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t"), *end;
		if (strncmp(p, "[profile ", 9) != 0 || !(end = strchr(p, ']')))
			continue;
		p += 9;
		p += strspn(p, " \t");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		rc = known_add(p, (size_t)(end - p));
	}
	fclose(f);
	return rc;
}

static bool known_ok(const char *name)
{
	for (int i = 0; i < known.n; i++) {
		if (strcmp(known.names[i], name) == 0)
			return true;
	}
	return known.any;
}

static void known_print(FILE *out)
{
	for (int i = 0; i < known.n; i++)
		fprintf(out, "%s%s", i ? ", " : "", known.names[i]);
}

static int table_add(struct table *t, const struct bl_prefix *p, const char *prof)
{
	if (grow((void **)&t->v, &t->cap, t->n, sizeof(*t->v)) != 0)
		return -ENOMEM;
	t->v[t->n].p = *p;
	snprintf(t->v[t->n].prof, sizeof(t->v[t->n].prof), "%s", prof);
	t->n++;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	return bl_prefix_cmp(&((const struct ent *)a)->p, &((const struct ent *)b)->p);
}

static int hh_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hh *)a)->name, ((const struct hh *)b)->name);
}

static int dev_cmp(const void *a, const void *b)
{
	return memcmp(((const struct dev *)a)->hash, ((const struct dev *)b)->hash,
	              BL_DEVICE_HASH_LEN);
}

/* Sort the households and devices; one name or hash twice is an error (unless the same). */
static int finish_records(struct table *t, const char *what)
{
	size_t o = 0;

	if (t->nh > 1)
		qsort(t->h, t->nh, sizeof(*t->h), hh_cmp);
	for (size_t i = 1; i < t->nh; i++) {
		if (strcmp(t->h[i - 1].name, t->h[i].name) == 0) {
			fprintf(stderr, "kidguard-feed: %s: household %s defined twice\n", what,
			        t->h[i].name);
			return -EINVAL;
		}
	}
	if (t->nd > 1)
		qsort(t->d, t->nd, sizeof(*t->d), dev_cmp);
	for (size_t i = 0; i < t->nd; i++) {
		if (o > 0 && dev_cmp(&t->d[o - 1], &t->d[i]) == 0) {
			if (strcmp(t->d[o - 1].prof, t->d[i].prof) == 0)
				continue;
			fprintf(stderr,
			        "kidguard-feed: %s: a device hash mapped to both %s and %s\n", what,
			        t->d[o - 1].prof, t->d[i].prof);
			return -EINVAL;
		}
		t->d[o++] = t->d[i];
	}
	t->nd = o;
	return 0;
}

/* Sort; the same prefix twice is an error unless both name the same profile. */
static int table_finish(struct table *t, const char *what)
{
	size_t o = 0;

	if (finish_records(t, what) != 0)
		return -EINVAL;

	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), ent_cmp);
	for (size_t i = 0; i < t->n; i++) {
		if (o > 0 && bl_prefix_cmp(&t->v[o - 1].p, &t->v[i].p) == 0) {
			char buf[64];
			if (strcmp(t->v[o - 1].prof, t->v[i].prof) == 0)
				continue;
			fprintf(stderr, "kidguard-feed: %s: %s mapped to both %s and %s\n", what,
			        bl_prefix_str(&t->v[i].p, buf, sizeof(buf)), t->v[o - 1].prof,
			        t->v[i].prof);
			return -EINVAL;
		}
		t->v[o++] = t->v[i];
	}
	t->n = o;
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SY_SUBS_NAME_MAX)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Feed-defined category names the nodes know (--categories), besides the built-in ones: what
 * a household's block_add / block_remove may name. */
#define CATS_MAX (BL_CATEGORY_MAX - BL_CATEGORY_BUILTIN)
static char cats[CATS_MAX][BL_CATEGORY_NAME_MAX];
static int ncats;

static int cats_list(const char *list)
{
	while (*list) {
		size_t n = strcspn(list, ", ");
		if (n && (ncats == CATS_MAX || n >= BL_CATEGORY_NAME_MAX))
			return -1;
		if (n) {
			memcpy(cats[ncats], list, n);
			cats[ncats++][n] = '\0';
		}
		list += n;
		list += strspn(list, ", ");
	}
	return 0;
}

static int cat_find(void *arg, const char *name, int *bit)
{
	(void)arg;
	if (bl_category_find(NULL, name, bit) == 0)
		return 0;
	for (int i = 0; i < ncats; i++) {
		if (strcmp(cats[i], name) == 0) {
			*bit = BL_CATEGORY_BUILTIN + i;
			return 0;
		}
	}
	return -ENOENT;
}

/* The SHA-256 of a line (with its newline): its part of the hash, alone. */
static void line_digest(const char *line, size_t len, uint8_t d[BL_SUBS_HASH_LEN])
{
	memset(d, 0, BL_SUBS_HASH_LEN);
	bl_clients_hash_line(d, line, len, true);
}

/* The channel line of household `h` into `buf` (SY_LINE_MAX + 2 bytes). Returns its length. */
static size_t hh_line(const struct hh *h, char *buf)
{
	int n = snprintf(buf, SY_LINE_MAX + 2, "profile %s %s\n", h->name, h->json);

	return n < 0 ? 0 : (size_t)n;
}

/* "profile NAME {json}" (`rest`: after "profile"): checked by the nodes' parser, the JSON
 * printed without blanks (the line is hashed: one text per record). */
/* Sort an object's keys (and those of objects inside it) by name, so that one household gives
 * one line, whatever order the ISP's system wrote the keys in: the line is hashed, and two
 * spellings of the same content must not look like drift. Arrays keep their order. An object
 * with more keys than a household can have is left as it is (the decoder refuses it). */
static int key_cmp(const void *a, const void *b)
{
	return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

static void sort_keys(cJSON *j)
{
	cJSON *kids[64], *c;
	int n = 0;

	for (c = j->child; c; c = c->next)
		sort_keys(c);
	if (!cJSON_IsObject(j))
		return;
	for (c = j->child; c; c = c->next)
		if (n == (int)(sizeof(kids) / sizeof(kids[0])) || !c->string)
			return;
		else
			kids[n++] = c;
	if (n < 2)
		return;
	qsort(kids, (size_t)n, sizeof(kids[0]), key_cmp);
	for (int i = 0; i < n; i++)
		cJSON_DetachItemViaPointer(j, kids[i]);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(j, kids[i]); /* an object is an array whose items have names */
}

static int read_household(struct table *t, char *rest, const char *file, unsigned long no)
{
	char *name = rest + strspn(rest, " \t"), *json, *end, err[200], *line = NULL;
	struct bl_profile_rec *rec = malloc(sizeof(*rec));
	cJSON *j = NULL;
	struct hh h = {0};
	int rc = -EINVAL;
	size_t n;

	json = name + strcspn(name, " \t");
	n = (size_t)(json - name);
	json += strspn(json, " \t");
	end = json + strlen(json);
	while (end > json && strchr(" \t\r\n", end[-1]))
		*--end = '\0';
	if (!rec || !(line = malloc(SY_LINE_MAX + 2))) {
		rc = -ENOMEM;
		goto out;
	}
	if (n == 0 || n >= sizeof(h.name)) {
		fprintf(stderr, "kidguard-feed: %s:%lu: not \"profile NAME {json}\"\n", file, no);
		goto out;
	}
	memcpy(h.name, name, n);
	if (!bl_profile_name_valid(h.name)) {
		fprintf(stderr,
		        "kidguard-feed: %s:%lu: household '%s': a name is 1..31 of a-z, 0-9, _ -\n",
		        file, no, h.name);
		goto out;
	}
	if ((j = cJSON_ParseWithLength(json, (size_t)(end - json))))
		sort_keys(j);
	if (!j || !(h.json = cJSON_PrintUnformatted(j))) {
		fprintf(stderr, "kidguard-feed: %s:%lu: household %s: not JSON\n", file, no,
		        h.name);
		goto out;
	}
	if (sy_household_decode(h.json, strlen(h.json), cat_find, NULL, rec, err, sizeof(err))) {
		fprintf(stderr, "kidguard-feed: %s:%lu: household %s: %s\n", file, no, h.name, err);
		goto out;
	}
	if ((rec->set & BL_PF_TEMPLATE) && rec->tmpl[0] && !known_ok(rec->tmpl)) {
		fprintf(stderr,
		        "kidguard-feed: %s:%lu: household %s: unknown template '%s': the nodes "
		        "define ",
		        file, no, h.name, rec->tmpl);
		known_print(stderr);
		fprintf(stderr, " (--allow-undefined publishes it anyway)\n");
		goto out;
	}
	if ((n = hh_line(&h, line)) > SY_LINE_MAX) {
		fprintf(stderr, "kidguard-feed: %s:%lu: household %s: longer than %d bytes\n", file,
		        no, h.name, SY_LINE_MAX);
		goto out;
	}
	line_digest(line, n, h.digest);
	if ((rc = grow((void **)&t->h, &t->caph, t->nh, sizeof(*t->h))) == 0) {
		t->h[t->nh++] = h;
		h.json = NULL;
	}
out:
	free(h.json);
	free(line);
	free(rec);
	cJSON_Delete(j);
	return rc;
}

/* A household this table defines (after the first pass: t->h sorted)? */
static bool household_defined(const struct table *t, const char *name)
{
	struct hh key = {0};

	snprintf(key.name, sizeof(key.name), "%s", name);
	return t->nh && bsearch(&key, t->h, t->nh, sizeof(*t->h), hh_cmp);
}

static int unknown_profile(const char *file, unsigned long no, const char *name)
{
	fprintf(stderr, "kidguard-feed: %s:%lu: unknown profile '%s': the nodes define ", file, no,
	        name);
	known_print(stderr);
	fprintf(stderr, " (or a household of this table; --allow-undefined publishes it anyway)\n");
	return -EINVAL;
}

/* "device HASH PROFILE": the SHA-256 of the device's ID (kidguard-feed device-hash ID). */
static int read_device(struct table *t, const char *h, const char *prof, const char *file,
                       unsigned long no)
{
	struct dev d = {0};

	if (!h || !prof || !sy_hex_hash(h, strlen(h), d.hash) || !name_ok(prof)) {
		fprintf(
		    stderr,
		    "kidguard-feed: %s:%lu: not \"device HASH PROFILE\" (HASH: 64 lowercase hex "
		    "digits, kidguard-feed device-hash ID)\n",
		    file, no);
		return -EINVAL;
	}
	if (!known_ok(prof) && !household_defined(t, prof))
		return unknown_profile(file, no, prof);
	snprintf(d.prof, sizeof(d.prof), "%s", prof);
	if (grow((void **)&t->d, &t->capd, t->nd, sizeof(*t->d)) != 0)
		return -ENOMEM;
	t->d[t->nd++] = d;
	return 0;
}

/* One line of the ISP's input: "PREFIX PROFILE" or "client PREFIX PROFILE", "device HASH
 * PROFILE" ('#' comments), "profile NAME {json}" (whole-line comments only). Households are
 * read in the first pass, the rest in the second (a client or device may name a household). */
static int read_line(struct table *t, char *line, const char *file, unsigned long no, int pass)
{
	char *save = NULL, *a, *b, *c, *x, *s = line + strspn(line, " \t");
	struct bl_prefix p;

	if (strncmp(s, "profile", 7) == 0 && (s[7] == ' ' || s[7] == '\t'))
		return pass == 1 ? read_household(t, s + 7, file, no) : 0;
	if (pass == 1)
		return 0;
	line[strcspn(line, "#\r\n")] = '\0';
	a = strtok_r(line, " \t", &save);
	if (!a)
		return 0;
	b = strtok_r(NULL, " \t", &save);
	c = strtok_r(NULL, " \t", &save);
	x = c ? strtok_r(NULL, " \t", &save) : NULL;
	if (strcmp(a, "device") == 0 && !x)
		return read_device(t, b, c, file, no);
	if (c && strcmp(a, "client") == 0) {
		a = b;
		b = c;
	} else if (c) {
		x = c;
	}
	if (!b || x || bl_prefix_parse(a, &p) != 0 || !name_ok(b)) {
		fprintf(stderr, "kidguard-feed: %s:%lu: not \"PREFIX PROFILE\"\n", file, no);
		return -EINVAL;
	}
	if (!known_ok(b) && !household_defined(t, b))
		return unknown_profile(file, no, b);
	return table_add(t, &p, b);
}

#define INPUT_LINE_MAX (64 * 1024) /* an input line (a household's JSON may have blanks) */

static int read_pass(struct table *t, const char *file, int pass, char *line)
{
	FILE *f = fopen(file, "r");
	unsigned long no = 0;
	int rc = 0;

	if (!f) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, strerror(errno));
		return -errno;
	}
	while (rc == 0 && fgets(line, INPUT_LINE_MAX, f)) {
		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "kidguard-feed: %s:%lu: longer than %d bytes\n", file, no,
			        INPUT_LINE_MAX - 2);
			rc = -EINVAL;
			break;
		}
		rc = read_line(t, line, file, no, pass);
	}
	fclose(f);
	if (rc == 0 && pass == 1 && t->nh > 1)
		qsort(t->h, t->nh, sizeof(*t->h), hh_cmp);
	return rc;
}

static int read_table(struct table *t, const char *file)
{
	char *line = malloc(INPUT_LINE_MAX);
	int rc = line ? read_pass(t, file, 1, line) : -ENOMEM;

	rc = rc ? rc : read_pass(t, file, 2, line);
	free(line);
	return rc ? rc : table_finish(t, file);
}

/* ---- Reading back an earlier version ------------------------------------------------------ */

static int old_line(void *arg, const char *line, size_t len)
{
	struct table *t = arg;
	struct sy_subs_line l;
	int rc = sy_subs_line_parse(false, line, len, &l);
	char *nl;

	if (rc != 0)
		return SY_EFORMAT;
	switch (l.kind) {
	case SY_SUBS_CLIENT:
		return table_add(t, &l.prefix, l.name);
	case SY_SUBS_DEVICE:
		if (grow((void **)&t->d, &t->capd, t->nd, sizeof(*t->d)) != 0)
			return -ENOMEM;
		memcpy(t->d[t->nd].hash, l.hash, sizeof(l.hash));
		memcpy(t->d[t->nd++].prof, l.name, sizeof(l.name));
		return 0;
	case SY_SUBS_PROFILE: /* its name and digest: what a delta compares */
		if (grow((void **)&t->h, &t->caph, t->nh, sizeof(*t->h)) != 0 ||
		    !(nl = malloc(len + 1)))
			return -ENOMEM;
		memcpy(nl, line, len);
		nl[len] = '\n';
		memset(&t->h[t->nh], 0, sizeof(t->h[t->nh]));
		memcpy(t->h[t->nh].name, l.name, sizeof(l.name));
		line_digest(nl, len + 1, t->h[t->nh++].digest);
		free(nl);
		return 0;
	default:
		return SY_EFORMAT;
	}
}

static int read_old(const struct pub *p, uint64_t v, struct sy_manifest *om, struct table *t)
{
	char file[FEED_PATH_MAX];
	uint8_t *data;
	size_t len;
	int rc;

	feed_path(file, p, FF_MANIFEST_V, v, 0);
	if (feed_load_manifest(p, SY_SUBS_TYPE, file, om) != 0 || om->version != v)
		return 1; /* gone or signed by another key: no delta from v */
	feed_path(file, p, FF_SNAPSHOT, v, 0);
	if (feed_slurp(file, (size_t)1 << 32, &data, &len) != 0)
		return 1;
	rc = sy_file_check(&om->snapshot, data, len);
	if (rc == 0)
		rc = sy_file_raw_lines(&om->snapshot, data, len, UINT64_MAX, old_line, t);
	free(data);
	return rc == 0 ? table_finish(t, "old snapshot") : rc;
}

/* ---- Writing ---------------------------------------------------------------------------- */

/* The households' and devices' lines after the prefixes'. */
static int write_records(const struct table *t, struct gzw *g, uint8_t sum[BL_SUBS_HASH_LEN])
{
	char *line = malloc(SY_LINE_MAX + 2);
	int rc = line ? 0 : -ENOMEM;

	for (size_t i = 0; i < t->nh && rc == 0; i++) {
		size_t n = hh_line(&t->h[i], line);
		bl_clients_hash_line(sum, line, n, true);
		rc = gzw_text(g, line, n);
	}
	for (size_t i = 0; i < t->nd && rc == 0; i++) {
		size_t n = bl_device_line(t->d[i].hash, t->d[i].prof, line, SY_LINE_MAX);
		bl_clients_hash_line(sum, line, n, true);
		rc = gzw_text(g, line, n);
	}
	free(line);
	return rc;
}

/* The snapshot, and the table's hash (CLIENTS HASH of bl_store.c) into `sum`. */
static int write_snapshot(struct pub *p, const struct table *t, uint8_t sum[BL_SUBS_HASH_LEN])
{
	char file[FEED_PATH_MAX], tmp[FEED_PATH_MAX + 8], line[128];
	struct gzw *g;
	int rc;

	memset(sum, 0, BL_SUBS_HASH_LEN);
	feed_path(file, p, FF_SNAPSHOT, p->m.version, 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	if ((rc = gzw_open(&g, tmp)) != 0)
		return rc;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		size_t n = bl_clients_line(&t->v[i].p, t->v[i].prof, line, sizeof(line));
		bl_clients_hash_line(sum, line, n, true);
		rc = gzw_text(g, line, n);
	}
	rc = rc ? rc : write_records(t, g, sum);
	rc = rc ? rc : gzw_close(g, &p->m.snapshot);
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	feed_name(p->m.snapshot.url, FF_SNAPSHOT, p->m.version, 0);
	return rc;
}

/* The households' and devices' delta lines: removed ones by name or hash, new or changed
 * ones whole. */
static int diff_records(const struct table *a, const struct table *b, struct gzw *g)
{
	char *line = malloc(SY_LINE_MAX + 2), hex[2 * BL_DEVICE_HASH_LEN + 1];
	size_t i = 0, j = 0;
	int rc = line ? 0 : -ENOMEM;

	while (rc == 0 && (i < a->nh || j < b->nh)) {
		int c = i == a->nh ? 1 : j == b->nh ? -1 : hh_cmp(&a->h[i], &b->h[j]);
		if (c < 0) {
			int n = snprintf(line, SY_LINE_MAX, "delprofile %s\n", a->h[i++].name);
			rc = gzw_text(g, line, (size_t)n);
		} else if (c > 0 || memcmp(a->h[i].digest, b->h[j].digest, BL_SUBS_HASH_LEN)) {
			rc = gzw_text(g, line, hh_line(&b->h[j], line));
			i += c == 0;
			j++;
		} else {
			i++;
			j++;
		}
	}
	for (i = j = 0; rc == 0 && (i < a->nd || j < b->nd);) {
		int c = i == a->nd ? 1 : j == b->nd ? -1 : dev_cmp(&a->d[i], &b->d[j]);
		if (c < 0) {
			for (int k = 0; k < BL_DEVICE_HASH_LEN; k++)
				snprintf(hex + 2 * k, 3, "%02x", a->d[i].hash[k]);
			int n = snprintf(line, SY_LINE_MAX, "deldevice %s\n", hex);
			rc = gzw_text(g, line, (size_t)n);
			i++;
		} else if (c > 0 || strcmp(a->d[i].prof, b->d[j].prof) != 0) {
			rc = gzw_text(
			    g, line, bl_device_line(b->d[j].hash, b->d[j].prof, line, SY_LINE_MAX));
			i += c == 0;
			j++;
		} else {
			i++;
			j++;
		}
	}
	free(line);
	return rc;
}

/* Merge the old and new sorted tables into delta lines. */
static int diff(const struct table *a, const struct table *b, struct gzw *g)
{
	size_t i = 0, j = 0;
	char line[128], pfx[64];
	int rc = 0;

	while (rc == 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : bl_prefix_cmp(&a->v[i].p, &b->v[j].p);
		if (c < 0) {
			int n = snprintf(line, sizeof(line), "del %s\n",
			                 bl_prefix_str(&a->v[i++].p, pfx, sizeof(pfx)));
			rc = gzw_text(g, line, (size_t)n);
		} else if (c > 0 || strcmp(a->v[i].prof, b->v[j].prof) != 0) {
			rc = gzw_text(
			    g, line, bl_clients_line(&b->v[j].p, b->v[j].prof, line, sizeof(line)));
			i += c == 0;
			j++;
		} else {
			i++;
			j++;
		}
	}
	return rc ? rc : diff_records(a, b, g);
}

static int one_delta(struct pub *p, const struct table *now, uint64_t v)
{
	static struct sy_manifest om;
	struct table old = {0};
	struct gzw *g;
	int rc = read_old(p, v, &om, &old);

	if (rc == 0 && (rc = feed_delta_open(p, v, &g)) == 0)
		rc = feed_delta_close(p, v, g, diff(&old, now, g));
	table_free(&old);
	return rc;
}

static int write_manifest(struct pub *p)
{
	char *payload = feed_manifest_json(&p->m);
	int rc = payload ? feed_write_manifest(p, SY_SUBS_TYPE, payload) : -ENOMEM;

	if (rc == 0)
		feed_sync_dir(p->dir);
	free(payload);
	return rc;
}

static int publish(struct pub *p, const struct table *t)
{
	uint8_t sum[BL_SUBS_HASH_LEN];
	char hex[2 * BL_SUBS_HASH_LEN + 1];
	int rc = write_snapshot(p, t, sum);

	for (uint64_t v = p->prev.version;
	     rc == 0 && p->have_prev && v > 0 && v + (uint64_t)p->keep > p->prev.version &&
	     p->m.n_deltas < p->keep;
	     v--) {
		int d = one_delta(p, t, v);
		rc = d < 0 ? d : 0;
	}
	rc = rc ? rc : write_manifest(p);
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: subscribers: publish failed: %s\n",
		        kg_strerror(rc));
		return -1;
	}
	feed_cleanup(p);
	for (int i = 0; i < BL_SUBS_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	printf("subscribers version %llu: %zu prefixes, %zu households, %zu devices, %d deltas, "
	       "table hash %s\n",
	       (unsigned long long)p->m.version, t->n, t->nh, t->nd, p->m.n_deltas, hex);
	return 0;
}

/* ---- Options ---------------------------------------------------------------------------- */

static int parse_args(struct pub *p, const char **table, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"key", 1, NULL, 'k'},        {"dir", 1, NULL, 'd'},
	    {"table", 1, NULL, 't'},      {"expires-in", 1, NULL, 'e'},
	    {"keep", 1, NULL, 'K'},       {"version", 1, NULL, 'V'},
	    {"feed", 1, NULL, 'f'},       {"profiles", 1, NULL, 'P'},
	    {"config", 1, NULL, 'c'},     {"allow-undefined", 0, NULL, 'A'},
	    {"categories", 1, NULL, 'C'}, {NULL, 0, NULL, 0}};
	bool named = false;
	int c;

	p->expires_in = DEFAULT_EXPIRES;
	p->keep = DEFAULT_KEEP;
	p->feed = "subscribers";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		if (c == 'k' && p->nkey_files < FEED_KEYS_MAX)
			p->key_files[p->nkey_files++] = optarg;
		else if (c == 'd')
			p->dir = optarg;
		else if (c == 't')
			*table = optarg;
		else if (c == 'f')
			p->feed = optarg;
		else if (c == 'P' && known_list(optarg) == 0)
			named = true;
		else if (c == 'c' && known_config(optarg) == 0)
			named = true;
		else if (c == 'A')
			known.any = true;
		else if (c == 'C' && cats_list(optarg) == 0)
			;
		else if (c == 'e' && (p->expires_in = strtoull(optarg, &end, 10)) > 0 && !*end)
			;
		else if (c == 'K' && (p->keep = atoi(optarg)) >= 0 && p->keep <= SY_DELTAS_MAX)
			;
		else if (c == 'V' && (p->force_version = strtoull(optarg, &end, 10)) > 0 && !*end &&
		         p->force_version <= UINT32_MAX)
			;
		else
			return -1;
	}
	if (optind != argc || !p->dir || !*table || p->nkey_files == 0 ||
	    strlen(p->feed) >= sizeof(p->m.feed))
		return -1;
	if (!named && !known.any) {
		fprintf(stderr, "kidguard-feed: subscribers: say which profiles the nodes define "
		                "(--profiles LIST or --config FILE), or --allow-undefined\n");
		return -1;
	}
	for (int i = 0; i < p->nkey_files; i++) {
		if (!(p->keys[i] = feed_key_load(p->key_files[i], p->pubs[i])))
			return -1;
		p->nkeys++;
	}
	return 0;
}

/* The previous version (signed by one of our keys), then this version's number and times. */
static int prepare(struct pub *p)
{
	char file[FEED_PATH_MAX];

	feed_path(file, p, FF_MANIFEST, 0, 0);
	p->have_prev = access(file, F_OK) == 0;
	if (p->have_prev && feed_load_manifest(p, SY_SUBS_TYPE, file, &p->prev) != 0) {
		fprintf(stderr,
		        "kidguard-feed: %s: not a subscriber manifest signed by these keys\n",
		        file);
		return -1;
	}
	snprintf(p->m.feed, sizeof(p->m.feed), "%s", p->feed);
	p->m.version = p->force_version ? p->force_version : p->prev.version + 1;
	if (p->have_prev && p->m.version <= p->prev.version) {
		fprintf(stderr, "kidguard-feed: --version %llu is not above %llu\n",
		        (unsigned long long)p->m.version, (unsigned long long)p->prev.version);
		return -1;
	}
	p->m.created = (uint64_t)time(NULL);
	p->m.expires = p->m.created + p->expires_in;
	return 0;
}

int feed_subscribers(int argc, char **argv)
{
	static struct pub p;
	struct table t = {0};
	const char *table = NULL;
	char lock[FEED_PATH_MAX];
	int fd = -1, rc = 1;

	if (parse_args(&p, &table, argc, argv) != 0) {
		fprintf(stderr,
		        "usage: kidguard-feed subscribers --key KEYFILE [--key KEYFILE2] "
		        "--dir DIR --table FILE --profiles LIST|--config FILE|"
		        "--allow-undefined [--categories LIST] [--expires-in SECONDS] [--keep N] "
		        "[--version N]\n");
		goto out;
	}
	if (read_table(&t, table) != 0)
		goto out;
	if (mkdir(p.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", p.dir, strerror(errno));
		goto out;
	}
	feed_path(lock, &p, FF_LOCK, 0, 0);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", lock,
		        fd < 0 ? strerror(errno) : "another publish is running");
		goto out;
	}
	if (prepare(&p) == 0 && publish(&p, &t) == 0)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < p.nkeys; i++)
		feed_key_free(p.keys[i]);
	table_free(&t);
	return rc;
}

/* kidguard-feed device-hash ID: what a "device" line carries (the ISP's systems may compute it
 * themselves: printf %s ID | sha256sum). */
int feed_device_hash(int argc, char **argv)
{
	uint8_t h[BL_DEVICE_HASH_LEN];

	if (argc != 2 || bl_device_hash(argv[1], h) != 0) {
		fprintf(stderr, "usage: kidguard-feed device-hash ID\n");
		return 1;
	}
	for (int i = 0; i < BL_DEVICE_HASH_LEN; i++)
		printf("%02x", h[i]);
	printf("\n");
	return 0;
}
