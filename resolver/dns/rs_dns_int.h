/* Shared by the wire-format files (rs_wire.c, rs_scan.c): big-endian field access and the
 * one name reader. Internal. */
#ifndef KG_RS_DNS_INT_H
#define KG_RS_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_dns.h"

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One bit per message offset: "a label of a name we walked starts here" (rs_scan.c). */
struct rs_label_marks {
	uint8_t bits[RS_MAX_MSG / 8 + 1];
};

/*
 * Read a possibly compressed name at `off` that must end by `len`. Pointers must aim strictly
 * backwards (which bounds the walk and refuses loops), past the header; the expanded name
 * must fit RS_MAX_NAME. With `out`, the name is copied there lowercased; *outlen gets its
 * expanded length. With `marks`, the labels written here are marked and a pointer must land
 * on a marked label. Returns the offset after the name, or 0 when malformed.
 */
size_t rs__name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *outlen,
                     struct rs_label_marks *marks);

/*
 * SipHash (rs_siphash.c; Aumasson and Bernstein, 2012), a keyed hash for tables whose keys come
 * from outside. Without the key, nobody can choose names that fall into one bucket.
 * SipHash-1-3 is the table hash (as in Python and Rust); SipHash-2-4 is the variant the
 * reference test vectors are published for, kept to check the shared core against them.
 */
#define RS_SIPHASH_KEY_LEN 16

/* A 128-bit key as the two little-endian words the rounds use. */
struct rs_siphash_key {
	uint64_t k0, k1;
};

/* The key from its 16-byte form (the reference implementation's byte order). */
void rs__siphash_key_from_bytes(const uint8_t bytes[RS_SIPHASH_KEY_LEN],
                                struct rs_siphash_key *key);
/* A fresh key from the kernel's randomness (getrandom, retried on EINTR). Returns 0, or
 * RS_EINVAL with errno set when the kernel has none to give. */
int rs__siphash_key_random(struct rs_siphash_key *key);

/* SipHash-1-3 of data[0..len) under `key` (both borrowed). */
uint64_t rs__siphash13(const struct rs_siphash_key *key, const void *data, size_t len);

/* SipHash-2-4 of data[0..len) under `key` (both borrowed). */
uint64_t rs__siphash24(const struct rs_siphash_key *key, const void *data, size_t len);

#endif
