/*
 * Reading the publisher's input lists with the blocklist module's parsers. Plain and .gz files
 * go through zlib (gzdopen reads plain files as they are); .xz files through `xz -dc` in a
 * child process, so the tool needs no liblzma.
 */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define LINE_BUF       4100
#define PROGRESS_EVERY 100000
#define RPZ_TRIM       (4 << 20)

extern char **environ;

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Open `file` for reading, through `xz -dc` when it ends in .xz. */
static int open_input(const char *file, pid_t *child)
{
	char *argv[] = {"xz", "-dc", "--", (char *)file, NULL};
	posix_spawn_file_actions_t fa;
	int p[2], rc;

	*child = 0;
	if (!ends_with(file, ".xz"))
		return open(file, O_RDONLY | O_CLOEXEC);
	if (pipe(p) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	rc = posix_spawnp(child, "xz", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		errno = rc;
		return -1;
	}
	return p[0];
}

static int add_parsed(struct fset *s, const struct bl_parsed *p, int cat, bool conf,
                      const uint8_t *hkey)
{
	for (unsigned i = 0; i < p->n; i++) {
		uint8_t key[BL_KEY_MAX];
		unsigned fl = p->names[i].flags, labels = 1;
		uint64_t cats = (fl & BL_F_ALLOW) ? 0 : 1ULL << cat;
		int klen, rc;
		if (!conf) {
			klen = bl_key_from_name(p->names[i].name, key, sizeof(key));
			rc = klen < 0 ? klen : fset_add(s, key, (size_t)klen, fl, false, 0, cats);
		} else {
			for (const char *c = p->names[i].name; *c; c++)
				labels += *c == '.';
			rc = bl_name_hash(hkey, p->names[i].name, key);
			if (rc == 0)
				rc = fset_add(s, key, BL_HASH_LEN, fl, true, labels, cats);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int read_lines(struct fset *s, gzFile gz, const char *file, struct bl_parser *ps, int cat,
                      bool conf, const uint8_t *hkey)
{
	static struct bl_parsed p;
	char buf[LINE_BUF];
	unsigned long n = 0, bad = 0;
	bool tty = isatty(2);
	int rc = 0;

	while (rc == 0 && gzgets(gz, buf, sizeof(buf))) {
		size_t len = strlen(buf);
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n') { /* too long: skip the rest */
			int c;
			while ((c = gzgetc(gz)) != -1 && c != '\n')
				;
			bad++;
			continue;
		}
		if ((rc = bl_parser_line(ps, buf, len, &p)) != 0)
			break;
		if (p.status == BL_LINE_OK)
			rc = add_parsed(s, &p, cat, conf, hkey);
		else if (p.status == BL_LINE_INVALID)
			bad++;
		if (++n % PROGRESS_EVERY == 0 && tty)
			fprintf(stderr, "\rkidguard-feed: %s: %lu lines", file, n);
	}
	if (rc == 0 && (rc = bl_parser_end(ps, &p)) == 0 && p.status == BL_LINE_INVALID)
		bad++; /* an RPZ record left open */
	if (tty && n >= PROGRESS_EVERY)
		fprintf(stderr, "\rkidguard-feed: %s: %lu lines\n", file, n);
	if (bad)
		fprintf(stderr, "kidguard-feed: %s: %lu invalid lines skipped\n", file, bad);
	return rc;
}

int feed_read_list(struct fset *s, const char *file, enum bl_format fmt, int cat, bool confidential,
                   const uint8_t hash_key[BL_HASH_KEY_LEN])
{
	struct bl_parser *ps = NULL;
	pid_t child;
	int fd = open_input(file, &child), rc, st = 0;
	gzFile gz;

	if (fd < 0 || !(gz = gzdopen(fd, "rb"))) {
		fprintf(stderr, "kidguard-feed: %s: %s\n", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fmt == BL_FMT_RPZ)
		mallopt(M_TRIM_THRESHOLD, RPZ_TRIM); /* see bl_parser_new in bl.h */
	rc = bl_parser_new(fmt, &ps); /* one per file: an RPZ's $ORIGIN ends with it */
	if (rc == 0)
		rc = read_lines(s, gz, file, ps, cat, confidential, hash_key);
	bl_parser_free(ps);
	gzclose(gz);
	if (child > 0 && (waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
		fprintf(stderr, "kidguard-feed: %s: xz -dc failed\n", file);
		rc = -1;
	}
	return rc;
}
