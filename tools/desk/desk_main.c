/*
 * kidguard-desk: the feed publisher's desk (issue 18, docs/desk.md). Receives appliances'
 * early-warning signal and parents' reports (serve), ranks the candidates (triage), records
 * the operators' decisions (accept, reject, snooze, undo; audit) and hands the accepted names
 * to kidguard-feed publish (export).
 */
#include "desk.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kg_i18n.h" /* _(): human output in the user's language */
#include "kg_log.h"

static int usage(FILE *f)
{
	fputs(_("usage: kidguard-desk [-c desk.conf] [-d STOREDIR] COMMAND ...\n"
	        "  serve [--language auto|en|vi]      receive POST /signal and /report\n"
	        "  triage [--json] [--limit N] [--day YYYY-MM-DD] [--window DAYS] [--model F]\n"
	        "  accept NAME --category C [--operator WHO]\n"
	        "  reject NAME [--operator WHO]\n"
	        "  snooze NAME --days N [--operator WHO]\n"
	        "  undo NAME [--operator WHO]         forget the decision (audited)\n"
	        "  audit                              every decision, oldest first\n"
	        "  export --dir DIR                   accepted names, DIR/CATEGORY.txt\n"
	        "  stats                              the store's size\n"
	        "  prune --keep-days N                drop signal older than N days (7..3650)\n"
	        "  model train ...                    write the classifier (docs/desk.md)\n"
	        "see kidguard-desk(1)\n"),
	      f);
	return f == stderr ? 2 : 0;
}

static const struct {
	const char *name;
	int (*fn)(const struct desk_conf *, int, char **);
} cmds[] = {
    {"triage", desk_triage},   {"accept", desk_decide}, {"reject", desk_decide},
    {"snooze", desk_decide},   {"undo", desk_decide},   {"audit", desk_audit},
    {"export", desk_export},   {"stats", desk_stats},   {"prune", desk_prune},
    {"model", desk_model_cmd},
};

/* serve [--language CODE]: the flag beats [desk] language. */
static int serve(struct desk_conf *c, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--language") == 0) {
		if (desk_conf_language(c, argv[2]) != 0) {
			fprintf(
			    stderr,
			    _("kidguard-desk: --language %s: want auto or the code of one of the "
			      "Desk page's languages (kidguard-desk(1))\n"),
			    argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		return usage(stderr);
	}
	return desk_serve(c);
}

int main(int argc, char **argv)
{
	const char *conf_file = NULL, *store = NULL;
	struct desk_conf c;
	int o;

	kg_i18n_gettext_init();
	kg_log_set_tag("kidguard-desk");
	while ((o = getopt(argc, argv, "+c:d:hV")) != -1) {
		switch (o) {
		case 'c':
			conf_file = optarg;
			break;
		case 'd':
			store = optarg;
			break;
		case 'h':
			return usage(stdout);
		case 'V':
			printf("kidguard-desk %s\n", KG_VERSION);
			return 0;
		default:
			return usage(stderr);
		}
	}
	if (optind >= argc)
		return usage(stderr);
	if (desk_conf_load(&c, conf_file) != 0)
		return 2;
	if (store && snprintf(c.store, sizeof(c.store), "%s", store) >= (int)sizeof(c.store))
		return 2;
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "serve") == 0)
		return serve(&c, argc, argv);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].name) == 0)
			return cmds[i].fn(&c, argc, argv);
	}
	fprintf(stderr, _("kidguard-desk: unknown command %s\n"), argv[0]);
	return usage(stderr);
}
