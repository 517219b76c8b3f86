/*
 * The bounded rings behind the dashboard: recent blocked names and the optional query log
 * (written by the workers), and the per-minute history (written by the sampler thread).
 *
 * Why a mutex per worker ring and not a seqlock: a seqlock's reader copies the slot while the
 * writer may be storing into it, which is a data race in C11 (and TSan says so) unless every
 * byte is copied with atomics. The mutex is taken once per blocked answer (and per answer with
 * the query log on), is never contended by other workers (each has its own), and the HTTP
 * thread holds it only for a memcpy of the ring. An uncontended lock/unlock costs about as
 * much as the two atomic increments the counters already make.
 */
#include "rs_http_int.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kg_log.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int rs__events_init(struct rs_http *h, const struct rs_config *cfg)
{
	int n = rs_server_n_workers(h->srv);

	h->rings = calloc((size_t)n, sizeof(*h->rings));
	if (!h->rings)
		return RS_ENOMEM;
	for (int k = 0; k < n; k++) {
		struct rs_ev_ring *r = &h->rings[k];
		pthread_mutex_init(&r->lock, NULL);
		if (!cfg->query_log)
			continue;
		r->qlog_cap = (uint32_t)((cfg->query_log_size + n - 1) / n);
		r->qlog = calloc(r->qlog_cap, sizeof(*r->qlog));
		if (!r->qlog)
			return RS_ENOMEM;
	}
	return 0;
}

void rs__events_fini(struct rs_http *h)
{
	for (int k = 0; h->rings && k < rs_server_n_workers(h->srv); k++) {
		pthread_mutex_destroy(&h->rings[k].lock);
		free(h->rings[k].qlog);
	}
	free(h->rings);
	h->rings = NULL;
}

/* Keep /24 of IPv4 and /56 of IPv6 unless the operator asked for full addresses. */
static void keep_addr(const struct sockaddr *sa, bool full, struct rs_ev_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		if (!full)
			out->addr[3] = 0;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {
			out->family = AF_INET;
			memcpy(out->addr, a + 12, 4);
			if (!full)
				out->addr[3] = 0;
			return;
		}
		out->family = AF_INET6;
		memcpy(out->addr, a, full ? 16 : 7);
	}
}

void rs__ev_addr_str(const struct rs_ev_addr *a, bool full, char *buf, size_t len)
{
	char t[INET6_ADDRSTRLEN];

	if (!a->family || !inet_ntop(a->family, a->addr, t, sizeof(t))) {
		snprintf(buf, len, "-");
		return;
	}
	if (full)
		snprintf(buf, len, "%s", t);
	else
		snprintf(buf, len, "%s/%d", t, a->family == AF_INET ? 24 : 56);
}

void rs__wire_to_text(const uint8_t *wire, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len && wire[i] && o + 1 < outlen) {
		size_t l = wire[i++];
		if (o)
			out[o++] = '.';
		for (size_t j = 0; j < l && i < len && o + 1 < outlen; j++, i++) {
			uint8_t c = wire[i];
			/* names are shown in a browser: keep them printable and unambiguous */
			out[o++] = (c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '<' &&
			            c != '>' && c != '&' && c != '\'')
			               ? (char)c
			               : '?';
		}
	}
	if (o == 0 && outlen > 1)
		out[o++] = '.';
	out[o < outlen ? o : outlen - 1] = '\0';
}

static int by_last_seen(const void *a, const void *b)
{
	uint64_t x = ((const struct rs_ev_seen *)a)->last_seen;
	uint64_t y = ((const struct rs_ev_seen *)b)->last_seen;

	return x < y ? 1 : x > y ? -1 : 0;
}

void rs__event_blocked(struct rs_http *h, int worker, const struct rs_config *cfg,
                       const struct rs_question *q, const struct bl_verdict *v,
                       const struct rs_profile *prof)
{
	struct rs_ev_ring *r;
	struct rs_ev_blocked *e;

	if (!h)
		return;
	r = &h->rings[worker];
	r->block_pending = true;
	pthread_mutex_lock(&r->lock);
	e = &r->blocked[r->n_blocked % RS_EV_RING];
	e->t_ms = now_ms();
	e->categories = v->categories & prof->block_mask;
	if (!e->categories)
		e->categories = v->categories;
	e->feed_version = v->feed_version;
	e->qtype = q->qtype;
	e->source = (uint8_t)v->source;
	snprintf(e->profile, sizeof(e->profile), "%s", prof->name);
	e->qname_len = q->qname_len;
	memcpy(e->qname, q->qname, q->qname_len);
	/* The client is kept only when the operator turned the query log on. */
	memset(&e->client, 0, sizeof(e->client));
	r->n_blocked++;
	pthread_mutex_unlock(&r->lock);
	(void)cfg;
}

void rs__event_answer(struct rs_http *h, int worker, const struct rs_config *cfg,
                      const struct rs_question *q, const struct sockaddr *peer, bool stream,
                      const char *profile, const uint8_t *msg, size_t len)
{
	struct rs_ev_ring *r;
	struct rs_ev_query *e;
	bool blocked;

	if (!h)
		return;
	r = &h->rings[worker];
	blocked = r->block_pending;
	r->block_pending = false;
	/* A reload can turn the log off at once; turning it on needs a restart (the ring is
	 * allocated at start). */
	if (!r->qlog || !cfg->query_log || len < 4)
		return;
	pthread_mutex_lock(&r->lock);
	e = &r->qlog[r->n_qlog % r->qlog_cap];
	e->t_ms = now_ms();
	e->qtype = q->qtype;
	e->rcode = msg[3] & 0xf;
	e->blocked = blocked;
	e->tcp = stream;
	snprintf(e->profile, sizeof(e->profile), "%s", profile ? profile : "");
	e->qname_len = q->qname_len;
	memcpy(e->qname, q->qname, q->qname_len);
	keep_addr(peer, cfg->query_log_full_addresses, &e->client);
	r->n_qlog++;
	if (blocked) {
		/* The blocked event of this answer gets the (truncated) client too. */
		struct rs_ev_blocked *b = &r->blocked[(r->n_blocked - 1) % RS_EV_RING];
		b->client = e->client;
	}
	pthread_mutex_unlock(&r->lock);
}

/* Once a second on the sampler thread: close the minute when it has passed. */
void rs__history_sample(struct rs_http *h)
{
	uint64_t now = (uint64_t)time(NULL), minute = now - now % 60;
	struct rs_stats s;

	rs_server_stats(h->srv, &s);
	pthread_mutex_lock(&h->hist_lock);
	if (h->last_t == 0) {
		/* The first minute counts from the daemon's start (all counters zero), not from
		 * this first sample: queries answered before it (the first second) belong in it. */
		memset(&h->last, 0, sizeof(h->last));
		h->last_t = minute;
	}
	while (h->last_t < minute) {
		struct rs_hist_point *p = &h->hist[h->n_hist % RS_HIST_SLOTS];
		/* Minutes the sampler missed (a suspended machine) are recorded as empty. */
		p->t = h->last_t;
		p->queries = 0;
		for (int t = 0; t < RS_TRANSPORT_MAX; t++)
			p->queries += s.queries[t] - h->last.queries[t];
		p->blocked = s.blocked - h->last.blocked;
		p->cache_hits = s.cache_hits - h->last.cache_hits;
		p->servfail = s.rcode[RS_RCODE_SERVFAIL] - h->last.rcode[RS_RCODE_SERVFAIL];
		p->upstream_queries = s.upstream_queries - h->last.upstream_queries;
		p->upstream_failures = s.upstream_timeouts + s.upstream_errors -
		                       h->last.upstream_timeouts - h->last.upstream_errors;
		h->last = s;
		h->n_hist++;
		h->last_t += 60;
		if (minute - h->last_t > 86400)
			h->last_t = minute - 86400; /* no more than a day of empty minutes */
	}
	pthread_mutex_unlock(&h->hist_lock);
}

/* The address as kept for the seen table: the whole address (the parent picks a device). */
static void seen_addr(const struct sockaddr *sa, struct rs_ev_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		a->family = AF_INET;
		memcpy(a->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		/* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: keep them as IPv4 */
		bool v4 = memcmp(v6, mapped, 12) == 0;
		a->family = v4 ? AF_INET : AF_INET6;
		memcpy(a->addr, v4 ? v6 + 12 : v6, v4 ? 4 : 16);
	}
}

/* FNV-1a over the lowercased wire name: only compared, never shown. */
static uint32_t name_hash(const uint8_t *wire, size_t len)
{
	uint32_t x = 2166136261u;

	for (size_t i = 0; i < len; i++)
		x = (x ^ wire[i]) * 16777619u;
	return x;
}

static bool same_seen(const struct rs_ev_seen *s, const struct rs_ev_addr *a,
                      const struct rs_ev_addr *sub, const uint8_t *mac)
{
	/* behind a router that names MACs or addresses, one address holds many devices */
	return s->addr.family && memcmp(&s->addr, a, sizeof(*a)) == 0 &&
	       memcmp(&s->subnet, sub, sizeof(*sub)) == 0 && s->has_mac == !!mac &&
	       (!mac || memcmp(s->mac, mac, 6) == 0);
}

void rs__event_seen(struct rs_http *h, int worker, const struct sockaddr *peer, const uint8_t *mac,
                    const struct sockaddr *subnet, const struct rs_question *q, const char *profile)
{
	struct rs_ev_ring *r;
	struct rs_ev_seen *e = NULL, *oldest = NULL;
	struct rs_ev_addr a, sub = {0};
	uint64_t now = (uint64_t)time(NULL);
	uint32_t nh = name_hash(q->qname, q->qname_len);

	if (!h || !peer)
		return;
	seen_addr(peer, &a);
	if (subnet)
		seen_addr(subnet, &sub);
	if (!a.family)
		return;
	r = &h->rings[worker];
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < RS_SEEN_MAX && !e; i++) {
		struct rs_ev_seen *s = &r->seen[i];
		if (same_seen(s, &a, &sub, mac))
			e = s;
		else if (!oldest || s->last_seen < oldest->last_seen)
			oldest = s;
	}
	if (!e) {
		e = oldest;
		memset(e, 0, sizeof(*e));
		e->addr = a;
		e->subnet = sub;
		e->has_mac = mac != NULL;
		if (mac)
			memcpy(e->mac, mac, 6);
	}
	snprintf(e->profile, sizeof(e->profile), "%s", profile);
	e->last_seen = now;
	e->queries++;
	/* A browser asks A, AAAA and HTTPS for one name: keep it once. */
	if (!e->n_names || e->names[(e->n_names - 1) % RS_SEEN_NAMES] != nh)
		e->names[e->n_names++ % RS_SEEN_NAMES] = nh;
	pthread_mutex_unlock(&r->lock);
}

static bool asked(const struct rs_ev_seen *s, uint32_t nh)
{
	for (uint32_t i = 0; i < RS_SEEN_NAMES && i < s->n_names; i++)
		if (s->names[i] == nh)
			return true;
	return false;
}

static void to_sockaddr(const struct rs_ev_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->addr, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->addr, 16);
	}
}

/* How well seen entry `s` stands for the browser at `me` asking name `nh`: 3 a forwarder
 * named this address (ECS) in the last RS_SEEN_LINK_S seconds, 2 the browser asks us itself,
 * 1 a forwarder named a MAC that asked this name in that time, 0 not at all. */
static int link_rank(const struct rs_ev_seen *s, const struct rs_ev_addr *me, uint32_t nh,
                     uint64_t now)
{
	bool fresh = s->last_seen + RS_SEEN_LINK_S >= now;

	if (!s->addr.family)
		return 0;
	/* an address the router named minutes ago may be another device's by now (DHCP) */
	if (s->subnet.family && fresh && memcmp(&s->subnet, me, sizeof(*me)) == 0)
		return 3;
	if (!s->subnet.family && !s->has_mac && memcmp(&s->addr, me, sizeof(*me)) == 0)
		return 2;
	if (s->has_mac && !s->subnet.family && fresh && asked(s, nh))
		return 1;
	return 0;
}

void rs__seen_client(struct rs_http *h, const struct sockaddr *client, const char *name,
                     struct rs_client *cl, struct sockaddr_storage *fwd,
                     struct sockaddr_storage *subnet, uint8_t mac[6])
{
	struct rs_ev_seen best = {0};
	struct rs_ev_addr me;
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire)), rank = 0;
	uint32_t nh = n > 0 ? name_hash(wire, (size_t)n) : 0;
	uint64_t now = (uint64_t)time(NULL);

	memset(cl, 0, sizeof(*cl));
	cl->addr = client;
	if (!client || n <= 0)
		return;
	seen_addr(client, &me);
	for (int k = 0; k < rs_server_n_workers(h->srv); k++) {
		pthread_mutex_lock(&h->rings[k].lock);
		for (int i = 0; i < RS_SEEN_MAX; i++) {
			const struct rs_ev_seen *s = &h->rings[k].seen[i];
			int r = link_rank(s, &me, nh, now);
			if (r > rank || (r && r == rank && s->last_seen > best.last_seen)) {
				best = *s;
				rank = r;
			}
		}
		pthread_mutex_unlock(&h->rings[k].lock);
	}
	if (rank == 0 || rank == 2)
		return; /* as it asks us: by its own address */
	to_sockaddr(&best.addr, fwd);
	cl->addr = (const struct sockaddr *)fwd;
	if (best.has_mac) {
		memcpy(mac, best.mac, 6);
		cl->mac = mac;
	}
	if (best.subnet.family) {
		to_sockaddr(&best.subnet, subnet);
		cl->subnet = (const struct sockaddr *)subnet;
	}
}

void rs__api_devices_seen(struct rs_req *q, struct rs_resp *r)
{
	struct rs_http *h = q->h;
	int nw = rs_server_n_workers(h->srv);
	struct rs_ev_seen *all;
	cJSON *root, *arr;
	char buf[INET6_ADDRSTRLEN], mac[24];
	int n = 0;

	if (rs__http_authorize(q, r) != 0)
		return; /* addresses and MACs of the household: the operator's only */
	all = calloc((size_t)nw * RS_SEEN_MAX, sizeof(*all));
	if (!all) {
		rs__api_error(q, r, 500, "error.memory", NULL);
		return;
	}
	for (int k = 0; k < nw; k++) {
		pthread_mutex_lock(&h->rings[k].lock);
		for (int i = 0; i < RS_SEEN_MAX; i++)
			if (h->rings[k].seen[i].addr.family)
				all[n++] = h->rings[k].seen[i];
		pthread_mutex_unlock(&h->rings[k].lock);
	}
	if (n > 1)
		qsort(all, (size_t)n, sizeof(*all), by_last_seen);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "devices");
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		inet_ntop(all[i].addr.family, all[i].addr.addr, buf, sizeof(buf));
		/* the device's address: the one a trusted forwarder named (ECS), else the peer */
		if (all[i].subnet.family) {
			inet_ntop(all[i].subnet.family, all[i].subnet.addr, buf, sizeof(buf));
			cJSON_AddStringToObject(o, "address", buf);
			inet_ntop(all[i].addr.family, all[i].addr.addr, buf, sizeof(buf));
			cJSON_AddStringToObject(o, "forwarder", buf);
		} else {
			cJSON_AddStringToObject(o, "address", buf);
		}
		if (all[i].has_mac) {
			const uint8_t *m = all[i].mac;
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
			         m[2], m[3], m[4], m[5]);
			cJSON_AddStringToObject(o, "mac", mac);
		}
		cJSON_AddStringToObject(o, "profile", all[i].profile);
		cJSON_AddNumberToObject(o, "last_seen", (double)all[i].last_seen);
		cJSON_AddNumberToObject(o, "queries", (double)all[i].queries);
		cJSON_AddItemToArray(arr, o);
	}
	free(all);
	rs__json_resp(r, 200, root);
}
