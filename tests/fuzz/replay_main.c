/*
 * Replays fuzz inputs without libFuzzer: every file named on the command line, or every file
 * in a directory named there, goes through LLVMFuzzerTestOneInput once. ctest runs this over
 * tests/fuzz/corpus/<target> so that seeds and saved crashers are checked on every build.
 * Each input ends right at an inaccessible page, so that reading one byte past it faults even
 * without AddressSanitizer.
 *
 * With --expect-failure first, each input runs in a child process that must crash or fail:
 * that is how the crashers of bugs not fixed yet (tests/fuzz/known-bugs/<target>) are kept
 * honest. Once one passes, the bug is fixed: move the file into corpus/<target>/.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

/* Call the target with `n` bytes placed so that the byte after the last is a guard page. */
static void run_guarded(const uint8_t *data, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (n + page - 1) / page * page + page;
	uint8_t *map = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *guard, *buf;

	if (map == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	guard = map + span - page;
	if (mprotect(guard, page, PROT_NONE) != 0) {
		perror("mprotect");
		exit(1);
	}
	buf = guard - n;
	memcpy(buf, data, n);
	LLVMFuzzerTestOneInput(buf, n);
	munmap(map, span);
}

static bool expect_failure;

static int run_file_here(const char *path);

static int run_file(const char *path)
{
	pid_t pid;
	int st;

	if (!expect_failure)
		return run_file_here(path);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0)
		_exit(run_file_here(path) == 0 ? 0 : 2);
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		fprintf(stderr, "%s: no longer fails: the bug is fixed, move it into corpus/\n",
		        path);
		return -1;
	}
	fprintf(stderr, "%s: fails as expected\n", path);
	return 0;
}

static int run_file_here(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1); /* +1: never malloc(0) */
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay %s (%ld bytes)\n", path, n);
	run_guarded(buf, (size_t)n);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		names[n++] = strdup(path);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names); /* the same order every run */
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && names[i] && run_file(names[i]) == 0)
			(*count)++;
		else
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int count = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "--expect-failure") == 0) {
		expect_failure = true;
		first = 2;
	}
	for (int i = first; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) < 0 : run_file(argv[i]) < 0)
			return 1;
		if (!S_ISDIR(st.st_mode))
			count++;
	}
	printf("%d inputs replayed\n", count);
	return count > 0 ? 0 : 1; /* an empty corpus means a wrong path: fail loudly */
}
