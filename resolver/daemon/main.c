/*
 * kidguard: the daemon. Runs in the foreground (systemd style) and logs to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bl.h"
#include "kg_log.h"
#include "rs_daemon.h"
#include "rs_http.h"
#include "rs.h"
#include "rs_tls.h"
#ifdef KG_HAVE_SYNC
#include "sy.h"
#endif

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: kidguard [-c FILE] [-u USER] [-n] [-v]\n"
	    "       kidguard --help | --version\n"
	    "\n"
	    "A filtering DNS resolver: answers from a memory-mapped blocklist, forwards the\n"
	    "rest to upstream resolvers and caches the answers.\n"
	    "\n"
	    "  -c, --config FILE  read the configuration from FILE (INI, see kidguard.conf(5));\n"
	    "                     without it, the embedded default: listen 127.0.0.1:5353 and\n"
	    "                     [::1]:5353, upstreams from /etc/resolv.conf, state in\n"
	    "                     ./kidguard-data\n"
	    "  -n, --check        check the configuration and exit: 0 when valid, 1 with\n"
	    "                     FILE:LINE: [section] key: problem otherwise\n"
	    "  -v, --verbose      with -n, print the effective configuration; otherwise log at\n"
	    "                     debug level\n"
	    "  -u, --user USER    the user to switch to when started as root, when the\n"
	    "                     configuration sets no [server] user (kidguard.service)\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "      --sync-worker  (internal) run the feed sync process; the daemon starts it\n"
	    "                     itself when the config has a [sync] or [subscribers] url\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration (a bad file\n"
	    "is logged and the running configuration kept).\n");
}

/* `kidguard --sync-worker -c FILE`: the sync process the daemon starts and supervises. It
 * runs the same binary so that an installed kidguard never finds a mismatched helper. It polls
 * the national feed ([sync]) and the ISP's subscriber table ([subscribers]), whichever are set. */
#ifdef KG_HAVE_SYNC
static int sync_channel(const struct rs_config *cfg, bool subs, struct sy_options *o)
{
	const char *sec = subs ? "subscribers" : "sync";
	char err[256];

	memset(o, 0, sizeof(*o));
	if (sy_parse_keys(subs ? cfg->subs_public_keys : cfg->sync_public_keys, o, err,
	                  sizeof(err)) < 0) {
		log_err("%s: [%s] public_keys: %s", cfg->source, sec, err);
		return -1;
	}
	snprintf(o->url, sizeof(o->url), "%s", subs ? cfg->subs_url : cfg->sync_url);
	snprintf(o->ca_file, sizeof(o->ca_file), "%s",
	         subs ? cfg->subs_ca_file : cfg->sync_ca_file);
	snprintf(o->state_dir, sizeof(o->state_dir), "%s", cfg->state_dir);
	o->interval_s = subs ? cfg->subs_interval_s : cfg->sync_interval_s;
	o->timeout_s = cfg->sync_timeout_s;
	o->max_download_bytes = cfg->sync_max_download;
	o->channel = subs ? SY_CHANNEL_SUBSCRIBERS : SY_CHANNEL_FEED;
	o->key_grace_s = subs ? 0 : cfg->sync_key_grace_s;  /* keys announced in band: the feed's */
	for (int i = 0; subs && i < cfg->n_profiles; i++) { /* the templates households may name */
		size_t n = strlen(o->templates);
		snprintf(o->templates + n, sizeof(o->templates) - n, "%s%s", n ? " " : "",
		         cfg->profiles[i].name);
	}
	return 0;
}
#endif

static int run_sync_worker(const struct rs_config *cfg)
{
#ifndef KG_HAVE_SYNC
	log_err("this kidguard was built without the sync module");
	return 1;
#else
	static struct sy_options o[2];
	int n = 0;

	kg_log_set_tag("kidguard-sync");
	if (!cfg->sync_url[0] && !cfg->subs_url[0]) {
		log_err("no [sync] url and no [subscribers] url in %s", cfg->source);
		return 1;
	}
	if (cfg->sync_url[0] && sync_channel(cfg, false, &o[n++]) < 0)
		return 1;
	if (cfg->subs_url[0] && sync_channel(cfg, true, &o[n++]) < 0)
		return 1;
	return sy_run_channels(o, n) < 0 ? 1 : 0;
#endif
}

/* mkdir -p for the state directory, so the embedded default works from any checkout. */
static int make_dirs(const char *path)
{
	char buf[RS_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

struct run_as {
	bool drop;
	uid_t uid;
	gid_t gid;
	/* The sync process's own user ([sync] user), when started as root: it runs as sync_uid
	 * with the store's group `store_gid`, and the store is group-writable for it. */
	bool sync_own;
	uid_t sync_uid;
	gid_t store_gid;
};

/* Resolve [server] user/group. Only root can switch; anyone else runs as they are. */
static int lookup_user(const struct rs_config *cfg, struct run_as *ra)
{
	struct passwd *pw;
	struct group *gr;

	ra->drop = false;
	if (!cfg->user[0])
		return 0;
	if (geteuid() != 0) {
		log_info(
		    "not started as root: running as uid %u, [server] user = %s is not applied",
		    (unsigned)geteuid(), cfg->user);
		return 0;
	}
	if (!(pw = getpwnam(cfg->user))) {
		log_err("%s: [server] user: no such user \"%s\"", cfg->source, cfg->user);
		return -1;
	}
	ra->uid = pw->pw_uid;
	ra->gid = pw->pw_gid;
	if (cfg->group[0]) {
		if (!(gr = getgrnam(cfg->group))) {
			log_err("%s: [server] group: no such group \"%s\"", cfg->source,
			        cfg->group);
			return -1;
		}
		ra->gid = gr->gr_gid;
	}
	ra->drop = true;
	return 0;
}

/*
 * [sync] user, or kidguard-sync when that account exists: only root can start a process as
 * another user, and a user the same as the daemon's changes nothing. Call after
 * lookup_user().
 */
static int lookup_sync_user(const struct rs_config *cfg, struct run_as *ra)
{
	const char *name = cfg->sync_user[0] ? cfg->sync_user : "kidguard-sync";
	struct passwd *pw;

	ra->sync_own = false;
	if (geteuid() != 0) {
		if (cfg->sync_user[0])
			log_info("not started as root: [sync] user = %s is not applied",
			         cfg->sync_user);
		return 0;
	}
	if (!(pw = getpwnam(name))) {
		if (!cfg->sync_user[0])
			return 0; /* no kidguard-sync account: the daemon's user, as before */
		log_err("%s: [sync] user: no such user \"%s\"", cfg->source, name);
		return -1;
	}
	if (pw->pw_uid == (ra->drop ? ra->uid : 0))
		return 0;
	if (pw->pw_uid == 0) {
		log_err("%s: [sync] user: %s is root; the sync process does not run as root",
		        cfg->source, name);
		return -1;
	}
	ra->sync_own = true;
	ra->sync_uid = pw->pw_uid;
	ra->store_gid = ra->drop ? ra->gid : pw->pw_gid;
	return 0;
}

/* The files kidguard keeps in the state directory ("" is the directory itself). */
static const char *const state_files[] = {"", "data.mdb", "lock.mdb", "sync.pid", "sync.pid.tmp"};

/* Open one state file without following a symlink; -1 (ENOENT: absent) otherwise. O_NONBLOCK
 * so that a FIFO planted in its place cannot hang the start. */
static int open_state_file(int dfd, const char *name)
{
	if (!*name)
		return dup(dfd);
	return openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

/*
 * Root is about to open the store in a directory the service user owns after the first start,
 * and to hand its files to that user. Whatever that user (or anyone) could have prepared there
 * must not make root open or chown a file elsewhere: a symlink (data.mdb -> /etc/shadow), a
 * hard link, a device. So the directory must be root's or the service user's and writable by
 * nobody else, and each file we touch a plain file with one link.
 */
static int check_state_dir(const char *dir, const struct run_as *ra)
{
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

	if (dfd < 0 || fstat(dfd, &st) < 0) {
		log_err("state directory %s: %s%s; refusing to start as root with [server] user",
		        dir, strerror(errno),
		        errno == ELOOP || errno == ENOTDIR ? " (a symlink?)" : "");
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	/* Group-writable only for the sync user's sake, and only by the store's own group. */
	if ((st.st_uid != 0 && st.st_uid != ra->uid) || (st.st_mode & S_IWOTH) ||
	    ((st.st_mode & S_IWGRP) && !(ra->sync_own && st.st_gid == ra->store_gid))) {
		log_err(
		    "state directory %s is owned by uid %u with mode %04o: it must belong to root "
		    "or uid %u ([server] user) and not be group- or world-writable (chmod "
		    "go-w, chown); refusing to start",
		    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)ra->uid);
		close(dfd);
		return -1;
	}
	for (size_t i = 1; i < sizeof(state_files) / sizeof(state_files[0]) && rc == 0; i++) {
		if (fstatat(dfd, state_files[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* absent: created by us, as root, in a directory only we write */
		if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
			log_err("state directory %s: %s is %s; refusing to start (remove it)", dir,
			        state_files[i],
			        S_ISLNK(st.st_mode)    ? "a symlink"
			        : !S_ISREG(st.st_mode) ? "not a regular file"
			                               : "a hard link");
			rc = -1;
		}
	}
	close(dfd);
	return rc;
}

/* The store must stay writable by the user we become (LMDB readers write lock.mdb). Each file
 * is opened without following symlinks and changed through its descriptor, so a link swapped
 * in after check_state_dir() is not followed either. */
static void give_state_dir(const char *dir, const struct run_as *ra)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0) {
		log_warn("cannot give %s to uid %u: %s", dir, (unsigned)ra->uid, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(state_files) / sizeof(state_files[0]); i++) {
		struct stat st;
		int fd = open_state_file(dfd, state_files[i]);
		if (fd < 0) {
			if (errno != ENOENT)
				log_warn("cannot give %s/%s to uid %u: %s", dir, state_files[i],
				         (unsigned)ra->uid, strerror(errno));
			continue;
		}
		if (fstat(fd, &st) < 0 || (i > 0 && (!S_ISREG(st.st_mode) || st.st_nlink != 1)))
			log_warn("not giving %s/%s to uid %u: not a plain file", dir,
			         state_files[i], (unsigned)ra->uid);
		else if (fchown(fd, ra->drop ? ra->uid : 0,
		                ra->sync_own ? ra->store_gid : ra->gid) < 0 ||
		         (ra->sync_own && fchmod(fd, i == 0 ? 0770 : 0660) < 0))
			log_warn("cannot give %s/%s to uid %u: %s", dir, state_files[i],
			         (unsigned)ra->uid, strerror(errno));
		close(fd);
	}
	close(dfd);
}

/* The sync launcher, forked while we are still root and alone (rs_sync_launch.c). */
static int start_launcher(const char *config_path, const struct run_as *ra, int *fd)
{
	static char exe[RS_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		log_err("cannot find my own executable to start the sync process");
		return -1;
	}
	exe[n] = '\0';
	*fd = rs_sync_launcher_start(exe, config_path, ra->sync_uid, ra->store_gid);
	if (*fd < 0) {
		log_err("cannot start the sync launcher: %s", strerror(-*fd));
		return -1;
	}
	log_info("the sync process runs as uid %u gid %u ([sync] user)", (unsigned)ra->sync_uid,
	         (unsigned)ra->store_gid);
	return 0;
}

/*
 * Create the store's files if need be and give them to the service user, BEFORE the server
 * opens the store for good: LMDB's locks are POSIX record locks, which a process loses on
 * every file of the store the moment it closes any descriptor of it, so give_state_dir()'s
 * own open and close must not happen while this process has the store open (the next
 * process to open it, the sync worker, would think it alone and reset the reader table).
 */
static int give_store(const char *dir, const struct run_as *ra)
{
	struct bl_db *db = NULL;
	int rc = bl_db_open(dir, NULL, &db);

	if (rc != 0) {
		log_err("cannot open the store in %s: %s", dir, kg_strerror(rc));
		return -1;
	}
	bl_db_close(db);
	give_state_dir(dir, ra);
	return 0;
}

/* After the sockets are bound: no way back to root. */
static int drop_privileges(const struct run_as *ra)
{
	if (!ra->drop)
		return 0;
	if (setgroups(1, &ra->gid) < 0 || setgid(ra->gid) < 0 || setuid(ra->uid) < 0) {
		log_err("cannot drop privileges to uid %u gid %u: %s", (unsigned)ra->uid,
		        (unsigned)ra->gid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("privilege drop did not stick: still able to become root");
		return -1;
	}
	log_info("dropped privileges to uid %u gid %u", (unsigned)ra->uid, (unsigned)ra->gid);
	return 0;
}

/* -n: the category names only a feed defines are checked against the store, when there is one
 * (read-only; the daemon itself binds at start and at every reload). */
static int check_feed_categories(struct rs_config *cfg)
{
	struct bl_db_options o = {.readonly = true};
	struct bl_db *db = NULL;
	char file[RS_PATH_MAX + 16], err[512];
	int rc;

	snprintf(file, sizeof(file), "%s/data.mdb", cfg->state_dir);
	if (access(file, R_OK) == 0 && bl_db_open(cfg->state_dir, &o, &db) != 0)
		db = NULL;
	rc = rs_config_bind_feed(cfg, db, err, sizeof(err));
	bl_db_close(db);
	if (rc < 0)
		fprintf(stderr, "kidguard: %s\n", err);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {"sync-worker", no_argument, NULL, 'S'},
	    {"user", required_argument, NULL, 'u'},   {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *user = NULL;
	bool check = false, verbose = false, sync_worker = false;
	struct rs_config cfg;
	struct rs_server *srv = NULL;
	struct run_as ra = {0};
	char err[512];
	int c, rc, launcher = -1;

	while ((c = getopt_long(argc, argv, "c:u:nvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kidguard %s\n", KG_VERSION);
			return 0;
		case 'S':
			sync_worker = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kidguard: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	rs_config_defaults(&cfg);
	if (config_path && rs_config_load(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kidguard: %s\n", err);
		return 1;
	}
	/* The unit starts us as root so that [sync] user can apply; a kidguard.conf kept from
	 * before that (no [server] user) must not leave the daemon running as root. */
	if (user && !cfg.user[0]) {
		if (strlen(user) >= sizeof(cfg.user)) {
			fprintf(stderr, "kidguard: --user: name too long\n");
			return 2;
		}
		snprintf(cfg.user, sizeof(cfg.user), "%s", user);
	}
	if (!config_path && cfg.n_upstream == 0) {
		fprintf(stderr, "kidguard: no nameserver in /etc/resolv.conf; give a config with "
		                "[upstream] servers\n");
		return 1;
	}
	if (check && cfg.safe_search_table[0]) {
		struct rs_safesearch *ss = NULL;
		if (rs_safesearch_load(cfg.safe_search_table, &ss, err, sizeof(err)) < 0) {
			fprintf(stderr, "kidguard: %s: [blocking] safe_search_table: %s\n",
			        cfg.source, err);
			return 1;
		}
		rs_safesearch_free(ss);
	}
	if (check && check_feed_categories(&cfg) < 0)
		return 1;
	if (check) {
		if (verbose)
			rs_config_print(&cfg, stdout);
		fprintf(stderr, "kidguard: %s: configuration OK\n", cfg.source);
		return 0;
	}
	kg_log_set_level(verbose ? KG_LOG_DEBUG : cfg.log_level);
	if (sync_worker)
		return run_sync_worker(&cfg);
	rc = make_dirs(cfg.state_dir);
	if (rc < 0) {
		log_err("cannot create state directory %s: %s", cfg.state_dir, strerror(-rc));
		return 1;
	}
	if (lookup_user(&cfg, &ra) < 0 || lookup_sync_user(&cfg, &ra) < 0 ||
	    ((ra.drop || ra.sync_own) && check_state_dir(cfg.state_dir, &ra) < 0))
		return 1;
	if (ra.sync_own && config_path && start_launcher(config_path, &ra, &launcher) < 0)
		return 1;
	if ((ra.drop || ra.sync_own) && give_store(cfg.state_dir, &ra) < 0)
		return 1;
	rs_daemon_use_tls(rs_tls_plugin());
	rs_daemon_use_http(rs_http_plugin());
	rc = rs_server_new(&cfg, &srv);
	if (rc < 0) {
		log_err("cannot start: %s", kg_strerror(rc));
		return 1;
	}
	rs_server_set_sync_launcher(srv, launcher);
	if (drop_privileges(&ra) < 0) {
		rs_server_free(srv);
		return 1;
	}
	rs_server_set_config_path(srv, config_path);
	rc = rs_server_run(srv);
	rs_server_free(srv);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}
