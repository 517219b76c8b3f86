/*
 * The [tls] section, DoT upstream entries and device IDs: defaults, parsing helpers, checks and
 * printing. The keys themselves are declared in rs_config.c's keys[] table with every other key,
 * so that the parser, its messages and the printout cannot disagree; what is here is pure and
 * also used by kidguard-ctl through kgpolicy.
 */
#include "rs.h"
#include "rs_policy_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "kg_addr.h"

#define DOT_PORT 853

void rs__config_tls_defaults(struct rs_config *cfg)
{
	memset(&cfg->tls_listen_dot, 0, sizeof(cfg->tls_listen_dot));
	memset(&cfg->tls_listen_doh, 0, sizeof(cfg->tls_listen_doh));
	cfg->tls_cert[0] = cfg->tls_key[0] = cfg->tls_hostname[0] = '\0';
	cfg->tls_self_signed = false;
	cfg->tls_unknown_client_id = RS_UNKNOWN_ID_DEFAULT;
	cfg->tls_device_id_overrides = false;
	cfg->tls_max_pending = 10000;
	cfg->upstream_tls_ca_file[0] = '\0';
	memset(cfg->upstream_tls, 0, sizeof(cfg->upstream_tls));
}

bool rs_client_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= RS_CLIENT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)id[i]) || isdigit((unsigned char)id[i]) ||
		      id[i] == '-'))
			return false;
	return true;
}

void rs_client_id_from_sni(const char *sni, const char *hostname, char *out)
{
	size_t n, h = strlen(hostname);
	const char *dot;

	out[0] = '\0';
	if (!sni || h == 0)
		return;
	n = strlen(sni);
	if (n > 0 && sni[n - 1] == '.')
		n--; /* a trailing root dot is the same name */
	dot = memchr(sni, '.', n);
	/* Exactly one label in front of the hostname: "kid1.dns.example.net". */
	if (!dot || (size_t)(sni + n - (dot + 1)) != h || strncasecmp(dot + 1, hostname, h) != 0)
		return;
	if ((size_t)(dot - sni) >= RS_CLIENT_ID_MAX)
		return;
	for (size_t i = 0; i < (size_t)(dot - sni); i++)
		out[i] = (char)tolower((unsigned char)sni[i]);
	out[dot - sni] = '\0';
	if (!rs_client_id_valid(out))
		out[0] = '\0';
}

const struct rs_profile *rs_profile_for_id(const struct rs_config *cfg, const char *id)
{
	for (int i = 0; id && id[0] && i < cfg->n_profiles; i++)
		for (int k = 0; k < cfg->profiles[i].n_client_ids; k++)
			if (strcmp(cfg->profiles[i].client_ids[k], id) == 0)
				return &cfg->profiles[i];
	return NULL;
}

int rs__profile_client_ids(struct rs_profile *p, const char *value, char *bad, size_t badlen)
{
	char buf[1024];
	char *items[RS_MAX_CLIENT_IDS + 1];
	int k;

	snprintf(buf, sizeof(buf), "%s", value);
	k = kg_split_list(buf, items, RS_MAX_CLIENT_IDS + 1);
	if (k <= 0 || p->n_client_ids + k > RS_MAX_CLIENT_IDS) {
		snprintf(bad, badlen, "%s", k > 0 ? items[k - 1] : value);
		return -1;
	}
	for (int i = 0; i < k; i++) {
		char *s = items[i];
		for (char *q = s; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		/* A configured ID is a secret like a generated one: short ones are guessable. */
		if (!rs_client_id_valid(s) || strlen(s) < RS_CLIENT_ID_MIN) {
			snprintf(bad, badlen, "%s", items[i]);
			return -1;
		}
	}
	for (int i = 0; i < k; i++)
		snprintf(p->client_ids[p->n_client_ids++], RS_CLIENT_ID_MAX, "%s", items[i]);
	return 0;
}

void rs__profile_client_ids_print(const struct rs_profile *p, FILE *out)
{
	if (!p->n_client_ids)
		return;
	fprintf(out, "client_ids = ");
	for (int i = 0; i < p->n_client_ids; i++)
		fprintf(out, "%s%s", i ? ", " : "", p->client_ids[i]);
	fprintf(out, "\n");
}

/* "tls://1.1.1.3@853#family.cloudflare-dns.com", "tls://[2606:4700::1113]#name", "tls://9.9.9.9".
 */
static int parse_tls_item(const char *s, struct kg_sockaddr *addr, char *name, size_t namelen)
{
	char host[128], text[160];
	const char *hash = strchr(s, '#'), *end = hash ? hash : s + strlen(s);
	const char *at = memchr(s, '@', (size_t)(end - s));
	const char *hend = at ? at : end;
	unsigned long port = DOT_PORT;
	char *pe;

	if ((size_t)(hend - s) >= sizeof(host) || hend == s)
		return -1;
	memcpy(host, s, (size_t)(hend - s));
	host[hend - s] = '\0';
	if (at) {
		port = strtoul(at + 1, &pe, 10);
		if (pe != end || at + 1 == end || port == 0 || port > 65535)
			return -1;
	}
	if (hash && (strlen(hash + 1) == 0 || strlen(hash + 1) >= namelen))
		return -1;
	/* kg_sockaddr_parse wants brackets around an IPv6 address that has a port. */
	if (strchr(host, ':') && host[0] != '[')
		snprintf(text, sizeof(text), "[%s]:%lu", host, port);
	else
		snprintf(text, sizeof(text), "%s:%lu", host, port);
	if (kg_sockaddr_parse(text, DOT_PORT, addr) < 0)
		return -1;
	snprintf(name, namelen, "%s", hash ? hash + 1 : "");
	return 0;
}

int rs__upstream_parse(const char *item, struct kg_sockaddr *addr, bool *tls, char *name,
                       size_t namelen)
{
	struct kg_sockaddr a;
	char n[RS_TLS_NAME_MAX];

	if (strncmp(item, "tls://", 6) == 0) {
		if (parse_tls_item(item + 6, &a, n, sizeof(n)) < 0 || strlen(n) >= namelen)
			return -1;
		*addr = a;
		*tls = true;
		snprintf(name, namelen, "%s", n);
		return 0;
	}
	if (strchr(item, '#') || strchr(item, '/') || kg_sockaddr_parse(item, 53, &a) < 0)
		return -1;
	*addr = a;
	*tls = false;
	name[0] = '\0';
	return 0;
}

static void print_upstream(const struct rs_config *cfg, int i, FILE *out)
{
	char buf[KG_ADDRSTRLEN], host[KG_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&cfg->upstream[i].ss;
	char *colon;

	kg_sockaddr_str(sa, buf, sizeof(buf));
	if (!cfg->upstream_tls[i]) {
		fprintf(out, "%s", buf);
		return;
	}
	/* "[::1]:853" / "1.2.3.4:853" → host part and port, written as tls://HOST@PORT#NAME */
	snprintf(host, sizeof(host), "%s", buf);
	colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	fprintf(out, "tls://%s@%s%s%s", host, colon ? colon + 1 : "853",
	        cfg->upstream_tls_name[i][0] ? "#" : "", cfg->upstream_tls_name[i]);
}

void rs__upstream_print(const struct rs_config *cfg, FILE *out)
{
	for (int i = 0; i < cfg->n_upstream; i++) {
		if (i)
			fprintf(out, ", ");
		print_upstream(cfg, i, out);
	}
}

static const char *addr_or_off(const struct kg_sockaddr *a, char *buf, size_t len)
{
	if (a->len == 0)
		return "off";
	return kg_sockaddr_str((const struct sockaddr *)&a->ss, buf, len);
}

void rs__config_tls_print(const struct rs_config *cfg, FILE *out)
{
	char a[KG_ADDRSTRLEN], b[KG_ADDRSTRLEN];

	if (cfg->upstream_tls_ca_file[0])
		fprintf(out, "\n[upstream]\ntls_ca_file = %s\n", cfg->upstream_tls_ca_file);
	fprintf(out, "\n[tls]\nlisten_dot = %s\nlisten_doh = %s\n",
	        addr_or_off(&cfg->tls_listen_dot, a, sizeof(a)),
	        addr_or_off(&cfg->tls_listen_doh, b, sizeof(b)));
	if (cfg->tls_cert[0])
		fprintf(out, "cert = %s\n", cfg->tls_cert);
	if (cfg->tls_key[0])
		fprintf(out, "key = %s\n", cfg->tls_key);
	if (cfg->tls_hostname[0])
		fprintf(out, "hostname = %s\n", cfg->tls_hostname);
	fprintf(out, "self_signed = %s\nunknown_client_id = %s\ndevice_id_overrides_address = %s\n",
	        cfg->tls_self_signed ? "on" : "off",
	        cfg->tls_unknown_client_id == RS_UNKNOWN_ID_REFUSE ? "refuse" : "default",
	        cfg->tls_device_id_overrides ? "on" : "off");
	fprintf(out, "max_pending = %u\n", cfg->tls_max_pending);
}

static int check_ids_unique(const struct rs_config *cfg, char *err, size_t errlen)
{
	for (int i = 0; i < cfg->n_profiles; i++) {
		const struct rs_profile *p = &cfg->profiles[i];
		for (int k = 0; k < p->n_client_ids; k++) {
			const struct rs_profile *o = rs_profile_for_id(cfg, p->client_ids[k]);
			if (o != p) {
				snprintf(err, errlen, "client ID \"%s\" is in profiles %s and %s",
				         p->client_ids[k], o->name, p->name);
				return -1;
			}
		}
	}
	return 0;
}

int rs__config_tls_check(const struct rs_config *cfg, const char **key, char *err, size_t errlen)
{
	bool on = cfg->tls_listen_dot.len || cfg->tls_listen_doh.len;

	*key = "client_ids";
	if (check_ids_unique(cfg, err, errlen) < 0)
		return -1;
	*key = "cert";
	if (on && !cfg->tls_self_signed && (!cfg->tls_cert[0] || !cfg->tls_key[0])) {
		snprintf(err, errlen,
		         "a DoT or DoH listener needs cert and key (or self_signed = on)");
		return -1;
	}
	*key = "hostname";
	if (on && cfg->tls_self_signed && !cfg->tls_hostname[0]) {
		snprintf(err, errlen,
		         "self_signed = on needs the hostname to put in the certificate");
		return -1;
	}
	return 0;
}

static unsigned listen_port(const struct kg_sockaddr *a)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;

	if (a->len == 0)
		return 0;
	return sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port)
	                                 : ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

int rs_device_endpoints(const struct rs_config *cfg, const char *id, char *dot, size_t dotlen,
                        char *doh, size_t dohlen)
{
	const char *h = cfg->tls_hostname;
	unsigned dp = listen_port(&cfg->tls_listen_dot), hp = listen_port(&cfg->tls_listen_doh);
	char port[32] = "";
	int n;

	dot[0] = doh[0] = '\0';
	if (!h[0])
		return -1;
	/* A phone's "Private DNS" field takes a host name only: DoT must be on port 853 there. */
	if (dp && dp != DOT_PORT)
		snprintf(port, sizeof(port), " (port %u)", dp);
	n = snprintf(dot, dotlen, "%s.%s%s", id, h, port);
	if (n < 0 || (size_t)n >= dotlen)
		return -1;
	port[0] = '\0';
	if (hp && hp != 443)
		snprintf(port, sizeof(port), ":%u", hp);
	n = snprintf(doh, dohlen, "https://%s%s/dns-query/%s", h, port, id);
	return n < 0 || (size_t)n >= dohlen ? -1 : 0;
}
