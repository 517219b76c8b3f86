/*
 * bl_lookup_bench: import N generated feed entries into a store, then time M lookups.
 *
 *   bl_lookup_bench [-n ENTRIES] [-m LOOKUPS] [-d DIR] [-k]
 *     -n  entries to generate (default 10000000)
 *     -m  lookups (default 2000000): half hits below a stored name, half misses
 *     -d  store directory; reused without importing when it already holds entries
 *         (the names are generated again from the same seed, so use the same -n)
 *     -k  keep the temporary store (default: removed)
 * Not run by ctest.
 */
#include "bl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct key {
	uint8_t len;
	uint8_t k[63];
};

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t rand_label(char *p, int minlen, int maxlen)
{
	static const char cs[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = (size_t)(minlen + (int)(next() % (uint64_t)(maxlen - minlen + 1)));

	for (size_t i = 0; i < n; i++)
		p[i] = cs[next() % 36];
	return n;
}

/* A random name of 2..4 labels into `out` (at least 64 bytes). */
static void rand_name(char *out)
{
	static const char *const tlds[] = {"com",  "net", "org", "de", "fr", "ru", "cn", "io",
	                                   "info", "xyz", "top", "uk", "nl", "br", "it", "pl"};
	int labels = 1 + (int)(next() % 3);
	size_t pos = 0;

	for (int i = 0; i < labels; i++) {
		pos += rand_label(out + pos, i == labels - 1 ? 6 : 2, i == labels - 1 ? 14 : 8);
		out[pos++] = '.';
	}
	const char *tld = tlds[next() % 16];

	memcpy(out + pos, tld, strlen(tld) + 1);
}

static int keycmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->k, y->k, x->len < y->len ? x->len : y->len);
	return c ? c : (int)x->len - (int)y->len;
}

static struct key *generate(size_t n)
{
	struct key *keys = malloc(n * sizeof(*keys));
	char name[64];

	for (size_t i = 0; keys && i < n; i++) {
		rand_name(name);
		keys[i].len = (uint8_t)bl_key_from_name(name, keys[i].k, sizeof(keys[i].k));
	}
	return keys;
}

static int import(struct bl_db *db, struct key *keys, size_t n)
{
	struct bl_writer *w;
	char name[BL_NAME_MAX];
	double t0 = now(), t1;
	int rc;

	qsort(keys, n, sizeof(*keys), keycmp);
	t1 = now();
	if ((rc = bl_writer_begin(db, &w)) != 0 || (rc = bl_writer_clear_feed(w)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t r = next();
		unsigned fl = (r % 10 ? BL_F_SUBTREE : 0) | (r % 50 == 7 ? BL_F_ALLOW : 0);
		bl_key_to_name(keys[i].k, keys[i].len, name, sizeof(name));
		rc = bl_writer_put(w, BL_SOURCE_FEED, name, fl, 1ULL << ((r >> 8) % 18), 1);
	}
	if (rc != 0) {
		bl_writer_abort(w);
		return rc;
	}
	rc = bl_writer_commit(w);
	printf("import: %zu entries, sort %.2f s, write+commit %.2f s (%.0f entries/s)\n", n,
	       t1 - t0, now() - t1, n / (now() - t1));
	return rc;
}

/* Wire form of a query: a random stored name with 0..2 extra labels, or a random miss. */
static size_t make_query(const struct key *keys, size_t n, uint8_t *wire)
{
	char name[BL_NAME_MAX], extra[40];
	size_t pos = 0, w = 0;

	if (next() % 2) {
		const struct key *k = &keys[next() % n];
		int add = (int)(next() % 3);
		for (int i = 0; i < add; i++) {
			size_t l = rand_label(extra, 1, 10);
			memcpy(name + pos, extra, l);
			pos += l;
			name[pos++] = '.';
		}
		pos += (size_t)bl_key_to_name(k->k, k->len, name + pos, sizeof(name) - pos);
	} else {
		rand_name(name);
		pos = strlen(name);
	}
	name[pos] = '\0';
	/* text -> wire */
	for (char *s = name, *dot; *s; s = dot + 1) {
		dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		wire[w++] = (uint8_t)l;
		memcpy(wire + w, s, l);
		w += l;
		if (!dot)
			break;
	}
	wire[w++] = 0;
	return w;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int bench(struct bl_db *db, const struct key *keys, size_t n, size_t m)
{
	struct bl_reader *r;
	struct bl_verdict v;
	uint8_t(*q)[256] = malloc(m * 256);
	uint32_t *lat = malloc(m * sizeof(*lat));
	size_t blocked = 0, allowed = 0;
	double t0, t1;
	int rc = bl_reader_open(db, &r);

	if (rc != 0 || !q || !lat)
		return rc ? rc : -1;
	for (size_t i = 0; i < m; i++)
		make_query(keys, n, q[i]);
	t0 = now();
	for (size_t i = 0; i < m; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		rc = bl_lookup_wire(r, q[i], 256, ~0ULL, &v);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (rc != 0)
			break;
		lat[i] = (uint32_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
		blocked += v.action == BL_ACTION_BLOCK;
		allowed += v.action == BL_ACTION_ALLOW;
	}
	t1 = now();
	qsort(lat, m, sizeof(*lat), cmp_u32);
	printf("lookup: %zu in %.2f s = %.0f lookups/s (1 thread); blocked %zu allowed %zu\n", m,
	       t1 - t0, m / (t1 - t0), blocked, allowed);
	printf("latency: p50 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us\n", lat[m / 2] / 1e3,
	       lat[m * 99 / 100] / 1e3, lat[m * 999 / 1000] / 1e3, lat[m - 1] / 1e3);
	bl_reader_close(r);
	free(q);
	free(lat);
	return rc;
}

int main(int argc, char **argv)
{
	size_t n = 10000000, m = 2000000;
	char tmp[] = "/tmp/bl_bench.XXXXXX", cmd[256];
	const char *dir = NULL;
	bool keep = false;
	struct bl_db_options o = {.mapsize = 16ULL << 30};
	struct bl_db *db;
	struct key *keys;
	uint64_t have = 0;
	int ch, rc;

	while ((ch = getopt(argc, argv, "n:m:d:k")) != -1) {
		if (ch == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (ch == 'm')
			m = strtoull(optarg, NULL, 10);
		else if (ch == 'd')
			dir = optarg;
		else if (ch == 'k')
			keep = true;
		else
			return 2;
	}
	if (n == 0 || m == 0)
		return 2;
	if (!dir && !(dir = mkdtemp(tmp)))
		return 1;
	if ((rc = bl_db_open(dir, &o, &db)) != 0 || !(keys = generate(n))) {
		fprintf(stderr, "open %s: %s\n", dir, kg_strerror(rc));
		return 1;
	}
	bl_db_counts(db, NULL, &have);
	if (have == 0 && (rc = import(db, keys, n)) != 0)
		fprintf(stderr, "import: %s\n", kg_strerror(rc));
	if (rc == 0 && (rc = bench(db, keys, n, m)) != 0)
		fprintf(stderr, "bench: %s\n", kg_strerror(rc));
	bl_db_close(db);
	free(keys);
	if (dir == tmp && !keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp);
	} else {
		printf("store kept in %s\n", dir);
	}
	return rc ? 1 : 0;
}
