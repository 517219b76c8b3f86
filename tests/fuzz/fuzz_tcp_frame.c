/*
 * Fuzz target: rs_frame_next, the RFC 7766 framing of client TCP and DoT streams. The input
 * is a byte stream and the sizes of the reads that deliver it:
 *
 *   byte 0        m = byte % 17, the number of read sizes that follow
 *   2 * m bytes   read sizes, big-endian, used in turn (0: everything left in one read)
 *   the rest      the stream
 *
 * The stream goes through the read path of rs_tcp.c and rs_dot.c: each read lands in a
 * connection buffer that grows 4 KiB past what it holds up to RS_MAX_MSG + 2 (on_alloc), then
 * rs_frame_drain hands out complete frames while the connection has fewer than PIPELINE
 * queries in flight and moves the rest to the front; a frame that is too short closes the
 * connection. At the limit the connection reads nothing: answers go out (one to PIPELINE of
 * them, in turn) and the drain runs again, as rs_tcp.c's resume_reading does. Checked: the
 * pipeline limit is never passed, there is always room for the next read (a buffer the
 * connection reads into holds at most a partial frame), every message lies inside the buffer
 * with the length its prefix announced, the out-parameters of rs_frame_next are untouched
 * unless a message is returned, and the messages and the final verdict are those of the whole
 * stream split in one go. Each message then goes through rs_query_parse, as rs__handle_query
 * would give it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rs_dns.h"

#define MAX_SIZES 16
#define BUF_CAP   (RS_MAX_MSG + 2)
#define UNSET     ((size_t)-1)
#define PIPELINE  3 /* small, so that short inputs reach it (RS_TCP_PIPELINE is 32) */

struct stream {
	const uint8_t *data; /* the whole stream, split in one go as the reference */
	size_t len;
	size_t ref_off; /* where the reference's next frame starts */
};

/* One call, with the checks that hold whatever it returns. */
static int next(const uint8_t *buf, size_t len, size_t *moff, size_t *mlen)
{
	int rc;

	*moff = *mlen = UNSET;
	rc = rs_frame_next(buf, len, moff, mlen);
	if (rc != 0) {
		FUZZ_CHECK(rc == -EAGAIN || rc == RS_EPARSE);
		FUZZ_CHECK(*moff == UNSET && *mlen == UNSET);
		FUZZ_CHECK(rc == -EAGAIN || (len >= 2 && ((buf[0] << 8) | buf[1]) < RS_HDR_LEN));
		return rc;
	}
	FUZZ_CHECK(*moff == 2);
	FUZZ_CHECK(*mlen == (size_t)((buf[0] << 8) | buf[1]));
	FUZZ_CHECK(*mlen >= RS_HDR_LEN);
	FUZZ_CHECK(*moff + *mlen <= len);
	return 0;
}

/* A message the connection yielded must be the reference's next one. */
static void expect_same(struct stream *s, const uint8_t *msg, size_t mlen)
{
	size_t moff, rlen;

	FUZZ_CHECK(next(s->data + s->ref_off, s->len - s->ref_off, &moff, &rlen) == 0);
	FUZZ_CHECK(rlen == mlen);
	FUZZ_CHECK(memcmp(s->data + s->ref_off + moff, msg, mlen) == 0);
	s->ref_off += moff + rlen;
}

/* The connection as rs_frame_drain sees it. */
struct conn {
	struct stream *s;
	int inflight;
};

static bool conn_ready(void *arg)
{
	struct conn *c = arg;

	return c->inflight < PIPELINE;
}

static void conn_dispatch(void *arg, const uint8_t *msg, size_t mlen)
{
	struct conn *c = arg;
	struct rs_question q;

	FUZZ_CHECK(++c->inflight <= PIPELINE);
	expect_same(c->s, msg, mlen);
	(void)rs_query_parse(msg, mlen, &q);
}

/* drain_frames. Returns RS_EPARSE when the connection closes. */
static int drain(struct conn *c, uint8_t *buf, size_t *len)
{
	const struct rs_frame_sink sink = {conn_ready, conn_dispatch, c};
	size_t before = *len, moff, mlen;
	int rc = rs_frame_drain(buf, len, &sink);

	FUZZ_CHECK(rc == 0 || rc == RS_EPARSE);
	FUZZ_CHECK(*len <= before);
	/* Below the limit, what stays is at most a partial frame (or the frame that closes). */
	if (rc == 0 && c->inflight < PIPELINE)
		FUZZ_CHECK(next(buf, *len, &moff, &mlen) != 0);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF_CAP];
	size_t sizes[MAX_SIZES], m, hdr, pos = 0, len = 0, cap = 0, k = 0, moff, mlen;
	struct stream s;
	struct conn c;
	int rc = 0;

	if (size < 1)
		return 0;
	m = data[0] % (MAX_SIZES + 1);
	hdr = 1 + 2 * m;
	if (size < hdr)
		return 0;
	for (size_t i = 0; i < m; i++)
		sizes[i] = (size_t)((data[1 + 2 * i] << 8) | data[2 + 2 * i]);
	s = (struct stream){.data = data + hdr, .len = size - hdr};
	c = (struct conn){.s = &s};
	while (rc == 0 && (pos < s.len || c.inflight == PIPELINE)) {
		size_t want = len + 4096 < BUF_CAP ? len + 4096 : BUF_CAP, n;
		if (c.inflight == PIPELINE) {
			/* Full: reading is stopped; some answers go out, then the held frames. */
			c.inflight -= 1 + (int)(k++ % PIPELINE);
			rc = drain(&c, buf, &len);
			continue;
		}
		if (cap < want)
			cap = want;    /* on_alloc's realloc */
		FUZZ_CHECK(cap > len); /* a read into no room would stall the connection */
		n = m && sizes[k % m] ? sizes[k % m] : s.len - pos;
		k++;
		if (n > cap - len)
			n = cap - len;
		if (n > s.len - pos)
			n = s.len - pos;
		memcpy(buf + len, s.data + pos, n);
		len += n;
		pos += n;
		rc = drain(&c, buf, &len);
	}
	/* Closed where the reference closes, or waiting on the same unconsumed tail. */
	if (rc != 0) {
		FUZZ_CHECK(next(s.data + s.ref_off, s.len - s.ref_off, &moff, &mlen) == RS_EPARSE);
	} else {
		FUZZ_CHECK(next(s.data + s.ref_off, s.len - s.ref_off, &moff, &mlen) == -EAGAIN);
		FUZZ_CHECK(len == s.len - s.ref_off);
		FUZZ_CHECK(memcmp(buf, s.data + s.ref_off, len) == 0);
	}
	return 0;
}
