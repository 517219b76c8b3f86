/*
 * kidguard-feed publish: the next version of the feed, written so that a half-written feed
 * directory is never visible. New files get names no earlier version used (the version is in
 * each name) and are fsynced before the signed manifest that names them is renamed into place;
 * until that rename, clients see the previous version complete. Old files go only afterwards.
 *
 * FEEDDIR holds manifest.json (what clients poll), and for the last versions their snapshot,
 * their signed manifest (manifest-V.json, for the category table) and the deltas into them.
 */
#include "feed.h"

#include <cjson/cJSON.h>
#include <dirent.h>
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

#include <openssl/evp.h>
#include <openssl/rand.h>

void feed_name(char *out, enum feed_file kind, uint64_t a, uint64_t b)
{
	unsigned long long x = a, y = b;

	switch (kind) {
	case FF_MANIFEST:
		snprintf(out, 128, "manifest.json");
		break;
	case FF_MANIFEST_V:
		snprintf(out, 128, "manifest-%llu.json", x);
		break;
	case FF_SNAPSHOT:
		snprintf(out, 128, "snapshot-%llu.jsonl.gz", x);
		break;
	case FF_DELTA:
		snprintf(out, 128, "delta-%llu-%llu.jsonl.gz", x, y);
		break;
	case FF_LOCK:
		snprintf(out, 128, ".lock");
		break;
	}
}

int feed_path(char *out, const struct pub *p, enum feed_file kind, uint64_t a, uint64_t b)
{
	char name[128];

	feed_name(name, kind, a, b);
	return snprintf(out, FEED_PATH_MAX, "%s/%s", p->dir, name) >= FEED_PATH_MAX ? -1 : 0;
}

int feed_slurp(const char *file, size_t max, uint8_t **data, size_t *len)
{
	FILE *f = fopen(file, "rb");
	uint8_t *d = NULL;
	long n;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (size_t)n > max ||
	    fseek(f, 0, SEEK_SET) != 0 || !(d = malloc((size_t)n + 1)) ||
	    fread(d, 1, (size_t)n, f) != (size_t)n) {
		free(d);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	d[n] = 0;
	*data = d;
	*len = (size_t)n;
	return 0;
}

int feed_load_manifest(const struct pub *p, const char *type, const char *file,
                       struct sy_manifest *m)
{
	uint8_t *data;
	char *payload, why[200];
	size_t len, plen;
	int rc = feed_slurp(file, SY_MANIFEST_MAX, &data, &len);

	if (rc != 0)
		return rc;
	rc = sy_envelope_open_type(type, data, len, (const uint8_t(*)[SY_KEY_LEN])p->pubs, p->nkeys,
	                           &payload, &plen);
	free(data);
	if (rc != 0)
		return rc;
	rc = sy_manifest_parse(payload, plen, m, why, sizeof(why));
	free(payload);
	return rc;
}

int feed_write_atomic(const char *file, const char *text, size_t len)
{
	char tmp[FEED_PATH_MAX + 8];
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = -EIO;
	if (close(fd) != 0 || (rc == 0 && rename(tmp, file) != 0))
		rc = rc ? rc : -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static int write_snapshot(struct pub *p)
{
	char file[FEED_PATH_MAX], tmp[FEED_PATH_MAX + 8];
	struct gzw *g;
	int rc;

	feed_path(file, p, FF_SNAPSHOT, p->m.version, 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	if ((rc = gzw_open(&g, tmp)) != 0)
		return rc;
	for (size_t i = 0; i < p->set.n && rc == 0; i++)
		rc = gzw_line(g, &p->set, &p->set.v[i], -1, &p->m);
	rc = rc ? rc : gzw_close(g, &p->m.snapshot);
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	feed_name(p->m.snapshot.url, FF_SNAPSHOT, p->m.version, 0);
	return rc;
}

static cJSON *file_json(const struct sy_file *f)
{
	cJSON *o = cJSON_CreateObject();
	char hex[2 * SY_SHA256_LEN + 1];

	for (int i = 0; i < SY_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", f->sha256[i]);
	if (f->from)
		cJSON_AddNumberToObject(o, "from", (double)f->from);
	cJSON_AddStringToObject(o, "url", f->url);
	cJSON_AddNumberToObject(o, "size", (double)f->size);
	cJSON_AddNumberToObject(o, "raw_size", (double)f->raw_size);
	cJSON_AddNumberToObject(o, "entries", (double)f->entries);
	cJSON_AddStringToObject(o, "sha256", hex);
	return o;
}

static cJSON *next_keys_json(const struct sy_manifest *m)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; i < m->n_next_keys; i++) {
		cJSON *k = cJSON_CreateObject();
		char b64[64];
		EVP_EncodeBlock((unsigned char *)b64, m->next_keys[i].key, SY_KEY_LEN);
		cJSON_AddStringToObject(k, "key", b64);
		cJSON_AddNumberToObject(k, "from", (double)m->next_keys[i].from);
		cJSON_AddItemToArray(a, k);
	}
	return a;
}

char *feed_manifest_json(const struct sy_manifest *m)
{
	cJSON *o = cJSON_CreateObject(), *cats = cJSON_CreateArray(), *ds = cJSON_CreateArray();
	char hex[2 * SY_HASH_KEY_LEN + 1], *s;

	for (int i = 0; i < SY_HASH_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->hash_key[i]);
	cJSON_AddNumberToObject(o, "format", 1);
	cJSON_AddStringToObject(o, "feed", m->feed);
	cJSON_AddNumberToObject(o, "version", (double)m->version);
	cJSON_AddNumberToObject(o, "created", (double)m->created);
	cJSON_AddNumberToObject(o, "expires", (double)m->expires);
	cJSON_AddStringToObject(o, "report", m->report);
	/* only when set: a manifest without it stays readable by older appliances */
	if (m->signal_url[0])
		cJSON_AddStringToObject(o, "signal_url", m->signal_url);
	cJSON_AddStringToObject(o, "hash_key", hex);
	for (int i = 0; i < m->n_categories; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", m->categories[i].name);
		cJSON_AddStringToObject(c, "description", m->categories[i].desc);
		cJSON_AddBoolToObject(c, "confidential", m->categories[i].confidential);
		/* Only when set: an appliance older than these keys refuses them. */
		if (m->categories[i].mandatory)
			cJSON_AddBoolToObject(c, "mandatory", true);
		if (m->categories[i].child_allow)
			cJSON_AddStringToObject(c, "child_default", "allow");
		if (m->categories[i].child_safe)
			cJSON_AddBoolToObject(c, "child_safe", true);
		cJSON_AddItemToArray(cats, c);
	}
	cJSON_AddItemToObject(o, "categories", cats);
	cJSON_AddItemToObject(o, "snapshot", file_json(&m->snapshot));
	for (int i = 0; i < m->n_deltas; i++)
		cJSON_AddItemToArray(ds, file_json(&m->deltas[i]));
	cJSON_AddItemToObject(o, "deltas", ds);
	if (m->timestamp_ttl)
		cJSON_AddNumberToObject(o, "timestamp_ttl", (double)m->timestamp_ttl);
	if (m->n_next_keys) /* only when set: older appliances refuse the key */
		cJSON_AddItemToObject(o, "next_keys", next_keys_json(m));
	/* Only when set, like "mandatory": an older appliance refuses the key. */
	for (int i = 0; i < m->n_cat_names; i++) {
		cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "category_names"), *lang;
		if (!names)
			names = cJSON_AddObjectToObject(o, "category_names");
		lang = cJSON_GetObjectItemCaseSensitive(names, m->cat_names[i].lang);
		if (!lang)
			lang = cJSON_AddObjectToObject(names, m->cat_names[i].lang);
		cJSON_AddStringToObject(lang, m->cat_names[i].name, m->cat_names[i].text);
	}
	s = cJSON_Print(o);
	cJSON_Delete(o);
	return s;
}

int feed_write_manifest(const struct pub *p, const char *type, const char *payload)
{
	char *env = feed_envelope_type(type, payload, strlen(payload), p->keys,
	                               (const uint8_t(*)[SY_KEY_LEN])p->pubs, p->nkeys);
	char file[FEED_PATH_MAX];
	int rc = -ENOMEM;

	if (!env)
		return rc;
	/* The versioned name first: manifest.json never names a version not there to fetch. */
	feed_path(file, p, FF_MANIFEST_V, p->m.version, 0);
	if ((rc = feed_write_atomic(file, env, strlen(env))) == 0) {
		feed_path(file, p, FF_MANIFEST, 0, 0);
		rc = feed_write_atomic(file, env, strlen(env));
	}
	free(env);
	return rc;
}

void feed_sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

static int write_manifest(struct pub *p)
{
	char *payload = feed_manifest_json(&p->m), file[FEED_PATH_MAX];
	int rc = payload ? feed_write_manifest(p, SY_PAYLOAD_TYPE, payload) : -ENOMEM;

	/* After the manifest it names: a client never sees a timestamp for a manifest it cannot
	 * fetch yet. */
	if (rc == 0 && p->m.timestamp_ttl)
		rc = feed_write_timestamp(p, &p->m, payload, strlen(payload));
	else if (rc == 0 && snprintf(file, sizeof(file), "%s/%s", p->dir, SY_TIMESTAMP_FILE) <
	                        (int)sizeof(file))
		unlink(file); /* timestamps turned off: no stale one left to confuse anyone */
	if (rc == 0)
		feed_sync_dir(p->dir);
	free(payload);
	return rc;
}

/* Remove what no client can need any more: snapshots and manifests older than the kept
 * versions, deltas into versions before the previous one, and stale temp files. */
void feed_cleanup(const struct pub *p)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;
	uint64_t v = p->m.version, keep = (uint64_t)p->keep;

	while (d && (e = readdir(d))) {
		unsigned long long a = 0, b = 0;
		char file[FEED_PATH_MAX];
		bool old = false;
		if (sscanf(e->d_name, "snapshot-%llu.jsonl.g%*c", &a) == 1 ||
		    sscanf(e->d_name, "manifest-%llu.jso%*c", &a) == 1)
			old = a + keep < v;
		else if (sscanf(e->d_name, "delta-%llu-%llu.jsonl.g%*c", &a, &b) == 2)
			old = b + 1 < v;
		old = old || (strstr(e->d_name, ".tmp") && strncmp(e->d_name, ".", 1) != 0);
		if (old &&
		    snprintf(file, sizeof(file), "%s/%s", p->dir, e->d_name) < (int)sizeof(file))
			unlink(file);
	}
	if (d)
		closedir(d);
}

static int publish(struct pub *p)
{
	int rc;

	for (int i = 0; i < p->nlists; i++) {
		const struct sy_category *c = &p->m.categories[p->lists[i].cat];
		if (feed_read_list(&p->set, p->lists[i].file, p->lists[i].fmt, p->lists[i].cat,
		                   c->confidential, p->m.hash_key) != 0)
			return -1;
	}
	fset_finish(&p->set);
	if ((rc = write_snapshot(p)) != 0 || (rc = feed_write_deltas(p)) != 0 ||
	    (rc = write_manifest(p)) != 0) {
		fprintf(stderr, "kidguard-feed: publish failed: %s\n", kg_strerror(rc));
		return -1;
	}
	feed_cleanup(p);
	printf("version %llu: %zu rules, snapshot %llu bytes, %d deltas\n",
	       (unsigned long long)p->m.version, p->set.n, (unsigned long long)p->m.snapshot.size,
	       p->m.n_deltas);
	return 0;
}

int feed_publish(int argc, char **argv)
{
	static struct pub p;
	char lock[FEED_PATH_MAX];
	int fd, rc = 1;

	if (feed_parse_args(&p, argc, argv) != 0 || feed_prepare(&p) != 0)
		goto out;
	feed_path(lock, &p, FF_LOCK, 0, 0);
	if (mkdir(p.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", p.dir, strerror(errno));
		goto out;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", lock,
		        fd < 0 ? strerror(errno) : "another publish is running");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (feed_load_prev(&p) == 0 && publish(&p) == 0)
		rc = 0;
	close(fd);
out:
	for (int i = 0; i < p.nkeys; i++)
		feed_key_free(p.keys[i]);
	fset_free(&p.set);
	return rc;
}
