/*
 * The sync launcher: how the sync process gets its own user when the daemon starts as root.
 *
 * The daemon drops to [server] user once its sockets are bound, and from then on it cannot
 * start a process as anyone else; yet it restarts the sync process whenever it exits or its
 * [sync] config changes. So, before the drop, it forks this small helper, which keeps root and
 * does exactly one thing on request: start `kidguard --sync-worker -c CONFIG` as [sync] user
 * (with the store's group, so both can write the store), signal it, and report its exit. It
 * holds no socket, no store and no config data; it reads fixed-size messages from one socket
 * pair and exits when the daemon does (EOF, or the parent-death signal). The daemon keeps the
 * policy (back-off, hang watch, SIGHUP restarts) in rs_supervise.c.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kg_log.h"

struct launch {
	int fd, sfd;
	pid_t child;
	uid_t uid;
	gid_t gid;
	const char *exe, *config;
};

int rs__launch_send(int fd, char type, int32_t a, int32_t b)
{
	struct rs_launch_msg m = {.type = type, .a = a, .b = b};
	ssize_t n;

	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(m) ? 0 : -1;
}

/* In the new process: become the sync user for good, then the sync worker. */
static void exec_worker(const struct launch *l, const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	close(l->fd);
	close(l->sfd);
	if (setgroups(1, &l->gid) < 0 || setgid(l->gid) < 0 || setuid(l->uid) < 0 ||
	    setuid(0) == 0) {
		log_err("sync launcher: cannot become uid %u gid %u: %s", (unsigned)l->uid,
		        (unsigned)l->gid, strerror(errno));
		_exit(127);
	}
	execl(l->exe, l->exe, "--sync-worker", "-c", l->config, (char *)NULL);
	log_err("sync launcher: cannot run %s: %s", l->exe, strerror(errno));
	_exit(127);
}

static void start_child(struct launch *l, const sigset_t *old)
{
	pid_t pid;

	if (l->child > 0)
		return; /* one at a time: the daemon waits for the exit report */
	pid = fork();
	if (pid == 0)
		exec_worker(l, old);
	if (pid < 0) {
		rs__launch_send(l->fd, 'E', errno, 0);
		return;
	}
	l->child = pid;
	rs__launch_send(l->fd, 'P', (int32_t)pid, 0);
}

static void reap(struct launch *l)
{
	int st;

	if (l->child <= 0 || waitpid(l->child, &st, WNOHANG) != l->child)
		return;
	l->child = 0;
	rs__launch_send(l->fd, 'X', WIFEXITED(st) ? WEXITSTATUS(st) : 0,
	                WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void stop_child(struct launch *l)
{
	if (l->child > 0) {
		kill(l->child, SIGTERM);
		waitpid(l->child, NULL, 0);
	}
	_exit(0);
}

/* One message from the daemon. */
static void command(struct launch *l, const sigset_t *old)
{
	struct rs_launch_msg m;
	ssize_t n = recv(l->fd, &m, sizeof(m), 0);

	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		stop_child(l); /* the daemon is gone */
	if (n != (ssize_t)sizeof(m))
		return;
	if (m.type == 'S')
		start_child(l, old);
	else if (m.type == 'K' && l->child > 0 &&
	         (m.a == SIGTERM || m.a == SIGKILL || m.a == SIGUSR1))
		kill(l->child, m.a);
}

static void __attribute__((noreturn)) launcher_main(struct launch *l, pid_t parent)
{
	sigset_t set, old;

	kg_log_set_tag("kidguard-sync-launcher");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	if ((l->sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->sfd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
				stop_child(l);
			reap(l);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			command(l, &old);
	}
}

int rs_sync_launcher_start(const char *exe, const char *config, uid_t uid, gid_t gid)
{
	static struct launch l; /* the launcher's only state; the daemon side never touches it */
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		close(sv[0]);
		l = (struct launch){
		    .fd = sv[1], .uid = uid, .gid = gid, .exe = exe, .config = config};
		launcher_main(&l, parent);
	}
	close(sv[1]);
	return sv[0];
}
