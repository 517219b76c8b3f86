/*
 * Fuzz target: an upstream answer on the path rs_forward.c takes — rs_response_matches,
 * rs_response_scan, the OPT cut, rs_cache_ttl_for, rs_cache_put/get and rs_build_reply — and
 * the client answer we write must be a message ldns reads whenever ldns read the upstream's.
 *
 * Input: byte 0 = client options (bit 0 EDNS, bit 1 DO, bit 2 AD, bit 3 CD, bit 4 RD, bits 5-6
 * the size limit: 512, the client's UDP size, TCP), byte 1 = age in seconds, the rest = the
 * upstream answer. The client's question is the answer's own question (as matched upstream).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "fuzz.h"
#include "rs_int.h"

static uint8_t pkt[RS_MAX_MSG];
static uint8_t out[RS_MAX_MSG];

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
	if (!in)
		return;
	st = ldns_wire2pkt(&p, r, n);
	if (st != LDNS_STATUS_OK) {
		fprintf(stderr, "ldns reads the upstream answer but not our reply: %s\n",
			ldns_get_errorstr_by_id(st));
		abort();
	}
	FUZZ_CHECK(ldns_pkt_edns(p) == q->edns);
	if (!ldns_pkt_tc(p)) {
		FUZZ_CHECK(ldns_pkt_ancount(p) == ldns_pkt_ancount(in));
		FUZZ_CHECK(ldns_pkt_nscount(p) == ldns_pkt_nscount(in));
	}
	ldns_pkt_free(p);
}

/* Every TTL offset must be the TTL of the i-th record ldns sees, in order (OPT excluded). */
static void check_ttl_offsets(const struct rs_scan *s, ldns_pkt *in)
{
	ldns_rr_list *secs[3] = {ldns_pkt_answer(in), ldns_pkt_authority(in),
				 ldns_pkt_additional(in)};
	int i = 0;

	for (int sec = 0; sec < 3 && i < s->n_ttl; sec++)
		for (size_t k = 0; k < ldns_rr_list_rr_count(secs[sec]) && i < s->n_ttl; k++, i++)
			FUZZ_CHECK(rd32(pkt + s->ttl_offs[i]) ==
				   ldns_rr_ttl(ldns_rr_list_rr(secs[sec], k)));
	FUZZ_CHECK(i == s->n_ttl);
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

	memset(&s, 0xa5, sizeof(s));
	s.too_many_rrs = false; /* see the known bug in test_rs_wire.c */
	if (rs_response_scan(pkt, len, &s) != 0)
		return 0;
	FUZZ_CHECK(s.keep_len >= RS_HDR_LEN && s.keep_len <= len);
	FUZZ_CHECK(s.n_ttl <= RS_MAX_TTL_OFFS);
	for (int i = 0; i < s.n_ttl; i++)
		FUZZ_CHECK(s.ttl_offs[i] >= RS_HDR_LEN && s.ttl_offs[i] + 4u <= s.keep_len);
	if (ldns_wire2pkt(&in, pkt, len) != LDNS_STATUS_OK)
		in = NULL;
	else if (!s.too_many_rrs)
		check_ttl_offsets(&s, in);

	if (!client_question(pkt, len, opt, &q))
		goto out;
	FUZZ_CHECK(rs_response_matches(pkt, len, &q));
	/* Cut the OPT as rs_forward.c on_answer does. */
	pkt[10] = (uint8_t)(s.arcount_kept >> 8);
	pkt[11] = (uint8_t)s.arcount_kept;
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
