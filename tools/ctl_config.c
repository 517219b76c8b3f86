/* kidguard-ctl -c CONFIG: the daemon's configuration, read with the daemon's parser. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

int ctl_load_config(struct ctl *c, const char *path)
{
	char err[512];

	if (rs_config_load(path, &c->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kidguard-ctl: %s\n", err);
		return -1;
	}
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", c->cfg.state_dir);
	return 0;
}
