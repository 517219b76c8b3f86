/* kidguard-ctl: operator tool for the blocklist store. Option parsing and dispatch. */
#include "ctl.h"

#include "kg_log.h"

#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KG_LOCALEDIR
#define KG_LOCALEDIR "/usr/share/locale"
#endif
#ifndef KG_BUILD_LOCALEDIR
#define KG_BUILD_LOCALEDIR ""
#endif

/*
 * Only LC_MESSAGES and LC_CTYPE follow the environment: numbers keep the C locale's '.', so
 * --json and the counts scripts read do not change with the user's language. When the user's
 * locale is not generated on this machine (no locales package, common on appliances),
 * setlocale fails; glibc then still translates under C.UTF-8 when LANGUAGE names the
 * language, so we set it from LC_ALL, LC_MESSAGES or LANG ("vi_VN.UTF-8" -> "vi_VN").
 */
void ctl_i18n_init(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
	char probe[sizeof(KG_BUILD_LOCALEDIR) + 48], lang[64];
	const char *dir = KG_LOCALEDIR, *v = NULL;

	setlocale(LC_CTYPE, "");
	if (!setlocale(LC_MESSAGES, "")) {
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !(v && v[0]); i++)
			v = getenv(vars[i]);
		setlocale(LC_CTYPE, "C.UTF-8");
		if (v && v[0] && setlocale(LC_MESSAGES, "C.UTF-8") && !getenv("LANGUAGE")) {
			snprintf(lang, sizeof(lang), "%.*s", (int)strcspn(v, ".@"), v);
			setenv("LANGUAGE", lang, 0);
		}
	}
	/* A build from a checkout uses its own freshly compiled catalogues. */
	snprintf(probe, sizeof(probe), "%s/vi/LC_MESSAGES/kidguard.mo", KG_BUILD_LOCALEDIR);
	if (KG_BUILD_LOCALEDIR[0] && access(probe, R_OK) == 0)
		dir = KG_BUILD_LOCALEDIR;
	bindtextdomain("kidguard", dir);
	bind_textdomain_codeset("kidguard", "UTF-8");
	textdomain("kidguard");
}

static void usage(FILE *fp)
{
	fputs(
	    _("usage: kidguard-ctl (-d DIR | -c CONFIG) COMMAND [ARGS]\n"
	      "\n"
	      "  -d, --dir DIR        blocklist state directory (the LMDB store)\n"
	      "  -c, --config FILE    the daemon's config: state directory, profiles, API\n"
	      "  -h, --help           this text\n"
	      "  -V, --version        print the version\n"
	      "\n"
	      "commands:\n"
	      "  check DOMAIN [--client IP] [--mac MAC] [--device-id ID]\n"
	      "        [--profile P] [--at 'mon 21:00'] [--json]\n"
	      "                                    why DOMAIN is (not) blocked for that client:\n"
	      "                                    profile, schedule, rule, answer\n"
	      "  deny add|del DOMAIN [--category C]... [--exact] [--profile P]\n"
	      "                                    local deny rule (no category: blocks for all)\n"
	      "  allow add|del DOMAIN [--exact] [--profile P]  local (or one profile's) allow "
	      "rule\n"
	      "  import --format domains|hosts|adblock|rpz [--category C]... [--allow] FILE...\n"
	      "                                    add a list to the local rules in one\n"
	      "                                    transaction; FILE - is stdin; decompress .xz\n"
	      "                                    first: xz -dc F.xz | kidguard-ctl ... import -\n"
	      "  info                              counts, feed version, last sync, size\n"
	      "  clients import [--merge] FILE     subscriber table: one 'PREFIX PROFILE' a line,\n"
	      "                                    ONE transaction, replaces the table (--merge:\n"
	      "                                    adds); FILE - is stdin\n"
	      "  clients set PREFIX PROFILE | del PREFIX | lookup IP | count\n"
	      "                                    one subscriber; the longest prefix holding IP\n"
	      "  devices add NAME --profile P      secret DoT/DoH device ID, shown once with\n"
	      "                                    the DoT name and DoH URL for the phone\n"
	      "  devices list | revoke NAME | count\n"
	      "                                    name, profile, created, fingerprint\n"
	      "  profile list | show P | set P KEY=VALUE... | delete P\n"
	      "                                    household profiles as data (the dashboard's)\n"
	      "  profile device add P --address IP | --mac MAC;  profile device del ...\n"
	      "  stats [--json]                    the running daemon's counters ([http] API)\n"
	      "  sync now                          ask the running daemon to poll the feed now\n"),
	    fp);
}

static int parse_global(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *config = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "+d:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf(_("kidguard-ctl %s\n"), KG_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	rs_config_defaults(&c->cfg);
	if (config && ctl_load_config(c, config) < 0)
		return -1;
	if (config && !dir)
		return 0;
	if (!dir || strlen(dir) >= sizeof(c->state_dir)) {
		fputs(_("kidguard-ctl: give the state directory with -d DIR or -c CONFIG\n"),
		      stderr);
		return -1;
	}
	memcpy(c->state_dir, dir, strlen(dir) + 1);
	return 0;
}

int main(int argc, char **argv)
{
	static struct ctl c; /* large (holds a config); static keeps it off the stack */
	const char *cmd;
	int rc;

	ctl_i18n_init();
	kg_log_set_tag("kidguard-ctl");
	kg_log_set_level(KG_LOG_WARN);
	rc = parse_global(&c, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : CTL_EXIT_USAGE;
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* re-initialise getopt (GNU: 0 also resets the "+" ordering) for argv[1..] */
	if (strcmp(cmd, "check") == 0)
		return ctl_cmd_check(&c, argc, argv);
	if (strcmp(cmd, "deny") == 0 || strcmp(cmd, "allow") == 0)
		return ctl_cmd_rule(&c, cmd[0] == 'a', argc, argv);
	if (strcmp(cmd, "import") == 0)
		return ctl_cmd_import(&c, argc, argv);
	if (strcmp(cmd, "info") == 0)
		return ctl_cmd_info(&c, argc, argv);
	if (strcmp(cmd, "clients") == 0)
		return ctl_cmd_clients(&c, argc, argv);
	if (strcmp(cmd, "devices") == 0)
		return ctl_cmd_devices(&c, argc, argv);
	if (strcmp(cmd, "profile") == 0)
		return ctl_cmd_profile(&c, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return ctl_cmd_stats(&c, argc, argv);
	if (strcmp(cmd, "sync") == 0)
		return ctl_cmd_sync(&c, argc, argv);
	fprintf(stderr, _("kidguard-ctl: unknown command '%s' (see --help)\n"), cmd);
	return CTL_EXIT_USAGE;
}
