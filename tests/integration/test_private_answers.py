#!/usr/bin/python3
"""DNS rebinding (issue 15, finding 4): by default an upstream answer that puts a private or
loopback address under a public name loses those records ([upstream] private_address_answers =
drop, like unbound's private-address); names at or under [upstream] private_domains keep them;
private_address_answers = allow passes everything. The upstream is the real unbound serving
the test zone.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata  # noqa: E402

EXTRA = [
    ("rebind.kg.test.", "A", 300, "192.168.1.1"),
    ("loop.kg.test.", "A", 300, "127.0.0.1"),
    ("rebind6.kg.test.", "AAAA", 300, "fd00::1"),
    ("mapped.kg.test.", "AAAA", 300, "::ffff:10.0.0.1"),
    ("mixed.kg.test.", "A", 300, "192.168.1.1"),
    ("mixed.kg.test.", "A", 300, "192.0.2.9"),
    ("nas.corp.kg.test.", "A", 300, "192.168.1.9"),
]


class PrivateAnswersTest(kgtest.KGTestCase):
    def pair(self, upstream_overrides):
        up = self.start_upstream(extra_records=EXTRA)
        d = self.start_daemon("127.0.0.1:%d" % up.port, {"upstream": upstream_overrides})
        return up, d

    def test_dropped_by_default(self):
        up, d = self.pair({"private_domains": "corp.kg.test"})
        for name, rdtype in (("rebind.kg.test.", "A"), ("loop.kg.test.", "A"),
                             ("rebind6.kg.test.", "AAAA"), ("mapped.kg.test.", "AAAA")):
            for _ in range(2):  # a NODATA without SOA is not cached: asked twice
                r = query(d.port, name, rdtype)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR, name)
                self.assertEqual(answer_rdata(r, rdtype), set(), name)  # NODATA
        # only the private record of a mixed answer goes, and the cache keeps it stripped
        for _ in range(2):
            self.assertEqual(answer_rdata(query(d.port, "mixed.kg.test.", "A"), "A"),
                             {"192.0.2.9"})
        self.assertEqual(up.count("mixed.kg.test.", "A"), 1)
        # the local network's own names keep theirs
        self.assertEqual(answer_rdata(query(d.port, "nas.corp.kg.test.", "A"), "A"),
                         {"192.168.1.9"})
        # public answers are untouched
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test.", "A"), "A"), {"192.0.2.1"})

    def test_allow_mode_passes(self):
        up, d = self.pair({"private_address_answers": "allow"})
        self.assertEqual(answer_rdata(query(d.port, "rebind.kg.test.", "A"), "A"),
                         {"192.168.1.1"})
        self.assertEqual(answer_rdata(query(d.port, "mixed.kg.test.", "A"), "A"),
                         {"192.168.1.1", "192.0.2.9"})

    def test_bad_values_named(self):
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"upstream": {"private_address_answers": "maybe"}}, start=False)
        r = kgtest.run_cmd([d.binary, "-n", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("[upstream] private_address_answers", r.stderr)
        self.assertIn("drop or allow", r.stderr)


if __name__ == "__main__":
    kgtest.main()
