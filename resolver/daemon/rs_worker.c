/*
 * One worker: a thread with its own libuv loop, its own SO_REUSEPORT sockets on every listen
 * address, its own cache and upstream health. Workers share nothing on the query path; the
 * kernel spreads packets and connections across them.
 *
 * The query path itself is in rs_query.c.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kg_err.h"
#include "kg_log.h"

uint32_t rs__random32(struct rs_worker *w)
{
	uint32_t v;

	/* IDs and the upstream choice come from the kernel's CSPRNG, in batches. */
	if (w->rand_pos + sizeof(v) > sizeof(w->rand_buf)) {
		ssize_t n = getrandom(w->rand_buf, sizeof(w->rand_buf), 0);
		/* Never fall back to predictable IDs; up to 256 bytes the kernel never returns
		 * short once its pool is ready. */
		KG_REQUIRE(n == (ssize_t)sizeof(w->rand_buf));
		w->rand_pos = 0;
	}
	memcpy(&v, w->rand_buf + w->rand_pos, sizeof(v));
	w->rand_pos += sizeof(v);
	return v;
}

/*
 * Listeners are read by our own recvmmsg loop on a uv_poll_t; the uv_udp_t keeps the socket
 * for sending. libuv's own reader ends every wakeup with one more recvmmsg that returns EAGAIN
 * and flushes answers after each call: with several workers sharing the cores, wakeups bring
 * few datagrams and those extra system calls were most of the extra CPU per query
 * (docs/scaling.md). Here a call that returns fewer datagrams than there are slots ends the
 * wakeup (the socket is level-triggered: anything left wakes us again), and the answers of
 * the whole wakeup leave in one sendmmsg.
 */
static int rx_round(struct rs_worker *w, uv_udp_t *h, int fd)
{
	struct rs_recvbatch *rx = w->rx;
	int n;

	for (int i = 0; i < RS_MMSG_SLOTS; i++) {
		rx->msgs[i].msg_hdr.msg_namelen = sizeof(rx->addrs[i]);
		rx->msgs[i].msg_hdr.msg_flags = 0;
	}
	do
		n = recvmmsg(fd, rx->msgs, RS_MMSG_SLOTS, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	rs__batch_begin(w, h);
	for (int i = 0; i < n; i++) {
		if (rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			RS_INC(w, dropped); /* over RS_RX_MSG: no DNS query is that large */
			continue;
		}
		rs__udp_datagram(w, rx->bufs[i], rx->msgs[i].msg_len, h,
		                 (const struct sockaddr *)&rx->addrs[i]);
	}
	return n;
}

/*
 * Receive coalescing, as a network card's interrupt moderation does it: a worker that wakes
 * for a few datagrams at a time spends more on waking (epoll_wait, recvmmsg, sendmmsg, two
 * context switches) than on answering, which is what made two workers on two shared cores
 * cost 1.3x the CPU per query of one (docs/scaling.md). When a wakeup brought less than half
 * a batch while datagrams arrive faster than RS_COALESCE_QPS (measured over the last few
 * milliseconds), the worker sleeps [server] udp_coalesce microseconds before it polls again,
 * so the next recvmmsg finds a fuller queue. Slower traffic never waits, so a lightly loaded
 * server adds no latency.
 */
static void maybe_coalesce(struct rs_worker *w, int got)
{
	uint64_t now = uv_hrtime(), span = now - w->rx_window_start;
	uint32_t us = (uint32_t)w->cfg->cfg.udp_coalesce_us;
	struct timespec ts;

	/* The arrival rate over windows of at least RS_COALESCE_WINDOW_NS: one wakeup's gap is
	 * too spiky (two datagrams 30 us apart look like 66k/s). */
	w->rx_window_n += (uint64_t)(got > 0 ? got : 0);
	if (span >= RS_COALESCE_WINDOW_NS) {
		w->rx_busy = w->rx_window_n * 1000000000u / span >= RS_COALESCE_QPS;
		w->rx_window_start = now;
		w->rx_window_n = 0;
	}
	if (!us || !w->rx_busy || got <= 0 || got >= RS_MMSG_SLOTS / 2)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL);
	RS_INC(w, rx_coalesced);
}

static void udp_on_readable(uv_poll_t *p, int status, int events)
{
	struct rs_worker *w = p->loop->data;
	uv_udp_t *h = p->data;
	uv_os_fd_t fd;
	int got = 0, n;

	(void)events;
	if (status < 0 || uv_fileno((uv_handle_t *)h, &fd) != 0)
		return;
	for (int round = 0; round < RS_RX_ROUNDS; round++) {
		got += (n = rx_round(w, h, fd));
		if (n < RS_MMSG_SLOTS)
			break;
	}
	rs__batch_flush(w);
	maybe_coalesce(w, got);
}

static int rx_alloc(struct rs_worker *w)
{
	struct rs_recvbatch *rx = calloc(1, sizeof(*rx));

	if (!rx)
		return RS_ENOMEM;
	for (int i = 0; i < RS_MMSG_SLOTS; i++) {
		rx->iov[i].iov_base = rx->bufs[i];
		rx->iov[i].iov_len = RS_RX_MSG;
		rx->msgs[i].msg_hdr.msg_name = &rx->addrs[i];
		rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	w->rx = rx;
	return 0;
}

/* A new [cache] verdict_entries: a new table (no other thread sees it); on failure the cache
 * stays off. The counters go on from the old table's: /metrics counters never go back. */
static void resize_vcache(struct rs_worker *w, uint32_t entries)
{
	struct rs_vcache *vc = NULL;
	struct rs_vcache_stats st;

	if (w->vcache) {
		rs_vcache_stats(w->vcache, &st);
		w->vc_hits0 += st.hits;
		w->vc_misses0 += st.misses;
	}
	if (rs_vcache_new(entries, &vc) < 0)
		log_warn("worker %d: no memory for %u verdict cache entries; cache off", w->index,
		         entries);
	rs_vcache_free(w->vcache);
	w->vcache = vc;
}

static void apply_new_config(struct rs_worker *w)
{
	struct rs_cfg_ref *r = atomic_exchange(&w->next_cfg, NULL);
	struct rs_cfg_ref *old = w->cfg;

	if (!r)
		return;
	w->cfg = r;
	rs_cache_set_limit(w->cache, r->cfg.cache_size);
	rs_cache_set_max_bytes(w->cache, (size_t)r->cfg.cache_max_memory_mb << 20);
	if (r->cfg.verdict_entries != old->cfg.verdict_entries)
		resize_vcache(w, r->cfg.verdict_entries);
	if (r->cfg.n_upstream != old->cfg.n_upstream ||
	    memcmp(r->cfg.upstream, old->cfg.upstream, sizeof(r->cfg.upstream)) != 0)
		memset(w->health, 0, sizeof(w->health));
	w->max_conns = (r->cfg.tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	rs_cfg_unref(old);
}

static void begin_stop(struct rs_worker *w)
{
	w->stopping = true;
	rs__batch_stop(w);
	for (int i = 0; i < w->n_listen; i++) {
		uv_close((uv_handle_t *)&w->udp_poll[i], NULL); /* before its socket closes */
		uv_close((uv_handle_t *)&w->udp[i], NULL);
		uv_close((uv_handle_t *)&w->tcp[i], NULL);
	}
	rs__forward_drop_all(w); /* in-flight questions are dropped, clients retry elsewhere */
	rs__tcp_close_all(w);
	rs__tls->worker_stop(w);
	if (w->test_clock)
		uv_close((uv_handle_t *)&w->test_clock_prep, NULL);
	uv_close((uv_handle_t *)&w->wakeup, NULL);
}

static void on_wakeup(uv_async_t *a)
{
	struct rs_worker *w = a->data;

	if (w->stopping)
		return;
	apply_new_config(w);
	if (atomic_load(&w->stop))
		begin_stop(w);
}

static int poll_listener(struct rs_worker *w, int i)
{
	uv_os_fd_t fd;
	int rc = uv_fileno((uv_handle_t *)&w->udp[i], &fd);

	if (!rc)
		rc = uv_poll_init_socket(&w->loop, &w->udp_poll[i], fd);
	if (rc)
		return rc;
	w->udp_poll[i].data = &w->udp[i];
	return uv_poll_start(&w->udp_poll[i], UV_READABLE, udp_on_readable);
}

static int open_listeners(struct rs_worker *w)
{
	int rc;

	for (int i = 0; i < w->n_listen; i++) {
		uv_udp_init(&w->loop, &w->udp[i]);
		uv_tcp_init(&w->loop, &w->tcp[i]);
		w->udp[i].data = w;
		w->tcp[i].data = w;
		rc = uv_udp_open(&w->udp[i], w->srv->fds_udp[w->index][i]);
		if (!rc)
			rc = uv_tcp_open(&w->tcp[i], w->srv->fds_tcp[w->index][i]);
		/* The sockets now belong to the handles. */
		w->srv->fds_udp[w->index][i] = -1;
		w->srv->fds_tcp[w->index][i] = -1;
		if (!rc)
			rc = poll_listener(w, i);
		if (!rc)
			rc = uv_listen((uv_stream_t *)&w->tcp[i], 1024, rs__tcp_on_connection);
		if (rc) {
			log_err("worker %d: listener %d: %s", w->index, i, uv_strerror(rc));
			return RS_EIO;
		}
	}
	return 0;
}

/* Runs before the loop waits: whatever the next wakeup brings (a query sent after the test
 * rewrote the file) sees the file's new value. */
static void on_test_clock_prepare(uv_prepare_t *h)
{
	struct rs_worker *w = h->data;

	w->test_clock_due = true;
}

/* The cache clock under KIDGUARD_TEST_CLOCK: the file's value in ms, read at most once a loop
 * iteration. A missing or garbled file, or a smaller value, keeps the last one: the clock
 * never goes back, so no cached entry is ever younger than its store time. */
uint64_t rs__test_clock_now(struct rs_worker *w)
{
	char buf[32], *end;
	unsigned long long v;
	ssize_t n;
	int fd;

	if (!w->test_clock_due)
		return w->test_clock_ms;
	w->test_clock_due = false;
	fd = open(w->srv->test_clock, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return w->test_clock_ms;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return w->test_clock_ms;
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (!errno && end != buf && (*end == '\0' || *end == '\n') && v > w->test_clock_ms)
		w->test_clock_ms = v;
	return w->test_clock_ms;
}

static void test_clock_init(struct rs_worker *w)
{
	if (!w->srv->test_clock)
		return;
	w->test_clock = true;
	w->test_clock_due = true;
	uv_prepare_init(&w->loop, &w->test_clock_prep);
	w->test_clock_prep.data = w;
	uv_prepare_start(&w->test_clock_prep, on_test_clock_prepare);
}

int rs__worker_init(struct rs_worker *w)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	int rc;

	w->rand_pos = sizeof(w->rand_buf);
	w->max_conns = (cfg->tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	w->n_listen = cfg->n_listen;
	rc = rs_cache_new(cfg->cache_size, &w->cache);
	if (rc)
		return rc;
	rs_cache_set_max_bytes(w->cache, (size_t)cfg->cache_max_memory_mb << 20);
	if ((rc = rs_vcache_new(cfg->verdict_entries, &w->vcache)) < 0)
		return rc;
	w->rand_pos = sizeof(w->rand_buf);
	rc = rs_ratelimit_new(65536, ((uint64_t)rs__random32(w) << 32) | rs__random32(w), &w->rl);
	if (rc)
		return rc;
	if ((rc = rx_alloc(w)) < 0)
		return rc;
	if (w->srv->bl && (rc = bl_reader_open(w->srv->bl, &w->bl)) < 0) {
		log_err("worker %d: blocklist reader: %s", w->index, kg_strerror(rc));
		return RS_EIO;
	}
	if (w->srv->bl && !(w->scratch = rs_profile_scratch_new()))
		return RS_ENOMEM;
	if (uv_loop_init(&w->loop) < 0)
		return RS_EIO;
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	rs__batch_init(w);
	test_clock_init(w);
	w->wakeup.data = w;
	rc = open_listeners(w);
	return rc ? rc : rs__tls->worker_init(w);
}

void rs__worker_run(void *arg)
{
	struct rs_worker *w = arg;

	/* The default 50 us timer slack would stretch udp_coalesce's short sleeps. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void close_any(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void rs__worker_fini(struct rs_worker *w)
{
	if (w->loop.data) {
		/* Anything still open (a failed start) is closed and the loop drained. */
		uv_walk(&w->loop, close_any, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&w->loop) != 0)
			log_warn("worker %d: loop closed with handles still open", w->index);
		w->loop.data = NULL;
	}
	rs__tls->worker_fini(w);
	rs_cache_free(w->cache);
	w->cache = NULL;
	rs_vcache_free(w->vcache);
	w->vcache = NULL;
	rs_ratelimit_free(w->rl);
	w->rl = NULL;
	bl_reader_close(w->bl);
	w->bl = NULL;
	free(w->scratch);
	w->scratch = NULL;
	free(w->rx);
	w->rx = NULL;
	if (w->cfg)
		rs_cfg_unref(w->cfg);
	w->cfg = NULL;
	if (atomic_load(&w->next_cfg))
		rs_cfg_unref(atomic_exchange(&w->next_cfg, NULL));
}
