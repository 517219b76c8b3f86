#!/usr/bin/python3
"""DoH over HTTP/1.1 under pipelining, and the bounds on pending DoH/DoT questions (issue 15,
findings 1 and 6), against the real daemon over real TLS sockets.

* finding 1: one slow question (the upstream sits behind a DelayLine) followed by 500 pipelined
  GETs on one HTTP/1.1 connection. The parser used to call itself once per buffered request
  when the slow answer came back (16 KiB on the stack per level): the worker's stack overflowed
  and the daemon died. Now every request is answered, in order, and the daemon lives.
* the per-connection bound: with an upstream that never answers, a connection holds at most
  RS_DOH_MAX_INFLIGHT (100) requests; reading pauses, the rest wait in the socket.
* finding 6: [tls] max_pending bounds the DoH requests and DoT questions waiting for the
  upstream across all connections: beyond it DoH gets 503 and DoT SERVFAIL, counted in
  kidguard_tls_pending_refused_total; kidguard_tls_pending shows the current number. Blocks
  and cache hits need no upstream: they are answered with the bound full.
* finding 6: [ratelimit] applies to DoH and DoT clients too; over the limit they get REFUSED
  (never TC, which means nothing on a stream).
* DoT's per-connection limit (32) resumes reading when answers drain (it used to spin).
* finding 6: answers made behind a slow HTTP/1.1 request wait for their turn; a connection takes
  no new request while it holds RS_DOH_HELD_MAX (256 KiB) of them, or of ciphertext not yet
  sent, so one slow question and 99 GETs for a ~50 KB answer cost ~300 KB, not ~5 MB.
"""

import base64
import os
import socket
import ssl
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, make_query, query, wait_until  # noqa: E402
from test_tls import HOST, KDIG, make_ca, make_cert  # noqa: E402


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


class Gate(kgtest.DelayLine):
    """The DelayLine's relay, holding every question while `opened` is clear (a bounded
    wait, not a sleep): an upstream that is slow exactly as long as a test needs."""

    def __init__(self, upstream_port):
        self.opened = threading.Event()
        self.opened.set()
        super().__init__(upstream_port, 0)

    def _relay(self, data, peer):
        self.opened.wait(30)
        super()._relay(data, peer)


class TcpGate(Gate):
    """A Gate that also relays DNS over TCP, ungated, on the same port number: the daemon's
    retry after a truncated UDP answer (a large TXT) reaches the upstream through it."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self._tt = threading.Thread(target=self._accept, daemon=True)
        self._tt.start()

    def _accept(self):
        while not self._stop:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with s:
                try:
                    s.settimeout(5)
                    q = kgtest.tcp_read_msg(s)
                    u = kgtest.tcp_connect(self.up[1])
                    with u:
                        u.sendall(kgtest.frame(q))
                        s.sendall(kgtest.frame(kgtest.tcp_read_msg(u)))
                except OSError:
                    pass

    def stop(self):
        super().stop()
        self._tt.join(2)
        self.lsock.close()


def huge_txt_records(n=190):
    """huge.kg.test: n TXT strings of 250 octets, an answer of ~50 KB (cached: under
    RS_MAX_MSG and RS_MAX_TTL_OFFS records)."""
    return [("huge.kg.test.", "TXT", 300, '"h%03d-%s"' % (i, "y" * 245)) for i in range(n)]


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class H2:
    """Just enough HTTP/2 over a TLS socket to send GETs and to hold the answers back with
    flow control (no h2 module here): literal HPACK headers, frames read whole."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, sock, window):
        self.s = sock
        self.buf = b""
        self.s.sendall(self.PREFACE + self.frame(4, 0, 0, self.setting(4, window)))
        while True:  # the server's SETTINGS, which we must acknowledge
            t, f, sid, _ = self.read()
            if t == 4 and not f & 1:
                break
        self.s.sendall(self.frame(4, 1, 0, b""))

    @staticmethod
    def frame(ftype, flags, sid, payload):
        return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + \
            sid.to_bytes(4, "big") + payload

    @staticmethod
    def setting(ident, value):
        return ident.to_bytes(2, "big") + value.to_bytes(4, "big")

    @staticmethod
    def _lit(name, value):
        assert len(name) < 127 and len(value) < 127
        return bytes([0, len(name)]) + name + bytes([len(value)]) + value

    def get(self, sid, path):
        block = b"".join(self._lit(n, v) for n, v in (
            (b":method", b"GET"), (b":scheme", b"https"), (b":authority", HOST.encode()),
            (b":path", path)))
        return self.frame(1, 0x5, sid, block)  # END_STREAM | END_HEADERS

    def _need(self, n):
        while len(self.buf) < n:
            b = self.s.recv(65536)
            if not b:
                raise EOFError("connection closed")
            self.buf += b

    def read(self):
        self._need(9)
        n = int.from_bytes(self.buf[:3], "big")
        self._need(9 + n)
        t, f = self.buf[3], self.buf[4]
        sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
        return t, f, sid, payload


def doh_path(name, qid=0, rdtype="A"):
    wire = make_query(name, rdtype)
    wire.id = qid
    return b"/dns-query?dns=" + base64.urlsafe_b64encode(wire.to_wire()).rstrip(b"=")


def get_request(name, qid=0, rdtype="A"):
    wire = make_query(name, rdtype)
    wire.id = qid
    b64 = base64.urlsafe_b64encode(wire.to_wire()).rstrip(b"=")
    return b"GET /dns-query?dns=" + b64 + b" HTTP/1.1\r\nHost: x\r\n\r\n"


class Responses:
    """Reads HTTP/1.1 responses (Content-Length bodies) off one connection."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def _fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("connection closed")
        self.buf += b

    def next(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        clen = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v.strip())
        while len(rest) < clen:
            self._fill()
            head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.buf = rest[clen:]
        return status, rest[:clen]


class DohH1Test(kgtest.KGTestCase):

    def setUp(self):
        self.pki = os.path.join(self.tmp, "pki")
        os.makedirs(self.pki)
        self.ca = make_ca(self.pki)
        self.cert, self.key = make_cert(self.pki, "server",
                                        ["DNS:" + HOST, "DNS:*." + HOST, "IP:127.0.0.1"])

    def start(self, servers, extra=None, probe="dns"):
        self.dot = kgtest.free_port(False)
        self.doh = kgtest.free_port(False)
        self.http = kgtest.free_port(False)
        o = {
            "tls": {"listen_dot": "127.0.0.1:%d" % self.dot,
                    "listen_doh": "127.0.0.1:%d" % self.doh,
                    "cert": self.cert, "key": self.key, "hostname": HOST},
            "http": {"listen": "127.0.0.1:%d" % self.http},
            "profile default": {"block": "none"},
        }
        for sec, kv in (extra or {}).items():
            o.setdefault(sec, {}).update(kv)
        d = self.start_daemon(servers, o, v6=False, probe=probe)
        # probe="socket" only sees the DNS port: also wait for the DoH listener and /metrics.
        self.assertTrue(wait_until(lambda: self._up(self.doh) and self._up(self.http), 10),
                        "DoH listener or /metrics not up")
        return d

    @staticmethod
    def _up(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def connect(self, alpn="http/1.1", port=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        if alpn:
            ctx.set_alpn_protocols([alpn])
        raw = socket.create_connection(("127.0.0.1", port or self.doh), timeout=10)
        return ctx.wrap_socket(raw, server_hostname=HOST)

    def metric(self, name):
        return metrics(self.http).get(name, 0.0)

    def kdig_doh(self, name):
        """One DoH question over HTTP/2 (kdig +https)."""
        return kgtest.run_cmd([KDIG, "@127.0.0.1", "-p", str(self.doh), "+tls-ca=" + self.ca,
                               "+tls-hostname=" + HOST, "+https", "+time=3", "+retry=0",
                               name, "A"], timeout=15)

    def probe(self, d):
        """A round trip through the worker that needs no upstream (opcode STATUS: NOTIMP):
        whatever a client sent before it has been read by then."""
        m = make_query("probe.kg.test.", "A")
        m.set_opcode(dns.opcode.STATUS)
        self.assertIsNotNone(kgtest.udp_raw(d.port, m.to_wire(), timeout=5))

    def test_pipelined_gets_behind_a_slow_question(self):
        """Finding 1: 500 pipelined GETs queued behind one slow question are answered in
        order once it returns; the daemon does not recurse itself to death."""
        up = self.start_upstream()
        slow = self.delay_line(up, 1.0)
        d = self.start("127.0.0.1:%d" % slow.port, probe="socket",
                       extra={"upstream": {"timeout": "3000", "query_timeout": "6000"}})
        # Cache www.kg.test so that every pipelined GET is answered without the upstream.
        r = query(d.port, "www.kg.test.", timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        s = self.connect()
        n = 500
        s.sendall(get_request("txt.kg.test.", 1) +
                  b"".join(get_request("www.kg.test.", 2 + i) for i in range(n)))
        resp = Responses(s)
        status, body = resp.next()
        self.assertEqual(status, 200)
        self.assertEqual(dns.message.from_wire(body).id, 1)
        for i in range(n):
            status, body = resp.next()
            self.assertEqual(status, 200, "response %d" % i)
            m = dns.message.from_wire(body)
            self.assertEqual(m.id, 2 + i, "answers out of order")
            self.assertEqual(kgtest.answer_rdata(m, "A"), {"192.0.2.1"})
        s.close()
        self.assertTrue(d.alive(), "kidguard died (rc=%s)" % d.proc.poll())
        self.assertAliveAndAnswering(d)

    def test_pipeline_bound_per_connection(self):
        """At most 100 requests of one HTTP/1.1 connection wait at once; the rest stay unread
        until answers drain, and the connection still works afterwards."""
        bh = self.blackhole()
        d = self.start("127.0.0.1:%d" % bh.port, probe="socket",
                       extra={"upstream": {"timeout": "300", "query_timeout": "1500"}})
        s = self.connect()
        n = 300
        s.sendall(b"".join(get_request("n%d.pipe.kg.test." % i, i) for i in range(n)))
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") >= 100, 5),
                        "requests never reached the per-connection bound")
        # Another client is served meanwhile; by then the pipelining one has had every chance
        # to push past the bound.
        self.probe(d)
        self.assertEqual(self.metric("kidguard_tls_pending"), 100)
        # The upstream never answers: each question gets SERVFAIL at query_timeout, and the
        # connection moves on to the rest, in order.
        resp = Responses(s)
        for i in range(n):
            status, body = resp.next()
            self.assertEqual(status, 200)
            m = dns.message.from_wire(body)
            self.assertEqual(m.id, i)
            self.assertEqual(m.rcode(), dns.rcode.SERVFAIL)
        s.close()
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == 0, 5))
        self.assertTrue(d.alive())

    def test_dot_pipeline_resumes(self):
        """DoT, 40 slow questions pipelined on one connection (limit 32): when the first
        answers come back reading resumes and every question is answered. The limit used to
        count the reference taken around a read: one below it, reading stopped and restarted
        forever and the worker hung."""
        up = self.start_upstream()
        slow = self.delay_line(up, 0.5)
        d = self.start("127.0.0.1:%d" % slow.port, probe="socket",
                       extra={"upstream": {"timeout": "3000", "query_timeout": "6000"}})
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.dot), timeout=10),
                            server_hostname=HOST)
        k = 40
        wires = []
        for i in range(k):
            m = make_query("n%d.kg.test." % (i + 1), "A")
            m.id = i
            wires.append(kgtest.frame(m.to_wire()))
        t.sendall(b"".join(wires))
        got = {}
        for _ in range(k):
            m = dns.message.from_wire(kgtest.tcp_read_msg(t))
            got[m.id] = kgtest.answer_rdata(m, "A")
        t.close()
        self.assertEqual(got, {i: {"198.51.100.%d" % (i + 1)} for i in range(k)})
        self.assertAliveAndAnswering(d)

    def test_dot_pipeline_bound(self):
        """DoT, 40 questions in one write to an upstream that never answers: 32 wait, the
        rest stay unread (they used to be taken with the read that carried them)."""
        bh = self.blackhole()
        d = self.start("127.0.0.1:%d" % bh.port, probe="socket",
                       extra={"upstream": {"timeout": "3000", "query_timeout": "6000"}})
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.dot), timeout=10),
                            server_hostname=HOST)
        t.sendall(b"".join(kgtest.frame(make_query("q%d.dot.kg.test." % i, "A").to_wire())
                           for i in range(40)))
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") >= 32, 5))
        self.probe(d)
        self.assertEqual(self.metric("kidguard_tls_pending"), 32)
        t.close()
        self.assertTrue(d.alive())

    def test_global_pending_bound(self):
        """Finding 6: [tls] max_pending = 20 over two DoH connections and a DoT one: beyond it
        DoH answers 503 and DoT SERVFAIL at once, the refusals are counted."""
        bh = self.blackhole()
        d = self.start("127.0.0.1:%d" % bh.port, probe="socket",
                       extra={"tls": {"max_pending": "20"},
                              "upstream": {"timeout": "3000", "query_timeout": "6000"}})
        a = self.connect()
        a.sendall(b"".join(get_request("a%d.kg.test." % i, i) for i in range(15)))
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == 15, 5))
        b = self.connect()
        b.sendall(b"".join(get_request("b%d.kg.test." % i, i) for i in range(10)))
        self.assertTrue(wait_until(
            lambda: self.metric("kidguard_tls_pending_refused_total") >= 5, 5))
        self.assertEqual(self.metric("kidguard_tls_pending"), 20)
        # b's first five are waiting; its last five were refused and queue behind them, so
        # only a's questions and b's first five reach the upstream.
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.dot), timeout=5),
                            server_hostname=HOST)
        t.sendall(kgtest.frame(make_query("c.kg.test.", "A").to_wire()))
        m = dns.message.from_wire(kgtest.tcp_read_msg(t))
        self.assertEqual(m.rcode(), dns.rcode.SERVFAIL)
        self.assertEqual(self.metric("kidguard_tls_pending_refused_total"), 6)
        # A fresh DoH connection asking beyond the bound gets 503 first thing.
        c = self.connect()
        c.sendall(get_request("c.kg.test.", 7))
        status, _ = Responses(c).next()
        self.assertEqual(status, 503)
        for s in (a, b, c, t):
            s.close()
        self.assertTrue(d.alive())

    def test_pending_bound_spares_blocks_and_cache(self):
        """The bound counts only questions that wait for the upstream: with it full (a held
        upstream, max_pending 16), a cached name and a blocked one are still answered over
        DoH (HTTP/1.1 and HTTP/2) and DoT; an uncached one is refused (503, SERVFAIL) and counted. The bound used to
        be checked before the cache and the blocklist, so a flood of new names cost every
        DoH/DoT client even the answers kidguard had."""
        up = self.start_upstream()
        gate = Gate(up.port)
        self.addCleanup(gate.stop)
        self.addCleanup(gate.opened.set)  # runs first: let held questions go before stop
        d = self.start("127.0.0.1:%d" % gate.port, probe="socket",
                       extra={"tls": {"max_pending": "16"},
                              "profile default": {"block": "adult", "action": "sinkhole"},
                              "upstream": {"timeout": "3000", "query_timeout": "6000"}})
        r = kgtest.run_ctl(["deny", "add", "bad.kg.test", "--category", "adult"],
                           state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Cache www.kg.test while the upstream still answers; see the block take effect.
        r = query(d.port, "www.kg.test.", timeout=5)
        self.assertEqual(kgtest.answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertTrue(wait_until(lambda: kgtest.answer_rdata(
            query(d.port, "bad.kg.test.", timeout=5), "A") == {"0.0.0.0"}, 5))
        gate.opened.clear()
        a = self.connect()
        a.sendall(b"".join(get_request("f%d.kg.test." % i, i) for i in range(16)))
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == 16, 5))
        self.assertEqual(self.metric("kidguard_tls_pending_refused_total"), 0)
        # DoH, one connection: cached, blocked, then a new name.
        c = self.connect()
        c.sendall(get_request("www.kg.test.", 1) + get_request("bad.kg.test.", 2) +
                  get_request("new1.kg.test.", 3))
        resp = Responses(c)
        for want in ("192.0.2.1", "0.0.0.0"):
            status, body = resp.next()
            self.assertEqual(status, 200)
            m = dns.message.from_wire(body)
            self.assertEqual((m.rcode(), kgtest.answer_rdata(m, "A")),
                             (dns.rcode.NOERROR, {want}))
        self.assertEqual(resp.next()[0], 503)
        self.assertEqual(self.metric("kidguard_tls_pending_refused_total"), 1)
        # DoT: the same.
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.dot), timeout=5),
                            server_hostname=HOST)
        for name, rcode, want in (("www.kg.test.", dns.rcode.NOERROR, {"192.0.2.1"}),
                                  ("bad.kg.test.", dns.rcode.NOERROR, {"0.0.0.0"}),
                                  ("new2.kg.test.", dns.rcode.SERVFAIL, set())):
            t.sendall(kgtest.frame(make_query(name, "A").to_wire()))
            m = dns.message.from_wire(kgtest.tcp_read_msg(t))
            self.assertEqual((m.rcode(), kgtest.answer_rdata(m, "A")), (rcode, want), name)
        self.assertEqual(self.metric("kidguard_tls_pending_refused_total"), 2)
        # DoH over HTTP/2 (kdig): the same; the 503 is a failed lookup for kdig.
        for name, want in (("www.kg.test", "192.0.2.1"), ("bad.kg.test", "0.0.0.0")):
            r = self.kdig_doh(name)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("status: NOERROR", r.stdout)
            self.assertIn(want, r.stdout)
        r = self.kdig_doh("new3.kg.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("(status: 503)", r.stdout + r.stderr)
        self.assertEqual(self.metric("kidguard_tls_pending_refused_total"), 3)
        # The bound was full throughout, and the refused names never reached the upstream.
        self.assertEqual(self.metric("kidguard_tls_pending"), 16)
        self.assertEqual(sum(gate.count("new%d.kg.test." % i) for i in (1, 2, 3)), 0)
        gate.opened.set()
        for s in (a, c, t):
            s.close()
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == 0, 10))
        self.assertTrue(d.alive())

    def test_answers_held_in_line_are_bounded(self):
        """Finding 6: over HTTP/1.1 answers leave in request order, so answers made behind a
        slow question wait in the daemon. One slow question, then 99 GETs for a cached ~50 KB
        TXT answer, on each of 8 connections, used to hold 8 x 99 answers (~39 MB); now a
        connection takes no new request once it holds RS_DOH_HELD_MAX (256 KiB) of answers:
        6 answers each (the 6th crosses the bound), the rest wait in the socket. When the slow
        question is answered every answer goes out, in order."""
        conns, per, held_max = 8, 99, 256 * 1024
        up = self.start_upstream(extra_records=huge_txt_records(), max_udp=1232)
        gate = TcpGate(up.port)
        self.addCleanup(gate.stop)
        self.addCleanup(gate.opened.set)  # runs first: let held questions go before stop
        d = self.start("127.0.0.1:%d" % gate.port, probe="socket",
                       extra={"upstream": {"timeout": "3000", "query_timeout": "6000"}})
        r = query(d.port, "huge.kg.test.", "TXT", tcp=True, timeout=5)
        want = kgtest.answer_rdata(r, "TXT")
        self.assertEqual(len(want), 190)
        size = len(r.to_wire())
        self.assertGreater(size, 45000)
        per_conn = -(-held_max // size)  # answers taken until the bound is crossed
        hits0 = self.metric("kidguard_cache_hits_total")
        rss0 = vm_rss_kib(d.proc.pid)
        gate.opened.clear()
        socks = []
        for c in range(conns):
            s = self.connect()
            s.sendall(get_request("slow%d.kg.test." % c, 0) +
                      b"".join(get_request("huge.kg.test.", i, "TXT") for i in range(1, per + 1)))
            socks.append(s)
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == conns, 10))
        self.assertTrue(wait_until(
            lambda: self.metric("kidguard_cache_hits_total") - hits0 >= conns * per_conn, 10))
        self.probe(d)  # whatever the worker would still take, it has taken by now
        self.assertEqual(self.metric("kidguard_cache_hits_total") - hits0, conns * per_conn)
        grown = vm_rss_kib(d.proc.pid) - rss0
        # 8 x 99 answers would be ~39 MB; the bound allows 8 x 6 (~2.4 MB) plus slack.
        self.assertLess(grown, 12 * 1024, "RSS grew by %d KiB" % grown)
        gate.opened.set()
        for c, s in enumerate(socks):
            resp = Responses(s)
            for i in range(per + 1):
                status, body = resp.next()
                self.assertEqual(status, 200)
                self.assertEqual(int.from_bytes(body[:2], "big"), i, "connection %d" % c)
                # Parsing all 792 answers costs seconds: the first and last in full, the
                # rest by their length (the same answer, only TTLs may differ).
                if i == 1:
                    first = len(body)
                if i in (1, per):
                    self.assertEqual(kgtest.answer_rdata(dns.message.from_wire(body), "TXT"),
                                     want)
                if i:
                    self.assertEqual(len(body), first)
            s.close()
        self.assertEqual(self.metric("kidguard_cache_hits_total") - hits0, conns * per)
        self.assertTrue(wait_until(lambda: self.metric("kidguard_tls_pending") == 0, 10))
        self.assertTrue(d.alive())

    def test_h2_answers_held_by_flow_control_are_bounded(self):
        """The HTTP/2 side of the same bound: a client that opens no window (initial window
        0) keeps every answer in the daemon. 100 streams for the ~50 KB TXT used to make 100
        answers at once; now streams that end while 256 KiB are held wait undispatched (6
        answers made), and all 100 are answered once the client opens its windows. With 100
        streams (RS_DOH_MAX_INFLIGHT) the daemon used to stop reading, and never saw the
        WINDOW_UPDATE that would let the answers out."""
        per, held_max = 100, 256 * 1024
        up = self.start_upstream(extra_records=huge_txt_records())
        gate = TcpGate(up.port)
        self.addCleanup(gate.stop)
        d = self.start("127.0.0.1:%d" % gate.port)
        r = query(d.port, "huge.kg.test.", "TXT", tcp=True, timeout=5)
        want = kgtest.answer_rdata(r, "TXT")
        size = len(r.to_wire())
        per_conn = -(-held_max // size)
        hits0 = self.metric("kidguard_cache_hits_total")
        h = H2(self.connect(alpn="h2"), 0)
        h.s.sendall(b"".join(h.get(2 * i + 1, doh_path("huge.kg.test.", i, "TXT"))
                             for i in range(per)))
        self.assertTrue(wait_until(
            lambda: self.metric("kidguard_cache_hits_total") - hits0 >= per_conn, 10))
        self.probe(d)
        self.assertEqual(self.metric("kidguard_cache_hits_total") - hits0, per_conn)
        # Open the windows: the connection's and, through the initial size, every stream's.
        h.s.sendall(h.frame(4, 0, 0, h.setting(4, 2 ** 31 - 1)) +
                    h.frame(8, 0, 0, (2 ** 31 - 1 - 65535).to_bytes(4, "big")))
        bodies = {}
        done = set()
        while len(done) < per:
            t, f, sid, payload = h.read()
            if t == 0:  # DATA
                bodies[sid] = bodies.get(sid, b"") + payload
                if f & 1:
                    done.add(sid)
        for i in range(per):
            body = bodies[2 * i + 1]
            self.assertEqual(int.from_bytes(body[:2], "big"), i)
            self.assertEqual(len(body), len(bodies[1]))
        for i in (0, per - 1):
            self.assertEqual(kgtest.answer_rdata(dns.message.from_wire(bodies[2 * i + 1]),
                                                 "TXT"), want)
        self.assertEqual(self.metric("kidguard_cache_hits_total") - hits0, per)
        h.s.close()
        # Streams waiting undispatched go with their connection, or alone when reset.
        h = H2(self.connect(alpn="h2"), 0)
        h.s.sendall(b"".join(h.get(2 * i + 1, doh_path("huge.kg.test.", i, "TXT"))
                             for i in range(per)))
        self.assertTrue(wait_until(
            lambda: self.metric("kidguard_cache_hits_total") - hits0 >= per + per_conn, 10))
        h.s.sendall(h.frame(3, 0, 2 * per - 1, (8).to_bytes(4, "big")))  # RST_STREAM, CANCEL
        # The reset stream's request is still alive (queued): one more stream would make 101
        # requests on the connection, and is refused (REFUSED_STREAM: the client may retry).
        h.s.sendall(h.get(2 * per + 1, doh_path("www.kg.test.")))
        while True:
            t, f, sid, payload = h.read()
            if t == 3 and sid == 2 * per + 1:
                self.assertEqual(int.from_bytes(payload, "big"), 7)
                break
        self.probe(d)
        h.s.close()
        self.probe(d)
        self.assertEqual(self.metric("kidguard_cache_hits_total") - hits0, per + per_conn)
        self.assertTrue(d.alive())

    def test_ratelimit_applies_to_doh_and_dot(self):
        """Finding 6: a DoH (and DoT) client over [ratelimit] qps gets REFUSED, counted in
        kidguard_ratelimited_total, and never TC."""
        up = self.start_upstream()
        d = self.start("127.0.0.1:%d" % up.port,
                       extra={"ratelimit": {"qps": "1", "burst": "10", "action": "truncate"}})
        s = self.connect()
        n = 60
        s.sendall(b"".join(get_request("www.kg.test.", i) for i in range(n)))
        resp = Responses(s)
        codes = []
        for i in range(n):
            status, body = resp.next()
            self.assertEqual(status, 200)
            m = dns.message.from_wire(body)
            self.assertEqual(m.id, i)
            self.assertFalse(m.flags & dns.flags.TC, "TC on a stream")
            codes.append(m.rcode())
        s.close()
        refused = codes.count(dns.rcode.REFUSED)
        self.assertGreaterEqual(refused, n - 15, codes)
        self.assertEqual(codes.count(dns.rcode.NOERROR) + refused, n)
        self.assertGreaterEqual(self.metric("kidguard_ratelimited_total"), refused)
        # DoT from the same client draws on the same bucket.
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.dot), timeout=5),
                            server_hostname=HOST)
        k = 20
        t.sendall(b"".join(kgtest.frame(make_query("www.kg.test.", "A").to_wire())
                           for _ in range(k)))
        dot = [dns.message.from_wire(kgtest.tcp_read_msg(t)) for _ in range(k)]
        t.close()
        self.assertFalse(any(m.flags & dns.flags.TC for m in dot), "TC on a stream")
        self.assertGreaterEqual(sum(m.rcode() == dns.rcode.REFUSED for m in dot), k - 5)
        # Plain TCP stays unlimited: it is where a truncated UDP client goes.
        r = query(d.port, "www.kg.test.", tcp=True, timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)

if __name__ == "__main__":
    kgtest.main()
