/* kgi18n: compiled-in catalogues, the choice of a language, the English fallback (kg_i18n.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
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

/* The viewer's choice (a page's language switch) beats the configured language and the
 * browser's; a value naming no catalogue is ignored. */
static void test_choose(void **state)
{
	struct kg_i18n c;

	(void)state;
	assert_int_equal(kg_i18n_load(&c, srcs, 3), 0);
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, "vi", "en", "en")), "vi");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, "en", "vi", "vi")), "en");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, "xx", "auto", "vi")), "vi");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, "", "vi", NULL)), "vi");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, "../vi", NULL, NULL)), "en");
	assert_string_equal(kg_i18n_code(&c, kg_i18n_choose(&c, NULL, NULL, "vi")), "vi");
	kg_i18n_free(&c);
}

/* A page's catalogue: a copy with "@languages" for the switch; the original is untouched. */
static void test_page_json(void **state)
{
	struct kg_i18n c;
	cJSON *j, *names;

	(void)state;
	assert_int_equal(kg_i18n_load(&c, srcs, 3), 0);
	j = kg_i18n_page_json(&c, kg_i18n_find(&c, "vi"));
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "a.b")->valuestring, "Trang web");
	names = cJSON_GetObjectItem(j, "@languages");
	assert_int_equal(cJSON_GetArraySize(names), 2);
	/* no "@name" in these catalogues: the key shows, as every missing message does */
	assert_string_equal(cJSON_GetObjectItem(names, "en")->valuestring, "@name");
	assert_null(cJSON_GetObjectItem((cJSON *)kg_i18n_json(&c, 0), "@languages"));
	assert_null(kg_i18n_page_json(&c, 7));
	cJSON_Delete(j);
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
	    cmocka_unit_test(test_pick),       cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_choose),     cmocka_unit_test(test_page_json),
	    cmocka_unit_test(test_none_loads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
