#!/usr/bin/python3
"""Cache: hits never reach the upstream (counted in unbound's query log), TTLs
honoured/capped/decremented, negative caching from the SOA minimum, LRU bound.

TTL tests move the daemon's cache clock (kgtest.FakeClock, KIDGUARD_TEST_CLOCK) instead of
sleeping, so they check TTLs to the second and expiry to the millisecond."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, expected_rdata  # noqa: E402


def answer_ttl(r):
    return min(rrset.ttl for rrset in r.answer)


def soa_ttl(r):
    soa = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
    return soa[0].ttl if soa else None


class CacheTest(kgtest.KGTestCase):

    def test_hits_do_not_reach_upstream(self):
        up, d = self.start_pair()
        for i in range(5):
            r = query(d.port, "www.kg.test.", "A", tcp=(i % 2 == 1))
            self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertEqual(up.count("www.kg.test.", "A"), 1)
        # and a fresh name does go upstream: the counter is live
        query(d.port, "n1.kg.test.", "A")
        self.assertEqual(up.count("n1.kg.test.", "A"), 1)

    def test_key_includes_type(self):
        up, d = self.start_pair()
        r4 = query(d.port, "www.kg.test.", "A")
        r6 = query(d.port, "www.kg.test.", "AAAA")
        self.assertEqual(answer_rdata(r4, "A"), {"192.0.2.1"})
        self.assertEqual(answer_rdata(r6, "AAAA"), {"2001:db8::1"})
        self.assertEqual(answer_rdata(r6, "A"), set())
        for _ in range(2):
            query(d.port, "www.kg.test.", "A")
            query(d.port, "www.kg.test.", "AAAA")
        self.assertEqual(up.count("www.kg.test.", "A"), 1)
        self.assertEqual(up.count("www.kg.test.", "AAAA"), 1)

    def test_key_includes_class(self):
        up, d = self.start_pair()
        query(d.port, "www.kg.test.", "A")
        r = query(d.port, "www.kg.test.", "A", rdclass="CH")
        for rrset in r.answer:
            self.assertNotEqual(rrset.rdclass, dns.rdataclass.IN,
                                "IN data served for a CH question")
        self.assertEqual(up.count("www.kg.test.", "A", "IN"), 1)

    def test_name_is_case_insensitive(self):
        up, d = self.start_pair()
        query(d.port, "www.kg.test.", "A")
        r = query(d.port, "WwW.Kg.TeSt.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertEqual(up.count("www.kg.test.", "A"), 1)

    def start_clocked(self, overrides=None):
        """A pair whose daemon ages its cache by a FakeClock (KIDGUARD_TEST_CLOCK): TTLs are
        exact and nobody sleeps. Upstream timeouts still run on real time."""
        clock = kgtest.FakeClock(self.tmp)
        up, d = self.start_pair(overrides, env=clock.env())
        return clock, up, d

    def test_ttl_decrements(self):
        clock, up, d = self.start_clocked()
        r0 = query(d.port, "long.kg.test.", "A")
        self.assertEqual(answer_ttl(r0), 300)
        clock.advance(2)
        self.assertEqual(answer_ttl(query(d.port, "long.kg.test.", "A")), 298,
                         "TTL not decremented on a cache hit")
        clock.advance(0.999)  # age counts whole seconds
        self.assertEqual(answer_ttl(query(d.port, "long.kg.test.", "A")), 298)
        clock.advance(0.001)
        self.assertEqual(answer_ttl(query(d.port, "long.kg.test.", "A")), 297)
        self.assertEqual(up.count("long.kg.test.", "A"), 1)
        self.assertIn("KIDGUARD_TEST_CLOCK set", d.log_text(), "no warning for a fake clock")

    def test_ttl_expiry_refetches(self):
        clock, up, d = self.start_clocked()
        r = query(d.port, "short.kg.test.", "A")
        self.assertEqual(answer_ttl(r), 5)
        clock.advance(4.999)  # the last millisecond of its life: still a hit
        r = query(d.port, "short.kg.test.", "A")
        self.assertEqual(answer_ttl(r), 1)
        self.assertEqual(up.count("short.kg.test.", "A"), 1)
        clock.advance(0.001)
        r = query(d.port, "short.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.5"})
        self.assertEqual(answer_ttl(r), 5)
        self.assertEqual(up.count("short.kg.test.", "A"), 2, "expired entry served from cache")

    def test_max_ttl_caps(self):
        clock, up, d = self.start_clocked({"cache": {"max_ttl": "2"}})
        r = query(d.port, "long.kg.test.", "A")
        self.assertEqual(answer_ttl(r), 2, "TTL 300 not capped to max_ttl=2")
        clock.advance(1.999)
        self.assertEqual(answer_ttl(query(d.port, "long.kg.test.", "A")), 1)
        self.assertEqual(up.count("long.kg.test.", "A"), 1)
        clock.advance(0.001)
        query(d.port, "long.kg.test.", "A")
        self.assertEqual(up.count("long.kg.test.", "A"), 2, "entry outlived max_ttl")

    def test_min_ttl_floor(self):
        clock, up, d = self.start_clocked({"cache": {"min_ttl": "30"}})
        r = query(d.port, "short.kg.test.", "A")
        self.assertEqual(answer_ttl(r), 30, "TTL 5 not raised to min_ttl=30")
        clock.advance(6)  # past the record's own TTL of 5
        r = query(d.port, "short.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.5"})
        self.assertEqual(answer_ttl(r), 24)
        self.assertEqual(up.count("short.kg.test.", "A"), 1, "min_ttl=30 not honoured")
        clock.advance(24)
        query(d.port, "short.kg.test.", "A")
        self.assertEqual(up.count("short.kg.test.", "A"), 2, "entry outlived min_ttl")

    def test_negative_nxdomain_cached_with_soa_minimum(self):
        clock, up, d = self.start_clocked()
        r = query(d.port, "missing.kg.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        first = soa_ttl(r)
        self.assertIsNotNone(first, "no SOA in NXDOMAIN authority section")
        self.assertEqual(first, 60, "negative TTL is not the SOA minimum (60)")
        clock.advance(1)
        r = query(d.port, "missing.kg.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertIsNotNone(soa_ttl(r), "cached NXDOMAIN lost its SOA")
        self.assertEqual(soa_ttl(r), 59, "negative TTL not decremented")
        self.assertEqual(up.count("missing.kg.test.", "A"), 1, "NXDOMAIN not cached")
        clock.advance(59)
        query(d.port, "missing.kg.test.", "A")
        self.assertEqual(up.count("missing.kg.test.", "A"), 2,
                         "negative entry outlived the SOA minimum (60 s)")

    def test_negative_nodata_cached(self):
        up, d = self.start_pair()
        for _ in range(3):
            r = query(d.port, "v4only.kg.test.", "AAAA")
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertEqual(r.answer, [])
            self.assertIsNotNone(soa_ttl(r), "NODATA without SOA")
        self.assertEqual(up.count("v4only.kg.test.", "AAAA"), 1, "NODATA not cached")
        # the A of the same name is a different key
        r = query(d.port, "v4only.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.7"})

    def test_negative_ttl_expires_at_soa_minimum(self):
        clock, up, d = self.start_clocked()  # zone neg2.test. has SOA minimum 2
        r = query(d.port, "gone.neg2.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(soa_ttl(r), 2)
        clock.advance(1.999)
        r = query(d.port, "gone.neg2.test.", "A")
        self.assertEqual(soa_ttl(r), 1)
        self.assertEqual(up.count("gone.neg2.test.", "A"), 1)
        clock.advance(0.001)
        query(d.port, "gone.neg2.test.", "A")
        self.assertEqual(up.count("gone.neg2.test.", "A"), 2,
                         "negative entry outlived the SOA minimum (2 s)")

    def test_fake_clock_leaves_upstream_timeouts_real(self):
        """Only cache aging follows the fake clock: with it standing still, an upstream that
        never answers still times out by real time (SERVFAIL), and a stale fake clock never
        makes the daemon give up early."""
        clock = kgtest.FakeClock(self.tmp)
        hole = self.blackhole()
        d = self.start_daemon("127.0.0.1:%d" % hole.port,
                              {"upstream": {"timeout": "300", "query_timeout": "800"}},
                              probe="socket", env=clock.env())
        t0 = time.monotonic()
        r = query(d.port, "www.kg.test.", "A", timeout=5)
        el = time.monotonic() - t0
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertGreaterEqual(el, 0.7, "gave up before query_timeout")
        self.assertLess(el, 3.0, "query_timeout not kept while the fake clock stands still")
        clock.advance(3600)  # after an hour of fake time a question still waits in real time
        t0 = time.monotonic()
        r = query(d.port, "n1.kg.test.", "A", timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertGreaterEqual(time.monotonic() - t0, 0.7, "fake time cut a real timeout")

    def test_lru_order(self):
        """size=8: after n1..n8, touch n1, add n9 -> n2 (least recent) evicted, n1 kept."""
        up, d = self.start_pair({"cache": {"size": "8"}})
        for i in range(1, 9):
            query(d.port, "n%d.kg.test." % i, "A")
        query(d.port, "n1.kg.test.", "A")
        self.assertEqual(up.count("n1.kg.test.", "A"), 1, "cache of 8 cannot hold 8 names")
        query(d.port, "n9.kg.test.", "A")
        query(d.port, "n1.kg.test.", "A")
        self.assertEqual(up.count("n1.kg.test.", "A"), 1, "recently used entry evicted")
        r = query(d.port, "n2.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), expected_rdata("n2.kg.test.", "A"))
        self.assertEqual(up.count("n2.kg.test.", "A"), 2, "LRU entry n2 was not evicted")

    def test_size_bound(self):
        """size=8 and 40 distinct names: the first names must be gone."""
        up, d = self.start_pair({"cache": {"size": "8"}})
        for i in range(1, 41):
            query(d.port, "n%d.kg.test." % i, "A")
        for i in range(1, 11):
            query(d.port, "n%d.kg.test." % i, "A")
        refetched = sum(1 for i in range(1, 11) if up.count("n%d.kg.test." % i, "A") == 2)
        self.assertEqual(refetched, 10, "cache holds more than its size of 8")


if __name__ == "__main__":
    kgtest.main()
