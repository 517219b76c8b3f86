/*
 * Fuzz target: sy_subs_line_parse, every line of the ISP's subscriber table as a node reads it
 * from the network. The first byte chooses snapshot or delta parsing; the rest is the line.
 * Whatever it accepts must be something the store takes and hashes as the same text: a prefix
 * in canonical form (writing it back as a table line gives the input again), a profile name
 * of 1..31 safe characters, `del` only in a delta, a household's JSON inside the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "fuzz.h"
#include "sy.h"

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
		break;
	}
	FUZZ_CHECK(l.kind == SY_SUBS_DEL
	               ? l.name[0] == '\0'
	               : strlen(l.name) >= 1 && strlen(l.name) < SY_SUBS_NAME_MAX);
	return 0;
}
