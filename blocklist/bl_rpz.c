/*
 * The RPZ reader: a zone file in, policy names out, one line at a time so the callers keep their
 * per-line counts, "file:line: reason" samples and progress.
 *
 * ldns reads each record (owner, TTL, class, type, rdata, escapes, "@", relative names against
 * the current $ORIGIN, a blank owner meaning the previous one). What ldns_rr_new_frm_str does
 * not do is done here, because it is about the file rather than one record: the directives
 * ($ORIGIN, $TTL; $INCLUDE refused, as a list from a feed must not name local files), records
 * that run over several lines inside parentheses, and the zone apex.
 *
 * The apex is the policy zone's name: the first $ORIGIN, or the owner of the first SOA if that
 * comes first (the SOA also becomes the origin when there is none). Every owner must be below it
 * and the apex is cut off: "bad.example.rpz.ministry.example." in zone "rpz.ministry.example." is
 * the policy name "bad.example"; an owner outside the zone is an invalid line. Until an apex is
 * known owners are taken whole, so a bare "name CNAME ." list still reads as before.
 *
 * Actions: "d CNAME ." exact, "*.d CNAME ." subtree (we also cover d itself), "CNAME *." and
 * "rpz-drop." deny, "rpz-passthru." allow; triggers other than QNAME (rpz-ip, rpz-nsip,
 * rpz-nsdname, rpz-client-ip), other actions and local data are skipped with a reason. SOA and
 * NS records are empty lines.
 */
#include "bl_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#define RPZ_RECORD_MAX  4096 /* one record, all its lines joined */
#define RPZ_DEFAULT_TTL 3600

struct bl__rpz {
	ldns_rdf *origin; /* the current $ORIGIN (or SOA owner), NULL: none yet */
	ldns_rdf *apex;   /* the policy zone's name, NULL: none yet, owners are taken whole */
	ldns_rdf *prev;   /* the last owner, for a record whose line starts with a blank */
	uint32_t ttl;     /* $TTL, given to ldns for records without one */
	int depth;        /* open parentheses of the record being joined */
	bool open;        /* a record is being joined over several lines */
	bool overflow;    /* ... and it is longer than RPZ_RECORD_MAX: report it once closed */
	size_t len;
	char rec[RPZ_RECORD_MAX + 1];
};

static int result(struct bl_parsed *out, enum bl_line_status st, const char *reason)
{
	out->status = st;
	out->reason = reason;
	return 0;
}

struct bl__rpz *bl__rpz_new(void)
{
	struct bl__rpz *z = calloc(1, sizeof(*z));

	if (z)
		z->ttl = RPZ_DEFAULT_TTL;
	return z;
}

void bl__rpz_free(struct bl__rpz *z)
{
	if (!z)
		return;
	ldns_rdf_deep_free(z->origin);
	ldns_rdf_deep_free(z->apex);
	ldns_rdf_deep_free(z->prev);
	free(z);
}

/*
 * Append the record text of one line to z->rec, without its comment, counting parentheses
 * outside quotes and escapes. The parentheses become blanks: they only join lines, and ldns
 * must not see them (ldns 1.8.3 reads past a buffer on a TTL field with a parenthesis inside,
 * found by fuzz_rpz). Returns NULL or why the line is bad.
 */
static const char *join_line(struct bl__rpz *z, const char *s)
{
	bool quoted = false, fits = !z->overflow;
	size_t n;

	if (fits && z->len > 0 && z->len < RPZ_RECORD_MAX)
		z->rec[z->len++] = ' ';
	for (n = 0; s[n]; n++) {
		char c = s[n];
		bool esc = c == '\\' && s[n + 1];
		if (!esc && c == '"')
			quoted = !quoted;
		else if (!esc && !quoted && c == ';')
			break;
		else if (!esc && !quoted && (c == '(' || c == ')')) {
			z->depth += c == '(' ? 1 : -1;
			if (z->depth < 0)
				return "unbalanced parenthesis";
			c = ' ';
		}
		fits = fits && z->len + (esc ? 2 : 1) <= RPZ_RECORD_MAX;
		if (fits)
			z->rec[z->len++] = c;
		if (esc && fits)
			z->rec[z->len++] = s[n + 1];
		n += esc;
	}
	z->overflow = !fits;
	z->rec[z->len] = '\0';
	return NULL;
}

/* Make `text` (a $ORIGIN argument) absolute against the current origin. NULL when invalid. */
static ldns_rdf *origin_name(const struct bl__rpz *z, const char *text)
{
	ldns_rdf *d = NULL, *rel;
	size_t len = strlen(text);

	if (len > 0 && text[len - 1] == '.' && (len < 2 || text[len - 2] != '\\'))
		return ldns_str2rdf_dname(&d, text) == LDNS_STATUS_OK ? d : NULL;
	if (!z->origin)
		return NULL; /* relative to nothing */
	if (ldns_str2rdf_dname(&rel, text) != LDNS_STATUS_OK)
		return NULL;
	d = ldns_dname_cat_clone(rel, z->origin);
	ldns_rdf_deep_free(rel);
	return d;
}

static int directive(struct bl__rpz *z, char *s, struct bl_parsed *out)
{
	char *save = NULL, *name = strtok_r(s, " \t\n", &save);
	char *arg = strtok_r(NULL, " \t\n", &save);
	const char *end;
	ldns_rdf *d;

	if (strcasecmp(name, "$INCLUDE") == 0)
		return result(out, BL_LINE_INVALID, "$INCLUDE refused: a list must not read files");
	if (strcasecmp(name, "$TTL") == 0) {
		if (!arg)
			return result(out, BL_LINE_INVALID, "$TTL without a value");
		uint32_t ttl = ldns_str2period(arg, &end);
		if (*end != '\0')
			return result(out, BL_LINE_INVALID, "bad $TTL");
		z->ttl = ttl;
		return result(out, BL_LINE_EMPTY, NULL);
	}
	if (strcasecmp(name, "$ORIGIN") != 0)
		return result(out, BL_LINE_SKIPPED, "unsupported directive");
	if (!arg || !(d = origin_name(z, arg)))
		return result(out, BL_LINE_INVALID, "bad $ORIGIN");
	ldns_rdf_deep_free(z->origin);
	z->origin = d;
	if (!z->apex && !(z->apex = ldns_rdf_clone(d)))
		return -ENOMEM;
	return result(out, BL_LINE_EMPTY, NULL);
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

static bool rpz_trigger(const char *name)
{
	static const char *const trig[] = {"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"};
	const char *dot = strrchr(name, '.');
	const char *last = dot ? dot + 1 : name;

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(last, trig[i]) == 0)
			return true;
	}
	return false;
}

/*
 * The policy name of `owner` (absolute): the labels above the apex, in presentation form
 * without the final dot, as a malloc'd string in *name. Returns NULL or why there is none.
 */
static const char *policy_name(const struct bl__rpz *z, const ldns_rdf *owner, char **name)
{
	size_t keep = ldns_rdf_size(owner);
	uint8_t wire[LDNS_MAX_DOMAINLEN + 1];
	ldns_rdf *d;
	char *text;

	if (z->apex) {
		if (ldns_dname_compare(owner, z->apex) == 0)
			return "record at the zone apex";
		if (!ldns_dname_is_subdomain(owner, z->apex))
			return "owner outside the policy zone";
		keep -= ldns_rdf_size(z->apex) - 1; /* the apex's labels, not its root byte */
	}
	if (keep < 2 || keep > sizeof(wire))
		return "owner is the root name"; /* no apex yet, and "@" or a blank owner */
	memcpy(wire, ldns_rdf_data(owner), keep - 1);
	wire[keep - 1] = 0; /* the root label ends the labels kept */
	d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, keep, wire);
	text = d ? ldns_rdf2str(d) : NULL;
	ldns_rdf_deep_free(d);
	if (!text)
		return "out of memory";
	text[strlen(text) - 1] = '\0'; /* the final dot */
	*name = text;
	return NULL;
}

static int cname(struct bl__rpz *z, const ldns_rr *rr, struct bl_parsed *out)
{
	char *target = ldns_rdf2str(ldns_rr_rdf(rr, 0)), *name = NULL, *p;
	unsigned flags = 0;
	const char *why;
	int act = target ? rpz_action(target) : -1;

	free(target);
	if (act < 0)
		return result(out, BL_LINE_SKIPPED, "unsupported RPZ action");
	if ((why = policy_name(z, ldns_rr_owner(rr), &name)) != NULL)
		return result(out, BL_LINE_INVALID, why);
	p = name;
	if (rpz_trigger(p)) {
		free(name);
		return result(out, BL_LINE_SKIPPED, "RPZ trigger other than QNAME");
	}
	if (strncmp(p, "*.", 2) == 0) {
		flags = BL_F_SUBTREE;
		p += 2;
	}
	why = bl__parsed_add(out, p, flags | (unsigned)act);
	free(name);
	return result(out, why ? BL_LINE_INVALID : BL_LINE_OK, why);
}

/* The SOA names the zone when no $ORIGIN did. */
static int soa(struct bl__rpz *z, const ldns_rr *rr, struct bl_parsed *out)
{
	if (!z->apex && !(z->apex = ldns_rdf_clone(ldns_rr_owner(rr))))
		return -ENOMEM;
	if (!z->origin && !(z->origin = ldns_rdf_clone(ldns_rr_owner(rr))))
		return -ENOMEM;
	return result(out, BL_LINE_EMPTY, NULL);
}

static int record(struct bl__rpz *z, struct bl_parsed *out)
{
	ldns_rr *rr = NULL;
	ldns_status st;
	int rc;

	if (z->rec[strspn(z->rec, " \t\n")] == '\0')
		return result(out, BL_LINE_EMPTY, NULL);
	if (z->rec[0] == '$')
		return directive(z, z->rec, out);
	st = ldns_rr_new_frm_str(&rr, z->rec, z->ttl, z->origin, &z->prev);
	if (st == LDNS_STATUS_MEM_ERR)
		return -ENOMEM;
	if (st != LDNS_STATUS_OK)
		return result(out, BL_LINE_INVALID, "not a resource record");
	switch (ldns_rr_get_type(rr)) {
	case LDNS_RR_TYPE_SOA:
		rc = soa(z, rr, out);
		break;
	case LDNS_RR_TYPE_NS:
		rc = result(out, BL_LINE_EMPTY, NULL);
		break;
	case LDNS_RR_TYPE_CNAME:
		rc = cname(z, rr, out);
		break;
	default:
		rc = result(out, BL_LINE_SKIPPED, "local-data record not supported");
	}
	ldns_rr_free(rr);
	return rc;
}

static void reset(struct bl__rpz *z)
{
	z->open = z->overflow = false;
	z->depth = 0;
	z->len = 0;
	z->rec[0] = '\0';
}

int bl__rpz_line(struct bl__rpz *z, const char *s, struct bl_parsed *out)
{
	const char *why;
	int rc;

	out->n = 0;
	if (!z->open)
		reset(z);
	if ((why = join_line(z, s)) != NULL) {
		reset(z);
		return result(out, BL_LINE_INVALID, why);
	}
	if (z->depth > 0) {
		z->open = true; /* the record goes on: it is reported on its last line */
		return result(out, BL_LINE_EMPTY, NULL);
	}
	if (z->overflow) {
		reset(z);
		return result(out, BL_LINE_INVALID, "record too long");
	}
	z->open = false;
	rc = record(z, out);
	if (rc == 0 && out->status != BL_LINE_OK)
		out->n = 0;
	return rc;
}

int bl__rpz_end(struct bl__rpz *z, struct bl_parsed *out)
{
	bool open = z->open;

	out->n = 0;
	reset(z);
	return open ? result(out, BL_LINE_INVALID, "parenthesis not closed at end of file")
	            : result(out, BL_LINE_EMPTY, NULL);
}
