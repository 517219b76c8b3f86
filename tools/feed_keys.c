/*
 * Publisher keys: Ed25519 private keys in PKCS#8 PEM files (mode 0600), public keys printed
 * as base64 of the 32 raw bytes, and the DSSE envelope the manifest is signed in.
 */
#include "feed.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

static void print_pub(const uint8_t pub[SY_KEY_LEN])
{
	char b64[64], id[17];

	EVP_EncodeBlock((unsigned char *)b64, pub, SY_KEY_LEN);
	sy_key_id(pub, id);
	printf("%s\n", b64);
	fprintf(stderr, "kidguard-feed: key id %s; put the line above in [sync] public_keys\n", id);
}

int feed_keygen(const char *out)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t pub[SY_KEY_LEN];
	size_t plen = sizeof(pub);
	FILE *f = NULL;
	int fd, rc = -1;

	if (!k || EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1)
		goto out;
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", out, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
	    fsync(fd) != 0) {
		fprintf(stderr, "kidguard-feed: cannot write %s\n", out);
		goto out;
	}
	print_pub(pub);
	rc = 0;
out:
	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	return rc;
}

void *feed_key_load(const char *path, uint8_t pub[SY_KEY_LEN])
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	size_t plen = SY_KEY_LEN;

	if (!f) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1) {
		fprintf(stderr, "kidguard-feed: %s: not an Ed25519 private key\n", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

void feed_key_free(void *k)
{
	EVP_PKEY_free(k);
}

static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 8);

	if (s)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static int sign_one(void *key, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t slen = 64;
	int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
	         EVP_DigestSign(md, sig, &slen, msg, len) == 1 && slen == 64;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int add_sigs(cJSON *arr, const uint8_t *pae, size_t plen, void *const *keys,
                    const uint8_t (*pubs)[SY_KEY_LEN], int nkeys)
{
	for (int i = 0; i < nkeys; i++) {
		uint8_t sig[64];
		char id[17], *s;
		cJSON *o = cJSON_CreateObject();
		if (!o || sign_one(keys[i], pae, plen, sig) != 0 || !(s = b64(sig, sizeof(sig)))) {
			cJSON_Delete(o);
			return -1;
		}
		sy_key_id(pubs[i], id);
		cJSON_AddStringToObject(o, "keyid", id);
		cJSON_AddStringToObject(o, "sig", s);
		free(s);
		cJSON_AddItemToArray(arr, o);
	}
	return 0;
}

char *feed_envelope_type(const char *type, const char *payload, size_t plen, void *const *keys,
                         const uint8_t (*pubs)[SY_KEY_LEN], int nkeys)
{
	size_t cap = plen + 256;
	uint8_t *pae = malloc(cap);
	char *pl = b64((const uint8_t *)payload, plen), *out = NULL;
	cJSON *env = cJSON_CreateObject(), *sigs = cJSON_CreateArray();
	long n;

	if (!pae || !pl || !env || !sigs || (n = sy_pae(type, payload, plen, pae, cap)) < 0 ||
	    add_sigs(sigs, pae, (size_t)n, keys, pubs, nkeys) != 0) {
		cJSON_Delete(sigs);
		goto out;
	}
	cJSON_AddStringToObject(env, "payloadType", type);
	cJSON_AddStringToObject(env, "payload", pl);
	cJSON_AddItemToObject(env, "signatures", sigs);
	out = cJSON_Print(env);
out:
	cJSON_Delete(env);
	free(pl);
	free(pae);
	return out;
}
