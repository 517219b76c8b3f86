/*
 * Delivery of the early-warning signal's daily batch ([signal]; rs_signal_srv.c makes it,
 * docs/http.md "Privacy" says what it holds) to the publisher's signal address: [signal] url,
 * else the signal_url the publisher signed into the feed's manifest (kept in the store's
 * meta by the sync worker, as the report address is).
 *
 * On the sampler thread, never on a query loop: a JSON POST with libcurl (https only, 10 s
 * timeout, no redirects, [sync] ca_file as for reports), retried every RETRY_S seconds up
 * to TRIES times; the next day's batch replaces one still undelivered, so at most one day's
 * batch is ever held.
 */
#include "rs_http_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kg_log.h"

#define RETRY_S 300
#define TRIES   12

static void signal_address(struct rs_http *h, char *buf, size_t len)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	struct bl_meta m;

	if (cr->cfg.signal_url[0])
		snprintf(buf, len, "%s", cr->cfg.signal_url);
	else if (bl_db_meta(rs_server_store(h->srv), &m) == 0 && m.signal[0])
		snprintf(buf, len, "%s", m.signal);
	else
		buf[0] = '\0';
	rs__http_cfg_put(cr);
}

/* Close the day when it has ended: its batch becomes the pending one. */
static void take_batch(struct rs_http *h)
{
	char *json = NULL, day[16];
	uint32_t n = 0;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&h->bl_lock);
	rc = rs_server_signal_tick(h->srv, h->bl, &json, &len, day, sizeof(day), &n);
	pthread_mutex_unlock(&h->bl_lock);
	if (rc < 0)
		log_err("signal: cannot make the day's batch: %s", kg_strerror(rc));
	if (rc != 1)
		return;
	if (h->signal_batch)
		log_warn("signal: the batch of %s was never delivered; dropped for %s's",
		         h->signal_day, day);
	free(h->signal_batch);
	h->signal_batch = json;
	h->signal_len = len;
	h->signal_domains = n;
	h->signal_tries = 0;
	h->signal_next_try = 0;
	snprintf(h->signal_day, sizeof(h->signal_day), "%s", day);
}

void rs__signal_deliver(struct rs_http *h)
{
	uint64_t now = (uint64_t)time(NULL);
	struct rs_cfg_ref *cr;
	char addr[600], err[160] = "";
	int rc;

	take_batch(h);
	if (!h->signal_batch || now < h->signal_next_try)
		return;
	signal_address(h, addr, sizeof(addr));
	cr = rs__http_cfg_get(h);
	rc =
	    strncmp(addr, "https://", 8) == 0
	        ? rs__http_post_json(addr, h->signal_batch, h->signal_len, cr->cfg.sync_ca_file,
	                             err, sizeof(err))
	        : (snprintf(err, sizeof(err), "no https signal address (manifest or [signal] url)"),
	           -1);
	rs__http_cfg_put(cr);
	if (rc == 0) {
		atomic_fetch_add(&h->signal_sent, 1);
		log_info("signal: %u domains of %s delivered to %s", h->signal_domains,
		         h->signal_day, addr);
	} else if (++h->signal_tries >= TRIES) {
		atomic_fetch_add(&h->signal_failed, 1);
		log_warn("signal: batch of %s given up after %d attempts: %s", h->signal_day,
		         h->signal_tries, err);
	} else {
		log_warn("signal: batch of %s not delivered (attempt %d): %s", h->signal_day,
		         h->signal_tries, err);
		h->signal_next_try = now + RETRY_S;
		return;
	}
	free(h->signal_batch);
	h->signal_batch = NULL;
}
