#!/usr/bin/env python3
"""[signal]: the appliance's early-warning signal (issue 18; docs/http.md "Privacy").

A daemon with [signal] on, 20 simulated clients (source addresses 127.0.1.x on loopback), and
a receiving HTTPS server. The day is rolled with the daemon's fake clock (KIDGUARD_TEST_CLOCK),
not by waiting. Checks: a domain asked by k-1 clients never leaves; popular sites and names on
the store never leave; the batch has exactly the documented keys (no address, no profile name,
no time finer than the day); a new day starts from nothing.
"""
import base64
import http.server
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgfeed  # noqa: E402
import kgtest  # noqa: E402
from kgtest import FakeClock, KGTestCase, query, run_ctl, wait_until  # noqa: E402

K = 5


class Receiver:
    """An HTTPS server that keeps every POSTed body."""

    def __init__(self, pki):
        self.bodies = []
        self.paths = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.paths.append(self.path)
                outer.bodies.append(self.rfile.read(n).decode())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert, pki.key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class SignalTest(KGTestCase):
    def setUp(self):
        self.pki = kgfeed.Pki(self.tmp)
        self.rx = Receiver(self.pki)
        self.addCleanup(self.rx.stop)
        self.clock = FakeClock(self.tmp)

    def start(self, signal_extra=None, url=True, extra_sections=None):
        up = self.start_upstream()
        popular = os.path.join(self.tmp, "popular.txt")
        with open(popular, "w") as f:
            f.write("# test list\npopular-site.test\n")
        sig = {"enabled": "on", "k": str(K), "epsilon": "1.0", "allow_list": popular}
        if url:
            sig["url"] = "https://127.0.0.1:%d/signal" % self.rx.port
        sig.update(signal_extra or {})
        http_port = self.http_port = kgtest.free_port(False)
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "signal": sig,
            "sync": {"ca_file": self.pki.ca},
            "http": {"listen": "127.0.0.1:%d" % http_port},
            **(extra_sections or {}),
        }, env=self.clock.env(), start=False)
        return d

    def ask(self, d, name, clients):
        for c in clients:
            r = query(d.port, name, source="127.0.1.%d" % c, timeout=3)
            self.assertIsNotNone(r)

    def fire(self, d, name, clients):
        wire = kgtest.make_query(name).to_wire()
        for c in clients:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.1.%d" % c, 0))
                s.sendto(wire, ("127.0.0.1", d.port))

    def roll_day(self, n_before):
        self.clock.advance(86400)
        self.assertTrue(wait_until(lambda: len(self.rx.bodies) > n_before, 15),
                        "no batch was posted after the day rolled")
        return json.loads(self.rx.bodies[n_before])

    def test_batch_holds_only_k_anonymous_noisy_domains(self):
        # 127.0.2.x are grown-ups: a profile that blocks nothing is not counted
        d = self.start(extra_sections={
            "profile grownups": {"block": "none", "clients": "127.0.2.0/24"}})
        # a name the store knows (any verdict) is never counted
        rc = run_ctl(["allow", "add", "listed-on-store.test"], state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        d.start()
        everyone = range(1, 21)
        self.ask(d, "www.twenty-kids.test", everyone)
        self.ask(d, "cdn.twenty-kids.test", everyone)  # same registrable domain, same clients
        self.ask(d, "a.exactly-k.test", range(1, K + 1))
        self.ask(d, "b.exactly-k.test", range(1, K + 1))
        self.ask(d, "k-minus-one.test", range(1, K))  # k - 1 clients: must never leave
        for _ in range(5):  # one client asking often is still one client
            self.ask(d, "one-client-often.test", [7])
        self.ask(d, "www.popular-site.test", everyone)  # on the popular-sites list
        self.ask(d, "www.listed-on-store.test", everyone)
        # the household's own names and reverse lookups say who asked: never counted (sent
        # without waiting: the test upstream does not answer them; the one worker handles
        # them before the questions below, whose answers are awaited)
        self.fire(d, "anna-laptop.lan", everyone)
        self.fire(d, "1.1.0.127.in-addr.arpa", everyone)
        for c in everyone:
            query(d.port, "grownups-only.test", source="127.0.2.%d" % c, timeout=3)

        # twenty-kids, exactly-k, k-minus-one, one-client-often, listed-on-store (kept out
        # but known) and kg.test (the start-up probe); popular and grown-up names never enter
        self.assertEqual(kgtest.metrics_value(self.http_port, "kidguard_signal_domains"), 6)
        batch = self.roll_day(0)
        self.assertEqual(self.rx.paths[0], "/signal")
        self.assertTrue(wait_until(lambda: kgtest.metrics_value(
            self.http_port, 'kidguard_signal_batches_total{result="sent"}') == 1, 5))
        self.assertEqual(kgtest.metrics_value(self.http_port, "kidguard_signal_domains"), 0)
        raw = self.rx.bodies[0]
        # exactly the documented keys, nothing else
        self.assertEqual(set(batch), {"day", "feed_version", "software", "epsilon", "k",
                                      "domains"})
        self.assertRegex(batch["day"], r"^\d{4}-\d{2}-\d{2}$")
        self.assertEqual(batch["k"], K)
        self.assertEqual(batch["epsilon"], 1)
        self.assertEqual(batch["software"], kgtest.project_version())
        for e in batch["domains"]:
            self.assertEqual(set(e), {"domain", "count"})
        got = {e["domain"]: e["count"] for e in batch["domains"]}
        self.assertEqual(set(got), {"twenty-kids.test", "exactly-k.test"}, raw)
        # Laplace(1/epsilon) noise: |noise| > 10 has probability e^-10
        self.assertLess(abs(got["twenty-kids.test"] - 20), 10)
        self.assertLess(abs(got["exactly-k.test"] - K), 10)
        # nothing that identifies a client: no address, no profile name, no time of day
        self.assertNotIn("127.0.", raw)
        self.assertNotIn("default", raw)
        self.assertNotIn("k-minus-one", raw)
        self.assertNotIn("grownups", raw)
        self.assertNotIn("anna", raw)
        self.assertNotIn("arpa", raw)
        self.assertIsNone(re.search(r"\d\d:\d\d", raw))
        self.assertIsNone(re.search(r"T\d\d", raw))

        # a new day starts from nothing: yesterday's domains are not sent again
        self.ask(d, "k-minus-one.test", [K + 10])  # now 1 client today, not k
        batch2 = self.roll_day(1)
        self.assertEqual(batch2["domains"], [])
        self.assertNotEqual(batch2["day"], batch["day"])
        self.assertIn("signal:", d.log_text())

    def test_address_from_the_signed_manifest(self):
        """Without [signal] url the batch goes to the signal_url the publisher signed into
        the manifest (kidguard-feed publish --signal); names the feed lists never leave."""
        pub = kgfeed.Publisher(self.tmp)
        lst = kgfeed.write_list(os.path.join(self.tmp, "adult.txt"), ["listed-by-feed.test"])
        pub.publish([("adult", lst, "domains")],
                    extra=["--signal", "https://127.0.0.1:%d/from-manifest" % self.rx.port])
        with open(os.path.join(pub.dir, "manifest.json")) as f:
            payload = json.loads(base64.b64decode(json.load(f)["payload"]))
        self.assertEqual(payload["signal_url"],
                         "https://127.0.0.1:%d/from-manifest" % self.rx.port)
        srv = kgfeed.FeedServer(self.tmp, pub.dir, self.pki).start()
        self.addCleanup(srv.stop)
        d = self.start(url=False)
        r = kgfeed.sync_once(srv.url(), [pub.pub], d.state, self.pki.ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        d.start()
        self.ask(d, "www.listed-by-feed.test", range(1, 21))  # blocked: on the store
        self.ask(d, "new-site.test", range(1, 21))
        batch = self.roll_day(0)
        self.assertEqual(self.rx.paths[0], "/from-manifest")
        self.assertEqual([e["domain"] for e in batch["domains"]], ["new-site.test"])
        self.assertEqual(batch["feed_version"], kgfeed.store_version(d.state))
        self.assertGreaterEqual(batch["feed_version"], 1)

    def test_bundled_list_is_loaded(self):
        d = self.start({"allow_list": ""})
        del d.sections["signal"]["allow_list"]
        d.write_config()
        d.start()
        m = re.search(r"\((\d+) popular sites never counted\)", d.log_text())
        self.assertIsNotNone(m, "no start-up line for [signal]")
        self.assertGreater(int(m.group(1)), 100)

    def test_off_by_default_sends_nothing(self):
        d = self.start({"enabled": "off"})
        d.start()
        self.ask(d, "www.twenty-kids.test", range(1, 21))
        self.clock.advance(86400)
        # the sampler looks once a second: three seconds see several looks, and none posts
        self.assertFalse(wait_until(lambda: self.rx.bodies, 3))
        self.assertTrue(d.alive())
        self.assertNotIn("signal on", d.log_text())

    def test_reload_turning_it_off_sends_nothing(self):
        d = self.start()
        d.start()
        self.ask(d, "www.twenty-kids.test", range(1, 21))
        d.sections["signal"]["enabled"] = "off"
        d.write_config()
        d.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "configuration reloaded" in d.log_text(), 10))
        self.clock.advance(86400)
        self.assertFalse(wait_until(lambda: self.rx.bodies, 3))
        self.assertTrue(d.alive())

    def test_bad_config_is_refused_naming_the_key(self):
        d = self.start({"epsilon": "0"})
        r = kgtest.run_cmd([d.binary, "-n", "-c", d.conf])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("[signal] epsilon", r.stderr + r.stdout)
        d2 = self.start({"k": "1"})
        r = kgtest.run_cmd([d2.binary, "-n", "-c", d2.conf])
        self.assertIn("[signal] k", r.stderr + r.stdout)
        d3 = self.start({"url": "http://plain.example/"})
        r = kgtest.run_cmd([d3.binary, "-n", "-c", d3.conf])
        self.assertIn("[signal] url", r.stderr + r.stdout)
        d4 = self.start({"max_domains": "2048"})
        r = kgtest.run_cmd([d4.binary, "-n", "-v", "-c", d4.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[signal]\nenabled = on\nk = 5\nepsilon = 1\nmax_domains = 2048\n",
                      r.stdout)


if __name__ == "__main__":
    kgtest.main()
