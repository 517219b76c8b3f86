/* kidguard-ctl -c CONFIG: the daemon's configuration, read with the daemon's parser. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bl.h"

/* The config's feed category names and the presets' feed default, as the daemon binds them. */
static int bind_feed(struct ctl *c)
{
	struct bl_db_options o = {.readonly = true};
	struct bl_db *db = NULL;
	char file[sizeof(c->state_dir) + 16], err[512];
	int rc;

	snprintf(file, sizeof(file), "%s/data.mdb", c->state_dir);
	if (access(file, R_OK) == 0 && bl_db_open(c->state_dir, &o, &db) != 0)
		db = NULL;
	rc = rs_config_bind_feed(&c->cfg, db, err, sizeof(err));
	bl_db_close(db);
	if (rc < 0)
		fprintf(stderr, _("kidguard-ctl: %s\n"), err);
	return rc;
}

int ctl_load_config(struct ctl *c, const char *path)
{
	char err[512];

	if (rs_config_load(path, &c->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, _("kidguard-ctl: %s\n"), err);
		return -1;
	}
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", c->cfg.state_dir);
	return bind_feed(c);
}
