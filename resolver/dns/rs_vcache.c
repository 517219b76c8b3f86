/*
 * The verdict cache: one per worker, so the query path takes no lock. Children's devices ask
 * the same blocked names over and over, and each blocklist lookup walks LMDB afresh (a cursor
 * search and a get per candidate level and source); this remembers, per lowercased wire name,
 * a small value the caller gives (the blocklist's raw result, bl_lookup_raw) for one store
 * generation.
 *
 * Layout: a fixed array of 128-byte slots allocated once, grouped in sets of RS_VCACHE_WAYS
 * (open addressing with a bounded probe: a name can live only in its set), and beside it the
 * sets' tags (16 bits of each name's hash and 16 of the slot's epoch), one cache line per set:
 * a lookup or an insert reads that line and then only a slot whose tag matches (the table is
 * larger than the CPU caches, so each line touched is a memory round trip). A name goes to its
 * home slot (a way chosen by its hash) when that is free, and a lookup prefetches the home slot
 * before it reads the tags, so that the two round trips overlap for most names. A slot holds the
 * value first and the name right after it, so that for the usual value (one rule) and a name
 * of up to 38 bytes a hit reads one line of the slot, not two; slots are 128-byte aligned so
 * that the other line is the one the CPU's adjacent-line prefetch brings. The name is compared
 * in full, so a hash collision costs a probe, never a wrong verdict. A set picks its victim
 * round robin; with 16 ways, sets rarely overflow (a set asked in turn for more names than it
 * has ways would miss on every one of them). A new generation invalidates every slot at once
 * by bumping the epoch the slots are stamped with (no sweep); only when the 16-bit epoch wraps
 * is the tag array cleared. SipHash-1-3 under a key drawn per cache keeps clients from
 * choosing names that share a set.
 */
#include "rs_dns.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rs_dns_int.h"

struct slot {
	uint8_t namelen;
	uint8_t vlen;
	uint8_t data[RS_VCACHE_NAME_MAX + RS_VCACHE_VAL_MAX]; /* the value, then the name */
};

_Static_assert(sizeof(struct slot) == 128, "a slot is two cache lines");

struct vtag {
	uint16_t tag;   /* low bits of the name's hash */
	uint16_t epoch; /* 0: empty; else the slot is valid only while it equals the cache's */
};

_Static_assert(RS_VCACHE_WAYS * sizeof(struct vtag) == 64, "a set's tags are one cache line");

struct rs_vcache {
	struct slot *slots;
	struct vtag *tags; /* per slot, RS_VCACHE_WAYS of them in one cache line per set */
	uint32_t nsets, ways;
	uint16_t epoch;
	uint64_t gen;
	uint8_t *victim; /* per set: the next way to evict */
	struct rs_siphash_key key;
	struct rs_vcache_stats st;
};

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * Zeroed and aligned to `align` (a power of two): a set's tags are one line, a slot is one
 * pair of lines. An array of a huge page or more is asked to be backed by huge pages (before
 * it is first touched, or the kernel has already mapped small ones): with 4 KiB pages every
 * lookup in a 32 MB table also misses the TLB, and under a hypervisor the page walk costs
 * more than the line. Advice only: where transparent huge pages are off, nothing changes.
 */
static void *zalloc_aligned(size_t size, size_t align)
{
	size_t rounded, a = size >= HUGE_PAGE ? HUGE_PAGE : align;
	void *p;

	rounded = (size + a - 1) & ~(a - 1);
	p = aligned_alloc(a, rounded);
	if (!p)
		return NULL;
	if (a == HUGE_PAGE)
		(void)madvise(p, rounded, MADV_HUGEPAGE);
	memset(p, 0, rounded);
	return p;
}

int rs_vcache_new(uint32_t entries, struct rs_vcache **out)
{
	struct rs_vcache *vc;

	*out = NULL;
	if (entries == 0)
		return 0;
	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return RS_ENOMEM;
	/* Never more slots than asked for: the bound is the config's. */
	vc->ways = entries < RS_VCACHE_WAYS ? entries : RS_VCACHE_WAYS;
	vc->nsets = entries / vc->ways;
	vc->epoch = 1;
	vc->slots = zalloc_aligned((size_t)vc->nsets * vc->ways * sizeof(struct slot), 128);
	vc->tags = zalloc_aligned((size_t)vc->nsets * vc->ways * sizeof(struct vtag), 64);
	vc->victim = calloc(vc->nsets, 1);
	if (!vc->slots || !vc->tags || !vc->victim || rs__siphash_key_random(&vc->key) != 0) {
		rs_vcache_free(vc);
		return RS_ENOMEM;
	}
	vc->st.capacity = vc->nsets * vc->ways;
	*out = vc;
	return 0;
}

void rs_vcache_free(struct rs_vcache *vc)
{
	if (!vc)
		return;
	free(vc->slots);
	free(vc->tags);
	free(vc->victim);
	free(vc);
}

void rs_vcache_generation(struct rs_vcache *vc, uint64_t gen)
{
	if (gen == vc->gen)
		return;
	vc->gen = gen;
	vc->st.flushes++;
	vc->st.entries = 0;
	if (++vc->epoch == 0) { /* after 2^16 commits: stamps could repeat, start clean */
		memset(vc->tags, 0, (size_t)vc->nsets * vc->ways * sizeof(struct vtag));
		vc->epoch = 1;
	}
}

uint64_t rs_vcache_current(const struct rs_vcache *vc)
{
	return vc->gen;
}

/* Where a name lives: the first slot of its set, its home slot in the set and its tag. */
struct place {
	size_t set, home;
	uint16_t tag;
};

static struct place place_of(const struct rs_vcache *vc, const uint8_t *name, size_t len)
{
	uint64_t h = rs__siphash13(&vc->key, name, len);
	uint32_t set = (uint32_t)(((h >> 32) * (uint64_t)vc->nsets) >> 32);
	struct place p;

	p.set = (size_t)set * vc->ways;
	p.home = p.set + (uint32_t)(h >> 16 & 0xffff) % vc->ways;
	p.tag = (uint16_t)h;
	return p;
}

static bool same(const struct rs_vcache *vc, size_t i, uint16_t tag, const uint8_t *name,
                 size_t len)
{
	const struct slot *s = &vc->slots[i];

	return vc->tags[i].tag == tag && vc->tags[i].epoch == vc->epoch && s->namelen == len &&
	       memcmp(s->data + s->vlen, name, len) == 0;
}

bool rs_vcache_get(struct rs_vcache *vc, const uint8_t *name, size_t len, void *val, size_t *vlen)
{
	struct place p;

	if (len > RS_VCACHE_NAME_MAX) {
		vc->st.misses++;
		return false;
	}
	p = place_of(vc, name, len);
	/* Most names sit in their home slot: ask for it now, so that its line comes while the
	 * tag line does rather than after it. */
	__builtin_prefetch(&vc->slots[p.home]);
	for (size_t i = p.set; i < p.set + vc->ways; i++) {
		if (same(vc, i, p.tag, name, len)) {
			const struct slot *s = &vc->slots[i];
			memcpy(val, s->data, s->vlen);
			*vlen = s->vlen;
			vc->st.hits++;
			return true;
		}
	}
	vc->st.misses++;
	return false;
}

int rs_vcache_put(struct rs_vcache *vc, uint64_t gen, const uint8_t *name, size_t len,
                  const void *val, size_t vlen)
{
	struct slot *s = NULL;
	struct place p;
	size_t i, at = 0;

	/* A value read from another snapshot than the current generation's would be served
	 * under the wrong one: not kept (the next query moves the generation on). */
	if (gen != vc->gen || len > RS_VCACHE_NAME_MAX || vlen > RS_VCACHE_VAL_MAX) {
		vc->st.skipped++;
		return RS_EINVAL;
	}
	p = place_of(vc, name, len);
	/* The name's own slot if it is there, else its home slot if that is empty or stale, else
	 * the first empty or stale one. */
	for (i = p.set; i < p.set + vc->ways; i++) {
		if (same(vc, i, p.tag, name, len)) {
			s = &vc->slots[at = i];
			break;
		}
		if (vc->tags[i].epoch != vc->epoch && (!s || i == p.home))
			s = &vc->slots[at = i];
	}
	if (!s) {
		uint8_t *v = &vc->victim[p.set / vc->ways];
		at = p.set + *v;
		s = &vc->slots[at];
		*v = (uint8_t)((*v + 1) % vc->ways);
		vc->st.evictions++;
	} else if (vc->tags[at].epoch != vc->epoch) {
		vc->st.entries++;
	}
	vc->tags[at].tag = p.tag;
	vc->tags[at].epoch = vc->epoch;
	s->namelen = (uint8_t)len;
	s->vlen = (uint8_t)vlen;
	memcpy(s->data, val, vlen);
	memcpy(s->data + vlen, name, len);
	return 0;
}

void rs_vcache_stats(const struct rs_vcache *vc, struct rs_vcache_stats *st)
{
	*st = vc->st;
}
