/*
 * Fuzz target: an upstream answer on the path rs_forward.c takes — rs_response_matches,
 * rs_response_scan, the OPT cut, rs_cache_ttl_for, rs_cache_put/get and rs_build_reply — and
 * the client answer we write must be a message ldns reads whenever ldns read the upstream's.
 *
 * Input: byte 0 = client options (bit 0 EDNS, bit 1 DO, bit 2 AD, bit 3 CD, bit 4 RD, bits 5-6
 * the size limit: 512, the client's UDP size, TCP), byte 1 = age in seconds, the rest = the
 * upstream answer. The client's question is the answer's own question (as matched upstream).
 * Also on the kept part: the walk over every name of the answer (CNAME inspection) and the
 * rebinding filter, whose output must be a message rs_response_scan accepts again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "fuzz.h"
#include "rs_daemon.h"

static uint8_t pkt[RS_MAX_MSG];
static uint8_t out[RS_MAX_MSG];
static uint8_t stripped[RS_MAX_MSG];

static int count_name(void *ctx, const uint8_t *name, size_t len, int kind)
{
	FUZZ_CHECK(len >= 1 && len <= RS_MAX_NAME && name[len - 1] == 0);
	FUZZ_CHECK(kind >= RS_ANAME_OWNER && kind <= RS_ANAME_DNAME);
	(*(int *)ctx)++;
	return 0;
}

/* Finding 3 and 4 of issue 15 on the kept part (pkt untouched). */
static void check_names_and_strip(const struct rs_scan *s, const struct rs_config *cfg)
{
	struct rs_scan s2;
	struct rs_zones allowed = rs_private_zones(cfg);
	size_t n = 0;
	int names = 0,
	    rc = rs_answer_names(pkt, s->keep_len, RS_MAX_CNAME_CHAIN, count_name, &names);

	FUZZ_CHECK(rc == 0 || rc == RS_ELIMIT || rc == RS_EPARSE);
	rc = rs_private_strip(pkt, s->keep_len, &allowed, stripped, &n);
	if (rc <= 0)
		return;
	FUZZ_CHECK(n >= RS_HDR_LEN && n < s->keep_len);
	FUZZ_CHECK(rs_response_scan(stripped, n, &s2) == 0);
	FUZZ_CHECK(rs_private_strip(stripped, n, &allowed, NULL, &n) == 0);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A client query for the answer's question, with the options of byte 0. */
static bool client_question(const uint8_t *resp, size_t len, uint8_t opt, struct rs_question *q)
{
	uint8_t qbuf[RS_HDR_LEN + RS_MAX_NAME + 4 + 11];
	size_t end = RS_HDR_LEN;
	uint16_t flags = (uint16_t)(((opt & 4) ? RS_F_AD : 0) | ((opt & 8) ? RS_F_CD : 0) |
	                            ((opt & 16) ? RS_F_RD : 0));

	if (len < RS_HDR_LEN || resp[4] != 0 || resp[5] != 1)
		return false;
	while (end < len && resp[end] != 0 && resp[end] <= 63 && end - RS_HDR_LEN < RS_MAX_NAME)
		end += 1u + resp[end];
	if (end >= len || resp[end] != 0 || end + 5 > len || end + 5 - RS_HDR_LEN > RS_MAX_NAME + 4)
		return false;
	end += 5;
	memset(qbuf, 0, RS_HDR_LEN);
	qbuf[0] = 0xab;
	qbuf[1] = 0xcd;
	qbuf[2] = (uint8_t)(flags >> 8);
	qbuf[3] = (uint8_t)flags;
	qbuf[5] = 1;
	qbuf[11] = (opt & 1) ? 1 : 0;
	memcpy(qbuf + RS_HDR_LEN, resp + RS_HDR_LEN, end - RS_HDR_LEN);
	if (opt & 1) {
		static const uint8_t o[11] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
		memcpy(qbuf + end, o, sizeof(o));
		qbuf[end + 7] = (opt & 2) ? 0x80 : 0;
		end += sizeof(o);
	}
	return rs_query_parse(qbuf, end, q) == RS_Q_OK;
}

static size_t limit_for(uint8_t opt, const struct rs_question *q)
{
	switch ((opt >> 5) & 3) {
	case 0:
		return 512;
	case 1:
		return rs_udp_limit(q, 1232);
	default:
		return RS_MAX_MSG;
	}
}

/* The reply must read back (when the upstream's answer did) and say what it should. */
static void check_reply(const uint8_t *r, size_t n, const struct rs_question *q,
                        const struct rs_scan *s, ldns_pkt *in, size_t limit)
{
	ldns_pkt *p = NULL;
	ldns_status st;

	FUZZ_CHECK(n >= RS_HDR_LEN && n <= limit);
	FUZZ_CHECK(r[0] == (q->id >> 8) && r[1] == (q->id & 0xff));
	FUZZ_CHECK(r[2] & 0x80);
	FUZZ_CHECK((r[3] & 0xf) == (s->flags & 0xf));
	if (!in && !(r[2] & 0x02))
		return; /* ldns is no oracle for this body; our TC-only answer is always checked */
	st = ldns_wire2pkt(&p, r, n);
	if (st != LDNS_STATUS_OK) {
		fprintf(stderr,
		        "ldns reads the upstream answer (or we truncated) but not our reply: %s\n",
		        ldns_get_errorstr_by_id(st));
		abort();
	}
	FUZZ_CHECK(ldns_pkt_edns(p) == q->edns);
	if (ldns_pkt_tc(p)) {
		FUZZ_CHECK(ldns_pkt_ancount(p) == 0 && ldns_pkt_qdcount(p) == 1);
	} else {
		FUZZ_CHECK(ldns_pkt_ancount(p) == ldns_pkt_ancount(in));
		FUZZ_CHECK(ldns_pkt_nscount(p) == ldns_pkt_nscount(in));
	}
	ldns_pkt_free(p);
}

/* Where the question ends (its name may be compressed in an answer). */
static size_t question_end(size_t len)
{
	size_t o = RS_HDR_LEN;

	if (pkt[5] == 0)
		return o;
	while (o < len && pkt[o] != 0 && (pkt[o] & 0xc0) != 0xc0)
		o += 1u + pkt[o];
	return o + ((o < len && pkt[o] != 0) ? 2 : 1) + 4;
}

/*
 * The kept records lie back to back from the question to keep_len, and each TTL offset is the
 * TTL field of the next one. ldns reads each record where we say it starts; when it ends where
 * we say (ldns does not hold every type to its RDLENGTH), it must read the same TTL. Returns
 * whether ldns agreed on every record's extent, i.e. whether it can be an oracle at all.
 */
static bool check_records(const struct rs_scan *s, size_t len)
{
	size_t pos = question_end(len);
	bool agree = true;

	for (int i = 0; i < s->n_ttl; i++) {
		size_t off = s->ttl_offs[i];
		size_t end = off + 6u + (size_t)((pkt[off + 4] << 8) | pkt[off + 5]);
		size_t p = pos;
		ldns_rr *rr = NULL;

		FUZZ_CHECK(pos < off && end <= s->keep_len);
		if (ldns_wire2rr(&rr, pkt, s->keep_len, &p, LDNS_SECTION_ANSWER) ==
		    LDNS_STATUS_OK) {
			if (p == end)
				FUZZ_CHECK(ldns_rr_ttl(rr) == rd32(pkt + off));
			agree = agree && p == end;
			ldns_rr_free(rr);
		} else {
			agree = false;
		}
		pos = end;
	}
	FUZZ_CHECK(s->too_many_rrs || pos == s->keep_len);
	return agree && !s->too_many_rrs;
}

/*
 * ldns as an oracle, where it can be one: ldns reads RDATA field by field and does not hold a
 * record to its RDLENGTH (an NS with 16 bytes of RDATA is read as "." and the 15 other bytes as
 * the next record). Such a message means nothing to compare. So ldns must see the kept part
 * the way we do: with an OPT of a marker size appended at keep_len, it must find that OPT.
 * Returns the parsed kept part, or NULL when ldns is no oracle for this input.
 */
static ldns_pkt *ldns_view(const struct rs_scan *s)
{
	static uint8_t probe[RS_MAX_MSG + 11];
	static const uint8_t marker[11] = {0, 0, 41, 0x0a, 0xbc, 0, 0, 0, 0, 0, 0};
	ldns_pkt *p = NULL;

	memcpy(probe, pkt, s->keep_len);
	probe[10] = (uint8_t)((s->arcount_kept + 1) >> 8);
	probe[11] = (uint8_t)(s->arcount_kept + 1);
	memcpy(probe + s->keep_len, marker, sizeof(marker));
	if (ldns_wire2pkt(&p, probe, s->keep_len + sizeof(marker)) != LDNS_STATUS_OK)
		return NULL;
	if (!ldns_pkt_edns(p) || ldns_pkt_edns_udp_size(p) != 0x0abc ||
	    ldns_pkt_arcount(p) != s->arcount_kept) {
		ldns_pkt_free(p);
		return NULL;
	}
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rs_cache *cache;
	static struct rs_config cfg;
	struct rs_scan s;
	struct rs_question q;
	struct rs_cache_key k;
	struct rs_cache_entry_view v;
	ldns_pkt *in = NULL;
	size_t len, n, limit;
	uint32_t ttl;
	uint8_t opt;

	if (!cache) {
		rs_config_defaults(&cfg);
		if (rs_cache_new(64, &cache) != 0)
			abort();
	}
	if (size < 2 || size - 2 > sizeof(pkt))
		return 0;
	opt = data[0];
	len = size - 2;
	memcpy(pkt, data + 2, len);

	memset(&s, 0xa5, sizeof(s)); /* garbage, as on_answer's stack: the scan must clear it */
	if (rs_response_scan(pkt, len, &s) != 0)
		return 0;
	FUZZ_CHECK(s.keep_len >= RS_HDR_LEN && s.keep_len <= len);
	FUZZ_CHECK(s.n_ttl <= RS_MAX_TTL_OFFS);
	for (int i = 0; i < s.n_ttl; i++)
		FUZZ_CHECK(s.ttl_offs[i] >= RS_HDR_LEN && s.ttl_offs[i] + 4u <= s.keep_len);
	in = check_records(&s, len) ? ldns_view(&s) : NULL;

	if (!client_question(pkt, len, opt, &q))
		goto out;
	FUZZ_CHECK(rs_response_matches(pkt, len, &q));
	/* Cut the OPT as rs_forward.c on_answer does. */
	pkt[10] = (uint8_t)(s.arcount_kept >> 8);
	pkt[11] = (uint8_t)s.arcount_kept;
	check_names_and_strip(&s, &cfg);
	limit = limit_for(opt, &q);
	n = rs_build_reply(pkt, s.keep_len, s.ttl_offs, s.n_ttl, data[1], &q, limit, out,
	                   sizeof(out));
	if (n)
		check_reply(out, n, &q, &s, in, limit);

	ttl = rs_cache_ttl_for(&s, &cfg);
	FUZZ_CHECK(ttl == 0 || (ttl >= cfg.cache_min_ttl && ttl <= cfg.cache_max_ttl));
	if (!ttl)
		goto out;
	rs_cache_key_make(&q, &k);
	FUZZ_CHECK(rs_cache_put(cache, &k, pkt, s.keep_len, s.ttl_offs, s.n_ttl, ttl, 0) == 0);
	if (data[1] >= ttl) {
		FUZZ_CHECK(!rs_cache_get(cache, &k, (uint64_t)data[1] * 1000, &v));
		goto out;
	}
	FUZZ_CHECK(rs_cache_get(cache, &k, (uint64_t)data[1] * 1000, &v));
	FUZZ_CHECK(v.body_len == s.keep_len && v.age == data[1]);
	n = rs_build_reply(v.body, v.body_len, v.ttl_offs, v.n_ttl, v.age, &q, limit, out,
	                   sizeof(out));
	if (n) {
		check_reply(out, n, &q, &s, in, limit);
		if (!(out[2] & 0x02)) /* not truncated: every TTL counted down from ttl */
			for (int i = 0; i < v.n_ttl; i++)
				FUZZ_CHECK(rd32(out + v.ttl_offs[i]) ==
				           (ttl > v.age ? ttl - v.age : 0));
	}
out:
	if (in)
		ldns_pkt_free(in);
	return 0;
}
