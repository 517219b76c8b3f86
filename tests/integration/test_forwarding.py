#!/usr/bin/python3
"""Forwarding: kidguard's answers match what the upstream itself answers."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, rrset_texts, answer_rdata, expected_rdata  # noqa: E402


class ForwardingTest(kgtest.KGTestCase):

    def assertSameAsUpstream(self, up, d, name, rdtype, tcp=False, addr="127.0.0.1", edns=None,
                             payload=1232):
        direct = query(up.port, name, rdtype, tcp=True)
        via = query(d.port, name, rdtype, tcp=tcp, addr=addr, edns=edns, payload=payload)
        self.assertEqual(dns.rcode.to_text(via.rcode()), dns.rcode.to_text(direct.rcode()),
                         "rcode for %s/%s" % (name, rdtype))
        self.assertTrue(via.flags & dns.flags.QR)
        self.assertEqual(rrset_texts(via, "answer"), rrset_texts(direct, "answer"),
                         "answer section for %s/%s" % (name, rdtype))
        return via

    def test_record_types_match_upstream(self):
        up, d = self.start_pair()
        cases = [("www.kg.test.", "A"), ("www.kg.test.", "AAAA"), ("multi.kg.test.", "A"),
                 ("alias.kg.test.", "CNAME"), ("mail.kg.test.", "MX"),
                 ("txt.kg.test.", "TXT"), ("kg.test.", "SOA"), ("kg.test.", "NS")]
        for name, t in cases:
            with self.subTest(name=name, type=t):
                r = self.assertSameAsUpstream(up, d, name, t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.answer, "empty answer for %s/%s" % (name, t))
        # A query for a CNAME owner: the upstream (unbound local-data) gives only the
        # CNAME; a forwarder may add the chased target, but the CNAME must be there.
        r = query(d.port, "alias.kg.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertIn(("alias.kg.test.", "CNAME", "www.kg.test."), rrset_texts(r))
        # concrete values, so "match" can't be two identical wrong answers
        r = query(d.port, "multi.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.2", "192.0.2.3", "192.0.2.4"})
        r = query(d.port, "www.kg.test.", "AAAA")
        self.assertEqual(answer_rdata(r, "AAAA"), {"2001:db8::1"})

    def test_id_and_question_echoed(self):
        up, d = self.start_pair()
        for i in range(5):
            q = kgtest.make_query("n%d.kg.test." % (i + 1), "A")
            q.id = 1000 + 7 * i
            r = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3)
            self.assertEqual(r.id, q.id)
            self.assertEqual(r.question[0].name, q.question[0].name)
            self.assertEqual(r.question[0].rdtype, dns.rdatatype.A)
            self.assertTrue(r.flags & dns.flags.QR)
            self.assertTrue(r.flags & dns.flags.RD, "RD must be copied from the query")

    def test_nxdomain_and_nodata(self):
        up, d = self.start_pair()
        r = self.assertSameAsUpstream(up, d, "nope.kg.test.", "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        soa = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
        self.assertTrue(soa, "NXDOMAIN must carry the zone SOA in authority")
        r = self.assertSameAsUpstream(up, d, "v4only.kg.test.", "AAAA")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(r.answer, [])

    def test_tcp_and_ipv6_listeners(self):
        up, d = self.start_pair()
        self.assertSameAsUpstream(up, d, "www.kg.test.", "A", tcp=True)
        self.assertSameAsUpstream(up, d, "n2.kg.test.", "A", addr="::1")
        self.assertSameAsUpstream(up, d, "n3.kg.test.", "A", addr="::1", tcp=True)

    def test_ipv6_upstream(self):
        up = self.start_upstream()
        d = self.start_daemon("[::1]:%d" % up.port)
        r = query(d.port, "www.kg.test.", "A")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertEqual(up.count("www.kg.test.", "A"), 1)

    def test_big_answer_via_tcp_fallback(self):
        """Upstream's UDP answer is truncated (its max-udp-size is 1232) -> kidguard must
        retry over TCP; a TCP client gets all 40 TXT records (~3.1 KB)."""
        up, d = self.start_pair()
        tcp_before = up.stats().get("num.query.tcp", 0)
        r = self.assertSameAsUpstream(up, d, "big.kg.test.", "TXT", tcp=True)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(answer_rdata(r, "TXT")), kgtest.BIG_TXT_COUNT)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))
        # our direct check above was 1 TCP query; kidguard must have made >= 1 more
        self.assertGreaterEqual(up.stats().get("num.query.tcp", 0) - tcp_before, 2,
                                "kidguard never asked the upstream over TCP")

    def test_big_answer_udp_client_then_tcp_retry(self):
        """A UDP client (buffer 1232) gets TC=1; its TCP retry gets the full RRset."""
        up, d = self.start_pair()
        q = kgtest.make_query("big.kg.test.", "TXT", edns=0, payload=1232)
        w = kgtest.udp_raw(d.port, q.to_wire())
        self.assertIsNotNone(w, "no UDP reply")
        self.assertLessEqual(len(w), 1232)
        r = dns.message.from_wire(w)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.flags & dns.flags.TC)
        r = query(d.port, "big.kg.test.", "TXT", tcp=True)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))
        # (a client with a 4096-byte EDNS buffer over UDP: test_edns_malformed.py)

    def test_kdig_and_dig_clients(self):
        up, d = self.start_pair()
        r = kgtest.run_cmd(["kdig", "@127.0.0.1", "-p", str(d.port), "+short", "www.kg.test", "A"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["192.0.2.1"])
        r = kgtest.run_cmd(["dig", "@127.0.0.1", "-p", str(d.port), "+short", "+tcp",
                            "multi.kg.test", "A"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()), ["192.0.2.2", "192.0.2.3", "192.0.2.4"])

    def test_retry_next_upstream_on_timeout(self):
        """First upstream swallows queries; kidguard must try the second after `timeout`."""
        up = self.start_upstream()
        hole = self.blackhole()
        d = self.start_daemon(["127.0.0.1:%d" % hole.port, "127.0.0.1:%d" % up.port],
                              {"upstream": {"timeout": "500", "query_timeout": "3000"}},
                              probe="socket")
        for i in range(1, 4):
            name = "n%d.kg.test." % (10 + i)
            t0 = time.monotonic()
            r = query(d.port, name, "A", timeout=5)
            el = time.monotonic() - t0
            self.assertEqual(r.rcode(), dns.rcode.NOERROR, name)
            self.assertEqual(answer_rdata(r, "A"), expected_rdata(name, "A"))
            self.assertLess(el, 3.0, "answer only after %.2fs (query_timeout is 3 s)" % el)
            self.assertEqual(up.count(name, "A"), 1)
        self.assertGreaterEqual(hole.count, 1,
                                "the first listed upstream was never tried")


if __name__ == "__main__":
    kgtest.main()
