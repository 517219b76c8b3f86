/*
 * Fuzz target: rs_proxy_parse, the PROXY v2 header a frontend puts before each datagram and
 * at the start of each connection. Invariants: a success consumes a header no longer than the
 * input and RS_PROXY_MAX_HDR, names AF_INET, AF_INET6 or AF_UNSPEC; every proper prefix of an
 * accepted header is "incomplete" (what the TCP path relies on); parsing is deterministic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "fuzz.h"
#include "rs_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss, ss2;
	size_t hl = 0, hl2 = 0;
	int rc = rs_proxy_parse(data, size, &ss, &hl);

	FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == RS_EPARSE);
	if (rc != 0)
		return 0;
	FUZZ_CHECK(hl >= 16 && hl <= size && hl <= RS_PROXY_MAX_HDR);
	FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6 ||
	           ss.ss_family == AF_UNSPEC);
	FUZZ_CHECK(rs_proxy_parse(data, hl, &ss2, &hl2) == 0 && hl2 == hl);
	FUZZ_CHECK(memcmp(&ss, &ss2, sizeof(ss)) == 0);
	for (size_t i = 0; i < hl; i++)
		FUZZ_CHECK(rs_proxy_parse(data, i, &ss2, &hl2) == -EAGAIN);
	return 0;
}
