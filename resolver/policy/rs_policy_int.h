/*
 * What the files of the policy library (kgpolicy) share and nothing else sees: the [http] and
 * [tls] sections' parts of the config parser.
 */
#ifndef RS_POLICY_INT_H
#define RS_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rs.h"

/* ------------------------------------------------- [http] config (rs_config_http.c) --- */

/* Defaults of the [http] section, and its part of rs_config_print(). */
void rs__config_http_defaults(struct rs_config *cfg);
void rs__config_http_print(const struct rs_config *cfg, FILE *out);

/* ------------------------------------- [tls] and DoT upstreams (rs_config_tls.c) --- */

/* Defaults of the [tls] section; its part of rs_config_print(); cross-key checks (0, or -1
 * with the reason in err, naming the key in *key). */
void rs__config_tls_defaults(struct rs_config *cfg);
void rs__config_tls_print(const struct rs_config *cfg, FILE *out);
int rs__config_tls_check(const struct rs_config *cfg, const char **key, char *err, size_t errlen);
/* One [upstream] servers item: "ADDR[:PORT]" (plain) or "tls://ADDR[@PORT][#NAME]" (DoT, port
 * 853). Outputs untouched on failure. Returns 0 or -1. */
int rs__upstream_parse(const char *item, struct kg_sockaddr *addr, bool *tls, char *name,
                       size_t namelen);
/* The servers list as the parser reads it. */
void rs__upstream_print(const struct rs_config *cfg, FILE *out);
/* Add "kid1, kid2" to a profile's client_ids. Returns 0; -1 with the bad item in `bad`. */
int rs__profile_client_ids(struct rs_profile *p, const char *value, char *bad, size_t badlen);
void rs__profile_client_ids_print(const struct rs_profile *p, FILE *out);

/* A new, process-wide unique config serial (rs_config.serial). */
uint64_t rs__config_serial(void);

#endif
