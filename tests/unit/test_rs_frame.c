/* Unit tests: the RFC 7766 stream framing of client TCP and DoT (resolver/rs_frame.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_int.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_and_pipelined),
	    cmocka_unit_test(test_need_more),
	    cmocka_unit_test(test_short_frames),
	    cmocka_unit_test(test_largest),
	};

	return cmocka_run_group_tests_name("rs_frame", tests, NULL, NULL);
}
