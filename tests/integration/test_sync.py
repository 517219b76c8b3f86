"""The signed national feed end to end: kidguard-feed publishes from the real lists, a real
HTTPS server (python ssl, a CA made here with openssl) serves it, the daemon's sync process
applies it, and a real DNS client sees the names blocked. A new version arrives as a delta.

Run alone: /usr/bin/python3 tests/integration/test_sync.py --build-dir build
"""

import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
import kgfeed  # noqa: E402
from kgtest import run_ctl  # noqa: E402

import dns.rcode  # noqa: E402

UT1 = os.path.join(kgfeed.UT1, "2025-07-13")
INTERVAL = 10


def read_xz(path, n):
    r = kgtest.run_cmd(["xz", "-dc", path], timeout=60)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()][:n]


def blocked(port, name, version=None):
    """True when kidguard answers `name` with the sinkhole (and EDE naming feed@version)."""
    try:
        r = kgtest.query(port, name, "A", timeout=2, edns=0)
    except Exception:
        return False
    if kgtest.answer_rdata(r, "A") != {"0.0.0.0"}:
        return False
    if version is None:
        return True
    texts = [getattr(o, "text", "") or "" for o in r.options]
    return any("feed@%d" % version in t for t in texts)


class SyncDaemonTest(kgtest.KGTestCase):
    def test_sync_then_delta_within_interval(self):
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        extra1 = kgfeed.write_list(os.path.join(self.tmp, "extra1.txt"),
                                   ["gone-in-v2.kg-feed.test", "stays.kg-feed.test"])
        extra2 = kgfeed.write_list(os.path.join(self.tmp, "extra2.txt"),
                                   ["stays.kg-feed.test", "new-in-v2.kg-feed.test"])
        base = [("gambling", os.path.join(UT1, "gambling", "domains.xz"), "domains"),
                ("phishing", os.path.join(UT1, "phishing", "domains.xz"), "domains"),
                ("csam", os.path.join(UT1, "child", "domains.xz"), "domains")]
        pub.publish(base + [("other", extra1, "domains")], confidential=["csam"])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)

        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, {"sync": {
            "url": srv.url(), "public_keys": pub.pub, "ca_file": pki.ca,
            "interval": INTERVAL, "timeout": 10}})
        gambling = read_xz(os.path.join(UT1, "gambling", "domains.xz"), 3)[-1]
        child = read_xz(os.path.join(UT1, "child", "domains.xz"), 3)[-1]
        self.assertTrue(kgtest.wait_until(lambda: blocked(d.port, "gone-in-v2.kg-feed.test", 1),
                                          INTERVAL + 10), d.log_text()[-3000:])
        self.assertTrue(blocked(d.port, gambling, 1), gambling)
        self.assertTrue(blocked(d.port, "www." + gambling), "subtree rule")
        self.assertTrue(blocked(d.port, child, 1), "confidential (hashed) entry: " + child)
        self.assertTrue(blocked(d.port, "a.b." + child), "hashed subtree rule")
        self.assertFalse(blocked(d.port, "new-in-v2.kg-feed.test"))
        self.assertEqual(kgtest.query(d.port, "www.kg.test.", "A").rcode(), dns.rcode.NOERROR)

        # No name of the confidential category is in the store in clear.
        with open(os.path.join(d.state, "data.mdb"), "rb") as f:
            self.assertNotIn(child.encode(), f.read())

        pub.publish(base + [("other", extra2, "domains")], confidential=["csam"])
        t0 = time.monotonic()
        ok = kgtest.wait_until(lambda: blocked(d.port, "new-in-v2.kg-feed.test", 2),
                               INTERVAL + 5, interval=0.1)
        latency = time.monotonic() - t0
        self.assertTrue(ok, "v2 not enforced within interval + 5 s\n" + d.log_text()[-3000:])
        sys.stderr.write("\npublish -> enforced: %.1f s (interval %d s)\n" % (latency, INTERVAL))
        self.assertFalse(blocked(d.port, "gone-in-v2.kg-feed.test"))
        # An unchanged rule keeps the version it came with (the delta did not touch it).
        self.assertTrue(blocked(d.port, "stays.kg-feed.test", 1))
        self.assertTrue(blocked(d.port, child, 1))
        self.assertEqual(len(srv.fetched("snapshot-")), 1, srv.requests())
        self.assertEqual(len(srv.fetched("delta-1-2")), 1, srv.requests())
        # An unchanged feed costs two small requests: the manifest's 304 Not Modified, then the
        # signed timestamp (a new feed publishes one), which keeps the feed's freshness signed.
        n = len(srv.requests())
        kgtest.wait_until(lambda: len(srv.requests()) >= n + 2, INTERVAL + 3)
        self.assertEqual([r[1:] for r in srv.requests()[n:n + 2]],
                         [("/manifest.json", "304"), ("/timestamp.json", "200")])


KID, GROWN, NOBLOCK = "127.0.0.2", "127.0.0.4", "127.0.0.5"


def sinkholed(port, name, source):
    """(blocked?, EDE texts) for `name` asked from `source`."""
    r = kgtest.query(port, name, "A", timeout=2, edns=0, source=source)
    return (kgtest.answer_rdata(r, "A") == {"0.0.0.0"},
            [t for (_, t) in kgtest.ede_options(r)])


class FeedCategoryPolicyTest(kgtest.KGTestCase):
    """Issue 15, finding 15: the publisher marks csam mandatory in the signed manifest; every
    profile blocks it, above a local allow; feed categories are accepted in block +=; a
    category no preset knows is blocked by the child presets unless the manifest allows it."""

    def test_mandatory_category_and_feed_names(self):
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        lists = [("csam", kgfeed.write_list(os.path.join(self.tmp, "csam.txt"),
                                            ["abuse.kg.test"]), "domains"),
                 ("crypto", kgfeed.write_list(os.path.join(self.tmp, "crypto.txt"),
                                              ["miner.kg.test"]), "domains"),
                 ("newcat", kgfeed.write_list(os.path.join(self.tmp, "newcat.txt"),
                                              ["novel.kg.test"]), "domains")]
        pub.publish(lists, confidential=["csam"],
                    extra=["--mandatory", "csam", "--child-default", "crypto=allow"])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        http_port, page_port = kgtest.free_port(v6=False), kgtest.free_port(v6=False)
        up = self.start_upstream(extra_records=[
            ("abuse.kg.test.", "A", 300, "192.0.2.80"),
            ("miner.kg.test.", "A", 300, "192.0.2.81"),
            ("novel.kg.test.", "A", 300, "192.0.2.82")])
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "sync": {"url": srv.url(), "public_keys": pub.pub, "ca_file": pki.ca,
                     "interval": INTERVAL, "timeout": 10},
            "profile kid": {"preset": "under9", "clients": KID},
            "profile grown": {"preset": "adult", "clients": GROWN},
            "profile noblock": {"block": "none", "clients": NOBLOCK},
            "profile default": {"preset": "adult"},
            "http": {"listen": "127.0.0.1:%d" % http_port,
                     "block_page_listen": "127.0.0.1:%d" % page_port}})
        self.assertTrue(kgtest.wait_until(lambda: sinkholed(d.port, "abuse.kg.test.", KID)[0],
                                          INTERVAL + 10), d.log_text()[-3000:])
        # mandatory: blocked for the adult profile and for block = none, and says why
        for src in (KID, GROWN, NOBLOCK):
            hit, texts = sinkholed(d.port, "www.abuse.kg.test.", src)
            self.assertTrue(hit, src)
            self.assertTrue(any("mandatory (publisher)" in t for t in texts), (src, texts))
        # ... and above a local allow rule
        rc = run_ctl(["allow", "add", "abuse.kg.test"], state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        for src in (KID, GROWN, NOBLOCK):
            self.assertTrue(sinkholed(d.port, "abuse.kg.test.", src)[0], src)
        code, out = kgfeed.ctl_check(d.state, "abuse.kg.test")
        self.assertIn("mandatory (publisher)", out)
        # ... and so do the API and the block page
        with urllib.request.urlopen("http://127.0.0.1:%d/api/check?name=abuse.kg.test&client=%s"
                                    % (http_port, GROWN), timeout=10) as r:
            j = json.loads(r.read().decode())
        self.assertEqual((j["action"], j["mandatory"], j["decided_by"]),
                         ("block", True, "mandatory (publisher)"))
        req = urllib.request.Request("http://127.0.0.1:%d/" % page_port,
                                     headers={"Host": "abuse.kg.test"})
        with urllib.request.urlopen(req, timeout=10) as r:
            page = r.read().decode()
        self.assertIn("This site is blocked", page)
        self.assertIn("mandatory (publisher)", page)
        # the child preset blocks the feed's new category, not the one the publisher allows
        self.assertTrue(kgtest.wait_until(lambda: sinkholed(d.port, "novel.kg.test.", KID)[0],
                                          10), d.log_text()[-3000:])
        self.assertFalse(sinkholed(d.port, "miner.kg.test.", KID)[0])
        self.assertFalse(sinkholed(d.port, "novel.kg.test.", GROWN)[0])
        # block += a feed category is accepted (-n and a reload) and applies
        self.assertFalse(sinkholed(d.port, "miner.kg.test.", GROWN)[0])
        d.sections["profile grown"]["block +"] = "crypto"
        d.write_config()
        r = kgtest.run_cmd([d.binary, "-n", "-v", "-c", d.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("block += crypto", r.stdout)
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: sinkholed(d.port, "miner.kg.test.", GROWN)[0],
                                          10), d.log_text()[-3000:])
        # a name neither the presets nor the feed define is still refused, with file:line
        d.sections["profile grown"]["block +"] = "nope"
        d.write_config()
        r = kgtest.run_cmd([d.binary, "-n", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn('[profile grown] block +: unknown category "nope"', r.stderr)
        self.assertIn(d.conf + ":", r.stderr)
        self.assertTrue(d.alive())


if __name__ == "__main__":
    kgtest.main()
