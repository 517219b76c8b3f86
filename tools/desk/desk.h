/* kidguard-desk: the program around kgdesk (dk.h). Shared by desk_*.c only. */
#ifndef DESK_H
#define DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dk.h"
#include "kg_addr.h"

#define DESK_PATH_MAX 1024
#define DESK_VIEW_MAX 16

/* desk.conf ([desk] section); defaults in desk_conf.c, every key in kidguard-desk(1). */
struct desk_conf {
	char listen[128];
	char tls_cert[DESK_PATH_MAX];
	char tls_key[DESK_PATH_MAX];
	char store[DESK_PATH_MAX];
	char model[DESK_PATH_MAX];
	unsigned rate;       /* requests per minute per /24 or /56 */
	size_t max_body;     /* bytes */
	unsigned day_window; /* a batch's day at most this many days from today; 0: any */
	struct kg_cidr view_allow[DESK_VIEW_MAX]; /* who may GET the page and /api/triage */
	int n_view_allow;
	char language[8]; /* the Desk page's language: a catalogue's code, or "auto" */
};

/* Defaults, then `file` (borrowed; NULL: defaults only). A bad line names FILE:LINE: key on
 * stderr and returns -EINVAL. */
int desk_conf_load(struct desk_conf *c, const char *file);
/* Set the Desk page's language: "auto" (Accept-Language decides) or the code of a built-in
 * catalogue; else -1 and `c` is unchanged. */
int desk_conf_language(struct desk_conf *c, const char *v);

/* The subcommands; argv[0] is the subcommand's name. Each returns the exit status. */
int desk_serve(const struct desk_conf *c);
int desk_triage(const struct desk_conf *c, int argc, char **argv);
int desk_decide(const struct desk_conf *c, int argc, char **argv);
int desk_audit(const struct desk_conf *c, int argc, char **argv);
int desk_export(const struct desk_conf *c, int argc, char **argv);
int desk_prune(const struct desk_conf *c, int argc, char **argv);
int desk_stats(const struct desk_conf *c, int argc, char **argv);
int desk_model_cmd(const struct desk_conf *c, int argc, char **argv);

/* The classifier, when built with one (desk_model.c). `*out` owned: desk_harm_free(). */
struct desk_harm;
int desk_harm_load(const char *file, struct desk_harm **out);
void desk_harm_free(struct desk_harm *h);
/* A dk_harm_fn: `arg` is a struct desk_harm. */
int desk_harm(void *arg, const char *domain, char *category, size_t len, double *prob,
              double *harm);

/* The Desk page's files, built in (embed.cmake): NUL-terminated, `_len` bytes before it. */
extern const unsigned char desk_www_index[], desk_www_js[], desk_www_css[], desk_www_icon[];
extern const size_t desk_www_index_len, desk_www_js_len, desk_www_css_len, desk_www_icon_len;

/* Load the Desk page's message catalogues (www/i18n/<lang>.json, built in by
 * common/i18n/embed_i18n.cmake) into `c` (kg_i18n.h): 0 or < 0. */
struct kg_i18n;
int desk_i18n_load(struct kg_i18n *c);

/* The terminal columns `s` (UTF-8, borrowed) takes, for tables whose headers are translated. */
int desk_columns(const char *s);
/* Print `s` to stdout padded with spaces to `width` columns, text first when `left`. */
void desk_print_cell(const char *s, int width, bool left);

/* Triage as JSON text (malloc'ed, the caller frees), for --json and GET /api/triage. */
char *desk_triage_json(const struct dk_cand *c, size_t n, uint32_t day);

#endif
