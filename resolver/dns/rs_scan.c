/*
 * Checking an upstream answer before it is cached and relayed (rs_response_scan).
 *
 * The answer is passed on as it came, with a few bytes rewritten: the ID, the flags, ARCOUNT,
 * the question's letter case and every TTL. A compression pointer aimed at any of those would
 * read differently in the client's copy (found by fuzz_response: an MD record pointing at the
 * ID). So a pointer is accepted only when it lands, backwards, on the start of a label already
 * walked in this message. Finding every name means knowing each type's RDATA layout: the
 * table in name_layout() lists every type whose RDATA holds names (the set ldns 1.8
 * decompresses; RFC 3597 §4 forbids compression in any newer type).
 */
#include "rs_dns_int.h"
#include "rs_dns.h"

#include <string.h>

/* Walk the name at `off` (ending by `len`), marking its labels; see rs__name_read. */
static size_t walk_name(const uint8_t *pkt, size_t len, size_t off, struct rs_label_marks *m)
{
	size_t n;

	return rs__name_read(pkt, len, off, NULL, &n, m);
}

/* Where a type's RDATA holds names: after `skip` fixed bytes, `names` of them (0: to the end
 * of the RDATA), and whether the RDATA must end with them. NAPTR (35) and HIP (55) put theirs
 * after variable-length fields: see names_start(). */
struct name_layout {
	uint16_t type;
	uint8_t skip, names;
	bool exact;
};

static const struct name_layout layouts[] = {
    {2, 0, 1, true},    /* NS */
    {3, 0, 1, true},    /* MD */
    {4, 0, 1, true},    /* MF */
    {5, 0, 1, true},    /* CNAME */
    {6, 0, 2, false},   /* SOA: five 32-bit fields follow */
    {7, 0, 1, true},    /* MB */
    {8, 0, 1, true},    /* MG */
    {9, 0, 1, true},    /* MR */
    {12, 0, 1, true},   /* PTR */
    {14, 0, 2, true},   /* MINFO */
    {15, 2, 1, true},   /* MX */
    {17, 0, 2, true},   /* RP */
    {18, 2, 1, true},   /* AFSDB */
    {21, 2, 1, true},   /* RT */
    {24, 18, 1, false}, /* SIG */
    {26, 2, 2, true},   /* PX */
    {30, 0, 1, false},  /* NXT */
    {33, 6, 1, true},   /* SRV */
    {35, 0, 1, true},   /* NAPTR */
    {36, 2, 1, true},   /* KX */
    {39, 0, 1, true},   /* DNAME */
    {46, 18, 1, false}, /* RRSIG */
    {47, 0, 1, false},  /* NSEC */
    {55, 0, 0, true},   /* HIP */
    {58, 0, 2, true},   /* TALINK */
    {64, 2, 1, false},  /* SVCB */
    {65, 2, 1, false},  /* HTTPS */
    {107, 2, 1, true},  /* LP */
    {249, 0, 1, false}, /* TKEY */
    {250, 0, 1, false}, /* TSIG */
};

static const struct name_layout *name_layout(uint16_t type)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].type == type)
			return &layouts[i];
	return NULL;
}

/* NAPTR (35) and HIP (55) put their names after variable-length fields: where they start. */
static size_t names_start(const uint8_t *pkt, size_t rd, size_t end, uint16_t type)
{
	size_t o;

	if (type == 55) { /* HIT length, algorithm, key length, HIT, key, then names to the end */
		if (rd + 4 > end)
			return 0;
		o = rd + 4 + pkt[rd] + get16(pkt + rd + 2);
		return o <= end ? o : 0;
	}
	o = rd + 4; /* order, preference, then flags, services and regexp strings */
	for (int i = 0; i < 3; i++) {
		if (o >= end)
			return 0;
		o += 1u + pkt[o];
	}
	return o <= end ? o : 0;
}

/* Walk the names in one record's RDATA [rd, end). Returns the offset after the last name (rd
 * when the type holds none), or 0 when a name is malformed or the RDATA too short for them. */
static size_t walk_rdata(const uint8_t *pkt, size_t rd, size_t end, uint16_t type,
                         struct rs_label_marks *m)
{
	const struct name_layout *l = name_layout(type);
	size_t o;

	if (!l)
		return rd;
	if (type == 35 || type == 55) {
		if (!(o = names_start(pkt, rd, end, type)))
			return 0;
	} else {
		o = rd + l->skip;
	}
	if (o > end)
		return 0;
	for (int i = 0; l->names ? i < l->names : o < end; i++)
		if (!(o = walk_name(pkt, end, o, m)))
			return 0;
	return (!l->exact || o == end) ? o : 0;
}

static void note_ttl(struct rs_scan *s, size_t ttl_off, uint32_t ttl)
{
	if (s->n_ttl >= RS_MAX_TTL_OFFS) {
		s->too_many_rrs = true;
		return;
	}
	s->ttl_offs[s->n_ttl++] = (uint16_t)ttl_off;
	if (ttl < s->min_ttl)
		s->min_ttl = ttl;
}

/* The SOA of a negative answer bounds how long it is cached (RFC 2308 §5). `names_end` is
 * where its two names end, so MINIMUM is the last of the five fields after them. */
static void note_soa(const uint8_t *pkt, size_t names_end, uint32_t ttl, struct rs_scan *s)
{
	uint32_t minimum = get32(pkt + names_end + 16);

	if (minimum < ttl)
		ttl = minimum;
	if (ttl < s->neg_ttl)
		s->neg_ttl = ttl;
}

static int scan_rrs(const uint8_t *pkt, size_t len, size_t *off, int count, int section,
                    struct rs_scan *s, struct rs_label_marks *m)
{
	for (int i = 0; i < count; i++) {
		size_t start = *off, after = walk_name(pkt, len, *off, m), names_end;
		uint16_t type, rdlen;
		uint32_t ttl;

		if (!after || after + 10 > len)
			return RS_EPARSE;
		type = get16(pkt + after);
		ttl = get32(pkt + after + 4);
		if (ttl & 0x80000000u)
			ttl = 0; /* RFC 2181 §8: treated as zero */
		rdlen = get16(pkt + after + 8);
		if (after + 10 + rdlen > len)
			return RS_EPARSE;
		*off = after + 10 + rdlen;
		if (!(names_end = walk_rdata(pkt, after + 10, *off, type, m)))
			return RS_EPARSE;
		if (type == RS_TYPE_OPT) {
			if (section != 2 || s->keep_len != len)
				return RS_EPARSE; /* OPT only once, only in additional */
			s->rcode |= (int)pkt[after + 4] << 4;
			s->keep_len = start;
			continue;
		}
		if (type == RS_TYPE_SOA && names_end + 20 != *off)
			return RS_EPARSE;
		if (s->keep_len != len)
			continue; /* after the OPT: cut away, see rs_scan.keep_len */
		if (section == 2)
			s->arcount_kept++;
		note_ttl(s, after + 4, ttl);
		if (type == RS_TYPE_SOA && section == 1)
			note_soa(pkt, names_end, ttl, s);
	}
	return 0;
}

int rs_response_scan(const uint8_t *pkt, size_t len, struct rs_scan *s)
{
	struct rs_label_marks m;
	size_t off = RS_HDR_LEN;
	uint16_t qd;

	if (len < RS_HDR_LEN || len > RS_MAX_MSG)
		return RS_EPARSE;
	memset(m.bits, 0, len / 8 + 1);
	memset(s, 0, offsetof(struct rs_scan, ttl_offs));
	s->too_many_rrs = false; /* after ttl_offs, so not cleared above */
	s->id = get16(pkt);
	s->flags = get16(pkt + 2);
	s->rcode = s->flags & 0xf;
	s->ancount = get16(pkt + 6);
	s->min_ttl = UINT32_MAX;
	s->neg_ttl = UINT32_MAX;
	s->keep_len = len;
	qd = get16(pkt + 4);
	if (qd > 1)
		return RS_EPARSE;
	if (qd == 1) {
		off = walk_name(pkt, len, off, &m);
		if (!off || off + 4 > len)
			return RS_EPARSE;
		off += 4;
	}
	if (scan_rrs(pkt, len, &off, get16(pkt + 6), 0, s, &m) < 0 ||
	    scan_rrs(pkt, len, &off, get16(pkt + 8), 1, s, &m) < 0 ||
	    scan_rrs(pkt, len, &off, get16(pkt + 10), 2, s, &m) < 0)
		return RS_EPARSE;
	if (off != len)
		return RS_EPARSE; /* trailing bytes: not a message we understand */
	return 0;
}

/* ------------------------------------- private addresses under public names (rebinding) --- */

static bool v4_private(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64);
}

bool rs_addr_private(const uint8_t *a, size_t len)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[15] = {0};

	if (len == 4)
		return v4_private(a);
	if (len != 16)
		return false;
	if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
		return true; /* :: and ::1 */
	if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return true; /* fc00::/7 unique local, fe80::/10 link local */
	return memcmp(a, mapped, 12) == 0 && v4_private(a + 12);
}

bool rs_name_at_or_under(const uint8_t *name, size_t nl, const uint8_t *zone, size_t zl)
{
	for (size_t off = 0; off < nl && nl - off >= zl; off += 1u + name[off])
		if (nl - off == zl)
			return memcmp(name + off, zone, zl) == 0;
	return false;
}

#define MAX_CUTS 64 /* records dropped from one answer; more: the whole answer is emptied */

struct strip {
	const uint8_t *pkt;
	size_t len;
	struct {
		uint16_t start, end;
	} cuts[MAX_CUTS];
	int n_cuts;
	bool overflow;
	uint16_t removed[3]; /* per section */
};

/* Bytes cut before offset `t` of the original; -1 when `t` lies inside a cut record. */
static long cut_before(const struct strip *st, size_t t)
{
	long n = 0;

	for (int i = 0; i < st->n_cuts && st->cuts[i].start <= t; i++) {
		if (t < st->cuts[i].end)
			return -1;
		n += st->cuts[i].end - st->cuts[i].start;
	}
	return n;
}

static bool under_private_domain(const struct rs_zones *allowed, const uint8_t *name, size_t nl)
{
	for (int i = 0; i < allowed->n; i++)
		if (rs_name_at_or_under(name, nl, allowed->name[i], allowed->len[i]))
			return true;
	return false;
}

/* Pass 1: find the A/AAAA records to drop. Returns the offset after the question, or 0. */
static size_t find_cuts(struct strip *st, const struct rs_zones *allowed)
{
	const uint8_t *pkt = st->pkt;
	uint8_t name[RS_MAX_NAME];
	size_t off = RS_HDR_LEN, qend, nl;

	if (get16(pkt + 4) != 1 || !(off = rs__name_read(pkt, st->len, off, NULL, &nl, NULL)))
		return 0;
	qend = off += 4;
	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = get16(pkt + 6 + 2 * sec); i > 0; i--) {
			size_t start = off,
			       after = rs__name_read(pkt, st->len, off, name, &nl, NULL);
			uint16_t type, rdlen;
			if (!after || after + 10 > st->len)
				return 0;
			type = get16(pkt + after);
			rdlen = get16(pkt + after + 8);
			off = after + 10 + rdlen;
			if (off > st->len)
				return 0;
			if (get16(pkt + after + 2) != RS_CLASS_IN ||
			    !((type == RS_TYPE_A && rdlen == 4) ||
			      (type == RS_TYPE_AAAA && rdlen == 16)) ||
			    !rs_addr_private(pkt + after + 10, rdlen) ||
			    under_private_domain(allowed, name, nl))
				continue;
			if (st->n_cuts == MAX_CUTS) {
				st->overflow = true;
				continue;
			}
			st->cuts[st->n_cuts].start = (uint16_t)start;
			st->cuts[st->n_cuts++].end = (uint16_t)off;
			st->removed[sec]++;
		}
	}
	return off == st->len ? qend : 0;
}

/* Re-aim the compression pointer ending the name at `off` of the original (if any) in `out`,
 * where the original's byte p sits at p - shift. Returns the offset after the name, or 0 when
 * the pointer lands in a dropped record. */
static size_t fix_name(const struct strip *st, size_t off, uint8_t *out, long shift)
{
	const uint8_t *pkt = st->pkt;

	size_t t;
	long before;

	while (off < st->len && pkt[off] != 0 && (pkt[off] & 0xc0) != 0xc0)
		off += 1u + pkt[off];
	if (off >= st->len)
		return 0;
	if (pkt[off] == 0)
		return off + 1;
	t = (size_t)((pkt[off] & 0x3f) << 8) | pkt[off + 1];
	if ((before = cut_before(st, t)) < 0)
		return 0;
	t -= (size_t)before;
	out[off - (size_t)shift] = (uint8_t)(0xc0 | (t >> 8));
	out[off + 1 - (size_t)shift] = (uint8_t)t;
	return off + 2;
}

/* The names in one kept record's RDATA, as walk_rdata finds them. */
static bool fix_rdata(const struct strip *st, size_t rd, size_t end, uint16_t type, uint8_t *out,
                      long shift)
{
	const struct name_layout *l = name_layout(type);
	size_t o;

	if (!l)
		return true;
	o = (type == 35 || type == 55) ? names_start(st->pkt, rd, end, type) : rd + l->skip;
	for (int i = 0; o && (l->names ? i < l->names : o < end); i++)
		o = fix_name(st, o, out, shift);
	return o != 0;
}

/* Pass 2: copy the kept records, re-aiming their pointers. Returns the length, or 0. */
static size_t copy_kept(const struct strip *st, size_t qend, uint8_t *out)
{
	const uint8_t *pkt = st->pkt;
	size_t off = qend, o = qend, nl;
	int cut = 0;

	memcpy(out, pkt, qend);
	for (int sec = 0; sec < 3; sec++) {
		put16(out + 6 + 2 * sec, (uint16_t)(get16(pkt + 6 + 2 * sec) - st->removed[sec]));
		for (unsigned i = get16(pkt + 6 + 2 * sec); i > 0; i--) {
			size_t start = off,
			       after = rs__name_read(pkt, st->len, off, NULL, &nl, NULL);
			size_t end = after + 10 + get16(pkt + after + 8);
			long shift = (long)(start - o);
			off = end;
			if (cut < st->n_cuts && st->cuts[cut].start == start) {
				cut++;
				continue;
			}
			memcpy(out + o, pkt + start, end - start);
			if (!fix_name(st, start, out, shift) ||
			    !fix_rdata(st, after + 10, end, get16(pkt + after), out, shift))
				return 0;
			o += end - start;
		}
	}
	return o;
}

int rs_private_strip(const uint8_t *pkt, size_t len, const struct rs_zones *allowed, uint8_t *out,
                     size_t *out_len)
{
	struct strip st = {.pkt = pkt, .len = len};
	size_t qend, n;

	if (len < RS_HDR_LEN || !(qend = find_cuts(&st, allowed)))
		return RS_EPARSE;
	if (st.n_cuts == 0 && !st.overflow)
		return 0;
	if (!out)
		return st.n_cuts + (st.overflow ? 1 : 0);
	n = st.overflow ? 0 : copy_kept(&st, qend, out);
	if (n == 0) {
		/* Too many to drop one by one, or a kept name pointing into a dropped record:
		 * keep the question only (NODATA with the upstream's RCODE). */
		memcpy(out, pkt, qend);
		memset(out + 6, 0, 6);
		n = qend;
	}
	*out_len = n;
	return st.n_cuts + (st.overflow ? 1 : 0);
}
