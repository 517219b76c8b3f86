/*
 * One worker: a thread with its own libuv loop, its own SO_REUSEPORT sockets on every listen
 * address, its own cache and upstream health. Workers share nothing on the query path; the
 * kernel spreads packets and connections across them.
 *
 * The query path itself is in rs_query.c.
 */
#include "rs_srv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kg_log.h"

uint32_t rs__random32(struct rs_worker *w)
{
	uint32_t v;

	/* IDs and the upstream choice come from the kernel's CSPRNG, in batches. */
	if (w->rand_pos + sizeof(v) > sizeof(w->rand_buf)) {
		ssize_t n = getrandom(w->rand_buf, sizeof(w->rand_buf), 0);
		if (n != (ssize_t)sizeof(w->rand_buf))
			abort(); /* never fall back to predictable IDs */
		w->rand_pos = 0;
	}
	memcpy(&v, w->rand_buf + w->rand_pos, sizeof(v));
	w->rand_pos += sizeof(v);
	return v;
}

/* Listeners read with recvmmsg: libuv cuts this buffer into 64 KiB slots, one datagram each,
 * so one system call can bring in a whole burst. */
static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rs_worker *w = h->loop->data;

	buf->base = (char *)w->mmsg_buf;
	buf->len = RS_MMSG_BUF;
}

static void udp_on_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
	struct rs_worker *w = h->loop->data;

	/* nread 0 with no address: "nothing more" or the end of a recvmmsg batch. */
	if (nread <= 0 || !addr) {
		rs__batch_flush(w);
		return;
	}
	if (flags & UV_UDP_PARTIAL)
		return;
	rs__batch_begin(w, h);
	rs__udp_datagram(w, (const uint8_t *)buf->base, (size_t)nread, h, addr);
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
	if (r->cfg.n_upstream != old->cfg.n_upstream ||
	    memcmp(r->cfg.upstream, old->cfg.upstream, sizeof(r->cfg.upstream)) != 0)
		memset(w->health, 0, sizeof(w->health));
	w->max_conns = (r->cfg.tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	rs__cfg_unref(old);
}

static void begin_stop(struct rs_worker *w)
{
	w->stopping = true;
	rs__batch_stop(w);
	for (int i = 0; i < w->n_listen; i++) {
		uv_close((uv_handle_t *)&w->udp[i], NULL);
		uv_close((uv_handle_t *)&w->tcp[i], NULL);
	}
	rs__forward_drop_all(w); /* in-flight questions are dropped, clients retry elsewhere */
	rs__tcp_close_all(w);
	rs__tls_worker_stop(w);
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

static int open_listeners(struct rs_worker *w)
{
	int rc;

	for (int i = 0; i < w->n_listen; i++) {
		uv_udp_init_ex(&w->loop, &w->udp[i], AF_UNSPEC | UV_UDP_RECVMMSG);
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
			rc = uv_udp_recv_start(&w->udp[i], udp_alloc, udp_on_read);
		if (!rc)
			rc = uv_listen((uv_stream_t *)&w->tcp[i], 1024, rs__tcp_on_connection);
		if (rc) {
			log_err("worker %d: listener %d: %s", w->index, i, uv_strerror(rc));
			return RS_EIO;
		}
	}
	return 0;
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
	w->rand_pos = sizeof(w->rand_buf);
	rc = rs_ratelimit_new(65536, ((uint64_t)rs__random32(w) << 32) | rs__random32(w), &w->rl);
	if (rc)
		return rc;
	w->mmsg_buf = malloc(RS_MMSG_BUF);
	if (!w->mmsg_buf)
		return RS_ENOMEM;
	if (w->srv->bl && (rc = bl_reader_open(w->srv->bl, &w->bl)) < 0) {
		log_err("worker %d: blocklist reader: %s", w->index, bl_strerror(rc));
		return RS_EIO;
	}
	if (uv_loop_init(&w->loop) < 0)
		return RS_EIO;
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	rs__batch_init(w);
	w->wakeup.data = w;
	rc = open_listeners(w);
	return rc ? rc : rs__tls_worker_init(w);
}

void rs__worker_run(void *arg)
{
	struct rs_worker *w = arg;

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
	rs__tls_worker_fini(w);
	rs_cache_free(w->cache);
	w->cache = NULL;
	rs_ratelimit_free(w->rl);
	w->rl = NULL;
	bl_reader_close(w->bl);
	w->bl = NULL;
	free(w->mmsg_buf);
	w->mmsg_buf = NULL;
	if (w->cfg)
		rs__cfg_unref(w->cfg);
	w->cfg = NULL;
	if (atomic_load(&w->next_cfg))
		rs__cfg_unref(atomic_exchange(&w->next_cfg, NULL));
}
