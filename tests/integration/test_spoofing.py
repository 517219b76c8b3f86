#!/usr/bin/python3
"""Spoofing resistance, measured (issue 8).

The upstream here is a Python UDP socket on loopback that records every query kidguard sends
it (message ID, source port, question) and answers it, so the test sees exactly what an
off-path attacker would have to guess:

* 1000 distinct uncached names: the 1000 upstream message IDs and source ports are spread
  uniformly: repeats close to the birthday expectation, a chi-square over 16 equal buckets
  below the 0.1% critical value, every ID bit set about half the time, source ports over most
  of the kernel's ephemeral range. The statistics are printed.
* Forged answers arriving *before* the real one are ignored and the real answer is what the
  client gets (and what is cached): wrong ID, wrong source port (another socket), wrong source
  address (127.0.0.2, same port), wrong question (name, type, class), QR=0 (the query echoed
  back). Each kind also alone, with no real answer ever: the client gets SERVFAIL, never the
  forgery.
* 0x20 case randomisation ([upstream] randomize_case = on): the letters of 300 upstream
  questions are upper case about half the time; a forgery that is right in everything but the
  question's case is ignored and the real answer wins (a forgery with the exact case is
  accepted, so the check can fail); an upstream that answers UDP in lower case is asked again
  over TCP once the try times out, and the client still gets the real answer.
"""
import collections
import math
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, make_query, answer_rdata, query  # noqa: E402

import dns.rrset  # noqa: E402

REAL = "192.0.2.77"
FAKE = "6.6.6.6"


class FakeUpstream:
    """Records each query (id, port, qname, qtype) and answers it.

    `forge(msg, peer)`: called before the real answer; returns True to withhold the real one.
    """

    def __init__(self, forge=None, delay=0.0):
        self.port = kgtest.free_port(v6=False)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.seen = []
        self.raw_names = []  # the question name's bytes as sent (0x20 test)
        self.lock = threading.Lock()
        self.lower_udp = False  # answer UDP with the question in lower case
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.tcp_queries = 0
        self.forge = forge
        self.delay = delay
        self._stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        self.tt = threading.Thread(target=self.run_tcp, daemon=True)
        self.tt.start()

    def answer(self, m, rdata=REAL, name=None, rdtype=None):
        r = dns.message.make_response(m)
        r.flags |= dns.flags.AA
        q = m.question[0]
        if q.rdtype == dns.rdatatype.A or rdtype is not None:
            r.answer.append(dns.rrset.from_text(name or q.name, 300, "IN", rdtype or "A", rdata))
        return r

    def run(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                m = dns.message.from_wire(data)
            except Exception:
                continue
            q = m.question[0]
            with self.lock:
                self.seen.append((m.id, peer[1], q.name.to_text().lower(), q.rdtype))
                self.raw_names.append(data[12:12 + len(q.name.to_wire())])
            withhold = self.forge(self, m, data, peer) if self.forge else False
            if withhold:
                continue
            if self.delay:
                time.sleep(self.delay)  # the fake slow upstream's delay: pacing
            w = self.answer(m).to_wire()
            if self.lower_udp:
                w = lower_question(w, q)
            self.sock.sendto(w, peer)

    def run_tcp(self):
        while not self._stop:
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(2)
                m = dns.message.from_wire(kgtest.tcp_read_msg(c) or b"")
                self.tcp_queries += 1
                w = self.answer(m).to_wire()
                c.sendall(struct.pack("!H", len(w)) + w)
            except (OSError, ValueError, dns.exception.DNSException):
                pass
            finally:
                c.close()

    def stop(self):
        self._stop = True
        self.t.join(2)
        self.tt.join(2)
        self.sock.close()
        self.tcp.close()


def lower_question(wire, q):
    """The answer `wire` with its question name's letters in lower case."""
    n = len(q.name.to_wire())
    return wire[:12] + wire[12:12 + n].lower() + wire[12 + n:]


def chi_square(values, buckets, lo, hi):
    counts = [0] * buckets
    width = (hi - lo + 1) / buckets
    for v in values:
        counts[min(buckets - 1, int((v - lo) / width))] += 1
    exp = len(values) / buckets
    return sum((c - exp) ** 2 / exp for c in counts), counts


def ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
            return int(lo), int(hi)
    except OSError:
        return 32768, 60999


# chi-square critical value, 15 degrees of freedom, p = 0.001
CHI2_15_P001 = 37.70


class SpoofingTest(kgtest.KGTestCase):

    def fake(self, **kw):
        f = FakeUpstream(**kw)
        self.addCleanup(f.stop)
        return f

    def test_ids_and_ports_are_spread(self):
        n = 1000
        up = self.fake()
        d = self.start_daemon("127.0.0.1:%d" % up.port, {"upstream": {"timeout": "2000"}},
                              probe="dns")
        # 1000 distinct names, 50 in flight at a time from one client socket
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(c.close)
        c.settimeout(3)
        answered = 0
        for base in range(0, n, 50):
            ids = {}
            for i in range(base, base + 50):
                q = make_query("r%d.spoof.test." % i, "A")
                ids[q.id] = i
                c.sendto(q.to_wire(), ("127.0.0.1", d.port))
            for _ in range(50):
                w, _ = c.recvfrom(65535)
                r = dns.message.from_wire(w)
                if answer_rdata(r, "A") == {REAL}:
                    answered += 1
        self.assertEqual(answered, n)
        with up.lock:
            seen = [s for s in up.seen if s[2].endswith("spoof.test.") and s[2].startswith("r")]
        self.assertEqual(len(seen), n, "expected one upstream query per distinct name")
        ids = [s[0] for s in seen]
        ports = [s[1] for s in seen]

        # --- IDs: 16 bits, uniform
        pairs_expected = n * (n - 1) / 2 / 65536.0
        id_repeats = n - len(set(ids))
        chi_id, id_counts = chi_square(ids, 16, 0, 65535)
        bit_ones = [sum((i >> b) & 1 for i in ids) for b in range(16)]
        # --- ports: the kernel's ephemeral range
        lo, hi = ephemeral_range()
        span = hi - lo + 1
        port_pairs_expected = n * (n - 1) / 2 / span
        port_repeats = n - len(set(ports))
        chi_port, port_counts = chi_square(ports, 16, lo, hi)
        max_run = max(collections.Counter(ports).values())
        consecutive = sum(1 for a, b in zip(ports, ports[1:]) if abs(a - b) <= 1)
        sys.stderr.write(
            "\nupstream query IDs (n=%d): %d distinct, %d repeats (birthday expectation %.1f), "
            "chi2(16 buckets)=%.1f (0.1%% critical %.1f), bit balance %d..%d of %d\n"
            "  buckets %s\n"
            "source ports: %d distinct, %d repeats (expectation %.1f over %d..%d), "
            "min %d max %d, chi2=%.1f, most-used port %d times, %d successive pairs within 1\n"
            "  buckets %s\n"
            % (n, len(set(ids)), id_repeats, pairs_expected, chi_id, CHI2_15_P001,
               min(bit_ones), max(bit_ones), n, id_counts,
               len(set(ports)), port_repeats, port_pairs_expected, lo, hi, min(ports),
               max(ports), chi_port, max_run, consecutive, port_counts))
        # Poisson(7.6): P(X > 25) < 1e-6
        self.assertLessEqual(id_repeats, pairs_expected + 18, "too many repeated IDs")
        self.assertLess(chi_id, CHI2_15_P001 * 1.3, "IDs not uniform: %s" % id_counts)
        sd = math.sqrt(n) / 2
        for b, ones in enumerate(bit_ones):
            self.assertLess(abs(ones - n / 2), 5 * sd, "ID bit %d set %d/%d times" % (b, ones, n))
        # ports: spread over the range, not sequential, few repeats
        self.assertGreater(max(ports) - min(ports), span * 0.8, "ports span too little")
        self.assertLessEqual(port_repeats, port_pairs_expected * 2 + 20, "too many port repeats")
        self.assertLess(chi_port, CHI2_15_P001 * 1.3, "ports not uniform: %s" % port_counts)
        self.assertLess(consecutive, 20, "source ports look sequential")
        self.assertAliveAndAnswering_fake(d)

    def assertAliveAndAnswering_fake(self, d):
        self.assertTrue(d.alive())
        r = query(d.port, "alive.spoof.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {REAL})

    # ------------------------------------------------------------------ forgeries
    def forger(self, kinds):
        """A forge callback sending every forgery of `kinds` before the real answer."""
        def forge(up, m, data, peer):
            q = m.question[0]
            for kind in kinds:
                bad = up.answer(m, FAKE)
                if kind == "wrong-id":
                    bad.id = (m.id + 1 + (m.id * 7919) % 65535) & 0xFFFF
                    up.sock.sendto(bad.to_wire(), peer)
                    bad.id = m.id ^ 0x0001
                    up.sock.sendto(bad.to_wire(), peer)
                elif kind == "wrong-port":
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind(("127.0.0.1", 0))
                    s.sendto(bad.to_wire(), peer)
                    s.close()
                elif kind == "wrong-address":
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind(("127.0.0.2", up.port))  # right port, wrong address
                    s.sendto(bad.to_wire(), peer)
                    s.close()
                elif kind == "wrong-name":
                    other = dns.message.make_query("x" + q.name.to_text(), "A")
                    other.id = m.id
                    r = up.answer(other, FAKE)
                    r.answer = [dns.rrset.from_text(q.name, 300, "IN", "A", FAKE)]
                    up.sock.sendto(r.to_wire(), peer)
                elif kind == "wrong-type":
                    other = dns.message.make_query(q.name, "AAAA")
                    other.id = m.id
                    r = up.answer(other, FAKE)
                    r.answer = [dns.rrset.from_text(q.name, 300, "IN", "A", FAKE)]
                    up.sock.sendto(r.to_wire(), peer)
                elif kind == "wrong-class":
                    w = bytearray(bad.to_wire())
                    qend = 12 + len(q.name.to_wire())
                    w[qend + 2:qend + 4] = b"\x00\x03"  # CH
                    up.sock.sendto(bytes(w), peer)
                elif kind == "qr-zero":
                    w = bytearray(bad.to_wire())
                    w[2] &= 0x7F
                    up.sock.sendto(bytes(w), peer)
                elif kind == "control":  # everything right: what a successful forgery is
                    up.sock.sendto(bad.to_wire(), peer)
                elif kind == "no-question":
                    w = bytearray(struct.pack("!HHHHHH", m.id, 0x8180, 0, 0, 0, 0))
                    up.sock.sendto(bytes(w), peer)
            time.sleep(0.05)  # fake upstream: forgeries leave first, the real answer later
            return self.withhold
        return forge

    KINDS = ["wrong-id", "wrong-port", "wrong-address", "wrong-name", "wrong-type",
             "wrong-class", "qr-zero", "no-question"]

    def test_forgeries_before_real_answer_are_ignored(self):
        self.withhold = False
        up = self.fake(forge=self.forger(self.KINDS))
        d = self.start_daemon("127.0.0.1:%d" % up.port)
        for i, kind in enumerate(self.KINDS + ["all"]):
            with self.subTest(kind=kind):
                up.forge = self.forger(self.KINDS if kind == "all" else [kind])
                name = "f%d-%s.spoof.test." % (i, kind)
                for tcp in (False, True):  # the second is served from the cache
                    r = query(d.port, name, "A", tcp=tcp, timeout=4)
                    self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                    self.assertEqual(answer_rdata(r, "A"), {REAL},
                                     "%s forgery accepted (tcp=%s)" % (kind, tcp))
        # control: a forgery that gets everything right wins, so the checks above can fail
        up.forge = self.forger(["control"])
        r = query(d.port, "control.spoof.test.", "A", timeout=4)
        self.assertEqual(answer_rdata(r, "A"), {FAKE}, "the forging harness does not work")
        up.forge = None
        self.assertAliveAndAnswering_fake(d)

    def test_forgeries_alone_never_accepted(self):
        """No real answer at all: each forgery kind alone ends in SERVFAIL at the query
        timeout, never in the forged address."""
        self.withhold = True
        up = self.fake()
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"upstream": {"timeout": "300", "query_timeout": "900"}})
        errs = []
        threads = []

        def one(i, kind):
            try:
                r = query(d.port, "g%d-%s.spoof.test." % (i, kind), "A", timeout=4)
                if answer_rdata(r, "A") or r.rcode() != dns.rcode.SERVFAIL:
                    errs.append("%s: %s %s" % (kind, dns.rcode.to_text(r.rcode()),
                                               answer_rdata(r, "A")))
            except Exception as e:  # noqa: BLE001
                errs.append("%s: %r" % (kind, e))
        up.forge = self.forger(self.KINDS)
        for i, kind in enumerate(self.KINDS):
            t = threading.Thread(target=one, args=(i, kind))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(10)
        self.assertEqual(errs, [])
        self.withhold = False
        up.forge = None
        self.assertAliveAndAnswering_fake(d)

    def test_0x20_case_randomisation(self):
        up = self.fake()
        http_port = kgtest.free_port(v6=False)
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"upstream": {"randomize_case": "on", "timeout": "400",
                                            "query_timeout": "3000"},
                               "http": {"listen": "127.0.0.1:%d" % http_port}})
        # 1. The case of the letters sent is random, and the answers are used.
        n = 300
        for i in range(n):
            r = query(d.port, "mixedcase%d.spoof.test." % i, "A", timeout=4)
            self.assertEqual(answer_rdata(r, "A"), {REAL})
        with up.lock:
            raw = [b for b in up.raw_names if b[1:10].lower() == b"mixedcase"]
        letters = [c for b in raw for c in b if chr(c).isalpha()]
        upper = sum(1 for c in letters if chr(c).isupper())
        frac = upper / len(letters)
        # 18 letters a name: 2^18 spellings, so 300 names should almost never repeat one
        patterns = len(set(bytes(c for c in b if chr(c).isalpha()) for b in raw))
        sys.stderr.write("\n0x20: %d questions, %d letters, %.1f%% upper case, %d distinct "
                         "spellings\n" % (len(raw), len(letters), 100 * frac, patterns))
        self.assertGreaterEqual(len(raw), n)
        self.assertTrue(0.45 < frac < 0.55, frac)
        self.assertGreaterEqual(patterns, len(raw) - 3, "case patterns repeat")

        # 2. A forgery right in everything but the case is ignored; the real answer wins.
        def wrong_case(u, m, data, peer):
            u.sock.sendto(lower_question(u.answer(m, FAKE).to_wire(), m.question[0]), peer)
            time.sleep(0.05)  # fake upstream: the forgery leaves before the real answer
            return False
        up.forge = wrong_case
        before = self._counter(http_port)
        for i in range(20):
            r = query(d.port, "wc%d.spoof.test." % i, "A", timeout=4)
            self.assertEqual(answer_rdata(r, "A"), {REAL}, "a wrong-case forgery was accepted")
        self.assertGreaterEqual(self._counter(http_port) - before, 20)

        # control: the same forgery with the exact case is accepted
        def right_case(u, m, data, peer):
            u.sock.sendto(u.answer(m, FAKE).to_wire(), peer)
            time.sleep(0.05)  # fake upstream: the forgery leaves before the real answer
            return False
        up.forge = right_case
        r = query(d.port, "rc.spoof.test.", "A", timeout=4)
        self.assertEqual(answer_rdata(r, "A"), {FAKE}, "the forging harness does not work")

        # 3. An upstream that lower-cases its UDP answers: asked again over TCP.
        up.forge = None
        up.lower_udp = True
        t0 = time.monotonic()
        r = query(d.port, "lowercasing.spoof.test.", "A", timeout=4)
        self.assertEqual(answer_rdata(r, "A"), {REAL})
        self.assertGreaterEqual(up.tcp_queries, 1, "no TCP retry")
        sys.stderr.write("lower-casing upstream: answered over TCP after %.2f s\n"
                         % (time.monotonic() - t0))
        up.lower_udp = False
        self.assertAliveAndAnswering_fake(d)

    def _counter(self, port):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("kidguard_upstream_case_mismatches_total "):
                    return float(line.split()[1])
        self.fail("kidguard_upstream_case_mismatches_total missing")

if __name__ == "__main__":
    kgtest.main()
