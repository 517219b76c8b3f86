/*
 * Requests per source prefix: a token bucket per /24 (IPv4) or /56 (IPv6), the same prefixes
 * the appliance uses for its report quota (one household, one subscriber, one school). The
 * table is bounded (RATE_SLOTS); a new prefix takes the least recently seen slot of its probe
 * window, so a flood of fresh prefixes costs the desk memory it already has, nothing more.
 */
#include "dk.h"
#include "kg_addr.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define RATE_SLOTS 4096 /* power of two */
#define RATE_PROBE 8

struct slot {
	uint8_t pfx[8]; /* family, then 3 or 7 address bytes; all zero: free */
	uint64_t last_ms;
	double tokens;
};

struct dk_rate {
	double per_ms, burst;
	struct slot s[RATE_SLOTS];
};

int dk_rate_new(unsigned per_minute, struct dk_rate **out)
{
	struct dk_rate *r;

	if (per_minute == 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->per_ms = per_minute / 60000.0;
	r->burst = per_minute;
	*out = r;
	return 0;
}

void dk_rate_free(struct dk_rate *r)
{
	free(r);
}

static size_t hash_of(const uint8_t pfx[8])
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (int i = 0; i < 8; i++)
		h = (h ^ pfx[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static struct slot *find(struct dk_rate *r, const uint8_t pfx[8], uint64_t now_ms)
{
	size_t h = hash_of(pfx);
	struct slot *oldest = NULL;

	for (size_t i = 0; i < RATE_PROBE; i++) {
		struct slot *s = &r->s[(h + i) & (RATE_SLOTS - 1)];
		if (memcmp(s->pfx, pfx, 8) == 0)
			return s;
		if (!oldest || s->last_ms < oldest->last_ms)
			oldest = s;
	}
	memcpy(oldest->pfx, pfx, 8);
	oldest->tokens = r->burst;
	oldest->last_ms = now_ms;
	return oldest;
}

bool dk_rate_allow(struct dk_rate *r, const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t pfx[8];
	struct slot *s;

	if (!kg_addr_prefix(sa, pfx))
		pfx[0] = 0xff; /* an unknown family shares one bucket; all zero marks a free slot */
	s = find(r, pfx, now_ms);
	if (now_ms > s->last_ms) {
		s->tokens += (double)(now_ms - s->last_ms) * r->per_ms;
		if (s->tokens > r->burst)
			s->tokens = r->burst;
	}
	s->last_ms = now_ms;
	if (s->tokens < 1.0)
		return false;
	s->tokens -= 1.0;
	return true;
}
