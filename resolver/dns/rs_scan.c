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
