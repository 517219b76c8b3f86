/*
 * RFC 7766 stream framing for the client TCP and DoT listeners, kept apart from the libuv
 * callbacks so that tests/fuzz can feed it byte streams cut at arbitrary points.
 */
#include "rs_int.h"

#include <errno.h>

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
