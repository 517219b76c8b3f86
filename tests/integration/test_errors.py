#!/usr/bin/python3
"""The one error model (common/kg_err.h), seen from outside the daemon.

StoreErrorTextTest: a store error that travels up through the resolver is named in the log
by the one kg_strerror() (rs_strerror() knew only the RS_E* range and printed "Unknown error
4005" for BL_EVERSION; before kg_strerror this call site had to pick bl_strerror by hand).

AssertMetricTest: kg_fails_assert() failures are exported as kidguard_assert_failures_total,
so a surprise on the query path (answered SERVFAIL) is visible to monitoring, not only in a
rate-limited log line.
"""
import http.client
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query  # noqa: E402


class StoreErrorTextTest(kgtest.KGTestCase):
    def test_unreadable_store_is_named(self):
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, start=False, v6=False)
        # Not an LMDB file at all: LMDB refuses it (MDB_INVALID), bl__mdb_err() makes it
        # BL_EVERSION, and the resolver logs it while refusing to start.
        with open(os.path.join(d.state, "data.mdb"), "wb") as f:
            f.write(b"not a blocklist store\n" * 3000)
        d.start(wait=False)
        self.assertTrue(kgtest.wait_until(lambda: not d.alive(), 10),
                        "kidguard started on a garbage store: " + d.log_text())
        log = d.log_text()
        d.proc.wait()
        d._err.close()
        d.proc = None
        self.assertIn("cannot open the blocklist store", log)
        self.assertIn("blocklist store has an incompatible format version", log)
        self.assertNotIn("Unknown error", log)
        self.assertNotIn("unknown error", log)


class AssertMetricTest(kgtest.KGTestCase):
    def metric(self, port, name):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        m = re.search(r"^%s (\d+)$" % name, text, re.M)
        return int(m.group(1)) if m else None

    def test_assert_failures_exported(self):
        up = self.start_upstream()
        port = kgtest.free_port(v6=False)
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"http": {"listen": "127.0.0.1:%d" % port}}, v6=False)
        for name in ("www.kg.test.", "nx.kg.test."):
            r = query(d.port, name, "A")
            self.assertNotEqual(dns.rcode.to_text(r.rcode()), "SERVFAIL")
        self.assertTrue(kgtest.wait_until(
            lambda: self.metric(port, "kidguard_assert_failures_total") is not None, 5))
        # Healthy queries meet no impossible state.
        self.assertEqual(self.metric(port, "kidguard_assert_failures_total"), 0)
        self.assertTrue(d.alive())


if __name__ == "__main__":
    kgtest.main()
