/*
 * The [http] section: defaults and printing. The keys themselves are declared with every other
 * key in rs_config.c's keys[] table, so that the parser, the messages and this printout agree.
 */
#include "rs_policy_int.h"

#include <string.h>

#include "kg_addr.h"

void rs__config_http_defaults(struct rs_config *cfg)
{
	kg_sockaddr_parse("127.0.0.1:8053", 8053, &cfg->http_listen);
	cfg->http_token[0] = '\0';
	/* Off: a local user, or anyone behind a same-host reverse proxy, is not the operator. */
	cfg->http_trust_loopback = false;
	cfg->n_http_hostnames = 0;
	cfg->http_assets[0] = '\0';
	memset(&cfg->block_page_listen, 0, sizeof(cfg->block_page_listen));
	/* Empty: the message catalogue's text, in the viewer's language. */
	cfg->block_page_text[0] = '\0';
	snprintf(cfg->http_language, sizeof(cfg->http_language), "auto");
	cfg->block_page_contact[0] = '\0';
	cfg->report_url[0] = '\0';
	cfg->query_log = false;
	cfg->query_log_size = 1000;
	cfg->query_log_full_addresses = false;
}

static const char *addr_or_off(const struct kg_sockaddr *a, char *buf, size_t len)
{
	if (a->len == 0)
		return "off";
	return kg_sockaddr_str((const struct sockaddr *)&a->ss, buf, len);
}

static const char *on_off(bool b)
{
	return b ? "on" : "off";
}

void rs__config_http_print(const struct rs_config *cfg, FILE *out)
{
	char a[KG_ADDRSTRLEN];

	fprintf(out, "\n[http]\nlisten = %s\n", addr_or_off(&cfg->http_listen, a, sizeof(a)));
	/* The token is a secret: say whether one is set, never print it. */
	if (cfg->http_token[0])
		fprintf(out, "; token = (set, not shown)\n");
	fprintf(out, "trust_loopback = %s\n", on_off(cfg->http_trust_loopback));
	for (int i = 0; i < cfg->n_http_hostnames; i++)
		fprintf(out, "%s%s%s", i ? ", " : "hostname = ", cfg->http_hostnames[i],
		        i + 1 == cfg->n_http_hostnames ? "\n" : "");
	if (cfg->http_assets[0])
		fprintf(out, "assets = %s\n", cfg->http_assets);
	fprintf(out, "block_page_listen = %s\n",
	        addr_or_off(&cfg->block_page_listen, a, sizeof(a)));
	fprintf(out, "language = %s\n", cfg->http_language);
	if (cfg->block_page_text[0])
		fprintf(out, "block_page_text = %s\n", cfg->block_page_text);
	if (cfg->block_page_contact[0])
		fprintf(out, "block_page_contact = %s\n", cfg->block_page_contact);
	if (cfg->report_url[0])
		fprintf(out, "report_url = %s\n", cfg->report_url);
	fprintf(out, "query_log = %s\nquery_log_size = %d\nquery_log_full_addresses = %s\n",
	        on_off(cfg->query_log), cfg->query_log_size, on_off(cfg->query_log_full_addresses));
}
