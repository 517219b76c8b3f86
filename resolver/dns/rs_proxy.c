/*
 * The PROXY protocol version 2 header (haproxy's proxy-protocol.txt, section 2.2), as dnsdist
 * sends it with useProxyProtocol=true: before the DNS message in each UDP datagram, once at the
 * start of a TCP connection. Pure: no state, no allocation, no logging; fuzzed by
 * tests/fuzz/fuzz_proxy.c.
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version (high nibble, 2) and command (low nibble: 0 LOCAL, 1 PROXY)
 *    1 byte   address family (high nibble: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and transport
 *             (low nibble: 0 UNSPEC, 1 STREAM, 2 DGRAM)
 *    2 bytes  length of what follows, big endian
 *   then      source address, destination address, source port, destination port (INET: 12
 *             bytes, INET6: 36), then TLVs (type, 2-byte length, value) to the end.
 *
 * What we refuse: another version or command, a UNIX family (no address an ACL could use), an
 * address block shorter than its family needs, a TLV that runs past the end, and headers
 * longer than RS_PROXY_MAX_HDR (dnsdist's are a few dozen bytes; a bound keeps the TCP buffer
 * and the work per datagram small).
 */
#include "rs_dns.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

const uint8_t rs_proxy_sig[RS_PROXY_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define FIXED_LEN 16 /* signature, version/command, family/transport, length */

/* TLVs must tile the rest of the header exactly. */
static bool tlvs_ok(const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t vlen;
		if (len < 3)
			return false;
		vlen = (size_t)(p[1] << 8 | p[2]);
		if (vlen > len - 3)
			return false;
		p += 3 + vlen;
		len -= 3 + vlen;
	}
	return true;
}

int rs_proxy_parse(const uint8_t *p, size_t len, struct sockaddr_storage *src, size_t *hdr_len)
{
	size_t body, need, alen;
	unsigned cmd, fam, proto;
	struct sockaddr_storage ss;

	if (!p || !src || !hdr_len)
		return RS_EINVAL;
	if (memcmp(p, rs_proxy_sig, len < RS_PROXY_SIG_LEN ? len : RS_PROXY_SIG_LEN) != 0)
		return RS_EPARSE;
	if (len < FIXED_LEN)
		return -EAGAIN;
	if ((p[12] >> 4) != 2)
		return RS_EPARSE;
	cmd = p[12] & 0xf;
	fam = p[13] >> 4;
	proto = p[13] & 0xf;
	body = (size_t)(p[14] << 8 | p[15]);
	need = FIXED_LEN + body;
	if (cmd > 1 || fam > 3 || proto > 2 || need > RS_PROXY_MAX_HDR)
		return RS_EPARSE;
	if (len < need)
		return -EAGAIN;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNSPEC;
	alen = 0;
	if (cmd == 1 && fam == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		alen = 12;
		if (body < alen || proto == 0)
			return RS_EPARSE;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p + FIXED_LEN, 4);
		memcpy(&s4->sin_port, p + FIXED_LEN + 8, 2); /* both in network order */
	} else if (cmd == 1 && fam == 2) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		alen = 36;
		if (body < alen || proto == 0)
			return RS_EPARSE;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, p + FIXED_LEN, 16);
		memcpy(&s6->sin6_port, p + FIXED_LEN + 32, 2);
	} else if (cmd == 1 && fam == 3) {
		return RS_EPARSE;
	}
	/* LOCAL (the proxy's own health check) and UNSPEC carry no client: the receiver uses the
	 * real endpoints, and the address block, if any, is skipped whole. */
	if (cmd == 1 && alen && !tlvs_ok(p + FIXED_LEN + alen, body - alen))
		return RS_EPARSE;
	*src = ss;
	*hdr_len = need;
	return 0;
}
