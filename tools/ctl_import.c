/*
 * kidguard-ctl import: lists into the local overrides, every file in ONE write transaction, so
 * an interrupted import leaves the store as it was. Compressed files are not read: decompress
 * first (xz -dc list.xz | kidguard-ctl -d DIR import --format domains --category adult -).
 */
#include "ctl.h"

#include "bl.h"

#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_BUF       4100 /* longer lines are counted as invalid (the parser's limit is 4096) */
#define REASONS_MAX    32
#define SAMPLES_MAX    5
#define SAMPLE_TEXT    100
#define PROGRESS_EVERY 100000
#define CTL_RPZ_TRIM   (4 << 20)

struct import {
	enum bl_format fmt;
	uint64_t mask;
	bool allow;
	bool tty;
	struct bl_writer *w;
	unsigned long lines, names, empty, skipped, invalid;
	struct {
		const char *reason; /* static string from the parser */
		unsigned long count;
	} reasons[REASONS_MAX];
	int nreasons;
	char samples[SAMPLES_MAX][CTL_PATH_MAX / 8 + SAMPLE_TEXT];
	int nsamples;
};

static void count_reason(struct import *im, const char *reason)
{
	for (int i = 0; i < im->nreasons; i++) {
		if (im->reasons[i].reason == reason) {
			im->reasons[i].count++;
			return;
		}
	}
	if (im->nreasons < REASONS_MAX) {
		im->reasons[im->nreasons].reason = reason;
		im->reasons[im->nreasons++].count = 1;
	}
}

static void sample(struct import *im, const char *file, unsigned long ln, const char *line,
                   const char *reason)
{
	int n = (int)strcspn(line, "\r\n");

	if (im->nsamples == SAMPLES_MAX)
		return;
	snprintf(im->samples[im->nsamples++], sizeof(im->samples[0]), "%.256s:%lu: %s: %.*s", file,
	         ln, reason, n < SAMPLE_TEXT / 2 ? n : SAMPLE_TEXT / 2, line);
}

/* Apply one parsed line. Returns 0 or a bl error (the writer is then unusable). */
static int apply(struct import *im, const struct bl_parsed *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		unsigned fl = p->names[i].flags | (im->allow ? BL_F_ALLOW : 0);
		uint64_t cats = (fl & BL_F_ALLOW) ? 0 : im->mask;
		int rc = bl_writer_put(im->w, BL_SOURCE_LOCAL, p->names[i].name, fl, cats, 0);
		if (rc != 0)
			return rc;
		im->names++;
	}
	return 0;
}

/* Count one parsed line (or the end of a file) and apply its names. */
static int tally(struct import *im, const char *file, unsigned long ln, const char *buf,
                 const struct bl_parsed *p)
{
	if (p->status == BL_LINE_EMPTY)
		im->empty++;
	else if (p->status == BL_LINE_SKIPPED || p->status == BL_LINE_INVALID)
		(p->status == BL_LINE_SKIPPED ? im->skipped++ : im->invalid++);
	if (p->reason) {
		count_reason(im, p->reason);
		if (p->status == BL_LINE_INVALID)
			sample(im, file, ln, buf, p->reason);
	}
	return apply(im, p);
}

static int line(struct import *im, struct bl_parser *ps, const char *file, unsigned long ln,
                const char *buf, size_t len)
{
	struct bl_parsed p;
	int rc;

	im->lines++;
	if ((rc = bl_parser_line(ps, buf, len, &p)) != 0)
		return rc;
	if (im->tty && im->lines % PROGRESS_EVERY == 0)
		fprintf(stderr, "\r%s: %lu %s, %lu %s", file, im->lines, _("lines"), im->names,
		        _("names"));
	return tally(im, file, ln, buf, &p);
}

/* Read one file with its own parser (an RPZ's $ORIGIN and apex end with the file). */
static int read_file(struct import *im, FILE *fp, const char *file, unsigned long *ln)
{
	char buf[LINE_BUF];
	struct bl_parser *ps;
	struct bl_parsed p;
	size_t len;
	int rc;

	if ((rc = bl_parser_new(im->fmt, &ps)) != 0)
		return rc;
	while (rc == 0 && fgets(buf, sizeof(buf), fp)) {
		len = strlen(buf);
		++*ln;
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n') {
			int ch; /* overlong line: give the parser its length, drop the rest */
			while ((ch = getc(fp)) != EOF && ch != '\n')
				len++;
		}
		rc = line(im, ps, file, *ln, buf, len);
	}
	if (rc == 0 && (rc = bl_parser_end(ps, &p)) == 0 && p.status != BL_LINE_EMPTY)
		rc = tally(im, file, *ln, "(end of file)", &p);
	bl_parser_free(ps);
	return rc;
}

static int import_file(struct import *im, const char *file)
{
	unsigned long ln = 0;
	size_t len = strlen(file);
	FILE *fp = strcmp(file, "-") == 0 ? stdin : NULL;
	int rc;

	if (len > 3 && strcmp(file + len - 3, ".xz") == 0) {
		fprintf(stderr,
		        _("kidguard-ctl: %s: decompress first (xz -dc %s | ... import -)\n"), file,
		        file);
		return -1;
	}
	if (!fp && !(fp = fopen(file, "r"))) {
		perror(file);
		return -1;
	}
	rc = read_file(im, fp, file, &ln);
	if (ferror(fp))
		perror(file);
	if (fp != stdin)
		fclose(fp);
	if (rc != 0)
		fprintf(stderr, _("kidguard-ctl: %s:%lu: %s\n"), file, ln, kg_strerror(rc));
	return rc;
}

static void summary(const struct import *im, double secs)
{
	if (im->tty)
		fputc('\n', stderr);
	printf(_("read %lu lines: %lu names imported, %lu empty/comment, %lu skipped, %lu invalid"
	         " (%.1f s)\n"),
	       im->lines, im->names, im->empty, im->skipped, im->invalid, secs);
	for (int i = 0; i < im->nreasons; i++)
		printf("  %8lu  %s\n", im->reasons[i].count, im->reasons[i].reason);
	if (im->nsamples)
		printf(_("first invalid lines:\n"));
	for (int i = 0; i < im->nsamples; i++)
		printf("  %s\n", im->samples[i]);
}

static int import_parse(struct import *im, int argc, char **argv, char **cats, int *ncats)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
	                                     {"category", required_argument, NULL, 'C'},
	                                     {"allow", no_argument, NULL, 'a'},
	                                     {NULL, 0, NULL, 0}};
	bool have_fmt = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'f' && bl_format_parse(optarg, &im->fmt) == 0)
			have_fmt = true;
		else if (ch == 'C' && *ncats < CTL_CATS_MAX)
			cats[(*ncats)++] = optarg;
		else if (ch == 'a')
			im->allow = true;
		else
			return -1;
	}
	if (!have_fmt || optind >= argc || (*ncats == 0 && !im->allow))
		return -1;
	return 0;
}

static int import_run(struct import *im, struct bl_db *db, int nfiles, char **files)
{
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = bl_writer_begin(db, &im->w)) != 0) {
		fprintf(stderr, _("kidguard-ctl: import: %s\n"), kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	for (int i = 0; i < nfiles && rc == 0; i++)
		rc = import_file(im, files[i]);
	if (rc != 0) {
		bl_writer_abort(im->w);
		fputs(_("kidguard-ctl: import aborted, the store is unchanged\n"), stderr);
		return CTL_EXIT_FAIL;
	}
	if ((rc = bl_writer_commit(im->w)) != 0) {
		fprintf(stderr, _("kidguard-ctl: import commit: %s\n"), kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	summary(im, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

int ctl_cmd_import(struct ctl *c, int argc, char **argv)
{
	static struct import im; /* large (samples); one import per process */
	char *cats[CTL_CATS_MAX];
	int ncats = 0, rc;
	struct bl_db *db;

	memset(&im, 0, sizeof(im));
	if (import_parse(&im, argc, argv, cats, &ncats) != 0) {
		fputs(_("usage: kidguard-ctl import --format domains|hosts|adblock|rpz "
		        "(--category C... | --allow) FILE...\n"),
		      stderr);
		return CTL_EXIT_USAGE;
	}
	if (!(db = ctl_open(c, false)))
		return CTL_EXIT_FAIL;
	if (ctl_categories(db, cats, ncats, &im.mask) != 0) {
		bl_db_close(db);
		return CTL_EXIT_USAGE;
	}
	im.tty = isatty(STDERR_FILENO);
	if (im.fmt == BL_FMT_RPZ)
		mallopt(M_TRIM_THRESHOLD, CTL_RPZ_TRIM); /* see bl_parser_new in bl.h */
	rc = import_run(&im, db, argc - optind, argv + optind);
	bl_db_close(db);
	return rc;
}
