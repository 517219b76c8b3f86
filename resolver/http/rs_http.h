/*
 * The HTTP library (kghttp): the operator's API, metrics, dashboard, block page, reports and
 * the event rings. It plugs into the daemon with rs_daemon_use_http(rs_http_plugin()) before
 * rs_server_new.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

struct rs_http_ops;

/* The table kgdaemon calls HTTP through. */
const struct rs_http_ops *rs_http_plugin(void);

#endif
