/*
 * Which upstream to ask next. Health is kept per worker (no shared state on the query path):
 * a smoothed RTT as in RFC 6298 and a count of consecutive failures. After three failures in a
 * row an upstream is "down" for a back-off that doubles up to a minute; it is still used when
 * nothing else is left, so that a single-upstream setup never refuses to try.
 */
#include "rs_dns.h"

#define DOWN_AFTER_FAILS 3
#define BACKOFF_MIN_MS   1000
#define BACKOFF_MAX_MS   60000
#define EXPLORE_ONE_IN   32

static bool is_down(const struct rs_upstream_health *h, uint64_t now)
{
	return h->fails >= DOWN_AFTER_FAILS && now < h->down_until;
}

int rs_upstream_pick(const struct rs_upstream_health *h, int n, uint32_t tried, uint64_t now,
                     uint32_t coin)
{
	int best = -1, best_down = -1, healthy = 0;

	for (int i = 0; i < n; i++) {
		if (tried & (1u << i))
			continue;
		if (is_down(&h[i], now)) {
			if (best_down < 0 || h[i].down_until < h[best_down].down_until)
				best_down = i;
			continue;
		}
		healthy++;
		if (best < 0 || h[i].srtt_ms < h[best].srtt_ms)
			best = i;
	}
	if (best < 0)
		return best_down;
	if (healthy > 1 && coin % EXPLORE_ONE_IN == 0) {
		int k = (int)((coin / EXPLORE_ONE_IN) % (uint32_t)healthy);
		for (int i = 0; i < n; i++) {
			if ((tried & (1u << i)) || is_down(&h[i], now))
				continue;
			if (k-- == 0)
				return i;
		}
	}
	return best;
}

void rs_upstream_ok(struct rs_upstream_health *h, uint32_t rtt_ms)
{
	if (rtt_ms == 0)
		rtt_ms = 1;
	h->srtt_ms = h->srtt_ms ? (h->srtt_ms * 7 + rtt_ms) / 8 : rtt_ms;
	h->fails = 0;
	h->down_until = 0;
}

void rs_upstream_failed(struct rs_upstream_health *h, uint64_t now)
{
	uint64_t backoff = BACKOFF_MIN_MS;

	h->fails++;
	/* A timeout also tells us the RTT is at least the timeout: push the estimate up so a
	 * slow upstream loses its place before it is declared down. */
	h->srtt_ms = h->srtt_ms ? h->srtt_ms * 2 : 500;
	if (h->srtt_ms > 10000)
		h->srtt_ms = 10000;
	if (h->fails >= DOWN_AFTER_FAILS) {
		for (uint32_t i = DOWN_AFTER_FAILS; i < h->fails && backoff < BACKOFF_MAX_MS; i++)
			backoff *= 2;
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		h->down_until = now + backoff;
	}
}
