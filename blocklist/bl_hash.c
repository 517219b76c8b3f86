/*
 * Keyed name hashes for confidential feed entries: HMAC-SHA256 (RFC 2104) truncated to
 * BL_HASH_LEN bytes, over the store key of the name. See bl.h for why HMAC and why 128 bits.
 *
 * The inner and outer digest states (key XOR ipad / opad, one block each) are computed once per
 * key; each hash then copies them and absorbs the message and the inner digest, which is what
 * makes hashing every level of a query cheap enough for the query path.
 */
#include "bl_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SHA256_BLOCK 64
#define SHA256_LEN   32

struct bl__hmac {
	uint8_t key[BL_HASH_KEY_LEN];
	EVP_MD_CTX *inner, *outer, *work;
};

void bl__hmac_free(struct bl__hmac *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->inner);
	EVP_MD_CTX_free(h->outer);
	EVP_MD_CTX_free(h->work);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

static int pad_init(EVP_MD_CTX *ctx, const uint8_t *key, uint8_t pad)
{
	uint8_t block[SHA256_BLOCK];
	int ok;

	memset(block, pad, sizeof(block));
	for (size_t i = 0; i < BL_HASH_KEY_LEN; i++)
		block[i] ^= key[i];
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, block, sizeof(block));
	OPENSSL_cleanse(block, sizeof(block));
	return ok ? 0 : -ENOMEM;
}

struct bl__hmac *bl__hmac_new(const uint8_t key[BL_HASH_KEY_LEN])
{
	struct bl__hmac *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	memcpy(h->key, key, BL_HASH_KEY_LEN);
	h->inner = EVP_MD_CTX_new();
	h->outer = EVP_MD_CTX_new();
	h->work = EVP_MD_CTX_new();
	if (!h->inner || !h->outer || !h->work || pad_init(h->inner, key, 0x36) != 0 ||
	    pad_init(h->outer, key, 0x5c) != 0) {
		bl__hmac_free(h);
		return NULL;
	}
	return h;
}

bool bl__hmac_has_key(const struct bl__hmac *h, const uint8_t key[BL_HASH_KEY_LEN])
{
	return h && memcmp(h->key, key, BL_HASH_KEY_LEN) == 0;
}

int bl__hmac_trunc(struct bl__hmac *h, const uint8_t *data, size_t len, uint8_t out[BL_HASH_LEN])
{
	uint8_t md[SHA256_LEN];
	unsigned mdlen = 0;

	if (!EVP_MD_CTX_copy_ex(h->work, h->inner) || !EVP_DigestUpdate(h->work, data, len) ||
	    !EVP_DigestFinal_ex(h->work, md, &mdlen) || !EVP_MD_CTX_copy_ex(h->work, h->outer) ||
	    !EVP_DigestUpdate(h->work, md, mdlen) || !EVP_DigestFinal_ex(h->work, md, &mdlen))
		return -ENOMEM;
	memcpy(out, md, BL_HASH_LEN);
	return 0;
}

int bl_name_hash(const uint8_t key[BL_HASH_KEY_LEN], const char *name, uint8_t out[BL_HASH_LEN])
{
	uint8_t nk[BL_KEY_MAX];
	int klen = bl_key_from_name(name, nk, sizeof(nk)), rc;
	struct bl__hmac *h;

	if (klen < 0)
		return klen;
	h = bl__hmac_new(key);
	if (!h)
		return -ENOMEM;
	rc = bl__hmac_trunc(h, nk, (size_t)klen, out);
	bl__hmac_free(h);
	return rc;
}
