/*
 * bl_fill_devices: put N device IDs into a store, for tests/bench/isp-bench (not a test, not
 * installed). Device i is named "d<i>" with the ID "bench-device-<i>" (stored hashed, as
 * kidguard-ctl devices add does), all for one profile, in transactions of 100,000.
 *
 *   bl_fill_devices STATE_DIR N PROFILE
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bl.h"

#define BATCH 100000

static int fill(struct bl_db *db, uint64_t from, uint64_t to, const char *profile)
{
	struct bl_devices *t;
	int rc = bl_devices_begin(db, &t);

	for (uint64_t i = from; rc == 0 && i < to; i++) {
		char name[BL_DEVICE_NAME_MAX], id[64];
		uint8_t h[BL_DEVICE_HASH_LEN];
		snprintf(name, sizeof(name), "d%" PRIu64, i);
		snprintf(id, sizeof(id), "bench-device-%" PRIu64, i);
		rc = bl_device_hash(id, h);
		if (rc == 0)
			rc = bl_devices_put(t, name, h, profile, (uint64_t)time(NULL));
	}
	if (rc != 0) {
		bl_devices_abort(t);
		return rc;
	}
	return bl_devices_commit(t);
}

int main(int argc, char **argv)
{
	struct bl_db *db;
	uint64_t n, count = 0;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: bl_fill_devices STATE_DIR N PROFILE\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	if ((rc = bl_db_open(argv[1], NULL, &db)) != 0) {
		fprintf(stderr, "bl_fill_devices: %s: %s\n", argv[1], kg_strerror(rc));
		return 1;
	}
	for (uint64_t i = 0; rc == 0 && i < n; i += BATCH)
		rc = fill(db, i, i + BATCH < n ? i + BATCH : n, argv[3]);
	if (rc == 0)
		rc = bl_devices_count(db, &count);
	bl_db_close(db);
	if (rc != 0) {
		fprintf(stderr, "bl_fill_devices: %s\n", kg_strerror(rc));
		return 1;
	}
	printf("%" PRIu64 " devices\n", count);
	return 0;
}
