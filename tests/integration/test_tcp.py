#!/usr/bin/python3
"""DNS over TCP per RFC 7766: framing, pipelining, idle timeout, connection cap."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import (dns, query, answer_rdata, expected_rdata, make_query, frame,  # noqa: E402
                    tcp_connect, tcp_read_msg)


def closed_within(sock, timeout):
    """Seconds until the peer closed the connection, or None if still open."""
    sock.settimeout(0.2)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            data = sock.recv(4096)
            if data == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def tcp_ask(sock, name, qid, timeout=2.0):
    """One query on an existing connection; the parsed reply or None (closed/timeout)."""
    q = make_query(name, "A")
    q.id = qid
    try:
        sock.settimeout(timeout)
        sock.sendall(frame(q.to_wire()))
        w = tcp_read_msg(sock)
    except (socket.timeout, OSError):
        return None
    if w is None:
        return None
    return dns.message.from_wire(w)


class TcpTest(kgtest.KGTestCase):

    def test_pipelined_queries_one_connection(self):
        up, d = self.start_pair()
        # warm half of them so the answers can come back out of order
        for i in range(2, 21, 2):
            query(d.port, "n%d.kg.test." % i, "A")
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        wires = b""
        want = {}
        for i in range(1, 21):
            q = make_query("n%d.kg.test." % i, "A")
            q.id = 5000 + i
            want[q.id] = "n%d.kg.test." % i
            wires += frame(q.to_wire())
        s.sendall(wires)  # all 20 in one write, before reading anything
        got = {}
        s.settimeout(5)
        for _ in range(20):
            w = tcp_read_msg(s)
            self.assertIsNotNone(w, "connection closed after %d of 20 answers" % len(got))
            r = dns.message.from_wire(w)
            self.assertIn(r.id, want, "answer with unknown ID %d" % r.id)
            self.assertNotIn(r.id, got, "ID %d answered twice" % r.id)
            got[r.id] = r
        for qid, name in want.items():
            r = got[qid]
            self.assertEqual(r.question[0].name.to_text(), name)
            self.assertEqual(answer_rdata(r, "A"), expected_rdata(name, "A"), name)

    def test_pipeline_limit_holds_within_one_read(self):
        """Issue 15 finding 9: 300 queries written in one send on one connection. The daemon
        may have at most 32 (RS_TCP_PIPELINE) of them in flight at once, even though one read
        delivers them all; the rest wait in its buffer and every one is answered in the end.
        The slow upstream counts how many it holds at once: each distinct cache miss of the
        connection is one question there."""
        up = self.start_upstream()
        slow = self.delay_line(up, 0.25)
        d = self.start_daemon("127.0.0.1:%d" % slow.port,
                              {"upstream": {"timeout": "2000", "query_timeout": "4000"}})
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        n = 300
        wires = b""
        for i in range(n):
            q = make_query("pipe%d.kg.test." % i, "A")
            q.id = 1000 + i
            wires += frame(q.to_wire())
        s.sendall(wires)
        got = set()
        s.settimeout(15)
        while len(got) < n:
            w = tcp_read_msg(s)
            self.assertIsNotNone(w, "connection closed after %d of %d answers" % (len(got), n))
            r = dns.message.from_wire(w)
            self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
            self.assertNotIn(r.id, got, "ID %d answered twice" % r.id)
            got.add(r.id)
        self.assertEqual(got, set(range(1000, 1000 + n)))
        self.assertLessEqual(slow.max_outstanding, 32,
                             "more queries of one connection in flight than the pipeline limit")
        self.assertGreaterEqual(slow.max_outstanding, 8, "the test did not pipeline at all")
        self.assertAliveAndAnswering(d)

    def test_split_length_and_message(self):
        """Length prefix and message arriving in separate small segments."""
        up, d = self.start_pair()
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        q = make_query("www.kg.test.", "A")
        data = frame(q.to_wire())
        for i in range(0, len(data), 5):
            s.sendall(data[i:i + 5])
            time.sleep(0.03)  # pacing: each piece must arrive as its own segment
        s.settimeout(3)
        r = dns.message.from_wire(tcp_read_msg(s))
        self.assertEqual(r.id, q.id)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})

    def test_several_sequential_queries_reuse_connection(self):
        up, d = self.start_pair()
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        for i in range(1, 6):
            r = tcp_ask(s, "n%d.kg.test." % i, 100 + i)
            self.assertIsNotNone(r, "connection not reusable for query %d" % i)
            self.assertEqual(r.id, 100 + i)
            self.assertEqual(answer_rdata(r, "A"), expected_rdata("n%d.kg.test." % i, "A"))

    def test_big_answer_over_tcp(self):
        up, d = self.start_pair()
        r = query(d.port, "big.kg.test.", "TXT", tcp=True)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))

    def test_idle_timeout_closes(self):
        up, d = self.start_pair({"server": {"tcp_idle_timeout": "2"}})
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        el = closed_within(s, 6)
        self.assertIsNotNone(el, "idle connection (no query) not closed after 6 s")
        self.assertGreater(el, 1.0, "closed after %.2fs, before the 2 s idle timeout" % el)
        # idle after a query
        s2 = tcp_connect(d.port)
        self.addCleanup(s2.close)
        self.assertIsNotNone(tcp_ask(s2, "www.kg.test.", 7))
        el = closed_within(s2, 6)
        self.assertIsNotNone(el, "idle connection (after a query) not closed after 6 s")
        self.assertGreater(el, 1.0)
        # the listener still works
        self.assertAliveAndAnswering(d)

    def test_activity_keeps_connection_open(self):
        up, d = self.start_pair({"server": {"tcp_idle_timeout": "2"}})
        s = tcp_connect(d.port)
        self.addCleanup(s.close)
        for i in range(4):  # 4 queries 1 s apart = 4 s > idle timeout
            r = tcp_ask(s, "n%d.kg.test." % (i + 1), 300 + i)
            self.assertIsNotNone(r, "active connection closed at query %d" % i)
            time.sleep(1.0)  # pacing: the activity must span the 2 s idle timeout

    def test_connection_cap(self):
        """tcp_max_connections=4: never more than 4 connections get served at once."""
        cap = 4
        up, d = self.start_pair({"server": {"tcp_max_connections": str(cap),
                                            "tcp_idle_timeout": "30"}})
        conns = []
        for i in range(cap):
            s = tcp_connect(d.port)
            self.addCleanup(s.close)
            self.assertIsNotNone(tcp_ask(s, "n%d.kg.test." % (i + 1), 10 + i),
                                 "connection %d of %d not served" % (i + 1, cap))
            conns.append(s)
        extra = []
        for i in range(3):
            try:
                s = tcp_connect(d.port, timeout=2)
            except OSError:
                continue
            self.addCleanup(s.close)
            extra.append(s)
            tcp_ask(s, "n%d.kg.test." % (10 + i), 50 + i, timeout=1.5)
        # now count how many of all connections still answer
        served = 0
        for i, s in enumerate(conns + extra):
            if tcp_ask(s, "www.kg.test.", 900 + i, timeout=1.0) is not None:
                served += 1
        self.assertLessEqual(served, cap, "%d TCP connections served with a cap of %d"
                             % (served, cap))
        self.assertGreaterEqual(served, 1)
        # after closing everything, new connections work again
        for s in conns + extra:
            s.close()

        def fresh_ok():
            try:
                s = tcp_connect(d.port, timeout=1)
            except OSError:
                return False
            try:
                return tcp_ask(s, "www.kg.test.", 4242, timeout=1) is not None
            finally:
                s.close()
        self.assertTrue(kgtest.wait_until(fresh_ok, 5, 0.2),
                        "no new TCP connection served after closing all")
        self.assertAliveAndAnswering(d)


if __name__ == "__main__":
    kgtest.main()
