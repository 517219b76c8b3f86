/*
 * kg_siphash: SipHash (Aumasson and Bernstein, 2012), a keyed hash for tables whose keys come
 * from outside. Without the key, nobody can choose names that fall into one bucket.
 * SipHash-1-3 is the table hash (as in Python and Rust); SipHash-2-4 is the variant the
 * reference test vectors are published for, kept to check the shared core against them.
 * Pure functions; no allocation.
 */
#ifndef KG_SIPHASH_H
#define KG_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define KG_SIPHASH_KEY_LEN 16

/* A 128-bit key as the two little-endian words the rounds use. */
struct kg_siphash_key {
	uint64_t k0, k1;
};

/* The key from its 16-byte form (the reference implementation's byte order). */
void kg_siphash_key_from_bytes(const uint8_t bytes[KG_SIPHASH_KEY_LEN], struct kg_siphash_key *key);

/* SipHash-1-3 of data[0..len) under `key` (both borrowed). */
uint64_t kg_siphash13(const struct kg_siphash_key *key, const void *data, size_t len);

/* SipHash-2-4 of data[0..len) under `key` (both borrowed). */
uint64_t kg_siphash24(const struct kg_siphash_key *key, const void *data, size_t len);

#endif
