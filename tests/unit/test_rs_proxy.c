/* Unit tests: the PROXY protocol v2 header parser (resolver/dns/rs_proxy.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "rs_dns.h"

/* A header: signature, version/command, family/transport, then `body` (length from it). */
static size_t hdr(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t blen)
{
	memcpy(out, rs_proxy_sig, RS_PROXY_SIG_LEN);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen) /* memcpy from NULL is undefined even for 0 bytes (UBSan, tests/sanitize) */
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* INET: 192.0.2.7:5300 -> 198.51.100.1:53, plus `tlv` bytes of TLVs. */
static size_t v4(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *tlv, size_t tlen)
{
	uint8_t b[12 + 64] = {192, 0, 2, 7, 198, 51, 100, 1, 0x14, 0xb4, 0, 53};

	if (tlen)
		memcpy(b + 12, tlv, tlen);
	return hdr(out, ver_cmd, fam, b, 12 + tlen);
}

static void test_v4_udp(void **state)
{
	uint8_t buf[128];
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	size_t n = v4(buf, 0x21, 0x12, NULL, 0), hl = 0;

	memcpy(buf + n, "DNS", 3);
	assert_int_equal(rs_proxy_parse(buf, n + 3, &ss, &hl), 0);
	assert_int_equal(hl, 28);
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0xc0000207);
	assert_int_equal(ntohs(s4->sin_port), 5300);
}

static void test_v6_tcp_with_tlvs(void **state)
{
	uint8_t body[36 + 7] = {0x20, 0x01, 0x0d, 0xb8};
	uint8_t buf[128];
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	size_t hl = 0, n;

	body[15] = 9;
	body[32] = 0x30; /* port 12345 = 0x3039 */
	body[33] = 0x39;
	/* TLV 0xe0 (custom) of 4 bytes */
	memcpy(body + 36,
	       "\xe0\x00\x04"
	       "abcd",
	       7);
	n = hdr(buf, 0x21, 0x21, body, sizeof(body));
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), 0);
	assert_int_equal(hl, n);
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(s6->sin6_addr.s6_addr[0], 0x20);
	assert_int_equal(s6->sin6_addr.s6_addr[15], 9);
	assert_int_equal(ntohs(s6->sin6_port), 12345);
}

static void test_local_and_unspec(void **state)
{
	uint8_t buf[128];
	struct sockaddr_storage ss;
	size_t hl = 0, n;

	/* LOCAL with an address block: skipped, no client */
	n = v4(buf, 0x20, 0x12, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), 0);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
	assert_int_equal(hl, n);
	/* LOCAL with nothing */
	n = hdr(buf, 0x20, 0x00, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), 0);
	assert_int_equal(hl, 16);
	/* PROXY with family UNSPEC: use the real endpoints */
	n = hdr(buf, 0x21, 0x00, (const uint8_t *)"xyz", 3);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), 0);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
	assert_int_equal(hl, 19);
}

static void test_incomplete(void **state)
{
	uint8_t buf[128];
	struct sockaddr_storage ss;
	size_t hl = 77, n = v4(buf, 0x21, 0x12, NULL, 0);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(rs_proxy_parse(buf, i, &ss, &hl), -EAGAIN);
	assert_int_equal(hl, 77); /* untouched */
}

static void test_refused(void **state)
{
	uint8_t buf[128], body[216] = {0};
	struct sockaddr_storage ss;
	size_t hl = 0, n;

	/* not a header: a DNS query */
	memcpy(buf, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	assert_int_equal(rs_proxy_parse(buf, 12, &ss, &hl), RS_EPARSE);
	assert_int_equal(rs_proxy_parse(buf, 1, &ss, &hl), RS_EPARSE);
	/* version 1 in the v2 layout, version 3 */
	n = v4(buf, 0x11, 0x12, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	n = v4(buf, 0x31, 0x12, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	/* command 2 */
	n = v4(buf, 0x22, 0x12, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	/* family 4, transport 3, INET with transport UNSPEC */
	n = v4(buf, 0x21, 0x42, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	n = v4(buf, 0x21, 0x13, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	n = v4(buf, 0x21, 0x10, NULL, 0);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	/* INET with a short address block, INET6 with an INET-sized one */
	n = hdr(buf, 0x21, 0x12, body, 11);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	n = hdr(buf, 0x21, 0x22, body, 12);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	/* UNIX */
	{
		uint8_t big[16 + 216];
		n = hdr(big, 0x21, 0x31, body, 216);
		assert_int_equal(rs_proxy_parse(big, n, &ss, &hl), RS_EPARSE);
	}
	/* a TLV running past the end, a lone TLV byte */
	n = v4(buf, 0x21, 0x12,
	       (const uint8_t *)"\x01\x00\x05"
	                        "ab",
	       5);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	n = v4(buf, 0x21, 0x12, (const uint8_t *)"\x01", 1);
	assert_int_equal(rs_proxy_parse(buf, n, &ss, &hl), RS_EPARSE);
	/* longer than we accept: refused as soon as the length is known */
	n = hdr(buf, 0x21, 0x12, body, 12);
	buf[14] = (uint8_t)((RS_PROXY_MAX_HDR - 15) >> 8);
	buf[15] = (uint8_t)(RS_PROXY_MAX_HDR - 15);
	assert_int_equal(rs_proxy_parse(buf, 16, &ss, &hl), RS_EPARSE);
	assert_int_equal(rs_proxy_parse(NULL, 16, &ss, &hl), RS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_udp),           cmocka_unit_test(test_v6_tcp_with_tlvs),
	    cmocka_unit_test(test_local_and_unspec), cmocka_unit_test(test_incomplete),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests_name("rs_proxy", tests, NULL, NULL);
}
