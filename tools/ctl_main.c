/* kidguard-ctl: operator tool for the blocklist store. Option parsing and dispatch. */
#include "ctl.h"

#include "kg_log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

	kg_i18n_gettext_init();
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
