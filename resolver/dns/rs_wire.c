/*
 * The DNS wire format on the hot path: a small bounded reader for client queries and upstream
 * answers, and writers for the answers we send. It never allocates. ldns is the oracle it is
 * fuzzed against (tests/fuzz); ldns itself is kept off the per-query path because building a
 * full ldns_pkt costs dozens of allocations per packet.
 */
#include "rs_dns_int.h"
#include "rs_dns.h"

#include <string.h>

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/*
 * Read an uncompressed name at `off` (a question name: compression there makes no sense and
 * is refused). Copies it raw and lowercased. Returns the offset after it, or 0 when malformed.
 */
static size_t read_qname(const uint8_t *pkt, size_t len, size_t off, struct rs_question *q)
{
	size_t n = 0;

	for (;;) {
		uint8_t l;
		if (off >= len)
			return 0;
		l = pkt[off];
		if (l > 63) /* a pointer (0xc0) or the reserved label types */
			return 0;
		if (n + 1 + l > RS_MAX_NAME || off + 1 + l > len)
			return 0;
		q->qname_raw[n] = l;
		q->qname[n] = l;
		for (uint8_t i = 1; i <= l; i++) {
			q->qname_raw[n + i] = pkt[off + i];
			q->qname[n + i] = lower(pkt[off + i]);
		}
		n += 1u + l;
		off += 1u + l;
		if (l == 0)
			break;
	}
	q->qname_len = (uint8_t)n;
	return off;
}

/* Skip a possibly compressed name (rs__name_read without keeping it): the offset after it,
 * or 0 when malformed. */
static size_t skip_name(const uint8_t *pkt, size_t len, size_t off)
{
	size_t n;

	return rs__name_read(pkt, len, off, NULL, &n, NULL);
}

#define OPT_ECS 8
#define OPT_MAC 65001

/* The options we read: client subnet and MAC address. Length is checked by the caller only
 * against the RDATA end, so check each one here before reading. */
static int read_option(uint16_t code, const uint8_t *d, uint16_t len, struct rs_question *q)
{
	if (code == OPT_MAC && len == 6) {
		memcpy(q->mac, d, 6);
		q->has_mac = true;
	} else if (code == OPT_ECS) {
		/* FAMILY(2) SOURCE PREFIX(1) SCOPE PREFIX(1) ADDRESS(ceil(source/8)) */
		uint16_t fam;
		uint8_t src;
		if (len < 4)
			return -1;
		fam = get16(d);
		src = d[2];
		if ((fam != 1 && fam != 2) || src > (fam == 1 ? 32 : 128) ||
		    len != 4 + (src + 7) / 8)
			return -1; /* RFC 7871 §7.1.2: FORMERR */
		memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
		memcpy(q->ecs_addr, d + 4, (size_t)(len - 4));
		q->ecs_family = (uint8_t)fam;
		q->ecs_prefix = src;
		q->has_ecs = true;
	}
	return 0;
}

/* Parse the OPT record of a query (RFC 6891 §6.1.1). Returns 0 or -1 when malformed. */
static int read_opt(const uint8_t *pkt, size_t len, size_t off, size_t *next, struct rs_question *q)
{
	uint16_t rdlen;
	uint32_t ttl;
	size_t o = off;

	if (o + 11 > len || pkt[o] != 0) /* owner must be the root */
		return -1;
	q->udp_size = get16(pkt + o + 3);
	ttl = get32(pkt + o + 5);
	rdlen = get16(pkt + o + 9);
	o += 11;
	if (o + rdlen > len)
		return -1;
	/* Each option must fit the RDATA exactly. */
	for (size_t p = o; p < o + rdlen;) {
		uint16_t olen;
		if (p + 4 > o + rdlen)
			return -1;
		olen = get16(pkt + p + 2);
		if (p + 4 + olen > o + rdlen)
			return -1; /* checked before read_option looks inside */
		if (read_option(get16(pkt + p), pkt + p + 4, olen, q) < 0)
			return -1;
		p += 4u + olen;
	}
	if (q->udp_size < 512)
		q->udp_size = 512;
	q->edns = true;
	q->edns_version = (uint8_t)(ttl >> 16);
	q->do_bit = (ttl & 0x8000) != 0;
	*next = o + rdlen;
	return 0;
}

/* Walk the additional section of a query: at most one OPT, other records skipped. */
static int read_additional(const uint8_t *pkt, size_t len, size_t off, uint16_t arcount,
                           struct rs_question *q)
{
	for (uint16_t i = 0; i < arcount; i++) {
		size_t after = skip_name(pkt, len, off);
		if (!after || after + 10 > len)
			return RS_Q_FORMERR;
		if (get16(pkt + after) == RS_TYPE_OPT) {
			if (q->edns || read_opt(pkt, len, off, &off, q) < 0)
				return RS_Q_FORMERR; /* two OPTs, or a broken one */
			continue;
		}
		off = after + 10 + get16(pkt + after + 8);
		if (off > len)
			return RS_Q_FORMERR;
	}
	return RS_Q_OK;
}

int rs_query_parse(const uint8_t *pkt, size_t len, struct rs_question *q)
{
	size_t off;
	int rc;

	q->edns = false;
	q->do_bit = false;
	q->edns_version = 0;
	q->udp_size = 512;
	q->qname_len = 0;
	q->has_mac = false;
	q->has_ecs = false;
	if (len < RS_HDR_LEN)
		return RS_Q_DROP;
	q->id = get16(pkt);
	q->flags = get16(pkt + 2);
	if (q->flags & RS_F_QR)
		return RS_Q_DROP; /* never answer an answer: no reflection loops */
	if (RS_F_OPCODE(q->flags) != 0)
		return RS_Q_NOTIMP;
	if (get16(pkt + 4) != 1 || get16(pkt + 6) != 0 || get16(pkt + 8) != 0)
		return RS_Q_FORMERR;
	off = read_qname(pkt, len, RS_HDR_LEN, q);
	if (!off || off + 4 > len) {
		q->qname_len = 0;
		return RS_Q_FORMERR;
	}
	q->qtype = get16(pkt + off);
	q->qclass = get16(pkt + off + 2);
	rc = read_additional(pkt, len, off + 4, get16(pkt + 10), q);
	if (rc != RS_Q_OK)
		return rc;
	if (q->edns && q->edns_version != 0)
		return RS_Q_BADVERS;
	return RS_Q_OK;
}

size_t rs_udp_limit(const struct rs_question *q, int server_max)
{
	size_t lim = q->edns ? q->udp_size : 512;

	if (lim > (size_t)server_max)
		lim = (size_t)server_max;
	return lim < 512 ? 512 : lim;
}

/* Our OPT: root owner, our UDP size, extended rcode, version 0, DO echoed (RFC 3225). */
static size_t put_opt(uint8_t *p, const struct rs_question *q, int rcode)
{
	p[0] = 0;
	put16(p + 1, RS_TYPE_OPT);
	put16(p + 3, RS_EDNS_SIZE);
	p[5] = (uint8_t)(rcode >> 4);
	p[6] = 0;
	put16(p + 7, q->do_bit ? 0x8000 : 0);
	put16(p + 9, 0);
	return 11;
}

static size_t put_question(uint8_t *p, const struct rs_question *q, const uint8_t *name)
{
	memcpy(p, name, q->qname_len);
	put16(p + q->qname_len, q->qtype);
	put16(p + q->qname_len + 2, q->qclass);
	return q->qname_len + 4u;
}

size_t rs_build_error(const struct rs_question *q, bool with_question, int rcode, uint8_t *out,
                      size_t max)
{
	size_t n = RS_HDR_LEN;
	uint16_t flags;

	with_question = with_question && q->qname_len > 0;
	if (max < RS_HDR_LEN + RS_MAX_NAME + 4 + 11)
		return 0;
	flags = (uint16_t)(RS_F_QR | (q->flags & (0x7800 | RS_F_RD | RS_F_CD)) | RS_F_RA |
	                   (rcode & 0xf));
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, with_question ? 1 : 0);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, q->edns ? 1 : 0);
	if (with_question)
		n += put_question(out + n, q, q->qname_raw);
	if (q->edns)
		n += put_opt(out + n, q, rcode);
	return n;
}

size_t rs_build_upstream_query(const struct rs_question *q, uint16_t id, uint8_t *out, size_t max)
{
	size_t n = RS_HDR_LEN;

	if (max < RS_HDR_LEN + RS_MAX_NAME + 4 + 11)
		return 0;
	put16(out, id);
	put16(out + 2, (uint16_t)(RS_F_RD | (q->flags & RS_F_CD)));
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 1);
	n += put_question(out + n, q, q->qname);
	n += put_opt(out + n, q, 0);
	return n;
}

void rs_name_scramble_case(uint8_t *name, size_t len, const uint8_t *bits)
{
	for (size_t i = 0; i < len;) {
		uint8_t l = name[i];
		for (size_t j = i + 1; j <= i + l && j < len; j++)
			if (((name[j] | 0x20) >= 'a' && (name[j] | 0x20) <= 'z') &&
			    ((bits[j >> 3] >> (j & 7)) & 1))
				name[j] ^= 0x20;
		i += 1u + l;
		if (l == 0)
			break;
	}
}

bool rs_response_same_case(const uint8_t *pkt, size_t len, const uint8_t *sent, size_t sent_len)
{
	return len >= RS_HDR_LEN + sent_len && memcmp(pkt + RS_HDR_LEN, sent, sent_len) == 0;
}

bool rs_response_matches(const uint8_t *pkt, size_t len, const struct rs_question *q)
{
	size_t end = RS_HDR_LEN + q->qname_len;

	if (len < end + 4 || get16(pkt + 4) != 1)
		return false;
	for (size_t i = 0; i < q->qname_len; i++)
		if (lower(pkt[RS_HDR_LEN + i]) != q->qname[i])
			return false;
	return get16(pkt + end) == q->qtype && get16(pkt + end + 2) == q->qclass;
}

static size_t build_truncated(const struct rs_question *q, uint16_t body_flags, uint8_t *out,
                              size_t max)
{
	size_t n = rs_build_error(q, true, body_flags & 0xf, out, max);

	if (n)
		put16(out + 2, (uint16_t)(get16(out + 2) | RS_F_TC | (body_flags & RS_F_AA)));
	return n;
}

size_t rs_build_reply(const uint8_t *body, size_t body_len, const uint16_t *ttl_offs, int n_ttl,
                      uint32_t age, const struct rs_question *q, size_t limit, uint8_t *out,
                      size_t max)
{
	size_t n = body_len + (q->edns ? 11 : 0);
	uint16_t flags;

	if (body_len < RS_HDR_LEN + q->qname_len + 4u)
		return 0;
	flags = get16(body + 2);
	if (n > limit)
		return build_truncated(q, flags, out, max);
	if (n > max)
		return 0;
	memcpy(out, body, body_len);
	put16(out, q->id);
	/* Keep the upstream's AA, AD and rcode; RD and CD are the client's; TC is ours. AD only
	 * for a client that can use it (RFC 6840 §5.8). */
	flags = (uint16_t)((flags & (RS_F_AA | 0xf)) | RS_F_QR | RS_F_RA |
	                   (q->flags & (RS_F_RD | RS_F_CD)) |
	                   ((q->do_bit || (q->flags & RS_F_AD)) ? (flags & RS_F_AD) : 0));
	put16(out + 2, flags);
	memcpy(out + RS_HDR_LEN, q->qname_raw, q->qname_len);
	for (int i = 0; i < n_ttl; i++) {
		uint32_t ttl = get32(out + ttl_offs[i]);
		put32(out + ttl_offs[i], ttl > age ? ttl - age : 0);
	}
	if (q->edns) {
		put16(out + 10, (uint16_t)(get16(out + 10) + 1));
		put_opt(out + body_len, q, flags & 0xf);
	}
	return n;
}

static size_t put_opt_ede(uint8_t *p, const struct rs_question *q, uint16_t code, const char *text)
{
	size_t tl = text ? strlen(text) : 0;

	if (tl > RS_EDE_TEXT_MAX)
		tl = RS_EDE_TEXT_MAX;
	put_opt(p, q, 0);
	put16(p + 9, (uint16_t)(4 + 2 + tl)); /* RDLENGTH: one option */
	put16(p + 11, 15);                    /* OPTION-CODE: Extended DNS Error */
	put16(p + 13, (uint16_t)(2 + tl));
	put16(p + 15, code);
	if (tl)
		memcpy(p + 17, text, tl);
	return 17 + tl;
}

size_t rs_build_blocked(const struct rs_question *q, const struct rs_block_answer *b, uint8_t *out,
                        size_t max)
{
	size_t n = RS_HDR_LEN;
	int rcode = RS_RCODE_NOERROR;
	const uint8_t *addr = NULL;
	uint16_t addr_len = 0;

	if (max < RS_HDR_LEN + RS_MAX_NAME + 4 + 16 + 16 + 17 + RS_EDE_TEXT_MAX)
		return 0;
	if (b->action == RS_ACTION_NXDOMAIN)
		rcode = RS_RCODE_NXDOMAIN;
	else if (b->action == RS_ACTION_REFUSED)
		rcode = RS_RCODE_REFUSED;
	else if (b->action == RS_ACTION_SINKHOLE && q->qclass == RS_CLASS_IN &&
	         q->qtype == RS_TYPE_A)
		addr = b->ipv4, addr_len = 4;
	else if (b->action == RS_ACTION_SINKHOLE && q->qclass == RS_CLASS_IN &&
	         q->qtype == RS_TYPE_AAAA)
		addr = b->ipv6, addr_len = 16;
	put16(out, q->id);
	put16(out + 2, (uint16_t)(RS_F_QR | RS_F_RA | (q->flags & (RS_F_RD | RS_F_CD)) | rcode));
	put16(out + 4, 1);
	put16(out + 6, addr ? 1 : 0);
	put16(out + 8, 0);
	put16(out + 10, q->edns ? 1 : 0);
	n += put_question(out + n, q, q->qname_raw);
	if (addr) {
		put16(out + n, 0xc000 | RS_HDR_LEN); /* the owner is the question's name */
		put16(out + n + 2, q->qtype);
		put16(out + n + 4, RS_CLASS_IN);
		put32(out + n + 6, b->ttl);
		put16(out + n + 10, addr_len);
		memcpy(out + n + 12, addr, addr_len);
		n += 12u + addr_len;
	}
	if (q->edns)
		n += put_opt_ede(out + n, q, b->ede_code, b->ede_text);
	return n;
}

void rs_set_ttls(uint8_t *body, const uint16_t *ttl_offs, int n_ttl, uint32_t ttl)
{
	for (int i = 0; i < n_ttl; i++)
		put32(body + ttl_offs[i], ttl);
}

static inline void mark(struct rs_label_marks *m, size_t off)
{
	m->bits[off >> 3] = (uint8_t)(m->bits[off >> 3] | (1u << (off & 7)));
}

static inline bool marked(const struct rs_label_marks *m, size_t off)
{
	return (m->bits[off >> 3] >> (off & 7)) & 1u;
}

size_t rs__name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *outlen,
                     struct rs_label_marks *marks)
{
	size_t end = 0, n = 0, pos = off, lowest = off;

	for (;;) {
		uint8_t l;
		if (pos >= len)
			return 0;
		l = pkt[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t ptr;
			if (pos + 1 >= len)
				return 0;
			ptr = (size_t)((l & 0x3f) << 8) | pkt[pos + 1];
			if (ptr >= lowest || ptr < RS_HDR_LEN || (marks && !marked(marks, ptr)))
				return 0;
			if (!end)
				end = pos + 2;
			lowest = pos = ptr;
			continue;
		}
		if (l > 63 || n + 1u + l > RS_MAX_NAME || pos + 1u + l > len)
			return 0;
		if (marks && !end)
			mark(marks, pos);
		if (out) {
			out[n] = l;
			for (uint8_t i = 1; i <= l; i++)
				out[n + i] = lower(pkt[pos + i]);
		}
		n += 1u + l;
		pos += 1u + l;
		if (l == 0)
			break;
	}
	*outlen = n;
	return end ? end : pos;
}

/* Offset of the answer section (after the one question), or 0. */
static size_t answer_start(const uint8_t *pkt, size_t len)
{
	size_t off;

	if (len < RS_HDR_LEN || get16(pkt + 4) != 1)
		return 0;
	off = skip_name(pkt, len, RS_HDR_LEN);
	return (off && off + 4 <= len) ? off + 4 : 0;
}

/* Report `name` unless it is the one reported last: an owner name usually repeats the CNAME
 * target just before it, and an RRset repeats its owner. */
static int report_name(const uint8_t *name, size_t nl, uint8_t *last, size_t *last_len, int kind,
                       rs_answer_name_cb cb, void *ctx)
{
	if (nl == *last_len && memcmp(name, last, nl) == 0)
		return 0;
	memcpy(last, name, nl);
	*last_len = nl;
	return cb ? cb(ctx, name, nl, kind) : 0;
}

int rs_answer_names(const uint8_t *body, size_t len, int max_chain, rs_answer_name_cb cb, void *ctx)
{
	/* Two names: 2 x 255 bytes, so that no answer needs a table of targets. */
	uint8_t name[RS_MAX_NAME], last[RS_MAX_NAME];
	size_t off = answer_start(body, len), nl, last_len;
	int chain = 0, rc;
	uint16_t an;

	if (!off || !rs__name_read(body, len, RS_HDR_LEN, last, &last_len, NULL))
		return RS_EPARSE; /* the question's name counts as reported: it was checked */
	an = get16(body + 6);
	for (uint16_t i = 0; i < an; i++) {
		size_t after = rs__name_read(body, len, off, name, &nl, NULL), end;
		uint16_t type;
		if (!after || after + 10 > len)
			return RS_EPARSE;
		type = get16(body + after);
		end = after + 10 + get16(body + after + 8);
		if (end > len)
			return RS_EPARSE;
		if ((rc = report_name(name, nl, last, &last_len, RS_ANAME_OWNER, cb, ctx)))
			return rc;
		if (type == RS_TYPE_CNAME || type == RS_TYPE_DNAME) {
			if (++chain > max_chain)
				return RS_ELIMIT;
			if (!rs__name_read(body, end, after + 10, name, &nl, NULL))
				return RS_EPARSE;
			rc = report_name(name, nl, last, &last_len,
			                 type == RS_TYPE_CNAME ? RS_ANAME_CNAME : RS_ANAME_DNAME,
			                 cb, ctx);
			if (rc)
				return rc;
		}
		off = end;
	}
	return 0;
}

/* Copy one answer RR of `body` at `off` uncompressed into out+n, if it is an address or CNAME
 * record. Returns the offset after the RR (0 malformed); *wrote the bytes written. */
static size_t copy_rr(const uint8_t *body, size_t len, size_t off, uint32_t age, uint8_t *out,
                      size_t room, size_t *wrote)
{
	uint8_t name[RS_MAX_NAME], rname[RS_MAX_NAME];
	size_t nl, rl = 0, after = rs__name_read(body, len, off, name, &nl, NULL), end;
	uint16_t type, rdlen;
	uint32_t ttl;

	*wrote = 0;
	if (!after || after + 10 > len)
		return 0;
	type = get16(body + after);
	ttl = get32(body + after + 4);
	rdlen = get16(body + after + 8);
	end = after + 10 + rdlen;
	if (end > len)
		return 0;
	if (type == RS_TYPE_CNAME && !rs__name_read(body, end, after + 10, rname, &rl, NULL))
		return 0;
	if (type != RS_TYPE_A && type != RS_TYPE_AAAA && type != RS_TYPE_CNAME)
		return end;
	if (type != RS_TYPE_CNAME)
		rl = rdlen;
	if (nl + 10 + rl > room)
		return end; /* no room: the caller truncates */
	memcpy(out, name, nl);
	memcpy(out + nl, body + after, 8);
	put32(out + nl + 4, ttl > age ? ttl - age : 0);
	put16(out + nl + 8, (uint16_t)rl);
	memcpy(out + nl + 10, type == RS_TYPE_CNAME ? rname : body + after + 10, rl);
	*wrote = nl + 10 + rl;
	return end;
}

size_t rs_build_rewrite(const uint8_t *body, size_t body_len, const uint8_t *target,
                        size_t target_len, uint32_t age, const struct rs_question *orig,
                        size_t limit, uint8_t *out, size_t max)
{
	size_t off = answer_start(body, body_len), n = RS_HDR_LEN, w;
	uint16_t an, count = 1, flags;
	uint32_t ttl = 300;

	if (!off || max < 2048)
		return 0;
	flags = get16(body + 2);
	an = get16(body + 6);
	put16(out, orig->id);
	put16(out + 2,
	      (uint16_t)(RS_F_QR | RS_F_RA | (orig->flags & (RS_F_RD | RS_F_CD)) | (flags & 0xf)));
	put16(out + 4, 1);
	put16(out + 8, 0);
	put16(out + 10, orig->edns ? 1 : 0);
	n += put_question(out + n, orig, orig->qname_raw);
	if (an && skip_name(body, body_len, off) + 8 <= body_len)
		ttl = get32(body + skip_name(body, body_len, off) + 4);
	put16(out + n, 0xc000 | RS_HDR_LEN);
	put16(out + n + 2, RS_TYPE_CNAME);
	put16(out + n + 4, RS_CLASS_IN);
	put32(out + n + 6, ttl > age ? ttl - age : 0);
	put16(out + n + 10, (uint16_t)target_len);
	memcpy(out + n + 12, target, target_len);
	n += 12 + target_len;
	for (uint16_t i = 0; i < an; i++) {
		off = copy_rr(body, body_len, off, age, out + n, max - n - 64, &w);
		if (!off)
			return 0;
		n += w;
		count += w ? 1 : 0;
	}
	put16(out + 6, count);
	if (orig->edns)
		n += put_opt(out + n, orig, flags & 0xf);
	if (n > limit)
		return build_truncated(orig, flags, out, max);
	return n;
}

size_t rs_build_truncated(const struct rs_question *q, uint8_t *out, size_t max)
{
	return build_truncated(q, 0, out, max);
}
