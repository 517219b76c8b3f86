/*
 * kidguard-feed subscribers: the ISP's subscriber table (prefix -> profile) as a signed channel
 * the fleet's nodes poll ([subscribers] url). The machinery is the feed's: the same directory
 * layout, atomic writes, signed manifest (under the subscriber payload type), snapshot and
 * deltas from the kept versions, read back with the nodes' own parser. Only the lines differ
 * (docs/feed-format.md, "The subscriber channel").
 *
 * The snapshot lists the table in the store's key order, one canonical "client PREFIX PROFILE"
 * line each; the hash printed here is computed over those lines exactly as a node computes it
 * over its table (bl_clients_hash_line), so every node that applied this version without
 * local changes reports it (kidguard_subscribers_hash: its first 48 bits).
 */
#include "feed.h"

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

struct table {
	struct ent *v;
	size_t n, cap;
};

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
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		struct ent *v = cap > TABLE_MAX ? NULL : realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].p = *p;
	snprintf(t->v[t->n].prof, sizeof(t->v[t->n].prof), "%s", prof);
	t->n++;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	return bl_prefix_cmp(&((const struct ent *)a)->p, &((const struct ent *)b)->p);
}

/* Sort; the same prefix twice is an error unless both name the same profile. */
static int table_finish(struct table *t, const char *what)
{
	size_t o = 0;

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

/* One line of the ISP's input: "PREFIX PROFILE" or "client PREFIX PROFILE"; '#' comments. */
static int read_line(struct table *t, char *line, const char *file, unsigned long no)
{
	char *save = NULL, *a, *b, *c, *x;
	struct bl_prefix p;

	line[strcspn(line, "#\r\n")] = '\0';
	a = strtok_r(line, " \t", &save);
	if (!a)
		return 0;
	b = strtok_r(NULL, " \t", &save);
	c = strtok_r(NULL, " \t", &save);
	x = c ? strtok_r(NULL, " \t", &save) : NULL;
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
	if (!known_ok(b)) {
		fprintf(stderr, "kidguard-feed: %s:%lu: unknown profile '%s': the nodes define ",
		        file, no, b);
		known_print(stderr);
		fprintf(stderr, " (--allow-undefined publishes it anyway)\n");
		return -EINVAL;
	}
	return table_add(t, &p, b);
}

static int read_table(struct table *t, const char *file)
{
	FILE *f = fopen(file, "r");
	char line[512];
	unsigned long no = 0;
	int rc = 0;

	if (!f) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, strerror(errno));
		return -errno;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		no++;
		rc = read_line(t, line, file, no);
	}
	fclose(f);
	return rc ? rc : table_finish(t, file);
}

/* ---- Reading back an earlier version ------------------------------------------------------ */

static int old_line(void *arg, const char *line, size_t len)
{
	struct sy_subs_line l;
	int rc = sy_subs_line_parse(false, line, len, &l);

	if (rc != 0 || l.kind != SY_SUBS_CLIENT)
		return SY_EFORMAT;
	return table_add(arg, &l.prefix, l.name);
}

static int load_manifest(const struct pub *p, const char *file, struct sy_manifest *m)
{
	uint8_t *data;
	char *payload, why[200];
	size_t len, plen;
	int rc = feed_slurp(file, SY_MANIFEST_MAX, &data, &len);

	if (rc != 0)
		return rc;
	rc = sy_envelope_open_type(SY_SUBS_TYPE, data, len, (const uint8_t(*)[SY_KEY_LEN])p->pubs,
	                           p->nkeys, &payload, &plen);
	free(data);
	if (rc != 0)
		return rc;
	rc = sy_manifest_parse(payload, plen, m, why, sizeof(why));
	free(payload);
	return rc;
}

static int read_old(const struct pub *p, uint64_t v, struct sy_manifest *om, struct table *t)
{
	char file[FEED_PATH_MAX];
	uint8_t *data;
	size_t len;
	int rc;

	feed_path(file, p, FF_MANIFEST_V, v, 0);
	if (load_manifest(p, file, om) != 0 || om->version != v)
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
	rc = rc ? rc : gzw_close(g, &p->m.snapshot);
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	feed_name(p->m.snapshot.url, FF_SNAPSHOT, p->m.version, 0);
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
	return rc;
}

static int one_delta(struct pub *p, const struct table *now, uint64_t v)
{
	static struct sy_manifest om;
	struct table old = {0};
	struct sy_file *f = &p->m.deltas[p->m.n_deltas];
	char file[FEED_PATH_MAX], tmp[FEED_PATH_MAX + 8];
	struct gzw *g;
	int rc = read_old(p, v, &om, &old);

	if (rc != 0)
		goto out;
	feed_path(file, p, FF_DELTA, v, p->m.version);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	memset(f, 0, sizeof(*f));
	if ((rc = gzw_open(&g, tmp)) != 0)
		goto out;
	rc = diff(&old, now, g);
	rc = rc ? rc : gzw_close(g, f);
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	f->from = v;
	feed_name(f->url, FF_DELTA, v, p->m.version);
	if (rc == 0)
		p->m.n_deltas++;
out:
	free(old.v);
	return rc;
}

static int write_manifest(struct pub *p)
{
	char *payload = feed_manifest_json(&p->m), *env = NULL, file[FEED_PATH_MAX];
	int rc = -ENOMEM, dfd;

	if (!payload ||
	    !(env = feed_envelope_type(SY_SUBS_TYPE, payload, strlen(payload), p->keys,
	                               (const uint8_t(*)[SY_KEY_LEN])p->pubs, p->nkeys)))
		goto out;
	feed_path(file, p, FF_MANIFEST_V, p->m.version, 0);
	if ((rc = feed_write_atomic(file, env, strlen(env))) != 0)
		goto out;
	feed_path(file, p, FF_MANIFEST, 0, 0);
	rc = feed_write_atomic(file, env, strlen(env));
	if (rc == 0 && (dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(payload);
	free(env);
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
	printf("subscribers version %llu: %zu prefixes, %d deltas, table hash %s\n",
	       (unsigned long long)p->m.version, t->n, p->m.n_deltas, hex);
	return 0;
}

/* ---- Options ---------------------------------------------------------------------------- */

static int parse_args(struct pub *p, const char **table, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"key", 1, NULL, 'k'},    {"dir", 1, NULL, 'd'},
	    {"table", 1, NULL, 't'},  {"expires-in", 1, NULL, 'e'},
	    {"keep", 1, NULL, 'K'},   {"version", 1, NULL, 'V'},
	    {"feed", 1, NULL, 'f'},   {"profiles", 1, NULL, 'P'},
	    {"config", 1, NULL, 'c'}, {"allow-undefined", 0, NULL, 'A'},
	    {NULL, 0, NULL, 0}};
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
	if (p->have_prev && load_manifest(p, file, &p->prev) != 0) {
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
		        "--allow-undefined [--expires-in SECONDS] [--keep N] [--version N]\n");
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
	free(t.v);
	return rc;
}
