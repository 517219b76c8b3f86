/* desk.conf: one [desk] section, INI (inih), every value range-checked. */
#include "desk.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kg_i18n.h"

/* Generated from www/i18n/<lang>.json (CMakeLists.txt). */
extern const struct kg_i18n_src desk_i18n_srcs[];
extern const int desk_i18n_srcs_n;

#define RATE_MAX       1000000
#define BODY_MIN       1024
#define BODY_MAX       (16u << 20)
#define DAY_WINDOW_MAX 3650

struct ctx {
	struct desk_conf *c;
	const char *file;
	int line, bad;
};

static int text(char *out, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int number(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* "off" (nobody), or a list of prefixes ("127.0.0.0/8, ::1"). */
static int view_allow(struct desk_conf *c, const char *v)
{
	char buf[1024], *items[DESK_VIEW_MAX];
	int n;

	c->n_view_allow = 0;
	if (strcmp(v, "off") == 0)
		return 0;
	if (strlen(v) >= sizeof(buf))
		return -1;
	memcpy(buf, v, strlen(v) + 1);
	n = kg_split_list(buf, items, DESK_VIEW_MAX);
	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (kg_cidr_parse(items[i], &c->view_allow[i]) != 0)
			return -1;
	}
	c->n_view_allow = n;
	return 0;
}

int desk_conf_language(struct desk_conf *c, const char *v)
{
	bool known = strcmp(v, "auto") == 0;

	for (int i = 0; i < desk_i18n_srcs_n && !known; i++)
		known = strcmp(v, desk_i18n_srcs[i].code) == 0;
	return known ? text(c->language, sizeof(c->language), v) : -1;
}

static int set(struct desk_conf *c, const char *name, const char *v)
{
	unsigned long n = 0;
	int rc;

	if (strcmp(name, "listen") == 0)
		return text(c->listen, sizeof(c->listen), v);
	if (strcmp(name, "tls_cert") == 0)
		return text(c->tls_cert, sizeof(c->tls_cert), v);
	if (strcmp(name, "tls_key") == 0)
		return text(c->tls_key, sizeof(c->tls_key), v);
	if (strcmp(name, "store") == 0)
		return v[0] ? text(c->store, sizeof(c->store), v) : -1;
	if (strcmp(name, "model") == 0)
		return text(c->model, sizeof(c->model), v);
	if (strcmp(name, "rate") == 0) {
		rc = number(v, 1, RATE_MAX, &n);
		c->rate = (unsigned)n;
		return rc;
	}
	if (strcmp(name, "max_body") == 0) {
		rc = number(v, BODY_MIN, BODY_MAX, &n);
		c->max_body = n;
		return rc;
	}
	if (strcmp(name, "view_allow") == 0)
		return view_allow(c, v);
	if (strcmp(name, "language") == 0)
		return desk_conf_language(c, v);
	if (strcmp(name, "day_window") == 0) {
		rc = number(v, 0, DAY_WINDOW_MAX, &n);
		c->day_window = (unsigned)n;
		return rc;
	}
	return -2;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *x = user;
	int rc;

	if (strcmp(section, "desk") != 0) {
		fprintf(stderr, _("%s:%d: [%s] unknown section\n"), x->file, x->line, section);
		x->bad = 1;
		return 1;
	}
	rc = set(x->c, name, value);
	if (rc != 0) {
		fprintf(stderr,
		        rc == -2 ? _("%s:%d: [desk] %s: unknown key\n")
		                 : _("%s:%d: [desk] %s: bad value\n"),
		        x->file, x->line, name);
		x->bad = 1;
	}
	return 1;
}

/* inih passes no line number to the handler: count lines through a reader. */
static char *reader(char *str, int num, void *stream)
{
	struct ctx *x = ((void **)stream)[1];
	char *r = fgets(str, num, ((void **)stream)[0]);

	if (r)
		x->line++;
	return r;
}

int desk_i18n_load(struct kg_i18n *c)
{
	return kg_i18n_load(c, desk_i18n_srcs, desk_i18n_srcs_n);
}

int desk_conf_load(struct desk_conf *c, const char *file)
{
	struct ctx x = {.c = c, .file = file};
	void *stream[2];
	FILE *f;
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8443");
	snprintf(c->store, sizeof(c->store), "/var/lib/kidguard-desk");
	c->rate = 60;
	c->max_body = 4u << 20; /* 64k domains of ~60 bytes */
	c->day_window = 2;
	snprintf(c->language, sizeof(c->language), "auto");
	kg_cidr_parse("127.0.0.0/8", &c->view_allow[0]);
	kg_cidr_parse("::1", &c->view_allow[1]);
	c->n_view_allow = 2;
	if (!file)
		return 0;
	if (!(f = fopen(file, "r"))) {
		fprintf(stderr, "%s: %s\n", file, strerror(errno));
		return -errno;
	}
	stream[0] = f;
	stream[1] = &x;
	rc = ini_parse_stream(reader, stream, handler, &x);
	fclose(f);
	if (rc != 0 && !x.bad)
		fprintf(stderr, _("%s:%d: syntax error\n"), file, rc);
	if (rc == 0 && !x.bad && (c->tls_cert[0] != 0) != (c->tls_key[0] != 0)) {
		fprintf(stderr, _("%s: [desk] tls_cert and tls_key go together\n"), file);
		x.bad = 1;
	}
	return rc != 0 || x.bad ? -EINVAL : 0;
}
