/*
 * SipHash, written from the paper ("SipHash: a fast short-input PRF", 2012): one core with the
 * number of compression and finalisation rounds as parameters, so that the SipHash-2-4
 * reference vectors also check the code SipHash-1-3 runs.
 */
#include "rs_dns_int.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct state {
	uint64_t v0, v1, v2, v3;
};

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void sipround(struct state *s)
{
	s->v0 += s->v1;
	s->v1 = ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = ROTL(s->v2, 32);
}

static void compress(struct state *s, uint64_t m, int rounds)
{
	s->v3 ^= m;
	for (int i = 0; i < rounds; i++)
		sipround(s);
	s->v0 ^= m;
}

static uint64_t siphash(const struct rs_siphash_key *key, const uint8_t *in, size_t len,
                        int c_rounds, int d_rounds)
{
	struct state s = {
	    key->k0 ^ 0x736f6d6570736575ULL,
	    key->k1 ^ 0x646f72616e646f6dULL,
	    key->k0 ^ 0x6c7967656e657261ULL,
	    key->k1 ^ 0x7465646279746573ULL,
	};
	const uint8_t *end = in + (len - len % 8);
	uint64_t last = (uint64_t)len << 56;

	for (; in != end; in += 8)
		compress(&s, load_le64(in), c_rounds);
	for (size_t i = 0; i < len % 8; i++)
		last |= (uint64_t)in[i] << (8 * i);
	compress(&s, last, c_rounds);
	s.v2 ^= 0xff;
	for (int i = 0; i < d_rounds; i++)
		sipround(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void rs__siphash_key_from_bytes(const uint8_t bytes[RS_SIPHASH_KEY_LEN], struct rs_siphash_key *key)
{
	key->k0 = load_le64(bytes);
	key->k1 = load_le64(bytes + 8);
}

uint64_t rs__siphash13(const struct rs_siphash_key *key, const void *data, size_t len)
{
	return siphash(key, data, len, 1, 3);
}

uint64_t rs__siphash24(const struct rs_siphash_key *key, const void *data, size_t len)
{
	return siphash(key, data, len, 2, 4);
}

int rs__siphash_key_random(struct rs_siphash_key *key)
{
	uint8_t b[RS_SIPHASH_KEY_LEN];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return RS_EINVAL;
		got += (size_t)n;
	}
	rs__siphash_key_from_bytes(b, key);
	return 0;
}
