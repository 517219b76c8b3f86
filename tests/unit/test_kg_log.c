/* Unit tests: rate-limited log lines (common/kg_log.c), for what can repeat once per query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kg_log.h"

/* Run `calls` rate-limited records with stderr sent to a temporary file; return its text. */
static void capture(struct kg_log_limit *l, int level, int calls, char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	for (int i = 0; i < calls; i++)
		kg_log_limited(l, 10, level, "store failed (%d)", i);
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

static void test_one_line_per_window(void **state)
{
	struct kg_log_limit l = {0};
	char text[4096];

	(void)state;
	capture(&l, KG_LOG_ERR, 50, text, sizeof(text));
	assert_int_equal(lines(text), 1);
	assert_non_null(strstr(text, "store failed (0)"));
	assert_int_equal(l.held, 49);
	/* When the window has passed, the next line says how many were held back. */
	l.next_ms = 1;
	capture(&l, KG_LOG_ERR, 1, text, sizeof(text));
	assert_int_equal(lines(text), 1);
	assert_non_null(strstr(text, "store failed (0) (49 more like this not logged"));
	assert_int_equal(l.held, 0);
}

static void test_below_level_is_silent(void **state)
{
	struct kg_log_limit l = {0};
	char text[256];

	(void)state;
	kg_log_set_level(KG_LOG_ERR);
	capture(&l, KG_LOG_DEBUG, 3, text, sizeof(text));
	assert_string_equal(text, "");
	assert_int_equal(l.next_ms, 0); /* a filtered record does not use up the window */
	kg_log_set_level(KG_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_line_per_window),
	    cmocka_unit_test(test_below_level_is_silent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
