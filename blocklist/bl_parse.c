/*
 * List parsers: one line in, zero or more normalised names with rule flags out. Pure functions.
 *
 * Decisions, per format:
 *  DOMAINS  one name per line; the name and everything below it (UT1 semantics), so "d",
 *           "*.d" and ".d" (a UT1 quirk) all give a deny subtree rule for d. Comments start
 *           with '#', '!' or ';'.
 *  HOSTS    "ADDR name [name...]": each name is an exact deny rule (a hosts file lists hosts).
 *           Boilerplate (localhost, broadcasthost, ip6-*) and single-label names are dropped.
 *  ADBLOCK  "||d^" deny subtree, "@@||d^" allow subtree, optional "$important"; every other
 *           rule (paths, wildcards, regexes, cosmetic, other modifiers) is SKIPPED.
 *  RPZ      a zone file, read by bl_rpz.c with ldns ($ORIGIN, $TTL, parentheses, the zone
 *           apex cut off the owners): it needs the lines before, so it is read through a
 *           struct bl_parser; bl_parse_line gives it one line as a file of its own.
 */
#include "bl_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_LEN 4096
#define TOK_MAX      16

int bl_format_parse(const char *name, enum bl_format *fmt)
{
	static const char *const names[] = {"domains", "hosts", "adblock", "rpz"};

	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*fmt = (enum bl_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int result(struct bl_parsed *out, enum bl_line_status st, const char *reason)
{
	out->status = st;
	out->reason = reason;
	return 0;
}

static bool is_ipv4_literal(const char *name)
{
	int labels = 1;

	for (const char *p = name; *p; p++) {
		if (*p == '.')
			labels++;
		else if (*p < '0' || *p > '9')
			return false;
	}
	return labels == 4;
}

const char *bl__parsed_add(struct bl_parsed *out, const char *text, unsigned flags)
{
	char norm[BL_NAME_MAX];

	if (strchr(text, '/'))
		return "URL or path, not a name";
	if (bl_name_normalize(text, norm, sizeof(norm)) != 0)
		return "invalid name";
	if (is_ipv4_literal(norm))
		return "IP address, not a name";
	if (out->n == BL_PARSE_MAX_NAMES)
		return "too many names on one line";
	memcpy(out->names[out->n].name, norm, strlen(norm) + 1);
	out->names[out->n].flags = flags;
	out->n++;
	return NULL;
}

/* Split `s` in place on blanks. Returns the token count (at most TOK_MAX; the rest is lost). */
static int tokenize(char *s, char **tok)
{
	int n = 0;

	while (*s && n < TOK_MAX) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			break;
		tok[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

static int parse_domains(char *s, struct bl_parsed *out)
{
	char *tok[TOK_MAX];
	int n = tokenize(s, tok);
	const char *name = tok[0], *why;

	if (n > 1 && strchr("#!;", tok[1][0]) == NULL)
		return result(out, BL_LINE_INVALID, "more than one token");
	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	else if (name[0] == '.')
		name++;
	why = bl__parsed_add(out, name, BL_F_SUBTREE);
	return result(out, why ? BL_LINE_INVALID : BL_LINE_OK, why);
}

static bool hosts_boilerplate(const char *name)
{
	static const char *const bp[] = {"localhost",      "localhost.localdomain", "local",
	                                 "broadcasthost",  "ip6-localhost",         "ip6-loopback",
	                                 "ip6-localnet",   "ip6-mcastprefix",       "ip6-allnodes",
	                                 "ip6-allrouters", "ip6-allhosts",          "0.0.0.0"};

	for (size_t i = 0; i < sizeof(bp) / sizeof(bp[0]); i++) {
		if (strcasecmp(name, bp[i]) == 0)
			return true;
	}
	return false;
}

static int parse_hosts(char *s, struct bl_parsed *out)
{
	char *tok[TOK_MAX], *hash = strchr(s, '#');
	uint8_t addr[16];
	const char *why = NULL;
	int n, boiler = 0;

	if (hash)
		*hash = '\0';
	n = tokenize(s, tok);
	if (n == 0)
		return result(out, BL_LINE_EMPTY, NULL);
	if (inet_pton(AF_INET, tok[0], addr) != 1 && inet_pton(AF_INET6, tok[0], addr) != 1)
		return result(out, BL_LINE_INVALID, "hosts line without an address first");
	for (int i = 1; i < n; i++) {
		const char *w;
		if (hosts_boilerplate(tok[i])) {
			boiler++;
			continue;
		}
		if (!strchr(tok[i], '.') || strchr(tok[i], '.') == tok[i] + strlen(tok[i]) - 1)
			w = "single-label name";
		else
			w = bl__parsed_add(out, tok[i], 0);
		if (w && !why)
			why = w;
	}
	if (out->n > 0)
		return result(out, BL_LINE_OK, why);
	if (boiler > 0 && !why)
		return result(out, BL_LINE_EMPTY, NULL);
	return result(out, BL_LINE_INVALID, why ? why : "address without a name");
}

/* "important" is the only modifier that changes nothing for us. */
static bool adblock_modifiers_ok(const char *mods)
{
	return mods[0] == '\0' || strcmp(mods, "important") == 0;
}

static int parse_adblock(char *s, struct bl_parsed *out)
{
	unsigned flags = BL_F_SUBTREE;
	char *caret, *name;
	const char *why;

	if (s[0] == '!' || s[0] == '[' || (s[0] == '#' && s[1] != '#' && s[1] != '@'))
		return result(out, BL_LINE_EMPTY, NULL);
	if (strstr(s, "##") || strstr(s, "#@#") || strstr(s, "#?#") || strstr(s, "#$#"))
		return result(out, BL_LINE_SKIPPED, "cosmetic rule");
	if (strncmp(s, "@@", 2) == 0) {
		flags |= BL_F_ALLOW;
		s += 2;
	}
	if (s[0] == '/')
		return result(out, BL_LINE_SKIPPED, "regular expression rule");
	if (strncmp(s, "||", 2) != 0)
		return result(out, BL_LINE_SKIPPED, "not a ||domain^ rule");
	name = s + 2;
	caret = strchr(name, '^');
	if (!caret)
		return result(out, BL_LINE_SKIPPED, "rule without ^ separator");
	*caret = '\0';
	if (strpbrk(name, "*/|$"))
		return result(out, BL_LINE_SKIPPED, "wildcard or path rule");
	if (caret[1] == '|')
		caret++;
	if (caret[1] != '\0' && (caret[1] != '$' || !adblock_modifiers_ok(caret + 2)))
		return result(out, BL_LINE_SKIPPED, "unsupported modifier");
	why = bl__parsed_add(out, name, flags);
	return result(out, why ? BL_LINE_INVALID : BL_LINE_OK, why);
}

/* A file being read: the line buffer lives here, not on the stack. */
struct bl_parser {
	enum bl_format fmt;
	struct bl__rpz *rpz; /* RPZ only */
	char buf[LINE_MAX_LEN + 1];
};

/* Copy the line without its line ending and trailing blanks. */
static size_t copy_line(const char *line, size_t len, char *buf)
{
	while (len > 0 && strchr("\r\n \t", line[len - 1]) && line[len - 1] != '\0')
		len--;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return len;
}

/* Check a line and copy it into `buf` (LINE_MAX_LEN + 1). Returns 1 to parse it, 0: `out` set. */
static int line_prep(const char *line, size_t len, char *buf, struct bl_parsed *out)
{
	out->n = 0;
	if (len > LINE_MAX_LEN)
		return result(out, BL_LINE_INVALID, "line too long");
	len = copy_line(line, len, buf);
	if (memchr(buf, '\0', len))
		return result(out, BL_LINE_INVALID, "NUL byte in line");
	return 1;
}

/* One line of the formats that need no lines before it. */
static int parse_stateless(enum bl_format fmt, char *s, struct bl_parsed *out)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return result(out, BL_LINE_EMPTY, NULL);
	switch (fmt) {
	case BL_FMT_DOMAINS:
		if (strchr("#!;", s[0]))
			return result(out, BL_LINE_EMPTY, NULL);
		return parse_domains(s, out);
	case BL_FMT_HOSTS:
		return parse_hosts(s, out);
	case BL_FMT_ADBLOCK:
		return parse_adblock(s, out);
	case BL_FMT_RPZ:
		break;
	}
	return -EINVAL;
}

int bl_parse_line(enum bl_format fmt, const char *line, size_t len, struct bl_parsed *out)
{
	struct bl_parser *p;
	int rc;

	if (fmt != BL_FMT_RPZ) {
		char buf[LINE_MAX_LEN + 1];
		rc = line_prep(line, len, buf, out);
		return rc == 1 ? parse_stateless(fmt, buf, out) : rc;
	}
	if ((rc = bl_parser_new(fmt, &p)) != 0)
		return rc;
	rc = bl_parser_line(p, line, len, out);
	if (rc == 0 && out->status == BL_LINE_EMPTY)
		rc = bl_parser_end(p, out); /* a record still open has no end here */
	bl_parser_free(p);
	return rc;
}

int bl_parser_new(enum bl_format fmt, struct bl_parser **out)
{
	struct bl_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fmt = fmt;
	if (fmt == BL_FMT_RPZ && !(p->rpz = bl__rpz_new())) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int bl_parser_line(struct bl_parser *p, const char *line, size_t len, struct bl_parsed *out)
{
	int rc = line_prep(line, len, p->buf, out);

	if (rc != 1)
		return rc;
	if (p->fmt == BL_FMT_RPZ)
		return bl__rpz_line(p->rpz, p->buf, out);
	return parse_stateless(p->fmt, p->buf, out);
}

int bl_parser_end(struct bl_parser *p, struct bl_parsed *out)
{
	out->n = 0;
	if (p->fmt == BL_FMT_RPZ)
		return bl__rpz_end(p->rpz, out);
	return result(out, BL_LINE_EMPTY, NULL);
}

void bl_parser_free(struct bl_parser *p)
{
	if (!p)
		return;
	bl__rpz_free(p->rpz);
	free(p);
}
