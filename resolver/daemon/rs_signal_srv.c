/*
 * The early-warning signal on the appliance ([signal], issue 18; docs/http.md "Privacy").
 *
 * Workers call rs__signal_note() for every query that passed the profile stage: the name's
 * registrable domain (libpsl) is counted, once per distinct client, in the day's table
 * (rs_signal.c) unless the client's profile blocks nothing, the domain is on the bundled
 * popular-sites list, or the store has a rule for it (asked once per domain and day). One
 * mutex guards the table: a note is a hash probe and a short insert, never I/O.
 *
 * The HTTP server's background thread calls rs_server_signal_tick() once a second; when the
 * local date has changed it takes the closed day's batch (only domains reached by >= k
 * clients, each count with Laplace noise, domains the store learned during the day dropped)
 * and resets the table under a fresh random key. The key lives only in the table, so
 * yesterday's client hashes cannot be linked to today's.
 */
#include "rs_daemon_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kg_err.h"
#include "kg_log.h"

#define POPULAR_MAX 100000

struct rs_signal_srv {
	pthread_mutex_t lock;
	struct rs_signal *tab;
	char day[16];   /* "YYYY-MM-DD" the table counts */
	char **popular; /* sorted, for bsearch */
	size_t n_popular;
};

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const char *rs_signal_default_allow_list(void)
{
	/* Installed, else the source tree's copy (running from a build directory). */
	if (access(KG_SHARE_DIR "/popular-sites.txt", R_OK) == 0)
		return KG_SHARE_DIR "/popular-sites.txt";
	return KG_SOURCE_DIR "/packaging/data/popular-sites.txt";
}

static int load_popular(struct rs_signal_srv *s, const char *path)
{
	char line[300];
	FILE *f = fopen(path, "r");

	if (!f) {
		log_err("signal: cannot read the popular-sites list %s: %s", path, strerror(errno));
		return RS_EIO;
	}
	s->popular = calloc(POPULAR_MAX, sizeof(*s->popular));
	while (s->popular && s->n_popular < POPULAR_MAX && fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n#")] = '\0';
		for (char *p = line; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (line[0] && !(s->popular[s->n_popular++] = strdup(line)))
			break;
	}
	fclose(f);
	if (!s->popular || (s->n_popular && !s->popular[s->n_popular - 1]))
		return RS_ENOMEM;
	if (s->n_popular > 1)
		qsort(s->popular, s->n_popular, sizeof(*s->popular), by_str);
	return 0;
}

static void today(uint64_t now, char out[16])
{
	time_t t = (time_t)now;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static int new_key(uint8_t key[RS_SIGNAL_KEY_LEN])
{
	return getrandom(key, RS_SIGNAL_KEY_LEN, 0) == RS_SIGNAL_KEY_LEN ? 0 : RS_EIO;
}

void rs__signal_free(struct rs_signal_srv *s)
{
	if (!s)
		return;
	rs_signal_free(s->tab);
	for (size_t i = 0; i < s->n_popular; i++)
		free(s->popular[i]);
	free(s->popular);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int rs__signal_new(struct rs_server *srv, const struct rs_config *cfg, struct rs_signal_srv **out)
{
	uint8_t key[RS_SIGNAL_KEY_LEN];
	struct rs_signal_srv *s;
	int rc;

	*out = NULL;
	if (!cfg->signal_enabled)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return RS_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	rc = new_key(key);
	if (!rc)
		rc = rs_signal_new(cfg->signal_max_domains, key, &s->tab);
	if (!rc)
		rc = load_popular(s, cfg->signal_allow_list[0] ? cfg->signal_allow_list
		                                               : rs_signal_default_allow_list());
	explicit_bzero(key, sizeof(key));
	if (rc) {
		rs__signal_free(s);
		return rc;
	}
	today(rs__signal_now(srv), s->day);
	log_info("signal on: distinct clients per new registrable domain, sent once a day with "
	         "k = %u, epsilon = %g (%zu popular sites never counted)",
	         cfg->signal_k, cfg->signal_epsilon, s->n_popular);
	*out = s;
	return 0;
}

uint64_t rs__signal_now(const struct rs_server *srv)
{
	char buf[32] = "";
	FILE *f;

	/* Tests roll the day with the cache's fake clock (KIDGUARD_TEST_CLOCK, milliseconds). */
	if (srv->test_clock && (f = fopen(srv->test_clock, "r"))) {
		bool ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		if (ok)
			return strtoull(buf, NULL, 10) / 1000;
	}
	return (uint64_t)time(NULL);
}

/* Wire name -> "a.b.c"; false for names with bytes a registrable domain cannot hold. */
static bool wire_text(const uint8_t *q, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && q[i];) {
		uint8_t l = q[i++];
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return false;
		if (o)
			out[o++] = '.';
		for (uint8_t j = 0; j < l; j++) {
			char c = (char)q[i + j];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_'))
				return false;
			out[o++] = c;
		}
		i += l;
	}
	out[o] = '\0';
	return o > 0;
}

/* Names of the local network (reverse lookups, router zones): never counted, because a
 * household's device names ("anna-laptop.lan") would say who asked. */
static bool local_name(const char *reg)
{
	static const char *const tlds[] = {"arpa",     "local",   "lan",       "localdomain",
	                                   "internal", "home",    "corp",      "localhost",
	                                   "intranet", "private", "invalid",   "onion",
	                                   "alt",      "router",  "fritz.box", NULL};
	size_t n = strlen(reg);

	for (const char *const *t = tlds; *t; t++) {
		size_t l = strlen(*t);
		if (n > l && reg[n - l - 1] == '.' && strcmp(reg + n - l, *t) == 0)
			return true;
	}
	return false;
}

static bool on_store(struct bl_reader *rd, const char *domain)
{
	struct bl_verdict v;

	/* a failed lookup counts as listed: better a missed signal than a leaked listed name */
	return !rd || bl_lookup_text(rd, domain, UINT64_MAX, &v) != 0 || v.action != BL_ACTION_NONE;
}

static bool worker_on_store(void *arg, const char *domain)
{
	return on_store(((struct rs_worker *)arg)->bl, domain);
}

void rs__signal_note(struct rs_worker *w, const struct sockaddr *peer, const struct rs_question *q,
                     const struct rs_verdict *dv)
{
	struct rs_signal_srv *s = w->srv->signal;
	const struct rs_config *cfg = &w->cfg->cfg;
	uint8_t addr[16];
	size_t alen;
	char name[RS_MAX_NAME + 1];
	const char *reg, *key;

	/* profiles that block nothing are not children's */
	if (!s || !cfg->signal_enabled || dv->mask == 0 || !peer)
		return;
	if (peer->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		alen = 4;
	} else if (peer->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		bool mapped = IN6_IS_ADDR_V4MAPPED(a6);
		memcpy(addr, mapped ? a6->s6_addr + 12 : a6->s6_addr, mapped ? 4 : 16);
		alen = mapped ? 4 : 16;
	} else {
		return;
	}
	if (!wire_text(q->qname, q->qname_len, name, sizeof(name)))
		return;
	reg = bl_name_registrable(name); /* the desk groups parents' reports the same way */
	if (!reg || strlen(reg) >= RS_SIGNAL_NAME_MAX || local_name(reg))
		return;
	key = reg;
	if (bsearch(&key, s->popular, s->n_popular, sizeof(*s->popular), by_str))
		return;
	pthread_mutex_lock(&s->lock);
	rs_signal_note(s->tab, reg, addr, alen, worker_on_store, w);
	pthread_mutex_unlock(&s->lock);
}

static uint64_t rand64(void *arg)
{
	uint64_t r = 0;

	(void)arg;
	/* the kernel's CSPRNG: noise an observer could predict would not hide anything */
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		KG_REQUIRE(!"getrandom failed");
	return r;
}

static bool reader_on_store(void *arg, const char *domain)
{
	return on_store(arg, domain);
}

int rs_server_signal_tick(struct rs_server *srv, struct bl_reader *rd, char **json, size_t *len,
                          char *day, size_t daylen, uint32_t *n_domains)
{
	struct rs_signal_srv *s = srv->signal;
	struct rs_cfg_ref *cr;
	struct rs_signal_batch_params p = {0};
	uint8_t key[RS_SIGNAL_KEY_LEN];
	struct bl_meta m;
	char now[16];
	int rc;

	if (!s)
		return 0;
	today(rs__signal_now(srv), now);
	pthread_mutex_lock(&s->lock);
	if (strcmp(now, s->day) == 0) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	cr = rs_server_cfg_hold(srv);
	if (!cr->cfg.signal_enabled) {
		/* turned off by a reload: what was counted before stays here and is forgotten */
		rs_cfg_unref(cr);
		if (new_key(key) != 0)
			log_err("signal: no random key for the new day");
		rs_signal_reset(s->tab, key);
		explicit_bzero(key, sizeof(key));
		snprintf(s->day, sizeof(s->day), "%s", now);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	p.day = s->day;
	p.feed_version = bl_db_meta(srv->bl, &m) == 0 ? m.feed_version : 0;
	p.software = KG_VERSION;
	p.epsilon = cr->cfg.signal_epsilon;
	p.k = cr->cfg.signal_k;
	p.rand64 = rand64;
	p.excluded = reader_on_store;
	p.excl_arg = rd;
	rc = rs_signal_batch(s->tab, &p, json, len, n_domains);
	rs_cfg_unref(cr);
	snprintf(day, daylen, "%s", s->day);
	if (rs_signal_dropped(s->tab))
		log_warn("signal: %u new domains were not counted on %s ([signal] max_domains)",
		         rs_signal_dropped(s->tab), s->day);
	/* a new day, a new key: nothing links one day's client hashes to the next */
	if (new_key(key) != 0)
		log_err("signal: no random key for the new day; counting goes on unlinkable only "
		        "if getrandom works again");
	rs_signal_reset(s->tab, key);
	explicit_bzero(key, sizeof(key));
	snprintf(s->day, sizeof(s->day), "%s", now);
	pthread_mutex_unlock(&s->lock);
	return rc < 0 ? rc : 1;
}

int rs_server_signal_stats(struct rs_server *srv, uint32_t *domains, uint32_t *dropped)
{
	struct rs_signal_srv *s = srv->signal;

	if (!s)
		return -1;
	pthread_mutex_lock(&s->lock);
	*domains = rs_signal_domains(s->tab);
	*dropped = rs_signal_dropped(s->tab);
	pthread_mutex_unlock(&s->lock);
	return 0;
}
