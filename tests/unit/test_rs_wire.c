/*
 * Unit tests: the DNS wire reader/writer (resolver/dns/rs_wire.c). Well-formed packets are built
 * with ldns, malformed ones by hand; everything we write is parsed back with ldns.
 *
 * Run with --known-bugs to run only the tests of bugs not fixed yet (ctest registers that run
 * as unit_rs_wire_known_bugs with WILL_FAIL, so it turns red once a fix lands: then move the
 * test into the main group).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "rs_daemon.h"

/* ------------------------------------------------------------------ wire builder --- */

struct wb {
	uint8_t b[70000];
	size_t n;
};

static void w8(struct wb *w, unsigned v)
{
	w->b[w->n++] = (uint8_t)v;
}

static void w16(struct wb *w, unsigned v)
{
	w8(w, (v >> 8) & 0xff);
	w8(w, v & 0xff);
}

static void w32(struct wb *w, uint32_t v)
{
	w16(w, v >> 16);
	w16(w, v & 0xffff);
}

static void wbytes(struct wb *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

/* "www.example.com" as labels plus the root; "" or "." is the root alone. */
static void wname(struct wb *w, const char *dotted)
{
	while (*dotted && strcmp(dotted, ".") != 0) {
		const char *dot = strchr(dotted, '.');
		size_t l = dot ? (size_t)(dot - dotted) : strlen(dotted);
		w8(w, (unsigned)l);
		wbytes(w, dotted, l);
		dotted += l + (dot ? 1 : 0);
	}
	w8(w, 0);
}

static void whdr(struct wb *w, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
                 unsigned ar)
{
	w->n = 0;
	w16(w, id);
	w16(w, flags);
	w16(w, qd);
	w16(w, an);
	w16(w, ns);
	w16(w, ar);
}

static void wquestion(struct wb *w, const char *name, unsigned type, unsigned cls)
{
	wname(w, name);
	w16(w, type);
	w16(w, cls);
}

/* An OPT record: TTL = ext-rcode, version, DO|Z. */
static void wopt(struct wb *w, unsigned udp, unsigned ext, unsigned ver, unsigned dz,
                 const uint8_t *rdata, unsigned rdlen)
{
	w8(w, 0);
	w16(w, RS_TYPE_OPT);
	w16(w, udp);
	w8(w, ext);
	w8(w, ver);
	w16(w, dz);
	w16(w, rdlen);
	if (rdlen)
		wbytes(w, rdata, rdlen);
}

static void wrr_a(struct wb *w, const char *name, uint32_t ttl, const uint8_t ip[4])
{
	wname(w, name);
	w16(w, RS_TYPE_A);
	w16(w, RS_CLASS_IN);
	w32(w, ttl);
	w16(w, 4);
	wbytes(w, ip, 4);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ----------------------------------------------------------------- ldns helpers --- */

/* A query made by ldns; returns its length in `out`. */
static size_t ldns_query(const char *name, ldns_rr_type type, uint16_t id, uint16_t flags,
                         int edns_udp, bool do_bit, uint8_t *out)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t n = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, flags),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns_udp > 0) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)edns_udp);
		ldns_pkt_set_edns_do(p, do_bit);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &n), LDNS_STATUS_OK);
	memcpy(out, wire, n);
	free(wire);
	ldns_pkt_free(p);
	return n;
}

static void push_rr(ldns_pkt *p, ldns_pkt_section sec, const char *text)
{
	ldns_rr *rr = NULL;

	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, sec, rr));
}

/* An upstream answer built by ldns (owner names compressed by ldns_pkt2wire). */
static size_t ldns_answer(ldns_pkt *p, uint8_t *out)
{
	uint8_t *wire = NULL;
	size_t n = 0;

	assert_int_equal(ldns_pkt2wire(&wire, p, &n), LDNS_STATUS_OK);
	memcpy(out, wire, n);
	free(wire);
	ldns_pkt_free(p);
	return n;
}

static ldns_pkt *answer_pkt(const char *qname, ldns_rr_type type, uint16_t id, ldns_pkt_rcode rcode)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, qname, type, LDNS_RR_CLASS_IN, LDNS_RD),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	return p;
}

static ldns_pkt *parse_ok(const uint8_t *wire, size_t n)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, wire, n), LDNS_STATUS_OK);
	return p;
}

/* The question of a parsed packet has exactly these owner bytes (case preserved). */
static void assert_qname_raw(ldns_pkt *p, const uint8_t *name, size_t len)
{
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	ldns_rdf *owner;

	assert_non_null(q);
	owner = ldns_rr_owner(q);
	assert_int_equal(ldns_rdf_size(owner), len);
	assert_memory_equal(ldns_rdf_data(owner), name, len);
}

static int parse_text_query(const char *name, int type, struct rs_question *q, uint8_t *buf,
                            size_t *len)
{
	struct wb w;

	whdr(&w, 0x4242, RS_F_RD, 1, 0, 0, 0);
	wquestion(&w, name, (unsigned)type, RS_CLASS_IN);
	memcpy(buf, w.b, w.n);
	*len = w.n;
	return rs_query_parse(buf, w.n, q);
}

/* ------------------------------------------------------------- rs_query_parse --- */

static void test_query_ok(void **state)
{
	uint8_t pkt[512];
	struct rs_question q;
	size_t n =
	    ldns_query("www.example.com.", LDNS_RR_TYPE_AAAA, 0x1234, LDNS_RD, 0, false, pkt);
	static const uint8_t want[] = "\3www\7example\3com";

	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_OK);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.flags & RS_F_RD);
	assert_int_equal(q.qtype, RS_TYPE_AAAA);
	assert_int_equal(q.qclass, RS_CLASS_IN);
	assert_int_equal(q.qname_len, sizeof(want));
	assert_memory_equal(q.qname, want, sizeof(want));
	assert_memory_equal(q.qname_raw, want, sizeof(want));
	assert_false(q.edns);
	assert_false(q.do_bit);
	assert_int_equal(q.udp_size, 512);
}

static void test_query_root_name(void **state)
{
	uint8_t pkt[512];
	size_t n;
	struct rs_question q;

	assert_int_equal(parse_text_query(".", RS_TYPE_NS, &q, pkt, &n), RS_Q_OK);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.qname[0], 0);
}

static void test_query_drop(void **state)
{
	uint8_t pkt[512];
	struct rs_question q;
	size_t n = ldns_query("example.com.", LDNS_RR_TYPE_A, 7, LDNS_RD, 0, false, pkt);

	assert_int_equal(rs_query_parse(pkt, 0, &q), RS_Q_DROP);
	assert_int_equal(rs_query_parse(pkt, 11, &q), RS_Q_DROP);
	pkt[2] |= 0x80; /* QR=1: an answer, never answered */
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_DROP);
}

static void test_query_notimp(void **state)
{
	uint8_t pkt[512];
	struct rs_question q;
	size_t n = ldns_query("example.com.", LDNS_RR_TYPE_A, 0x0102, LDNS_RD, 0, false, pkt);

	pkt[2] = (uint8_t)((pkt[2] & 0x87) | (2 << 3)); /* opcode STATUS */
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_NOTIMP);
	assert_int_equal(q.id, 0x0102);
	pkt[2] = (uint8_t)((pkt[2] & 0x87) | (5 << 3)); /* opcode UPDATE */
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_NOTIMP);
	/* Even a bare header with a strange opcode is NOTIMP, not FORMERR. */
	assert_int_equal(rs_query_parse(pkt, 12, &q), RS_Q_NOTIMP);
}

static void test_query_counts(void **state)
{
	struct wb w;
	struct rs_question q;

	whdr(&w, 1, 0, 0, 0, 0, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	assert_int_equal(q.id, 1);
	assert_int_equal(q.qname_len, 0);

	whdr(&w, 2, 0, 2, 0, 0, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wquestion(&w, "b.example", RS_TYPE_A, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	assert_int_equal(q.qname_len, 0);

	whdr(&w, 3, 0, 1, 1, 0, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wrr_a(&w, "a.example", 60, (const uint8_t[]){1, 2, 3, 4});
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);

	whdr(&w, 4, 0, 1, 0, 1, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wrr_a(&w, "a.example", 60, (const uint8_t[]){1, 2, 3, 4});
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
}

static void test_query_compressed_qname(void **state)
{
	struct wb w;
	struct rs_question q;

	whdr(&w, 1, 0, 1, 0, 0, 0);
	w8(&w, 3);
	wbytes(&w, "www", 3);
	w16(&w, 0xc000 | 12); /* pointer back to the header end: refused in a question */
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	assert_int_equal(q.qname_len, 0);

	/* The reserved label types 0x40 and 0x80 too. */
	whdr(&w, 1, 0, 1, 0, 0, 0);
	w8(&w, 0x41);
	wbytes(&w, "a", 1);
	w8(&w, 0);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
}

/* A name of `total` wire octets made of labels of at most 63. */
static void wlong_name(struct wb *w, size_t total)
{
	size_t left = total - 1; /* the root label */

	while (left > 0) {
		size_t l = left - 1 > 63 ? 63 : left - 1;
		assert_true(l > 0);
		w8(w, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			w8(w, 'a' + (unsigned)(i % 26));
		left -= l + 1;
	}
	w8(w, 0);
}

static void test_query_label_and_name_limits(void **state)
{
	struct wb w;
	struct rs_question q;
	char lab[70];

	memset(lab, 'x', 63);
	lab[63] = '\0';
	whdr(&w, 1, 0, 1, 0, 0, 0);
	wquestion(&w, lab, RS_TYPE_A, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);

	memset(lab, 'x', 64);
	lab[64] = '\0';
	whdr(&w, 1, 0, 1, 0, 0, 0);
	wquestion(&w, lab, RS_TYPE_A, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);

	whdr(&w, 1, 0, 1, 0, 0, 0);
	wlong_name(&w, 255);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	assert_int_equal(q.qname_len, 255);

	whdr(&w, 1, 0, 1, 0, 0, 0);
	wlong_name(&w, 256);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	assert_int_equal(q.qname_len, 0);
}

static void test_query_truncated(void **state)
{
	struct wb w;
	struct rs_question q;

	whdr(&w, 1, 0, 1, 0, 0, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR); /* header only */

	whdr(&w, 1, 0, 1, 0, 0, 0);
	wquestion(&w, "example.com", RS_TYPE_A, RS_CLASS_IN);
	for (size_t cut = 12; cut < w.n; cut++)
		assert_int_equal(rs_query_parse(w.b, cut, &q), RS_Q_FORMERR);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);

	/* A label running past the end. */
	whdr(&w, 1, 0, 1, 0, 0, 0);
	w8(&w, 20);
	wbytes(&w, "short", 5);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
}

static void test_query_edns(void **state)
{
	uint8_t pkt[512];
	struct rs_question q;
	size_t n = ldns_query("example.com.", LDNS_RR_TYPE_A, 9, LDNS_RD, 4096, true, pkt);

	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_OK);
	assert_true(q.edns);
	assert_true(q.do_bit);
	assert_int_equal(q.edns_version, 0);
	assert_int_equal(q.udp_size, 4096);

	n = ldns_query("example.com.", LDNS_RR_TYPE_A, 9, LDNS_RD, 1232, false, pkt);
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_OK);
	assert_true(q.edns);
	assert_false(q.do_bit);
	assert_int_equal(q.udp_size, 1232);

	/* A size under 512 means 512 (RFC 6891 §6.2.3). */
	n = ldns_query("example.com.", LDNS_RR_TYPE_A, 9, LDNS_RD, 100, false, pkt);
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_OK);
	assert_int_equal(q.udp_size, 512);
}

static void build_opt_query(struct wb *w, unsigned arcount)
{
	whdr(w, 0x77, RS_F_RD, 1, 0, 0, arcount);
	wquestion(w, "example.com", RS_TYPE_A, RS_CLASS_IN);
}

static void test_query_opt_malformed(void **state)
{
	struct wb w;
	struct rs_question q;
	static const uint8_t cookie[12] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t overrun[6] = {0, 10, 0, 4, 1, 2};
	static const uint8_t partial[2] = {0, 10};

	/* Options that fill the RDATA exactly are fine. */
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, cookie, sizeof(cookie));
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	assert_true(q.edns);

	/* Two OPTs. */
	build_opt_query(&w, 2);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	assert_int_equal(q.id, 0x77);
	assert_true(q.qname_len > 0); /* the question is echoed with FORMERR */

	/* RDLEN past the end of the packet. */
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	w.b[w.n - 1] = 4;
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);

	/* An option overrunning the RDATA, and a partial option header. */
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, overrun, sizeof(overrun));
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, partial, sizeof(partial));
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);

	/* An OPT record cut short, and one whose owner is not the root. */
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n - 1, &q), RS_Q_FORMERR);
	build_opt_query(&w, 1);
	wname(&w, "x");
	w16(&w, RS_TYPE_OPT);
	w16(&w, 1232);
	w32(&w, 0);
	w16(&w, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);

	/* ARCOUNT larger than what is there. */
	build_opt_query(&w, 2);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_FORMERR);
}

static void test_query_other_additional(void **state)
{
	struct wb w;
	struct rs_question q;

	/* A non-OPT additional record (a TSIG would be one) is skipped, before or after OPT. */
	build_opt_query(&w, 3);
	wrr_a(&w, "x.example", 1, (const uint8_t[]){1, 1, 1, 1});
	wopt(&w, 2048, 0, 0, 0x8000, NULL, 0);
	wrr_a(&w, "y.example", 1, (const uint8_t[]){1, 1, 1, 1});
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	assert_true(q.edns);
	assert_true(q.do_bit);
	assert_int_equal(q.udp_size, 2048);

	/* One whose RDATA runs past the end. */
	build_opt_query(&w, 1);
	wrr_a(&w, "x.example", 1, (const uint8_t[]){1, 1, 1, 1});
	assert_int_equal(rs_query_parse(w.b, w.n - 1, &q), RS_Q_FORMERR);
}

static void test_query_badvers(void **state)
{
	struct wb w;
	struct rs_question q;

	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 1, 0x8000, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_BADVERS);
	assert_true(q.edns);
	assert_true(q.do_bit);
	assert_int_equal(q.edns_version, 1);
	assert_true(q.qname_len > 0);
}

static void test_query_case(void **state)
{
	uint8_t pkt[512];
	struct rs_question q;
	size_t n;
	static const uint8_t raw[] = "\3WwW\7ExAmPlE\3CoM";
	static const uint8_t low[] = "\3www\7example\3com";

	assert_int_equal(parse_text_query("WwW.ExAmPlE.CoM", RS_TYPE_A, &q, pkt, &n), RS_Q_OK);
	assert_memory_equal(q.qname, low, sizeof(low));
	assert_memory_equal(q.qname_raw, raw, sizeof(raw));
	/* Only ASCII letters fold. */
	assert_int_equal(parse_text_query("\xc3\x84-Z@[", RS_TYPE_A, &q, pkt, &n), RS_Q_OK);
	assert_memory_equal(q.qname, "\6\xc3\x84-z@[", 7);
}

/* ------------------------------------------------------------- rs_build_error --- */

static void test_error_formerr(void **state)
{
	uint8_t pkt[512], out[1024];
	struct rs_question q;
	size_t n, len;
	ldns_pkt *p;

	assert_int_equal(parse_text_query("Mixed.Case.TEST", RS_TYPE_AAAA, &q, pkt, &n), RS_Q_OK);
	len = rs_build_error(&q, true, RS_RCODE_FORMERR, out, sizeof(out));
	assert_int_equal(len, 12 + q.qname_len + 4);
	p = parse_ok(out, len);
	assert_int_equal(ldns_pkt_id(p), 0x4242);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_rd(p));
	assert_true(ldns_pkt_ra(p));
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_QUERY);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_false(ldns_pkt_edns(p));
	assert_qname_raw(p, q.qname_raw, q.qname_len);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(p), 0)),
	                 LDNS_RR_TYPE_AAAA);
	ldns_pkt_free(p);

	/* Too small a buffer: nothing written. */
	assert_int_equal(rs_build_error(&q, true, RS_RCODE_FORMERR, out, 100), 0);
}

static void test_error_without_question(void **state)
{
	uint8_t pkt[512], out[1024];
	struct rs_question q;
	size_t n, len;
	ldns_pkt *p;

	n = ldns_query("example.com.", LDNS_RR_TYPE_A, 0x9999, LDNS_RD, 0, false, pkt);
	pkt[2] = (uint8_t)((pkt[2] & 0x87) | (2 << 3));
	assert_int_equal(rs_query_parse(pkt, n, &q), RS_Q_NOTIMP);
	len = rs_build_error(&q, false, RS_RCODE_NOTIMP, out, sizeof(out));
	assert_int_equal(len, 12);
	p = parse_ok(out, len);
	assert_int_equal(ldns_pkt_id(p), 0x9999);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTIMPL);
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_STATUS); /* echoed */
	assert_int_equal(ldns_pkt_qdcount(p), 0);
	ldns_pkt_free(p);

	/* FORMERR for a header-only query: the question cannot be echoed. */
	memset(pkt, 0, 12);
	pkt[0] = 0x12;
	pkt[1] = 0x34;
	pkt[5] = 1;
	assert_int_equal(rs_query_parse(pkt, 12, &q), RS_Q_FORMERR);
	len = rs_build_error(&q, true, RS_RCODE_FORMERR, out, sizeof(out));
	assert_int_equal(len, 12);
	p = parse_ok(out, len);
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	assert_int_equal(ldns_pkt_qdcount(p), 0);
	ldns_pkt_free(p);
}

static void test_error_edns_and_badvers(void **state)
{
	struct wb w;
	struct rs_question q;
	uint8_t out[1024];
	size_t len;
	ldns_pkt *p;

	build_opt_query(&w, 1);
	wopt(&w, 4096, 0, 0, 0x8000, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	len = rs_build_error(&q, true, RS_RCODE_SERVFAIL, out, sizeof(out));
	p = parse_ok(out, len);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), RS_EDNS_SIZE);
	assert_true(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_edns_version(p), 0);
	assert_int_equal(ldns_pkt_edns_extended_rcode(p), 0);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);

	build_opt_query(&w, 1);
	wopt(&w, 4096, 0, 3, 0, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_BADVERS);
	len = rs_build_error(&q, true, RS_RCODE_BADVERS, out, sizeof(out));
	p = parse_ok(out, len);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(out[3] & 0xf, 0);                    /* header part of 16 */
	assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1); /* 1 << 4 = 16 */
	assert_int_equal(ldns_pkt_edns_version(p), 0);        /* we speak version 0 */
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
}

/* ---------------------------------------------------- rs_build_upstream_query --- */

static void test_upstream_query(void **state)
{
	struct wb w;
	struct rs_question q;
	uint8_t out[1024];
	size_t len;
	ldns_pkt *p;
	static const uint8_t low[] = "\3www\7example\3com";

	whdr(&w, 0x1111, RS_F_CD, 1, 0, 0, 1); /* RD=0 CD=1 from the client */
	wquestion(&w, "WWW.Example.com", RS_TYPE_A, RS_CLASS_IN);
	wopt(&w, 512, 0, 0, 0x8000, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	len = rs_build_upstream_query(&q, 0xabcd, out, sizeof(out));
	p = parse_ok(out, len);
	assert_int_equal(ldns_pkt_id(p), 0xabcd);
	assert_false(ldns_pkt_qr(p));
	assert_true(ldns_pkt_rd(p)); /* we always recurse */
	assert_true(ldns_pkt_cd(p));
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), RS_EDNS_SIZE);
	assert_true(ldns_pkt_edns_do(p));
	assert_qname_raw(p, low, sizeof(low)); /* lowercased upstream */
	ldns_pkt_free(p);

	/* No EDNS from the client: still EDNS upstream, DO clear. */
	whdr(&w, 0x1111, RS_F_RD, 1, 0, 0, 0);
	wquestion(&w, "example.com", RS_TYPE_A, RS_CLASS_IN);
	assert_int_equal(rs_query_parse(w.b, w.n, &q), RS_Q_OK);
	len = rs_build_upstream_query(&q, 1, out, sizeof(out));
	p = parse_ok(out, len);
	assert_true(ldns_pkt_edns(p));
	assert_false(ldns_pkt_edns_do(p));
	assert_false(ldns_pkt_cd(p));
	ldns_pkt_free(p);

	assert_int_equal(rs_build_upstream_query(&q, 1, out, 64), 0);
}

/* ----------------------------------------------------------- rs_response_matches --- */

static void test_response_matches(void **state)
{
	uint8_t pkt[512], resp[4096];
	struct rs_question q;
	size_t n, rl;

	assert_int_equal(parse_text_query("WwW.Example.COM", RS_TYPE_A, &q, pkt, &n), RS_Q_OK);
	rl = ldns_answer(answer_pkt("www.example.com.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR),
	                 resp);
	assert_true(rs_response_matches(resp, rl, &q));
	rl = ldns_answer(answer_pkt("WWW.EXAMPLE.COM.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR),
	                 resp);
	assert_true(rs_response_matches(resp, rl, &q));
	assert_false(rs_response_matches(resp, rl - 1, &q));
	rl = ldns_answer(answer_pkt("www.example.com.", LDNS_RR_TYPE_AAAA, 1, LDNS_RCODE_NOERROR),
	                 resp);
	assert_false(rs_response_matches(resp, rl, &q));
	rl = ldns_answer(answer_pkt("www.example.org.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR),
	                 resp);
	assert_false(rs_response_matches(resp, rl, &q));
	rl =
	    ldns_answer(answer_pkt("www.example.co.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR), resp);
	assert_false(rs_response_matches(resp, rl, &q));
	resp[5] = 0; /* QDCOUNT 0 */
	assert_false(rs_response_matches(resp, rl, &q));
}

/* ------------------------------------------------------------- rs_response_scan --- */

/* Check that every offset points at a TTL field, in record order, with these values. */
static void assert_ttls(const uint8_t *pkt, const struct rs_scan *s, const uint32_t *want, int n)
{
	assert_int_equal(s->n_ttl, n);
	for (int i = 0; i < n; i++) {
		assert_true(s->ttl_offs[i] + 4u <= s->keep_len);
		assert_int_equal(rd32(pkt + s->ttl_offs[i]), want[i]);
		if (i)
			assert_true(s->ttl_offs[i] > s->ttl_offs[i - 1]);
	}
}

static void test_scan_positive(void **state)
{
	uint8_t resp[4096];
	struct rs_scan s;
	size_t n;
	ldns_pkt *p = answer_pkt("www.example.com.", LDNS_RR_TYPE_A, 0x5555, LDNS_RCODE_NOERROR);
	static const uint32_t want[] = {300, 200, 1000, 50};
	bool compressed = false;

	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 300 IN A 192.0.2.1");
	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 200 IN A 192.0.2.2");
	push_rr(p, LDNS_SECTION_AUTHORITY, "example.com. 1000 IN NS ns1.example.com.");
	push_rr(p, LDNS_SECTION_ADDITIONAL, "ns1.example.com. 50 IN A 192.0.2.53");
	ldns_pkt_set_edns_udp_size(p, 1232);
	n = ldns_answer(p, resp);
	for (size_t i = 12; i + 1 < n; i++)
		compressed = compressed || (resp[i] & 0xc0) == 0xc0;
	assert_true(compressed); /* the walk over pointers is exercised */

	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	assert_int_equal(s.id, 0x5555);
	assert_int_equal(s.rcode, 0);
	assert_int_equal(s.ancount, 2);
	assert_int_equal(s.keep_len, n - 11); /* the OPT is last */
	assert_int_equal(s.arcount_kept, 1);
	assert_int_equal(s.min_ttl, 50);
	assert_int_equal(s.neg_ttl, UINT32_MAX);
	assert_false(s.too_many_rrs);
	assert_ttls(resp, &s, want, 4);

	/* Without OPT nothing is cut. */
	p = answer_pkt("www.example.com.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR);
	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 30 IN A 192.0.2.1");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	assert_int_equal(s.keep_len, n);
	assert_int_equal(s.arcount_kept, 0);
	assert_int_equal(s.min_ttl, 30);
}

static void test_scan_negative(void **state)
{
	uint8_t resp[4096];
	struct rs_scan s;
	size_t n;
	ldns_pkt *p;

	/* NXDOMAIN: SOA TTL 3600, MINIMUM 300 → 300. */
	p = answer_pkt("nx.example.com.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NXDOMAIN);
	push_rr(p, LDNS_SECTION_AUTHORITY,
	        "example.com. 3600 IN SOA ns.example.com. host.example.com. 1 7200 900 86400 300");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	assert_int_equal(s.rcode, RS_RCODE_NXDOMAIN);
	assert_int_equal(s.neg_ttl, 300);
	assert_int_equal(s.min_ttl, 3600);
	assert_int_equal(s.n_ttl, 1);

	/* NODATA: SOA TTL 60 under MINIMUM 300 → 60. */
	p = answer_pkt("www.example.com.", LDNS_RR_TYPE_AAAA, 1, LDNS_RCODE_NOERROR);
	push_rr(p, LDNS_SECTION_AUTHORITY,
	        "example.com. 60 IN SOA ns.example.com. host.example.com. 1 7200 900 86400 300");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	assert_int_equal(s.ancount, 0);
	assert_int_equal(s.neg_ttl, 60);

	/* An SOA in the answer section is data, not a negative TTL. */
	p = answer_pkt("example.com.", LDNS_RR_TYPE_SOA, 1, LDNS_RCODE_NOERROR);
	push_rr(p, LDNS_SECTION_ANSWER,
	        "example.com. 60 IN SOA ns.example.com. host.example.com. 1 7200 900 86400 30");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	assert_int_equal(s.neg_ttl, UINT32_MAX);
	assert_int_equal(s.min_ttl, 60);
}

static void test_scan_opt_cut(void **state)
{
	struct wb w;
	struct rs_scan s;
	size_t opt_at;
	static const uint8_t ip[4] = {192, 0, 2, 1};

	/* answer, additional A, OPT (ext rcode 1), a record after the OPT (a TSIG would be). */
	whdr(&w, 0x0202, RS_F_QR | RS_F_RD | RS_F_RA | 3, 1, 1, 0, 3);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wrr_a(&w, "a.example", 100, ip);
	wrr_a(&w, "b.example", 40, ip);
	opt_at = w.n;
	wopt(&w, 1232, 1, 0, 0, NULL, 0);
	wrr_a(&w, "c.example", 5, ip);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	assert_int_equal(s.keep_len, opt_at);
	assert_int_equal(s.arcount_kept, 1);
	assert_int_equal(s.n_ttl, 2);
	assert_int_equal(s.min_ttl, 40); /* the record after the OPT does not count */
	assert_int_equal(s.rcode, (1 << 4) | 3);

	/* An OPT in the answer or authority section, and two OPTs. */
	whdr(&w, 1, RS_F_QR, 1, 1, 0, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	whdr(&w, 1, RS_F_QR, 1, 0, 1, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	whdr(&w, 1, RS_F_QR, 1, 0, 0, 2);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	wopt(&w, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
}

/* A response whose answer owner is the given two bytes (a pointer), the rest well-formed. */
static size_t resp_with_owner_ptr(struct wb *w, unsigned ptr)
{
	whdr(w, 1, RS_F_QR, 1, 1, 0, 0);
	wquestion(w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	w16(w, ptr);
	w16(w, RS_TYPE_A);
	w16(w, RS_CLASS_IN);
	w32(w, 60);
	w16(w, 4);
	w32(w, 0x01020304);
	return w->n;
}

static void test_scan_pointers(void **state)
{
	struct wb w;
	struct rs_scan s;
	size_t self;

	resp_with_owner_ptr(&w, 0xc000 | 12); /* back to the question name: fine */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);

	self = 12 + 11 + 4;
	resp_with_owner_ptr(&w, (unsigned)(0xc000 | self)); /* to itself: a loop */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	resp_with_owner_ptr(&w, (unsigned)(0xc000 | (self + 2))); /* forwards */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	resp_with_owner_ptr(&w, 0xc000 | 0x3fff); /* out of bounds */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	resp_with_owner_ptr(&w, 0xc000 | 4); /* into the header */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	resp_with_owner_ptr(&w, 0x8000 | 12); /* reserved label type */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);

	/* A two-pointer loop: the question name "b" then a pointer to the answer owner, which
	 * points back to the question. The question may not point forwards. */
	whdr(&w, 1, RS_F_QR, 1, 1, 0, 0);
	w8(&w, 1);
	w8(&w, 'b');
	w16(&w, 0xc000 | 18);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	w16(&w, 0xc000 | 12);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	w32(&w, 60);
	w16(&w, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);

	/* A pointer cut in half at the end. */
	resp_with_owner_ptr(&w, 0xc000 | 12);
	w.n = 12 + 15 + 1;
	w.b[5] = 1;
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
}

static void test_scan_long_compressed_name(void **state)
{
	struct wb w;
	struct rs_scan s;
	size_t prev;
	char lab[64];

	memset(lab, 'q', 63);
	lab[63] = '\0';
	/* The question name is 65 octets; each owner adds 64 by pointing at the previous one:
	 * 129, 193, then 257 (over 255). */
	for (int rrs = 2; rrs <= 3; rrs++) {
		whdr(&w, 1, RS_F_QR, 1, (unsigned)rrs, 0, 0);
		prev = w.n;
		wquestion(&w, lab, RS_TYPE_A, RS_CLASS_IN);
		for (int i = 0; i < rrs; i++) {
			size_t here = w.n;
			w8(&w, 63);
			wbytes(&w, lab, 63);
			w16(&w, (unsigned)(0xc000 | prev));
			w16(&w, RS_TYPE_A);
			w16(&w, RS_CLASS_IN);
			w32(&w, 1);
			w16(&w, 0);
			prev = here;
		}
		assert_int_equal(rs_response_scan(w.b, w.n, &s), rrs == 2 ? 0 : RS_EPARSE);
	}
}

/*
 * Names inside RDATA: the reply rewrites the ID, the flags, ARCOUNT and every TTL, so a
 * compression pointer may only land on a label already walked (found by fuzz_response: an MD
 * record whose RDATA pointed at the ID's second byte).
 */
static void rdata_resp(struct wb *w, unsigned type, const uint8_t *rdata, unsigned rdlen)
{
	whdr(w, 0x0501, RS_F_QR, 1, 2, 0, 0);
	wquestion(w, "a.example", RS_TYPE_A, RS_CLASS_IN); /* labels at 12, 14, 22 (root) */
	w16(w, 0xc000 | 12);
	w16(w, RS_TYPE_A);
	w16(w, RS_CLASS_IN);
	w32(w, 60); /* TTL at 33..36 */
	w16(w, 4);
	w32(w, 0xc0000201);
	w16(w, 0xc000 | 12); /* the second owner; its RDATA starts at 55 */
	w16(w, type);
	w16(w, RS_CLASS_IN);
	w32(w, 60);
	w16(w, rdlen);
	wbytes(w, rdata, rdlen);
}

static void test_scan_rdata_pointers(void **state)
{
	static const uint8_t to_id[] = {0xc0, 1}, to_ttl[] = {0xc0, 33}, to_label[] = {0xc0, 14};
	static const uint8_t mid_label[] = {0xc0, 15}, mx_ok[] = {0, 10, 0xc0, 14};
	static const uint8_t mx_junk[] = {0, 10, 0xc0, 14, 0}, srv[] = {0, 1, 0, 2, 0, 53, 0};
	static const uint8_t rrsig_short[] = {0, 1, 8, 2, 0, 0, 0, 60};
	static const uint8_t sub[] = {3, 'w', 'w', 'w', 0xc0, 14};
	struct wb w;
	struct rs_scan s;

	(void)state;
	rdata_resp(&w, 3, to_id, sizeof(to_id)); /* MD: ldns reads a name here */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	rdata_resp(&w, RS_TYPE_NS, to_ttl, sizeof(to_ttl));
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	rdata_resp(&w, RS_TYPE_CNAME, mid_label, sizeof(mid_label));
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	rdata_resp(&w, RS_TYPE_CNAME, to_label, sizeof(to_label));
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	rdata_resp(&w, 15, mx_ok, sizeof(mx_ok));
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	rdata_resp(&w, 15, mx_junk, sizeof(mx_junk)); /* bytes after the exchange */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	rdata_resp(&w, 33, srv, sizeof(srv)); /* SRV with target "." */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	rdata_resp(&w, 46, rrsig_short, sizeof(rrsig_short)); /* RRSIG without its signer */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
	/* A type we know no names in is opaque: its bytes are data, not pointers. */
	rdata_resp(&w, 0xff00, to_id, sizeof(to_id));
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);

	/* A label first written in RDATA (www at 55) may be pointed at afterwards. */
	rdata_resp(&w, RS_TYPE_CNAME, sub, sizeof(sub));
	w.b[7] = 3;
	w16(&w, 0xc000 | 55);
	w16(&w, RS_TYPE_A);
	w16(&w, RS_CLASS_IN);
	w32(&w, 60);
	w16(&w, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	w.b[w.n - 11] = 56; /* into the middle of that label */
	assert_int_equal(rs_response_scan(w.b, w.n, &s), RS_EPARSE);
}

/* 0x20: only letters flip, only where the bit is set; label lengths and digits never. */
static void test_scramble_case(void **state)
{
	uint8_t name[] = "\x03w1w\x07example\x02c-\x00";
	uint8_t orig[sizeof(name)], bits[4], resp[64];
	size_t len = sizeof(name) - 1;

	(void)state;
	memcpy(orig, name, sizeof(name));
	memset(bits, 0, sizeof(bits));
	rs_name_scramble_case(name, len, bits);
	assert_memory_equal(name, orig, len);
	memset(bits, 0xff, sizeof(bits));
	rs_name_scramble_case(name, len, bits);
	assert_memory_equal(name, "\x03W1W\x07EXAMPLE\x02C-\x00", len);
	memcpy(name, orig, sizeof(name));
	bits[0] = 0x02; /* offset 1 only: the first 'w' */
	bits[1] = bits[2] = bits[3] = 0;
	rs_name_scramble_case(name, len, bits);
	assert_memory_equal(name, "\x03W1w\x07example\x02c-\x00", len);

	memset(resp, 0, sizeof(resp));
	memcpy(resp + RS_HDR_LEN, name, len);
	assert_true(rs_response_same_case(resp, RS_HDR_LEN + len, name, len));
	assert_false(rs_response_same_case(resp, RS_HDR_LEN + len, orig, len));
	assert_false(rs_response_same_case(resp, RS_HDR_LEN + len - 1, name, len));
}

static void test_scan_malformed(void **state)
{
	uint8_t resp[4096];
	static uint8_t big[RS_MAX_MSG + 1];
	struct rs_scan s;
	struct wb w;
	size_t n;
	ldns_pkt *p = answer_pkt("www.example.com.", LDNS_RR_TYPE_A, 1, LDNS_RCODE_NOERROR);

	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 300 IN A 192.0.2.1");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);
	/* Every truncation fails, and so does a trailing byte. */
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(rs_response_scan(resp, cut, &s), RS_EPARSE);
	resp[n] = 0;
	assert_int_equal(rs_response_scan(resp, n + 1, &s), RS_EPARSE);
	/* Counts that do not match what is there. */
	resp[7] = 2;
	assert_int_equal(rs_response_scan(resp, n, &s), RS_EPARSE);
	resp[7] = 0;
	assert_int_equal(rs_response_scan(resp, n, &s), RS_EPARSE);
	resp[7] = 1;
	resp[5] = 2;
	assert_int_equal(rs_response_scan(resp, n, &s), RS_EPARSE);
	resp[5] = 1;
	/* RDLENGTH past the end. */
	resp[n - 5] = 5;
	assert_int_equal(rs_response_scan(resp, n, &s), RS_EPARSE);

	/* A bare header with no records is a (useless) well-formed message; over 64 KiB is not. */
	whdr(&w, 1, RS_F_QR, 0, 0, 0, 0);
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	memcpy(big, w.b, 12);
	assert_int_equal(rs_response_scan(big, sizeof(big), &s), RS_EPARSE);
}

static void test_scan_too_many_rrs(void **state)
{
	struct wb w;
	struct rs_scan s;
	struct rs_config cfg;

	whdr(&w, 1, RS_F_QR, 1, 300, 0, 0);
	wquestion(&w, "m.example", RS_TYPE_A, RS_CLASS_IN);
	for (int i = 0; i < 300; i++) {
		w16(&w, 0xc000 | 12);
		w16(&w, RS_TYPE_A);
		w16(&w, RS_CLASS_IN);
		w32(&w, 1000u - (uint32_t)i);
		w16(&w, 4);
		w32(&w, (uint32_t)i);
	}
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	assert_true(s.too_many_rrs);
	assert_int_equal(s.n_ttl, RS_MAX_TTL_OFFS);
	rs_config_defaults(&cfg);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 0);
}

/* Regression: rs_response_scan cleared the struct only up to ttl_offs, so too_many_rrs kept
 * whatever was there (stack garbage in rs_forward.c on_answer, or the previous scan), and a
 * small answer scanned after a large one was never cached. */
static void test_scan_resets_too_many_rrs(void **state)
{
	struct wb w;
	struct rs_scan s;
	struct rs_config cfg;

	memset(&s, 0, sizeof(s));
	s.too_many_rrs = true; /* as left by the scan of a 300-record answer */
	whdr(&w, 1, RS_F_QR, 1, 1, 0, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wrr_a(&w, "a.example", 300, (const uint8_t[]){1, 2, 3, 4});
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	assert_false(s.too_many_rrs);
	rs_config_defaults(&cfg);
	assert_int_equal(rs_cache_ttl_for(&s, &cfg), 300);
}

/* Regression: RFC 2181 §8 says a TTL with the top bit set is treated as zero; the scan
 * masked the bit instead, so 0x80000005 counted as 5 and 0xffffffff as 68 years. */
static void test_scan_ttl_msb_is_zero(void **state)
{
	struct wb w;
	struct rs_scan s;

	whdr(&w, 1, RS_F_QR, 1, 1, 0, 0);
	wquestion(&w, "a.example", RS_TYPE_A, RS_CLASS_IN);
	wrr_a(&w, "a.example", 0xffffffffu, (const uint8_t[]){1, 2, 3, 4});
	assert_int_equal(rs_response_scan(w.b, w.n, &s), 0);
	assert_int_equal(s.min_ttl, 0);
}

/* Parse a query placed so that the byte after it is an inaccessible page: an overread faults
 * in any build, not only under AddressSanitizer. */
static int parse_guarded(const uint8_t *pkt, size_t n, struct rs_question *q)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map =
	    mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int v;

	assert_true(map != MAP_FAILED && n <= page);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	memcpy(map + page - n, pkt, n);
	v = rs_query_parse(map + page - n, n, q);
	munmap(map, 2 * page);
	return v;
}

/* Regression (found by fuzz_query): read_opt handed an option to read_option before checking
 * that the option's length fits the RDATA, so an ECS (or MAC) option claiming more bytes than
 * the packet has was read past the end of the packet. */
static void test_opt_option_overread(void **state)
{
	struct wb w;
	struct rs_question q;
	/* ECS, length 8 (family 1, /32 and 4 address bytes), but only 3 bytes follow. */
	static const uint8_t ecs[7] = {0, 8, 0, 8, 0, 1, 32};
	static const uint8_t mac[5] = {0xfd, 0xe9, 0, 6, 0xaa};

	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, ecs, sizeof(ecs));
	assert_int_equal(parse_guarded(w.b, w.n, &q), RS_Q_FORMERR);
	build_opt_query(&w, 1);
	wopt(&w, 1232, 0, 0, 0, mac, sizeof(mac));
	assert_int_equal(parse_guarded(w.b, w.n, &q), RS_Q_FORMERR);
}

/* ------------------------------------------------------------- rs_build_reply --- */

struct reply_fixture {
	uint8_t resp[8192];
	size_t len;
	struct rs_scan s;
};

/* An upstream answer to www.example.com/A with two A records (TTL 300, 90), an NS (TTL 1000)
 * and an OPT, scanned and cut as rs_forward.c does. `extra` more A records pad it. */
static void make_body(struct reply_fixture *f, int extra, bool ad)
{
	ldns_pkt *p = answer_pkt("www.example.com.", LDNS_RR_TYPE_A, 0x7777, LDNS_RCODE_NOERROR);
	char rr[128];

	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_ad(p, ad);
	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 300 IN A 192.0.2.1");
	push_rr(p, LDNS_SECTION_ANSWER, "www.example.com. 90 IN A 192.0.2.2");
	for (int i = 0; i < extra; i++) {
		snprintf(rr, sizeof(rr), "www.example.com. 300 IN A 10.0.%d.%d", i / 250, i % 250);
		push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	push_rr(p, LDNS_SECTION_AUTHORITY, "example.com. 1000 IN NS ns1.example.com.");
	ldns_pkt_set_edns_udp_size(p, 1232);
	f->len = ldns_answer(p, f->resp);
	assert_int_equal(rs_response_scan(f->resp, f->len, &f->s), 0);
	f->resp[10] = (uint8_t)(f->s.arcount_kept >> 8);
	f->resp[11] = (uint8_t)f->s.arcount_kept;
}

static void client_query(struct rs_question *q, bool edns, bool do_bit, uint16_t flags)
{
	struct wb w;

	whdr(&w, 0xbeef, flags, 1, 0, 0, edns ? 1 : 0);
	wquestion(&w, "WwW.ExAmPlE.cOm", RS_TYPE_A, RS_CLASS_IN);
	if (edns)
		wopt(&w, 4096, 0, 0, do_bit ? 0x8000 : 0, NULL, 0);
	assert_int_equal(rs_query_parse(w.b, w.n, q), RS_Q_OK);
}

/* ------------------------------------------------- names in an answer (finding 3) --- */

struct names_seen {
	int n, kinds[64];
	char text[64][64];
	int stop_at; /* 1-based: return 1 at this name; 0 never */
};

static int collect_name(void *ctx, const uint8_t *name, size_t len, int kind)
{
	struct names_seen *s = ctx;
	char *t = s->text[s->n];
	size_t o = 0;

	/* wire form to dotted text */
	for (size_t i = 0; i < len && name[i]; i += 1u + name[i]) {
		memcpy(t + o, name + i + 1, name[i]);
		o += name[i];
		t[o++] = '.';
	}
	t[o] = '\0';
	s->kinds[s->n++] = kind;
	return s->stop_at && s->n == s->stop_at ? 1 : 0;
}

/* A chain of `links` CNAMEs from c1.example. ending at an A record. */
static size_t chain_answer(int links, uint8_t *out)
{
	ldns_pkt *p = answer_pkt("c1.example.", LDNS_RR_TYPE_A, 7, LDNS_RCODE_NOERROR);
	char rr[128];

	for (int i = 1; i <= links; i++) {
		snprintf(rr, sizeof(rr), "c%d.example. 300 IN CNAME c%d.example.", i, i + 1);
		push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	snprintf(rr, sizeof(rr), "c%d.example. 300 IN A 192.0.2.1", links + 1);
	push_rr(p, LDNS_SECTION_ANSWER, rr);
	return ldns_answer(p, out);
}

static void test_answer_names_every_target(void **state)
{
	uint8_t resp[4096];
	struct names_seen s = {0};
	size_t n = chain_answer(12, resp);

	/* Every target of a 12-link chain, each once (the owner after it repeats it); the old
	 * inspection stopped after 8. */
	assert_int_equal(rs_answer_names(resp, n, RS_MAX_CNAME_CHAIN, collect_name, &s), 0);
	assert_int_equal(s.n, 12);
	for (int i = 0; i < 12; i++) {
		char want[32];
		snprintf(want, sizeof(want), "c%d.example.", i + 2);
		assert_string_equal(s.text[i], want);
		assert_int_equal(s.kinds[i], RS_ANAME_CNAME);
	}
	/* The callback's nonzero return stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 3;
	assert_int_equal(rs_answer_names(resp, n, RS_MAX_CNAME_CHAIN, collect_name, &s), 1);
	assert_int_equal(s.n, 3);
	/* Over the bound: refused whatever the callback says, also without one. */
	n = chain_answer(RS_MAX_CNAME_CHAIN + 1, resp);
	assert_int_equal(rs_answer_names(resp, n, RS_MAX_CNAME_CHAIN, NULL, NULL), RS_ELIMIT);
	n = chain_answer(RS_MAX_CNAME_CHAIN, resp);
	assert_int_equal(rs_answer_names(resp, n, RS_MAX_CNAME_CHAIN, NULL, NULL), 0);
}

static void test_answer_names_owners_and_dname(void **state)
{
	uint8_t resp[4096];
	struct names_seen s = {0};
	ldns_pkt *p = answer_pkt("www.sub.example.", LDNS_RR_TYPE_A, 7, LDNS_RCODE_NOERROR);
	size_t n;

	push_rr(p, LDNS_SECTION_ANSWER, "sub.example. 300 IN DNAME blocked.test.");
	push_rr(p, LDNS_SECTION_ANSWER, "www.sub.example. 300 IN CNAME www.blocked.test.");
	push_rr(p, LDNS_SECTION_ANSWER, "www.blocked.test. 300 IN A 192.0.2.1");
	push_rr(p, LDNS_SECTION_ANSWER, "www.blocked.test. 300 IN A 192.0.2.2");
	push_rr(p, LDNS_SECTION_ANSWER, "stray.test. 300 IN A 192.0.2.3");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_answer_names(resp, n, RS_MAX_CNAME_CHAIN, collect_name, &s), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.text[0], "sub.example.");
	assert_int_equal(s.kinds[0], RS_ANAME_OWNER);
	assert_string_equal(s.text[1], "blocked.test.");
	assert_int_equal(s.kinds[1], RS_ANAME_DNAME);
	assert_string_equal(s.text[2], "www.sub.example.");
	assert_string_equal(s.text[3], "www.blocked.test.");
	assert_int_equal(s.kinds[3], RS_ANAME_CNAME);
	assert_string_equal(s.text[4], "stray.test.");
	assert_int_equal(s.kinds[4], RS_ANAME_OWNER);
}

static void test_answer_names_malformed(void **state)
{
	uint8_t resp[4096];
	size_t n = chain_answer(3, resp);

	assert_int_equal(rs_answer_names(resp, n - 1, RS_MAX_CNAME_CHAIN, NULL, NULL), RS_EPARSE);
	assert_int_equal(rs_answer_names(resp, 11, RS_MAX_CNAME_CHAIN, NULL, NULL), RS_EPARSE);
}

/* ------------------------------------ private addresses under public names (finding 4) --- */

static void test_private_addresses(void **state)
{
	static const uint8_t yes4[][4] = {{10, 1, 2, 3},   {127, 0, 0, 1},  {192, 168, 1, 1},
	                                  {172, 16, 0, 1}, {172, 31, 9, 9}, {169, 254, 1, 1},
	                                  {0, 0, 0, 0},    {100, 64, 0, 1}};
	static const uint8_t no4[][4] = {
	    {192, 0, 2, 1}, {172, 32, 0, 1}, {8, 8, 8, 8}, {100, 128, 0, 1}};
	uint8_t a6[16];

	for (size_t i = 0; i < sizeof(yes4) / 4; i++)
		assert_true(rs_addr_private(yes4[i], 4));
	for (size_t i = 0; i < sizeof(no4) / 4; i++)
		assert_false(rs_addr_private(no4[i], 4));
	assert_int_equal(inet_pton(AF_INET6, "::1", a6), 1);
	assert_true(rs_addr_private(a6, 16));
	assert_int_equal(inet_pton(AF_INET6, "fd12::1", a6), 1);
	assert_true(rs_addr_private(a6, 16));
	assert_int_equal(inet_pton(AF_INET6, "fe80::1", a6), 1);
	assert_true(rs_addr_private(a6, 16));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.168.0.1", a6), 1);
	assert_true(rs_addr_private(a6, 16));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", a6), 1);
	assert_false(rs_addr_private(a6, 16));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", a6), 1);
	assert_false(rs_addr_private(a6, 16));
	assert_true(rs_name_at_or_under((const uint8_t *)"\3nas\4home\4arpa", 15,
	                                (const uint8_t *)"\4home\4arpa", 11));
	assert_true(rs_name_at_or_under((const uint8_t *)"\4home\4arpa", 11,
	                                (const uint8_t *)"\4home\4arpa", 11));
	assert_false(rs_name_at_or_under((const uint8_t *)"\5xhome\4arpa", 12,
	                                 (const uint8_t *)"\4home\4arpa", 11));
}

static struct rs_config priv_cfg;  /* large: off the stack */
static struct rs_zones priv_zones; /* its private_domains */

static void test_private_strip(void **state)
{
	uint8_t resp[4096], out[4096];
	struct rs_scan s;
	ldns_pkt *p = answer_pkt("rebind.example.", LDNS_RR_TYPE_A, 9, LDNS_RCODE_NOERROR), *back;
	size_t n, on;

	rs_config_defaults(&priv_cfg);
	priv_zones = rs_private_zones(&priv_cfg);
	push_rr(p, LDNS_SECTION_ANSWER, "rebind.example. 60 IN A 192.168.1.1");
	push_rr(p, LDNS_SECTION_ANSWER, "rebind.example. 60 IN A 192.0.2.1");
	push_rr(p, LDNS_SECTION_AUTHORITY, "example. 60 IN NS ns.example.");
	push_rr(p, LDNS_SECTION_ADDITIONAL, "ns.example. 60 IN A 10.0.0.53");
	push_rr(p, LDNS_SECTION_ADDITIONAL, "ns.example. 60 IN AAAA ::ffff:127.0.0.1");
	push_rr(p, LDNS_SECTION_ADDITIONAL, "nas.home.arpa. 60 IN A 192.168.1.2");
	push_rr(p, LDNS_SECTION_ADDITIONAL, "ns.example. 60 IN A 192.0.2.53");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_response_scan(resp, n, &s), 0);

	assert_int_equal(rs_private_strip(resp, n, &priv_zones, NULL, &on), 3);
	assert_int_equal(rs_private_strip(resp, n, &priv_zones, out, &on), 3);
	assert_true(on < n);
	/* what is left is a message we accept, whose pointers land where they should */
	assert_int_equal(rs_response_scan(out, on, &s), 0);
	assert_int_equal(ldns_wire2pkt(&back, out, on), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_ancount(back), 1);
	assert_int_equal(ldns_pkt_nscount(back), 1);
	assert_int_equal(ldns_pkt_arcount(back), 2);
	{
		char *t = ldns_pkt2str(back);
		assert_non_null(strstr(t, "rebind.example.\t60\tIN\tA\t192.0.2.1"));
		assert_non_null(strstr(t, "example.\t60\tIN\tNS\tns.example."));
		assert_non_null(strstr(t, "nas.home.arpa.\t60\tIN\tA\t192.168.1.2"));
		assert_non_null(strstr(t, "ns.example.\t60\tIN\tA\t192.0.2.53"));
		assert_null(strstr(t, "192.168.1.1"));
		assert_null(strstr(t, "10.0.0.53"));
		free(t);
	}
	ldns_pkt_free(back);

	/* Nothing private: untouched. Everything private: NODATA. */
	p = answer_pkt("www.example.", LDNS_RR_TYPE_A, 9, LDNS_RCODE_NOERROR);
	push_rr(p, LDNS_SECTION_ANSWER, "www.example. 60 IN A 192.0.2.7");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_private_strip(resp, n, &priv_zones, out, &on), 0);
	p = answer_pkt("www.example.", LDNS_RR_TYPE_A, 9, LDNS_RCODE_NOERROR);
	push_rr(p, LDNS_SECTION_ANSWER, "www.example. 60 IN CNAME lan.example.");
	push_rr(p, LDNS_SECTION_ANSWER, "lan.example. 60 IN A 127.0.0.1");
	n = ldns_answer(p, resp);
	assert_int_equal(rs_private_strip(resp, n, &priv_zones, out, &on), 1);
	assert_int_equal(rs_response_scan(out, on, &s), 0);
	assert_int_equal(s.ancount, 1); /* the CNAME stays */
	/* an allowed private domain passes */
	assert_int_equal(rs_config_load_string("[upstream]\nprivate_domains = example\n", "t.conf",
	                                       &priv_cfg, (char *)out, sizeof(out)),
	                 0);
	priv_zones = rs_private_zones(&priv_cfg);
	assert_int_equal(rs_private_strip(resp, n, &priv_zones, out, &on), 0);
}

static void test_reply_basic(void **state)
{
	struct reply_fixture f;
	struct rs_question q;
	uint8_t out[8192];
	size_t n;
	ldns_pkt *p;
	ldns_rr_list *an;

	make_body(&f, 0, false);
	client_query(&q, true, true, RS_F_RD);
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 100, &q, 1232, out,
	                   sizeof(out));
	assert_int_equal(n, f.s.keep_len + 11);
	assert_int_equal(rd16(out), 0xbeef);
	assert_memory_equal(out + 12, q.qname_raw, q.qname_len); /* 0x20 case restored */
	p = parse_ok(out, n);
	assert_int_equal(ldns_pkt_id(p), 0xbeef);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_aa(p));
	assert_true(ldns_pkt_rd(p));
	assert_true(ldns_pkt_ra(p));
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_edns(p));
	assert_true(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), RS_EDNS_SIZE);
	an = ldns_pkt_answer(p);
	assert_int_equal(ldns_rr_list_rr_count(an), 2);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, 0)), 200); /* 300 - 100 */
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, 1)), 0);   /* 90 - 100, floored */
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), 900);
	ldns_pkt_free(p);
	/* The body is not modified. */
	assert_int_equal(rd32(f.resp + f.s.ttl_offs[0]), 300);
}

static void test_reply_no_edns(void **state)
{
	struct reply_fixture f;
	struct rs_question q;
	uint8_t out[8192];
	size_t n;
	ldns_pkt *p;

	make_body(&f, 0, true);
	client_query(&q, false, false, RS_F_CD); /* RD=0, CD=1, no AD, no DO */
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, 512, out,
	                   sizeof(out));
	assert_int_equal(n, f.s.keep_len);
	p = parse_ok(out, n);
	assert_false(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_arcount(p), 0);
	assert_false(ldns_pkt_rd(p));
	assert_true(ldns_pkt_cd(p));
	assert_false(ldns_pkt_ad(p)); /* the client cannot use AD (RFC 6840 §5.8) */
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 300);
	ldns_pkt_free(p);

	/* A client that sets AD gets it. */
	client_query(&q, false, false, RS_F_RD | RS_F_AD);
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, 512, out,
	                   sizeof(out));
	assert_true(rd16(out + 2) & RS_F_AD);
}

static void test_reply_truncated(void **state)
{
	struct reply_fixture f;
	struct rs_question q;
	uint8_t out[8192];
	size_t n;
	ldns_pkt *p;

	make_body(&f, 40, false); /* 42 A records: well over 512 */
	assert_true(f.s.keep_len > 512);
	client_query(&q, false, false, RS_F_RD);
	assert_int_equal(rs_udp_limit(&q, 1232), 512);
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, 512, out,
	                   sizeof(out));
	assert_true(n > 0 && n <= 512);
	p = parse_ok(out, n);
	assert_true(ldns_pkt_tc(p));
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_id(p), 0xbeef);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_qname_raw(p, q.qname_raw, q.qname_len);
	ldns_pkt_free(p);

	/* Over TCP (limit 64 KiB) the whole answer goes out. */
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, RS_MAX_MSG, out,
	                   sizeof(out));
	assert_int_equal(n, f.s.keep_len);
	p = parse_ok(out, n);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 42);
	ldns_pkt_free(p);

	/* The limit counts our OPT: exactly at the limit fits, one byte over truncates. */
	client_query(&q, true, false, RS_F_RD);
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, f.s.keep_len + 11,
	                   out, sizeof(out));
	assert_int_equal(n, f.s.keep_len + 11);
	n = rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q, f.s.keep_len + 10,
	                   out, sizeof(out));
	assert_true(rd16(out + 2) & RS_F_TC);
	assert_int_equal(rd16(out + 6), 0);
}

static void test_reply_small_buffers(void **state)
{
	struct reply_fixture f;
	struct rs_question q;
	uint8_t out[8192];

	make_body(&f, 0, false);
	client_query(&q, true, false, RS_F_RD);
	assert_int_equal(rs_build_reply(f.resp, f.s.keep_len, f.s.ttl_offs, f.s.n_ttl, 0, &q,
	                                RS_MAX_MSG, out, f.s.keep_len + 10),
	                 0);
	assert_int_equal(rs_build_reply(f.resp, 12 + q.qname_len + 3u, NULL, 0, 0, &q, RS_MAX_MSG,
	                                out, sizeof(out)),
	                 0);
}

static void test_udp_limit(void **state)
{
	struct rs_question q;

	client_query(&q, false, false, 0);
	assert_int_equal(rs_udp_limit(&q, 1232), 512);
	client_query(&q, true, false, 0); /* advertises 4096 */
	assert_int_equal(rs_udp_limit(&q, 1232), 1232);
	assert_int_equal(rs_udp_limit(&q, 4096), 4096);
	q.udp_size = 600;
	assert_int_equal(rs_udp_limit(&q, 1232), 600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_ok),
	    cmocka_unit_test(test_query_root_name),
	    cmocka_unit_test(test_query_drop),
	    cmocka_unit_test(test_query_notimp),
	    cmocka_unit_test(test_query_counts),
	    cmocka_unit_test(test_query_compressed_qname),
	    cmocka_unit_test(test_query_label_and_name_limits),
	    cmocka_unit_test(test_query_truncated),
	    cmocka_unit_test(test_query_edns),
	    cmocka_unit_test(test_query_opt_malformed),
	    cmocka_unit_test(test_query_other_additional),
	    cmocka_unit_test(test_query_badvers),
	    cmocka_unit_test(test_query_case),
	    cmocka_unit_test(test_error_formerr),
	    cmocka_unit_test(test_error_without_question),
	    cmocka_unit_test(test_error_edns_and_badvers),
	    cmocka_unit_test(test_upstream_query),
	    cmocka_unit_test(test_response_matches),
	    cmocka_unit_test(test_scan_positive),
	    cmocka_unit_test(test_scan_negative),
	    cmocka_unit_test(test_scan_opt_cut),
	    cmocka_unit_test(test_scan_pointers),
	    cmocka_unit_test(test_scan_long_compressed_name),
	    cmocka_unit_test(test_scan_rdata_pointers),
	    cmocka_unit_test(test_scramble_case),
	    cmocka_unit_test(test_answer_names_every_target),
	    cmocka_unit_test(test_answer_names_owners_and_dname),
	    cmocka_unit_test(test_answer_names_malformed),
	    cmocka_unit_test(test_private_addresses),
	    cmocka_unit_test(test_private_strip),
	    cmocka_unit_test(test_scan_malformed),
	    cmocka_unit_test(test_scan_too_many_rrs),
	    cmocka_unit_test(test_reply_basic),
	    cmocka_unit_test(test_reply_no_edns),
	    cmocka_unit_test(test_reply_truncated),
	    cmocka_unit_test(test_reply_small_buffers),
	    cmocka_unit_test(test_udp_limit),
	    cmocka_unit_test(test_scan_resets_too_many_rrs),
	    cmocka_unit_test(test_scan_ttl_msb_is_zero),
	    cmocka_unit_test(test_opt_option_overread),
	};

	return cmocka_run_group_tests_name("rs_wire", tests, NULL, NULL);
}
