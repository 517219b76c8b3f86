/*
 * The sync process: a plain loop, no event library. The signals we care about are blocked and
 * taken with sigtimedwait(), so the wait between polls is the only place they are acted on and
 * no handler runs in the middle of a transfer or a transaction; a long transfer or apply looks
 * at sigpending() instead and stops without committing.
 */
#include "sy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

bool sy__stop_requested(void)
{
	sigset_t p;

	return sigpending(&p) == 0 &&
	       (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

static int write_pid(const char *dir)
{
	char path[600], tmp[610], buf[32];
	int fd, n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (snprintf(path, sizeof(path), "%s/sync.pid", dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/* The wait before the next poll: the interval ±10%, in milliseconds. */
static long next_wait_ms(int interval_s)
{
	long base = (interval_s > 0 ? interval_s : 60) * 1000L, span = base / 5;
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	return base - span / 2 + (span > 0 ? (long)(r % (uint32_t)(span + 1)) : 0);
}

/* Wait up to `ms`. Returns 2 to poll every channel now (SIGUSR1), 1 to poll what is due, 0 to
 * stop. */
static int wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int sig = sigtimedwait(set, NULL, &ts);

	if (sig == SIGTERM || sig == SIGINT)
		return 0;
	return sig == SIGUSR1 ? 2 : 1; /* timeout or EINTR: what is due */
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *channel_name(const struct sy_options *o)
{
	return o->channel == SY_CHANNEL_SUBSCRIBERS ? "subscribers" : "feed";
}

/* Poll the channels that are due (all with `all`); returns 0, or SY_ESTOP to stop. */
static int poll_due(struct sy_ctx **ctx, const struct sy_options *o, uint64_t *next, int n,
                    bool all)
{
	for (int i = 0; i < n; i++) {
		if (!all && now_ms() < next[i])
			continue;
		if (sy_poll_once(ctx[i]) == SY_ESTOP)
			return SY_ESTOP;
		next[i] = now_ms() + (uint64_t)next_wait_ms(o[i].interval_s);
	}
	return 0;
}

static void free_all(struct sy_ctx **ctx, int n)
{
	for (int i = n - 1; i >= 0; i--) /* the first owns the store the others borrow */
		sy_ctx_free(ctx[i]);
	curl_global_cleanup();
}

int sy_run_channels(const struct sy_options *o, int n)
{
	struct sy_ctx *ctx[2] = {NULL, NULL};
	uint64_t next[2] = {0, 0};
	sigset_t set;
	int rc, how = 2;

	if (n < 1 || n > 2)
		return -EINVAL;
	kg_log_set_tag("kidguard-sync");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if ((rc = sy__ctx_new_db(&o[i], i ? ctx[0]->db : NULL, &ctx[i])) != 0) {
			log_err("sync: cannot start the %s channel: %s", channel_name(&o[i]),
			        kg_strerror(rc));
			free_all(ctx, n);
			return rc;
		}
		log_info("sync: polling the %s at %s every %d s", channel_name(&o[i]), o[i].url,
		         o[i].interval_s);
	}
	if ((rc = write_pid(o[0].state_dir)) != 0)
		log_warn("sync: cannot write %s/sync.pid: %s", o[0].state_dir, kg_strerror(rc));
	while (how) {
		uint64_t wake = UINT64_MAX, t;
		if (poll_due(ctx, o, next, n, how == 2) == SY_ESTOP)
			break;
		for (int i = 0; i < n; i++)
			wake = next[i] < wake ? next[i] : wake;
		t = now_ms();
		how = wait_signal(&set, wake > t ? (long)(wake - t) : 0);
	}
	for (int i = 0; i < n; i++)
		log_info("sync: stopping the %s at version %llu", channel_name(&o[i]),
		         (unsigned long long)sy_ctx_version(ctx[i]));
	free_all(ctx, n);
	return 0;
}

int sy_run(const struct sy_options *o)
{
	return sy_run_channels(o, 1);
}
