/*
 * Fuzz target: the signed manifest. Every input goes through sy_envelope_open() (the only
 * parser that sees bytes before a signature verified; with a fixed pinned key nothing random
 * verifies, so it must fail cleanly) and through sy_manifest_parse() (the parser after
 * verification). What the manifest parser accepts must hold its invariants: versions in range,
 * expiry after creation, bounded tables, file URLs that stay below the manifest's directory.
 * The signed timestamp (timestamp.json) goes through the same envelope under its own type and
 * through sy_timestamp_parse(), whose result must hold expires > signed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sy.h"

static bool url_safe(const char *u)
{
	return u[0] && u[0] != '/' && !strstr(u, "..") && !strchr(u, ':');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[1][SY_KEY_LEN] = {{0x3d, 0x40, 0x17, 0xc3}};
	static struct sy_manifest m;
	struct sy_timestamp ts;
	char *payload = NULL, err[200];
	size_t plen = 0;

	FUZZ_CHECK(sy_envelope_open(data, size, key, 1, &payload, &plen) != 0);
	FUZZ_CHECK(payload == NULL);
	FUZZ_CHECK(sy_envelope_open_type(SY_TIMESTAMP_TYPE, data, size, key, 1, &payload, &plen) !=
	           0);
	FUZZ_CHECK(payload == NULL);
	if (sy_timestamp_parse((const char *)data, size, &ts, err, sizeof(err)) == 0)
		FUZZ_CHECK(ts.expires > ts.signed_at && ts.version >= 1 && ts.feed[0]);
	if (sy_manifest_parse((const char *)data, size, &m, err, sizeof(err)) != 0)
		return 0;
	FUZZ_CHECK(m.version >= 1 && m.version <= UINT32_MAX);
	FUZZ_CHECK(m.expires > m.created);
	FUZZ_CHECK(m.n_next_keys >= 0 && m.n_next_keys <= SY_NEXT_KEYS_MAX);
	FUZZ_CHECK(m.n_categories >= 0 && m.n_categories <= SY_CATEGORIES_MAX);
	FUZZ_CHECK(m.n_deltas >= 0 && m.n_deltas <= SY_DELTAS_MAX);
	FUZZ_CHECK(url_safe(m.snapshot.url));
	for (int i = 0; i < m.n_deltas; i++) {
		FUZZ_CHECK(url_safe(m.deltas[i].url));
		FUZZ_CHECK(m.deltas[i].from >= 1 && m.deltas[i].from < m.version);
	}
	FUZZ_CHECK(m.timestamp_ttl <= SY_TIMESTAMP_TTL_MAX);
	/* category_names: what bl_writer_set_category_names stores as it is */
	FUZZ_CHECK(m.n_cat_names >= 0 && m.n_cat_names <= SY_CAT_NAMES_MAX);
	for (int i = 0; i < m.n_cat_names; i++) {
		const struct sy_cat_name *c = &m.cat_names[i];
		size_t ll = strnlen(c->lang, sizeof(c->lang)),
		       tl = strnlen(c->text, sizeof(c->text));
		FUZZ_CHECK(ll >= 2 && ll <= 3 && c->name[0] && tl > 0 && tl < sizeof(c->text));
		for (size_t j = 0; j < tl; j++)
			FUZZ_CHECK((unsigned char)c->text[j] >= 0x20);
	}
	return 0;
}
