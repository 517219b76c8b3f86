#!/usr/bin/python3
"""DNS over TLS and HTTPS (issue 11), against the real daemon with real clients.

Every test generates its own CA and certificates with openssl in its temp dir; clients trust
that CA only (kdig +tls-ca, curl --cacert, Python's ssl with cafile). Covered:

* DoT (kdig +tls) and DoH (kdig +https POST and GET, HTTP/2; curl over HTTP/1.1) answers;
* device identity: SNI KID1.dns.example.test and path /dns-query/KID1 select profile "kids"
  (a denied name is sinkholed with EDE 17), no ID gets the default profile (forwarded);
  [tls] unknown_client_id = refuse;
* device IDs are secrets (issue 15, finding 2): a config ID shorter than 16 characters is a
  config error; IDs made by `kidguard-ctl devices add` (and POST /api/devices) select their
  profile over DoT and DoH and stop working when revoked; an ID cannot loosen the profile of
  a child's address unless [tls] device_id_overrides_address = on;
* curl --doh-url resolving a web server's name through kidguard;
* DoT to upstreams: unbound serving the test zone on a TLS port, certificate and name checked,
  a wrong name fails closed (SERVFAIL, never clear text), pipelined questions on one connection;
* session resumption (tickets), certificate reload on SIGHUP without dropping a connection;
* adversarial clients: stalled handshakes, garbage instead of a ClientHello, HTTP/2 protocol
  violations, oversized DoH bodies -- the daemon keeps answering everyone else;
* the per-transport counters in /metrics.
"""

import http.server
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, ede_options, run_cmd  # noqa: E402

HOST = "dns.example.test"
EXTRA = [("bad.kg.test.", "A", 300, "192.0.2.66"),
         ("web.kg.test.", "A", 300, "127.0.0.1")]
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
# Device IDs in the config are secrets of at least 16 characters.
KID1 = "kid1-4f7c2a9e1b3d"
KID2 = "kid2-8e6d0c5a7f19"
KID9 = "kid9-000000000000"  # no profile lists it
DAD = "dad-5c1e9b7a3f2d08"
CHILD_ADDR = "127.0.0.2"  # a source address in the child's prefix


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr))


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kidguard test CA",
            cwd=d)
    return os.path.join(d, "ca.pem")


def make_cert(d, name, sans):
    """A leaf for `sans` signed by the CA in d; returns (cert, key) paths."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
            cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


class TlsUpstream(kgtest.Upstream):
    """kgtest's unbound, also serving DNS over TLS on a second port (tls-service-*)."""

    def __init__(self, workdir, cert, key, **kw):
        super().__init__(workdir, v6=False, **kw)
        self.tls_port = kgtest.free_port(False)
        with open(self.conf) as f:
            text = f.read()
        text = text.replace("server:\n", "server:\n  interface: 127.0.0.1@%d\n"
                            "  tls-port: %d\n  tls-service-key: \"%s\"\n"
                            "  tls-service-pem: \"%s\"\n" % (self.tls_port, self.tls_port,
                                                             key, cert), 1)
        with open(self.conf, "w") as f:
            f.write(text)


def dot_query_raw(port, wire, ca, sni=HOST, session=None, timeout=3, ctx=None):
    """One DNS message over a fresh TLS connection; returns (reply wire, ssl socket)."""
    ctx = ctx or ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    s.sendall(kgtest.frame(wire))
    return kgtest.tcp_read_msg(s), s


class TlsBlackHole:
    """A DoT upstream that completes the handshake, reads every query and never answers; it
    counts the queries each connection carried."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.per_conn = []  # queries received, one entry per connection
        self._lock = threading.Lock()
        self._stop = False
        self._socks = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stop:
            try:
                raw, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.per_conn.append(0)
                idx = len(self.per_conn) - 1
            t = threading.Thread(target=self._serve, args=(raw, idx), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, raw, idx):
        try:
            raw.settimeout(10)
            s = self.ctx.wrap_socket(raw, server_side=True)
            self._socks.append(s)
            s.settimeout(0.2)
            buf = b""
            while not self._stop:
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + ((buf[0] << 8) | buf[1]):
                    buf = buf[2 + ((buf[0] << 8) | buf[1]):]
                    with self._lock:
                        self.per_conn[idx] += 1
        except (OSError, ssl.SSLError):
            return

    def total(self):
        with self._lock:
            return sum(self.per_conn)

    def stop(self):
        self._stop = True
        for t in self._threads:
            t.join(3)
        for s in self._socks + [self.lsock]:
            try:
                s.close()
            except OSError:
                pass


class TlsTest(kgtest.KGTestCase):

    def setUp(self):
        self.pki = os.path.join(self.tmp, "pki")
        os.makedirs(self.pki)
        self.ca = make_ca(self.pki)
        self.cert, self.key = make_cert(self.pki, "server",
                                        ["DNS:" + HOST, "DNS:*." + HOST, "IP:127.0.0.1"])

    # ---- helpers
    def start(self, extra=None, upstream=None, **kw):
        up = upstream or self.start_upstream(extra_records=EXTRA)
        self.dot = kgtest.free_port(False)
        self.doh = kgtest.free_port(False)
        o = {
            "tls": {"listen_dot": "127.0.0.1:%d" % self.dot,
                    "listen_doh": "127.0.0.1:%d" % self.doh,
                    "cert": self.cert, "key": self.key, "hostname": HOST},
            "profile kids": {"client_ids": KID1 + ", " + KID2, "block": "adult",
                             "action": "sinkhole"},
            "profile default": {"block": "none"},
        }
        for sec, kv in (extra or {}).items():
            o.setdefault(sec, {}).update(kv)
        servers = kw.pop("servers", "127.0.0.1:%d" % up.port)
        d = self.start_daemon(servers, o, v6=False, **kw)
        return up, d

    def deny(self, d, name):
        r = kgtest.run_ctl(["deny", "add", name, "--category", "adult"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)

    def kdig(self, d, name, *opts, rdtype="A"):
        args = [KDIG, "@127.0.0.1", "-p", str(self.doh if any(o.startswith("+https")
                                                              for o in opts) else self.dot),
                "+tls-ca=" + self.ca, "+time=3", "+retry=0"] + list(opts) + [name, rdtype]
        r = run_cmd(args, timeout=15)
        self.assertEqual(r.returncode, 0, "kdig %s failed:\n%s%s" % (args, r.stdout, r.stderr))
        return r.stdout

    def assertBlocked(self, out):
        self.assertIn("status: NOERROR", out)
        self.assertIn("0.0.0.0", out)
        self.assertIn("EDE: 17 (Filtered): 'category=adult; list=local'", out)

    def assertForwarded(self, out, addr="192.0.2.66"):
        self.assertIn("status: NOERROR", out)
        self.assertIn(addr, out)
        self.assertNotIn("EDE", out)

    def assertStillAnswering(self, d):
        self.assertTrue(d.alive())
        kgtest.KGTestCase.assertAliveAndAnswering(self, d)
        self.assertForwarded(self.kdig(d, "www.kg.test", "+tls-hostname=" + HOST),
                             "192.0.2.1")

    # ---- the ready line
    def test_ready_line_lists_listeners_and_tables(self):
        """The start-up line names every listener with its address (UDP/TCP, DoT, DoH, HTTP,
        block page) and the table sizes: feed entries, subscriber prefixes, device IDs."""
        http_port, page_port = kgtest.free_port(False), kgtest.free_port(False)
        up, d = self.start({"http": {"listen": "127.0.0.1:%d" % http_port,
                                     "block_page_listen": "127.0.0.1:%d" % page_port}},
                           start=False)
        lst = os.path.join(self.tmp, "feed.txt")
        with open(lst, "w") as f:
            f.write("one.example\ntwo.example\nthree.example\n")
        for args in (["import", "--format", "domains", "--category", "adult", lst],
                     ["deny", "add", "local.example"],
                     ["clients", "set", "10.200.0.4/30", "kids"],
                     ["clients", "set", "10.200.1.0/24", "kids"],
                     ["devices", "add", "anna-phone", "--profile", "kids"]):
            r = kgtest.run_ctl(args, config=d.conf)
            self.assertEqual(r.returncode, 0, "%s: %s%s" % (args, r.stdout, r.stderr))
        d.start()
        want = ("ready: listening on DNS 127.0.0.1:%d (UDP and TCP), DoT 127.0.0.1:%d, "
                "DoH 127.0.0.1:%d, HTTP (dashboard, API, metrics) 127.0.0.1:%d, "
                "block page 127.0.0.1:%d; 1 worker" % (d.port, self.dot, self.doh, http_port,
                                                      page_port))
        self.assertTrue(kgtest.wait_until(lambda: want in d.log_text(), 5), d.log_text())
        # kidguard-ctl writes local rules (the feed comes from a sync): 3 imported + 1 deny
        self.assertIn("0 feed entries (version 0), 4 local overrides, 2 subscriber prefixes, "
                      "1 device IDs", d.log_text())
        self.assertStillAnswering(d)

    # ---- answers and device identity
    def test_dot_and_doh_per_device_profiles(self):
        up, d = self.start()
        self.deny(d, "bad.kg.test")
        # DoT: the SNI's first label names the device
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID1 + "." + HOST))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID2.upper() + "." + HOST))
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST))
        # DoH over HTTP/2: the path names the device, POST and GET
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                     "+https=/dns-query/" + KID1))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                     "+https=/dns-query/" + KID1, "+https-get"))
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST, "+https"))
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST, "+https",
                                       "+https-get"))
        # the SNI's ID holds on DoH too, the path's wins over it
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID1 + "." + HOST,
                                     "+https"))
        # an ID no profile claims: the default profile (unknown_client_id = default)
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID9 + "." + HOST))
        # plain UDP from the same address is unaffected
        self.assertEqual(answer_rdata(query(d.port, "bad.kg.test."), "A"), {"192.0.2.66"})

    def test_unknown_client_id_refused(self):
        up, d = self.start({"tls": {"unknown_client_id": "refuse"}})
        out = self.kdig(d, "www.kg.test", "+tls-hostname=" + KID9 + "." + HOST)
        self.assertIn("status: REFUSED", out)
        out = self.kdig(d, "www.kg.test", "+tls-hostname=" + HOST, "+https=/dns-query/" + KID9)
        self.assertIn("status: REFUSED", out)
        self.assertForwarded(self.kdig(d, "www.kg.test", "+tls-hostname=" + KID1 + "." + HOST),
                             "192.0.2.1")

    # ---- device IDs are secrets (issue 15, finding 2)
    def family(self, overrides=None, http=False):
        """kids at CHILD_ADDR (adult blocked), dad with a configured ID and no address rule,
        the default profile blocks nothing."""
        o = {"profile kids": {"clients": CHILD_ADDR + "/32"},
             "profile dad": {"client_ids": DAD, "block": "none"}}
        if http:
            self.http_port = kgtest.free_port(False)
            o["http"] = {"listen": "127.0.0.1:%d" % self.http_port, "token": "tok-devices"}
        for sec, kv in (overrides or {}).items():
            o.setdefault(sec, {}).update(kv)
        up, d = self.start(o)
        self.deny(d, "bad.kg.test")
        return d

    def devices_add(self, d, name, profile):
        r = kgtest.run_ctl(["devices", "add", name, "--profile", profile], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
        out = {k.strip(): v.strip() for k, v in out.items()}
        self.assertEqual(len(out["id"]), 20)
        self.assertRegex(out["id"], "^[a-z2-7]{20}$")
        self.assertEqual(out["dot"], "%s.%s (port %d)" % (out["id"], HOST, self.dot))
        self.assertEqual(out["doh"], "https://%s:%d/dns-query/%s" % (HOST, self.doh, out["id"]))
        return out["id"]

    def test_short_config_id_is_a_config_error(self):
        o = {"profile dad": {"client_ids": "dad"}}
        d = self.start_daemon("127.0.0.1:53", o, start=False)
        r = run_cmd([d.binary, "-n", "-c", d.conf], timeout=10)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"kidguard0\.ini:\d+: \[profile dad\] client_ids: .*\"dad\"")

    def test_guessed_parent_id_does_not_loosen_child_address(self):
        d = self.family()
        child = ["-b", CHILD_ADDR, "+tls-hostname=" + DAD + "." + HOST]
        # the child's address alone: kids
        self.assertBlocked(self.kdig(d, "bad.kg.test", "-b", CHILD_ADDR,
                                     "+tls-hostname=" + HOST))
        # the dad's ID from the child's address, DoT and DoH: still kids (was: dad)
        self.assertBlocked(self.kdig(d, "bad.kg.test", *child))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "-b", CHILD_ADDR,
                                     "+tls-hostname=" + HOST, "+https=/dns-query/" + DAD))
        # the dad's ID from an address no profile claims: dad
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + DAD + "." + HOST))
        # an ID that tightens the address's profile applies (kids' ID from anywhere)
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID1 + "." + HOST))

    def test_device_id_overrides_address_on(self):
        d = self.family({"tls": {"device_id_overrides_address": "on"}})
        self.assertForwarded(self.kdig(d, "bad.kg.test", "-b", CHILD_ADDR,
                                       "+tls-hostname=" + DAD + "." + HOST))
        dad2 = self.devices_add(d, "dad-phone", "dad")
        self.assertForwarded(self.kdig(d, "bad.kg.test", "-b", CHILD_ADDR,
                                       "+tls-hostname=" + HOST, "+https=/dns-query/" + dad2))

    def test_generated_device_ids(self):
        d = self.family({"tls": {"unknown_client_id": "refuse"}})
        kid = self.devices_add(d, "anna-phone", "kids")
        dad = self.devices_add(d, "dad-phone", "dad")
        # the generated ID gives its profile over DoT and DoH (GET and POST)
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + kid + "." + HOST))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                     "+https=/dns-query/" + kid))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                     "+https=/dns-query/" + kid, "+https-get"))
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + dad + "." + HOST))
        # ... but not from the child's address
        self.assertBlocked(self.kdig(d, "bad.kg.test", "-b", CHILD_ADDR,
                                     "+tls-hostname=" + dad + "." + HOST))
        # listed without the ID
        r = kgtest.run_ctl(["devices", "list"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"anna-phone\s+kids\s+\S+Z\s+[0-9a-f]{8}")
        self.assertNotIn(kid, r.stdout)
        self.assertNotIn(dad, r.stdout)
        # nor in the daemon's (debug) log
        self.assertNotIn(kid, d.log_text())
        self.assertNotIn(dad, d.log_text())
        # an unknown profile is refused
        r = kgtest.run_ctl(["devices", "add", "x", "--profile", "nosuch"], config=d.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown profile 'nosuch'", r.stderr)
        # revoked: the ID is unknown at the next query (refused here), nothing to reload
        r = kgtest.run_ctl(["devices", "revoke", "anna-phone"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("status: REFUSED",
                      self.kdig(d, "bad.kg.test", "+tls-hostname=" + kid + "." + HOST))
        self.assertIn("status: REFUSED", self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                                   "+https=/dns-query/" + kid))
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + dad + "." + HOST))

    def test_devices_api(self):
        import json
        d = self.family(http=True)
        base = "http://127.0.0.1:%d/api/devices" % self.http_port
        auth = {"Authorization": "Bearer tok-devices", "Content-Type": "application/json"}

        def call(method, url, body=None, headers=auth):
            req = urllib.request.Request(url, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body else None)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read().decode())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read().decode() or "{}")
        st, j = call("POST", base, {"name": "tab", "profile": "kids"}, headers={})
        self.assertIn(st, (401, 403))
        st, j = call("POST", base, {"name": "tab", "profile": "nosuch"})
        self.assertEqual(st, 400, j)
        st, j = call("POST", base, {"name": "tab", "profile": "kids"})
        self.assertEqual(st, 201, j)
        tab = j["id"]
        self.assertRegex(tab, "^[a-z2-7]{20}$")
        self.assertEqual(j["doh"], "https://%s:%d/dns-query/%s" % (HOST, self.doh, tab))
        st, j2 = call("POST", base, {"name": "tab", "profile": "kids"})
        self.assertEqual(st, 409, j2)
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                     "+https=/dns-query/" + tab))
        st, j = call("GET", base, headers={})
        self.assertEqual(st, 200)
        self.assertEqual(j["count"], 1)
        self.assertEqual([(x["name"], x["profile"], x["fingerprint"]) for x in j["devices"]],
                         [("tab", "kids", j["devices"][0]["fingerprint"])])
        self.assertNotIn(tab, json.dumps(j))
        st, j = call("DELETE", base + "/tab")
        self.assertEqual(st, 200, j)
        st, j = call("DELETE", base + "/tab")
        self.assertEqual(st, 404, j)
        # revoked: unknown, so the default profile (unknown_client_id = default)
        self.assertForwarded(self.kdig(d, "bad.kg.test", "+tls-hostname=" + HOST,
                                       "+https=/dns-query/" + tab))

    def test_check_device_id_refused_and_revoked(self):
        """kidguard-ctl check --device-id and /api/check?device_id= answer as the DoT path
        does for an unknown ID under unknown_client_id = refuse, and for a revoked one."""
        import json
        d = self.family({"tls": {"unknown_client_id": "refuse"}}, http=True)
        kid = self.devices_add(d, "anna-phone", "kids")
        url = "http://127.0.0.1:%d/api/check?name=bad.kg.test&device_id=" % self.http_port
        auth = {"Authorization": "Bearer tok-devices"}

        def both(dev_id):
            r = kgtest.run_ctl(["check", "bad.kg.test", "--device-id", dev_id, "--json"],
                               config=d.conf)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn(dev_id, r.stdout + r.stderr)
            req = urllib.request.Request(url + dev_id, headers=auth)
            with urllib.request.urlopen(req, timeout=10) as resp:
                api = json.loads(resp.read().decode())
            ctl = json.loads(r.stdout)
            self.assertEqual((ctl["answer"], ctl["profile"], ctl["decided_by"]),
                             (api["answer"], api["profile"], api["decided_by"]))
            return ctl

        ctl = both(kid)
        self.assertEqual((ctl["answer"], ctl["profile"], ctl["profile_by"]),
                         ("sinkhole", "kids", "device ID"))
        self.assertBlocked(self.kdig(d, "bad.kg.test", "+tls-hostname=" + kid + "." + HOST))
        ctl = both(KID9)  # no profile lists it
        self.assertEqual((ctl["answer"], ctl["profile"]), ("refused", ""))
        self.assertIn("status: REFUSED",
                      self.kdig(d, "bad.kg.test", "+tls-hostname=" + KID9 + "." + HOST))
        r = kgtest.run_ctl(["devices", "revoke", "anna-phone"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(both(kid)["answer"], "refused")
        r = kgtest.run_ctl(["check", "bad.kg.test", "--device-id", kid], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("refused", r.stdout)
        self.assertNotIn(kid, r.stdout)
        # without the token the API does not try an ID
        try:
            urllib.request.urlopen(url + DAD, timeout=10)
            self.fail("a device ID tried without the token")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 401)
        self.assertNotIn(kid, d.log_text())
        self.assertNotIn(DAD, d.log_text())

    def test_doh_http1_and_errors(self):
        up, d = self.start()
        q = dns.message.make_query("www.kg.test.", "A")
        q.id = 0
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["http/1.1"])
        import base64
        b64 = base64.urlsafe_b64encode(q.to_wire()).rstrip(b"=").decode()
        url = "https://127.0.0.1:%d/dns-query?dns=%s" % (self.doh, b64)
        with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "application/dns-message")
            m = dns.message.from_wire(r.read())
        self.assertEqual(answer_rdata(m, "A"), {"192.0.2.1"})
        req = urllib.request.Request("https://127.0.0.1:%d/dns-query" % self.doh,
                                     data=q.to_wire(), method="POST",
                                     headers={"Content-Type": "application/dns-message"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            self.assertEqual(answer_rdata(dns.message.from_wire(r.read()), "A"), {"192.0.2.1"})
        for path, code in (("/other", 404), ("/dns-query", 400), ("/dns-query?dns=!!", 400)):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen("https://127.0.0.1:%d%s" % (self.doh, path),
                                       context=ctx, timeout=5)
            self.assertEqual(e.exception.code, code, path)
        req = urllib.request.Request("https://127.0.0.1:%d/dns-query" % self.doh,
                                     data=q.to_wire(), method="POST",
                                     headers={"Content-Type": "text/plain"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, context=ctx, timeout=5)
        self.assertEqual(e.exception.code, 415)
        self.assertStillAnswering(d)

    def test_curl_resolves_through_doh(self):
        # web.kg.test has a loopback address: a local name, so it is listed as one (else the
        # rebinding filter, [upstream] private_address_answers = drop, takes it out).
        up, d = self.start({"upstream": {"private_domains": "web.kg.test"}})
        body = b"hello from web.kg.test\n"

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        r = run_cmd(["curl", "-sS", "-v", "--max-time", "10", "--doh-url",
                     "https://127.0.0.1:%d/dns-query" % self.doh, "--cacert", self.ca,
                     "http://web.kg.test:%d/" % srv.server_port], timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.encode(), body)
        self.assertIn("127.0.0.1", r.stderr)
        self.assertIn("web.kg.test", r.stderr)

    # ---- upstreams over TLS
    def start_tls_upstream(self):
        ucert, ukey = make_cert(self.pki, "upstream", ["DNS:up.kg.test"])
        u = TlsUpstream(self.tmp, ucert, ukey, extra_records=EXTRA)
        self._upstreams.append(u)
        self.addCleanup(u.stop)
        return u.start()

    def test_upstream_dot_verified_and_pipelined(self):
        up = self.start_tls_upstream()
        up_, d = self.start({"upstream": {"tls_ca_file": self.ca}}, upstream=up,
                            servers="tls://127.0.0.1@%d#up.kg.test" % up.tls_port)
        before = up.stats().get("num.query.tls", 0)
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"192.0.2.1"})
        # 40 distinct questions at once: pipelined on the worker's one connection
        names = ["n%d.kg.test." % i for i in range(1, 41)]
        socks = []
        for n in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(kgtest.make_query(n, "A").to_wire(), ("127.0.0.1", d.port))
            socks.append((n, s))
        for n, s in socks:
            m = dns.message.from_wire(s.recv(4096))
            s.close()
            self.assertEqual(answer_rdata(m, "A"), kgtest.expected_rdata(n, "A"), n)
        st = up.stats()
        self.assertEqual(st.get("num.query.tls", 0) - before, 41)
        self.assertEqual(up.count("www.kg.test", "A"), 1)
        # the connection was reused: one TLS connection from this worker, no reconnects
        self.assertNotIn("DoT upstream", d.log_text())

    def test_dot_pipeline_limit_holds_within_one_read(self):
        """Issue 15 finding 9, DoT side: 300 queries in one write on one DoT connection (one
        TLS record decrypts to ~1000 small queries) reach the slow upstream at most 32 at a
        time; the rest wait, and every one is answered."""
        up = self.start_upstream(extra_records=EXTRA)
        slow = self.delay_line(up, 0.25)
        up_, d = self.start({"upstream": {"timeout": "2000", "query_timeout": "4000"}},
                            upstream=up, servers="127.0.0.1:%d" % slow.port)
        n = 300
        wires = b""
        for i in range(n):
            q = kgtest.make_query("pipe%d.kg.test." % i, "A")
            q.id = 1000 + i
            wires += kgtest.frame(q.to_wire())
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.create_connection(("127.0.0.1", self.dot), timeout=15)
        s = ctx.wrap_socket(raw, server_hostname=HOST)
        self.addCleanup(s.close)
        s.sendall(wires)
        got = set()
        while len(got) < n:
            w = kgtest.tcp_read_msg(s)
            self.assertIsNotNone(w, "connection closed after %d of %d answers" % (len(got), n))
            r = dns.message.from_wire(w)
            self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
            got.add(r.id)
        self.assertEqual(got, set(range(1000, 1000 + n)))
        self.assertLessEqual(slow.max_outstanding, 32,
                             "more queries of one connection in flight than the pipeline limit")
        self.assertGreaterEqual(slow.max_outstanding, 8, "the test did not pipeline at all")

    def test_upstream_dot_connection_full_opens_another(self):
        """Issue 15 finding 10: one DoT upstream connection carries at most 4096 questions
        (RS_DOT_UP_MAX_INFLIGHT, well below the 65536 message IDs, whose exhaustion made the
        ID search loop forever); past that the worker opens another connection. 4300 distinct
        questions to an upstream that never answers: two connections, none over the cap."""
        ucert, ukey = make_cert(self.pki, "upstream", ["DNS:up.kg.test"])
        hole = TlsBlackHole(ucert, ukey)
        self.addCleanup(hole.stop)
        up_, d = self.start({"upstream": {"tls_ca_file": self.ca, "timeout": "20000",
                                          "query_timeout": "30000"}},
                            probe="socket", servers="tls://127.0.0.1@%d#up.kg.test" % hole.port)
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(c.close)
        # one question first: its connection is up before the burst (the queue for a
        # handshake in progress holds only 64 KiB)
        c.sendto(kgtest.make_query("h0.kg.test.", "A").to_wire(), ("127.0.0.1", d.port))
        self.assertTrue(kgtest.wait_until(lambda: hole.total() >= 1, 10))
        n = 4300
        for i in range(1, n):
            c.sendto(kgtest.make_query("h%d.kg.test." % i, "A").to_wire(),
                     ("127.0.0.1", d.port))
        self.assertTrue(kgtest.wait_until(lambda: hole.total() >= n, 15),
                        "the upstream got %d of %d questions (per connection: %s)"
                        % (hole.total(), n, hole.per_conn))
        self.assertEqual(len(hole.per_conn), 2, hole.per_conn)
        self.assertEqual(hole.per_conn[0], 4096)
        self.assertTrue(d.alive())
        # the worker's loop still turns: what it answers itself is answered
        q = kgtest.make_query("x.kg.test.", "A")
        q.set_opcode(dns.opcode.STATUS)
        r = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3)
        self.assertEqual(r.rcode(), dns.rcode.NOTIMP)

    def test_upstream_dot_wrong_name_fails_closed(self):
        up = self.start_tls_upstream()
        up_, d = self.start({"upstream": {"tls_ca_file": self.ca, "timeout": "300",
                                          "query_timeout": "1000"}},
                            upstream=up, probe="socket",
                            servers="tls://127.0.0.1@%d#wrong.kg.test" % up.tls_port)
        r = query(d.port, "www.kg.test.", timeout=4)
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertEqual(up.count("www.kg.test", "A"), 0, "asked despite a bad certificate")
        log = d.log_text()
        self.assertIn("hostname mismatch", log)
        self.assertLess(log.count("hostname mismatch"), 10, "no backoff after a failure")

    # ---- TLS sessions and certificates
    def test_session_resumption(self):
        up, d = self.start()
        wire = kgtest.make_query("www.kg.test.", "A").to_wire()
        ctx = ssl.create_default_context(cafile=self.ca)
        reply, s = dot_query_raw(self.dot, wire, self.ca, ctx=ctx)
        self.assertIsNotNone(reply)
        sess = s.session
        s.close()
        reply, s2 = dot_query_raw(self.dot, wire, self.ca, session=sess, ctx=ctx)
        self.assertIsNotNone(reply)
        self.assertTrue(s2.session_reused, "the ticket was not accepted")
        s2.close()

    def test_sighup_reloads_certificate_keeping_connections(self):
        up, d = self.start()
        wire = kgtest.make_query("www.kg.test.", "A").to_wire()
        reply, old = dot_query_raw(self.dot, wire, self.ca)
        serial_old = old.getpeercert()["serialNumber"]
        make_cert(self.pki, "server", ["DNS:" + HOST, "DNS:*." + HOST, "IP:127.0.0.1"])
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: "certificate reloaded" in d.log_text(), 5))
        old.sendall(kgtest.frame(wire))  # the open connection keeps working
        self.assertIsNotNone(kgtest.tcp_read_msg(old))
        old.close()
        reply, new = dot_query_raw(self.dot, wire, self.ca)
        self.assertNotEqual(new.getpeercert()["serialNumber"], serial_old)
        new.close()
        # a broken file keeps the running certificate
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: "keeping the running certificate"
                                          in d.log_text(), 5))
        self.assertStillAnswering(d)

    # ---- adversarial clients
    def test_stalled_and_garbage_handshakes(self):
        up, d = self.start({"server": {"tcp_idle_timeout": "2"}})
        stalled = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.dot), timeout=3)
            s.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
            stalled.append(s)
        g = socket.create_connection(("127.0.0.1", self.dot), timeout=3)
        g.sendall(os.urandom(2000))
        self.assertEqual(g.recv(4096)[:1] in (b"", b"\x15"), True)  # an alert or a close
        g.close()
        h = socket.create_connection(("127.0.0.1", self.doh), timeout=3)
        h.sendall(b"GET /dns-query HTTP/1.1\r\n\r\n")  # HTTP without TLS
        h.settimeout(3)
        self.assertIn(h.recv(4096)[:1], (b"", b"\x15"))
        h.close()
        self.assertStillAnswering(d)
        # the stalled ones are dropped after the handshake deadline
        for s in stalled:
            s.settimeout(5)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
            s.close()

    def h2_connect(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.doh), timeout=5),
                            server_hostname=HOST)
        self.assertEqual(s.selected_alpn_protocol(), "h2")
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, b""))
        return s

    def test_http2_protocol_violations(self):
        up, d = self.start()
        # DATA on stream 0 is a connection error: GOAWAY, then close
        s = self.h2_connect()
        s.sendall(h2_frame(0, 0, 0, b"xxxx"))
        data = read_all(s)
        self.assertIn(7, [t for t, _ in h2_frames(data)], "no GOAWAY")
        s.close()
        # garbage instead of the preface
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.doh), timeout=5),
                            server_hostname=HOST)
        s.sendall(os.urandom(500))
        read_all(s)
        s.close()
        self.assertStillAnswering(d)

    def test_oversized_doh_bodies(self):
        up, d = self.start()
        # HTTP/2: a POST whose body passes 65535 bytes gets 413
        s = self.h2_connect()
        hdrs = (b"\x83\x87" + hpack_lit(4, b"/dns-query") + hpack_lit(1, HOST.encode()) +
                b"\x0f\x10" + bytes([len(b"application/dns-message")]) +
                b"application/dns-message")
        s.sendall(h2_frame(1, 0x4, 1, hdrs))
        chunk = b"\0" * 16384
        for i in range(4):
            s.sendall(h2_frame(0, 0, 1, chunk))
            time.sleep(0.05)  # pacing: the body arrives in separate DATA frames
        s.sendall(h2_frame(0, 0x1, 1, b"\0" * 10))
        data = read_all(s, 2)
        self.assertIn(b"413", data)
        s.close()
        # HTTP/1.1: a Content-Length above the cap gets 413 and a close
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.doh), timeout=5),
                            server_hostname=HOST)
        s.sendall(b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/dns-message\r\nContent-Length: 70000\r\n\r\n" + b"\0" * 1000)
        self.assertTrue(read_all(s).startswith(b"HTTP/1.1 413"))
        s.close()
        self.assertStillAnswering(d)

    # ---- counters
    # ---- PROXY v2 before the TLS handshake (issue 19)
    def tls_via_front(self, port, header, source, alpn=None):
        """A TLS connection from `source` that sends `header` in clear before the
        ClientHello, as dnsdist does towards a DoT/DoH backend."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if alpn:
            ctx.set_alpn_protocols([alpn])
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(5)
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        if header:
            raw.sendall(header)
        return ctx.wrap_socket(raw, server_hostname=HOST)

    def dot_via_front(self, header, source, name="bad.kg.test."):
        s = self.tls_via_front(self.dot, header, source)
        try:
            s.sendall(kgtest.frame(kgtest.make_query(name, "A").to_wire()))
            return dns.message.from_wire(kgtest.tcp_read_msg(s))
        finally:
            s.close()

    def doh_via_front(self, header, source, name="bad.kg.test."):
        s = self.tls_via_front(self.doh, header, source, alpn="http/1.1")
        try:
            wire = kgtest.make_query(name, "A").to_wire()
            s.sendall(b"POST /dns-query HTTP/1.1\r\nHost: " + HOST.encode() +
                      b"\r\nContent-Type: application/dns-message\r\nContent-Length: " +
                      str(len(wire)).encode() + b"\r\nConnection: close\r\n\r\n" + wire)
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(b" 200 ", head.split(b"\r\n")[0])
            return dns.message.from_wire(body)
        finally:
            s.close()

    def test_proxy_v2_on_dot_and_doh(self):
        front = "127.0.0.10"

        def header(src, dport):
            body = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + \
                struct.pack(">HH", 40000, dport)
            return b"\r\n\r\n\0\r\nQUIT\n" + bytes([0x21, 0x11]) + \
                struct.pack(">H", len(body)) + body

        # kids by address (adult blocked); the front itself is not even allowed: only the
        # clients its headers name must be.
        d = self.family({"server": {"proxy_from": front + "/32"},
                         "access": {"allow": "127.0.0.1/32, 127.0.0.2/32, 127.0.0.3/32"}})
        for via, port in ((self.dot_via_front, self.dot), (self.doh_via_front, self.doh)):
            # The header's client address drives the profile: the child's is blocked ...
            r = via(header(CHILD_ADDR, port), front)
            self.assertEqual(answer_rdata(r, "A"), {"0.0.0.0"}, via.__name__)
            # ... another subscriber behind the same front is not.
            r = via(header("127.0.0.3", port), front)
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.66"}, via.__name__)
            # A client the header names outside [access] allow gets no handshake.
            with self.assertRaises((ssl.SSLError, OSError, ConnectionError)):
                via(header("127.0.0.9", port), front)
            # The front must send the header: without one the connection is closed.
            with self.assertRaises((ssl.SSLError, OSError, ConnectionError)):
                via(b"", front)
            # Anyone else sending a header is refused: it would claim the child's profile
            # away, or a stranger's.
            with self.assertRaises((ssl.SSLError, OSError, ConnectionError)):
                via(header("127.0.0.3", port), "127.0.0.1")
            # Direct clients still work without one.
            r = via(b"", "127.0.0.1")
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.66"}, via.__name__)
        # (refusals are logged at most once per 10 s, whichever comes first)
        self.assertIn("PROXY", d.log_text())
        self.assertStillAnswering(d)

    def test_metrics_per_transport(self):
        port = kgtest.free_port(False)
        up, d = self.start({"http": {"listen": "127.0.0.1:%d" % port}})
        self.kdig(d, "www.kg.test", "+tls-hostname=" + HOST)
        self.kdig(d, "www.kg.test", "+tls-hostname=" + HOST, "+https")
        query(d.port, "www.kg.test.")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
        for t in ("udp", "dot", "doh"):
            line = [x for x in text.splitlines()
                    if x.startswith('kidguard_queries_total{transport="%s"}' % t)]
            self.assertTrue(line and int(line[0].split()[-1]) >= 1, (t, line))


def h2_frame(ftype, flags, stream, payload):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            stream.to_bytes(4, "big") + payload)


def hpack_lit(index, value):
    """Literal header without indexing, name from the static table (index < 15)."""
    return bytes([index, len(value)]) + value


def h2_frames(data):
    out, i = [], 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        out.append((data[i + 3], data[i + 9:i + 9 + n]))
        i += 9 + n
    return out


def read_all(s, timeout=3):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ssl.SSLError, ConnectionResetError):
        pass
    return data


if __name__ == "__main__":
    kgtest.main()
