/* kidguard-ctl: shared declarations of the operator tool's source files. */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_PATH_MAX 4096

/* Exit codes: 0 ok, 1 operation failed, 2 usage error. */
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

struct ctl {
	char state_dir[CTL_PATH_MAX];
};

/*
 * HOOK for `-c CONFIG`: the blocklist state directory from the daemon's config file. For now it
 * reads the key `path` of section [blocklist] with inih; when the resolver's config module
 * exists this should call its parser instead. Returns 0 or -1 (message printed).
 */
int ctl_state_dir_from_config(const char *path, char *out, size_t outlen);

#define CTL_CATS_MAX 16 /* --category options per command */

struct bl_db;
struct bl_db_options;

/* Open the store of `c`; prints the error. Returns NULL on failure. */
struct bl_db *ctl_open(const struct ctl *c, bool readonly);

/* OR the bits of the `n` category names in `names` into `*mask`; prints the first unknown one.
 * Returns 0 or -1. */
int ctl_categories(struct bl_db *db, char *const *names, int n, uint64_t *mask);

int ctl_cmd_check(struct ctl *c, int argc, char **argv);
int ctl_cmd_rule(struct ctl *c, bool allow, int argc, char **argv);
int ctl_cmd_import(struct ctl *c, int argc, char **argv);
int ctl_cmd_info(struct ctl *c, int argc, char **argv);

#endif
