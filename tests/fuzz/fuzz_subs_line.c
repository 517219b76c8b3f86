/*
 * Fuzz target: sy_subs_line_parse, every line of the ISP's subscriber table as a node reads it
 * from the network. The first byte chooses snapshot or delta parsing; the rest is the line.
 * Whatever it accepts must be something the store takes and hashes as the same text: a prefix
 * in canonical form (writing it back as a table line gives the input again), a profile name
 * of 1..31 safe characters, `del`, `delprofile` and `deldevice` only in a delta, a household's
 * JSON inside the line (and then through the household decoder, as a node applies it), a
 * device hash of 64 lowercase hex digits (writing the device line back gives the input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "fuzz.h"
#include "sy.h"

static int cat_find(void *arg, const char *name, int *bit)
{
	(void)arg;
	return bl_category_find(NULL, name, bit);
}

/* A household's JSON through the node's decoder: what it accepts is a record the store
 * encodes, and its rules are normalised names. */
static int rule_ok(void *arg, const char *name, unsigned flags)
{
	char norm[BL_NAME_MAX];

	(void)arg;
	FUZZ_CHECK(flags & BL_F_SUBTREE);
	FUZZ_CHECK(bl_name_normalize(name, norm, sizeof(norm)) == 0 && strcmp(norm, name) == 0);
	return 0;
}

static void household(const struct sy_subs_line *l)
{
	static struct bl_profile_rec rec;
	static uint8_t buf[BL_PROFILE_REC_MAX];
	char err[200];

	if (sy_household_decode(l->json, l->json_len, cat_find, NULL, &rec, err, sizeof(err)) != 0)
		return;
	rec.set |= BL_PF_FLEET;
	FUZZ_CHECK(bl_profile_rec_encode(&rec, buf, sizeof(buf)) > 0);
	FUZZ_CHECK(sy_household_rules(l->json, l->json_len, rule_ok, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sy_subs_line l;
	struct bl_prefix p;
	char line[160], pfx[64];
	const char *text = (const char *)data + 1;
	bool delta;
	size_t n;

	if (size < 1)
		return 0;
	delta = data[0] & 1;
	if (sy_subs_line_parse(delta, text, size - 1, &l) != 0)
		return 0;
	switch (l.kind) {
	case SY_SUBS_CLIENT:
		n = bl_clients_line(&l.prefix, l.name, line, sizeof(line));
		FUZZ_CHECK(n == size && memcmp(line, text, n - 1) == 0 && line[n - 1] == '\n');
		break;
	case SY_SUBS_DEL:
		FUZZ_CHECK(delta);
		snprintf(line, sizeof(line), "del %s", bl_prefix_str(&l.prefix, pfx, sizeof(pfx)));
		FUZZ_CHECK(strlen(line) == size - 1 && memcmp(line, text, size - 1) == 0);
		FUZZ_CHECK(bl_prefix_parse(pfx, &p) == 0 && bl_prefix_cmp(&p, &l.prefix) == 0);
		break;
	case SY_SUBS_PROFILE:
		FUZZ_CHECK(l.json >= text && l.json + l.json_len == text + size - 1);
		FUZZ_CHECK(l.json_len >= 2 && l.json[0] == '{' && l.json[l.json_len - 1] == '}');
		FUZZ_CHECK(bl_profile_name_valid(l.name));
		household(&l);
		break;
	case SY_SUBS_DELPROFILE:
		FUZZ_CHECK(delta && bl_profile_name_valid(l.name));
		snprintf(line, sizeof(line), "delprofile %s", l.name);
		FUZZ_CHECK(strlen(line) == size - 1 && memcmp(line, text, size - 1) == 0);
		break;
	case SY_SUBS_DEVICE:
		n = bl_device_line(l.hash, l.name, line, sizeof(line));
		FUZZ_CHECK(n == size && memcmp(line, text, n - 1) == 0 && line[n - 1] == '\n');
		break;
	case SY_SUBS_DELDEVICE:
		FUZZ_CHECK(delta);
		n = bl_device_line(l.hash, "x", line, sizeof(line)); /* "device HEX x\n" */
		FUZZ_CHECK(size - 1 == 10 + 64 && memcmp(text, "deldevice ", 10) == 0 &&
		           memcmp(text + 10, line + 7, 64) == 0);
		break;
	}
	FUZZ_CHECK(l.kind == SY_SUBS_DEL || l.kind == SY_SUBS_DELDEVICE
	               ? l.name[0] == '\0'
	               : strlen(l.name) >= 1 && strlen(l.name) < SY_SUBS_NAME_MAX);
	return 0;
}
