/*
 * Fuzz target: sy_line_parse, every line of a snapshot or delta. The first byte chooses
 * snapshot or delta parsing; the rest is the line. Whatever it accepts must be something the
 * store can take: a normalised name (normalising it again changes nothing), or a hash with a
 * label count in range; categories only from the manifest; a deny with categories, an allow
 * or a removal without.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "fuzz.h"
#include "sy.h"

static const char MANIFEST[] =
    "{\"format\":1,\"feed\":\"f\",\"version\":2,\"created\":1,\"expires\":2,\"report\":\"\","
    "\"hash_key\":\"0001020304050607080900010203040506070809000102030405060708090001\","
    "\"categories\":[{\"name\":\"adult\",\"description\":\"\",\"confidential\":false},"
    "{\"name\":\"csam\",\"description\":\"\",\"confidential\":true}],"
    "\"snapshot\":{\"url\":\"s\",\"size\":1,\"raw_size\":1,\"entries\":1,\"sha256\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\"},\"deltas\":[]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sy_manifest m;
	static bool ready;
	struct sy_line l;
	char err[128], norm[BL_NAME_MAX];

	if (!ready) {
		FUZZ_CHECK(
		    sy_manifest_parse(MANIFEST, sizeof(MANIFEST) - 1, &m, err, sizeof(err)) == 0);
		ready = true;
	}
	if (size < 1 || sy_line_parse(&m, data[0] & 1, (const char *)data + 1, size - 1, &l) != 0)
		return 0;
	FUZZ_CHECK((l.cat_index >> m.n_categories) == 0);
	FUZZ_CHECK((l.flags & ~(unsigned)(BL_F_SUBTREE | BL_F_ALLOW)) == 0);
	FUZZ_CHECK((l.op == SY_OP_DEL || (l.flags & BL_F_ALLOW)) == (l.cat_index == 0));
	if (l.hashed) {
		FUZZ_CHECK(l.labels >= 1 && l.labels <= 127);
	} else {
		FUZZ_CHECK(bl_name_normalize(l.name, norm, sizeof(norm)) == 0);
		FUZZ_CHECK(strcmp(norm, l.name) == 0);
	}
	return 0;
}
