/*
 * kidguard-sync-once: a test driver for the sync worker, NOT installed. It runs sy_poll_once()
 * (default) or sy_run() (--loop) with the options given on the command line, so that the
 * integration tests can drive sync -> store -> lookups without the daemon.
 *
 *   kidguard-sync-once --url URL --keys K1[,K2] --state DIR [--ca FILE] [--interval S]
 *                      [--timeout S] [--max-bytes N] [--subscribers] [--loop] [-v]
 * --subscribers: the URL is an ISP's subscriber table (the [subscribers] channel).
 * Exit status: 0 applied or unchanged, 1 a poll error (text on stderr), 2 usage.
 */
#include "sy.h"

#include "kg_log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy(char *dst, size_t len, const char *src)
{
	if (strlen(src) >= len)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int parse(int argc, char **argv, struct sy_options *o, bool *loop)
{
	static const struct option lo[] = {
	    {"url", 1, NULL, 'u'},       {"keys", 1, NULL, 'k'},     {"state", 1, NULL, 's'},
	    {"ca", 1, NULL, 'c'},        {"interval", 1, NULL, 'i'}, {"timeout", 1, NULL, 't'},
	    {"max-bytes", 1, NULL, 'm'}, {"loop", 0, NULL, 'l'},     {"subscribers", 0, NULL, 'S'},
	    {"key-grace", 1, NULL, 'g'}, {"now", 1, NULL, 'n'},      {"profiles", 1, NULL, 'P'},
	    {NULL, 0, NULL, 0}};
	char err[256];
	int c;

	while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'u':
			bad = copy(o->url, sizeof(o->url), optarg);
			break;
		case 'k':
			if ((bad = sy_parse_keys(optarg, o, err, sizeof(err))) != 0)
				fprintf(stderr, "%s\n", err);
			break;
		case 's':
			bad = copy(o->state_dir, sizeof(o->state_dir), optarg);
			break;
		case 'c':
			bad = copy(o->ca_file, sizeof(o->ca_file), optarg);
			break;
		case 'i':
			o->interval_s = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			o->timeout_s = (int)strtol(optarg, NULL, 10);
			break;
		case 'm':
			o->max_download_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'g':
			o->key_grace_s = (int)strtol(optarg, NULL, 10);
			break;
		case 'n': /* tests: the poll's clock (expiry, announced keys' dates) */
			o->fake_now = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			*loop = true;
			break;
		case 'S':
			o->channel = SY_CHANNEL_SUBSCRIBERS;
			break;
		case 'P': /* the config's profiles: the templates a household may name */
			bad = copy(o->templates, sizeof(o->templates), optarg);
			break;
		case 'v':
			kg_log_set_level(KG_LOG_DEBUG);
			break;
		default:
			return -1;
		}
		if (bad)
			return -1;
	}
	return o->url[0] && o->state_dir[0] && o->n_public_keys > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sy_options o;
	struct sy_ctx *ctx;
	bool loop = false;
	int rc;

	memset(&o, 0, sizeof(o));
	o.interval_s = 60;
	o.key_grace_s = 30 * 86400;
	kg_log_set_level(KG_LOG_INFO);
	if (parse(argc, argv, &o, &loop) != 0) {
		fprintf(stderr,
		        "usage: kidguard-sync-once --url URL --keys K[,K] --state DIR "
		        "[--ca FILE] [--interval S] [--timeout S] [--max-bytes N] [--subscribers] "
		        "[--key-grace S] [--now UNIX] [--profiles \"A B\"] "
		        "[--loop]\n");
		return 2;
	}
	if (loop)
		return sy_run(&o) == 0 ? 0 : 1;
	if ((rc = sy_ctx_new(&o, &ctx)) != 0) {
		fprintf(stderr, "kidguard-sync-once: %s\n", kg_strerror(rc));
		return 1;
	}
	rc = sy_poll_once(ctx);
	printf("version %llu\n", (unsigned long long)sy_ctx_version(ctx));
	sy_ctx_free(ctx);
	if (rc != 0)
		fprintf(stderr, "kidguard-sync-once: %s\n", kg_strerror(rc));
	return rc == 0 ? 0 : 1;
}
