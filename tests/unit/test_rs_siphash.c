/* Unit tests: SipHash (resolver/dns/rs_siphash.c), the keyed hash of the cache and in-flight
 * tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rs_dns_int.h"

/* SipHash-2-4 with key 00 01 .. 0f over the messages 00, 00 01, ... (00 .. len-1): the first
 * 16 of the 64 vectors in the paper's appendix and the reference implementation (vectors.h). */
static const uint64_t vectors24[16] = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
};

static void test_reference_vectors_24(void **state)
{
	uint8_t kb[RS_SIPHASH_KEY_LEN], msg[16];
	struct rs_siphash_key key;

	(void)state;
	for (int i = 0; i < 16; i++)
		kb[i] = msg[i] = (uint8_t)i;
	rs__siphash_key_from_bytes(kb, &key);
	for (size_t len = 0; len < 16; len++)
		assert_true(rs__siphash24(&key, msg, len) == vectors24[len]);
}

/* SipHash-1-3 under the all-zero key, from another implementation: CPython's str/bytes hash
 * (sys.hash_info.algorithm "siphash13"), whose key is all zero under PYTHONHASHSEED=0:
 * PYTHONHASHSEED=0 python3 -c 'print(hex(hash(bytes(range(9))) & (2**64-1)))'. */
static void test_vectors_13(void **state)
{
	static const struct {
		size_t len;
		uint64_t h;
	} v[] = {
	    {1, 0x68a914128e01e473ULL},  {7, 0x2f098ab0c751325aULL},  {8, 0xead411e67ebe2eeaULL},
	    {9, 0x75927f9d95124362ULL},  {15, 0xf30eb725bb91c9eaULL}, {16, 0x8972188433a5c5b7ULL},
	    {17, 0x4883c49a2c009c1dULL}, {63, 0x385d3e39e5f37359ULL},
	};
	uint8_t msg[64];
	struct rs_siphash_key zero = {0, 0};
	/* www.example.com in wire form, final zero included */
	static const uint8_t name[] = {3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm',
	                               'p', 'l', 'e', 3,   'c', 'o', 'm', 0};

	(void)state;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(rs__siphash13(&zero, msg, v[i].len) == v[i].h);
	assert_true(rs__siphash13(&zero, name, sizeof(name)) == 0x8f7953d3bcaad838ULL);
}

/* Issue 15 finding 11: the hash depends on the key, so a name's bucket cannot be known
 * without it. */
static void test_key_changes_hash(void **state)
{
	static const uint8_t name[] = {3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm',
	                               'p', 'l', 'e', 3,   'c', 'o', 'm', 0};
	struct rs_siphash_key k1 = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
	struct rs_siphash_key k2 = k1;

	(void)state;
	k2.k1 ^= 1; /* one bit of key */
	assert_true(rs__siphash13(&k1, name, sizeof(name)) !=
	            rs__siphash13(&k2, name, sizeof(name)));
	assert_true(rs__siphash13(&k1, name, sizeof(name)) ==
	            rs__siphash13(&k1, name, sizeof(name)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_vectors_24),
	    cmocka_unit_test(test_vectors_13),
	    cmocka_unit_test(test_key_changes_hash),
	};

	return cmocka_run_group_tests_name("rs_siphash", tests, NULL, NULL);
}
