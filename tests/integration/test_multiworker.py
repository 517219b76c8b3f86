#!/usr/bin/python3
"""Two workers under concurrent load (issue 8): the subset tests/sanitize runs under
ThreadSanitizer (and AddressSanitizer), also part of the normal suite.

workers = 2, and at the same time: UDP and TCP clients asking cached, forwarded (distinct,
uncached) and blocked names, coalesced identical questions, the HTTP thread serving /metrics
(which reads every worker's counters), three SIGHUP reloads (one of them a config that
changes the cache size, the ACL and the rate limit), then SIGTERM: every answer is right, the
daemon exits 0, and (under a sanitizer) prints no report — kgtest.Daemon.stop checks both.
"""
import os
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, expected_rdata, run_ctl, ede_options  # noqa: E402

BLOCKED = "n5.kg.test."


class MultiWorkerTest(kgtest.KGTestCase):

    def start(self, extra=None):
        up = self.start_upstream()
        self.http_port = kgtest.free_port(v6=False)
        over = {"server": {"workers": "2", "log_level": "info"},
                "http": {"listen": "127.0.0.1:%d" % self.http_port}}
        for k, v in (extra or {}).items():
            over.setdefault(k, {}).update(v)
        d = self.start_daemon("127.0.0.1:%d" % up.port, over, start=False)
        r = run_ctl(["deny", "add", BLOCKED.rstrip("."), "--category", "adult"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        return up, d

    def check(self, name, r):
        """None when r is the right answer for name, else a description."""
        if name == BLOCKED:
            if answer_rdata(r, "A") & expected_rdata(name, "A"):
                return "%s not blocked" % name
            if not ede_options(r) and r.rcode() == dns.rcode.NOERROR and not r.answer:
                return "%s: no EDE" % name
            return None
        if r.rcode() != dns.rcode.NOERROR:
            return "%s: %s" % (name, dns.rcode.to_text(r.rcode()))
        if answer_rdata(r, "A") != expected_rdata(name, "A"):
            return "%s: %s" % (name, answer_rdata(r, "A"))
        return None

    def load(self, d, seconds, errors, counts):
        stop = time.monotonic() + seconds

        def client(k):
            i = 0
            while time.monotonic() < stop:
                i += 1
                tcp = (i + k) % 3 == 0
                sel = (i * 7 + k) % 10
                if sel < 4:
                    name = "www.kg.test."                     # cached
                elif sel < 8:
                    name = "n%d.kg.test." % (1 + (i * 13 + k) % 60)  # forwarded, then cached
                elif sel < 9:
                    name = BLOCKED                             # blocked
                else:
                    name = "multi.kg.test."
                try:
                    r = query(d.port, name, "A", tcp=tcp, timeout=3, edns=0)
                    e = self.check(name, r)
                    if e:
                        errors.append(e)
                    counts[k] = counts.get(k, 0) + 1
                except Exception as ex:  # noqa: BLE001
                    errors.append("%s tcp=%s: %r" % (name, tcp, ex))

        def scraper():
            while time.monotonic() < stop:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                                timeout=3) as r:
                        r.read()
                    counts["metrics"] = counts.get("metrics", 0) + 1
                except Exception as ex:  # noqa: BLE001
                    errors.append("metrics: %r" % ex)
                time.sleep(0.05)  # pacing: a scrape every 50 ms alongside the queries
        ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        ts.append(threading.Thread(target=scraper))
        for t in ts:
            t.start()
        return ts

    def test_concurrent_load_reload_and_shutdown(self):
        up, d = self.start()
        errors, counts = [], {}
        ts = self.load(d, 6.0, errors, counts)

        def answered():
            return sum(v for k, v in counts.items() if k != "metrics")

        def reloaded(n):
            """The n-th reload is logged and queries were answered after it."""
            self.assertTrue(kgtest.wait_until(
                lambda: d.log_text().count("configuration reloaded") >= n, 5),
                "reload %d not applied" % n)
            q = answered()
            self.assertTrue(kgtest.wait_until(lambda: answered() >= q + 50, 5),
                            "no answers after reload %d" % n)

        self.assertTrue(kgtest.wait_until(lambda: answered() >= 50, 5), "no load")
        d.send_signal(signal.SIGHUP)  # same config
        reloaded(1)
        d.sections["cache"]["size"] = "5000"
        d.sections["access"]["allow"] = "127.0.0.0/8, ::1, 10.0.0.0/8"
        d.sections.setdefault("ratelimit", {})["qps"] = "100000"
        d.write_config()
        d.send_signal(signal.SIGHUP)  # a changed config
        reloaded(2)
        d.send_signal(signal.SIGHUP)
        for t in ts:
            t.join(20)
        total = sum(v for k, v in counts.items() if k != "metrics")
        sys.stderr.write("\nmultiworker: %d queries, %d /metrics scrapes, %d errors\n"
                         % (total, counts.get("metrics", 0), len(errors)))
        self.assertEqual(errors[:10], [])
        self.assertGreater(total, 100)
        self.assertGreater(counts.get("metrics", 0), 5)
        self.assertTrue(d.alive())
        self.assertNotIn("reload failed", d.log_text())

    def test_shutdown_under_load(self):
        """SIGTERM while queries are in flight (an upstream that answers after 0.5 s, so
        some are pending on both workers): exit 0 within the grace time, no report."""
        up = self.start_upstream()
        slow = self.delay_line(up, 0.5)
        d = self.start_daemon("127.0.0.1:%d" % slow.port,
                              {"server": {"workers": "2", "log_level": "info"}})
        errors, counts = [], {}
        stop = threading.Event()

        def client(k):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    query(d.port, "n%d.kg.test." % (1 + (i * 7 + k) % 60), "A",
                          tcp=bool(k % 2), timeout=1)
                except Exception:  # noqa: BLE001  (the daemon goes away mid-query)
                    pass
        ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        # some questions are in flight on the slow upstream (0.5 s each) when SIGTERM comes
        self.assertTrue(kgtest.wait_until(lambda: len(slow.received) >= 6, 5),
                        "no questions reached the upstream")
        try:
            d.stop()  # asserts exit 0 in 5 s and no sanitizer report
        finally:
            stop.set()
            for t in ts:
                t.join(5)


if __name__ == "__main__":
    kgtest.main()
