/*
 * kidguard-ctl clients: the subscriber table (blocklist/bl_clients.c), prefixes → profiles.
 *
 *   clients import [--merge] FILE   one "PREFIX PROFILE" per line ('#' comments), the whole
 *                                   file in ONE write transaction: by default it replaces the
 *                                   table (the file is the truth, e.g. a nightly RADIUS dump);
 *                                   --merge adds to it. Any bad line aborts and changes nothing.
 *   clients set PREFIX PROFILE      one change (a RADIUS/DHCP hook can use the HTTP API too)
 *   --allow-undefined               (import, set) store a profile name the config (-c) does not
 *                                   define; without it such a name is refused, naming the line
 *   clients del PREFIX
 *   clients lookup IP               the longest prefix holding IP and its profile
 *   clients count
 *
 * The running daemon sees each commit on its next query: nothing to reload.
 */
#include "ctl.h"

#include "bl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN   256
#define PROGRESS_EVERY 100000

static int usage(void)
{
	fputs(_("usage: kidguard-ctl clients import [--merge] [--allow-undefined] FILE |\n"
	        "                           set [--allow-undefined] PREFIX PROFILE | del PREFIX |\n"
	        "                           lookup IP | count\n"),
	      stderr);
	return CTL_EXIT_USAGE;
}

/* With -c, a profile name the config lacks would silently give those subscribers the config's
 * clients = match (a weaker profile, for a typo): refused unless --allow-undefined. */
static bool profile_known(const struct ctl *c, const char *name)
{
	if (c->cfg.n_profiles == 0)
		return true; /* no config given: nothing to check against */
	return rs_profile_named(&c->cfg, name) != NULL;
}

static void unknown_profile(const struct ctl *c, const char *where, const char *name)
{
	char names[512];

	fprintf(
	    stderr,
	    _("kidguard-ctl: %s: unknown profile '%s': the config defines %s (--allow-undefined "
	      "stores it anyway, for a profile the next config adds)\n"),
	    where, name, rs_profile_names(&c->cfg, names, sizeof(names)));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct import {
	const char *file;
	FILE *fp;
	bool tty;
	bool allow_undefined; /* --allow-undefined */
	long long size;       /* bytes, for the progress line; 0 when unknown (a pipe) */
	unsigned long line, entries, unknown;
	char first_unknown[BL_CLIENT_PROFILE_MAX];
};

/* Split "PREFIX PROFILE" (spaces or tabs; trailing comment or CR allowed). 0, 1 (empty), -1. */
static int split_line(char *s, char **prefix, char **profile)
{
	char *tok[3];
	int n = 0;

	s[strcspn(s, "#\r\n")] = '\0';
	for (char *save = NULL, *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (n < 3)
			tok[n++] = t;
		else
			return -1;
	if (n == 0)
		return 1;
	if (n != 2)
		return -1;
	*prefix = tok[0];
	*profile = tok[1];
	return 0;
}

static void progress(const struct import *im, bool last)
{
	long pos = im->fp == stdin ? -1 : ftell(im->fp);

	if (!im->tty)
		return;
	if (im->size > 0 && pos >= 0)
		fprintf(stderr, "\r  %lu %s (%.0f%%)%s", im->entries, _("prefixes"),
		        100.0 * (double)pos / (double)im->size, last ? "\n" : "");
	else
		fprintf(stderr, "\r  %lu %s%s", im->entries, _("prefixes"), last ? "\n" : "");
	fflush(stderr);
}

static int import_lines(const struct ctl *c, struct bl_clients *t, struct import *im)
{
	char buf[LINE_MAX_LEN + 2], *prefix, *profile;
	struct bl_prefix p;
	int rc;

	while (fgets(buf, sizeof(buf), im->fp)) {
		im->line++;
		if (!strchr(buf, '\n') && !feof(im->fp)) {
			fprintf(stderr, _("kidguard-ctl: %s:%lu: line longer than %d bytes\n"),
			        im->file, im->line, LINE_MAX_LEN);
			return -1;
		}
		rc = split_line(buf, &prefix, &profile);
		if (rc == 1)
			continue;
		if (rc < 0 || bl_prefix_parse(prefix, &p) < 0) {
			fprintf(
			    stderr,
			    _("kidguard-ctl: %s:%lu: expected PREFIX PROFILE (e.g. 192.0.2.0/24 "
			      "kids; no host bits past the length)\n"),
			    im->file, im->line);
			return -1;
		}
		rc = bl_clients_put(t, &p, profile);
		if (rc < 0) {
			fprintf(stderr, _("kidguard-ctl: %s:%lu: %s\n"), im->file, im->line,
			        rc == -EINVAL ? "bad profile name (1..31 printable characters)"
			                      : kg_strerror(rc));
			return -1;
		}
		if (!profile_known(c, profile)) {
			if (!im->allow_undefined) {
				char where[300];
				snprintf(where, sizeof(where), "%s:%lu", im->file, im->line);
				unknown_profile(c, where, profile);
				return -1;
			}
			if (im->unknown++ == 0)
				snprintf(im->first_unknown, sizeof(im->first_unknown), "%s",
				         profile);
		}
		if (++im->entries % PROGRESS_EVERY == 0)
			progress(im, false);
	}
	if (ferror(im->fp)) {
		fprintf(stderr, _("kidguard-ctl: %s: %s\n"), im->file, strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_import(struct ctl *c, struct bl_db *db, int argc, char **argv, bool allow)
{
	struct import im = {.tty = isatty(STDERR_FILENO) == 1, .allow_undefined = allow};
	struct bl_clients *t = NULL;
	bool merge = argc == 4 && strcmp(argv[2], "--merge") == 0;
	uint64_t before = 0, after = 0;
	struct stat st;
	double t0 = now_s();
	int rc;

	if (argc != (merge ? 4 : 3))
		return usage();
	im.file = argv[argc - 1];
	im.fp = strcmp(im.file, "-") == 0 ? stdin : fopen(im.file, "r");
	if (!im.fp) {
		fprintf(stderr, _("kidguard-ctl: %s: %s\n"), im.file, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	if (fstat(fileno(im.fp), &st) == 0 && S_ISREG(st.st_mode))
		im.size = (long long)st.st_size;
	bl_clients_count(db, &before);
	if ((rc = bl_clients_begin(db, &t)) < 0 || (!merge && (rc = bl_clients_clear(t)) < 0)) {
		fprintf(stderr, _("kidguard-ctl: clients import: %s\n"), kg_strerror(rc));
		goto fail;
	}
	if (import_lines(c, t, &im) < 0)
		goto fail;
	progress(&im, true);
	rc = bl_clients_commit(t);
	t = NULL;
	if (rc < 0) {
		fprintf(stderr, _("kidguard-ctl: clients import: commit: %s\n"), kg_strerror(rc));
		goto fail;
	}
	bl_clients_count(db, &after);
	printf(_("imported %lu prefixes from %s in %.1f s (%s): the table holds %llu (was %llu)\n"),
	       im.entries, im.file, now_s() - t0, merge ? "merged" : "replaced",
	       (unsigned long long)after, (unsigned long long)before);
	if (im.unknown)
		fprintf(
		    stderr,
		    _("kidguard-ctl: warning: %lu lines name a profile the config does not define "
		      "(first: '%s', stored as --allow-undefined asked); until the config defines "
		      "it, "
		      "those subscribers get the config's clients = match\n"),
		    im.unknown, im.first_unknown);
	if (im.fp != stdin)
		fclose(im.fp);
	return 0;
fail:
	bl_clients_abort(t);
	fprintf(stderr, _("kidguard-ctl: clients import: nothing changed\n"));
	if (im.fp != stdin)
		fclose(im.fp);
	return CTL_EXIT_FAIL;
}

static int cmd_change(struct ctl *c, struct bl_db *db, bool set, int argc, char **argv, bool allow)
{
	struct bl_clients *t = NULL;
	struct bl_prefix p;
	int rc;

	if (argc != (set ? 4 : 3))
		return usage();
	if (bl_prefix_parse(argv[2], &p) < 0) {
		fprintf(stderr,
		        _("kidguard-ctl: %s: not a prefix (no host bits past the length)\n"),
		        argv[2]);
		return CTL_EXIT_USAGE;
	}
	if (set && !allow && !profile_known(c, argv[3])) {
		unknown_profile(c, "clients set", argv[3]);
		return CTL_EXIT_FAIL;
	}
	if ((rc = bl_clients_begin(db, &t)) == 0)
		rc = set ? bl_clients_put(t, &p, argv[3]) : bl_clients_del(t, &p);
	if (rc == 0) {
		rc = bl_clients_commit(t);
		t = NULL;
	}
	bl_clients_abort(t);
	if (rc < 0) {
		fprintf(stderr, _("kidguard-ctl: clients %s %s: %s\n"), argv[1], argv[2],
		        rc == -EINVAL        ? "bad profile name (1..31 printable characters)"
		        : rc == BL_ENOTFOUND ? "no such prefix in the table"
		                             : kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	if (set && !profile_known(c, argv[3]))
		fprintf(stderr,
		        _("kidguard-ctl: warning: the config defines no profile '%s' (stored as "
		          "--allow-undefined asked)\n"),
		        argv[3]);
	return 0;
}

static int cmd_lookup(struct bl_db *db, int argc, char **argv)
{
	char profile[BL_CLIENT_PROFILE_MAX], buf[64];
	struct bl_reader *r;
	struct bl_prefix a, m;
	int rc;

	if (argc != 3)
		return usage();
	if (bl_prefix_parse(argv[2], &a) < 0 || a.len != (a.family == BL_FAMILY_V4 ? 32u : 128u)) {
		fprintf(stderr, _("kidguard-ctl: %s: not an IP address\n"), argv[2]);
		return CTL_EXIT_USAGE;
	}
	if ((rc = bl_reader_open(db, &r)) < 0) {
		fprintf(stderr, _("kidguard-ctl: %s\n"), kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	rc = bl_client_lookup(r, a.family, a.addr, profile, sizeof(profile), &m);
	bl_reader_close(r);
	if (rc == BL_ENOTFOUND) {
		printf(_("%s: no prefix in the subscriber table (the config's clients = decide)\n"),
		       argv[2]);
		return CTL_EXIT_FAIL;
	}
	if (rc < 0) {
		fprintf(stderr, _("kidguard-ctl: %s\n"), kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	printf("%s %s (%s)\n", argv[2], profile, bl_prefix_str(&m, buf, sizeof(buf)));
	return 0;
}

/* Take --allow-undefined out of argv (anywhere after the subcommand); true when present. */
static bool take_allow_undefined(int *argc, char **argv)
{
	bool found = false;
	int n = 0;

	for (int i = 0; i < *argc; i++) {
		if (i >= 2 && strcmp(argv[i], "--allow-undefined") == 0)
			found = true;
		else
			argv[n++] = argv[i];
	}
	*argc = n;
	return found;
}

int ctl_cmd_clients(struct ctl *c, int argc, char **argv)
{
	bool allow = take_allow_undefined(&argc, argv);
	const char *sub = argc >= 2 ? argv[1] : "";
	bool ro = strcmp(sub, "lookup") == 0 || strcmp(sub, "count") == 0;
	struct bl_db *db;
	uint64_t n = 0;
	int rc;

	if (strcmp(sub, "import") && strcmp(sub, "set") && strcmp(sub, "del") && !ro)
		return usage();
	if (!(db = ctl_open(c, ro)))
		return CTL_EXIT_FAIL;
	if (strcmp(sub, "import") == 0)
		rc = cmd_import(c, db, argc, argv, allow);
	else if (strcmp(sub, "set") == 0 || strcmp(sub, "del") == 0)
		rc = cmd_change(c, db, sub[0] == 's', argc, argv, allow);
	else if (strcmp(sub, "lookup") == 0)
		rc = cmd_lookup(db, argc, argv);
	else if (argc != 2)
		rc = usage();
	else if ((rc = bl_clients_count(db, &n)) == 0)
		printf("%llu\n", (unsigned long long)n);
	else
		rc = CTL_EXIT_FAIL;
	bl_db_close(db);
	return rc;
}
