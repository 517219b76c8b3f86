/* Unit tests: the feed format of the sync module (sync/sy_sig.c, sy_manifest.c, sy_line.c,
 * sy_file.c): keys, the signed envelope, the strict manifest and line parsers, and the file
 * walker's size, count and truncation checks. Keys and signatures are made here with OpenSSL. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "bl.h"
#include "sy.h"

static const char *MANIFEST =
    "{\"format\":1,\"feed\":\"national\",\"version\":7,\"created\":1000,\"expires\":2000,"
    "\"report\":\"mailto:a@b\",\"hash_key\":"
    "\"0001020304050607080900010203040506070809000102030405060708090001\","
    "\"categories\":[{\"name\":\"adult\",\"description\":\"x\",\"confidential\":false},"
    "{\"name\":\"csam\",\"description\":\"\",\"confidential\":true}],"
    "\"snapshot\":{\"url\":\"snapshot-7.jsonl.gz\",\"size\":10,\"raw_size\":20,\"entries\":1,"
    "\"sha256\":\"00000000000000000000000000000000000000000000000000000000000000ff\"},"
    "\"deltas\":[{\"from\":6,\"url\":\"d/delta-6-7.jsonl.gz\",\"size\":1,\"raw_size\":2,"
    "\"entries\":0,\"sha256\":"
    "\"00000000000000000000000000000000000000000000000000000000000000ff\"}]}";

static EVP_PKEY *keygen(uint8_t pub[SY_KEY_LEN])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	size_t n = SY_KEY_LEN;

	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &n), 1);
	return k;
}

/* A DSSE envelope of `payload` signed by `k`, with key id `id`. */
static char *envelope(EVP_PKEY *k, const char *id, const char *payload)
{
	static uint8_t pae[8192];
	static char b64p[8192], out[12000];
	uint8_t sig[64];
	char b64s[100];
	size_t slen = 64;
	long n = sy_pae(SY_PAYLOAD_TYPE, payload, strlen(payload), pae, sizeof(pae));
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_true(n > 0);
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &slen, pae, (size_t)n), 1);
	EVP_MD_CTX_free(md);
	EVP_EncodeBlock((unsigned char *)b64s, sig, 64);
	EVP_EncodeBlock((unsigned char *)b64p, (const unsigned char *)payload,
	                (int)strlen(payload));
	snprintf(out, sizeof(out),
	         "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[{\"keyid\":\"%s\","
	         "\"sig\":\"%s\"}]}",
	         SY_PAYLOAD_TYPE, b64p, id, b64s);
	return out;
}

static void test_keys(void **state)
{
	uint8_t k[SY_KEY_LEN];
	struct sy_options o;
	char err[200];

	memset(&o, 0, sizeof(o));
	assert_int_equal(sy_key_decode("zoJOSG8kZueMdR4vj+K23tAJDyj/N/ha+H5B3I3GiIk=", k), 0);
	assert_int_equal(
	    sy_key_decode("ce824e486f2466e78c751e2f8fe2b6ded0090f28ff37f85af87e41dc8dc68889", k),
	    0);
	assert_int_equal(k[0], 0xce);
	assert_int_equal(sy_key_decode("zoJOSG8kZueMdR4vj+K23tAJDyj/N/ha+H5B3I3GiI==", k),
	                 SY_EFORMAT);
	assert_int_equal(sy_key_decode("short", k), SY_EFORMAT);
	assert_int_equal(
	    sy_parse_keys("zoJOSG8kZueMdR4vj+K23tAJDyj/N/ha+H5B3I3GiIk=, "
	                  "ce824e486f2466e78c751e2f8fe2b6ded0090f28ff37f85af87e41dc8dc68889",
	                  &o, err, sizeof(err)),
	    0);
	assert_int_equal(o.n_public_keys, 2);
	assert_int_equal(sy_parse_keys("nope", &o, err, sizeof(err)), -1);
	assert_int_equal(o.n_public_keys, 2); /* untouched on failure */
}

static void test_envelope(void **state)
{
	uint8_t pub[2][SY_KEY_LEN];
	EVP_PKEY *k1 = keygen(pub[0]), *k2 = keygen(pub[1]);
	char id1[17], id2[17], *env, *payload;
	size_t plen;

	sy_key_id(pub[0], id1);
	sy_key_id(pub[1], id2);
	env = envelope(k1, id1, MANIFEST);
	assert_int_equal(sy_envelope_open((uint8_t *)env, strlen(env), pub, 2, &payload, &plen), 0);
	assert_int_equal(plen, strlen(MANIFEST));
	assert_string_equal(payload, MANIFEST);
	free(payload);
	/* only the second key pinned: unknown signer */
	assert_int_equal(sy_envelope_open((uint8_t *)env, strlen(env), &pub[1], 1, &payload, &plen),
	                 SY_ESIG);
	/* a signature under the right key id made by another key */
	env = envelope(k2, id1, MANIFEST);
	assert_int_equal(sy_envelope_open((uint8_t *)env, strlen(env), pub, 1, &payload, &plen),
	                 SY_ESIG);
	assert_int_equal(sy_envelope_open((uint8_t *)"{}", 2, pub, 2, &payload, &plen), SY_EFORMAT);
	assert_int_equal(sy_envelope_open((uint8_t *)"{\"a\":1} x", 9, pub, 2, &payload, &plen),
	                 SY_EFORMAT);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void test_manifest(void **state)
{
	static struct sy_manifest m;
	char err[200], bad[4096];

	assert_int_equal(sy_manifest_parse(MANIFEST, strlen(MANIFEST), &m, err, sizeof(err)), 0);
	assert_int_equal(m.version, 7);
	assert_int_equal(m.n_categories, 2);
	assert_true(m.categories[1].confidential);
	assert_false(m.categories[1].mandatory);
	assert_false(m.categories[1].child_allow);
	assert_int_equal(m.n_deltas, 1);
	assert_int_equal(m.deltas[0].from, 6);
	assert_int_equal(m.snapshot.sha256[31], 0xff);
	assert_string_equal(m.deltas[0].url, "d/delta-6-7.jsonl.gz");
	const char *subst[][2] = {
	    {"\"version\":7", "\"version\":0"},
	    {"\"version\":7", "\"version\":7.5"},
	    {"\"expires\":2000", "\"expires\":500"},
	    {"snapshot-7.jsonl.gz", "../etc/passwd"},
	    {"snapshot-7.jsonl.gz", "https://x/y"},
	    {"\"format\":1", "\"format\":2"},
	    {"\"feed\":", "\"unknown\":1,\"feed\":"},
	    {"\"from\":6", "\"from\":7"},
	    {"\"name\":\"csam\"", "\"name\":\"adult\""},
	    {"\"name\":\"csam\"", "\"name\":\"A B\""},
	    {"\"confidential\":true", "\"confidential\":true,\"mandatory\":1"},
	    {"\"confidential\":true", "\"confidential\":true,\"child_default\":\"maybe\""},
	    {"\"confidential\":true", "\"confidential\":true,\"child_safe\":\"yes\""},
	};
	for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
		const char *p = strstr(MANIFEST, subst[i][0]);
		assert_non_null(p);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(p - MANIFEST), MANIFEST, subst[i][1],
		         p + strlen(subst[i][0]));
		assert_int_equal(sy_manifest_parse(bad, strlen(bad), &m, err, sizeof(err)),
		                 SY_EFORMAT);
	}
}

/* Issue 15, finding 12: the signed timestamp, its parser and the checks that keep a replayed
 * or foreign timestamp from making a frozen feed look fresh. */
static void test_timestamp(void **state)
{
	static const char *TS =
	    "{\"format\":1,\"feed\":\"national\",\"version\":7,"
	    "\"manifest_sha256\":"
	    "\"00000000000000000000000000000000000000000000000000000000000000ab\","
	    "\"signed\":5000,\"expires\":5600}";
	static struct sy_manifest m;
	struct sy_timestamp ts, t2;
	uint8_t sha[SY_SHA256_LEN] = {0}, pub[SY_KEY_LEN];
	char err[300], bad[1024], with_ttl[4096], *payload = NULL;
	size_t plen = 0;
	EVP_PKEY *k = keygen(pub);
	char id[17], *env;

	/* timestamp_ttl: optional in the manifest, 1..31 days when present */
	assert_int_equal(sy_manifest_parse(MANIFEST, strlen(MANIFEST), &m, err, sizeof(err)), 0);
	assert_int_equal(m.timestamp_ttl, 0);
	snprintf(with_ttl, sizeof(with_ttl), "%.*s,\"timestamp_ttl\":0}", (int)strlen(MANIFEST) - 1,
	         MANIFEST);
	assert_int_equal(sy_manifest_parse(with_ttl, strlen(with_ttl), &m, err, sizeof(err)),
	                 SY_EFORMAT);
	snprintf(with_ttl, sizeof(with_ttl), "%.*s,\"timestamp_ttl\":2678401}",
	         (int)strlen(MANIFEST) - 1, MANIFEST);
	assert_int_equal(sy_manifest_parse(with_ttl, strlen(with_ttl), &m, err, sizeof(err)),
	                 SY_EFORMAT);
	snprintf(with_ttl, sizeof(with_ttl), "%.*s,\"timestamp_ttl\":600}",
	         (int)strlen(MANIFEST) - 1, MANIFEST);
	assert_int_equal(sy_manifest_parse(with_ttl, strlen(with_ttl), &m, err, sizeof(err)), 0);
	assert_int_equal(m.timestamp_ttl, 600);

	assert_int_equal(sy_timestamp_parse(TS, strlen(TS), &ts, err, sizeof(err)), 0);
	assert_int_equal(ts.version, 7);
	assert_int_equal(ts.signed_at, 5000);
	assert_int_equal(ts.expires, 5600);
	sha[31] = 0xab;
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 0, 5001, err, sizeof(err)), 0);
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 5000, 5599, err, sizeof(err)), 0);
	/* replay of an older one, expiry, another manifest, a validity over the ttl */
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 5001, 5001, err, sizeof(err)), SY_ESTALE);
	assert_non_null(strstr(err, "replay refused"));
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 0, 5600, err, sizeof(err)), SY_ESTALE);
	t2 = ts;
	t2.version = 8;
	assert_int_equal(sy_timestamp_check(&m, sha, &t2, 0, 5001, err, sizeof(err)), SY_ESTALE);
	t2 = ts;
	snprintf(t2.feed, sizeof(t2.feed), "other");
	assert_int_equal(sy_timestamp_check(&m, sha, &t2, 0, 5001, err, sizeof(err)), SY_ESTALE);
	sha[0] = 1;
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 0, 5001, err, sizeof(err)), SY_ESTALE);
	sha[0] = 0;
	t2 = ts;
	t2.expires = 5601;
	assert_int_equal(sy_timestamp_check(&m, sha, &t2, 0, 5001, err, sizeof(err)), SY_ESTALE);
	m.timestamp_ttl = 0;
	assert_int_equal(sy_timestamp_check(&m, sha, &ts, 0, 5001, err, sizeof(err)), SY_ESTALE);

	const char *subst[][2] = {
	    {"\"format\":1", "\"format\":2"},
	    {"\"version\":7", "\"version\":0"},
	    {"\"signed\":5000", "\"signed\":5600"},
	    {"\"feed\":\"national\"", "\"feed\":\"\""},
	    {"ab\"", "a\""},
	    {"\"feed\":", "\"x\":1,\"feed\":"},
	    {"\"signed\":5000", "\"signed\":-1"},
	};
	for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
		const char *p = strstr(TS, subst[i][0]);
		assert_non_null(p);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(p - TS), TS, subst[i][1],
		         p + strlen(subst[i][0]));
		assert_int_equal(sy_timestamp_parse(bad, strlen(bad), &ts, err, sizeof(err)),
		                 SY_EFORMAT);
	}
	/* a signed manifest is not a signed timestamp: the payload type is part of what is
	 * signed, and the envelope must carry the type asked for */
	sy_key_id(pub, id);
	env = envelope(k, id, TS);
	assert_int_equal(sy_envelope_open_type(SY_TIMESTAMP_TYPE, (const uint8_t *)env, strlen(env),
	                                       (const uint8_t(*)[SY_KEY_LEN])pub, 1, &payload,
	                                       &plen),
	                 SY_EFORMAT);
	assert_null(payload);
	EVP_PKEY_free(k);
}

/* Issue 15, finding 15: the publisher's category policy in the signed manifest. */
static void test_manifest_category_policy(void **state)
{
	static struct sy_manifest m;
	char err[200], text[4096];
	const char *p = strstr(MANIFEST, "\"confidential\":true");

	snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - MANIFEST), MANIFEST,
	         "\"confidential\":true,\"mandatory\":true,\"child_default\":\"allow\","
	         "\"child_safe\":true",
	         p + strlen("\"confidential\":true"));
	assert_int_equal(sy_manifest_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	assert_true(m.categories[1].mandatory);
	assert_true(m.categories[1].child_allow);
	assert_true(m.categories[1].child_safe);
	assert_false(m.categories[0].mandatory);
	assert_false(m.categories[0].child_safe);
}

static int line(const struct sy_manifest *m, bool delta, const char *s, struct sy_line *l)
{
	return sy_line_parse(m, delta, s, strlen(s), l);
}

static void test_lines(void **state)
{
	static struct sy_manifest m;
	struct sy_line l;
	char err[200];

	assert_int_equal(sy_manifest_parse(MANIFEST, strlen(MANIFEST), &m, err, sizeof(err)), 0);
	assert_int_equal(
	    line(&m, false, "{\"name\":\"a.example\",\"subtree\":true,\"cats\":[\"adult\"]}", &l),
	    0);
	assert_string_equal(l.name, "a.example");
	assert_int_equal(l.flags, BL_F_SUBTREE);
	assert_int_equal(l.cat_index, 1);
	assert_int_equal(line(&m, false,
	                      "{\"hash\":\"000102030405060708090a0b0c0d0e0f\",\"labels\":2,"
	                      "\"subtree\":false,\"cats\":[\"csam\",\"adult\"]}",
	                      &l),
	                 0);
	assert_true(l.hashed);
	assert_int_equal(l.hash[15], 15);
	assert_int_equal(l.cat_index, 3);
	assert_int_equal(
	    line(&m, true, "{\"op\":\"del\",\"name\":\"a.example\",\"subtree\":true}", &l), 0);
	assert_int_equal(l.op, SY_OP_DEL);
	assert_int_equal(
	    line(&m, false, "{\"name\":\"a.example\",\"subtree\":true,\"allow\":true}", &l), 0);
	assert_int_equal(l.flags, BL_F_SUBTREE | BL_F_ALLOW);
	const char *bad[] = {
	    "{\"name\":\"A.example\",\"subtree\":true,\"cats\":[\"adult\"]}", /* not normalised */
	    "{\"name\":\"a.example\",\"subtree\":true,\"cats\":[\"nope\"]}",  /* unknown category */
	    "{\"name\":\"a.example\",\"subtree\":true}", /* deny without cats */
	    "{\"name\":\"a.example\",\"subtree\":1,\"cats\":[\"adult\"]}",
	    "{\"name\":\"a.example\",\"subtree\":true,\"cats\":[\"adult\"],\"x\":1}",
	    "{\"op\":\"del\",\"name\":\"a.example\",\"subtree\":true}", /* del in a snapshot */
	    "{\"name\":\"a.example\",\"subtree\":true,\"cats\":[\"adult\"]} {}",
	    "{\"hash\":\"0001\",\"labels\":2,\"subtree\":false,\"cats\":[\"csam\"]}",
	    "{\"name\":\"a..example\",\"subtree\":true,\"cats\":[\"adult\"]}",
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(line(&m, false, bad[i], &l), SY_EFORMAT);
}

static size_t gzip_buf(const char *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
	                 Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

static int count(void *arg, const struct sy_line *l)
{
	(*(int *)arg)++;
	return 0;
}

static void test_file_lines(void **state)
{
	static struct sy_manifest m;
	const char *text = "{\"name\":\"a.example\",\"subtree\":true,\"cats\":[\"adult\"]}\n"
	                   "{\"name\":\"b.example\",\"subtree\":false,\"cats\":[\"adult\"]}\n";
	uint8_t gz[512];
	struct sy_file f;
	char err[200];
	int n = 0;
	size_t len = gzip_buf(text, strlen(text), gz, sizeof(gz));

	assert_int_equal(sy_manifest_parse(MANIFEST, strlen(MANIFEST), &m, err, sizeof(err)), 0);
	memset(&f, 0, sizeof(f));
	f.size = len;
	f.raw_size = strlen(text);
	f.entries = 2;
	assert_int_equal(sy_file_lines(&m, &f, false, gz, len, 1 << 20, count, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sy_file_lines(&m, &f, false, gz, len - 4, 1 << 20, count, &n), SY_EFORMAT);
	assert_int_equal(sy_file_lines(&m, &f, false, gz, len, 10, count, &n), SY_ETOOBIG);
	f.entries = 3;
	assert_int_equal(sy_file_lines(&m, &f, false, gz, len, 1 << 20, count, &n), SY_EFORMAT);
	f.entries = 2;
	f.raw_size--;
	assert_int_equal(sy_file_lines(&m, &f, false, gz, len, 1 << 20, count, &n), SY_EFORMAT);
	f.raw_size++;
	assert_int_equal(sy_file_check(&f, gz, len), SY_EHASH); /* sha256 of zeros */
	EVP_Digest(gz, len, f.sha256, NULL, EVP_sha256(), NULL);
	assert_int_equal(sy_file_check(&f, gz, len), 0);
	assert_int_equal(sy_file_check(&f, gz, len - 1), SY_EHASH);
}

/* signal_url: optional, https:// only, kept for the store's meta "signal" */
static void test_manifest_signal_url(void **state)
{
	static struct sy_manifest m;
	static char buf[4096];
	char err[300];

	(void)state;
	assert_int_equal(sy_manifest_parse(MANIFEST, strlen(MANIFEST), &m, err, sizeof(err)), 0);
	assert_string_equal(m.signal_url, "");
	snprintf(buf, sizeof(buf), "%.*s,\"signal_url\":\"https://desk.example/signal\"}",
	         (int)strlen(MANIFEST) - 1, MANIFEST);
	assert_int_equal(sy_manifest_parse(buf, strlen(buf), &m, err, sizeof(err)), 0);
	assert_string_equal(m.signal_url, "https://desk.example/signal");
	snprintf(buf, sizeof(buf), "%.*s,\"signal_url\":\"http://desk.example/signal\"}",
	         (int)strlen(MANIFEST) - 1, MANIFEST);
	assert_int_equal(sy_manifest_parse(buf, strlen(buf), &m, err, sizeof(err)), SY_EFORMAT);
	assert_non_null(strstr(err, "signal_url"));
	snprintf(buf, sizeof(buf), "%.*s,\"signal_url\":7}", (int)strlen(MANIFEST) - 1, MANIFEST);
	assert_int_equal(sy_manifest_parse(buf, strlen(buf), &m, err, sizeof(err)), SY_EFORMAT);
}

/* Issue 19: key rollover in band. "next_keys" parses strictly; the trusted set is the pinned
 * keys plus announced keys from their date, less an announcing key key_grace after it. */
#define KEY_B64 "PUAXwwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static void test_next_keys(void **state)
{
	static struct sy_manifest m;
	static const char nk[] = ",\"next_keys\":[{\"key\":\"" KEY_B64 "\",\"from\":5000}]}";
	char err[200], text[4096];
	const char *end = strrchr(MANIFEST, '}');
	uint8_t pinned[1][SY_KEY_LEN] = {{1}}, out[16][SY_KEY_LEN];
	struct bl_feed_key ann[1];

	(void)state;
	snprintf(text, sizeof(text), "%.*s%s", (int)(end - MANIFEST), MANIFEST, nk);
	assert_int_equal(sy_manifest_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	assert_int_equal(m.n_next_keys, 1);
	assert_int_equal(m.next_keys[0].from, 5000);
	snprintf(text, sizeof(text), "%.*s%s", (int)(end - MANIFEST), MANIFEST,
	         ",\"next_keys\":[{\"key\":\"x\",\"from\":1}]}");
	assert_int_equal(sy_manifest_parse(text, strlen(text), &m, err, sizeof(err)), SY_EFORMAT);
	snprintf(text, sizeof(text), "%.*s%s", (int)(end - MANIFEST), MANIFEST,
	         ",\"next_keys\":[]}");
	assert_int_equal(sy_manifest_parse(text, strlen(text), &m, err, sizeof(err)), SY_EFORMAT);

	memset(ann, 0, sizeof(ann));
	ann[0].key[0] = 2;       /* the successor */
	ann[0].announcer[0] = 1; /* announced by the pinned key */
	ann[0].from = 5000;
	/* before its date: the pinned key only */
	assert_int_equal(
	    sy_trusted_keys((const uint8_t(*)[SY_KEY_LEN])pinned, 1, ann, 1, 4999, 100, out, 16),
	    1);
	assert_int_equal(out[0][0], 1);
	/* from its date, within the grace period: both */
	assert_int_equal(
	    sy_trusted_keys((const uint8_t(*)[SY_KEY_LEN])pinned, 1, ann, 1, 5000, 100, out, 16),
	    2);
	assert_int_equal(
	    sy_trusted_keys((const uint8_t(*)[SY_KEY_LEN])pinned, 1, ann, 1, 5099, 100, out, 16),
	    2);
	/* after it: the successor only, though the config still pins the old key */
	assert_int_equal(
	    sy_trusted_keys((const uint8_t(*)[SY_KEY_LEN])pinned, 1, ann, 1, 5100, 100, out, 16),
	    1);
	assert_int_equal(out[0][0], 2);
}

static int count_raw(void *arg, const char *line, size_t len)
{
	(*(int *)arg)++;
	return len > 0 ? 0 : SY_EFORMAT;
}

/* A device hash as "device" lines carry it: 64 lowercase hex digits. */
#define HX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int test_cat_find(void *arg, const char *name, int *bit)
{
	(void)arg;
	return bl_category_find(NULL, name, bit);
}

static int count_rule(void *arg, const char *name, unsigned flags)
{
	(*(int *)arg) += (flags & BL_F_ALLOW) ? 1 : 100;
	return strchr(name, '*') ? -1 : 0;
}

/* A household's JSON: PUT /api/profiles' keys and its rules, the whole record, unknown keys,
 * categories and presets refused naming them. */
static void test_household_decode(void **state)
{
	const char *ok =
	    "{\"template\":\"kids\",\"preset\":\"13to15\",\"block_add\":[\"gambling\"],"
	    "\"bedtime\":{\"start\":\"21:00\",\"end\":\"06:30\"},"
	    "\"allow\":[\"Roblox.COM\"],\"deny\":[\"tiktok.com\"]}";
	struct bl_profile_rec *rec = calloc(1, sizeof(*rec));
	char err[200];
	int n = 0;

	(void)state;
	assert_int_equal(
	    sy_household_decode(ok, strlen(ok), test_cat_find, NULL, rec, err, sizeof(err)), 0);
	assert_string_equal(rec->tmpl, "kids");
	assert_string_equal(rec->preset, "13to15");
	assert_true(rec->set & BL_PF_TEMPLATE && rec->set & BL_PF_PRESET &&
	            rec->set & BL_PF_BLOCK && rec->set & BL_PF_SCHEDULES);
	assert_false(rec->set & BL_PF_FLEET);
	assert_int_equal(rec->n_sched, 1);
	assert_true(rec->sched[0].bedtime);
	assert_int_equal(rec->sched[0].start, 21 * 60);
	assert_true(rec->block_add != 0);
	assert_int_equal(sy_household_rules(ok, strlen(ok), count_rule, &n), 0);
	assert_int_equal(n, 101); /* one allow, one deny */
	assert_int_equal(sy_household_decode("{\"bedtime\":null}", 16, test_cat_find, NULL, rec,
	                                     err, sizeof(err)),
	                 0);
	assert_int_equal(rec->n_sched, 0);
	assert_true(rec->set & BL_PF_SCHEDULES);
	/* windows as PUT /api/profiles takes them, with the bedtime: both kept, nothing else */
	const char *wins = "{\"schedules\":[{\"days\":[\"sat\",\"sun\"],\"start\":\"08:00\","
	                   "\"end\":\"10:00\",\"block\":[\"gambling\"]}],"
	                   "\"bedtime\":{\"start\":\"21:00\",\"end\":\"06:30\"}}";
	assert_int_equal(
	    sy_household_decode(wins, strlen(wins), test_cat_find, NULL, rec, err, sizeof(err)), 0);
	assert_int_equal(rec->n_sched, 2);
	assert_false(rec->sched[0].bedtime);
	assert_int_equal(rec->sched[0].start, 8 * 60);
	assert_true(rec->sched[0].extra_block != 0);
	assert_true(rec->sched[1].bedtime);
	assert_int_equal(rec->sched[1].start, 21 * 60);
	static const struct {
		const char *json, *why;
	} bad[] = {
	    {"{\"colour\":\"red\"}", "unknown key colour"},
	    {"{\"block_add\":[\"casinos\"]}", "unknown category casinos"},
	    {"{\"preset\":\"teen\"}", "unknown preset teen"},
	    {"{\"allow\":\"roblox.com\"}", "allow: expected a list of names"},
	    {"{\"deny\":[\"bad name!\"]}", "deny: bad name"},
	    {"[1]", "expected a JSON object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sy_household_decode(bad[i].json, strlen(bad[i].json),
		                                     test_cat_find, NULL, rec, err, sizeof(err)),
		                 -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].json, err, bad[i].why);
	}
	free(rec);
}

/* The subscriber channel's lines: strict, canonical prefixes, del only in deltas. */
static void test_subs_lines(void **state)
{
	static const struct {
		bool delta;
		const char *line;
		int kind; /* -1: refused */
		const char *name;
	} cases[] = {
	    {false, "client 10.0.0.0/8 kids", SY_SUBS_CLIENT, "kids"},
	    {false, "client 2001:db8::/32 Teen_2.x-y", SY_SUBS_CLIENT, "Teen_2.x-y"},
	    {false, "client ::ffff:10.0.0.0/104 open", SY_SUBS_CLIENT, "open"},
	    {true, "client 192.0.2.7/32 open", SY_SUBS_CLIENT, "open"},
	    {true, "del 192.0.2.7/32", SY_SUBS_DEL, ""},
	    {false, "profile house-1 {\"preset\":\"under9\"}", SY_SUBS_PROFILE, "house-1"},
	    {false, "del 192.0.2.7/32", -1, NULL},           /* del in a snapshot */
	    {false, "client 192.0.2.7 open", -1, NULL},      /* no length: not canonical */
	    {false, "client 10.0.0.1/8 kids", -1, NULL},     /* host bits */
	    {false, "client 2001:DB8::/32 kids", -1, NULL},  /* upper case */
	    {false, "client 2001:0db8::/32 kids", -1, NULL}, /* not compressed */
	    {false, "client 10.0.0.0/8  kids", -1, NULL},    /* two spaces */
	    {false, "client 10.0.0.0/8 kids ", -1, NULL},    /* trailing space */
	    {false, "client 10.0.0.0/8 ki\"ds", -1, NULL},
	    {false, "client 10.0.0.0/8 a2345678901234567890123456789012", -1, NULL}, /* 32 */
	    {false, "client 10.0.0.0/8", -1, NULL},
	    {false, "client 10.0.0.0/8 kids extra", -1, NULL},
	    {true, "del 192.0.2.7/32 open", -1, NULL},
	    {false, "Client 10.0.0.0/8 kids", -1, NULL},
	    {false, "profile house-1 preset", -1, NULL},
	    {false, "profile House-1 {}", -1, NULL}, /* a store name: lower case */
	    {false, "profile house.1 {}", -1, NULL},
	    {true, "delprofile house-1", SY_SUBS_DELPROFILE, "house-1"},
	    {false, "delprofile house-1", -1, NULL}, /* in a snapshot */
	    {true, "delprofile house-1 x", -1, NULL},
	    {false, "device " HX " kids", SY_SUBS_DEVICE, "kids"},
	    {true, "device " HX " house-1", SY_SUBS_DEVICE, "house-1"},
	    {true, "deldevice " HX, SY_SUBS_DELDEVICE, ""},
	    {false, "deldevice " HX, -1, NULL}, /* in a snapshot */
	    {false, "device " HX, -1, NULL},    /* no profile */
	    {false, "device " HX " kids extra", -1, NULL},
	    {false, "device 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde kids",
	     -1, NULL},                               /* 63 digits */
	    {false, "device " HX "0 kids", -1, NULL}, /* 65 digits */
	    {false, "device 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef kids",
	     -1, NULL}, /* upper case */
	    {false, "", -1, NULL},
	};
	struct sy_subs_line l;
	char pfx[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text = cases[i].line;
		int rc = sy_subs_line_parse(cases[i].delta, text, strlen(text), &l);
		if (cases[i].kind < 0) {
			if (rc != SY_EFORMAT)
				fail_msg("accepted: \"%s\"", text);
			continue;
		}
		if (rc != 0)
			fail_msg("refused: \"%s\"", text);
		assert_int_equal(l.kind, cases[i].kind);
		assert_string_equal(l.name, cases[i].name);
	}
	assert_int_equal(sy_subs_line_parse(false, "client 10.1.0.0/16 kids", 23, &l), 0);
	assert_string_equal(bl_prefix_str(&l.prefix, pfx, sizeof(pfx)), "10.1.0.0/16");
	assert_int_equal(sy_subs_line_parse(false, "client 10.1.0.0/16 kids\0x", 25, &l),
	                 SY_EFORMAT);
}

/* sy_file_raw_lines: the same bounds as the feed's files, lines as text. */
static void test_file_raw_lines(void **state)
{
	const char *text = "client 10.0.0.0/8 kids\nclient 10.1.0.0/16 open\n";
	uint8_t gz[512];
	struct sy_file f;
	int n = 0;
	size_t len = gzip_buf(text, strlen(text), gz, sizeof(gz));

	memset(&f, 0, sizeof(f));
	f.size = len;
	f.raw_size = strlen(text);
	f.entries = 2;
	assert_int_equal(sy_file_raw_lines(&f, gz, len, 1 << 20, count_raw, &n), 0);
	assert_int_equal(n, 2);
	f.entries = 1;
	assert_int_equal(sy_file_raw_lines(&f, gz, len, 1 << 20, count_raw, &n), SY_EFORMAT);
	f.entries = 2;
	assert_int_equal(sy_file_raw_lines(&f, gz, len, 10, count_raw, &n), SY_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_household_decode),
	    cmocka_unit_test(test_subs_lines),
	    cmocka_unit_test(test_file_raw_lines),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_manifest),
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_file_lines),
	    cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_manifest_category_policy),
	    cmocka_unit_test(test_manifest_signal_url),
	    cmocka_unit_test(test_next_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
