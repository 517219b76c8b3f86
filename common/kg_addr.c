#include "kg_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (*s == '\0')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int fill_v4(const char *host, uint16_t port, struct kg_sockaddr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	out->len = sizeof(*sin);
	return 0;
}

static int fill_v6(const char *host, uint16_t port, struct kg_sockaddr *out)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return -1;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	out->len = sizeof(*sin6);
	return 0;
}

int kg_sockaddr_parse(const char *text, uint16_t default_port, struct kg_sockaddr *out)
{
	char host[64];
	const char *colon;
	uint16_t port = default_port;
	size_t n;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return -1;
		n = (size_t)(close - text - 1);
		if (n == 0 || n >= sizeof(host))
			return -1;
		memcpy(host, text + 1, n);
		host[n] = '\0';
		if (close[1] == ':') {
			if (parse_port(close + 2, &port) < 0)
				return -1;
		} else if (close[1] != '\0') {
			return -1;
		}
		return fill_v6(host, port, out);
	}
	colon = strchr(text, ':');
	if (colon && strchr(colon + 1, ':'))
		return fill_v6(text, port, out); /* bare IPv6, default port */
	n = colon ? (size_t)(colon - text) : strlen(text);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	if (colon && parse_port(colon + 1, &port) < 0)
		return -1;
	return fill_v4(host, port, out);
}

const char *kg_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(unknown family %d)", sa->sa_family);
	}
	return buf;
}

int kg_cidr_parse(const char *text, struct kg_cidr *out)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	long prefix = -1;
	int maxp;

	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		maxp = 128;
	} else {
		return -1;
	}
	if (slash) {
		char *end;
		if (slash[1] == '\0')
			return -1;
		prefix = strtol(slash + 1, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > maxp)
			return -1;
	} else {
		prefix = maxp;
	}
	out->prefix = (uint8_t)prefix;
	/* Clear host bits so that matching is a plain masked compare. */
	for (int i = 0; i < 16; i++) {
		int bits = (int)prefix - i * 8;
		if (bits >= 8)
			continue;
		out->addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *net, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return (a[full] & (uint8_t)(0xff << (8 - rest))) == net[full];
}

bool kg_cidr_match(const struct kg_cidr *cidr, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (cidr->family != AF_INET)
			return false;
		return prefix_equal((const uint8_t *)&sin->sin_addr, cidr->addr, cidr->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = sin6->sin6_addr.s6_addr;
		if (cidr->family == AF_INET6)
			return prefix_equal(a, cidr->addr, cidr->prefix);
		if (memcmp(a, v4mapped, 12) == 0)
			return prefix_equal(a + 12, cidr->addr, cidr->prefix);
	}
	return false;
}

bool kg_addr_prefix(const struct sockaddr *sa, uint8_t pfx[KG_ADDR_PREFIX_LEN])
{
	memset(pfx, 0, KG_ADDR_PREFIX_LEN);
	if (sa && sa->sa_family == AF_INET) {
		pfx[0] = 4;
		memcpy(pfx + 1, &((const struct sockaddr_in *)sa)->sin_addr, 3);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			pfx[0] = 4;
			memcpy(pfx + 1, a->s6_addr + 12, 3);
		} else {
			pfx[0] = 6;
			memcpy(pfx + 1, a->s6_addr, 7);
		}
	}
	return pfx[0] != 0;
}

int kg_split_list(char *s, char **items, int max)
{
	int n = 0;
	char *save = NULL;

	/* Every isspace() byte separates, as the INI reader trims them all: a '\r' inside a
	 * value must not start an item that reads differently once printed (fuzz_config). */
	for (char *tok = strtok_r(s, ", \t\r\n\v\f", &save); tok;
	     tok = strtok_r(NULL, ", \t\r\n\v\f", &save)) {
		if (n >= max)
			return -1;
		items[n++] = tok;
	}
	return n;
}
