/*
 * Fuzz target: rs_h1_parse, the HTTP/1.1 request parser of DoH. The input is a byte stream
 * of pipelined requests, taken the way rs_doh.c takes it: parse one request at the front, drop
 * it, parse the next, until the parser wants more bytes or answers an error.
 *
 * The stream sits in a heap buffer of exactly its size, so a read past the end is an ASan
 * report. Checked for every call: the result is a length within the buffer, 0, or one of the
 * documented statuses; 0 never comes once the buffer holds a whole head and body's worth; the
 * request's fields lie inside the buffer and inside its head; `req` is untouched unless a
 * request is returned; and the same call on every shorter prefix says "need more" (a request
 * never depends on bytes after it), while the exact prefix gives the same request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rs_dns.h"

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void check_request(const uint8_t *buf, size_t len, int rc, const struct rs_h1_req *r)
{
	size_t head = (size_t)rc - r->body_len;

	FUZZ_CHECK((size_t)rc <= len);
	FUZZ_CHECK(r->body_len <= RS_H1_BODY_MAX && (size_t)rc > r->body_len);
	FUZZ_CHECK(head >= 4 && head <= RS_H1_HEAD_MAX);
	FUZZ_CHECK(memcmp(buf + head - 4, "\r\n\r\n", 4) == 0);
	FUZZ_CHECK(r->method == buf && r->method_len >= 1 && r->method_len <= RS_H1_METHOD_MAX);
	FUZZ_CHECK(inside(r->target, r->target_len, buf, head) && r->target_len >= 1);
	FUZZ_CHECK(memchr(r->target, ' ', r->target_len) == NULL);
	if (r->body_len)
		FUZZ_CHECK(r->body == buf + head);
	else
		FUZZ_CHECK(r->body == NULL);
}

/* A prefix of a request is never a request, nor an error the whole one is not. */
static void check_prefixes(const uint8_t *buf, size_t len, int rc, const struct rs_h1_req *r)
{
	struct rs_h1_req p;
	uint8_t *copy = malloc((size_t)rc);
	size_t cuts[] = {0, 1, (size_t)rc / 2, (size_t)rc - r->body_len - 1, (size_t)rc - 1};

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, (size_t)rc);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= (size_t)rc)
			continue;
		FUZZ_CHECK(rs_h1_parse(copy, cuts[i], &p) == 0);
	}
	FUZZ_CHECK(rs_h1_parse(copy, (size_t)rc, &p) == rc);
	FUZZ_CHECK(p.method_len == r->method_len && p.target_len == r->target_len &&
	           p.body_len == r->body_len && p.ct_dns == r->ct_dns && p.close == r->close);
	FUZZ_CHECK(p.target - copy == r->target - buf);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t off = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (;;) {
		struct rs_h1_req r;
		unsigned char before[sizeof(r)];
		int rc;

		/* Bytes, not a struct copy: 0xa5 is no valid bool. */
		memset(&r, 0xa5, sizeof(r));
		memcpy(before, &r, sizeof(r));
		rc = rs_h1_parse(buf + off, size - off, &r);
		if (rc <= 0) {
			FUZZ_CHECK(rc == 0 || rc == -400 || rc == -413 || rc == -431 || rc == -501);
			FUZZ_CHECK(memcmp(&r, before, sizeof(r)) == 0);
			if (rc == 0)
				FUZZ_CHECK(size - off < RS_H1_HEAD_MAX + RS_H1_BODY_MAX);
			break;
		}
		check_request(buf + off, size - off, rc, &r);
		check_prefixes(buf + off, size - off, rc, &r);
		off += (size_t)rc;
	}
	free(buf);
	return 0;
}
