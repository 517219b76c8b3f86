/*
 * kg_addr: socket addresses and CIDR prefixes, parsed from the text an operator writes.
 * Pure functions; no allocation.
 */
#ifndef KG_ADDR_H
#define KG_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define KG_ADDRSTRLEN 64

/* An address with its port, ready for bind/sendto. */
struct kg_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* A prefix: family AF_INET or AF_INET6, address bytes (4 or 16 used), prefix length. */
struct kg_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

/*
 * Parse "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT" (a bare IPv6 address without brackets is
 * accepted too and takes the default port). Returns 0, or -1 on a malformed address or port.
 */
int kg_sockaddr_parse(const char *text, uint16_t default_port, struct kg_sockaddr *out);

/* Format as "1.2.3.4:53" or "[::1]:53" into buf (at least KG_ADDRSTRLEN bytes). */
const char *kg_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

/* Parse "10.0.0.0/8", "fd00::/8" or a bare address (a host prefix). Returns 0 or -1. */
int kg_cidr_parse(const char *text, struct kg_cidr *out);

/* True when `sa` (AF_INET or AF_INET6; v4-mapped v6 counts as v4) lies inside `cidr`. */
bool kg_cidr_match(const struct kg_cidr *cidr, const struct sockaddr *sa);

/*
 * The 8-byte key of the clients that share one rate or quota (one household, subscriber or
 * school): family 4 or 6, then the /24 (IPv4, v4-mapped v6 too) or the /56 (IPv6), zero
 * padded. Returns false, `pfx` all zero, for NULL or another family.
 */
#define KG_ADDR_PREFIX_LEN 8
bool kg_addr_prefix(const struct sockaddr *sa, uint8_t pfx[KG_ADDR_PREFIX_LEN]);

/*
 * Split a comma- and/or space-separated list in place. `s` is modified; `items` receive
 * pointers into it. Returns the number of items, or -1 when more than `max` are present.
 */
int kg_split_list(char *s, char **items, int max);

#endif
