/*
 * Keys and the signed envelope. The envelope is DSSE (in-toto's Dead Simple Signing Envelope):
 * the manifest travels as base64 inside a small JSON object, and each Ed25519 signature covers
 * the pre-authentication encoding of the payload type and the exact payload bytes. Only the
 * envelope is parsed before a signature verifies; the manifest itself is parsed afterwards.
 */
#include "sy_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sy__hex_decode(const char *text, size_t tlen, uint8_t *out, size_t outlen)
{
	if (tlen != 2 * outlen)
		return SY_EFORMAT;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval((unsigned char)text[2 * i]),
		    lo = hexval((unsigned char)text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SY_EFORMAT;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void sy__hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

long sy__b64_decode(const char *text, size_t tlen, uint8_t *out, size_t outlen)
{
	size_t pad = 0;
	int n;

	if (tlen == 0 || tlen % 4 != 0 || outlen < tlen / 4 * 3 || tlen > (size_t)0x7ffffff0)
		return SY_EFORMAT;
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)text[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		          (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		          (c == '=' && i >= tlen - 2);
		if (!ok || (pad && c != '='))
			return SY_EFORMAT;
		pad += c == '=';
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)tlen);
	if (n < 0)
		return SY_EFORMAT;
	return (long)n - (long)pad;
}

int sy_key_decode(const char *text, uint8_t key[SY_KEY_LEN])
{
	size_t len = strlen(text);
	uint8_t buf[48];

	if (len == 2 * SY_KEY_LEN)
		return sy__hex_decode(text, len, key, SY_KEY_LEN);
	if (len != 44 || sy__b64_decode(text, len, buf, sizeof(buf)) != SY_KEY_LEN)
		return SY_EFORMAT;
	memcpy(key, buf, SY_KEY_LEN);
	return 0;
}

void sy_key_id(const uint8_t key[SY_KEY_LEN], char out[17])
{
	uint8_t md[SY_SHA256_LEN];

	EVP_Digest(key, SY_KEY_LEN, md, NULL, EVP_sha256(), NULL);
	sy__hex_encode(md, 8, out);
}

long sy_pae(const char *type, const char *body, size_t blen, uint8_t *out, size_t outlen)
{
	size_t tlen = strlen(type);
	int h = snprintf((char *)out, outlen, "DSSEv1 %zu %s %zu ", tlen, type, blen);

	if (h < 0 || (size_t)h >= outlen || outlen - (size_t)h < blen)
		return -1;
	memcpy(out + h, body, blen);
	return (long)((size_t)h + blen);
}

int sy__ed25519_verify(const uint8_t key[SY_KEY_LEN], const uint8_t *msg, size_t len,
                       const uint8_t sig[64])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, SY_KEY_LEN);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
	         EVP_DigestVerify(md, sig, 64, msg, len) == 1;

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return ok ? 0 : SY_ESIG;
}

/* Check one signature entry against the pinned keys. Returns 0 (verified), SY_ESIG (a pinned
 * key's id but a bad signature), 1 (no pinned key has this id) or SY_EFORMAT. */
static int check_sig(const cJSON *s, const uint8_t (*keys)[SY_KEY_LEN], int nkeys,
                     const uint8_t *pae, size_t plen, int *which)
{
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(s, "keyid");
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(s, "sig");
	uint8_t raw[66];
	char id[17];
	int rc = 1;

	if (!cJSON_IsString(kid) || !cJSON_IsString(sig) ||
	    sy__b64_decode(sig->valuestring, strlen(sig->valuestring), raw, sizeof(raw)) != 64)
		return SY_EFORMAT;
	for (int i = 0; i < nkeys; i++) {
		sy_key_id(keys[i], id);
		if (strcmp(id, kid->valuestring) != 0)
			continue;
		if (sy__ed25519_verify(keys[i], pae, plen, raw) == 0) {
			*which = i;
			return 0;
		}
		rc = SY_ESIG;
	}
	return rc;
}

/* Decode the payload and verify the signatures. `*out` receives the payload on success. */
static int open_parsed(const char *want, const cJSON *env, const uint8_t (*keys)[SY_KEY_LEN],
                       int nkeys, char **out, size_t *olen, int *signer)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(env, "payloadType");
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(env, "payload");
	const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(env, "signatures"), *s;
	uint8_t *body = NULL, *pae = NULL;
	long blen, plen;
	size_t tl;
	int rc = SY_EFORMAT, found = 1;

	if (!cJSON_IsString(type) || strcmp(type->valuestring, want) != 0 || !cJSON_IsString(pl) ||
	    !cJSON_IsArray(sigs) || cJSON_GetArraySize(sigs) < 1 ||
	    cJSON_GetArraySize(sigs) > SY_SIGS_MAX)
		return SY_EFORMAT;
	tl = strlen(pl->valuestring);
	body = malloc(tl / 4 * 3 + 1);
	pae = malloc(tl / 4 * 3 + 128);
	rc = -ENOMEM;
	if (!body || !pae)
		goto out;
	rc = SY_EFORMAT;
	if ((blen = sy__b64_decode(pl->valuestring, tl, body, tl / 4 * 3 + 1)) <= 0)
		goto out;
	plen = sy_pae(want, (const char *)body, (size_t)blen, pae, tl / 4 * 3 + 128);
	if (plen < 0)
		goto out;
	cJSON_ArrayForEach(s, sigs)
	{
		int r = check_sig(s, keys, nkeys, pae, (size_t)plen, signer);
		if (r == 0 || r == SY_EFORMAT) {
			found = r;
			break;
		}
		found = found == SY_ESIG ? SY_ESIG : r;
	}
	rc = found == 0 ? 0 : found == SY_EFORMAT ? SY_EFORMAT : SY_ESIG;
	if (rc == 0) {
		body[blen] = '\0';
		*out = (char *)body;
		*olen = (size_t)blen;
		body = NULL;
	}
out:
	free(body);
	free(pae);
	return rc;
}

cJSON *sy__json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	if (!j)
		return NULL;
	while (end && end < text + len &&
	       (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	if (end != text + len) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int sy_envelope_open_type(const char *type, const uint8_t *data, size_t len,
                          const uint8_t (*keys)[SY_KEY_LEN], int nkeys, char **payload,
                          size_t *plen)
{
	return sy_envelope_open_signer(type, data, len, keys, nkeys, payload, plen, NULL);
}

int sy_envelope_open_signer(const char *type, const uint8_t *data, size_t len,
                            const uint8_t (*keys)[SY_KEY_LEN], int nkeys, char **payload,
                            size_t *plen, int *signer)
{
	cJSON *env;
	int rc, which = -1;

	if (len > SY_MANIFEST_MAX)
		return SY_ETOOBIG;
	env = sy__json_parse((const char *)data, len);
	if (!env)
		return SY_EFORMAT;
	rc = cJSON_IsObject(env) ? open_parsed(type, env, keys, nkeys, payload, plen, &which)
	                         : SY_EFORMAT;
	cJSON_Delete(env);
	if (rc == 0 && signer)
		*signer = which;
	return rc;
}

int sy_envelope_open(const uint8_t *data, size_t len, const uint8_t (*keys)[SY_KEY_LEN], int nkeys,
                     char **payload, size_t *plen)
{
	return sy_envelope_open_type(SY_PAYLOAD_TYPE, data, len, keys, nkeys, payload, plen);
}

int sy_parse_keys(const char *text, struct sy_options *o, char *err, size_t errlen)
{
	char buf[1200], *items[9];
	uint8_t k[SY_KEY_LEN];
	int n;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, errlen, "public_keys: too long");
		return -1;
	}
	memcpy(buf, text, strlen(text) + 1);
	n = kg_split_list(buf, items, 8);
	if (n <= 0) {
		snprintf(err, errlen, "public_keys: %s", n == 0 ? "empty" : "more than 8 keys");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (strlen(items[i]) >= sizeof(o->public_keys[0]) ||
		    sy_key_decode(items[i], k) != 0) {
			snprintf(err, errlen,
			         "public_keys: '%.80s' is not an Ed25519 public key (44 base64 "
			         "characters or 64 hex digits, as kidguard-feed keygen prints)",
			         items[i]);
			return -1;
		}
	}
	for (int i = 0; i < n; i++)
		memcpy(o->public_keys[i], items[i], strlen(items[i]) + 1);
	o->n_public_keys = n;
	return 0;
}

static bool key_in(const uint8_t *k, const uint8_t (*set)[SY_KEY_LEN], int n)
{
	for (int i = 0; i < n; i++) {
		if (memcmp(set[i], k, SY_KEY_LEN) == 0)
			return true;
	}
	return false;
}

/* Whether announcement-based trust has dropped `k`: it announced a successor (other than
 * itself) whose date lies at least `grace` seconds in the past. */
static bool key_dropped(const uint8_t *k, const struct bl_feed_key *ann, int nann, uint64_t now,
                        uint64_t grace)
{
	for (int i = 0; i < nann; i++) {
		if (memcmp(ann[i].announcer, k, SY_KEY_LEN) == 0 &&
		    memcmp(ann[i].key, k, SY_KEY_LEN) != 0 && ann[i].from + grace <= now)
			return true;
	}
	return false;
}

int sy_trusted_keys(const uint8_t (*cfg)[SY_KEY_LEN], int ncfg, const struct bl_feed_key *ann,
                    int nann, uint64_t now, uint64_t grace, uint8_t (*out)[SY_KEY_LEN], int max)
{
	int n = 0;

	for (int i = 0; i < ncfg + nann && n < max; i++) {
		const uint8_t *k = i < ncfg ? cfg[i] : ann[i - ncfg].key;
		if (i >= ncfg && ann[i - ncfg].from > now)
			continue; /* announced, not yet its date */
		if (key_dropped(k, ann, nann, now, grace) ||
		    key_in(k, (const uint8_t(*)[SY_KEY_LEN])out, n))
			continue;
		memcpy(out[n++], k, SY_KEY_LEN);
	}
	return n;
}
