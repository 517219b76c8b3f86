/* Unit tests: name normalisation and key encoding (blocklist/bl_name.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bl.h"

static void norm_ok(const char *in, const char *want)
{
	char out[BL_NAME_MAX];

	assert_int_equal(bl_name_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void norm_bad(const char *in)
{
	char out[BL_NAME_MAX];

	assert_int_equal(bl_name_normalize(in, out, sizeof(out)), BL_ENAME);
}

static void test_normalize_basic(void **state)
{
	norm_ok("www.Example.COM", "www.example.com");
	norm_ok("example.com.", "example.com");
	norm_ok("_dmarc.example.com", "_dmarc.example.com");
	norm_ok("a-b.c-d.org", "a-b.c-d.org");
	norm_ok("com", "com");
	norm_ok("0.0.0.0adminer.com", "0.0.0.0adminer.com");
}

static void test_normalize_idn(void **state)
{
	norm_ok("bücher.de", "xn--bcher-kva.de");
	norm_ok("BÜCHER.de.", "xn--bcher-kva.de");
	norm_ok("xn--bcher-kva.de", "xn--bcher-kva.de");
	norm_ok("пример.рф", "xn--e1afmkfd.xn--p1ai");
}

static void test_normalize_reject(void **state)
{
	char lab64[80], long254[300], out[BL_NAME_MAX];

	norm_bad("");
	norm_bad(".");
	norm_bad("a..b");
	norm_bad(".example.com");
	norm_bad("example.com..");
	norm_bad("exa mple.com");
	norm_bad("exa*mple.com");
	norm_bad("example.com/path");
	memset(lab64, 'a', 64);
	memcpy(lab64 + 64, ".com", 5);
	norm_bad(lab64);
	lab64[1] = '.'; /* "a" "." 62 x a: valid */
	norm_ok(lab64, lab64);
	/* 253 characters are allowed, 254 are not. */
	for (int i = 0; i < 254; i++)
		long254[i] = (i % 2) ? '.' : 'a';
	long254[253] = '\0';
	norm_ok(long254, long254);
	long254[253] = 'b';
	long254[254] = '\0';
	long254[252] = '.';
	norm_bad(long254);
	assert_int_equal(bl_name_normalize("example.com", out, 5), BL_ENOSPACE);
}

static void test_key_from_name(void **state)
{
	uint8_t key[BL_KEY_MAX];
	char back[BL_NAME_MAX];
	int n = bl_key_from_name("www.example.com", key, sizeof(key));

	assert_int_equal(n, 16);
	assert_memory_equal(key, "com\0example\0www\0", 16);
	assert_int_equal(bl_key_to_name(key, (size_t)n, back, sizeof(back)), 15);
	assert_string_equal(back, "www.example.com");
	/* A subtree key is a prefix of the keys below it. */
	assert_int_equal(bl_key_from_name("example.com", key, sizeof(key)), 12);
	assert_memory_equal(key, "com\0example\0", 12);
	assert_int_equal(bl_key_from_name("a.b", key, 3), BL_ENOSPACE);
}

static void test_key_sorts_canonically(void **state)
{
	uint8_t a[BL_KEY_MAX], b[BL_KEY_MAX], c[BL_KEY_MAX];
	int na = bl_key_from_name("example.com", a, sizeof(a));
	int nb = bl_key_from_name("zzz.example.com", b, sizeof(b));
	int nc = bl_key_from_name("example-a.com", c, sizeof(c));

	/* example.com < zzz.example.com < example-a.com: children sort right after the parent. */
	assert_true(memcmp(a, b, (size_t)na) == 0 && na < nb);
	assert_true(memcmp(b, c, (size_t)(nb < nc ? nb : nc)) < 0);
}

static void test_key_from_wire(void **state)
{
	uint8_t key[BL_KEY_MAX], wire[300];
	static const uint8_t www[] = "\3www\7example\3com";

	assert_int_equal(bl_key_from_wire(www, sizeof(www), key, sizeof(key)), 16);
	assert_memory_equal(key, "com\0example\0www\0", 16);
	assert_int_equal(bl_key_from_wire((const uint8_t *)"", 1, key, sizeof(key)), 0);
	/* truncated, compression pointer, NUL inside a label, missing root */
	assert_int_equal(bl_key_from_wire(www, 8, key, sizeof(key)), BL_ENAME);
	assert_int_equal(bl_key_from_wire((const uint8_t *)"\3www\xc0\x0c", 6, key, 255), BL_ENAME);
	assert_int_equal(bl_key_from_wire((const uint8_t *)"\3w\0w\0", 6, key, 255), BL_ENAME);
	assert_int_equal(bl_key_from_wire((const uint8_t *)"\3www", 4, key, 255), BL_ENAME);
	assert_int_equal(bl_key_from_wire(www, sizeof(www), key, 10), BL_ENOSPACE);
	/* 256 bytes of wire is too long. */
	for (int i = 0; i < 255; i += 2) {
		wire[i] = 1;
		wire[i + 1] = 'a';
	}
	wire[255] = 0;
	assert_int_equal(bl_key_from_wire(wire, 256, key, sizeof(key)), BL_ENAME);
	wire[254] = 0;
	assert_true(bl_key_from_wire(wire, 255, key, sizeof(key)) > 0);
}

static void test_strerror(void **state)
{
	assert_string_equal(kg_strerror(BL_ENAME), "invalid domain name");
	assert_non_null(kg_strerror(-2));
	assert_non_null(kg_strerror(-99999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize_basic),
	    cmocka_unit_test(test_normalize_idn),
	    cmocka_unit_test(test_normalize_reject),
	    cmocka_unit_test(test_key_from_name),
	    cmocka_unit_test(test_key_sorts_canonically),
	    cmocka_unit_test(test_key_from_wire),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
