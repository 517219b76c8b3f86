/*
 * Fuzz target: rs_query_parse, the first thing every client packet meets. When it says OK,
 * ldns is the oracle: it must parse the packet too and agree on the question. Whatever the
 * verdict, the error answer (and for OK the upstream query) we would send must parse.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "fuzz.h"
#include "rs_dns.h"

/* The answer we write must be a message ldns reads, with our ID and the question echoed. */
static void check_written(const uint8_t *out, size_t n, const struct rs_question *q, bool question,
                          bool edns)
{
	ldns_pkt *p = NULL;

	FUZZ_CHECK(n >= RS_HDR_LEN);
	FUZZ_CHECK(ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	FUZZ_CHECK(ldns_pkt_qdcount(p) == (question ? 1 : 0));
	if (question) {
		ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
		ldns_rdf *owner = ldns_rr_owner(rr);
		FUZZ_CHECK(ldns_rdf_size(owner) == q->qname_len);
		FUZZ_CHECK(ldns_rr_get_type(rr) == q->qtype);
		FUZZ_CHECK(ldns_rr_get_class(rr) == q->qclass);
	}
	FUZZ_CHECK(ldns_pkt_edns(p) == edns);
	ldns_pkt_free(p);
}

static void oracle(const uint8_t *data, size_t size, const struct rs_question *q)
{
	ldns_pkt *p = NULL;
	ldns_status st = ldns_wire2pkt(&p, data, size);
	ldns_rr *rr;
	ldns_rdf *owner;
	const uint8_t *name;

	if (st != LDNS_STATUS_OK) {
		/* ldns also checks the RDATA of every additional record against its type, which
		 * we skip on purpose (a client's extra records are never used). Any other
		 * refusal is a disagreement worth a look. */
		bool has_other_additional = ((data[10] << 8) | data[11]) > (q->edns ? 1 : 0);
		if (!has_other_additional) {
			fprintf(stderr, "ldns refuses a query we accept: %s\n",
			        ldns_get_errorstr_by_id(st));
			abort();
		}
		return;
	}
	FUZZ_CHECK(ldns_pkt_qdcount(p) == 1);
	rr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	FUZZ_CHECK(rr != NULL);
	FUZZ_CHECK(ldns_rr_get_type(rr) == q->qtype);
	FUZZ_CHECK(ldns_rr_get_class(rr) == q->qclass);
	owner = ldns_rr_owner(rr);
	name = ldns_rdf_data(owner);
	FUZZ_CHECK(ldns_rdf_size(owner) == q->qname_len);
	FUZZ_CHECK(memcmp(name, q->qname_raw, q->qname_len) == 0);
	for (size_t i = 0; i < q->qname_len; i++)
		FUZZ_CHECK(tolower(name[i]) == q->qname[i]);
	/* Past a non-OPT additional record ldns may have lost its place (it reads RDATA by
	 * fields, not by RDLENGTH), so EDNS is compared only when the OPT is alone. */
	if (q->edns && ((data[10] << 8) | data[11]) == 1) {
		FUZZ_CHECK(ldns_pkt_edns(p) || ldns_pkt_edns_udp_size(p) == 0);
		FUZZ_CHECK(ldns_pkt_edns_do(p) == q->do_bit);
		if (ldns_pkt_edns_udp_size(p) >= 512)
			FUZZ_CHECK(ldns_pkt_edns_udp_size(p) == q->udp_size);
	}
	ldns_pkt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_question q;
	struct rs_cache_key k;
	uint8_t out[RS_HDR_LEN + RS_MAX_NAME + 4 + 11];
	size_t n;
	int v = rs_query_parse(data, size, &q);

	switch (v) {
	case RS_Q_DROP:
		FUZZ_CHECK(size < RS_HDR_LEN || (data[2] & 0x80));
		return 0;
	case RS_Q_OK:
		FUZZ_CHECK(q.qname_len >= 1 && q.qname[q.qname_len - 1] == 0);
		FUZZ_CHECK(!q.edns || q.udp_size >= 512);
		oracle(data, size, &q);
		n = rs_build_upstream_query(&q, 0x1234, out, sizeof(out));
		check_written(out, n, &q, true, true); /* always EDNS upstream */
		rs_cache_key_make(&q, &k);
		FUZZ_CHECK(k.len == q.qname_len + 5u);
		n = rs_build_error(&q, true, RS_RCODE_REFUSED, out, sizeof(out));
		check_written(out, n, &q, true, q.edns);
		return 0;
	case RS_Q_NOTIMP:
		n = rs_build_error(&q, false, RS_RCODE_NOTIMP, out, sizeof(out));
		check_written(out, n, &q, false, q.edns);
		return 0;
	case RS_Q_BADVERS:
		FUZZ_CHECK(q.edns && q.edns_version != 0);
		n = rs_build_error(&q, true, RS_RCODE_BADVERS, out, sizeof(out));
		check_written(out, n, &q, true, q.edns);
		return 0;
	case RS_Q_FORMERR:
		n = rs_build_error(&q, true, RS_RCODE_FORMERR, out, sizeof(out));
		check_written(out, n, &q, q.qname_len > 0, q.edns);
		return 0;
	default:
		FUZZ_CHECK(!"unknown verdict");
	}
	return 0;
}
