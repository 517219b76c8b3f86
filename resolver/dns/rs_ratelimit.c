/*
 * Per-client rate limiting: a token bucket per client prefix (/32 for IPv4, /56 for IPv6 by
 * default, so one home or one subscriber line is one client), kept per worker in a fixed-size
 * table — a flood of spoofed sources can only recycle slots, never grow memory.
 *
 * The table is open addressing with a short probe window; when every slot in the window is
 * taken, the least recently used one is replaced (a client forgotten that way starts again
 * with a full bucket, which errs on the side of answering). Hashing is keyed with a random
 * per-worker seed so that nobody can aim collisions at a victim's slot.
 */
#include "rs_dns.h"

#include <stdlib.h>
#include <string.h>

#define PROBES 8

struct slot {
	uint64_t key;     /* 0 = empty */
	uint32_t tokens;  /* in thousandths of a query */
	uint32_t last_ms; /* loop time of the last refill, truncated */
};

struct rs_ratelimit {
	struct slot *slots;
	uint32_t mask;
	uint64_t seed;
};

int rs_ratelimit_new(uint32_t slots, uint64_t seed, struct rs_ratelimit **out)
{
	struct rs_ratelimit *rl = calloc(1, sizeof(*rl));
	uint32_t n = 1024;

	if (!rl)
		return RS_ENOMEM;
	while (n < slots && n < (1u << 24))
		n <<= 1;
	rl->slots = calloc(n, sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return RS_ENOMEM;
	}
	rl->mask = n - 1;
	rl->seed = seed | 1;
	*out = rl;
	return 0;
}

void rs_ratelimit_free(struct rs_ratelimit *rl)
{
	if (rl) {
		free(rl->slots);
		free(rl);
	}
}

uint64_t rs_ratelimit_key(const struct sockaddr *sa, int v4_prefix, int v6_prefix)
{
	uint64_t k = 0;

	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		uint32_t v =
		    ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) | ((uint32_t)a[2] << 8) | a[3];
		if (v4_prefix < 32)
			v &= v4_prefix ? ~0u << (32 - v4_prefix) : 0;
		k = (4ULL << 56) | v;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		uint64_t v = 0;
		for (int i = 0; i < 7; i++) /* 56 bits fit beside the family byte */
			v = (v << 8) | a[i];
		if (v6_prefix > 56)
			v6_prefix = 56;
		if (v6_prefix < 56)
			v &= v6_prefix ? (~0ULL << (56 - v6_prefix)) & 0x00ffffffffffffffULL : 0;
		k = (6ULL << 56) | v;
	}
	return k;
}

static uint32_t slot_of(const struct rs_ratelimit *rl, uint64_t key)
{
	uint64_t h = (key ^ rl->seed) * 0x9e3779b97f4a7c15ULL;

	return (uint32_t)(h >> 40) & rl->mask;
}

bool rs_ratelimit_allow(struct rs_ratelimit *rl, uint64_t key, uint64_t now_ms, uint32_t qps,
                        uint32_t burst)
{
	uint32_t i = slot_of(rl, key), victim = i, now = (uint32_t)now_ms;
	struct slot *s = NULL;
	uint64_t tokens;

	/* Tokens are kept in thousandths in 32 bits: a burst above 4 million is as good as
	 * unlimited anyway. */
	if (burst > 4000000)
		burst = 4000000;

	if (burst > 4000000) /* tokens are uint32 thousandths: 4294968 * 1000 wrapped to 704 */
		burst = 4000000;
	for (uint32_t p = 0; p < PROBES; p++) {
		struct slot *c = &rl->slots[(i + p) & rl->mask];
		if (c->key == key || c->key == 0) {
			s = c;
			break;
		}
		if ((uint32_t)(now - c->last_ms) > (uint32_t)(now - rl->slots[victim].last_ms))
			victim = (i + p) & rl->mask;
	}
	if (!s || s->key != key) {
		if (!s)
			s = &rl->slots[victim];
		s->key = key;
		s->tokens = burst * 1000u;
		s->last_ms = now;
	}
	/* Refill: qps tokens a second, up to the burst. */
	tokens = s->tokens + (uint64_t)(uint32_t)(now - s->last_ms) * qps;
	if (tokens > (uint64_t)burst * 1000u)
		tokens = (uint64_t)burst * 1000u;
	s->last_ms = now;
	if (tokens < 1000) {
		s->tokens = (uint32_t)tokens;
		return false;
	}
	s->tokens = (uint32_t)(tokens - 1000);
	return true;
}
