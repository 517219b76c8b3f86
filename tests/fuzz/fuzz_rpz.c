/*
 * Fuzz target: an RPZ zone file as kidguard-ctl import and kidguard-feed read it, line by line
 * through a struct bl_parser (ldns for the records; $ORIGIN, $TTL, $INCLUDE, parentheses and
 * the zone apex here). fuzz_list_line sees one RPZ line alone; this one sees the state between
 * lines.
 *
 * Every line's result is well formed (a name the store can take, only the flags RPZ gives; a
 * skipped or invalid line says why and gives no names), the end of the file gives no names,
 * and reading is deterministic: a second parser over the same file gives the same results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "fuzz.h"

#define FILE_MAX (64 * 1024) /* enough for many records and a few long lines */

static void check_parsed(const struct bl_parsed *p)
{
	char norm[BL_NAME_MAX];
	uint8_t key[BL_KEY_MAX];

	switch (p->status) {
	case BL_LINE_EMPTY:
		FUZZ_CHECK(p->n == 0 && p->reason == NULL);
		break;
	case BL_LINE_OK:
		FUZZ_CHECK(p->n == 1 && p->reason == NULL);
		FUZZ_CHECK(strnlen(p->names[0].name, BL_NAME_MAX) < BL_NAME_MAX);
		FUZZ_CHECK(bl_name_normalize(p->names[0].name, norm, sizeof(norm)) == 0);
		FUZZ_CHECK(strcmp(norm, p->names[0].name) == 0);
		FUZZ_CHECK(bl_key_from_name(p->names[0].name, key, sizeof(key)) > 0);
		FUZZ_CHECK((p->names[0].flags & ~(unsigned)(BL_F_SUBTREE | BL_F_ALLOW)) == 0);
		break;
	case BL_LINE_SKIPPED:
	case BL_LINE_INVALID:
		FUZZ_CHECK(p->n == 0);
		FUZZ_CHECK(p->reason != NULL && p->reason[0] != '\0');
		break;
	default:
		FUZZ_CHECK(!"unknown line status");
	}
}

/* Read `data` as a file; results[i] gets line i's result, the last one the end's. */
static size_t read_file(const char *data, size_t size, struct bl_parsed *results, size_t max)
{
	struct bl_parser *ps;
	size_t n = 0, at = 0;

	FUZZ_CHECK(bl_parser_new(BL_FMT_RPZ, &ps) == 0);
	while (at < size && n + 1 < max) {
		const char *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
		FUZZ_CHECK(bl_parser_line(ps, data + at, len, &results[n]) == 0);
		check_parsed(&results[n++]);
		at += len;
	}
	FUZZ_CHECK(bl_parser_end(ps, &results[n]) == 0);
	FUZZ_CHECK(results[n].status == BL_LINE_EMPTY || results[n].status == BL_LINE_INVALID);
	check_parsed(&results[n++]);
	bl_parser_free(ps);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAX = 512 }; /* lines read; the rest of a longer input is not */
	static struct bl_parsed a[MAX], b[MAX];
	size_t na, nb;

	if (size > FILE_MAX)
		return 0;
	na = read_file((const char *)data, size, a, MAX);
	nb = read_file((const char *)data, size, b, MAX);
	FUZZ_CHECK(na == nb);
	for (size_t i = 0; i < na; i++) {
		FUZZ_CHECK(a[i].status == b[i].status && a[i].n == b[i].n);
		FUZZ_CHECK(a[i].reason == b[i].reason);
		if (a[i].n)
			FUZZ_CHECK(strcmp(a[i].names[0].name, b[i].names[0].name) == 0);
	}
	return 0;
}
