/*
 * PROXY protocol v2 on the listeners, for a front such as dnsdist ([server] proxy_from).
 *
 * A trusted frontend MUST send the header (a datagram or connection from it without one is
 * dropped: otherwise every subscriber behind it would get the frontend's profile, and a
 * misconfigured frontend would go unnoticed). Nobody else may send one (dropped / closed:
 * a header is a claim to speak for another address). The address the header names is what
 * the ACL, the profile, the rate limit and the logs see; a UDP answer still goes back to the
 * datagram's source, the frontend. A LOCAL header (the frontend's own health check) keeps the
 * frontend's address.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <string.h>

#include "kg_log.h"

static bool from_frontend(const struct rs_config *cfg, const struct sockaddr *peer)
{
	for (int i = 0; i < cfg->n_proxy_from; i++)
		if (kg_cidr_match(&cfg->proxy_from[i], peer))
			return true;
	return false;
}

static void refused(struct rs_worker *w, const struct sockaddr *peer, const char *why)
{
	char buf[KG_ADDRSTRLEN];

	RS_INC(w, proxy_refused);
	/* Rate limited: whoever sends these can send many. */
	log_every(10, KG_LOG_WARN,
	          "worker %d: %s from %s (dropped; counted in kidguard_proxy_refused_total)",
	          w->index, why, kg_sockaddr_str(peer, buf, sizeof(buf)));
}

void rs__udp_datagram(struct rs_worker *w, const uint8_t *pkt, size_t len, uv_udp_t *udp,
                      const struct sockaddr *peer)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct sockaddr_storage src;
	size_t hl = 0;

	if (!cfg->n_proxy_from || !from_frontend(cfg, peer)) {
		if (len >= RS_PROXY_SIG_LEN && memcmp(pkt, rs_proxy_sig, RS_PROXY_SIG_LEN) == 0) {
			refused(w, peer, "PROXY header from an address not in proxy_from");
			return;
		}
		rs__handle_query(w, pkt, len, udp, peer, NULL, NULL);
		return;
	}
	if (rs_proxy_parse(pkt, len, &src, &hl) != 0) {
		refused(w, peer,
		        "datagram without a valid PROXY v2 header from a proxy_from frontend");
		return;
	}
	rs__handle_query_via(w, pkt + hl, len - hl, udp, peer,
	                     src.ss_family == AF_UNSPEC ? peer : (const struct sockaddr *)&src,
	                     NULL, NULL);
}

int rs__proxy_tcp_state(struct rs_worker *w, const struct sockaddr *peer)
{
	const struct rs_config *cfg = &w->cfg->cfg;

	return cfg->n_proxy_from && from_frontend(cfg, peer) ? RS_PROXY_TCP_EXPECT
	                                                     : RS_PROXY_TCP_FORBID;
}

int rs__proxy_tcp_consume(struct rs_worker *w, uint8_t *buf, size_t *len, struct kg_sockaddr *peer,
                          int *state)
{
	struct sockaddr_storage src;
	size_t hl = 0, n = *len < RS_PROXY_SIG_LEN ? *len : RS_PROXY_SIG_LEN;
	int rc;

	if (*state == RS_PROXY_TCP_FORBID) {
		/* A DNS frame cannot be told from a header before 12 bytes have arrived. */
		if (memcmp(buf, rs_proxy_sig, n) != 0) {
			*state = RS_PROXY_TCP_DONE;
			return 0;
		}
		if (n < RS_PROXY_SIG_LEN)
			return 0;
		refused(w, (const struct sockaddr *)&peer->ss,
		        "PROXY header from an address not in proxy_from");
		return -1;
	}
	if (*state != RS_PROXY_TCP_EXPECT)
		return 0;
	rc = rs_proxy_parse(buf, *len, &src, &hl);
	if (rc == -EAGAIN)
		return 0;
	if (rc != 0) {
		refused(w, (const struct sockaddr *)&peer->ss,
		        "connection without a valid PROXY v2 header from a proxy_from frontend");
		return -1;
	}
	if (src.ss_family != AF_UNSPEC) {
		peer->len = src.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                      : sizeof(struct sockaddr_in);
		memcpy(&peer->ss, &src, peer->len);
	}
	memmove(buf, buf + hl, *len - hl);
	*len -= hl;
	*state = RS_PROXY_TCP_DONE;
	return 0;
}
