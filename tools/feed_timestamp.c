/*
 * kidguard-feed timestamp: re-sign FEEDDIR/timestamp.json for the current manifest, without a
 * new version. Run from cron every few minutes (well within the manifest's timestamp_ttl): an
 * appliance counts its feed's age from the newest timestamp it verified, so a mirror that
 * keeps serving an old manifest, or answers 304, cannot keep it looking fresh.
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
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static char *timestamp_json(const struct sy_manifest *m, const uint8_t sha[SY_SHA256_LEN],
                            uint64_t now)
{
	cJSON *o = cJSON_CreateObject();
	char hex[2 * SY_SHA256_LEN + 1], *s;

	for (int i = 0; i < SY_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	cJSON_AddNumberToObject(o, "format", 1);
	cJSON_AddStringToObject(o, "feed", m->feed);
	cJSON_AddNumberToObject(o, "version", (double)m->version);
	cJSON_AddStringToObject(o, "manifest_sha256", hex);
	cJSON_AddNumberToObject(o, "signed", (double)now);
	cJSON_AddNumberToObject(o, "expires", (double)(now + m->timestamp_ttl));
	s = cJSON_Print(o);
	cJSON_Delete(o);
	return s;
}

int feed_write_timestamp(const struct pub *p, const struct sy_manifest *m, const char *payload,
                         size_t plen)
{
	uint8_t sha[SY_SHA256_LEN];
	char file[FEED_PATH_MAX], *json = NULL, *env = NULL;
	int rc = -ENOMEM;

	if (snprintf(file, sizeof(file), "%s/%s", p->dir, SY_TIMESTAMP_FILE) >= (int)sizeof(file))
		return -ENAMETOOLONG;
	if (EVP_Digest(payload, plen, sha, NULL, EVP_sha256(), NULL) == 1 &&
	    (json = timestamp_json(m, sha, (uint64_t)time(NULL))) &&
	    (env = feed_envelope_type(SY_TIMESTAMP_TYPE, json, strlen(json), p->keys,
	                              (const uint8_t(*)[SY_KEY_LEN])p->pubs, p->nkeys)))
		rc = feed_write_atomic(file, env, strlen(env));
	free(json);
	free(env);
	return rc;
}

/* Load and verify FEEDDIR/manifest.json with the signing keys, then sign a timestamp for it. */
static int resign(struct pub *p)
{
	static struct sy_manifest m;
	char file[FEED_PATH_MAX], *payload = NULL, why[200] = "";
	uint8_t *data = NULL;
	size_t len = 0, plen = 0;
	int rc;

	feed_path(file, p, FF_MANIFEST, 0, 0);
	if ((rc = feed_slurp(file, SY_MANIFEST_MAX, &data, &len)) == 0)
		rc = sy_envelope_open(data, len, (const uint8_t(*)[SY_KEY_LEN])p->pubs, p->nkeys,
		                      &payload, &plen);
	free(data);
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, kg_strerror(rc));
		return -1;
	}
	if ((rc = sy_manifest_parse(payload, plen, &m, why, sizeof(why))) == 0 &&
	    m.timestamp_ttl == 0) {
		snprintf(why, sizeof(why),
		         "version %llu has no timestamp_ttl (publish with --timestamp-ttl)",
		         (unsigned long long)m.version);
		rc = -1;
	}
	if (rc == 0 && (rc = feed_write_timestamp(p, &m, payload, plen)) != 0)
		snprintf(why, sizeof(why), "%s: %s", SY_TIMESTAMP_FILE, kg_strerror(rc));
	free(payload);
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, why);
		return -1;
	}
	printf("timestamp for version %llu signed, valid %llu s\n", (unsigned long long)m.version,
	       (unsigned long long)m.timestamp_ttl);
	return 0;
}

int feed_timestamp(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"key", 1, NULL, 'k'}, {"dir", 1, NULL, 'd'}, {NULL, 0, NULL, 0}};
	static struct pub p;
	char lock[FEED_PATH_MAX];
	int c, fd, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'k' && p.nkey_files < FEED_KEYS_MAX)
			p.key_files[p.nkey_files++] = optarg;
		else if (c == 'd')
			p.dir = optarg;
		else
			goto usage;
	}
	if (!p.dir || p.nkey_files == 0 || optind != argc)
		goto usage;
	for (int i = 0; i < p.nkey_files; i++) {
		if (!(p.keys[i] = feed_key_load(p.key_files[i], p.pubs[i])))
			goto out;
		p.nkeys++;
	}
	/* Wait for a publish in progress: it writes its own timestamp, then we sign a newer one. */
	feed_path(lock, &p, FF_LOCK, 0, 0);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rc = resign(&p) == 0 ? 0 : 1;
	close(fd);
out:
	for (int i = 0; i < p.nkeys; i++)
		feed_key_free(p.keys[i]);
	return rc;
usage:
	fprintf(stderr, "usage: kidguard-feed timestamp --key KEYFILE [--key KEYFILE2] --dir "
	                "FEEDDIR\n");
	return 2;
}
