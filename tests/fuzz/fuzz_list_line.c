/*
 * Fuzz target: the list lines kidguard-ctl imports. The first byte picks the parser: the four
 * formats of bl_parse_line (domains, hosts, adblock, rpz) or, for 4, the PREFIX of a `clients
 * import` line (bl_prefix_parse); the rest is the line.
 *
 * A name the parser accepts must be one the store can take: normalised (normalising it again
 * changes nothing), shorter than BL_NAME_MAX, with a store key, carrying only the flags its
 * format can produce. A line that is skipped or invalid must say why and give no names; an
 * empty one gives neither. The line itself is never written to, and parsing is pure: the same
 * line parses the same way twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"
#include "fuzz.h"

#define LINE_MAX_IN (4096 + 64) /* a little past the parser's limit, to reach "line too long" */

static void check_name(enum bl_format fmt, const char *name, unsigned flags)
{
	char norm[BL_NAME_MAX];
	uint8_t key[BL_KEY_MAX];
	size_t len = strnlen(name, BL_NAME_MAX);

	FUZZ_CHECK(len > 0 && len < BL_NAME_MAX);
	FUZZ_CHECK(bl_name_normalize(name, norm, sizeof(norm)) == 0);
	FUZZ_CHECK(strcmp(norm, name) == 0);
	FUZZ_CHECK(bl_key_from_name(name, key, sizeof(key)) > 0);
	FUZZ_CHECK(strchr(name, '/') == NULL);
	FUZZ_CHECK((flags & ~(unsigned)(BL_F_SUBTREE | BL_F_ALLOW)) == 0);
	switch (fmt) {
	case BL_FMT_DOMAINS:
		FUZZ_CHECK(flags == BL_F_SUBTREE);
		break;
	case BL_FMT_HOSTS:
		FUZZ_CHECK(flags == 0);
		break;
	case BL_FMT_ADBLOCK:
		FUZZ_CHECK(flags & BL_F_SUBTREE);
		break;
	case BL_FMT_RPZ:
		break;
	}
}

static void check_parsed(enum bl_format fmt, const struct bl_parsed *p)
{
	switch (p->status) {
	case BL_LINE_EMPTY:
		FUZZ_CHECK(p->n == 0 && p->reason == NULL);
		break;
	case BL_LINE_OK:
		FUZZ_CHECK(p->n >= 1 && p->n <= BL_PARSE_MAX_NAMES);
		/* Only a hosts line keeps going past a dropped token, and then says so. */
		FUZZ_CHECK(p->reason == NULL || fmt == BL_FMT_HOSTS);
		for (unsigned i = 0; i < p->n; i++)
			check_name(fmt, p->names[i].name, p->names[i].flags);
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

static void same_parse(const struct bl_parsed *a, const struct bl_parsed *b)
{
	FUZZ_CHECK(a->status == b->status && a->n == b->n && a->reason == b->reason);
	for (unsigned i = 0; i < a->n; i++) {
		FUZZ_CHECK(strcmp(a->names[i].name, b->names[i].name) == 0);
		FUZZ_CHECK(a->names[i].flags == b->names[i].flags);
	}
}

static void fuzz_list(enum bl_format fmt, const char *line, size_t len)
{
	static char copy[LINE_MAX_IN];
	static struct bl_parsed p, again;

	memcpy(copy, line, len);
	FUZZ_CHECK(bl_parse_line(fmt, line, len, &p) == 0);
	FUZZ_CHECK(memcmp(copy, line, len) == 0);
	check_parsed(fmt, &p);
	FUZZ_CHECK(bl_parse_line(fmt, line, len, &again) == 0);
	same_parse(&p, &again);
}

/* An accepted prefix has no host bits, prints, and the printed form parses back to itself. */
static void fuzz_prefix(const char *line, size_t len)
{
	char text[LINE_MAX_IN + 1], shown[64];
	struct bl_prefix p, back;

	memcpy(text, line, len);
	text[len] = '\0';
	if (bl_prefix_parse(text, &p) != 0)
		return;
	FUZZ_CHECK(p.family == BL_FAMILY_V4 || p.family == BL_FAMILY_V6);
	FUZZ_CHECK(p.len <= (p.family == BL_FAMILY_V4 ? 32u : 128u));
	bl_prefix_str(&p, shown, sizeof(shown));
	FUZZ_CHECK(bl_prefix_parse(shown, &back) == 0);
	FUZZ_CHECK(back.family == p.family && back.len == p.len);
	FUZZ_CHECK(memcmp(back.addr, p.addr, sizeof(p.addr)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data + 1;
	size_t len = size - 1;
	unsigned which;

	if (size < 1 || len > LINE_MAX_IN)
		return 0;
	which = data[0] % 5;
	if (which == 4)
		fuzz_prefix(line, len);
	else
		fuzz_list((enum bl_format)which, line, len);
	return 0;
}
