/*
 * The sync process and the feed's freshness, watched from the daemon's main thread.
 *
 * The sync worker (sync/, `kidguard --sync-worker`) runs as a child process: it is the only
 * writer of feed entries, and whatever it does — crash, hang, a huge download — the resolver
 * threads keep answering from the last committed store. We restart it when it exits (with a
 * back-off), kill it when it has not recorded an attempt for far longer than its interval
 * allows (a hang), and once a second turn the store's meta into one flag the workers read:
 * "the feed is older than max_age and the policy is fail_closed".
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kg_log.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define HEALTHY_RUN_MS 60000 /* a run this long resets the back-off */

static void spawn(struct rs_supervisor *s);

static void on_restart_timer(uv_timer_t *t)
{
	spawn(t->data);
}

/* The sync process exited (reported by libuv, or by the launcher). */
static void child_exited(struct rs_supervisor *s, int64_t status, int sig)
{
	uint64_t ran = uv_now(s->loop) - s->started_at;

	s->running = false;
	if (s->stopping)
		return;
	if (s->respawn) { /* stopped by us for a new [sync] config: start it again at once */
		s->respawn = false;
		s->backoff_ms = BACKOFF_MIN_MS;
		if (!s->srv->cfg->cfg.sync_url[0] && !s->srv->cfg->cfg.subs_url[0]) {
			log_info("sync process %d stopped: no [sync] or [subscribers] url left",
			         s->pid);
			return;
		}
		log_info("sync process %d stopped; starting it with the new [sync] settings",
		         s->pid);
		/* From the timer, once the handle's close has completed (it is reused). */
		uv_timer_start(&s->restart, on_restart_timer, 0, 0);
		return;
	}
	if (ran >= HEALTHY_RUN_MS)
		s->backoff_ms = BACKOFF_MIN_MS;
	log_err("sync process %d exited (status %lld, signal %d) after %llu s; restarting in %llu "
	        "ms. DNS answers continue from the last committed blocklist.",
	        s->pid, (long long)status, sig, (unsigned long long)(ran / 1000),
	        (unsigned long long)s->backoff_ms);
	uv_timer_start(&s->restart, on_restart_timer, s->backoff_ms, 0);
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
	uv_close((uv_handle_t *)p, NULL);
	child_exited(p->data, status, sig);
}

/* Signal the sync process: directly, or through the launcher (it runs as another user). */
static void sup_kill(struct rs_supervisor *s, int sig)
{
	if (s->has_launcher)
		rs__launch_send(s->launcher_fd, 'K', sig, 0);
	else
		uv_process_kill(&s->proc, sig);
}

static void on_launcher(uv_poll_t *h, int status, int events)
{
	struct rs_supervisor *s = h->data;
	struct rs_launch_msg m;
	ssize_t n;

	(void)events;
	n = status < 0 ? -1 : recv(s->launcher_fd, &m, sizeof(m), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(m)) {
		log_err("the sync launcher is gone: the sync process is not restarted until the "
		        "daemon is");
		uv_poll_stop(h);
		s->running = false;
		return;
	}
	if (m.type == 'P') {
		s->pid = m.a;
		log_info("sync process %d started as [sync] user (feed %s, every %d s)", s->pid,
		         s->srv->cfg->cfg.sync_url, s->srv->cfg->cfg.sync_interval_s);
	} else if (m.type == 'E') {
		log_err("cannot start the sync process: %s", strerror(m.a));
		s->running = false;
		uv_timer_start(&s->restart, on_restart_timer, BACKOFF_MAX_MS, 0);
	} else if (m.type == 'X') {
		child_exited(s, m.a, m.b);
	}
}

void rs_server_set_sync_launcher(struct rs_server *srv, int fd)
{
	srv->sup.has_launcher = fd >= 0;
	srv->sup.launcher_fd = fd;
}

static void spawn(struct rs_supervisor *s)
{
	char *args[] = {s->exe, "--sync-worker", "-c", s->config, NULL};
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	int rc;

	if (s->has_launcher) { /* it reads our config path and exe from its own copy */
		if (rs__launch_send(s->launcher_fd, 'S', 0, 0) < 0) {
			log_err("cannot reach the sync launcher: %s", strerror(errno));
			return;
		}
		s->running = true;
		s->pid = 0;
		s->started_at = uv_now(s->loop);
		return;
	}

	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = i == 0 ? UV_IGNORE : UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}
	o.file = s->exe;
	o.args = args;
	o.exit_cb = on_child_exit;
	o.stdio_count = 3;
	o.stdio = stdio;
	s->proc.data = s;
	rc = uv_spawn(s->loop, &s->proc, &o);
	if (rc < 0) {
		log_err("cannot start the sync process %s: %s", s->exe, uv_strerror(rc));
		uv_close((uv_handle_t *)&s->proc, NULL);
		uv_timer_start(&s->restart, on_restart_timer, BACKOFF_MAX_MS, 0);
		return;
	}
	s->running = true;
	s->pid = s->proc.pid;
	s->started_at = uv_now(s->loop);
	log_info("sync process %d started (feed %s, every %d s; subscribers %s, every %d s)",
	         s->pid, s->srv->cfg->cfg.sync_url[0] ? s->srv->cfg->cfg.sync_url : "none",
	         s->srv->cfg->cfg.sync_interval_s,
	         s->srv->cfg->cfg.subs_url[0] ? s->srv->cfg->cfg.subs_url : "none",
	         s->srv->cfg->cfg.subs_interval_s);
}

/* Freshness and hang watch, once a second. */
/* A feed that defines new categories (or changes which the child presets leave alone) changes
 * what the config's names and presets mean: bind the config again, as a reload does. */
static void rebind_if_new_categories(struct rs_supervisor *s, const struct bl_meta *m)
{
	if (m->feed_defined == s->bound_defined && m->child_allow == s->bound_child_allow)
		return;
	s->bound_defined = m->feed_defined;
	s->bound_child_allow = m->child_allow;
	if (!s->srv->config_path[0])
		return;
	log_info("the feed's categories changed: binding the configuration to them again");
	rs__server_reload(s->srv);
}

/* A sync process that has not even recorded an attempt for `stuck_after` seconds since
 * `last` is hung: kill it (the exit handler restarts it). */
static void kill_if_hung(struct rs_supervisor *s, uint64_t last, uint64_t stuck_after)
{
	uint64_t now = (uint64_t)time(NULL);

	if (s->running && uv_now(s->loop) - s->started_at > stuck_after * 1000 &&
	    now > (last > s->daemon_started ? last : s->daemon_started) + stuck_after) {
		log_err("sync process %d made no attempt for %llu s: killing it", s->pid,
		        (unsigned long long)stuck_after);
		sup_kill(s, SIGKILL);
		s->started_at = uv_now(s->loop); /* one kill per period */
	}
}

/* Without a feed the process polls only the subscriber table: the hang watch follows its
 * attempts (there is no feed freshness to watch). */
static void watch_subscribers_only(struct rs_supervisor *s)
{
	const struct rs_config *cfg = &s->srv->cfg->cfg;
	struct bl_clients_meta cm;

	if (!cfg->subs_url[0] || !s->running || bl_clients_meta(s->srv->bl, &cm) < 0)
		return;
	kill_if_hung(s, cm.last_attempt,
	             3ULL * (uint64_t)cfg->subs_interval_s + 2ULL * (uint64_t)cfg->sync_timeout_s);
}

static void on_watch(uv_timer_t *t)
{
	struct rs_supervisor *s = t->data;
	const struct rs_config *cfg = &s->srv->cfg->cfg;
	struct bl_meta m;
	uint64_t now = (uint64_t)time(NULL), stuck_after;
	bool stale;

	if (!cfg->sync_url[0]) {
		watch_subscribers_only(s);
		return;
	}
	if (bl_db_meta(s->srv->bl, &m) < 0)
		return;
	rebind_if_new_categories(s, &m);
	cfg = &s->srv->cfg->cfg; /* the rebind may have replaced (and freed) the snapshot */
	stale = rs_feed_stale(cfg, &m, now, s->daemon_started); /* shared with kidguard-ctl */
	if (stale != s->was_stale) {
		if (stale)
			log_err("feed is stale: %s for more than %d s (last error: %s); %s",
			        m.timestamp_ttl ? "no newer signed timestamp"
			                        : "no successful sync",
			        cfg->sync_max_age_s, m.last_error[0] ? m.last_error : "none",
			        cfg->sync_on_stale == RS_STALE_FAIL_CLOSED
			            ? "failing closed: every query of filtering profiles is blocked"
			            : "keeping the last good list (on_stale = keep)");
		else
			log_info("feed is fresh again (version %llu)",
			         (unsigned long long)m.feed_version);
		s->was_stale = stale;
	}
	atomic_store(&s->srv->fail_closed, stale && cfg->sync_on_stale == RS_STALE_FAIL_CLOSED);
	/* A sync process that has not even recorded an attempt for this long is hung. */
	stuck_after = 3ULL * (uint64_t)cfg->sync_interval_s + 2ULL * (uint64_t)cfg->sync_timeout_s;
	kill_if_hung(s, m.last_attempt, stuck_after);
}

/* Our own executable (the sync process is `kidguard --sync-worker`) and the config path. */
static int find_exe(struct rs_supervisor *s)
{
	ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);

	if (n <= 0) {
		s->exe[0] = '\0';
		log_err("cannot find my own executable to start the sync process");
		return -1;
	}
	s->exe[n] = '\0';
	snprintf(s->config, sizeof(s->config), "%s", s->srv->config_path);
	return 0;
}

int rs__supervisor_start(struct rs_server *srv, uv_loop_t *loop)
{
	struct rs_supervisor *s = &srv->sup;
	struct bl_meta m;

	s->srv = srv;
	s->loop = loop;
	s->backoff_ms = BACKOFF_MIN_MS;
	s->daemon_started = (uint64_t)time(NULL);
	if (bl_db_meta(srv->bl, &m) == 0) { /* what rs_server_new bound the config to */
		s->bound_defined = m.feed_defined;
		s->bound_child_allow = m.child_allow;
	}
	uv_timer_init(loop, &s->restart);
	uv_timer_init(loop, &s->watch);
	s->restart.data = s->watch.data = s;
	uv_timer_start(&s->watch, on_watch, 1000, 1000);
	if (s->has_launcher && uv_poll_init(loop, &s->lpoll, s->launcher_fd) == 0) {
		s->lpoll.data = s;
		s->lpoll_open = true;
		uv_poll_start(&s->lpoll, UV_READABLE | UV_DISCONNECT, on_launcher);
	}
	if (!srv->cfg->cfg.sync_url[0] && !srv->cfg->cfg.subs_url[0])
		return 0;
	if (!srv->config_path[0]) {
		log_err("[sync] and [subscribers] need the daemon to run with -c CONFIG");
		return 0;
	}
	if (find_exe(s) < 0)
		return 0;
	spawn(s);
	return 0;
}

/* The sync process reads the config file itself (-c) when it starts, so a new [sync] is
 * applied by stopping it and starting it again: at once when it is running (on_child_exit),
 * now when it is waiting out a back-off, and not at all once [sync] url is gone. */
void rs__supervisor_config_changed(struct rs_server *srv)
{
	struct rs_supervisor *s = &srv->sup;
	const struct rs_config *cfg = &srv->cfg->cfg;

	if (!s->loop || s->stopping)
		return;
	if (!srv->config_path[0] || (!s->exe[0] && find_exe(s) < 0))
		return;
	if (s->running) {
		log_info("reload: [sync] changed: restarting the sync process %d", s->pid);
		s->respawn = true;
		sup_kill(s, SIGTERM);
		return;
	}
	uv_timer_stop(&s->restart);
	if (cfg->sync_url[0] || cfg->subs_url[0]) {
		log_info("reload: [sync] changed: starting the sync process");
		spawn(s);
	}
}

void rs__supervisor_stop(struct rs_server *srv)
{
	struct rs_supervisor *s = &srv->sup;

	if (!s->loop)
		return;
	s->stopping = true;
	if (s->running)
		sup_kill(s, SIGTERM); /* on_child_exit closes the handle */
	uv_close((uv_handle_t *)&s->restart, NULL);
	uv_close((uv_handle_t *)&s->watch, NULL);
	if (s->lpoll_open) /* the launcher stops its child and exits at EOF */
		uv_close((uv_handle_t *)&s->lpoll, NULL);
}

/* SIGUSR1 to the daemon is passed on: `kidguard-ctl sync now`. */
void rs__supervisor_poke(struct rs_server *srv)
{
	if (srv->sup.running)
		sup_kill(&srv->sup, SIGUSR1);
}
