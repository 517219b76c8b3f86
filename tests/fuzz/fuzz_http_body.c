/*
 * Fuzz target: the HTTP request bodies (rs_http_body.c). The first byte picks the parser:
 * POST /api/overrides, POST /api/report, PUT /api/clients/PREFIX, the block page's report
 * form (byte % 8 = 0..3), (not a body, but the other request text the server parses) the Host
 * header check of rs_http.c (4), POST /api/devices (5), PUT /api/profiles and POST
 * /api/profiles/devices (6), or the Accept-Language header (7); the rest is the body, at most
 * RS_BODY_MAX bytes (the server answers 413 beyond) and NUL-terminated as rs_http.c keeps it;
 * an empty body is NULL, as when none was sent.
 *
 * What a parser accepts must be what the handler can use as it is: a normalised name
 * (normalising it again changes nothing), known flags and category bits only, no categories on
 * an allow rule, a report kind the outbox knows, strings that fit their buffers. What it
 * refuses leaves the output untouched and, for overrides, says why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rs_http_int.h"

#define POISON 0xa5

/* A few categories as a store would define them, one at the top bit. */
static const struct {
	const char *name;
	int bit;
} cats[] = {{"adult", 0}, {"gambling", 1}, {"social", 5}, {"custom", 63}};
static const uint64_t cats_known = 1ULL | 1ULL << 1 | 1ULL << 5 | 1ULL << 63;

static int find_cat(void *arg, const char *name, int *bit)
{
	FUZZ_CHECK(arg == (void *)cats);
	for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		if (strcmp(cats[i].name, name) == 0) {
			*bit = cats[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

static bool untouched(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != POISON)
			return false;
	return true;
}

static void check_name(const char *name)
{
	char again[BL_NAME_MAX];

	FUZZ_CHECK(memchr(name, '\0', BL_NAME_MAX) != NULL);
	FUZZ_CHECK(bl_name_normalize(name, again, sizeof(again)) == 0);
	FUZZ_CHECK(strcmp(again, name) == 0);
}

static void fuzz_override(const char *body)
{
	struct rs_override_req o;
	char err[300];

	memset(&o, POISON, sizeof(o));
	memset(err, POISON, sizeof(err));
	if (rs__body_override(body, find_cat, (void *)cats, &o, err, sizeof(err)) != 0) {
		FUZZ_CHECK(untouched(&o, sizeof(o)));
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		return;
	}
	check_name(o.name);
	FUZZ_CHECK((o.flags & ~(unsigned)(BL_F_SUBTREE | BL_F_ALLOW)) == 0);
	FUZZ_CHECK((o.categories & ~cats_known) == 0);
	FUZZ_CHECK(!(o.flags & BL_F_ALLOW) || o.categories == 0);
}

static void fuzz_report(const char *body)
{
	struct rs_report_req r;

	memset(&r, POISON, sizeof(r));
	if (rs__body_report(body, &r) != 0) {
		FUZZ_CHECK(untouched(&r, sizeof(r)));
		return;
	}
	check_name(r.domain);
	FUZZ_CHECK(memchr(r.kind, '\0', sizeof(r.kind)) != NULL);
	FUZZ_CHECK(rs__report_kind_ok(r.kind) == 0);
}

static void fuzz_client(const char *body)
{
	char prof[BL_CLIENT_PROFILE_MAX];

	memset(prof, POISON, sizeof(prof));
	if (rs__body_client_profile(body, prof, sizeof(prof)) != 0) {
		FUZZ_CHECK(untouched(prof, sizeof(prof)));
		return;
	}
	FUZZ_CHECK(memchr(prof, '\0', sizeof(prof)) != NULL);
}

static void fuzz_device(const char *body)
{
	struct rs_device_req d;

	memset(&d, POISON, sizeof(d));
	if (rs__body_device(body, &d) != 0) {
		FUZZ_CHECK(untouched(&d, sizeof(d)));
		return;
	}
	FUZZ_CHECK(bl_device_name_valid(d.name));
	FUZZ_CHECK(memchr(d.profile, '\0', sizeof(d.profile)) != NULL && d.profile[0]);
}

/* The block page's form, with the buffers report_post gives it. */
static void fuzz_form(const char *body, size_t len)
{
	char domain[BL_NAME_MAX + 8], kind[32], norm[BL_NAME_MAX], token[RS_REPORT_TOKEN_LEN + 8];
	int d, k, t;

	memset(domain, POISON, sizeof(domain));
	memset(kind, POISON, sizeof(kind));
	memset(token, POISON, sizeof(token));
	d = rs__form_field(body, "domain", domain, sizeof(domain));
	k = rs__form_field(body, "kind", kind, sizeof(kind));
	t = rs__form_field(body, "token", token, sizeof(token));
	FUZZ_CHECK(t == 0 || (t == -ENOENT && untouched(token, sizeof(token))));
	if (t == 0)
		FUZZ_CHECK(memchr(token, '\0', sizeof(token)) && strlen(token) <= len);
	FUZZ_CHECK(d == 0 || (d == -ENOENT && untouched(domain, sizeof(domain))));
	FUZZ_CHECK(k == 0 || (k == -ENOENT && untouched(kind, sizeof(kind))));
	if (d == 0)
		FUZZ_CHECK(memchr(domain, '\0', sizeof(domain)) && strlen(domain) <= len);
	if (k == 0)
		FUZZ_CHECK(memchr(kind, '\0', sizeof(kind)) && strlen(kind) <= len);
	/* What rs__report_add does next with them. */
	if (d == 0 && k == 0 && rs__report_kind_ok(kind) == 0 &&
	    bl_name_normalize(domain, norm, sizeof(norm)) == 0)
		check_name(norm);
}

/* PUT /api/profiles and POST /api/profiles/devices: a refused body leaves the output
 * untouched; an accepted one holds only valid names, a bedtime and schedule windows in range
 * (minutes 0..1440: "24:00" ends a day; each window blocking known categories), allow names
 * the store accepts, and a record that encodes and decodes to itself. */
static void fuzz_profile(const char *body)
{
	static struct rs_profile_req req;
	static struct bl_profile_rec back;
	static uint8_t buf[BL_PROFILE_REC_MAX];
	struct rs_profile_device_req dev;
	char err[300];
	int n;

	memset(&req, POISON, sizeof(req));
	if (rs__body_profile(body, find_cat, (void *)cats, &req, err, sizeof(err)) != 0) {
		FUZZ_CHECK(untouched(&req, sizeof(req)));
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		FUZZ_CHECK(!req.rec.tmpl[0] || bl_profile_name_valid(req.rec.tmpl));
		FUZZ_CHECK(req.rec.n_allow <= BL_PROFILE_ALLOW_MAX);
		bool bed = req.bedtime_set && !req.bedtime_off;
		int nw = req.windows_set ? req.n_windows : 0;
		FUZZ_CHECK(!(req.bedtime_set || req.windows_set) || (req.set & BL_PF_SCHEDULES));
		if (bed)
			FUZZ_CHECK(req.rec.sched[0].start <= 1440 && req.rec.sched[0].end <= 1440 &&
			           req.rec.sched[0].bedtime);
		FUZZ_CHECK(nw >= 0 && nw < BL_PROFILE_SCHED_MAX);
		for (int i = 1; i <= nw; i++) {
			const struct bl_profile_sched *w = &req.rec.sched[i];
			FUZZ_CHECK(w->start <= 1440 && w->end <= 1440 && !w->bedtime && w->days &&
			           !(w->days & 0x80) && w->extra_block &&
			           !(w->extra_block & ~cats_known));
		}
		for (int i = 0; i < req.rec.n_allow; i++)
			check_name(bl_profile_rec_allow(&req.rec, i));
		/* the record as the API stores it: the windows, then the bedtime if it fits */
		bed = bed && nw < BL_PROFILE_SCHED_MAX - 1;
		if (bed)
			req.rec.sched[1 + nw] = req.rec.sched[0];
		memmove(&req.rec.sched[0], &req.rec.sched[1],
		        (size_t)(nw + bed) * sizeof(req.rec.sched[0]));
		req.rec.n_sched = nw + bed;
		n = bl_profile_rec_encode(&req.rec, buf, sizeof(buf));
		FUZZ_CHECK(n > 0);
		FUZZ_CHECK(bl_profile_rec_decode(buf, (size_t)n, &back) == 0);
		FUZZ_CHECK(back.n_allow == req.rec.n_allow &&
		           memcmp(back.allow, req.rec.allow, sizeof(back.allow)) == 0);
	}
	memset(&dev, POISON, sizeof(dev));
	if (rs__body_profile_device(body, &dev, err, sizeof(err)) != 0)
		FUZZ_CHECK(untouched(&dev, sizeof(dev)));
	else
		FUZZ_CHECK(bl_profile_name_valid(dev.profile));
}

/*
 * The Host check against a specific and a wildcard listen address with two [http] hostname
 * names. Case never matters (names compare case-insensitively, hex digits of an IPv6 literal
 * too); a specific listen address accepts nothing the wildcard refuses; what is accepted is a
 * literal, localhost or a listed name, so it never holds a '/', '@' or blank.
 */
static void fuzz_host(const char *host)
{
	static struct rs_config one, any;
	static bool init;
	static char upper[RS_BODY_MAX + 1];
	bool ok_one, ok_any;
	size_t n = strlen(host);

	if (!init) {
		rs_config_defaults(&one);
		snprintf(one.http_hostnames[0], RS_TLS_NAME_MAX, "kidguard.home.arpa");
		snprintf(one.http_hostnames[1], RS_TLS_NAME_MAX, "router.lan");
		one.n_http_hostnames = 2;
		any = one;
		FUZZ_CHECK(kg_sockaddr_parse("192.0.2.1:8053", 8053, &one.http_listen) == 0);
		FUZZ_CHECK(kg_sockaddr_parse("[::]:8053", 8053, &any.http_listen) == 0);
		init = true;
	}
	ok_one = rs__http_host_ok(&one, host);
	ok_any = rs__http_host_ok(&any, host);
	FUZZ_CHECK(!ok_one || ok_any);
	if (ok_any)
		FUZZ_CHECK(strcspn(host, "/@ \t\r\n") == n);
	for (size_t i = 0; i <= n; i++)
		upper[i] = (char)(host[i] >= 'a' && host[i] <= 'z' ? host[i] - 32 : host[i]);
	FUZZ_CHECK(rs__http_host_ok(&one, upper) == ok_one);
	FUZZ_CHECK(rs__http_host_ok(&any, upper) == ok_any);
}

/* Accept-Language: an index of the offered codes or -1; a header naming none of them (no
 * letters of "en" or "vi" at all) picks none. */
static void fuzz_accept_language(const char *header)
{
	static const char *const codes[] = {"en", "vi"};
	int i = kg_i18n_accept_language(header, codes, 2);

	FUZZ_CHECK(i >= -1 && i < 2);
	if (strcspn(header, "eEnNvViI") == strlen(header))
		FUZZ_CHECK(i == -1);
	FUZZ_CHECK(kg_i18n_accept_language(header, codes, 0) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char body[RS_BODY_MAX + 1];
	size_t len = size - 1;
	const char *b;

	if (size < 1 || len > RS_BODY_MAX)
		return 0;
	memcpy(body, data + 1, len);
	body[len] = '\0';
	b = len ? body : NULL;
	switch (data[0] % 8) {
	case 0:
		fuzz_override(b);
		break;
	case 1:
		fuzz_report(b);
		break;
	case 2:
		fuzz_client(b);
		break;
	case 3:
		if (b)
			fuzz_form(b, len);
		break;
	case 4:
		fuzz_host(body);
		break;
	case 5:
		fuzz_device(b);
		break;
	case 6:
		fuzz_profile(b);
		break;
	default:
		fuzz_accept_language(body);
		break;
	}
	return 0;
}
