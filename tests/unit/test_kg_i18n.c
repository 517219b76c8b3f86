/* kgi18n: compiled-in catalogues, the choice of a language, the English fallback (kg_i18n.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "kg_i18n.h"

#define SRC(code, text)                                                                            \
	{                                                                                          \
		code, text, sizeof(text) - 1                                                       \
	}

static const struct kg_i18n_src srcs[] = {
    SRC("vi", "{\"@lang\":\"vi\",\"a.b\":\"Trang web\",\"a.c\":\"\"}"),
    SRC("xx", "{not json"), /* a broken catalogue is left out, the others load */
    SRC("en", "{\"@lang\":\"en\",\"a.b\":\"Site\",\"a.c\":\"Score\",\"a.d\":\"Only English\"}"),
};

static void test_pick(void **state)
{
	struct kg_i18n c;

	(void)state;
	assert_int_equal(kg_i18n_load(&c, srcs, 3), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(kg_i18n_code(&c, c.en), "en");
	assert_int_equal(kg_i18n_find(&c, "xx"), -1);
	/* forced by a config key beats the header; "auto" and unknown codes do not force */
	assert_string_equal(kg_i18n_code(&c, kg_i18n_pick(&c, "en", "vi")), "en");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_pick(&c, "auto", "vi-VN,en;q=0.5")), "vi");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_pick(&c, "de", "fr, en;q=0.1")), "en");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_pick(&c, NULL, "vi;q=0, fr")), "en");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_pick(&c, NULL, NULL)), "en");
	assert_string_equal(kg_i18n_code(&c, 99), "en");
	kg_i18n_free(&c);
}

static void test_messages(void **state)
{
	struct kg_i18n c;
	int vi;

	(void)state;
	assert_int_equal(kg_i18n_load(&c, srcs, 3), 0);
	vi = kg_i18n_find(&c, "vi");
	assert_string_equal(kg_i18n_msg(&c, vi, "a.b"), "Trang web");
	/* empty or missing: English; missing in English too: the key itself */
	assert_string_equal(kg_i18n_msg(&c, vi, "a.c"), "Score");
	assert_string_equal(kg_i18n_msg(&c, vi, "a.d"), "Only English");
	assert_string_equal(kg_i18n_msg(&c, vi, "a.e"), "a.e");
	assert_null(kg_i18n_get(&c, vi, "a.d"));
	assert_non_null(kg_i18n_json(&c, vi));
	assert_null(kg_i18n_json(&c, 5));
	/* URLs of the catalogues */
	assert_int_equal(kg_i18n_url(&c, "/i18n.json", 7), 7);
	assert_int_equal(kg_i18n_url(&c, "/i18n/vi.json", 7), vi);
	assert_int_equal(kg_i18n_url(&c, "/i18n/vi.jsonx", 7), -1);
	assert_int_equal(kg_i18n_url(&c, "/i18n/xx.json", 7), -1);
	assert_int_equal(kg_i18n_url(&c, "/other", 7), -1);
	kg_i18n_free(&c);
}

static void test_none_loads(void **state)
{
	struct kg_i18n c;

	(void)state;
	assert_true(kg_i18n_load(&c, srcs + 1, 1) < 0);
	kg_i18n_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_none_loads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
