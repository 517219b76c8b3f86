/* Unit tests: the one error model (common/kg_err.c): kg_strerror() names every module's codes,
 * KG_REQUIRE() aborts with file:line, kg_fails_assert() counts and logs rate-limited. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kg_err.h"

static const int codes[] = {
    RS_EINVAL,   RS_ENOMEM,   RS_EPARSE,     RS_ENOSPC,   RS_EIO,       RS_ELIMIT,   BL_ENAME,
    BL_ENOSPACE, BL_EMAPFULL, BL_ECORRUPT,   BL_EVERSION, BL_ENOTFOUND, BL_EREADERS, BL_ECATEGORY,
    BL_ESTORE,   BL_EFULLTXN, SY_ESIG,       SY_EFORMAT,  SY_EROLLBACK, SY_EEXPIRED, SY_EHASH,
    SY_ETOOBIG,  SY_EFETCH,   SY_ESTOP,      SY_ESTALE,   -ENOMEM,      -EINVAL,     -ENOENT,
    -EAGAIN,     -EACCES,     -ECONNREFUSED,
};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

static bool named(const char *s)
{
	return s && *s && !strstr(s, "nknown error") && strcmp(s, "success") != 0;
}

/* Every code has its own text: no "Unknown error 4001" (what rs_strerror() printed for a store
 * error), and no two codes share a text, so a log line tells which one it was. */
static void test_every_code_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++) {
		const char *s = kg_strerror(codes[i]);

		if (!named(s))
			fail_msg("code %d has no name: \"%s\"", codes[i], s ? s : "(null)");
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(s, kg_strerror(codes[j])) == 0)
				fail_msg("codes %d and %d share \"%s\"", codes[i], codes[j], s);
	}
}

static void test_ranges_do_not_overlap(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++)
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(codes[i], codes[j]);
	/* Our ranges sit beyond any errno, so -errno can never be mistaken for one. */
	assert_true(RS_EINVAL < -999 && BL_ENAME < -999 && SY_ESIG < -999);
}

static void test_success_and_strangers(void **state)
{
	(void)state;
	assert_string_equal(kg_strerror(0), "success");
	/* Unassigned values inside and outside the ranges get one fixed text, never NULL. */
	assert_string_equal(kg_strerror(-1099), "unknown error");
	assert_string_equal(kg_strerror(-4100), "unknown error");
	assert_string_equal(kg_strerror(-4200), "unknown error");
	assert_string_equal(kg_strerror(-99999), "unknown error");
	assert_string_equal(kg_strerror(7), "unknown error");
}

/* Run `fn` with stderr sent to a temporary file; return its text. */
static void capture(void (*fn)(void), char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int fired;

static void fail_fifty_times(void)
{
	for (int i = 0; i < 50; i++)
		if (kg_fails_assert(i < 0))
			fired++;
}

static void hold_fifty_times(void)
{
	for (int i = 0; i < 50; i++)
		if (kg_fails_assert(i >= 0))
			fired++;
}

/* A surprise repeated per query is reported true every time and counted every time, but
 * logged once per window: a flood of bad queries cannot flood the journal. */
static void test_fails_assert_rate_limited(void **state)
{
	char text[4096];
	unsigned long long before = kg_fails_assert_count();

	(void)state;
	fired = 0;
	capture(fail_fifty_times, text, sizeof(text));
	assert_int_equal(fired, 50);
	assert_int_equal(kg_fails_assert_count() - before, 50);
	assert_int_equal(lines(text), 1);
	assert_non_null(strstr(text, "test_kg_err.c:"));
	assert_non_null(strstr(text, "(i < 0)"));
	assert_non_null(strstr(text, "SERVFAIL"));
}

static void test_fails_assert_holds(void **state)
{
	char text[256];
	unsigned long long before = kg_fails_assert_count();

	(void)state;
	fired = 0;
	capture(hold_fifty_times, text, sizeof(text));
	assert_int_equal(fired, 0);
	assert_int_equal(kg_fails_assert_count(), before);
	assert_string_equal(text, "");
}

/* A broken invariant aborts and says where. Run in a child: it must die. */
static void test_require_aborts(void **state)
{
	int fds[2], status;
	char text[512];
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int zero = 0;

		dup2(fds[1], STDERR_FILENO);
		KG_REQUIRE(zero == 1);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], text, sizeof(text) - 1);
	close(fds[0]);
	assert_true(n > 0);
	text[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(text, "test_kg_err.c:"));
	assert_non_null(strstr(text, "zero == 1"));
	KG_REQUIRE(n > 0); /* holds: nothing happens */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_code_named),
	    cmocka_unit_test(test_ranges_do_not_overlap),
	    cmocka_unit_test(test_success_and_strangers),
	    cmocka_unit_test(test_fails_assert_rate_limited),
	    cmocka_unit_test(test_fails_assert_holds),
	    cmocka_unit_test(test_require_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
