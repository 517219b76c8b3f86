/*
 * kidguard-feed: the publisher's side of the signed national feed (docs/feed-format.md).
 *   kidguard-feed keygen --out KEYFILE
 *   kidguard-feed publish --key KEYFILE --dir FEEDDIR --category NAME=FILE[:FORMAT] ...
 *   kidguard-feed verify --pubkey KEY --dir FEEDDIR
 *   kidguard-feed timestamp --key KEYFILE --dir FEEDDIR
 *   kidguard-feed subscribers --key KEYFILE --dir DIR --table FILE
 */
#include "feed.h"

#include "kg_log.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: kidguard-feed keygen --out KEYFILE\n"
	    "       kidguard-feed publish --key KEYFILE [--key KEYFILE2] --dir FEEDDIR\n"
	    "                     --category NAME=FILE[:FORMAT] ... [--confidential NAME]\n"
	    "                     [--description NAME=TEXT] [--mandatory NAME]\n"
	    "                     [--child-default NAME=block|allow] [--child-safe NAME]\n"
	    "                     [--feed NAME]\n"
	    "                     [--report ADDRESS] [--signal URL] [--expires-in SECONDS] [--keep "
	    "N]\n"
	    "                     [--version N] [--timestamp-ttl SECONDS]\n"
	    "                     [--announce-key PUBKEY --from DATE]\n"
	    "                     [--category-name NAME:LANG=TEXT]\n"
	    "       kidguard-feed verify --pubkey KEY [--pubkey KEY2] --dir FEEDDIR\n"
	    "                     [--subscribers]\n"
	    "       kidguard-feed timestamp --key KEYFILE [--key KEYFILE2] --dir FEEDDIR\n"
	    "       kidguard-feed subscribers --key KEYFILE [--key KEYFILE2] --dir DIR\n"
	    "                     --table FILE --profiles LIST|--config FILE|--allow-undefined\n"
	    "                     [--categories LIST] [--expires-in SECONDS] [--keep N]\n"
	    "                     [--version N]\n"
	    "       kidguard-feed device-hash ID\n"
	    "FORMAT is domains (default), hosts, adblock or rpz; FILE may be .gz or .xz.\n"
	    "A --category NAME may be given several times with different files.\n"
	    "--confidential NAME publishes that category as keyed hashes of the names.\n"
	    "--mandatory NAME: appliances block it for every profile, above local allows.\n"
	    "--child-default NAME=allow: the child presets do not block it (default block).\n"
	    "--child-safe NAME: its names resolve for walled-garden profiles (mode = allowlist).\n"
	    "--keep N: deltas from the last N versions (default 5).\n"
	    "--category-name gambling:vi='Cờ bạc': what parents and children read for that\n"
	    "category in that language (a built-in or --category NAME); repeat per language.\n"
	    "subscribers: the ISP's table (lines \"PREFIX PROFILE\", households \"profile NAME\n"
	    "{json}\", devices \"device HASH PROFILE\", # comments) as a signed channel the\n"
	    "nodes' [subscribers] url polls; prints the table's hash. --categories: the feed's\n"
	    "category names a household may name besides the built-in ones.\n"
	    "device-hash ID: the HASH of a device ID for a \"device\" line (SHA-256, hex).\n"
	    "--timestamp-ttl SECONDS: publish a signed timestamp.json valid that long; re-sign\n"
	    "it with `kidguard-feed timestamp` (cron) well within it. 0 turns it off; without\n"
	    "the option a publish keeps the previous version's setting.\n"
	    "--announce-key PUBKEY --from DATE: announce a successor signing key; appliances\n"
	    "trust it from DATE (unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC) with no\n"
	    "config edit and drop the announcing key [sync] key_grace later. Announcements\n"
	    "are kept by later publishes.\n");
}

int main(int argc, char **argv)
{
	kg_log_set_level(KG_LOG_WARN);
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0) {
		if (argc == 4 && strcmp(argv[2], "--out") == 0)
			return feed_keygen(argv[3]) == 0 ? 0 : 1;
	} else if (argc >= 2 && strcmp(argv[1], "publish") == 0) {
		return feed_publish(argc - 1, argv + 1);
	} else if (argc >= 2 && strcmp(argv[1], "subscribers") == 0) {
		return feed_subscribers(argc - 1, argv + 1);
	} else if (argc >= 2 && strcmp(argv[1], "device-hash") == 0) {
		return feed_device_hash(argc - 1, argv + 1);
	} else if (argc >= 2 && strcmp(argv[1], "timestamp") == 0) {
		return feed_timestamp(argc - 1, argv + 1);
	} else if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		return feed_verify(argc - 1, argv + 1);
	} else if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
