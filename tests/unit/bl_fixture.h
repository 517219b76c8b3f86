/*
 * The store fixture the blocklist unit tests share: a fresh LMDB store in a temp directory with
 * one reader, removed afterwards. Include once per test file (the functions are static).
 */
#ifndef BL_FIXTURE_H
#define BL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bl.h"

struct fx {
	char dir[64];
	struct bl_db *db;
	struct bl_reader *r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct bl_db_options o = {.mapsize = 64ULL << 20};

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kg_unit_bl.XXXXXX");
	if (!mkdtemp(f->dir) || bl_db_open(f->dir, &o, &f->db) || bl_reader_open(f->db, &f->r))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[128];

	bl_reader_close(f->r);
	bl_db_close(f->db);
	snprintf(p, sizeof(p), "%s/data.mdb", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

#endif
