/* Unit tests: the RFC 7766 stream framing of client TCP and DoT (resolver/dns/rs_frame.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_dns.h"

#define UNSET ((size_t)-1)

static uint8_t big[RS_MAX_MSG + 2 + 14];

static void test_one_and_pipelined(void **state)
{
	/* Two frames of 12 and 13 octets, back to back. */
	uint8_t b[2 + 12 + 2 + 13] = {0, 12};
	size_t off = UNSET, len = UNSET;

	(void)state;
	b[14] = 0;
	b[15] = 13;
	assert_int_equal(rs_frame_next(b, sizeof(b), &off, &len), 0);
	assert_int_equal(off, 2);
	assert_int_equal(len, 12);
	assert_int_equal(rs_frame_next(b + 14, sizeof(b) - 14, &off, &len), 0);
	assert_int_equal(off, 2);
	assert_int_equal(len, 13);
}

static void test_need_more(void **state)
{
	uint8_t b[2 + 20] = {0, 20};
	size_t off = UNSET, len = UNSET;

	(void)state;
	assert_int_equal(rs_frame_next(b, 0, &off, &len), -EAGAIN);
	assert_int_equal(rs_frame_next(b, 1, &off, &len), -EAGAIN); /* half a prefix */
	assert_int_equal(rs_frame_next(b, 2, &off, &len), -EAGAIN);
	assert_int_equal(rs_frame_next(b, sizeof(b) - 1, &off, &len), -EAGAIN);
	assert_true(off == UNSET && len == UNSET); /* untouched unless a message comes out */
	assert_int_equal(rs_frame_next(b, sizeof(b), &off, &len), 0);
	assert_int_equal(len, 20);
}

/* 0..11 octets cannot carry an ID: refused at once, without waiting for the body. */
static void test_short_frames(void **state)
{
	uint8_t b[2 + 12] = {0};
	size_t off = UNSET, len = UNSET;

	(void)state;
	for (int n = 0; n < RS_HDR_LEN; n++) {
		b[1] = (uint8_t)n;
		assert_int_equal(rs_frame_next(b, 2, &off, &len), RS_EPARSE);
		assert_int_equal(rs_frame_next(b, sizeof(b), &off, &len), RS_EPARSE);
	}
	assert_true(off == UNSET && len == UNSET);
}

/* The largest frame fits the connection buffer exactly (RS_MAX_MSG + 2). */
static void test_largest(void **state)
{
	size_t off = UNSET, len = UNSET;

	(void)state;
	big[0] = 0xff;
	big[1] = 0xff;
	assert_int_equal(rs_frame_next(big, RS_MAX_MSG + 1, &off, &len), -EAGAIN);
	assert_int_equal(rs_frame_next(big, RS_MAX_MSG + 2, &off, &len), 0);
	assert_int_equal(off + len, RS_MAX_MSG + 2);
	assert_int_equal(rs_frame_next(big, sizeof(big), &off, &len), 0);
	assert_int_equal(len, RS_MAX_MSG);
}

/* A connection for rs_frame_drain: takes `room` more queries, records their first bytes. */
struct sink_state {
	int room, got;
	uint8_t first[64];
};

static bool sink_ready(void *arg)
{
	struct sink_state *st = arg;

	return st->got < st->room;
}

static void sink_dispatch(void *arg, const uint8_t *msg, size_t len)
{
	struct sink_state *st = arg;

	assert_true(len >= RS_HDR_LEN);
	st->first[st->got++] = msg[0];
}

/* Issue 15 finding 9: at the pipeline limit, the frames of one read that are left over stay
 * buffered, in order, and come out when the connection is ready again. */
static void test_drain_stops_at_limit(void **state)
{
	uint8_t b[5 * 14 + 3];
	struct sink_state st = {.room = 2};
	const struct rs_frame_sink sink = {sink_ready, sink_dispatch, &st};
	size_t len = sizeof(b);

	(void)state;
	memset(b, 0, sizeof(b));
	for (int i = 0; i < 5; i++) {
		b[i * 14 + 1] = 12;
		b[i * 14 + 2] = (uint8_t)(10 + i); /* first byte of the ID */
	}
	b[5 * 14 + 1] = 40; /* the start of a sixth frame, incomplete */
	assert_int_equal(rs_frame_drain(b, &len, &sink), 0);
	assert_int_equal(st.got, 2);
	assert_int_equal(len, 3 * 14 + 3); /* three whole frames and the partial one kept */
	assert_int_equal(b[2], 12);        /* ... moved to the front */
	st.room = 4;
	assert_int_equal(rs_frame_drain(b, &len, &sink), 0);
	assert_int_equal(st.got, 4);
	assert_int_equal(len, 14 + 3);
	st.room = 100;
	assert_int_equal(rs_frame_drain(b, &len, &sink), 0);
	assert_int_equal(st.got, 5);
	assert_int_equal(len, 3); /* only the partial frame waits for more bytes */
	for (int i = 0; i < 5; i++)
		assert_int_equal(st.first[i], 10 + i);
}

/* A frame too short to carry an ID ends the drain with RS_EPARSE; earlier ones went out. */
static void test_drain_short_frame(void **state)
{
	uint8_t b[14 + 2] = {0, 12};
	struct sink_state st = {.room = 100};
	const struct rs_frame_sink sink = {sink_ready, sink_dispatch, &st};
	size_t len = sizeof(b);

	(void)state;
	b[15] = 3;
	assert_int_equal(rs_frame_drain(b, &len, &sink), RS_EPARSE);
	assert_int_equal(st.got, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_and_pipelined),    cmocka_unit_test(test_need_more),
	    cmocka_unit_test(test_short_frames),         cmocka_unit_test(test_largest),
	    cmocka_unit_test(test_drain_stops_at_limit), cmocka_unit_test(test_drain_short_frame),
	};

	return cmocka_run_group_tests_name("rs_frame", tests, NULL, NULL);
}
