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

/* Wait up to `ms`. Returns 1 to poll now, 0 to stop. */
static int wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int sig = sigtimedwait(set, NULL, &ts);

	if (sig == SIGTERM || sig == SIGINT)
		return 0;
	return 1; /* timeout, SIGUSR1, or EINTR: poll */
}

int sy_run(const struct sy_options *o)
{
	struct sy_ctx *ctx = NULL;
	sigset_t set;
	int rc;

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
	if ((rc = sy_ctx_new(o, &ctx)) != 0) {
		log_err("sync: cannot start: %s", kg_strerror(rc));
		curl_global_cleanup();
		return rc;
	}
	if ((rc = write_pid(o->state_dir)) != 0)
		log_warn("sync: cannot write %s/sync.pid: %s", o->state_dir, kg_strerror(rc));
	log_info("sync: polling %s every %d s", o->url, o->interval_s);
	do {
		if (sy_poll_once(ctx) == SY_ESTOP)
			break;
	} while (wait_signal(&set, next_wait_ms(o->interval_s)));
	log_info("sync: stopping at version %llu", (unsigned long long)sy_ctx_version(ctx));
	sy_ctx_free(ctx);
	curl_global_cleanup();
	return 0;
}
