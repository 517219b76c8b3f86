/*
 * The early-warning signal's count structure (issue 18; rs_dns.h "early-warning signal").
 *
 * An open-addressing table of at most `max_domains` registrable domains (linear probing,
 * capacity the power of two >= 2 * max_domains, keyed SipHash of the name). Each slot keeps a
 * k-minimum-values sketch of the clients that asked: the RS_SIGNAL_KMV smallest distinct
 * 64-bit keyed hashes of the client addresses. Below RS_SIGNAL_KMV distinct clients the
 * sketch holds every hash, so the count is exact (what the k threshold needs); above, the
 * estimate is (KMV - 1) / (largest kept hash / 2^64) (Bar-Yossef et al. 2002), about 26 %
 * standard error for KMV = 16, which is ample for ranking.
 *
 * Nothing in a slot can be turned back into an address: the client key is random per day
 * (rs_signal_reset) and never leaves this structure, and only hashes are kept.
 * No allocation after rs_signal_new: rs_signal_note runs on the query path.
 */
#include "rs_dns.h"
#include "rs_dns_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rs_signal_slot {
	char name[RS_SIGNAL_NAME_MAX]; /* "" = free */
	uint8_t n;                     /* hashes kept, <= RS_SIGNAL_KMV */
	bool excluded;                 /* on the store when first seen: never counted */
	uint64_t h[RS_SIGNAL_KMV];     /* the n smallest client hashes, ascending */
};

struct rs_signal {
	struct rs_siphash_key name_key, client_key;
	uint32_t max, used, dropped;
	size_t mask; /* capacity - 1 */
	struct rs_signal_slot *slot;
};

int rs_signal_new(uint32_t max_domains, const uint8_t key[RS_SIGNAL_KEY_LEN],
                  struct rs_signal **out)
{
	struct rs_signal *s;
	size_t cap = 16;

	if (max_domains == 0 || max_domains > RS_SIGNAL_DOMAINS_MAX)
		return RS_EINVAL;
	while (cap < 2 * (size_t)max_domains)
		cap *= 2;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->slot = calloc(cap, sizeof(*s->slot)))) {
		free(s);
		return RS_ENOMEM;
	}
	s->max = max_domains;
	s->mask = cap - 1;
	rs_signal_reset(s, key);
	*out = s;
	return 0;
}

void rs_signal_free(struct rs_signal *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s);
}

void rs_signal_reset(struct rs_signal *s, const uint8_t key[RS_SIGNAL_KEY_LEN])
{
	memset(s->slot, 0, (s->mask + 1) * sizeof(*s->slot));
	s->used = s->dropped = 0;
	rs__siphash_key_from_bytes(key, &s->name_key);
	rs__siphash_key_from_bytes(key + RS_SIPHASH_KEY_LEN, &s->client_key);
}

/* The slot holding `name`, or the free slot where it would go. */
static struct rs_signal_slot *find(const struct rs_signal *s, const char *name, size_t len)
{
	size_t i = rs__siphash13(&s->name_key, name, len) & s->mask;

	for (;; i = (i + 1) & s->mask) {
		struct rs_signal_slot *e = &s->slot[i];
		if (!e->name[0] || (strncmp(e->name, name, len) == 0 && e->name[len] == '\0'))
			return e;
	}
}

/* Add hash `h` to the sketch: keep the RS_SIGNAL_KMV smallest distinct values, sorted. */
static void kmv_add(struct rs_signal_slot *e, uint64_t h)
{
	int i = e->n;

	if (e->n == RS_SIGNAL_KMV && h >= e->h[RS_SIGNAL_KMV - 1])
		return;
	for (int j = 0; j < e->n; j++)
		if (e->h[j] == h)
			return;
	if (e->n < RS_SIGNAL_KMV)
		e->n++;
	else
		i = RS_SIGNAL_KMV - 1;
	while (i > 0 && e->h[i - 1] > h) {
		e->h[i] = e->h[i - 1];
		i--;
	}
	e->h[i] = h;
}

int rs_signal_note(struct rs_signal *s, const char *domain, const void *client, size_t client_len,
                   bool (*excluded)(void *arg, const char *domain), void *arg)
{
	size_t len = strlen(domain);
	struct rs_signal_slot *e;

	if (len == 0 || len >= RS_SIGNAL_NAME_MAX)
		return RS_EINVAL;
	/* only what a host name holds: the batch writes names into JSON without escaping */
	for (size_t i = 0; i < len; i++) {
		char c = domain[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return RS_EINVAL;
	}
	e = find(s, domain, len);
	if (!e->name[0]) {
		if (s->used >= s->max) {
			s->dropped++;
			return RS_ELIMIT;
		}
		memcpy(e->name, domain, len + 1);
		e->excluded = excluded && excluded(arg, domain);
		s->used++;
	}
	if (!e->excluded)
		kmv_add(e, rs__siphash24(&s->client_key, client, client_len));
	return 0;
}

static double estimate(const struct rs_signal_slot *e)
{
	double kth;

	if (e->n < RS_SIGNAL_KMV)
		return e->n;
	/* the KMV-th smallest of n uniform values sits near KMV / n of the range */
	kth = ((double)e->h[RS_SIGNAL_KMV - 1] + 1.0) / 18446744073709551616.0;
	return (RS_SIGNAL_KMV - 1) / kth;
}

double rs_signal_estimate(const struct rs_signal *s, const char *domain)
{
	size_t len = strlen(domain);
	const struct rs_signal_slot *e;

	if (len == 0 || len >= RS_SIGNAL_NAME_MAX)
		return 0;
	e = find(s, domain, len);
	return e->name[0] && !e->excluded ? estimate(e) : 0;
}

uint32_t rs_signal_domains(const struct rs_signal *s)
{
	return s->used;
}

uint32_t rs_signal_dropped(const struct rs_signal *s)
{
	return s->dropped;
}

double rs_signal_laplace(double scale, uint64_t r)
{
	/* u uniform in (-1/2, 1/2), never +-1/2 (52 bits + 1/2 are exact in a double): the
	 * inverse CDF of Laplace(0, scale) */
	double u = ((double)(r >> 12) + 0.5) / 4503599627370496.0 - 0.5;

	return u < 0 ? scale * log(1 + 2 * u) : -scale * log(1 - 2 * u);
}

int rs_signal_batch(const struct rs_signal *s, const struct rs_signal_batch_params *p, char **json,
                    size_t *len, uint32_t *n_sent)
{
	/* per domain: {"domain":"NAME","count":X}, X below 1e21 (the largest estimate is
	 * 15 * 2^64) plus noise: 64 bytes besides the name are ample */
	size_t cap = 256 + strlen(p->day) + strlen(p->software) +
	             (size_t)s->used * (RS_SIGNAL_NAME_MAX + 64),
	       o;
	uint32_t sent = 0;
	char *b;
	int n;

	if (!(p->epsilon > 0) || p->k == 0 || !p->rand64)
		return RS_EINVAL;
	b = malloc(cap);
	if (!b)
		return RS_ENOMEM;
	/* day, feed version and software only: nothing finer than the day, nothing of a client */
	n = snprintf(b, cap,
	             "{\"day\":\"%s\",\"feed_version\":%llu,\"software\":\"%s\",\"epsilon\":%g,"
	             "\"k\":%u,\"domains\":[",
	             p->day, (unsigned long long)p->feed_version, p->software, p->epsilon, p->k);
	o = (size_t)n;
	for (size_t i = 0; i <= s->mask; i++) {
		const struct rs_signal_slot *e = &s->slot[i];
		double c;
		if (!e->name[0] || e->excluded || estimate(e) < p->k ||
		    (p->excluded && p->excluded(p->excl_arg, e->name)))
			continue;
		c = estimate(e) + rs_signal_laplace(1.0 / p->epsilon, p->rand64(p->rand_arg));
		n = snprintf(b + o, cap - o, "%s{\"domain\":\"%s\",\"count\":%.1f}",
		             sent ? "," : "", e->name, c);
		if (n < 0 || (size_t)n + 2 >= cap - o) { /* cannot happen: see cap */
			free(b);
			return RS_ENOSPC;
		}
		o += (size_t)n;
		sent++;
	}
	o += (size_t)snprintf(b + o, cap - o, "]}");
	*json = b;
	*len = o;
	if (n_sent)
		*n_sent = sent;
	return 0;
}
