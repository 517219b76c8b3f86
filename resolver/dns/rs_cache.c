/*
 * The answer cache: one per worker, so the query path takes no lock (issue 9 measures that
 * workers add no contention). A chained hash table indexes entries; a doubly linked list keeps
 * them in least-recently-used order for eviction. Each entry is one allocation holding the key,
 * the answer body (OPT removed) and the offsets of its TTL fields, so that serving a hit is a
 * copy plus a few stores — no allocation, no parsing.
 */
#include "rs_dns.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_dns_int.h"

struct entry {
	struct entry *hnext;               /* hash chain */
	struct entry *lru_prev, *lru_next; /* head = most recently used */
	uint32_t hash;
	uint64_t stored_ms, expires_ms;
	uint64_t policy_gen, policy_mask; /* see rs_cache_policy_known */
	uint16_t body_len, n_ttl;
	struct rs_cache_key key;
	uint16_t *ttl_offs; /* points into data[] */
	uint8_t *body;      /* points into data[] */
	uint8_t data[];
};

struct rs_cache {
	struct entry **buckets;
	uint32_t n_buckets; /* power of two */
	uint32_t count, limit;
	size_t bytes, max_bytes; /* heap held by entries; 0 max = no byte bound */
	struct entry *lru_head, *lru_tail;
};

/*
 * The cache and the in-flight table (rs_forward.c) index client-chosen names. An unkeyed hash
 * lets a client pick names that share one chain and make every lookup walk it (the FNV-1a of
 * the first versions: ce09.example.com and c17d20.example.com collide). SipHash-1-3 under a
 * key drawn once per process from the kernel makes that guesswork: the key never leaves the
 * process, and rs_cache_key_make hashes each key once for both tables.
 */
static struct rs_siphash_key hash_key;
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
	/* No kernel randomness at all: nothing we could key a table with is safe.
	 * (stderr for why: the DNS library does not log; the journal takes stderr.) */
	int rc = rs__siphash_key_random(&hash_key);

	if (rc != 0)
		fprintf(stderr, "kidguard: getrandom: %s\n", strerror(errno));
	KG_REQUIRE(rc == 0);
}

void rs_cache_key_make(const struct rs_question *q, struct rs_cache_key *k)
{
	uint8_t *p = k->data;

	memcpy(p, q->qname, q->qname_len);
	p += q->qname_len;
	*p++ = (uint8_t)(q->qtype >> 8);
	*p++ = (uint8_t)q->qtype;
	*p++ = (uint8_t)(q->qclass >> 8);
	*p++ = (uint8_t)q->qclass;
	*p++ = (uint8_t)((q->do_bit ? 1 : 0) | ((q->flags & RS_F_CD) ? 2 : 0));
	k->len = (uint16_t)(p - k->data);
	pthread_once(&hash_key_once, hash_key_init);
	k->hash = (uint32_t)rs__siphash13(&hash_key, k->data, k->len);
}

uint32_t rs_cache_key_hash(const struct rs_cache_key *k)
{
	return k->hash;
}

static uint32_t buckets_for(uint32_t limit)
{
	uint32_t n = 64;

	while (n < limit && n < (1u << 24))
		n <<= 1;
	return n;
}

int rs_cache_new(uint32_t max_entries, struct rs_cache **out)
{
	struct rs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return RS_ENOMEM;
	c->limit = max_entries;
	c->n_buckets = buckets_for(max_entries);
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return RS_ENOMEM;
	}
	*out = c;
	return 0;
}

static void lru_unlink(struct rs_cache *c, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct rs_cache *c, struct entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static void remove_entry(struct rs_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	c->bytes -= sizeof(*e) + e->n_ttl * sizeof(uint16_t) + e->body_len;
	free(e);
}

void rs_cache_free(struct rs_cache *c)
{
	struct entry *e, *next;

	if (!c)
		return;
	for (e = c->lru_head; e; e = next) {
		next = e->lru_next;
		free(e);
	}
	free(c->buckets);
	free(c);
}

void rs_cache_set_limit(struct rs_cache *c, uint32_t max_entries)
{
	/* The bucket array keeps its size; chains get longer only if the limit grew a lot,
	 * which a reload of the cache size may cost until restart. */
	c->limit = max_entries;
	while (c->count > c->limit && c->lru_tail)
		remove_entry(c, c->lru_tail);
}

void rs_cache_set_max_bytes(struct rs_cache *c, size_t max_bytes)
{
	c->max_bytes = max_bytes;
	while (c->max_bytes && c->bytes > c->max_bytes && c->lru_tail)
		remove_entry(c, c->lru_tail);
}

size_t rs_cache_bytes(const struct rs_cache *c)
{
	return c->bytes;
}

uint32_t rs_cache_count(const struct rs_cache *c)
{
	return c->count;
}

static struct entry *find(struct rs_cache *c, const struct rs_cache_key *k, uint32_t h)
{
	for (struct entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && e->key.len == k->len &&
		    memcmp(e->key.data, k->data, k->len) == 0)
			return e;
	return NULL;
}

bool rs_cache_get(struct rs_cache *c, const struct rs_cache_key *k, uint64_t now_ms,
                  struct rs_cache_entry_view *v)
{
	uint32_t h = rs_cache_key_hash(k);
	struct entry *e = find(c, k, h);

	if (!e)
		return false;
	if (now_ms >= e->expires_ms) {
		remove_entry(c, e);
		return false;
	}
	if (c->lru_head != e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
	v->body = e->body;
	v->body_len = e->body_len;
	v->ttl_offs = e->ttl_offs;
	v->n_ttl = e->n_ttl;
	v->age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	v->entry = e;
	return true;
}

int rs_cache_put(struct rs_cache *c, const struct rs_cache_key *k, const uint8_t *body,
                 size_t body_len, const uint16_t *ttl_offs, int n_ttl, uint32_t ttl,
                 uint64_t now_ms)
{
	uint32_t h = rs_cache_key_hash(k);
	size_t offs_bytes = (size_t)n_ttl * sizeof(uint16_t);
	struct entry *e, *old;

	if (c->limit == 0 || ttl == 0 || body_len > RS_MAX_MSG || n_ttl > RS_MAX_TTL_OFFS)
		return 0;
	e = malloc(sizeof(*e) + offs_bytes + body_len);
	if (!e)
		return RS_ENOMEM;
	e->hash = h;
	e->key = *k;
	e->policy_gen = 0; /* generation 0 never matches a real store */
	e->policy_mask = 0;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
	e->body_len = (uint16_t)body_len;
	e->n_ttl = (uint16_t)n_ttl;
	e->ttl_offs = (uint16_t *)e->data;
	e->body = e->data + offs_bytes;
	memcpy(e->ttl_offs, ttl_offs, offs_bytes);
	memcpy(e->body, body, body_len);
	/* Every record's TTL counts down from at most the entry's lifetime: a record whose own
	 * TTL was under min_ttl is raised to it, one above max_ttl lowered. */
	rs_set_ttls(e->body, ttl_offs, n_ttl, ttl);
	old = find(c, k, h);
	if (old)
		remove_entry(c, old);
	while (c->lru_tail &&
	       (c->count >= c->limit ||
	        (c->max_bytes && c->bytes + sizeof(*e) + offs_bytes + body_len > c->max_bytes)))
		remove_entry(c, c->lru_tail);
	e->hnext = c->buckets[h & (c->n_buckets - 1)];
	c->buckets[h & (c->n_buckets - 1)] = e;
	e->lru_prev = e->lru_next = NULL;
	lru_push_front(c, e);
	c->count++;
	c->bytes += sizeof(*e) + offs_bytes + body_len;
	return 0;
}

bool rs_cache_policy_known(const struct rs_cache_entry_view *v, uint64_t gen, uint64_t mask)
{
	const struct entry *e = v->entry;

	return gen && e->policy_gen == gen && e->policy_mask == mask;
}

void rs_cache_policy_note(const struct rs_cache_entry_view *v, uint64_t gen, uint64_t mask)
{
	struct entry *e = v->entry;

	e->policy_gen = gen;
	e->policy_mask = mask;
}
