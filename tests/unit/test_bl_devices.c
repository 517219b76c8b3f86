/* Unit tests: device IDs (blocklist/bl_devices.c): generation, hashing, add/list/revoke, bulk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bl.h"

#include "bl_fixture.h"

#define BULK 200000

static void test_id_new(void **state)
{
	char a[BL_DEVICE_ID_LEN + 1], b[BL_DEVICE_ID_LEN + 1];

	(void)state;
	assert_int_equal(bl_device_id_new(a, sizeof(a)), 0);
	assert_int_equal(bl_device_id_new(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), BL_DEVICE_ID_LEN);
	assert_string_not_equal(a, b);
	for (size_t i = 0; i < BL_DEVICE_ID_LEN; i++)
		assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '2' && a[i] <= '7'));
	assert_int_equal(bl_device_id_new(a, BL_DEVICE_ID_LEN), -EINVAL);
}

static void test_hash_and_fingerprint(void **state)
{
	uint8_t h[BL_DEVICE_HASH_LEN];
	char fp[BL_DEVICE_FP_MAX];

	(void)state;
	/* SHA-256("abc") starts ba7816bf. */
	assert_int_equal(bl_device_hash("abc", h), 0);
	bl_device_fingerprint(h, fp);
	assert_string_equal(fp, "ba7816bf");
	assert_int_equal(bl_device_hash("", h), -EINVAL);
	assert_true(bl_device_name_valid("Anna-phone_2.x"));
	assert_false(bl_device_name_valid(""));
	assert_false(bl_device_name_valid("with space"));
	assert_false(bl_device_name_valid(
	    "a234567890123456789012345678901234567890123456789012345678901234"));
}

static int collect(const struct bl_device *d, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s=%s@%s;", d->name, d->profile, d->fingerprint);
	return 0;
}

static void test_add_list_revoke(void **state)
{
	struct fx *f = *state;
	struct bl_devices *t;
	uint8_t h1[BL_DEVICE_HASH_LEN] = {0}, h2[BL_DEVICE_HASH_LEN] = {0};
	char prof[BL_CLIENT_PROFILE_MAX], list[512] = "", fp[BL_DEVICE_FP_MAX], want[512];
	uint64_t n = 9;

	assert_int_equal(bl_device_lookup(f->r, h1, prof, sizeof(prof)), BL_ENOTFOUND);
	assert_int_equal(bl_devices_count(f->db, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bl_device_hash("aaaaaaaaaaaaaaaaaaaa", h1), 0);
	assert_int_equal(bl_device_hash("bbbbbbbbbbbbbbbbbbbb", h2), 0);
	assert_int_equal(bl_devices_begin(f->db, &t), 0);
	assert_int_equal(bl_devices_put(t, "dad", h1, "adult", 1700000000), 0);
	assert_int_equal(bl_devices_put(t, "dad", h2, "kids", 1700000000), -EEXIST);
	assert_int_equal(bl_devices_put(t, "anna", h2, "kids", 1700000001), 0);
	assert_int_equal(bl_devices_put(t, "bad name", h2, "kids", 1), -EINVAL);
	assert_int_equal(bl_devices_put(t, "x", h2, "", 1), -EINVAL);
	assert_int_equal(bl_devices_commit(t), 0);

	assert_int_equal(bl_device_lookup(f->r, h1, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "adult");
	assert_int_equal(bl_device_lookup(f->r, h2, prof, sizeof(prof)), 0);
	assert_string_equal(prof, "kids");
	assert_int_equal(bl_device_lookup(f->r, h2, prof, 4), BL_ENOSPACE);
	assert_int_equal(bl_devices_count(f->db, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bl_devices_list(f->db, NULL, collect, list), 0);
	bl_device_fingerprint(h2, fp);
	snprintf(want, sizeof(want), "anna=kids@%s;", fp);
	bl_device_fingerprint(h1, fp);
	snprintf(want + strlen(want), sizeof(want) - strlen(want), "dad=adult@%s;", fp);
	assert_string_equal(list, want);
	/* The ID itself is nowhere in what a listing shows. */
	assert_null(strstr(list, "aaaa"));
	list[0] = '\0';
	assert_int_equal(bl_devices_list(f->db, "anna", collect, list), 0);
	assert_string_equal(list, want + strlen(want) - strlen(strstr(want, "dad=")));

	assert_int_equal(bl_devices_begin(f->db, &t), 0);
	assert_int_equal(bl_devices_del(t, "dad"), 0);
	assert_int_equal(bl_devices_del(t, "nobody"), BL_ENOTFOUND);
	assert_int_equal(bl_devices_commit(t), 0);
	assert_int_equal(bl_device_lookup(f->r, h1, prof, sizeof(prof)), BL_ENOTFOUND);
	assert_int_equal(bl_device_lookup(f->r, h2, prof, sizeof(prof)), 0);
	assert_int_equal(bl_devices_count(f->db, &n), 0);
	assert_int_equal(n, 1);
}

/* An ISP's family plan: 200k phones in one store, each found by one get. */
static void test_bulk(void **state)
{
	struct fx *f = *state;
	struct bl_db_options o = {.mapsize = 1ULL << 30};
	struct bl_db *db;
	struct bl_reader *r;
	struct bl_devices *t;
	uint8_t(*hashes)[BL_DEVICE_HASH_LEN] = calloc(BULK, BL_DEVICE_HASH_LEN);
	char id[BL_DEVICE_ID_LEN + 1], name[32], prof[BL_CLIENT_PROFILE_MAX];
	uint8_t miss[BL_DEVICE_HASH_LEN];
	uint64_t n = 0;

	/* The fixture's store has a small map; this one gets room for the table. */
	bl_reader_close(f->r);
	bl_db_close(f->db);
	f->r = NULL;
	assert_int_equal(bl_db_open(f->dir, &o, &db), 0);
	f->db = db;
	assert_non_null(hashes);
	assert_int_equal(bl_devices_begin(db, &t), 0);
	for (unsigned i = 0; i < BULK; i++) {
		assert_int_equal(bl_device_id_new(id, sizeof(id)), 0);
		assert_int_equal(bl_device_hash(id, hashes[i]), 0);
		snprintf(name, sizeof(name), "phone-%u", i);
		assert_int_equal(bl_devices_put(t, name, hashes[i], i % 3 ? "kids" : "teen", i), 0);
	}
	assert_int_equal(bl_devices_commit(t), 0);
	assert_int_equal(bl_devices_count(db, &n), 0);
	assert_int_equal(n, BULK);
	assert_int_equal(bl_reader_open(db, &r), 0);
	f->r = r;
	for (unsigned i = 0; i < BULK; i++) {
		assert_int_equal(bl_device_lookup(r, hashes[i], prof, sizeof(prof)), 0);
		assert_string_equal(prof, i % 3 ? "kids" : "teen");
	}
	assert_int_equal(bl_device_hash("not-a-device-id-at-all", miss), 0);
	assert_int_equal(bl_device_lookup(r, miss, prof, sizeof(prof)), BL_ENOTFOUND);
	free(hashes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_new),
	    cmocka_unit_test(test_hash_and_fingerprint),
	    cmocka_unit_test_setup_teardown(test_add_list_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
	};

	return cmocka_run_group_tests_name("bl_devices", tests, NULL, NULL);
}
