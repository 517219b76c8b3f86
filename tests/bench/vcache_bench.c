/*
 * vcache_bench: time verdict-cache lookups (resolver/dns/rs_vcache.c) the way the blocked
 * workload of tests/bench/run makes them: N distinct names, all kept, asked in turn, so that
 * each lookup finds its lines out of the CPU caches; then a few hot names asked over and over
 * (a cached answer's working set), for comparison.
 *
 *   vcache_bench [-n NAMES] [-e ENTRIES] [-p PASSES] [-k HOT]
 *     -n  distinct names (default 100000, the bench's blocked sample)
 *     -e  cache slots (default 262144, what the benches configure)
 *     -p  passes over the names (default 8)
 *     -k  hot names (default 50, the bench's cache-hit set)
 * Built on demand: cmake --build build --target vcache_bench. Not run by ctest.
 */
#include "rs_dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME_BYTES 64 /* per generated name: a length byte, then the wire name */

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
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "\NNN<label of 5..20 letters>\7example\3com\0", the label made unique by its index. */
static void make_name(size_t i, uint8_t *out)
{
	size_t len = 5 + next() % 16, n = 0;
	uint8_t *w = out + 1;

	w[n++] = (uint8_t)len;
	for (size_t k = 0; k < len; k++)
		w[n++] = (uint8_t)('a' + next() % 26);
	/* the index in the first five letters keeps names distinct */
	for (size_t k = 0; k < 5; k++, i /= 26)
		w[1 + k] = (uint8_t)('a' + i % 26);
	memcpy(w + n, "\7example\3com", 13);
	n += 13;
	out[0] = (uint8_t)n;
}

/* Nanoseconds per lookup over `passes` passes of names [0, count); the hits in `*hits`. */
static double run(struct rs_vcache *vc, const uint8_t *names, size_t count, int passes,
                  uint64_t *hits)
{
	uint8_t val[RS_VCACHE_VAL_MAX];
	size_t vlen;
	double t0 = now();

	*hits = 0;
	for (int p = 0; p < passes; p++)
		for (size_t i = 0; i < count; i++) {
			const uint8_t *nm = names + i * NAME_BYTES;
			*hits += rs_vcache_get(vc, nm + 1, nm[0], val, &vlen);
		}
	return 1e9 * (now() - t0) / ((double)passes * (double)count);
}

int main(int argc, char **argv)
{
	size_t n = 100000, hot = 50;
	uint32_t entries = 262144;
	int passes = 8, opt;
	uint8_t *names, val[24] = {1};
	struct rs_vcache *vc;
	struct rs_vcache_stats st;
	uint64_t hits;
	double cold_ns, hot_ns;

	while ((opt = getopt(argc, argv, "n:e:p:k:")) != -1) {
		if (opt == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (opt == 'e')
			entries = (uint32_t)strtoul(optarg, NULL, 10);
		else if (opt == 'p')
			passes = atoi(optarg);
		else if (opt == 'k')
			hot = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (n == 0 || hot == 0 || hot > n || passes <= 0 || entries == 0) {
		fprintf(stderr, "vcache_bench: need -n > 0, 0 < -k <= -n, -p > 0, -e > 0\n");
		return 2;
	}
	names = malloc(n * NAME_BYTES);
	if (!names || rs_vcache_new(entries, &vc) != 0 || !vc) {
		fprintf(stderr, "vcache_bench: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		make_name(i, names + i * NAME_BYTES);
	rs_vcache_generation(vc, 1);
	for (size_t i = 0; i < n; i++)
		rs_vcache_put(vc, 1, names + i * NAME_BYTES + 1, names[i * NAME_BYTES], val,
		              sizeof(val));
	rs_vcache_stats(vc, &st);
	cold_ns = run(vc, names, n, passes, &hits);
	printf("%zu names in %u slots (%llu evicted while filling): %.1f ns per lookup, "
	       "%.4f hit\n",
	       n, st.capacity, (unsigned long long)st.evictions, cold_ns,
	       (double)hits / ((double)passes * (double)n));
	hot_ns = run(vc, names, hot, (int)(passes * (n / hot)), &hits);
	printf("%zu hot names: %.1f ns per lookup\n", hot, hot_ns);
	rs_vcache_free(vc);
	free(names);
	return 0;
}
