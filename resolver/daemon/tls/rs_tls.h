/*
 * The TLS library (kgtls): DNS over TLS and HTTPS listeners, DoT upstreams. It plugs into the
 * daemon with rs_daemon_use_tls(rs_tls_plugin()) before rs_server_new.
 */
#ifndef RS_TLS_H
#define RS_TLS_H

struct rs_tls_ops;

/* The table kgdaemon calls TLS through. */
const struct rs_tls_ops *rs_tls_plugin(void);

#endif
