/*
 * kidguard-ctl devices: secret device IDs for DoT and DoH (blocklist/bl_devices.c).
 *
 *   devices add NAME --profile P   make an ID (100 random bits), store its hash under NAME and
 *                                  print it once, with the DoT host name and the DoH URL to
 *                                  paste into the phone
 *   devices list                   NAME, profile, created, fingerprint (never the ID)
 *   devices revoke NAME            the ID stops working at the daemon's next query
 *   devices count
 *
 * Each change is one write transaction; the running daemon needs no reload. The profile must
 * be one the config (-c) defines: an ID for a profile the daemon lacks would only fall back.
 */
#include "ctl.h"

#include "bl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int usage(void)
{
	fputs(_("usage: kidguard-ctl -c CONFIG devices add NAME --profile PROFILE | list | "
	        "revoke NAME | count\n"),
	      stderr);
	return CTL_EXIT_USAGE;
}

static bool profile_defined(const struct ctl *c, const char *name)
{
	for (int i = 0; i < c->cfg.n_profiles; i++)
		if (strcmp(c->cfg.profiles[i].name, name) == 0)
			return true;
	return false;
}

static void print_endpoints(const struct ctl *c, const char *id)
{
	char dot[RS_TLS_NAME_MAX + 96], doh[RS_TLS_NAME_MAX + 128];

	if (rs_device_endpoints(&c->cfg, id, dot, sizeof(dot), doh, sizeof(doh)) < 0) {
		printf(_("dot:         (set [tls] hostname in the config to get the DoT name)\n"
		         "doh:         https://HOSTNAME/dns-query/%s\n"),
		       id);
		return;
	}
	printf(_("dot:         %s\ndoh:         %s\n"), dot, doh);
}

static int cmd_add(struct ctl *c, struct bl_db *db, int argc, char **argv)
{
	static const struct option opts[] = {{"profile", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *profile = NULL, *name;
	char id[BL_DEVICE_ID_LEN + 1], fp[BL_DEVICE_FP_MAX];
	uint8_t hash[BL_DEVICE_HASH_LEN];
	struct bl_devices *t = NULL;
	int ch, rc;

	optind = 0; /* GNU: re-initialise; "add" and NAME are permuted to the end */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'p')
			return usage();
		profile = optarg;
	}
	if (!profile || optind != argc - 2)
		return usage();
	name = argv[optind + 1];
	if (!bl_device_name_valid(name)) {
		fprintf(
		    stderr,
		    _("kidguard-ctl: devices add: bad name '%s' (1..63 of A-Z a-z 0-9 _ . -)\n"),
		    name);
		return CTL_EXIT_FAIL;
	}
	if (!profile_defined(c, profile)) {
		fprintf(stderr,
		        _("kidguard-ctl: devices add: unknown profile '%s': the config defines no "
		          "[profile %s] (give the daemon's config with -c)\n"),
		        profile, profile);
		return CTL_EXIT_FAIL;
	}
	if ((rc = bl_device_id_new(id, sizeof(id))) == 0 && (rc = bl_device_hash(id, hash)) == 0 &&
	    (rc = bl_devices_begin(db, &t)) == 0 &&
	    (rc = bl_devices_put(t, name, hash, profile, (uint64_t)time(NULL))) == 0) {
		rc = bl_devices_commit(t);
		t = NULL;
	}
	bl_devices_abort(t);
	if (rc < 0) {
		fprintf(stderr, _("kidguard-ctl: devices add %s: %s\n"), name,
		        rc == -EEXIST ? "a device of that name exists (revoke it first)"
		                      : kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	bl_device_fingerprint(hash, fp);
	printf(_("device:      %s\nprofile:     %s\nid:          %s\nfingerprint: %s\n"), name,
	       profile, id, fp);
	print_endpoints(c, id);
	fprintf(stderr,
	        _("kidguard-ctl: the ID is shown only now (the store keeps its hash); put it "
	          "in the phone's Private DNS / DoH setting\n"));
	return 0;
}

static int print_device(const struct bl_device *d, void *arg)
{
	char when[32];
	time_t t = (time_t)d->created;
	struct tm tm;

	(void)arg;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "-");
	printf("%-24s %-16s %-20s %s\n", d->name, d->profile, when, d->fingerprint);
	return 0;
}

static int cmd_revoke(struct bl_db *db, const char *name)
{
	struct bl_devices *t = NULL;
	int rc;

	if ((rc = bl_devices_begin(db, &t)) == 0 && (rc = bl_devices_del(t, name)) == 0) {
		rc = bl_devices_commit(t);
		t = NULL;
	}
	bl_devices_abort(t);
	if (rc < 0) {
		fprintf(stderr, _("kidguard-ctl: devices revoke %s: %s\n"), name,
		        rc == BL_ENOTFOUND || rc == -EINVAL ? "no such device" : kg_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	printf(_("revoked %s\n"), name);
	return 0;
}

int ctl_cmd_devices(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	bool ro = strcmp(sub, "list") == 0 || strcmp(sub, "count") == 0;
	struct bl_db *db;
	uint64_t n = 0;
	int rc;

	if (strcmp(sub, "add") && strcmp(sub, "revoke") && !ro)
		return usage();
	if ((ro || !strcmp(sub, "revoke")) && argc != (ro ? 2 : 3))
		return usage();
	if (!(db = ctl_open(c, ro)))
		return CTL_EXIT_FAIL;
	if (strcmp(sub, "add") == 0) {
		rc = cmd_add(c, db, argc, argv);
	} else if (strcmp(sub, "revoke") == 0) {
		rc = cmd_revoke(db, argv[2]);
	} else if (strcmp(sub, "list") == 0) {
		printf("%-24s %-16s %-20s %s\n", "NAME", "PROFILE", "CREATED", "FINGERPRINT");
		rc = bl_devices_list(db, NULL, print_device, NULL);
		if (rc < 0)
			fprintf(stderr, _("kidguard-ctl: devices list: %s\n"), kg_strerror(rc));
		rc = rc < 0 ? CTL_EXIT_FAIL : 0;
	} else if ((rc = bl_devices_count(db, &n)) == 0) {
		printf("%llu\n", (unsigned long long)n);
	} else {
		rc = CTL_EXIT_FAIL;
	}
	bl_db_close(db);
	return rc;
}
