#!/usr/bin/python3
"""Adversarial traffic over UDP and TCP (issue 8): hand-built hostile packets and hostile
TCP clients against the real daemon, each followed by a normal query that must still get the
right answer.

What test_edns_malformed.py and test_tcp.py already cover is not repeated here (QDCOUNT 0/2
and unknown opcodes 2/15 over UDP, random garbage, idle timeout, the connection cap with a
few connections). This file adds:

* every malformed case over UDP *and* TCP, on one TCP connection that must stay usable;
* compression in the question (a pointer, a loop, an out-of-bounds pointer): FORMERR;
  compression in an additional record's owner is legal (backward pointer: answered),
  forward or looping pointers there are FORMERR;
* labels over 63 octets (the reserved 0x40/0x80 label types), names over 255 octets
  (and the 255-octet name itself accepted);
* OPT records with bad lengths (RDLEN past the end, an option past the RDATA, a truncated
  fixed part, a non-root owner), two OPTs, ARCOUNT larger than the records present;
* EDNS version 1: BADVERS (extended RCODE 16 split between header and OPT), OPT version 0;
* opcodes 1 (IQUERY), 4 (NOTIFY), 5 (UPDATE), 6 (DSO): NOTIMP, over TCP too;
* QR=1 over TCP: no answer; a forged "answer" sent to the listener does not poison the cache;
* TCP frames of length 0..11 (closed), a 65535-octet query (answered), 65535 octets of
  garbage, a frame announced and never completed;
* slow-drip TCP clients (closed at the idle timeout although they keep sending);
* 300 idle connections against tcp_max_connections=200: at most 200 held, UDP answered
  throughout, and TCP from another client served again long before the (30 s) idle timeout:
  at the cap, a connection quiet for a second makes room for a new one;
* a TCP client that pipelines thousands of queries and never reads: disconnected (256 KiB of
  unsent answers), while other clients are answered.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import (dns, query, answer_rdata, expected_rdata, make_query, udp_raw,  # noqa: E402
                    frame, tcp_connect, tcp_read_msg)

FORMERR, NOTIMP, NOERROR, NXDOMAIN = 1, 4, 0, 3


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def question(name="www.kg.test", qtype=1, qclass=1):
    return wire_name(name) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", rdlen=None):
    if rdlen is None:
        rdlen = len(rdata)
    return (b"\x00" + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, rdlen)
            + rdata)


def parse(w):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", w[:12])
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 0xF, "tc": (flags >> 9) & 1,
            "rcode": flags & 0xF, "qd": qd, "an": an, "ar": ar}


def closed_within(sock, timeout):
    """Seconds until the peer closed (EOF or reset), or None if still open after timeout.
    Data that arrives is read and discarded."""
    sock.settimeout(0.1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


# The malformed queries: (name, wire, expected rcode or None for "no answer").
def malformed_cases():
    q = question()
    long_label = b"\x40" + b"a" * 64 + b"\x02kg\x04test\x00\x00\x01\x00\x01"
    # 4 labels of 63 + 1 of 2 + root = 4*64 + 3 + 1 = 260 octets > 255
    too_long = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x02kg\x00" + b"\x00\x01\x00\x01"
    return [
        ("qdcount-0", header(0x1001, qd=0) + q, FORMERR),
        ("qdcount-2", header(0x1002, qd=2) + q + question("n1.kg.test"), FORMERR),
        ("qdcount-65535", header(0x1003, qd=65535) + q, FORMERR),
        ("ancount-1", header(0x1004, an=1) + q, FORMERR),
        ("nscount-1", header(0x1005, ns=1) + q, FORMERR),
        # compression in the question
        ("qname-pointer-to-header", header(0x1101) + b"\xc0\x00\x00\x01\x00\x01", FORMERR),
        ("qname-pointer-loop", header(0x1102) + b"\xc0\x0c\x00\x01\x00\x01", FORMERR),
        ("qname-pointer-after-label", header(0x1103) + b"\x03www\xc0\x0c\x00\x01\x00\x01",
         FORMERR),
        ("qname-pointer-out-of-bounds", header(0x1104) + b"\x03www\xff\xff\x00\x01\x00\x01",
         FORMERR),
        ("qname-pointer-truncated", header(0x1105) + b"\x03www\xc0", FORMERR),
        # labels and names
        ("label-type-0x40", header(0x1201) + long_label, FORMERR),
        ("label-type-0x80", header(0x1202) + b"\x80" + b"a" * 40 + b"\x00\x00\x01\x00\x01",
         FORMERR),
        ("name-over-255", header(0x1203) + too_long, FORMERR),
        ("name-unterminated", header(0x1204) + b"\x03www\x02kg", FORMERR),
        # additional section / OPT
        ("arcount-too-big", header(0x1301, ar=3) + q + opt(), FORMERR),
        ("opt-rdlen-past-end", header(0x1302, ar=1) + q + opt(rdlen=100), FORMERR),
        ("opt-option-past-rdata", header(0x1303, ar=1) + q +
         opt(rdata=struct.pack("!HH", 10, 20) + b"\x00" * 8), FORMERR),
        ("opt-option-header-cut", header(0x1304, ar=1) + q + opt(rdata=b"\x00\x0a\x00"),
         FORMERR),
        ("opt-fixed-part-cut", header(0x1305, ar=1) + q + opt()[:7], FORMERR),
        ("opt-owner-not-root", header(0x1306, ar=1) + q + b"\x01a" + opt()[1:], FORMERR),
        ("two-opts", header(0x1307, ar=2) + q + opt() + opt(), FORMERR),
        ("ecs-bad-length", header(0x1308, ar=1) + q +
         opt(rdata=struct.pack("!HHHBB", 8, 5, 1, 24, 0) + b"\x0a"), FORMERR),
        ("additional-forward-pointer", header(0x1309, ar=1) + q +
         b"\xc0\x30" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04", FORMERR),
        ("additional-pointer-loop", header(0x130a, ar=1) + q +
         b"\xc0\x1d" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04", FORMERR),
        ("additional-rdlen-past-end", header(0x130b, ar=1) + q +
         b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 400) + b"\x01\x02", FORMERR),
        # opcodes and QR
        ("opcode-1-iquery", header(0x1401, 0x0100 | (1 << 11)) + q, NOTIMP),
        ("opcode-4-notify", header(0x1404, 0x0100 | (4 << 11)) + q, NOTIMP),
        ("opcode-5-update", header(0x1405, 0x0100 | (5 << 11)) + q, NOTIMP),
        ("opcode-6-dso", header(0x1406, 0x0000 | (6 << 11), qd=0), NOTIMP),
        ("qr-set", header(0x1501, 0x8180, an=0) + q, None),
        ("qr-set-notify", header(0x1502, 0x8000 | (4 << 11)) + q, None),
    ]


class AdversarialPackets(kgtest.KGTestCase):
    """Malformed queries: the same verdict over UDP and TCP, the daemon keeps answering."""

    def setUp(self):
        self.up, self.d = self.start_pair()

    def tcp_answer(self, s, wire, timeout=2.0):
        s.settimeout(timeout)
        s.sendall(frame(wire))
        try:
            return tcp_read_msg(s)
        except socket.timeout:
            return None

    def check_reply(self, name, transport, w, wire, rcode):
        qid = struct.unpack("!H", wire[:2])[0]
        if rcode is None:
            self.assertIsNone(w, "%s over %s: answered a QR=1 packet" % (name, transport))
            return
        self.assertIsNotNone(w, "%s over %s: no reply (expected rcode %d)"
                             % (name, transport, rcode))
        h = parse(w)
        self.assertEqual(h["qr"], 1, name)
        self.assertEqual(h["id"], qid, "%s over %s: wrong ID" % (name, transport))
        self.assertEqual(h["rcode"], rcode, "%s over %s: rcode %d, expected %d"
                         % (name, transport, h["rcode"], rcode))
        self.assertEqual(h["an"], 0, name)
        if h["qd"]:
            # an echoed question is the client's own, uncompressed and well-formed
            m = dns.message.from_wire(w, question_only=True)
            self.assertEqual(len(m.question), 1)

    def test_malformed_udp_and_tcp(self):
        s = tcp_connect(self.d.port)
        self.addCleanup(s.close)
        for name, wire, rcode in malformed_cases():
            with self.subTest(case=name):
                w = udp_raw(self.d.port, wire, timeout=0.5 if rcode is None else 2.0)
                self.check_reply(name, "UDP", w, wire, rcode)
                w = self.tcp_answer(s, wire, timeout=0.5 if rcode is None else 2.0)
                self.check_reply(name, "TCP", w, wire, rcode)
                # the same TCP connection still answers a normal query
                q = make_query("www.kg.test.", "A")
                w = self.tcp_answer(s, q.to_wire())
                self.assertIsNotNone(w, "%s: TCP connection unusable afterwards" % name)
                r = dns.message.from_wire(w)
                self.assertEqual(r.id, q.id)
                self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertEqual(self.up.count("www.kg.test.", "A"), 1,
                         "a malformed packet reached the upstream")
        self.assertAliveAndAnswering(self.d)

    def test_badvers(self):
        """EDNS version 1: BADVERS = extended RCODE 16 (header 0, OPT upper bits 1), our OPT
        says version 0, the question is echoed; over UDP and TCP. Nothing is forwarded."""
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                q = make_query("n7.kg.test.", "A")
                q.use_edns(edns=1, payload=1232)
                self.assertEqual(q.to_wire()[-11:][6], 1, "not an EDNS version 1 query")
                if tcp:
                    r = dns.query.tcp(q, "127.0.0.1", port=self.d.port, timeout=3)
                else:
                    r = dns.query.udp(q, "127.0.0.1", port=self.d.port, timeout=3)
                self.assertEqual(r.rcode(), dns.rcode.BADVERS)
                self.assertEqual(r.flags & 0xF, 0, "header RCODE of BADVERS is the low 4 bits (0)")
                self.assertEqual(r.edns, 0, "BADVERS reply must carry our OPT, version 0")
                self.assertEqual((r.ednsflags >> 24) & 0xFF, 1, "extended RCODE bits != 1")
                self.assertEqual(len(r.question), 1)
                self.assertEqual(len(r.answer), 0)
        self.assertEqual(self.up.count("n7.kg.test."), 0, "a BADVERS query was forwarded")
        # version 0 on the same name is answered normally
        r = query(self.d.port, "n7.kg.test.", "A", edns=0)
        self.assertEqual(answer_rdata(r, "A"), expected_rdata("n7.kg.test.", "A"))

    def test_legal_compression_in_additional(self):
        """A non-OPT additional record whose owner is a backward pointer to the qname is legal:
        answered, and an OPT after it is still honoured."""
        wire = (header(0x2001, ar=2) + question() + b"\xc0\x0c" +
                struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04" + opt(payload=1232))
        for tcp in (False, True):
            if tcp:
                s = tcp_connect(self.d.port)
                self.addCleanup(s.close)
                w = self.tcp_answer(s, wire)
            else:
                w = udp_raw(self.d.port, wire)
            self.assertIsNotNone(w)
            r = dns.message.from_wire(w)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertEqual(r.edns, 0, "the OPT after a compressed additional was lost")
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})

    def test_name_of_255_octets_accepted(self):
        """Exactly 255 octets is legal: forwarded and answered (NXDOMAIN from the zone)."""
        # 3*64 + 58 + 4 (\x02kg) ... build labels to hit 255 exactly under kg.test.
        suffix = wire_name("kg.test")  # 9 octets
        labels = []
        left = 255 - len(suffix)
        while left > 0:
            n = min(63, left - 1)
            labels.append(b"%c" % n + b"b" * n)
            left -= n + 1
        qname = b"".join(labels) + suffix
        self.assertEqual(len(qname), 255)
        wire = header(0x2101) + qname + b"\x00\x01\x00\x01"
        w = udp_raw(self.d.port, wire)
        self.assertIsNotNone(w)
        self.assertEqual(parse(w)["rcode"], NXDOMAIN)
        m = dns.message.from_wire(w)
        self.assertEqual(len(m.question[0].name.to_wire()), 255)

    def test_forged_answer_to_listener_does_not_poison(self):
        """A QR=1 'answer' for www.kg.test sent to the listener (UDP and TCP) is neither
        answered nor cached: the next real query gets the zone's address."""
        fake = dns.message.make_response(make_query("www.kg.test.", "A"))
        fake.answer.append(dns.rrset.from_text("www.kg.test.", 86400, "IN", "A", "6.6.6.6"))
        wire = fake.to_wire()
        for _ in range(20):
            self.assertIsNone(udp_raw(self.d.port, wire, timeout=0.05))
        s = tcp_connect(self.d.port)
        self.addCleanup(s.close)
        self.assertIsNone(self.tcp_answer(s, wire, timeout=0.5))
        for tcp in (False, True):
            r = query(self.d.port, "www.kg.test.", "A", tcp=tcp)
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})


class AdversarialTCP(kgtest.KGTestCase):
    """Hostile TCP framing and hostile TCP clients."""

    def test_short_frames_close_the_connection(self):
        up, d = self.start_pair()
        for n in range(0, 12):
            with self.subTest(length=n):
                s = tcp_connect(d.port)
                self.addCleanup(s.close)
                s.sendall(struct.pack("!H", n) + b"\x12" * n)
                el = closed_within(s, 3)
                self.assertIsNotNone(el, "a %d-octet frame did not close the connection" % n)
        self.assertAliveAndAnswering(d)
        r = query(d.port, "www.kg.test.", "A", tcp=True)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})

    def test_65535_octet_query_answered(self):
        """The largest frame: a valid query padded to 65535 octets with an EDNS padding
        option (RFC 7830). It is parsed and answered; so is a query behind it."""
        base = header(0x3001, ar=1) + question()
        pad = 65535 - len(base) - 11 - 4
        wire = base + opt(rdata=struct.pack("!HH", 12, pad) + b"\x00" * pad)
        self.assertEqual(len(wire), 65535)
        up, d = self.start_pair()
        s = tcp_connect(d.port, timeout=5)
        self.addCleanup(s.close)
        q2 = make_query("n2.kg.test.", "A")
        s.sendall(frame(wire) + frame(q2.to_wire()))
        got = {}
        for _ in range(2):
            w = tcp_read_msg(s)
            self.assertIsNotNone(w, "connection closed after a 65535-octet query")
            m = dns.message.from_wire(w)
            got[m.id] = m
        self.assertEqual(answer_rdata(got[0x3001], "A"), {"192.0.2.1"})
        self.assertEqual(answer_rdata(got[q2.id], "A"), expected_rdata("n2.kg.test.", "A"))

    def test_65535_octets_of_garbage(self):
        up, d = self.start_pair()
        s = tcp_connect(d.port, timeout=5)
        self.addCleanup(s.close)
        # a header with QDCOUNT 1 followed by 65523 octets that are no name
        wire = header(0x3101) + b"\xff" * (65535 - 12)
        s.sendall(frame(wire))
        w = tcp_read_msg(s)
        if w is not None:  # FORMERR, or a close: both fine
            self.assertEqual(parse(w)["rcode"], FORMERR)
            self.assertEqual(parse(w)["id"], 0x3101)
        self.assertAliveAndAnswering(d)

    def test_frame_announced_never_completed(self):
        """A client announces 65535 octets, sends 1000 and stops: closed at the idle timeout,
        nothing is answered, others are unaffected."""
        up, d = self.start_pair({"server": {"tcp_idle_timeout": "2"}})
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        s.sendall(b"\xff\xff" + b"\x00" * 1000)
        self.assertAliveAndAnswering(d)
        el = closed_within(s, 6)
        self.assertIsNotNone(el, "a stalled partial frame kept its connection past 6 s")

    def test_slow_drip_clients(self):
        """20 clients drip a query one octet every 0.25 s (a 34-octet frame takes 8.5 s): the
        idle timer is not reset by partial frames, so each is closed about tcp_idle_timeout
        (2 s) after it connected, and UDP and TCP answers to others keep flowing meanwhile."""
        up, d = self.start_pair({"server": {"tcp_idle_timeout": "2"}})
        q = frame(make_query("n3.kg.test.", "A").to_wire())
        results = {}

        def drip(i):
            s = tcp_connect(d.port)
            t0 = time.monotonic()
            try:
                for b in q:
                    try:
                        s.sendall(bytes([b]))
                    except OSError:
                        break
                    s.settimeout(0.25)
                    try:
                        data = s.recv(4096)
                        if data == b"":
                            break
                        results[i] = "answered"
                        return
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                else:
                    results[i] = "completed"
                    return
                results[i] = time.monotonic() - t0
            finally:
                s.close()
        ts = [threading.Thread(target=drip, args=(i,)) for i in range(20)]
        for t in ts:
            t.start()
        lat = []
        for i in range(20):
            t0 = time.monotonic()
            r = query(d.port, "www.kg.test.", "A", tcp=bool(i % 2), timeout=2)
            lat.append(time.monotonic() - t0)
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
            time.sleep(0.1)  # pacing: spread the 20 probes over the drip clients' lifetime
        for t in ts:
            t.join(15)
        self.assertEqual(len(results), 20, results)
        for i, v in results.items():
            self.assertIsInstance(v, float, "drip client %d: %s (expected a close)" % (i, v))
            self.assertLess(v, 4.5, "drip client %d held its connection %.1f s" % (i, v))
        self.assertLess(max(lat), 1.0, "answers to others slowed to %.2f s" % max(lat))
        self.assertAliveAndAnswering(d)

    def test_300_idle_connections_cap_200(self):
        """300 idle connections with tcp_max_connections=200: the daemon holds at most 200
        (the rest, opened within a second, are closed at once), answers UDP throughout, and
        serves TCP from someone else again within seconds, not at the 30 s idle timeout: the
        connection quiet longest gives up its slot (kidguard_tcp_evicted_total)."""
        http_port = kgtest.free_port(v6=False)
        up, d = self.start_pair({"server": {"tcp_max_connections": "200",
                                            "tcp_idle_timeout": "30"},
                                 "http": {"listen": "127.0.0.1:%d" % http_port}})
        conns = []
        t_open = time.monotonic()
        for _ in range(300):
            try:
                s = tcp_connect(d.port, timeout=2)
            except OSError:
                continue
            conns.append(s)
        self.addCleanup(lambda: [c.close() for c in conns])
        # UDP keeps answering while the TCP slots are full
        for i in range(10):
            r = query(d.port, "n%d.kg.test." % (i + 10), "A", timeout=1)
            self.assertEqual(answer_rdata(r, "A"), expected_rdata("n%d.kg.test." % (i + 10), "A"))
        # the server side holds at most 200 of them (gauge from /metrics)
        held = metrics_value(http_port, "kidguard_tcp_connections")
        self.assertLessEqual(held, 200, "%d connections held with a cap of 200" % held)
        self.assertGreaterEqual(held, 150, "only %d connections accepted" % held)
        # the ones beyond the cap were closed at once
        closed = count_closed(conns)
        self.assertGreaterEqual(closed, 100 - 5, "only %d of 300 connections were refused"
                                % closed)

        # TCP from someone else works again once the idle ones have been quiet for 1 s
        def fresh_tcp():
            try:
                r = query(d.port, "www.kg.test.", "A", tcp=True, timeout=1)
                return answer_rdata(r, "A") == {"192.0.2.1"}
            except (dns.exception.Timeout, OSError, EOFError, dns.exception.DNSException):
                return False
        self.assertTrue(kgtest.wait_until(fresh_tcp, 8, 0.2),
                        "no TCP service %.1f s after 300 idle connections"
                        % (time.monotonic() - t_open))
        self.assertLess(time.monotonic() - t_open, 1 + 5)
        self.assertGreaterEqual(metrics_value(http_port, "kidguard_tcp_evicted_total"), 1)
        self.assertLessEqual(metrics_value(http_port, "kidguard_tcp_connections"), 200)
        self.assertAliveAndAnswering(d)

    def test_client_that_never_reads(self):
        """A client pipelines big (3 KB) answers and never reads, with a 4 KiB receive
        buffer: once 256 KiB of answers are unsent the daemon disconnects it; meanwhile and
        afterwards other clients get answers over UDP and TCP."""
        up, d = self.start_pair()
        query(d.port, "big.kg.test.", "TXT", tcp=True)  # cached: answers are immediate
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        self.addCleanup(s.close)
        q = frame(make_query("big.kg.test.", "TXT").to_wire())
        s.settimeout(0.5)
        sent = 0
        gone = False
        t0 = time.monotonic()
        while sent < 20000 and time.monotonic() - t0 < 20:
            try:
                s.sendall(q * 100)
                sent += 100
            except socket.timeout:
                break  # the daemon stopped reading us (or closed: checked below)
            except OSError:
                gone = True
                break
        # others are answered while the reader-less client sits there
        for tcp in (False, True):
            r = query(d.port, "www.kg.test.", "A", tcp=tcp, timeout=2)
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        # now drain: what we get is bounded, then the connection ends
        received = 0
        s.settimeout(2)
        if not gone:
            try:
                while True:
                    data = s.recv(1 << 20)
                    if not data:
                        break
                    received += len(data)
            except (ConnectionResetError, BrokenPipeError):
                pass
            except socket.timeout:
                self.fail("connection of a client that never read still open (%d queries "
                          "sent, %d octets then readable)" % (sent, received))
        answer = 3000  # octets of one big.kg.test TXT answer, roughly
        sys.stderr.write("never-reads: %d queries sent, %d octets delivered after the stall "
                         "(~%d answers)\n" % (sent, received, received // answer))
        self.assertLess(received, sent * answer, "every answer was delivered: no disconnect")
        self.assertAliveAndAnswering(d)
        r = query(d.port, "big.kg.test.", "TXT", tcp=True)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))


def count_closed(conns):
    """How many of these client sockets the peer has closed (EOF or reset), in one poll."""
    import select
    p = select.poll()
    for c in conns:
        p.register(c, select.POLLIN)
    n = 0
    byfd = {c.fileno(): c for c in conns}
    for fd, ev in p.poll(200):
        c = byfd[fd]
        if ev & (select.POLLHUP | select.POLLERR):
            n += 1
            continue
        try:
            c.setblocking(False)
            if c.recv(1, socket.MSG_PEEK) == b"":
                n += 1
        except (ConnectionResetError, BlockingIOError):
            n += isinstance(sys.exc_info()[1], ConnectionResetError)
        finally:
            c.setblocking(True)
    return n


def metrics_value(http_port, name):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s missing from /metrics" % name)


if __name__ == "__main__":
    kgtest.main()
