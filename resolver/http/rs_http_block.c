/*
 * The block page, served on [http] block_page_listen (the sinkhole address, port 80): a
 * browser that resolved a blocked name to the sinkhole connects here with "Host: that.name",
 * and gets a page saying it was blocked, in which category, and what to do.
 *
 * Every word on it comes from the message catalogues (rs_http_i18n.c) in the language
 * rs__i18n_pick chose for the request: the page's own language links (?lang=), else [http]
 * language, else Accept-Language. The template
 * (www/block.html) names messages as {{t:KEY}}; [http] block_page_text and block_page_contact,
 * when set, replace the catalogue's text and contact (the default contact of Vietnamese is
 * the national child protection hotline, 111).
 *
 * HTTPS cannot show it: the browser expects a certificate for that.name, which nobody but the
 * site's owner can present, so it shows its own connection error (for example Chrome's
 * ERR_CERT_COMMON_NAME_INVALID or, with the default 0.0.0.0 sinkhole, ERR_CONNECTION_REFUSED).
 * Installing a private CA on every device to forge certificates would break the security of
 * every site, so we do not. The dashboard's "check a domain" box explains those blocks.
 *
 * The profile is chosen exactly as for the DNS answer (rs_decide: subscriber table, address
 * rules, schedules and bedtime at the daemon's clock), for the client the DNS query came from:
 * the browser's address, unless a trusted forwarder (the home router) named this device by
 * its address (ECS) or by MAC in a recent query for this name (rs__seen_client: the browser
 * then connects from an address the DNS never saw). The browser's address is otherwise neither
 * kept nor logged (its /24 or /56 counts against the report quota, in memory, for ten
 * minutes). Reports are a plain HTML form (no JavaScript) carrying a token made for this
 * client's prefix (rs_http_report.c), so another web page cannot post them.
 */
#include "rs_http_int.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct sb {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap + n + 1) * 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_esc(struct sb *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			sb_str(b, "&lt;");
			break;
		case '>':
			sb_str(b, "&gt;");
			break;
		case '&':
			sb_str(b, "&amp;");
			break;
		case '"':
			sb_str(b, "&quot;");
			break;
		case '\'':
			sb_str(b, "&#39;");
			break;
		default:
			sb_add(b, s, 1);
		}
	}
}

struct page {
	struct rs_http *h;
	int lang; /* the catalogue (rs__i18n_pick) */
	const char *title, *domain, *category, *text, *feed_version;
	const char *token;      /* the report form's token; NULL: no report form */
	const char *reason;     /* which step of the decision blocked it, in words */
	const char *decided_by; /* the same as rs_decide says it (rs_verdict.decided_by) */
	bool blocked;
	const char *contact;
	bool hotline; /* the contact is the language's default (the national hotline) */
};

static const char *msg(const struct page *pg, const char *key)
{
	return rs__msg(pg->h, pg->lang, key);
}

/* The contact as a link: a URL as is, a phone number as tel:, anything else as text. */
static void contact_html(struct sb *b, const struct page *pg)
{
	const char *c = pg->contact;
	bool url = strncmp(c, "https://", 8) == 0 || strncmp(c, "http://", 7) == 0 ||
	           strncmp(c, "mailto:", 7) == 0;
	bool phone = c[0] && strspn(c, "+0123456789 -()") == strlen(c);

	if (!c[0])
		return;
	sb_str(b, "<p class=\"contact\">");
	sb_esc(b, msg(pg, pg->hotline ? "block.hotline" : "block.contact"));
	if (url || phone) {
		sb_str(b, "<a href=\"");
		if (phone) {
			sb_str(b, "tel:");
			for (const char *p = c; *p; p++)
				if (*p == '+' || (*p >= '0' && *p <= '9'))
					sb_add(b, p, 1);
		} else {
			sb_esc(b, c);
		}
		sb_str(b, "\">");
		sb_esc(b, c);
		sb_str(b, "</a>");
	} else {
		sb_esc(b, c);
	}
	sb_str(b, "</p>");
}

/* The language switch: a link per other language, "/?lang=CODE" (rs__i18n_pick), so that a
 * child or a parent whose browser speaks another language can read the page. No script: a
 * plain link works on any phone. */
static void langs_html(struct sb *b, const struct page *pg)
{
	const struct kg_i18n *c = &pg->h->i18n;

	sb_str(b, "<nav class=\"langs\" aria-label=\"");
	sb_esc(b, msg(pg, "block.language"));
	sb_str(b, "\">");
	for (int i = 0; i < c->n; i++) {
		if (i == pg->lang)
			continue;
		sb_str(b, "<a href=\"/?lang=");
		sb_esc(b, kg_i18n_code(c, i));
		sb_str(b, "\" hreflang=\"");
		sb_esc(b, kg_i18n_code(c, i));
		sb_str(b, "\" lang=\"");
		sb_esc(b, kg_i18n_code(c, i));
		sb_str(b, "\">");
		sb_esc(b, kg_i18n_msg(c, i, "@name"));
		sb_str(b, "</a> ");
	}
	sb_str(b, "</nav>");
}

static void report_html(struct sb *b, const struct page *pg)
{
	if (!pg->domain[0] || !pg->token)
		return;
	/* ?lang=: the confirmation speaks the language this page was read in */
	sb_str(b, "<form method=\"post\" action=\"/report?lang=");
	sb_esc(b, rs__i18n_code(pg->h, pg->lang));
	sb_str(b, "\" class=\"report\"><input type=\"hidden\" name=\"token\" value=\"");
	sb_esc(b, pg->token);
	sb_str(b, "\"><input type=\"hidden\" name=\"domain\" value=\"");
	sb_esc(b, pg->domain);
	sb_str(b, "\"><button type=\"submit\" name=\"kind\" value=\"");
	sb_str(b, pg->blocked ? "wrong_block\">" : "not_blocked\">");
	sb_esc(b, msg(pg, pg->blocked ? "block.wrong_block" : "block.report_harmful"));
	sb_str(b, "</button></form>");
}

static const char fallback[] =
    "<!doctype html><html lang=\"{{LANG}}\"><head><meta charset=\"utf-8\"><meta "
    "name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{{TITLE}}</title>"
    "</head><body>{{LANGS}}<h1>{{TITLE}}</h1><p><b>{{DOMAIN}}</b></p><p>{{t:block.category}} "
    "{{CATEGORY}}</p><p class=\"reason\" data-decided-by=\"{{DECIDED_BY}}\">{{t:block.why}} "
    "{{REASON}}</p><p>{{TEXT}}</p>"
    "{{CONTACT}}{{REPORT}}<p><small>{{FOOTER}}</small></p></body></html>";

/* "{version}" of the footer message filled in. */
static void footer_html(struct sb *b, const struct page *pg)
{
	const char *m = msg(pg, "block.footer"), *at = strstr(m, "{version}");

	if (!at) {
		sb_esc(b, m);
		return;
	}
	char head[256];
	size_t n = (size_t)(at - m) < sizeof(head) - 1 ? (size_t)(at - m) : sizeof(head) - 1;
	memcpy(head, m, n);
	head[n] = '\0';
	sb_esc(b, head);
	sb_esc(b, pg->feed_version);
	sb_esc(b, at + strlen("{version}"));
}

static char *render(struct rs_http *h, const struct page *pg, size_t *len)
{
	size_t tlen = 0;
	char *tpl = rs__http_asset(h, "block.html", &tlen);
	char key[64];
	const char *p = tpl ? tpl : fallback, *open;
	struct sb b = {0};

	while ((open = strstr(p, "{{")) != NULL) {
		const char *close = strstr(open, "}}");
		if (!close)
			break;
		sb_add(&b, p, (size_t)(open - p));
		size_t n = (size_t)(close - open - 2);
		const char *k = open + 2;
#define KEY(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
		if (KEY("TITLE"))
			sb_esc(&b, pg->title);
		else if (KEY("DOMAIN"))
			sb_esc(&b, pg->domain);
		else if (KEY("CATEGORY"))
			sb_esc(&b, pg->category);
		else if (KEY("TEXT"))
			sb_esc(&b, pg->text);
		else if (KEY("REASON"))
			sb_esc(&b, pg->reason ? pg->reason : "");
		else if (KEY("DECIDED_BY"))
			sb_esc(&b, pg->decided_by ? pg->decided_by : "");
		else if (KEY("FEED_VERSION"))
			sb_esc(&b, pg->feed_version);
		else if (KEY("FOOTER"))
			footer_html(&b, pg);
		else if (KEY("LANG"))
			sb_esc(&b, rs__i18n_code(h, pg->lang));
		else if (KEY("CONTACT"))
			contact_html(&b, pg);
		else if (KEY("REPORT"))
			report_html(&b, pg);
		else if (KEY("LANGS"))
			langs_html(&b, pg);
		else if (n > 2 && n - 2 < sizeof(key) && memcmp(k, "t:", 2) == 0) {
			memcpy(key, k + 2, n - 2);
			key[n - 2] = '\0';
			sb_esc(&b, msg(pg, key));
		}
#undef KEY
		p = close + 2;
	}
	sb_str(&b, p);
	free(tpl);
	*len = b.len;
	return b.p;
}

/* Host header without the port, normalised; "" when it is not a name (an IP literal). */
static void host_name(struct rs_req *q, char *out, size_t len)
{
	const char *host = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Host");
	char tmp[BL_NAME_MAX + 8];
	size_t n;

	out[0] = '\0';
	if (!host || host[0] == '[')
		return;
	n = strcspn(host, ":");
	if (n >= sizeof(tmp))
		return;
	memcpy(tmp, host, n);
	tmp[n] = '\0';
	if (strspn(tmp, "0123456789.") == n || bl_name_normalize(tmp, out, len) != 0)
		out[0] = '\0';
}

/* The page's language and contact: ?lang=, [http] language or Accept-Language; block_page_contact,
 * or the language's default (Vietnamese: the national hotline 111). */
static void page_init(struct rs_req *q, const struct rs_config *cfg, struct page *pg)
{
	pg->h = q->h;
	pg->lang = rs__i18n_pick(q->h, cfg, q->conn);
	pg->contact = cfg->block_page_contact;
	if (!pg->contact[0]) {
		pg->contact = msg(pg, "@default_contact");
		pg->hotline = pg->contact[0] != '\0';
	}
}

static void report_post(struct rs_req *q, struct rs_resp *r)
{
	char domain[BL_NAME_MAX + 8], kind[32], addr[600];
	char token[RS_REPORT_TOKEN_LEN + 8];
	struct rs_report rep;
	struct page pg = {.category = "", .feed_version = ""};
	struct rs_cfg_ref *cr = rs__http_cfg_get(q->h);
	size_t len;
	int rc = -EINVAL;
	bool token_ok;

	page_init(q, &cr->cfg, &pg);
	pg.title = msg(&pg, "report.thanks");
	token_ok = q->body && rs__form_field(q->body, "token", token, sizeof(token)) == 0 &&
	           rs__report_token_ok(q->h, q->client, token);
	if (token_ok && rs__form_field(q->body, "domain", domain, sizeof(domain)) == 0 &&
	    rs__form_field(q->body, "kind", kind, sizeof(kind)) == 0)
		rc = rs__report_add(q->h, q->client, domain, kind, &rep);
	rs__report_address(q->h, addr, sizeof(addr));
	pg.domain = rc == 0 ? rep.domain : "";
	if (!token_ok) {
		pg.title = msg(&pg, "report.expired_title");
		pg.text = msg(&pg, "report.expired");
	} else if (rc == -EAGAIN)
		pg.text = msg(&pg, "report.too_many");
	else if (rc)
		pg.text = msg(&pg, "report.bad");
	else if (strncmp(addr, "https://", 8) != 0) /* mailto: or none: waits for a parent */
		pg.text = msg(&pg, "report.kept");
	else
		pg.text = msg(&pg, "report.sent");
	pg.blocked = false;
	char *html = render(q->h, &pg, &len);
	rs__http_cfg_put(cr);
	/* no second report button on the thank-you page */
	rs__resp_owned(r,
	               !token_ok       ? 403
	               : rc == -EAGAIN ? 429
	               : rc            ? 400
	                               : 200,
	               "text/html; charset=utf-8", html);
	r->len = len;
	r->content_language = rs__i18n_code(q->h, pg.lang);
}

/* What the page says about a blocked name: category, list version, the deciding step. */
static void blocked_page(const struct rs_verdict *k, struct page *pg, char *cats, size_t clen,
                         char *ver, size_t vlen)
{
	uint64_t c = k->have_list ? rs_verdict_categories(k) : 0;
	bool listed = k->step == RS_STEP_LIST;
	const char *why = rs__step_msg(k);

	pg->title = msg(pg, "block.title");
	pg->blocked = true;
	pg->reason = why ? msg(pg, why) : k->decided_by;
	pg->decided_by = k->decided_by;
	if (listed && c)
		rs__cat_labels(pg->h, pg->lang, c, cats, clen);
	else if (k->step == RS_STEP_BEDTIME)
		snprintf(cats, clen, "%s", msg(pg, "block.bedtime"));
	else if (listed)
		snprintf(cats, clen, "%s", msg(pg, "block.local"));
	else
		snprintf(cats, clen, "%s", k->text);
	if (listed && k->list.mandatory) /* the publisher's word: say so */
		snprintf(cats + strlen(cats), clen - strlen(cats), "; %s",
		         msg(pg, "block.mandatory"));
	if (listed && k->list.source == BL_SOURCE_FEED)
		snprintf(ver, vlen, "%u", k->list.feed_version);
	else if (listed)
		snprintf(ver, vlen, "%s", msg(pg, "block.local_rule"));
}

void rs__block_handle(struct rs_req *q, struct rs_resp *r)
{
	char name[BL_NAME_MAX], cats[512] = "", ver[64] = "", token[RS_REPORT_TOKEN_LEN + 1];
	struct rs_cfg_ref *cr;
	struct rs_client cl;
	struct sockaddr_storage fwd, subnet;
	uint8_t mac[6];
	struct rs_verdict k;
	struct bl_meta m;
	struct page pg = {0};
	size_t len;
	char *html;

	if (strcmp(q->method, "POST") == 0 && strcmp(q->url, "/report") == 0)
		return report_post(q, r);
	cr = rs__http_cfg_get(q->h);
	page_init(q, &cr->cfg, &pg);
	host_name(q, name, sizeof(name));
	pg.domain = name;
	rs__report_token(q->h, q->client, token);
	pg.token = token;
	pg.text = cr->cfg.block_page_text[0] ? cr->cfg.block_page_text : msg(&pg, "block.text");
	/* Who asked the DNS: behind a router naming devices by MAC, not the browser's address. */
	rs__seen_client(q->h, q->client, name, &cl, &fwd, &subnet, mac);
	if (name[0] && rs__http_decide(q->h, cr, &cl, name, &k) == 0 && k.outcome == RS_OUT_BLOCK) {
		blocked_page(&k, &pg, cats, sizeof(cats), ver, sizeof(ver));
	} else {
		/* Not blocked (or no name): the page of the filter itself. */
		pg.title = msg(&pg, name[0] ? "block.not_blocked_title" : "block.page_title");
		pg.text = msg(&pg, name[0] ? "block.not_blocked_text" : "block.page_text");
		pg.reason = name[0] ? msg(&pg, "block.not_blocked_reason") : "";
		snprintf(cats, sizeof(cats), "-");
		if (bl_db_meta(rs_server_store(q->h->srv), &m) == 0)
			snprintf(ver, sizeof(ver), "%llu", (unsigned long long)m.feed_version);
	}
	pg.category = cats;
	pg.feed_version = ver;
	html = render(q->h, &pg, &len);
	rs__http_cfg_put(cr);
	rs__resp_owned(r, 200, "text/html; charset=utf-8", html);
	r->len = len;
	r->content_language = rs__i18n_code(q->h, pg.lang);
}
