/*
 * Reports of a wrong block or of a harmful site that is not blocked, from the block page or
 * the dashboard, to the feed publisher's report address ([http] report_url).
 *
 * A report carries the domain, the kind, the categories the store gives the domain and the
 * feed version: never who asked, from where, or anything they visited. It is kept in a
 * bounded outbox (RS_OUTBOX; the oldest delivered or given-up report makes room, and when all
 * are pending a new one is refused with 429), and accepted at most RS_REPORT_PER_PREFIX times
 * per RS_REPORT_WINDOW from one client prefix (/24, /56: one household or subscriber), so that
 * one person pressing the button in a loop neither floods the publisher nor uses up everyone
 * else's reporting, and at most RS_REPORT_CEILING times in all.
 *
 * The block page's form carries a token (RS_REPORT_TOKEN_LEN hex characters of an HMAC-SHA256
 * with a per-process random key over the client's prefix and the RS_REPORT_WINDOW time slot),
 * so that a foreign web page cannot make a browser post reports: it cannot read the block
 * page, and a token is good only for its prefix, for one to two windows, and until a restart.
 *
 * Delivery: an https:// address gets a JSON POST from the sampler thread (libcurl, 10 s
 * timeout, no redirects), retried with a doubling back-off from 30 s to an hour, given up
 * after RS_REPORT_TRIES attempts. A mailto: address cannot be sent by a daemon without a mail
 * relay, so the report waits in the outbox as "manual" and the dashboard and the block page
 * offer a prepared e-mail link.
 */
#include "rs_http_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kg_addr.h"
#include "kg_log.h"

void rs__report_address(struct rs_http *h, char *buf, size_t len)
{
	struct rs_cfg_ref *cr = rs__http_cfg_get(h);
	struct bl_meta m;

	/* [http] report_url overrides; otherwise the address the feed's publisher signed into
	 * the manifest (recorded in the store by the sync worker). */
	if (cr->cfg.report_url[0])
		snprintf(buf, len, "%s", cr->cfg.report_url);
	else if (bl_db_meta(rs_server_store(h->srv), &m) == 0 && m.report[0])
		snprintf(buf, len, "%s", m.report);
	else
		buf[0] = '\0';
	rs__http_cfg_put(cr);
}

static void pct(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

void rs__report_mailto(const struct rs_http *h, int lang, const char *addr,
                       const struct rs_report *rep, char *buf, size_t len)
{
	char subject[400], body[800], es[1200], eb[2400], version[24];
	bool wrong = strcmp(rep->kind, "wrong_block") == 0;

	/* The parent's mail program shows and sends these words: the parent's language. The
	 * report's kind stays its code in the body, for whoever sorts the mail. */
	snprintf(version, sizeof(version), "%llu", (unsigned long long)rep->feed_version);
	rs__msg_fill(
	    subject, sizeof(subject), rs__msg(h, lang, "report.mail_subject"),
	    RS_KV("kind",
	          rs__msg(h, lang,
	                  wrong ? "report.mail_kind.wrong_block" : "report.mail_kind.not_blocked"),
	          "domain", rep->domain));
	rs__msg_fill(body, sizeof(body), rs__msg(h, lang, "report.mail_body"),
	             RS_KV("domain", rep->domain, "kind", rep->kind, "category",
	                   rep->category[0] ? rep->category : rs__msg(h, lang, "report.mail_none"),
	                   "version", version, "software", KG_VERSION));
	pct(subject, es, sizeof(es));
	pct(body, eb, sizeof(eb));
	snprintf(buf, len, "%s?subject=%s&body=%s", addr, es, eb);
}

static void token_for(struct rs_http *h, const uint8_t pfx[8], uint64_t slot, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t msg[16], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;

	memcpy(msg, pfx, 8);
	for (int i = 0; i < 8; i++)
		msg[8 + i] = (uint8_t)(slot >> (56 - 8 * i));
	if (!HMAC(EVP_sha256(), h->report_key, sizeof(h->report_key), msg, sizeof(msg), mac,
	          &maclen) ||
	    maclen < RS_REPORT_TOKEN_LEN / 2) {
		/* cannot happen with SHA-256; an all-x token never matches a hex one */
		memset(out, 'x', RS_REPORT_TOKEN_LEN);
		out[RS_REPORT_TOKEN_LEN] = '\0';
		return;
	}
	for (int i = 0; i < RS_REPORT_TOKEN_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[RS_REPORT_TOKEN_LEN] = '\0';
}

void rs__report_token(struct rs_http *h, const struct sockaddr *client, char *out)
{
	uint8_t pfx[8];

	kg_addr_prefix(client, pfx);
	token_for(h, pfx, (uint64_t)time(NULL) / RS_REPORT_WINDOW, out);
}

bool rs__report_token_ok(struct rs_http *h, const struct sockaddr *client, const char *token)
{
	uint64_t slot = (uint64_t)time(NULL) / RS_REPORT_WINDOW;
	char want[RS_REPORT_TOKEN_LEN + 1];
	uint8_t pfx[8];
	bool ok = false;

	if (!token || strlen(token) != RS_REPORT_TOKEN_LEN)
		return false;
	kg_addr_prefix(client, pfx);
	/* this slot or the one before: a page stays usable for RS_REPORT_WINDOW seconds at least */
	token_for(h, pfx, slot, want);
	ok = CRYPTO_memcmp(want, token, RS_REPORT_TOKEN_LEN) == 0;
	token_for(h, pfx, slot - 1, want);
	ok |= CRYPTO_memcmp(want, token, RS_REPORT_TOKEN_LEN) == 0;
	return ok;
}

/* Whether the client's prefix and everyone together are under the quota; `*slot` receives
 * the prefix's entry (NULL: none yet). Caller holds out_lock. Returns 0 or -EAGAIN. */
static int quota_check(struct rs_http *h, const uint8_t pfx[8], uint64_t now,
                       struct rs_report_quota **slot)
{
	struct rs_report_quota *q = NULL;

	if (now >= h->rate_t + RS_REPORT_WINDOW) {
		h->rate_t = now;
		h->rate_n = 0;
		h->n_rate_pfx = 0;
	}
	for (int i = 0; i < h->n_rate_pfx && !q; i++)
		if (memcmp(h->rate_pfx[i].pfx, pfx, 8) == 0)
			q = &h->rate_pfx[i];
	*slot = q;
	if (q && q->n >= RS_REPORT_PER_PREFIX)
		return -EAGAIN;
	/* rate_n < RS_REPORT_CEILING also bounds n_rate_pfx: one entry per accepted report */
	if (h->rate_n >= RS_REPORT_CEILING || (!q && h->n_rate_pfx >= RS_REPORT_CEILING))
		return -EAGAIN;
	return 0;
}

/* Counts one accepted report (after quota_check said yes). Caller holds out_lock. */
static void quota_take(struct rs_http *h, const uint8_t pfx[8], struct rs_report_quota *q)
{
	if (!q) {
		q = &h->rate_pfx[h->n_rate_pfx++];
		memcpy(q->pfx, pfx, 8);
		q->n = 0;
	}
	q->n++;
	h->rate_n++;
}

/* Make room: drop the oldest finished report. Returns false when every slot is pending. */
static bool make_room(struct rs_http *h)
{
	int victim = -1;

	for (int i = 0; i < h->n_out && victim < 0; i++)
		if (h->outbox[i].state == RS_REPORT_SENT || h->outbox[i].state == RS_REPORT_FAILED)
			victim = i;
	for (int i = 0; i < h->n_out && victim < 0; i++)
		if (h->outbox[i].state == RS_REPORT_MANUAL)
			victim = i;
	if (victim < 0)
		return false;
	memmove(&h->outbox[victim], &h->outbox[victim + 1],
	        sizeof(h->outbox[0]) * (size_t)(h->n_out - victim - 1));
	h->n_out--;
	return true;
}

int rs__report_add(struct rs_http *h, const struct sockaddr *client, const char *domain,
                   const char *kind, struct rs_report *out)
{
	struct rs_report rep = {0};
	struct rs_report_quota *quota = NULL;
	struct bl_verdict v;
	struct bl_meta m;
	uint8_t pfx[8];
	char addr[600];
	uint64_t now = (uint64_t)time(NULL);
	int rc = 0;

	if (rs__report_kind_ok(kind) < 0)
		return -EINVAL;
	if (bl_name_normalize(domain, rep.domain, sizeof(rep.domain)) != 0)
		return -EINVAL;
	snprintf(rep.kind, sizeof(rep.kind), "%s", kind);
	/* What the list says, from the store: the client does not get to choose. */
	if (rs__http_lookup(h, rep.domain, UINT64_MAX, &v) == 0 && v.action == BL_ACTION_BLOCK)
		rs__cat_names(h, v.categories, rep.category, sizeof(rep.category));
	if (bl_db_meta(rs_server_store(h->srv), &m) == 0)
		rep.feed_version = m.feed_version;
	rep.created = rep.next_try = now;
	rs__report_address(h, addr, sizeof(addr));
	if (strncmp(addr, "https://", 8) == 0) {
		rep.state = RS_REPORT_QUEUED;
	} else {
		rep.state = RS_REPORT_MANUAL;
		if (!addr[0])
			snprintf(rep.error, sizeof(rep.error),
			         "no report address: set [http] report_url");
	}
	pthread_mutex_lock(&h->out_lock);
	for (int i = 0; i < h->n_out; i++) {
		struct rs_report *o = &h->outbox[i];
		/* The same report still pending is the same report. */
		if (strcmp(o->domain, rep.domain) == 0 && strcmp(o->kind, rep.kind) == 0 &&
		    (o->state == RS_REPORT_QUEUED || o->state == RS_REPORT_MANUAL)) {
			*out = *o;
			goto done;
		}
	}
	/* the quota first: a refused report must not make room by dropping a finished one */
	kg_addr_prefix(client, pfx);
	if (quota_check(h, pfx, now, &quota) != 0 || (h->n_out == RS_OUTBOX && !make_room(h))) {
		rc = -EAGAIN;
		goto done;
	}
	quota_take(h, pfx, quota);
	rep.id = ++h->next_report_id;
	h->outbox[h->n_out++] = rep;
	*out = rep;
	log_info("report queued: %s %s (feed version %llu)", rep.kind, rep.domain,
	         (unsigned long long)rep.feed_version);
done:
	pthread_mutex_unlock(&h->out_lock);
	return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int rs__http_post_json(const char *url, const char *body, size_t len, const char *ca_file,
                       char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kidguard/" KG_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (ca_file && ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
		return -1;
	}
	if (status < 200 || status > 299) {
		snprintf(err, errlen, "HTTP status %ld", status);
		return -1;
	}
	return 0;
}

/* POST one report. Returns 0 or -1 with `err` filled. */
static int post_report(const char *url, const struct rs_report *rep, const char *ca_file, char *err,
                       size_t errlen)
{
	char body[1024];
	int n = snprintf(body, sizeof(body),
	                 "{\"type\":\"kidguard-report\",\"kind\":\"%s\",\"domain\":\"%s\","
	                 "\"category\":\"%s\",\"feed_version\":%llu,\"software\":\"kidguard %s\"}",
	                 rep->kind, rep->domain, rep->category,
	                 (unsigned long long)rep->feed_version, KG_VERSION);

	if (n < 0 || (size_t)n >= sizeof(body)) {
		snprintf(err, errlen, "report too long");
		return -1;
	}
	return rs__http_post_json(url, body, (size_t)n, ca_file, err, errlen);
}

void rs__reports_deliver(struct rs_http *h)
{
	uint64_t now = (uint64_t)time(NULL);
	struct rs_report rep;
	struct rs_cfg_ref *cr;
	char err[160] = "", addr[600];
	bool found = false;
	int rc;

	pthread_mutex_lock(&h->out_lock);
	for (int i = 0; i < h->n_out && !found; i++) {
		if (h->outbox[i].state == RS_REPORT_QUEUED && h->outbox[i].next_try <= now) {
			rep = h->outbox[i];
			found = true;
		}
	}
	pthread_mutex_unlock(&h->out_lock);
	if (!found)
		return;
	/* One delivery per second at most; the lock is not held while the network works. */
	rs__report_address(h, addr, sizeof(addr));
	cr = rs__http_cfg_get(h);
	rc = strncmp(addr, "https://", 8) == 0
	         ? post_report(addr, &rep, cr->cfg.sync_ca_file, err, sizeof(err))
	         : (snprintf(err, sizeof(err), "no https report address"), -1);
	rs__http_cfg_put(cr);
	pthread_mutex_lock(&h->out_lock);
	for (int i = 0; i < h->n_out; i++) {
		struct rs_report *o = &h->outbox[i];
		if (o->id != rep.id)
			continue;
		o->attempts++;
		if (rc == 0) {
			o->state = RS_REPORT_SENT;
			o->error[0] = '\0';
		} else {
			uint64_t backoff = 30ULL << (o->attempts < 7 ? o->attempts - 1 : 7);
			snprintf(o->error, sizeof(o->error), "%s", err);
			o->next_try = now + (backoff > 3600 ? 3600 : backoff);
			if (o->attempts >= RS_REPORT_TRIES)
				o->state = RS_REPORT_FAILED;
		}
		break;
	}
	pthread_mutex_unlock(&h->out_lock);
	if (rc)
		log_warn("report %s %s: delivery failed (attempt %d): %s", rep.kind, rep.domain,
		         rep.attempts + 1, err);
	else
		log_info("report %s %s delivered to %s", rep.kind, rep.domain, addr);
}
