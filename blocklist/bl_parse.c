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
 *  RPZ      "d CNAME ." exact, "*.d CNAME ." subtree (we also cover d itself), "CNAME *."
 *           and "rpz-drop." deny, "rpz-passthru." allow. Owners are relative to the zone apex,
 *           which is unknown here, so they are taken as the policy names; $ORIGIN is ignored,
 *           a trailing dot is stripped. SOA/NS, $TTL and lines starting with blanks are EMPTY.
 */
#include "bl_internal.h"

#include <arpa/inet.h>
#include <errno.h>
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

/* Normalise `text` and append it to `out`. Returns NULL or the reason it was dropped. */
static const char *add_name(struct bl_parsed *out, const char *text, unsigned flags)
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
	why = add_name(out, name, BL_F_SUBTREE);
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
			w = add_name(out, tok[i], 0);
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
	why = add_name(out, name, flags);
	return result(out, why ? BL_LINE_INVALID : BL_LINE_OK, why);
}

static bool rpz_trigger(const char *owner)
{
	static const char *const trig[] = {"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"};
	const char *dot = strrchr(owner, '.');
	const char *last = dot ? dot + 1 : owner;

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(last, trig[i]) == 0)
			return true;
	}
	return false;
}

/* Action of a CNAME target: 0 deny, BL_F_ALLOW allow, -1 unsupported. */
static int rpz_action(const char *target)
{
	if (strcmp(target, ".") == 0 || strcmp(target, "*.") == 0 ||
	    strcasecmp(target, "rpz-drop.") == 0)
		return 0;
	if (strcasecmp(target, "rpz-passthru.") == 0)
		return BL_F_ALLOW;
	return -1;
}

static int rpz_record(char **tok, int n, struct bl_parsed *out)
{
	char *owner = tok[0];
	unsigned flags = 0;
	int i = 1, act;
	size_t len;
	const char *why;

	while (i < n &&
	       (strspn(tok[i], "0123456789") == strlen(tok[i]) || strcasecmp(tok[i], "IN") == 0))
		i++; /* optional TTL and class */
	if (i >= n)
		return result(out, BL_LINE_INVALID, "record without a type");
	if (strcasecmp(tok[i], "SOA") == 0 || strcasecmp(tok[i], "NS") == 0)
		return result(out, BL_LINE_EMPTY, NULL);
	if (strcasecmp(tok[i], "CNAME") != 0)
		return result(out, BL_LINE_SKIPPED, "local-data record not supported");
	if (i + 1 >= n)
		return result(out, BL_LINE_INVALID, "CNAME without a target");
	if ((act = rpz_action(tok[i + 1])) < 0)
		return result(out, BL_LINE_SKIPPED, "unsupported RPZ action");
	len = strlen(owner);
	if (len > 1 && owner[len - 1] == '.')
		owner[len - 1] = '\0';
	if (rpz_trigger(owner))
		return result(out, BL_LINE_SKIPPED, "RPZ trigger other than QNAME");
	if (strncmp(owner, "*.", 2) == 0) {
		flags = BL_F_SUBTREE;
		owner += 2;
	}
	why = add_name(out, owner, flags | (unsigned)act);
	return result(out, why ? BL_LINE_INVALID : BL_LINE_OK, why);
}

static int parse_rpz(char *s, struct bl_parsed *out)
{
	char *tok[TOK_MAX], *semi = strchr(s, ';');
	int n;

	if (semi)
		*semi = '\0';
	if (s[0] == ' ' || s[0] == '\t')
		return result(out, BL_LINE_EMPTY, NULL); /* a record of the previous owner (NS) */
	if (s[0] == '$')
		return strncasecmp(s, "$INCLUDE", 8) == 0
		           ? result(out, BL_LINE_SKIPPED, "$INCLUDE not supported")
		           : result(out, BL_LINE_EMPTY, NULL);
	n = tokenize(s, tok);
	if (n == 0 || strcmp(tok[0], "@") == 0)
		return result(out, BL_LINE_EMPTY, NULL);
	return rpz_record(tok, n, out);
}

/* Copy the line without its line ending and trailing blanks. */
static size_t copy_line(const char *line, size_t len, char *buf)
{
	while (len > 0 && strchr("\r\n \t", line[len - 1]) && line[len - 1] != '\0')
		len--;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return len;
}

int bl_parse_line(enum bl_format fmt, const char *line, size_t len, struct bl_parsed *out)
{
	char buf[LINE_MAX_LEN + 1], *s = buf;

	out->n = 0;
	if (len > LINE_MAX_LEN)
		return result(out, BL_LINE_INVALID, "line too long");
	len = copy_line(line, len, buf);
	if (memchr(buf, '\0', len))
		return result(out, BL_LINE_INVALID, "NUL byte in line");
	if (fmt != BL_FMT_RPZ)
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
		return parse_rpz(s, out);
	}
	return -EINVAL;
}
