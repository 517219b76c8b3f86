#!/usr/bin/python3
"""ISP scale: a real dnsdist (packaging/dnsdist/dnsdist.conf, as shipped but for its settings
lines) in front of two kidguard nodes with the PROXY protocol v2, and the subscriber table.

* Two clients (127.0.0.2 and 127.0.0.3) get their own profiles through dnsdist: the nodes see
  the address in the PROXY header, not dnsdist's (127.0.0.10).
* One node stops: a bounded query loop through dnsdist keeps being answered by the other; the
  failures are counted (a failure: no answer after a stub resolver's three tries) and < 1%.
* A PROXY header from an address outside proxy_from is dropped (UDP) / closes the connection
  (TCP); a plain query from the trusted frontend's address, without a header, likewise.
* The subscriber table: 1,000,000 generated prefixes imported in one transaction, lookups in
  and outside them, one changed through the HTTP API and the next query follows it; the store
  size for 1M prefixes is printed and must stay under 100 MB.

Numbers go to stderr as "ISP: ..." lines (docs/capacity.md quotes them).
"""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, run_ctl  # noqa: E402

DNSDIST = shutil.which("dnsdist", path="/usr/bin:/usr/sbin:/bin:/sbin")
CONF = os.path.join(kgtest.REPO, "packaging", "dnsdist", "dnsdist.conf")
FRONT = "127.0.0.10"  # dnsdist's source address towards the nodes: the nodes' proxy_from
KIDS, OPEN = "127.0.0.2", "127.0.0.3"
BLOCKED = "n7.kg.test."  # denied (category adult) on both nodes
TOKEN = "isp-test-token"


def proxy_v2(src, sport=5300, dst="127.0.0.1", dport=53, dgram=True):
    """A PROXY v2 header naming (src, sport) as the client (IPv4)."""
    body = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport))
    fam = 0x12 if dgram else 0x11
    return (b"\r\n\r\n\0\r\nQUIT\n" + bytes([0x21, fam]) + struct.pack(">H", len(body)) + body)


def http(port, method, path, body=None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def stub_query(port, name, source, tries=3, timeout=0.4):
    """Like a stub resolver: up to `tries` attempts. Returns (response or None, attempts)."""
    for i in range(tries):
        try:
            return query(port, name, "A", source=source, timeout=timeout), i + 1
        except (dns.exception.Timeout, OSError):
            continue
    return None, tries


class Dnsdist:
    """dnsdist running the shipped config with its settings lines rewritten."""

    def __init__(self, workdir, nodes, check_name="www.kg.test."):
        self.port = kgtest.free_port(v6=False)
        with open(CONF) as f:
            text = f.read()
        sets = {
            "listen_addrs": '{ "127.0.0.1:%d" }' % self.port,
            "nodes": "{ %s }" % ", ".join('"127.0.0.1:%d"' % p for p in nodes),
            "source": '"%s"' % FRONT,
            "allow": '{ "127.0.0.0/8" }',
            "check_name": '"%s"' % check_name,
        }
        for k, v in sets.items():
            text, n = re.subn(r"(?m)^local %s = .*$" % k, "local %s = %s" % (k, v), text)
            assert n == 1, "the shipped dnsdist.conf lost its '%s' setting line" % k
        self.conf = os.path.join(workdir, "dnsdist.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.log = os.path.join(workdir, "dnsdist.log")
        self.proc = None

    def start(self):
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen([DNSDIST, "--supervised", "--disable-syslog", "-C",
                                      self.conf], stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._out.close()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


@kgtest.unittest.skipUnless(DNSDIST, "dnsdist not installed (packaging/install-deps.sh)")
class IspTest(kgtest.KGTestCase):

    def node(self, up, name, extra=None):
        over = {
            "server": {"proxy_from": FRONT + "/32", "workers": "2"},
            "profile kids": {"block": "adult", "action": "nxdomain", "clients": KIDS + "/32"},
            "profile open": {"block": "none", "clients": OPEN + "/32"},
            "profile default": {"block": "none"},
        }
        for sec, kv in (extra or {}).items():
            over.setdefault(sec, {}).update(kv)
        d = self.start_daemon("127.0.0.1:%d" % up.port, over, name=name, v6=False)
        rc = run_ctl(["deny", "add", BLOCKED.rstrip("."), "--category", "adult"],
                     state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        return d

    def front(self, nodes):
        dd = Dnsdist(self.tmp, [n.port for n in nodes])
        self.addCleanup(dd.stop)
        dd.start()

        def up():
            try:
                return query(dd.port, "www.kg.test.", "A", source=OPEN, timeout=0.3)
            except (dns.exception.Timeout, OSError):
                return None
        if not kgtest.wait_until(up, 10, 0.2):
            raise AssertionError("dnsdist did not answer\n" + dd.log_text()[-4000:])
        return dd

    def assertProfiles(self, port):
        r = query(port, BLOCKED, "A", source=KIDS)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NXDOMAIN", "kids profile: blocked")
        r = query(port, BLOCKED, "A", source=OPEN)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", "open profile: answered")
        self.assertEqual(kgtest.answer_rdata(r, "A"), {"198.51.100.7"})

    def test_profiles_and_failover_through_dnsdist(self):
        up = self.start_upstream()
        a, b = self.node(up, "node-a"), self.node(up, "node-b")
        dd = self.front([a, b])
        # Both nodes serve: each client gets its own profile, over UDP and TCP.
        for _ in range(4):
            self.assertProfiles(dd.port)
        r = kgtest.dns.query.tcp(kgtest.make_query(BLOCKED, "A"), "127.0.0.1", port=dd.port,
                                 source=KIDS, timeout=3)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NXDOMAIN", "kids over TCP")
        r = kgtest.dns.query.tcp(kgtest.make_query(BLOCKED, "A"), "127.0.0.1", port=dd.port,
                                 source=OPEN, timeout=3)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", "open over TCP")

        # Failover: a bounded loop paced at RATE queries a second, node A stops a third of
        # the way in; the 4 s after it span dnsdist's health checks (1 s) marking it down.
        rate, total, stop_at, failed, retried = 400, 2400, 800, 0, 0
        t0 = time.monotonic()
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing of the load generator at RATE a second
            if i == stop_at:
                a.stop()
            src = KIDS if i % 2 else OPEN
            r, tries = stub_query(dd.port, BLOCKED, src)
            retried += tries > 1
            want = "NXDOMAIN" if src == KIDS else "NOERROR"
            if r is None or dns.rcode.to_text(r.rcode()) != want:
                failed += 1
        secs = time.monotonic() - t0
        sys.stderr.write("ISP: failover: %d queries in %.1f s through dnsdist, node A stopped "
                         "after %d: %d failed (%.2f%%), %d needed a retry (%.2f%%)\n"
                         % (total, secs, stop_at, failed, 100.0 * failed / total, retried,
                            100.0 * retried / total))
        self.assertLess(failed / total, 0.01)
        self.assertTrue(kgtest.wait_until(lambda: "down" in dd.log_text().lower(), 5),
                        "dnsdist never marked node A down\n" + dd.log_text()[-3000:])
        self.assertNotIn("proxy", b.log_text().lower(), "node B refused PROXY traffic")
        self.assertProfiles(dd.port)  # node B alone still tells the clients apart

    def test_proxy_header_refusals(self):
        up = self.start_upstream()
        d = self.node(up, "node")
        q = kgtest.make_query("www.kg.test.", "A").to_wire()
        # A trusted header from the frontend's address is honoured (the control case).
        r = kgtest.udp_raw(d.port, proxy_v2(KIDS) + kgtest.make_query(BLOCKED, "A").to_wire(),
                           source=FRONT)
        self.assertIsNotNone(r)
        self.assertEqual(dns.rcode.to_text(dns.message.from_wire(r).rcode()), "NXDOMAIN")
        # A header from anyone else: dropped, not answered as a DNS message.
        self.assertIsNone(kgtest.udp_raw(d.port, proxy_v2(OPEN) + q, source="127.0.0.1",
                                         timeout=1))
        # A plain query from the frontend's address, without a header: dropped.
        self.assertIsNone(kgtest.udp_raw(d.port, q, source=FRONT, timeout=1))
        # A malformed header from the frontend: dropped.
        bad = proxy_v2(KIDS)[:14] + b"\xff\xff" + q
        self.assertIsNone(kgtest.udp_raw(d.port, bad, source=FRONT, timeout=1))
        # TCP: the same, the connection is closed without an answer.
        for src, payload in (("127.0.0.1", proxy_v2(OPEN, dgram=False) + kgtest.frame(q)),
                             (FRONT, kgtest.frame(q))):
            s = kgtest.tcp_connect(d.port, source=src, timeout=3)
            try:
                s.sendall(payload)
                self.assertIsNone(kgtest.tcp_read_msg(s), "answered %s over TCP" % src)
            finally:
                s.close()
        s = kgtest.tcp_connect(d.port, source=FRONT, timeout=3)
        try:  # the header in two pieces, then two pipelined queries: both answered
            h = proxy_v2(KIDS, dgram=False)
            s.sendall(h[:7])
            time.sleep(0.1)  # pacing: the second piece must arrive as its own segment
            s.sendall(h[7:] + kgtest.frame(kgtest.make_query(BLOCKED, "A").to_wire()) +
                      kgtest.frame(q))
            rc = {dns.rcode.to_text(dns.message.from_wire(kgtest.tcp_read_msg(s)).rcode())
                  for _ in range(2)}
            self.assertEqual(rc, {"NXDOMAIN", "NOERROR"})
        finally:
            s.close()
        # Plain clients are unaffected.
        r = query(d.port, "www.kg.test.", "A", source=OPEN)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertIn("proxy", d.log_text().lower())

    def test_subscriber_table_million(self):
        up = self.start_upstream()
        http_port = kgtest.free_port(v6=False)
        d = self.node(up, "node", {"http": {"listen": "127.0.0.1:%d" % http_port,
                                            "token": TOKEN, "trust_loopback": "off"}})
        data = os.path.join(d.state, "data.mdb")
        size0 = os.path.getsize(data)
        # 1M prefixes: 999,999 /30s from 10.0.0.0 up to 10.61.8.248 (ascending),
        # one /24 for 127.0.0.0 (the loopback clients) naming "kids"; profiles alternate.
        path = os.path.join(self.tmp, "subscribers.txt")
        with open(path, "w") as f:
            for i in range(999999):
                a = 0x0a000000 + 4 * i
                f.write("%d.%d.%d.%d/30 %s\n" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                                                 a & 255, "kids" if i % 2 else "open"))
            f.write("127.0.0.0/24 kids\n")
        # A mistyped profile name is refused, naming the line, and nothing is stored (an ISP's
        # typo must not give subscribers a weaker profile); --allow-undefined stores it.
        typo = os.path.join(self.tmp, "typo.txt")
        with open(typo, "w") as f:
            f.write("10.200.0.0/30 kids\n# comment\n10.200.0.4/30 yuong\n")
        rc = run_ctl(["clients", "import", typo], config=d.conf)
        self.assertEqual(rc.returncode, 1, rc.stderr)
        self.assertIn("typo.txt:3: unknown profile 'yuong'", rc.stderr)
        self.assertIn("kids", rc.stderr.split("defines", 1)[1])  # the names it knows
        self.assertIn("nothing changed", rc.stderr)
        self.assertEqual(run_ctl(["clients", "count"], state=d.state).stdout.strip(), "0")
        rc = run_ctl(["clients", "set", "10.200.0.4/30", "yuong"], config=d.conf)
        self.assertEqual(rc.returncode, 1, rc.stderr)
        self.assertIn("unknown profile 'yuong'", rc.stderr)
        rc = run_ctl(["clients", "import", "--allow-undefined", typo], config=d.conf)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        self.assertIn("stored as --allow-undefined asked", rc.stderr)
        t0 = time.monotonic()
        rc = run_ctl(["clients", "import", path], config=d.conf, timeout=300)
        secs = time.monotonic() - t0
        self.assertEqual(rc.returncode, 0, rc.stderr)
        self.assertIn("the table holds 1000000", rc.stdout)
        size1 = os.path.getsize(data)
        du = subprocess.run(["du", "-k", data], stdout=subprocess.PIPE, text=True).stdout
        sys.stderr.write("ISP: subscriber import: 1,000,000 prefixes in %.1f s; data.mdb %.1f MB "
                         "-> %.1f MB (+%.1f MB, du %s kB)\n"
                         % (secs, size0 / 1e6, size1 / 1e6, (size1 - size0) / 1e6,
                            du.split()[0]))
        self.assertLess(size1 - size0, 100e6)
        # Lookups inside and outside.
        for ip, want in (("10.0.0.1", "open"), ("10.0.0.5", "kids"), ("10.61.8.249", "open"),
                         ("127.0.0.3", "kids")):
            out = run_ctl(["clients", "lookup", ip], state=d.state)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.split()[1], want, out.stdout)
        for ip in ("10.61.9.1", "11.0.0.1", "192.0.2.1", "2001:db8::1"):  # 10.61.9.1: past
            out = run_ctl(["clients", "lookup", ip], state=d.state)          # the last /30
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn("no prefix", out.stdout)
        # The running daemon follows the table: 127.0.0.3 is "kids" now (the table beats the
        # config's clients = OPEN), without a reload.
        r = query(d.port, BLOCKED, "A", source=OPEN)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NXDOMAIN", "table says kids")
        # One subscriber moves through the API (a RADIUS hook): the next query follows.
        st, body = http(http_port, "PUT", "/api/clients/127.0.0.3", {"profile": "open"})
        self.assertEqual(st, 201, body)
        self.assertTrue(body["profile_defined"])
        r = query(d.port, BLOCKED, "A", source=OPEN)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", "moved to open")
        r = query(d.port, BLOCKED, "A", source="127.0.0.4")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NXDOMAIN", "neighbour still kids")
        st, body = http(http_port, "GET", "/api/clients/127.0.0.3")
        self.assertEqual((st, body["profile"], body["prefix"]), (200, "open", "127.0.0.3/32"))
        # Without the token: refused.
        st, _ = http(http_port, "PUT", "/api/clients/127.0.0.3", {"profile": "kids"}, token=None)
        self.assertIn(st, (401, 403))
        # An unknown profile name is refused (400 naming the profiles the config defines)...
        st, body = http(http_port, "PUT", "/api/clients/127.0.0.3", {"profile": "nosuch"})
        self.assertEqual(st, 400, body)
        self.assertIn("unknown profile 'nosuch'", body["error"])
        self.assertIn("kids", body["error"])
        # ... unless asked for; then it falls back to the config's match, and is counted.
        st, body = http(http_port, "PUT", "/api/clients/127.0.0.3?allow_undefined=1",
                        {"profile": "nosuch"})
        self.assertEqual((st, body["profile_defined"]), (201, False))
        r = query(d.port, BLOCKED, "A", source=OPEN)
        self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", "config says open")
        st, body = http(http_port, "DELETE", "/api/clients/127.0.0.3")
        self.assertEqual(st, 200, body)
        st, body = http(http_port, "DELETE", "/api/clients/127.0.0.3")
        self.assertEqual(st, 404, body)
        st, body = http(http_port, "PUT", "/api/clients/10.0.0.1%2F8", {"profile": "kids"})
        self.assertEqual(st, 400, body)  # host bits past the length
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port) as m:
            metrics = m.read().decode()
        self.assertIn("kidguard_subscribers_entries 1000000", metrics)  # +1 nosuch, -1 del
        self.assertRegex(metrics, r"kidguard_subscriber_unknown_profile_total [1-9]")
        self.assertIn("subscriber table names profile 'nosuch'", d.log_text())


if __name__ == "__main__":
    kgtest.main()
