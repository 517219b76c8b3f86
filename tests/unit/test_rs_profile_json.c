/* Unit tests: a profile record as JSON (resolver/policy/rs_profile_json.c), the one parser of
 * PUT /api/profiles and of the subscriber channel's `profile NAME {json}` lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "bl.h"
#include "rs.h"

/* Two categories: "adult" is bit 0, "gambling" bit 3. */
static int find(void *arg, const char *name, int *bit)
{
	(void)arg;
	if (strcmp(name, "adult") == 0)
		*bit = 0;
	else if (strcmp(name, "gambling") == 0)
		*bit = 3;
	else
		return -1;
	return 0;
}

static int parse(const char *json, struct rs_profile_req *out, char *err, size_t errlen)
{
	return rs_profile_json(json, json ? strlen(json) : 0, find, NULL, out, err, errlen);
}

static void test_fields(void **state)
{
	struct rs_profile_req *r = calloc(1, sizeof(*r));
	char err[200] = "";

	(void)state;
	assert_non_null(r);
	assert_int_equal(parse("{\"template\":\"kids\",\"preset\":\"under9\",\"mode\":"
	                       "\"allowlist\",\"block_add\":[\"gambling\"],\"block_remove\":"
	                       "[\"adult\"],\"bedtime\":{\"start\":\"21:00\",\"end\":\"06:30\"},"
	                       "\"bedtime_allow\":[\"School.Example\"]}",
	                       r, err, sizeof(err)),
	                 0);
	assert_int_equal(r->set, BL_PF_TEMPLATE | BL_PF_PRESET | BL_PF_MODE | BL_PF_BLOCK |
	                             BL_PF_SCHEDULES | BL_PF_BEDTIME_ALLOW);
	assert_string_equal(r->rec.tmpl, "kids");
	assert_string_equal(r->rec.preset, "under9");
	assert_int_equal(r->rec.mode, BL_MODE_ALLOWLIST);
	assert_true(r->block_add == (1ULL << 3));
	assert_true(r->block_remove == 1ULL);
	assert_false(r->bedtime_off);
	assert_true(r->rec.sched[0].bedtime);
	assert_int_equal(r->rec.sched[0].start, 21 * 60);
	assert_int_equal(r->rec.sched[0].end, 6 * 60 + 30);
	assert_int_equal(r->rec.n_allow, 1);
	assert_string_equal(bl_profile_rec_allow(&r->rec, 0), "school.example");
	assert_int_equal(parse("{\"bedtime\":null}", r, err, sizeof(err)), 0);
	assert_int_equal(r->set, BL_PF_SCHEDULES);
	assert_true(r->bedtime_off);
	free(r);
}

/* "schedules": the windows in which more categories are blocked; [] clears them. */
static void test_schedules(void **state)
{
	struct rs_profile_req *r = calloc(1, sizeof(*r));
	char err[200] = "";

	(void)state;
	assert_non_null(r);
	assert_int_equal(parse("{\"schedules\":[{\"days\":[\"sat\",\"sun\"],\"start\":"
	                       "\"09:00\",\"end\":\"12:00\",\"block\":[\"gambling\"]},"
	                       "{\"start\":\"20:00\",\"end\":\"07:00\",\"block\":[\"adult\","
	                       "\"gambling\"]}]}",
	                       r, err, sizeof(err)),
	                 0);
	assert_int_equal(r->set, BL_PF_SCHEDULES);
	assert_true(r->windows_set);
	assert_false(r->bedtime_set);
	assert_int_equal(r->n_windows, 2);
	assert_int_equal(r->rec.sched[1].days, 0x60); /* sat, sun */
	assert_int_equal(r->rec.sched[1].start, 9 * 60);
	assert_int_equal(r->rec.sched[1].end, 12 * 60);
	assert_false(r->rec.sched[1].bedtime);
	assert_true(r->rec.sched[1].extra_block == (1ULL << 3));
	assert_int_equal(r->rec.sched[2].days, 0x7f); /* no days: daily */
	assert_true(r->rec.sched[2].extra_block == ((1ULL << 3) | 1ULL));
	assert_int_equal(parse("{\"schedules\":[],\"bedtime\":null}", r, err, sizeof(err)), 0);
	assert_true(r->windows_set && r->bedtime_set && r->bedtime_off);
	assert_int_equal(r->n_windows, 0);
	free(r);
}

/* rs_profile_rec_windows: what PUT /api/profiles and kidguard-ctl do to a record's windows. */
static void test_rec_windows(void **state)
{
	struct rs_profile *base = calloc(1, sizeof(*base));
	struct bl_profile_rec *rec = calloc(1, sizeof(*rec));
	const struct bl_profile_sched bed = {0x7f, true, 21 * 60, 6 * 60, 0};
	const struct bl_profile_sched w[2] = {{0x1f, false, 8 * 60, 15 * 60, 1ULL << 3},
	                                      {0x60, false, 9 * 60, 12 * 60, 1ULL}};

	(void)state;
	assert_non_null(base);
	assert_non_null(rec);
	/* the file's profile: a bedtime and one window */
	base->n_schedules = 2;
	base->schedules[0] =
	    (struct rs_schedule){.days = 0x7f, .start = 20 * 60, .end = 7 * 60, .bedtime = true};
	base->schedules[1] = (struct rs_schedule){
	    .days = 0x7f, .start = 18 * 60, .end = 19 * 60, .extra_block = 1ULL};
	/* a new bedtime: the file's window is kept, its bedtime replaced */
	assert_null(rs_profile_rec_windows(rec, base, true, &bed, false, NULL, 0));
	assert_true(rec->set & BL_PF_SCHEDULES);
	assert_int_equal(rec->n_sched, 2);
	assert_int_equal(rec->sched[0].start, 18 * 60);
	assert_true(rec->sched[1].bedtime && rec->sched[1].start == 21 * 60);
	/* new windows: the bedtime stays; the base is not consulted again */
	base->n_schedules = 0;
	assert_null(rs_profile_rec_windows(rec, base, false, NULL, true, w, 2));
	assert_int_equal(rec->n_sched, 3);
	assert_true(rec->sched[0].bedtime);
	assert_int_equal(rec->sched[1].start, 8 * 60);
	assert_int_equal(rec->sched[2].days, 0x60);
	/* no bedtime, no windows */
	assert_null(rs_profile_rec_windows(rec, base, true, NULL, true, NULL, 0));
	assert_int_equal(rec->n_sched, 0);
	/* no room: refused, saying for what */
	for (int i = 0; i < BL_PROFILE_SCHED_MAX; i++)
		rec->sched[rec->n_sched++] = w[0];
	assert_non_null(
	    strstr(rs_profile_rec_windows(rec, base, true, &bed, false, NULL, 0), "bedtime"));
	free(base);
	free(rec);
}

/* Each bad input is refused with a message naming what is wrong. */
#define W1 "{\"start\":\"09:00\",\"end\":\"10:00\",\"block\":[\"adult\"]}"
#define W8 W1 "," W1 "," W1 "," W1 "," W1 "," W1 "," W1 "," W1
static void test_refused(void **state)
{
	static const struct {
		const char *json, *says;
	} bad[] = {
	    {NULL, "JSON object"},
	    {"[1]", "JSON object"},
	    {"{\"preset\":\"yuong\"}", "unknown preset yuong"},
	    {"{\"block_add\":[\"casino\"]}", "unknown category casino"},
	    {"{\"block_add\":\"adult\"}", "expected lists"},
	    {"{\"mode\":\"strict\"}", "mode"},
	    {"{\"template\":\"Bad Name\"}", "template"},
	    {"{\"bedtime\":{\"start\":\"25:00\",\"end\":\"06:30\"}}", "bedtime"},
	    {"{\"bedtime\":{\"start\":\"21:00\",\"end\":\"06:30\",\"days\":[\"xyz\"]}}", "bedtime"},
	    {"{\"bedtime_allow\":[\"a..b\"]}", "bedtime_allow"},
	    {"{\"schedules\":{}}", "schedules: expected a list"},
	    {"{\"schedules\":[1]}", "schedules[0]: expected an object"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"24:30\",\"block\":[\"adult\"]}]}",
	     "schedules[0]: bad days or times"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"10:00\",\"days\":[\"mon\","
	     "\"fun\"],\"block\":[\"adult\"]}]}",
	     "schedules[0]: bad days"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"10:00\",\"days\":\"mon\","
	     "\"block\":[\"adult\"]}]}",
	     "schedules[0]: expected"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"10:00\"}]}",
	     "schedules[0]: block: expected a list"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"10:00\",\"block\":[]}]}",
	     "schedules[0]: block: expected at least one"},
	    {"{\"schedules\":[{\"start\":\"09:00\",\"end\":\"10:00\",\"block\":[\"adult\"]},"
	     "{\"start\":\"09:00\",\"end\":\"10:00\",\"block\":[\"casino\"]}]}",
	     "schedules[1]: block: unknown category casino"},
	    {"{\"schedules\":[" W8 "]}", "at most 7 windows"},
	};
	struct rs_profile_req *r = calloc(1, sizeof(*r));
	char err[200];

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].json, r, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("%s: message \"%s\" does not say \"%s\"", bad[i].json, err,
			         bad[i].says);
	}
	free(r);
}

/* A subscriber line's JSON is a slice of the line: only `len` bytes count. */
static void test_length(void **state)
{
	const char line[] = "{\"preset\":\"adult\"} trailing";
	struct rs_profile_req *r = calloc(1, sizeof(*r));
	char err[200] = "";

	(void)state;
	assert_non_null(r);
	assert_int_equal(rs_profile_json(line, 18, find, NULL, r, err, sizeof(err)), 0);
	assert_string_equal(r->rec.preset, "adult");
	assert_int_equal(rs_profile_json(line, 10, find, NULL, r, err, sizeof(err)), -EINVAL);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields),      cmocka_unit_test(test_schedules),
	    cmocka_unit_test(test_rec_windows), cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
