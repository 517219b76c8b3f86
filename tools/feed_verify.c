/*
 * kidguard-feed verify: check a feed directory the way an appliance would: the signature with
 * the given public key, the manifest, and every file named in it (size, SHA-256, every line).
 * With --subscribers the directory is an ISP's subscriber table: its payload type and lines,
 * and the table's hash (what the nodes that hold it report) is printed.
 */
#include "feed.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

static int count_line(void *arg, const struct sy_line *l)
{
	(*(uint64_t *)arg)++;
	return 0;
}

/* --subscribers: the directory is an ISP's subscriber table (feed_subs.c). */
static bool subs;
static uint8_t subs_hash[BL_SUBS_HASH_LEN]; /* of the snapshot's table */

struct subs_count {
	uint64_t n;
	bool delta;
};

static int subs_line(void *arg, const char *line, size_t len)
{
	static char text[SY_LINE_MAX + 1];
	struct subs_count *c = arg;
	struct sy_subs_line l;
	int rc = sy_subs_line_parse(c->delta, line, len, &l);

	if (rc != 0)
		return SY_EFORMAT;
	if (!c->delta) { /* the parser takes canonical lines only: hash the text as it came */
		memcpy(text, line, len);
		text[len] = '\n';
		bl_clients_hash_line(subs_hash, text, len + 1, true);
	}
	c->n++;
	return 0;
}

static int check_file(const char *dir, const struct sy_manifest *m, const struct sy_file *f,
                      bool delta)
{
	char file[FEED_PATH_MAX];
	uint8_t *data;
	size_t len;
	uint64_t n = 0;
	int rc;

	snprintf(file, sizeof(file), "%s/%s", dir, f->url);
	if ((rc = feed_slurp(file, (size_t)1 << 32, &data, &len)) != 0) {
		fprintf(stderr, "%s: cannot read\n", file);
		return -1;
	}
	rc = sy_file_check(f, data, len);
	if (rc == 0 && subs) {
		struct subs_count c = {0, delta};
		rc = sy_file_raw_lines(f, data, len, UINT64_MAX, subs_line, &c);
		n = c.n;
	} else if (rc == 0) {
		rc = sy_file_lines(m, f, delta, data, len, UINT64_MAX, count_line, &n);
	}
	free(data);
	printf("  %-40s %10llu bytes %9llu lines  %s\n", f->url, (unsigned long long)f->size,
	       (unsigned long long)n, rc == 0 ? "ok" : kg_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* timestamp.json as an appliance checks it (no "newest seen" here). Returns 0 or -1. */
static int check_timestamp(const char *dir, const struct sy_manifest *m,
                           const uint8_t msha[SY_SHA256_LEN], const uint8_t (*keys)[SY_KEY_LEN],
                           int nkeys)
{
	struct sy_timestamp ts;
	char file[FEED_PATH_MAX], *payload = NULL, why[300] = "";
	uint8_t *data = NULL;
	size_t len = 0, plen = 0;
	int rc;

	snprintf(file, sizeof(file), "%s/%s", dir, SY_TIMESTAMP_FILE);
	if ((rc = feed_slurp(file, SY_TIMESTAMP_MAX, &data, &len)) == 0)
		rc = sy_envelope_open_type(SY_TIMESTAMP_TYPE, data, len, keys, nkeys, &payload,
		                           &plen);
	free(data);
	if (rc != 0)
		snprintf(why, sizeof(why), "%s", kg_strerror(rc));
	else if ((rc = sy_timestamp_parse(payload, plen, &ts, why, sizeof(why))) == 0 &&
	         (rc = sy_timestamp_check(m, msha, &ts, 0, (uint64_t)time(NULL), why,
	                                  sizeof(why))) == 0)
		snprintf(why, sizeof(why), "ok, signed %lld s ago, expires in %lld s",
		         (long long)time(NULL) - (long long)ts.signed_at,
		         (long long)ts.expires - (long long)time(NULL));
	free(payload);
	printf("  %-40s %s\n", SY_TIMESTAMP_FILE, why);
	return rc == 0 ? 0 : -1;
}

static int verify_dir(const char *dir, const uint8_t (*keys)[SY_KEY_LEN], int nkeys)
{
	static struct sy_manifest m;
	char file[FEED_PATH_MAX], *payload, why[200];
	uint8_t *data, msha[SY_SHA256_LEN];
	size_t len, plen;
	int rc, bad = 0;

	snprintf(file, sizeof(file), "%s/manifest.json", dir);
	if ((rc = feed_slurp(file, SY_MANIFEST_MAX, &data, &len)) != 0) {
		fprintf(stderr, "kidguard-feed: %s: cannot read\n", file);
		return 1;
	}
	rc = sy_envelope_open_type(subs ? SY_SUBS_TYPE : SY_PAYLOAD_TYPE, data, len, keys, nkeys,
	                           &payload, &plen);
	free(data);
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, kg_strerror(rc));
		return 1;
	}
	rc = sy_manifest_parse(payload, plen, &m, why, sizeof(why));
	EVP_Digest(payload, plen, msha, NULL, EVP_sha256(), NULL);
	free(payload);
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, why);
		return 1;
	}
	printf("feed %s version %llu, %d categories, expires in %lld s\n", m.feed,
	       (unsigned long long)m.version, m.n_categories,
	       (long long)m.expires - (long long)time(NULL));
	bad |= m.expires <= (uint64_t)time(NULL);
	bad |= check_file(dir, &m, &m.snapshot, false) != 0;
	for (int i = 0; i < m.n_deltas; i++)
		bad |= check_file(dir, &m, &m.deltas[i], true) != 0;
	if (m.timestamp_ttl)
		bad |= check_timestamp(dir, &m, msha, keys, nkeys) != 0;
	if (subs && !bad) {
		printf("table hash ");
		for (int i = 0; i < BL_SUBS_HASH_LEN; i++)
			printf("%02x", subs_hash[i]);
		printf("\n");
	}
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}

int feed_verify(int argc, char **argv)
{
	static const struct option lo[] = {{"pubkey", 1, NULL, 'p'},
	                                   {"dir", 1, NULL, 'd'},
	                                   {"subscribers", 0, NULL, 's'},
	                                   {NULL, 0, NULL, 0}};
	uint8_t keys[FEED_KEYS_MAX][SY_KEY_LEN];
	const char *dir = NULL;
	int c, n = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'p' && n < FEED_KEYS_MAX && sy_key_decode(optarg, keys[n]) == 0)
			n++;
		else if (c == 'd')
			dir = optarg;
		else if (c == 's')
			subs = true;
		else {
			fprintf(stderr, "kidguard-feed verify: bad option or key\n");
			return 2;
		}
	}
	if (!dir || n == 0) {
		fprintf(stderr,
		        "kidguard-feed verify --pubkey KEY --dir FEEDDIR [--subscribers]\n");
		return 2;
	}
	return verify_dir(dir, (const uint8_t(*)[SY_KEY_LEN])keys, n);
}
