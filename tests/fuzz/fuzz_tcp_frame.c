/*
 * Fuzz target: rs_frame_next, the RFC 7766 framing of client TCP and DoT streams. The input
 * is a byte stream and the sizes of the reads that deliver it:
 *
 *   byte 0        m = byte % 17, the number of read sizes that follow
 *   2 * m bytes   read sizes, big-endian, used in turn (0: everything left in one read)
 *   the rest      the stream
 *
 * The stream goes through the read path of rs_tcp.c: each read lands in a connection buffer
 * that grows 4 KiB past what it holds up to RS_MAX_MSG + 2 (on_alloc), then every complete
 * frame is taken and the unconsumed tail moved to the front (drain_frames); a frame that is
 * too short closes the connection. Checked: there is always room for the next read (a full
 * buffer always holds a whole frame), every message lies inside the buffer with the length its
 * prefix announced, the out-parameters are untouched unless a message is returned, and the
 * messages and the final verdict are those of the whole stream split in one go. Each message
 * then goes through rs_query_parse, as rs__handle_query would give it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rs_int.h"

#define MAX_SIZES 16
#define BUF_CAP   (RS_MAX_MSG + 2)
#define UNSET     ((size_t)-1)

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

/* drain_frames: take every complete frame. Returns RS_EPARSE when the connection closes. */
static int drain(struct stream *s, uint8_t *buf, size_t *len)
{
	size_t off = 0, moff, mlen;
	struct rs_question q;
	int rc;

	while ((rc = next(buf + off, *len - off, &moff, &mlen)) == 0) {
		expect_same(s, buf + off + moff, mlen);
		(void)rs_query_parse(buf + off + moff, mlen, &q);
		off += moff + mlen;
	}
	if (rc != -EAGAIN)
		return rc;
	memmove(buf, buf + off, *len - off);
	*len -= off;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF_CAP];
	size_t sizes[MAX_SIZES], m, hdr, pos = 0, len = 0, cap = 0, k = 0, moff, mlen;
	struct stream s;
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
	while (rc == 0 && pos < s.len) {
		size_t want = len + 4096 < BUF_CAP ? len + 4096 : BUF_CAP, n;
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
		rc = drain(&s, buf, &len);
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
