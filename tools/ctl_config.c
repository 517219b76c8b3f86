/* The -c CONFIG hook of kidguard-ctl (see ctl.h). */
#include "ctl.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

struct cfg_ctx {
	char *out;
	size_t outlen;
	bool found, too_long;
};

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *x = user;
	size_t len = strlen(value);

	if (strcmp(section, "blocklist") != 0 || strcmp(name, "path") != 0)
		return 1;
	if (len == 0 || len >= x->outlen) {
		x->too_long = true;
		return 0;
	}
	memcpy(x->out, value, len + 1);
	x->found = true;
	return 1;
}

int ctl_state_dir_from_config(const char *path, char *out, size_t outlen)
{
	struct cfg_ctx x = {out, outlen, false, false};
	int rc = ini_parse(path, on_kv, &x);

	if (rc < 0) {
		fprintf(stderr, "kidguard-ctl: cannot read config %s\n", path);
		return -1;
	}
	if (rc > 0 || x.too_long) {
		fprintf(stderr, "kidguard-ctl: %s:%d: bad [blocklist] path\n", path, rc);
		return -1;
	}
	if (!x.found) {
		fprintf(stderr, "kidguard-ctl: %s: no `path` in section [blocklist]\n", path);
		return -1;
	}
	return 0;
}
