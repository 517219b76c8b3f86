/*
 * RFC 7766 stream framing for the client TCP and DoT listeners, kept apart from the libuv
 * callbacks so that tests/fuzz can feed it byte streams cut at arbitrary points.
 *
 * Both listeners hand their buffered frames out through rs_frame_drain, which asks before each
 * frame whether the connection may take one more query: the pipeline limit holds per query,
 * not per read (one 4 KiB read carries ~200 minimal queries).
 */
#include "rs_dns.h"

#include <errno.h>
#include <string.h>

int rs_frame_next(const uint8_t *buf, size_t len, size_t *msg_off, size_t *msg_len)
{
	size_t mlen;

	if (len < 2)
		return -EAGAIN;
	mlen = (size_t)((buf[0] << 8) | buf[1]);
	/* Checked before waiting for the body: a client announcing 0..11 octets is closed at
	 * once instead of holding the connection until the idle timeout. */
	if (mlen < RS_HDR_LEN)
		return RS_EPARSE;
	if (len - 2 < mlen)
		return -EAGAIN;
	*msg_off = 2;
	*msg_len = mlen;
	return 0;
}

int rs_frame_drain(uint8_t *buf, size_t *len, const struct rs_frame_sink *sink)
{
	size_t off = 0;
	int rc = 0;

	while (sink->ready(sink->arg)) {
		size_t moff, mlen;
		rc = rs_frame_next(buf + off, *len - off, &moff, &mlen);
		if (rc == -EAGAIN) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		sink->dispatch(sink->arg, buf + off + moff, mlen);
		off += moff + mlen;
	}
	/* Whole frames held back at the limit stay too: the caller stops reading meanwhile, so
	 * the buffer never grows past one read beyond them. */
	if (off) {
		memmove(buf, buf + off, *len - off);
		*len -= off;
	}
	return rc;
}
