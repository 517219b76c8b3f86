"""Feed key rollover in band, and a new [sync] taking effect on SIGHUP.

Real feeds (kidguard-feed), a real HTTPS server (python ssl) and the real sync code: the
rollover runs one poll at a time with kidguard-sync-once (so each step is one verdict), the
SIGHUP test runs the daemon's own sync process.

Run alone: /usr/bin/python3 tests/integration/test_keyroll.py --build-dir build
"""

import base64
import os
import pwd
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
import kgfeed  # noqa: E402


def names(tmp, tag, version):
    return kgfeed.write_list(os.path.join(tmp, "%s-%d.txt" % (tag, version)),
                             ["v%d.%s.kg-roll.test" % (version, tag)])


class KeyRolloverTest(kgtest.KGTestCase):
    def poll(self, srv, pki, state, pinned, grace, now=None):
        # --now: the poll's clock, so the test crosses the key's date and the grace period
        # without waiting for them
        extra = ["--key-grace", str(grace)] + (["--now", str(now)] if now else [])
        r = kgfeed.sync_once(srv.url(), [pinned], state, pki.ca, extra=extra)
        return r.returncode, r.stdout + r.stderr

    def test_rollover_across_versions_without_config_edit(self):
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)          # key A: the one appliances pin
        new_key = os.path.join(self.tmp, "feed-B.pem")
        new_pub = kgfeed.Publisher.keygen(new_key)  # key B: its announced successor
        state = os.path.join(self.tmp, "state")
        grace = 600
        # The successor's date: an hour ahead; the polls after it say so with --now.
        t_from = int(time.time()) + 3600
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)

        # v1, signed by A only, announces B from t_from.
        pub.publish([("gambling", names(self.tmp, "g", 1), "domains")],
                    extra=["--announce-key", new_pub, "--from", str(t_from)])
        rc, out = self.poll(srv, pki, state, pub.pub, grace)
        self.assertEqual(rc, 0, out)
        self.assertEqual(kgfeed.store_version(state), 1)
        self.assertIn("announced", out)
        self.assertIn("announced key  %s from %d" % (base64.b64decode(new_pub).hex(), t_from),
                      kgfeed.ctl_info(state))
        self.assertIn("khóa đã báo    %s từ %d" % (base64.b64decode(new_pub).hex(), t_from),
                      kgfeed.ctl_info(state, lang="vi_VN.UTF-8"))

        # v2 signed by A and B (the publisher's transition), v3 by B only, before its date:
        # the appliance pins only A, and B does not count yet.
        pub.publish([("gambling", names(self.tmp, "g", 2), "domains")],
                    keys=[pub.keyfile, new_key])
        pub.publish([("gambling", names(self.tmp, "g", 3), "domains")], keys=[new_key])
        rc, out = self.poll(srv, pki, state, pub.pub, grace)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("signature", out.lower())
        self.assertEqual(kgfeed.store_version(state), 1)

        # From its date on, the same manifest signed by B alone is accepted: no config edit.
        rc, out = self.poll(srv, pki, state, pub.pub, grace, now=t_from + 1)
        self.assertEqual(rc, 0, out)
        self.assertEqual(kgfeed.store_version(state), 3)
        code, text = kgfeed.ctl_check(state, "v3.g.kg-roll.test")
        self.assertIn("gambling", text)

        # Within the grace period the old key still counts: a feed signed by A alone (another
        # publisher directory, as a publisher that lost track of the rollover would make).
        old = kgfeed.Publisher(self.tmp, name="feed-old")
        shutil.copy(pub.keyfile, old.keyfile)
        old.pub = pub.pub

        def serve_from(p, version):
            p.publish([("gambling", names(self.tmp, "o", version), "domains")],
                      extra=["--version", str(version)])
            for f in os.listdir(p.dir):
                if f.startswith(("manifest", "snapshot-%d" % version, "timestamp")):
                    shutil.copy(os.path.join(p.dir, f), os.path.join(pub.dir, f))

        serve_from(old, 10)
        rc, out = self.poll(srv, pki, state, pub.pub, grace, now=t_from + 2)
        self.assertEqual(rc, 0, out)
        self.assertEqual(kgfeed.store_version(state), 10)

        # After the grace period the old key is dropped, though the config still pins it.
        shutil.rmtree(old.dir)
        serve_from(old, 11)
        rc, out = self.poll(srv, pki, state, pub.pub, grace, now=t_from + grace + 1)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("signature", out.lower())
        self.assertEqual(kgfeed.store_version(state), 10)

        # A manifest signed only by a key nobody announced is refused.
        other = kgfeed.Publisher(self.tmp, name="feed-other")
        serve_from(other, 12)
        rc, out = self.poll(srv, pki, state, pub.pub, grace, now=t_from + grace + 2)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(kgfeed.store_version(state), 10)


class SyncUserConfigTest(kgtest.KGTestCase):
    """[sync] user: what can be checked without root. The switch itself (the sync process
    under its own account) needs a root start and is not exercised here."""

    def check(self, user):
        d = kgtest.Daemon(self.tmp, "127.0.0.1:53", {"sync": {
            "url": "https://127.0.0.1:9/manifest.json",
            "public_keys": "A" * 43 + "=", "user": user, "key_grace": 3600}})
        return kgtest.run_cmd([d.binary, "-n", "-v", "-c", d.conf]), d.conf

    def test_unknown_user_refused_known_user_printed(self):
        r, conf = self.check("no-such-user-kg")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"%s:\d+: \[sync\] user: " % conf)
        self.assertIn("no such user", r.stderr)
        me = pwd.getpwuid(os.getuid()).pw_name
        r, _ = self.check(me)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("user = %s\n" % me, r.stdout)
        self.assertIn("key_grace = 3600\n", r.stdout)


class SyncReloadTest(kgtest.KGTestCase):
    def test_new_feed_url_applied_on_sighup(self):
        pki = kgfeed.Pki(self.tmp)
        first = kgfeed.Publisher(self.tmp, name="first")
        second = kgfeed.Publisher(self.tmp, name="second")
        first.publish([("gambling", names(self.tmp, "first", 1), "domains")])
        # The new feed is ahead of the old one (a feed never goes back in version).
        second.publish([("gambling", names(self.tmp, "second", 1), "domains")],
                       extra=["--version", "2"])
        s1 = kgfeed.FeedServer(self.tmp, first.dir, pki).start()
        self.addCleanup(s1.stop)
        s2 = kgfeed.FeedServer(self.tmp, second.dir, pki).start()
        self.addCleanup(s2.stop)
        up = self.start_upstream()
        # A long interval: only a restart of the sync process can bring the second feed in.
        d = self.start_daemon("127.0.0.1:%d" % up.port, {"sync": {
            "url": s1.url(), "public_keys": first.pub, "ca_file": pki.ca,
            "interval": 3600, "timeout": 10}})

        def blocked(name):
            try:
                r = kgtest.query(d.port, name, "A", timeout=2)
            except Exception:
                return False
            return kgtest.answer_rdata(r, "A") == {"0.0.0.0"}

        self.assertTrue(kgtest.wait_until(lambda: blocked("v1.first.kg-roll.test"), 30),
                        d.log_text()[-3000:])
        self.assertFalse(blocked("v1.second.kg-roll.test"))
        d.sections["sync"].update({"url": s2.url(), "public_keys": second.pub})
        d.write_config()
        d.send_signal(signal.SIGHUP)
        self.assertTrue(kgtest.wait_until(lambda: blocked("v1.second.kg-roll.test"), 30),
                        d.log_text()[-3000:])
        self.assertEqual(len(s2.fetched("manifest.json")), 1, s2.requests())
        log = d.log_text()
        self.assertIn("restarting the sync process", log)
        self.assertNotIn("when it next restarts", log)
        # The old process is gone, not left polling the old feed.
        n = len(s1.requests())
        d.send_signal(signal.SIGUSR1)  # poll now: only the new process may answer it
        self.assertTrue(kgtest.wait_until(lambda: len(s2.requests()) >= 3, 15), s2.requests())
        self.assertEqual(len(s1.requests()), n, s1.requests())


if __name__ == "__main__":
    kgtest.main()
