/*
 * DNS rebinding: an upstream answer that puts a private or loopback address under a public
 * name lets a web page reach the LAN (the appliance's own API included) under its own origin.
 * Such records are dropped when the answer enters the cache, so a cache hit pays nothing.
 */
#include "rs_daemon_int.h"

#include <stdlib.h>
#include <string.h>

#include "kg_log.h"

void rs__strip_private(struct rs_worker *w, uint8_t *pkt, struct rs_scan *s)
{
	const struct rs_config *cfg = &w->cfg->cfg;
	struct rs_zones allowed = rs_private_zones(cfg);
	uint8_t *out;
	size_t n;
	int dropped;

	if (cfg->private_answers != RS_PRIVATE_DROP)
		return;
	/* Counting first keeps the common answer free of any copy. Dropping only removes bytes,
	 * so the result fits where the answer was. */
	if (rs_private_strip(pkt, s->keep_len, &allowed, NULL, &n) <= 0 ||
	    !(out = malloc(s->keep_len)))
		return;
	dropped = rs_private_strip(pkt, s->keep_len, &allowed, out, &n);
	if (dropped > 0 && rs_response_scan(out, n, s) == 0) {
		memcpy(pkt, out, n);
		RS_INC(w, private_answers_dropped);
		log_debug("dropped %d private address record(s) under a public name", dropped);
	}
	free(out);
}
