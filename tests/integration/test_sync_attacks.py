"""Attacks on the feed: each is refused and the last good list keeps serving.

A store is synced to version 1 of a feed made by kidguard-feed from a real list; then the
HTTPS server serves a tampered feed and one poll (the test driver kidguard-sync-once, the same
sy_poll_once the daemon's sync process runs) must fail, leave version 1 in place with its names
still blocked, and record the error; a good feed afterwards still applies.
Run alone: /usr/bin/python3 tests/integration/test_sync_attacks.py --build-dir build
"""

import base64
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
import kgfeed  # noqa: E402

LIST = os.path.join(kgfeed.UT1, "2025-07-13", "gambling", "domains.xz")
PAYLOAD_TYPE = "application/vnd.kidguard.feed.v1+json"


def sign_envelope(payload, keyfile, keyid, ptype=PAYLOAD_TYPE):
    """A DSSE envelope signed with openssl pkeyutl (independent of kidguard-feed)."""
    pae = b"DSSEv1 %d %s %d " % (len(ptype), ptype.encode(), len(payload)) + payload
    tmp = keyfile + ".pae"
    with open(tmp, "wb") as f:
        f.write(pae)
    r = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", keyfile, "-in", tmp],
                       stdout=subprocess.PIPE, check=True)
    return json.dumps({"payloadType": ptype,
                       "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": keyid,
                                       "sig": base64.b64encode(r.stdout).decode()}]}).encode()


def open_envelope(path):
    with open(path, "rb") as f:
        env = json.load(f)
    return env, json.loads(base64.b64decode(env["payload"]))


class AttackTest(kgtest.KGTestCase):
    def setUp(self):
        self.pki = kgfeed.Pki(self.tmp)
        self.pub = kgfeed.Publisher(self.tmp)
        self.extra = os.path.join(self.tmp, "extra.txt")
        kgfeed.write_list(self.extra, ["v1.kg-feed.test"])
        # These attacks re-sign tampered manifests and lists with the publisher's key; the
        # signed timestamp (on by default for a new feed) would refuse them first, so it is
        # off here and has its own attacks in TimestampTest.
        self.pub.publish([("gambling", LIST, "domains"), ("other", self.extra, "domains")],
                         extra=["--timestamp-ttl", "0"])
        self.v1 = os.path.join(self.tmp, "feed-v1")
        shutil.copytree(self.pub.dir, self.v1)
        self.serve = os.path.join(self.tmp, "www")
        shutil.copytree(self.pub.dir, self.serve)
        self.srv = kgfeed.FeedServer(self.tmp, self.serve, self.pki).start()
        self.addCleanup(self.srv.stop)
        self.state = os.path.join(self.tmp, "state")
        r = self.poll()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGood(1)
        # version 2, not yet served: what the attacks tamper with
        kgfeed.write_list(self.extra, ["v2.kg-feed.test"])
        self.pub.publish([("gambling", LIST, "domains"), ("other", self.extra, "domains")])

    def poll(self, extra=(), url=None, timeout=120):
        return kgfeed.sync_once(url or self.srv.url(), [self.pub.pub], self.state, self.pki.ca,
                                extra=extra, timeout=timeout)

    def assertGood(self, version):
        rc, out = kgfeed.ctl_check(self.state, "v%d.kg-feed.test" % version)
        self.assertIn(": block", out)
        self.assertEqual(kgfeed.store_version(self.state), version)

    def serve_feed(self, src):
        shutil.rmtree(self.serve)
        shutil.copytree(src, self.serve)

    def refused(self, expect, extra=(), url=None):
        r = self.poll(extra=extra, url=url)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(expect, r.stderr)
        self.assertGood(1)
        info = kgfeed.ctl_info(self.state)
        self.assertIn("error", info.lower(), info)
        return r

    def recovers(self):
        self.serve_feed(self.pub.dir)
        r = self.poll()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGood(2)

    def test_bad_signature(self):
        self.serve_feed(self.pub.dir)
        env, m = open_envelope(os.path.join(self.serve, "manifest.json"))
        m["expires"] += 86400 * 365  # a change the publisher did not sign
        env["payload"] = base64.b64encode(json.dumps(m).encode()).decode()
        with open(os.path.join(self.serve, "manifest.json"), "w") as f:
            json.dump(env, f)
        self.refused("no valid signature")
        self.recovers()

    def test_unknown_key(self):
        other = kgfeed.Publisher(self.tmp, "other")
        kgfeed.write_list(self.extra, ["v2.kg-feed.test"])
        other.publish([("gambling", LIST, "domains"), ("other", self.extra, "domains")],
                      extra=["--version", "9"])
        self.serve_feed(other.dir)
        self.refused("no valid signature")
        self.recovers()

    def test_replayed_older_manifest(self):
        self.recovers()  # now at version 2
        self.serve_feed(self.v1)
        r = self.poll()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rollback", r.stderr)
        self.assertEqual(kgfeed.store_version(self.state), 2)

    def test_expired_manifest(self):
        kgfeed.write_list(self.extra, ["v2.kg-feed.test"])
        self.pub.publish([("gambling", LIST, "domains"), ("other", self.extra, "domains")],
                         extra=["--expires-in", "1"])
        self.serve_feed(self.pub.dir)
        _, m = open_envelope(os.path.join(self.serve, "manifest.json"))
        # sy_poll refuses once expires <= the poll's start (whole seconds)
        self.assertTrue(kgtest.wait_until(lambda: time.time() >= m["expires"], 5),
                        "the manifest never expired")
        self.refused("expired")

    def tamper_files(self, fn):
        self.serve_feed(self.pub.dir)
        for name in os.listdir(self.serve):
            if name.startswith(("snapshot-2", "delta-1-2")):
                p = os.path.join(self.serve, name)
                with open(p, "rb") as f:
                    data = f.read()
                with open(p, "wb") as f:
                    f.write(fn(data))

    def test_hash_mismatch(self):
        self.tamper_files(lambda d: d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 1]) +
                          d[len(d) // 2 + 1:])
        self.refused("SHA-256")
        self.recovers()

    def test_truncated_file(self):
        self.tamper_files(lambda d: d[:len(d) // 2])
        self.refused("SHA-256")
        self.recovers()

    def test_oversized_file(self):
        self.tamper_files(lambda d: d + b"x" * 100000)
        self.refused("over the limit")
        self.recovers()

    def test_download_cap(self):
        self.serve_feed(self.pub.dir)
        os.remove(os.path.join(self.serve, "delta-1-2.jsonl.gz"))
        self.refused("over the limit", extra=["--max-bytes", "100000"])

    def test_malformed_line(self):
        """Signed by the right key, hashes right: a bad line still aborts the whole apply."""
        self.serve_feed(self.pub.dir)
        env, m = open_envelope(os.path.join(self.serve, "manifest.json"))
        snap = os.path.join(self.serve, m["snapshot"]["url"])
        with gzip.open(snap, "rb") as f:
            lines = f.read().split(b"\n")
        lines[len(lines) // 2] = b'{"name":"half.written.test","subtree":tru'
        raw = b"\n".join(lines)
        data = gzip.compress(raw)
        with open(snap, "wb") as f:
            f.write(data)
        m["snapshot"].update(size=len(data), raw_size=len(raw),
                             sha256=hashlib.sha256(data).hexdigest())
        m["deltas"] = []
        with open(os.path.join(self.serve, "manifest.json"), "wb") as f:
            f.write(sign_envelope(json.dumps(m).encode(), self.pub.keyfile,
                                  env["signatures"][0]["keyid"]))
        self.refused("malformed")
        # the lines before the bad one were not applied either
        rc, out = kgfeed.ctl_check(self.state, "v2.kg-feed.test")
        self.assertIn("not blocked", out)

    def test_server_down(self):
        self.srv.stop()
        self.refused("transfer failed")

    def test_server_hanging(self):
        hang = kgfeed.HangServer()
        self.addCleanup(hang.stop)
        t0 = time.monotonic()
        self.refused("transfer failed", extra=["--timeout", "3"],
                     url="https://127.0.0.1:%d/manifest.json" % hang.port)
        self.assertLess(time.monotonic() - t0, 15)

    def test_http_refused(self):
        r = self.poll(url="http://127.0.0.1:%d/manifest.json" % self.srv.port)
        self.assertNotEqual(r.returncode, 0)
        self.assertGood(1)


TIMESTAMP_TYPE = "application/vnd.kidguard.timestamp.v1+json"
TTL = 86400


class TimestampTest(kgtest.KGTestCase):
    """Issue 15, finding 12: a mirror that replays the current manifest (or answers 304) must
    not keep a feed fresh. The publisher re-signs timestamp.json; the appliance counts max_age
    from the newest signed time it verified and refuses an older one."""

    def setUp(self):
        self.pki = kgfeed.Pki(self.tmp)
        self.pub = kgfeed.Publisher(self.tmp)
        self.extra = kgfeed.write_list(os.path.join(self.tmp, "extra.txt"), ["v1.kg-feed.test"])
        self.pub.publish([("other", self.extra, "domains")],
                         extra=["--timestamp-ttl", str(TTL)])
        self.srv = kgfeed.FeedServer(self.tmp, self.pub.dir, self.pki).start()
        self.addCleanup(self.srv.stop)
        self.state = os.path.join(self.tmp, "state")
        env, self.m = open_envelope(os.path.join(self.pub.dir, "manifest.json"))
        self.keyid = env["signatures"][0]["keyid"]
        self.msha = hashlib.sha256(base64.b64decode(env["payload"])).hexdigest()

    def poll(self):
        return kgfeed.sync_once(self.srv.url(), [self.pub.pub], self.state, self.pki.ca)

    def serve_timestamp(self, signed, version=None, expires=None, sha=None):
        """Sign timestamp.json ourselves (openssl), at any signing time we like."""
        ts = {"format": 1, "feed": self.m["feed"], "version": version or self.m["version"],
              "manifest_sha256": sha or self.msha, "signed": int(signed),
              "expires": int(expires or signed + TTL)}
        data = sign_envelope(json.dumps(ts).encode(), self.pub.keyfile, self.keyid,
                             TIMESTAMP_TYPE)
        with open(os.path.join(self.pub.dir, "timestamp.json"), "wb") as f:
            f.write(data)

    def signed_at(self):
        import re
        m = re.search(r"^signed at\s+(\d+)", kgfeed.ctl_info(self.state), re.M)
        return int(m.group(1)) if m else None

    def test_publish_writes_a_timestamp(self):
        self.assertEqual(self.m["timestamp_ttl"], TTL)
        env, ts = open_envelope(os.path.join(self.pub.dir, "timestamp.json"))
        self.assertEqual(env["payloadType"], TIMESTAMP_TYPE)
        self.assertEqual((ts["version"], ts["manifest_sha256"]), (1, self.msha))
        self.assertEqual(ts["expires"] - ts["signed"], TTL)
        r = self.poll()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.signed_at(), ts["signed"])

    def test_replayed_older_timestamp_is_refused(self):
        now = int(time.time())
        self.serve_timestamp(now - 10)
        r = self.poll()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.signed_at(), now - 10)
        # a fresh re-signed timestamp moves it forward ...
        self.serve_timestamp(now)
        self.assertEqual(self.poll().returncode, 0)
        self.assertEqual(self.signed_at(), now)
        # ... and a replayed older one is refused and moves nothing
        self.serve_timestamp(now - 10)
        r = self.poll()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("replay refused", r.stderr)
        self.assertEqual(self.signed_at(), now)
        self.assertIn("replay refused", kgfeed.ctl_info(self.state))

    def test_bad_timestamps_are_refused(self):
        now = int(time.time())
        cases = [
            ("expired", dict(signed=now - 100, expires=now - 1)),
            ("longer than the manifest's timestamp_ttl", dict(signed=now, expires=now + TTL + 1)),
            ("is not for the manifest served", dict(signed=now, version=2)),
            ("is not for the manifest served", dict(signed=now, sha="00" * 32)),
        ]
        for why, kw in cases:
            with self.subTest(why=why, **kw):
                self.serve_timestamp(**kw)
                r = self.poll()
                self.assertNotEqual(r.returncode, 0, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertIsNone(self.signed_at())
        # a manifest signed as a timestamp (or any other payload type) is not one
        with open(os.path.join(self.pub.dir, "manifest.json"), "rb") as f:
            manifest = f.read()
        with open(os.path.join(self.pub.dir, "timestamp.json"), "wb") as f:
            f.write(manifest)
        r = self.poll()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("timestamp.json: malformed", r.stderr)
        # withheld
        os.remove(os.path.join(self.pub.dir, "timestamp.json"))
        r = self.poll()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("timestamp.json: transfer failed", r.stderr)
        self.assertIsNone(self.signed_at())
        self.assertIsNone(kgfeed.store_version(self.state) or None)

    def test_frozen_mirror_goes_stale_and_fails_closed(self):
        """The daemon's own sync process; the mirror keeps answering the same manifest (304)
        and the same timestamp. Fresh while the signed time is within max_age, stale (and
        failing closed) once it is not, fresh again after `kidguard-feed timestamp`."""
        max_age = 60
        margin = 20  # the timestamp goes too old 20 s from now
        self.serve_timestamp(time.time() - max_age + margin)
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "sync": {"url": self.srv.url(), "public_keys": self.pub.pub,
                     "ca_file": self.pki.ca, "interval": 5, "timeout": 10,
                     "max_age": max_age, "on_stale": "fail_closed"},
            "http": {"listen": "127.0.0.1:%d" % kgtest.free_port(v6=False)}})
        http = d.sections["http"]["listen"]

        def health():
            import urllib.error
            import urllib.request
            try:
                with urllib.request.urlopen("http://%s/health" % http, timeout=2) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
            except OSError as e:
                return None, str(e)

        def answers_www():
            try:
                return kgtest.answer_rdata(kgtest.query(d.port, "www.kg.test.", "A"), "A") == \
                    kgtest.expected_rdata("www.kg.test.", "A")
            except Exception:
                return False

        self.assertTrue(kgtest.wait_until(
            lambda: kgfeed.store_version(d.state) == 1 and health()[0] == 200, 20),
            "%s\n%s" % (health(), d.log_text()[-3000:]))
        self.assertTrue(answers_www())
        # the mirror keeps answering: 304 for the manifest, then the same timestamp again
        def replayed():
            reqs = self.srv.requests()
            return ("GET", "/manifest.json", "304") in reqs and \
                reqs[-1] == ("GET", "/timestamp.json", "200")
        self.assertTrue(kgtest.wait_until(replayed, 15), self.srv.requests())
        self.assertTrue(kgtest.wait_until(lambda: health()[0] == 503, margin + 15),
                        "%s\n%s" % (health(), d.log_text()[-3000:]))
        self.assertIn("newest signed timestamp", health()[1])
        self.assertTrue(kgtest.wait_until(lambda: not answers_www(), 5),
                        "on_stale = fail_closed did not block: " + d.log_text()[-3000:])
        self.assertIn("feed is stale: no newer signed timestamp", d.log_text())
        # the publisher re-signs (cron): healthy again at the next poll
        r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "timestamp", "--key",
                            self.pub.keyfile, "--dir", self.pub.dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(kgtest.wait_until(lambda: health()[0] == 200, 20),
                        "%s\n%s" % (health(), d.log_text()[-3000:]))
        self.assertTrue(kgtest.wait_until(answers_www, 5))


class KillDuringApplyTest(kgtest.KGTestCase):
    """kill -9 of the sync process while it applies a 1M-entry snapshot."""

    def test_kill9_mid_apply(self):
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        small = kgfeed.write_list(os.path.join(self.tmp, "small.txt"), ["v1.kg-feed.test"])
        pub.publish([("other", small, "domains")])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        state = os.path.join(self.tmp, "state")
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        pub.publish(big_lists(), extra=["--keep", "0"], timeout=900)
        killed_mid = False
        for delay in (0.3, 0.15, 0.05):
            p = subprocess.Popen([kgfeed.tool("kidguard-sync-once"), "--url", srv.url(), "--keys",
                                  pub.pub, "--state", state, "--ca", pki.ca],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n = len(srv.fetched("snapshot-2"))
            kgtest.wait_until(lambda: len(srv.fetched("snapshot-2")) > n, 30, interval=0.01)
            time.sleep(delay)  # deliberate: kill at several points of the apply
            p.send_signal(signal.SIGKILL)
            p.wait()
            info = kgfeed.ctl_info(state)
            if kgfeed.store_version(state) == 1:
                killed_mid = True
                break
        self.assertTrue(killed_mid, "the apply finished before every kill; " + info)
        rc, out = kgfeed.ctl_check(state, "v1.kg-feed.test")
        self.assertIn(": block", out)
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("version 2", r.stdout)


def big_lists():
    """About 1.1M rules from the real lists (UT1 both snapshots, hagezi, blocklistproject,
    sinfonietta, RPZ); 1.1M generated names without them."""
    d = kgfeed.DATA
    out = []
    if not kgfeed.REAL_DATA:
        path = os.path.join(d, "big-generated.txt")
        if not os.path.exists(path):
            with open(path, "w") as f:
                for i in range(1100000):
                    f.write("n%07d.big%02d.fixture.example\n" % (i, i % 97))
        return [("other", path, "domains")]
    for snap in ("2025-07-13", "2026-08-17"):
        base = os.path.join(kgfeed.UT1, snap)
        for c in sorted(os.listdir(base)):
            f = os.path.join(base, c, "domains.xz")
            if os.path.exists(f):
                out.append(("phishing" if c == "phishing" else "other", f, "domains"))
    bl = os.path.join(d, "blocklists")
    out += [("adult", os.path.join(bl, "hagezi", "adblock", "nsfw.txt.xz"), "adblock"),
            ("gambling", os.path.join(bl, "hagezi", "adblock", "gambling.medium.txt.xz"), "adblock"),
            ("adult", os.path.join(bl, "hagezi", "wildcard", "nsfw.txt.xz"), "domains"),
            ("phishing", os.path.join(bl, "blocklistproject", "alt-version", "phishing-nl.txt.xz"),
             "domains"),
            ("scam", os.path.join(bl, "blocklistproject", "scam.txt.xz"), "hosts"),
            ("adult", os.path.join(bl, "sinfonietta", "pornography-hosts.xz"), "hosts")]
    for f in sorted(os.listdir(os.path.join(d, "rpz", "hagezi"))):
        out.append(("other", os.path.join(d, "rpz", "hagezi", f), "rpz"))
    return out


if __name__ == "__main__":
    kgtest.main()
