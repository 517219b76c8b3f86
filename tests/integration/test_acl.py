#!/usr/bin/python3
"""Access control: clients outside [access] allow get REFUSED, and never reach upstream."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata  # noqa: E402


class AclTest(kgtest.KGTestCase):

    def test_refused_outside_allow(self):
        up, d = self.start_pair({"access": {"allow": "127.0.0.2/32"}})
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                r = query(d.port, "n1.kg.test.", "A", tcp=tcp, source="127.0.0.1")
                self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED")
                self.assertEqual(r.answer, [])
        r = query(d.port, "n1.kg.test.", "A", addr="::1")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED", "::1 is not in allow")
        self.assertEqual(up.count("n1.kg.test.", "A"), 0, "refused query was forwarded")

    def test_allowed_source_answered(self):
        up, d = self.start_pair({"access": {"allow": "127.0.0.2/32"}})
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                r = query(d.port, "www.kg.test.", "A", tcp=tcp, source="127.0.0.2")
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        # a cached answer must not leak to a refused client either
        r = query(d.port, "www.kg.test.", "A", source="127.0.0.1")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED")
        self.assertEqual(r.answer, [])

    def test_ipv6_allow(self):
        up, d = self.start_pair({"access": {"allow": "::1/128"}})
        r = query(d.port, "www.kg.test.", "A", addr="::1")
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        r = query(d.port, "www.kg.test.", "A", addr="127.0.0.1")
        self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED")

    def test_multiple_prefixes(self):
        up, d = self.start_pair({"access": {"allow": "127.0.0.3/32, 127.0.0.4/31"}})
        expect = {"127.0.0.1": "REFUSED", "127.0.0.3": "NOERROR", "127.0.0.4": "NOERROR",
                  "127.0.0.5": "NOERROR", "127.0.0.6": "REFUSED"}
        for src, rc in expect.items():
            r = query(d.port, "www.kg.test.", "A", source=src)
            self.assertEqual(dns.rcode.to_text(r.rcode()), rc, "source %s" % src)


if __name__ == "__main__":
    kgtest.main()
