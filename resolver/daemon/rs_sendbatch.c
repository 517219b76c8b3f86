/*
 * UDP answers leave in batches: while a worker handles a recvmmsg burst from one listener,
 * the answers it can give at once (cache hits, blocks, errors) are queued here and leave in
 * one sendmmsg(2) at the end of the burst, instead of one sendmsg each. On loopback benchmarks
 * the system calls, not the DNS work, are most of the cost of a cached answer.
 *
 * A uv_check handle flushes after every loop iteration too, so an answer never waits for
 * more than the current iteration whatever libuv's callback order.
 */
#include "rs_daemon_int.h"

#include <string.h>
#include <sys/socket.h>

void rs__batch_begin(struct rs_worker *w, uv_udp_t *udp)
{
	if (w->batch.udp != udp)
		rs__batch_flush(w);
	w->batch.udp = udp;
}

bool rs__batch_add(struct rs_worker *w, uv_udp_t *udp, const uint8_t *msg, size_t len,
                   const struct kg_sockaddr *to)
{
	struct rs_sendbatch *b = &w->batch;
	int i;

	if (b->udp != udp || len > RS_BATCH_MSG)
		return false;
	if (b->n == RS_MMSG_SLOTS)
		rs__batch_flush(w);
	b->udp = udp;
	i = b->n++;
	memcpy(b->bufs[i], msg, len);
	memcpy(&b->addrs[i], &to->ss, to->len);
	b->iov[i].iov_base = b->bufs[i];
	b->iov[i].iov_len = len;
	memset(&b->msgs[i], 0, sizeof(b->msgs[i]));
	b->msgs[i].msg_hdr.msg_name = &b->addrs[i];
	b->msgs[i].msg_hdr.msg_namelen = to->len;
	b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
	b->msgs[i].msg_hdr.msg_iovlen = 1;
	return true;
}

void rs__batch_flush(struct rs_worker *w)
{
	struct rs_sendbatch *b = &w->batch;
	uv_os_fd_t fd;
	int sent = 0, rc;

	if (b->n == 0 || uv_fileno((uv_handle_t *)b->udp, &fd) != 0) {
		b->n = 0;
		return;
	}
	while (sent < b->n) {
		rc = sendmmsg(fd, b->msgs + sent, (unsigned)(b->n - sent), MSG_DONTWAIT);
		if (rc <= 0) {
			/* Socket buffer full: dropped, as the network would; clients retry. */
			RS_ADD(w, dropped, (uint64_t)(b->n - sent));
			break;
		}
		sent += rc;
	}
	b->n = 0;
}

static void on_check(uv_check_t *c)
{
	rs__batch_flush(c->data);
}

void rs__batch_init(struct rs_worker *w)
{
	uv_check_init(&w->loop, &w->batch_check);
	w->batch_check.data = w;
	uv_check_start(&w->batch_check, on_check);
}

void rs__batch_stop(struct rs_worker *w)
{
	rs__batch_flush(w);
	w->batch.udp = NULL;
	uv_close((uv_handle_t *)&w->batch_check, NULL);
}
