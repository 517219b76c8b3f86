/*
 * The HTTP/1.1 request parser of DoH (RFC 9112, the part RFC 8484 needs), kept apart from the
 * connection code so that tests/fuzz can feed it any bytes, cut anywhere.
 *
 * It reads ONE request from the front of a buffer, copies nothing and allocates nothing: the
 * caller loops. The old parser copied the head into a 16 KiB stack buffer and was re-entered
 * from the answer path once per pipelined request, which overflowed the worker's stack.
 *
 * Deliberately strict, since only DoH clients speak to it: CRLF line ends, no obs-fold, no
 * control bytes in values, one Content-Length of digits only, no Transfer-Encoding (chunked
 * bodies are not worth their parser for a DNS message: 501).
 */
#include "rs_dns.h"

#include <string.h>

static bool is_tchar(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Case-insensitive ASCII comparison of a (p, n) field with a NUL-terminated lowercase word. */
static bool field_is(const uint8_t *p, size_t n, const char *word)
{
	size_t wl = strlen(word);

	if (n != wl)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		if (ch != (uint8_t)word[i])
			return false;
	}
	return true;
}

/* True when the comma-separated token list (p, n) holds `word` (Connection: a, close). */
static bool list_has(const uint8_t *p, size_t n, const char *word)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		s = i;
		while (i < n && p[i] != ',')
			i++;
		e = i;
		while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e > s && field_is(p + s, e - s, word))
			return true;
	}
	return false;
}

/* "METHOD SP TARGET SP HTTP/1.x" in line (p, n). Returns 0 or -400. */
static int request_line(const uint8_t *p, size_t n, struct rs_h1_req *r)
{
	size_t i = 0, s;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i > RS_H1_METHOD_MAX || i >= n || p[i] != ' ')
		return -400;
	r->method = p;
	r->method_len = i;
	s = ++i;
	while (i < n && p[i] > 0x20 && p[i] < 0x7f)
		i++;
	if (i == s || i >= n || p[i] != ' ')
		return -400;
	r->target = p + s;
	r->target_len = i - s;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1'))
		return -400;
	/* HTTP/1.0 closes after each answer unless it asks to keep the connection. */
	r->close = p[i + 7] == '0';
	return 0;
}

static int content_length(const uint8_t *v, size_t n, size_t *out)
{
	size_t x = 0;

	if (n == 0)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		x = x * 10 + (size_t)(v[i] - '0');
		if (x > RS_H1_BODY_MAX)
			return -413; /* also stops the sum before it could wrap */
	}
	*out = x;
	return 0;
}

/* One "Name: value" line (p, n). Returns 0 or minus an HTTP status. */
static int header_line(const uint8_t *p, size_t n, struct rs_h1_req *r, bool *have_cl, size_t *clen)
{
	size_t i = 0, vs, ve;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return -400; /* also obs-fold (a line starting with a space) and "Name :" */
	vs = i + 1;
	for (size_t k = vs; k < n; k++)
		if ((p[k] < 0x20 && p[k] != '\t') || p[k] == 0x7f)
			return -400;
	while (vs < n && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
		ve--;
	if (field_is(p, i, "content-length")) {
		size_t v = 0;
		int rc = content_length(p + vs, ve - vs, &v);
		if (rc < 0)
			return rc;
		if (*have_cl && v != *clen)
			return -400; /* two lengths: a smuggling attempt, not a DoH client */
		*have_cl = true;
		*clen = v;
	} else if (field_is(p, i, "transfer-encoding")) {
		return -501;
	} else if (field_is(p, i, "content-type")) {
		r->ct_dns = field_is(p + vs, ve - vs, "application/dns-message");
	} else if (field_is(p, i, "connection")) {
		if (list_has(p + vs, ve - vs, "close"))
			r->close = true;
		else if (list_has(p + vs, ve - vs, "keep-alive"))
			r->close = false;
	}
	return 0;
}

/* The length of the head including its blank line, 0 when incomplete, or -431. */
static size_t head_len(const uint8_t *buf, size_t len, int *err)
{
	size_t scan = len < RS_H1_HEAD_MAX ? len : RS_H1_HEAD_MAX;
	const uint8_t *end = memmem(buf, scan, "\r\n\r\n", 4);

	*err = 0;
	if (end)
		return (size_t)(end - buf) + 4;
	if (len >= RS_H1_HEAD_MAX)
		*err = -431;
	return 0;
}

int rs_h1_parse(const uint8_t *buf, size_t len, struct rs_h1_req *req)
{
	struct rs_h1_req r = {0};
	size_t hlen, pos, clen = 0;
	bool have_cl = false;
	int rc;

	if (!buf || !req)
		return -400;
	hlen = head_len(buf, len, &rc);
	if (hlen == 0)
		return rc;
	/* Lines of the head: the request line, then headers up to the blank line. */
	for (pos = 0; pos < hlen - 2;) {
		const uint8_t *eol = memmem(buf + pos, hlen - pos, "\r\n", 2);
		size_t n = (size_t)(eol - (buf + pos)); /* eol is found: the head ends in CRLF */
		for (size_t k = 0; k < n; k++)
			if (buf[pos + k] == '\r' || buf[pos + k] == '\n' || buf[pos + k] == 0)
				return -400; /* a bare CR or LF, or NUL */
		if (pos == 0)
			rc = request_line(buf, n, &r);
		else
			rc = header_line(buf + pos, n, &r, &have_cl, &clen);
		if (rc < 0)
			return rc;
		pos += n + 2;
	}
	if (len - hlen < clen)
		return 0;
	r.body = clen ? buf + hlen : NULL;
	r.body_len = clen;
	*req = r;
	return (int)(hlen + clen);
}
