/* kidguard-ctl: shared declarations of the operator tool's source files. */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs.h"

/* Human output goes through gettext, _() and N_() of kg_i18n.h (main() calls
 * kg_i18n_gettext_init()); --json output and what scripts parse stay untranslated. */
#include "kg_i18n.h"

#define CTL_PATH_MAX 4096

/* Exit codes: 0 ok, 1 operation failed, 2 usage error. */
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

struct ctl {
	char state_dir[CTL_PATH_MAX];
	struct rs_config cfg; /* the daemon's config (-c), or the defaults */
};

/*
 * `-c CONFIG`: load the daemon's configuration with the daemon's own parser (the resolver's
 * policy library, kgpolicy) into c->cfg and take the state directory from it. Returns 0 or -1
 * (the FILE:LINE: [section] key message printed).
 */
int ctl_load_config(struct ctl *c, const char *path);

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
/* ctl_clients.c: the subscriber table (prefix → profile) */
int ctl_cmd_clients(struct ctl *c, int argc, char **argv);
/* ctl_devices.c: secret device IDs for DoT/DoH (add, list, revoke) */
int ctl_cmd_devices(struct ctl *c, int argc, char **argv);
/* ctl_profiles.c: the household's profiles as data (list, show, set, delete, device) */
int ctl_cmd_profile(struct ctl *c, int argc, char **argv);
/* Does the config or the store define profile `name`? */
bool ctl_profile_known(const struct ctl *c, struct bl_db *db, const char *name);
/* ctl_api.c: the running daemon's HTTP API */
int ctl_cmd_stats(struct ctl *c, int argc, char **argv);
int ctl_cmd_sync(struct ctl *c, int argc, char **argv);

#endif
