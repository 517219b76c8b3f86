#!/usr/bin/python3
"""Upstream failures, in-flight coalescing, signals (SIGHUP reload, SIGTERM/SIGINT)."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, expected_rdata, render_config  # noqa: E402

SLACK = 1.0  # seconds allowed beyond query_timeout


class UpstreamFailureTest(kgtest.KGTestCase):

    def timed(self, port, name, tcp=False, limit=4.0):
        t0 = time.monotonic()
        try:
            r = query(port, name, "A", tcp=tcp, timeout=limit)
        except (dns.exception.Timeout, EOFError, ConnectionError) as e:
            self.fail("no answer for %s within %.1fs (%r)" % (name, limit, e))
        return r, time.monotonic() - t0

    def test_all_upstreams_time_out_servfail(self):
        h1, h2 = self.blackhole(), self.blackhole()
        d = self.start_daemon(["127.0.0.1:%d" % h1.port, "127.0.0.1:%d" % h2.port],
                              {"upstream": {"timeout": "500", "query_timeout": "1500"}},
                              probe="socket")
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                r, el = self.timed(d.port, "n%d.kg.test." % (1 + tcp), tcp)
                self.assertEqual(dns.rcode.to_text(r.rcode()), "SERVFAIL")
                self.assertLessEqual(el, 1.5 + SLACK, "SERVFAIL after %.2fs" % el)
        self.assertGreaterEqual(h1.count + h2.count, 2, "no upstream was even tried")
        self.assertTrue(d.alive())

    def test_upstream_port_closed_servfail(self):
        dead = kgtest.free_port(v6=False)  # nothing listens: ICMP port unreachable
        d = self.start_daemon("127.0.0.1:%d" % dead,
                              {"upstream": {"timeout": "500", "query_timeout": "1500"}},
                              probe="socket")
        r, el = self.timed(d.port, "www.kg.test.")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "SERVFAIL")
        self.assertLessEqual(el, 1.5 + SLACK)
        self.assertTrue(d.alive())

    def test_recovers_when_upstream_comes_back(self):
        port = kgtest.free_port()
        d = self.start_daemon("127.0.0.1:%d" % port,
                              {"upstream": {"timeout": "300", "query_timeout": "1000"}},
                              probe="socket")
        r, _ = self.timed(d.port, "n1.kg.test.")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "SERVFAIL")
        up = self.start_upstream(port=port)
        # a different name (a SERVFAIL may legitimately be cached briefly, RFC 9520)
        ok = kgtest.wait_until(
            lambda: answer_rdata(query(d.port, "n2.kg.test.", "A", timeout=3), "A")
            == expected_rdata("n2.kg.test.", "A"), 6, 0.5)
        self.assertTrue(ok, "no answers after the upstream came back")
        self.assertGreaterEqual(up.count("n2.kg.test.", "A"), 1)

    def test_servfail_does_not_block_other_clients(self):
        """While one question waits on dead upstreams, a cached name is still answered."""
        up = self.start_upstream()
        http_port = kgtest.free_port(v6=False)
        d = self.start_daemon(["127.0.0.1:%d" % up.port],
                              {"upstream": {"timeout": "1000", "query_timeout": "3000"},
                               "http": {"listen": "127.0.0.1:%d" % http_port}})
        query(d.port, "www.kg.test.", "A")  # cache it
        up.stop()                            # upstream gone
        def pending():
            try:
                query(d.port, "n9.kg.test.", "A", timeout=6)
            except Exception:  # noqa: BLE001 - only the cache hit below is under test
                pass
        t = threading.Thread(target=pending)
        t.start()
        self.addCleanup(t.join)
        self.assertTrue(kgtest.wait_until(
            lambda: kgtest.metrics_value(http_port, "kidguard_inflight_queries", 0) >= 1, 3),
            "the question for n9 never went upstream")
        t0 = time.monotonic()
        r = query(d.port, "www.kg.test.", "A", timeout=2)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertLess(time.monotonic() - t0, 0.5, "cache hit stalled behind a pending query")


class CoalescingTest(kgtest.KGTestCase):

    def test_identical_inflight_questions_coalesced(self):
        """20 identical questions while the (delayed) upstream is still busy -> 1 upstream query.

        Deterministic: a delay line holds each query 0.8 s before passing it to the real
        upstream, so all 20 client queries arrive while the first is in flight.
        """
        up = self.start_upstream()
        slow = self.delay_line(up, 0.8)
        d = self.start_daemon("127.0.0.1:%d" % slow.port,
                              {"upstream": {"timeout": "2500", "query_timeout": "5000"}})
        name = "n33.kg.test."
        results = [None] * 20
        errors = []

        def ask(i):
            try:
                q = kgtest.make_query(name, "A")
                q.id = 20000 + i
                results[i] = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=5)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(8)
        self.assertEqual(errors, [])
        for i, r in enumerate(results):
            self.assertIsNotNone(r)
            self.assertEqual(r.id, 20000 + i)
            self.assertEqual(answer_rdata(r, "A"), expected_rdata(name, "A"))
        self.assertEqual(slow.count(name, "A"), 1,
                         "%d upstream queries for 20 identical in-flight questions"
                         % slow.count(name, "A"))
        self.assertEqual(up.count(name, "A"), 1)


class SignalTest(kgtest.KGTestCase):

    def test_sighup_broken_config_keeps_serving(self):
        up, d = self.start_pair()
        self.assertAliveAndAnswering(d)
        with open(d.conf) as f:
            good = f.read()
        d.write_config(good + "\n[server]\nthis is not ini\nworkers = many\n")
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: "reload failed" in d.log_text(), 5),
                        "the broken config was not rejected")
        self.assertTrue(d.alive(), "daemon died on SIGHUP with a broken config")
        self.assertAliveAndAnswering(d, "n4.kg.test.")
        r = query(d.port, "n5.kg.test.", "A", tcp=True)
        self.assertEqual(answer_rdata(r, "A"), expected_rdata("n5.kg.test.", "A"))

    def test_sighup_applies_new_config(self):
        """A good new config is applied: the ACL switches to 127.0.0.2 only."""
        up, d = self.start_pair()
        self.assertAliveAndAnswering(d)
        d.sections["access"]["allow"] = "127.0.0.2/32"
        d.write_config(render_config(d.sections))
        d.send_signal(signal.SIGHUP)

        def refused():
            r = query(d.port, "www.kg.test.", "A", source="127.0.0.1")
            return r.rcode() == dns.rcode.REFUSED
        self.assertTrue(kgtest.wait_until(refused, 3, 0.2), "new ACL not applied after SIGHUP")
        r = query(d.port, "www.kg.test.", "A", source="127.0.0.2")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        # then a broken one: the last good config (the new ACL) stays in force
        d.write_config("[server]\nlisten = nonsense\n")
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: "reload failed" in d.log_text(), 5),
                        "the broken config was not rejected")
        self.assertTrue(d.alive())
        self.assertTrue(refused())
        r = query(d.port, "www.kg.test.", "A", source="127.0.0.2")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})

    def test_sigterm_exits_zero_promptly(self):
        up, d = self.start_pair()
        self.assertAliveAndAnswering(d)
        t0 = time.monotonic()
        d.stop(signal.SIGTERM, grace=5.0)  # asserts rc 0 within 5 s
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_sigterm_with_open_tcp_connection(self):
        up, d = self.start_pair()
        s = kgtest.tcp_connect(d.port)
        self.addCleanup(s.close)
        d.stop(signal.SIGTERM, grace=5.0)

    def test_sigint_exits_zero(self):
        up, d = self.start_pair()
        self.assertAliveAndAnswering(d)
        d.stop(signal.SIGINT, grace=5.0)


if __name__ == "__main__":
    kgtest.main()
