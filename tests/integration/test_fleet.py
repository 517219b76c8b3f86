#!/usr/bin/python3
"""The fleet subscriber channel: one subscriber table on every node.

Two kidguard nodes behind a real dnsdist (the shipped config, PROXY v2) poll the ISP's signed
subscriber table ([subscribers] url) from a real HTTPS server; the table is published with
`kidguard-feed subscribers` under the ISP's own key.

* Both nodes apply version 1; a subscriber asked through dnsdist and through either node gets
  the same answer; both nodes report the same kidguard_subscribers_hash, and it is the first
  48 bits of the table hash the publisher printed.
* The ISP moves a subscriber to another profile (version 2, a delta): both nodes serve the new
  profile within one interval.
* A local PUT /api/clients on node A shows as drift there (not on B) and the hashes differ;
  the next published version puts A back (the snapshot, not a delta, since A drifted).
* A table signed by a key the nodes do not pin is refused: the last good table keeps serving
  and the poll shows as failing.
* Households and device IDs travel the same channel: a household (template, preset, rules,
  bedtime) and a device ID hash reach both nodes within one interval; a subscriber mapped to
  the household gets its answer through either node; a local edit is drift; a delta's
  `delprofile` removes it. A household naming an unknown template or category is refused by
  the publisher (naming the line) and, signed anyway, by the node (the last good state serves).
"""
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgfeed  # noqa: E402
import kgtest  # noqa: E402
from kgtest import dns, query, run_ctl  # noqa: E402
from test_isp import DNSDIST, FRONT, Dnsdist, http, proxy_v2  # noqa: E402
from test_tls import HOST, dot_query_raw, make_ca, make_cert  # noqa: E402

INTERVAL = 3  # [subscribers] interval: a poll every 2.7..3.3 s
KIDS, OTHER, LOCAL = "127.0.0.2", "127.0.0.3", "127.0.0.5"
BLOCKED = "n7.kg.test."  # denied (category adult) on both nodes
BLOCKED2 = "n8.kg.test."  # the same; no allow rule lets it through
TOKEN = "fleet-test-token"


# A household: the config's "kids" with the teen preset, a bedtime and its own allow rule. The
# bedtime is an hour twelve hours from now (local time, as the daemon reads it): never on
# while the test runs.
BED = time.localtime(time.time() + 12 * 3600).tm_hour
BEDTIME = "%02d:00-%02d:00" % (BED, (BED + 1) % 24)
HOUSEHOLD = ('{"template": "kids", "preset": "13to15", "allow": ["n7.kg.test"], '
             '"bedtime": {"start": "%s", "end": "%s"}}' % tuple(BEDTIME.split("-")))


def device_hash(device_id):
    """What the ISP puts in a "device" line: kidguard-feed device-hash ID."""
    r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "device-hash", device_id])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def rcode(r):
    return dns.rcode.to_text(r.rcode())


class IspTable:
    """The ISP's side: a key, a table file and a channel directory."""

    def __init__(self, workdir, name="subs"):
        self.dir = os.path.join(workdir, name)
        self.table = os.path.join(workdir, name + ".txt")
        self.keyfile = os.path.join(workdir, name + "-key.pem")
        self.pub = kgfeed.Publisher.keygen(self.keyfile)

    def publish(self, rows, extra=()):
        """`rows`: (prefix, profile) pairs, or lines as they are (households, devices)."""
        with open(self.table, "w") as f:
            f.write("# the ISP's subscriber table\n")
            for row in rows:
                f.write(row + "\n" if isinstance(row, str) else "%s %s\n" % row)
        r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "subscribers", "--key", self.keyfile,
                            "--dir", self.dir, "--table", self.table,
                            "--profiles", "kids,open,default"] + list(extra))
        if r.returncode != 0:
            raise AssertionError("publish failed: %s %s" % (r.stdout, r.stderr))
        m = re.search(r"version (\d+): .* table hash ([0-9a-f]{64})", r.stdout)
        assert m, r.stdout
        return int(m.group(1)), int(m.group(2)[:12], 16)


@kgtest.unittest.skipUnless(DNSDIST, "dnsdist not installed (packaging/install-deps.sh)")
class FleetTest(kgtest.KGTestCase):

    def node(self, up, name, isp, pki, tls=None):
        http_port = kgtest.free_port(v6=False)
        over = {
            "server": {"proxy_from": FRONT + "/32", "workers": "2"},
            "profile kids": {"block": "adult", "action": "nxdomain"},
            "profile open": {"block": "none"},
            "profile default": {"block": "none"},
            "http": {"listen": "127.0.0.1:%d" % http_port, "token": TOKEN,
                     "trust_loopback": "off"},
            "subscribers": {"url": "https://127.0.0.1:%d/manifest.json" % self.srv.port,
                            "public_keys": isp.pub, "ca_file": pki.ca,
                            "interval": INTERVAL},
        }
        if tls:  # DoT, for device IDs: (cert, key)
            over["tls"] = {"listen_dot": "127.0.0.1:%d" % kgtest.free_port(False),
                           "cert": tls[0], "key": tls[1], "hostname": HOST}
        d = self.start_daemon("127.0.0.1:%d" % up.port, over, name=name, v6=False)
        d.http_port = http_port
        d.dot = int(over["tls"]["listen_dot"].rsplit(":", 1)[1]) if tls else None
        for blocked in (BLOCKED, BLOCKED2):
            rc = run_ctl(["deny", "add", blocked.rstrip("."), "--category", "adult"],
                         state=d.state)
            self.assertEqual(rc.returncode, 0, rc.stderr)
        return d

    def dot_rcode(self, d, name, device_id=None):
        """The rcode of `name` over DoT to node `d`, with the device ID in the SNI or none."""
        sni = "%s.%s" % (device_id, HOST) if device_id else HOST
        wire, s = dot_query_raw(d.dot, kgtest.make_query(name, "A").to_wire(), self.ca, sni=sni)
        s.close()
        return rcode(dns.message.from_wire(wire))

    def metric(self, d, name):
        """One sample of the node's /metrics; None while its HTTP listener is not up yet."""
        try:
            return kgtest.metrics_value(d.http_port, name)
        except OSError:  # URLError: refused until the HTTP thread listens
            return None

    def answers(self, port, source, proxy=False):
        """The rcode the subscriber at `source` gets for BLOCKED through `port`."""
        if proxy:  # a node asked directly by the front, as dnsdist does
            raw = kgtest.udp_raw(port, proxy_v2(source) + kgtest.make_query(BLOCKED, "A")
                                 .to_wire(), source=FRONT)
            return rcode(dns.message.from_wire(raw)) if raw else None
        return rcode(query(port, BLOCKED, "A", source=source))

    def fleet(self, isp, pki, version, tls=None):
        """The ISP's channel served over HTTPS, two nodes that took `version`, and dnsdist in
        front of them: (node a, node b, dnsdist)."""
        self.srv = kgfeed.FeedServer(self.tmp, isp.dir, pki).start()
        self.addCleanup(self.srv.stop)
        up = self.start_upstream()
        a, b = self.node(up, "node-a", isp, pki, tls), self.node(up, "node-b", isp, pki, tls)
        for d in (a, b):
            self.assertTrue(kgtest.wait_until(
                lambda: self.metric(d, "kidguard_subscribers_version") == version,
                INTERVAL + 10), d.log_text()[-3000:])
        dd = Dnsdist(self.tmp, [a.port, b.port])
        self.addCleanup(dd.stop)
        dd.start()
        self.assertTrue(kgtest.wait_until(lambda: self._up(dd.port), 10),
                        dd.log_text()[-3000:])
        return a, b, dd

    def test_table_reaches_every_node(self):
        pki = kgfeed.Pki(self.tmp)
        isp = IspTable(self.tmp)
        v1, h1 = isp.publish([(KIDS + "/32", "kids"), (OTHER + "/32", "open"),
                              ("10.0.0.0/8", "kids"), ("2001:db8::/32", "open")])
        self.assertEqual(v1, 1)
        a, b, dd = self.fleet(isp, pki, 1)
        nodes = (a, b)

        # Version 1 everywhere: the same answer through dnsdist and through either node.
        for port, proxy in ((dd.port, False), (a.port, True), (b.port, True)):
            self.assertEqual(self.answers(port, KIDS, proxy), "NXDOMAIN", port)
            self.assertEqual(self.answers(port, OTHER, proxy), "NOERROR", port)
        for d in nodes:
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h1, d.state)
            self.assertEqual(self.metric(d, "kidguard_subscribers_drift"), 0)
            self.assertEqual(self.metric(d, "kidguard_subscribers_entries"), 4)

        # The ISP moves KIDS to "open" and OTHER to "kids": both nodes within one interval.
        v2, h2 = isp.publish([(KIDS + "/32", "open"), (OTHER + "/32", "kids"),
                              ("10.0.0.0/8", "kids"), ("2001:db8::/32", "open")])
        t0 = time.monotonic()
        for d in nodes:
            ok = kgtest.wait_until(lambda: self.answers(d.port, KIDS, True) == "NOERROR",
                                   INTERVAL * 1.1 + 2, 0.1)
            self.assertTrue(ok, d.log_text()[-3000:])
        took = time.monotonic() - t0
        sys.stderr.write("FLEET: version %d on both nodes %.1f s after the publish "
                         "(interval %d s)\n" % (v2, took, INTERVAL))
        self.assertLessEqual(took, INTERVAL * 1.1 + 2)
        for d in nodes:
            self.assertTrue(kgtest.wait_until(
                lambda: self.metric(d, "kidguard_subscribers_version") == v2, 2))
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h2)
        self.assertTrue(self.srv.fetched("delta-1-2"), "version 2 came as a delta")
        for port, proxy in ((dd.port, False), (a.port, True), (b.port, True)):
            self.assertEqual(self.answers(port, KIDS, proxy), "NOERROR", port)
            self.assertEqual(self.answers(port, OTHER, proxy), "NXDOMAIN", port)

        # A local change on node A: drift there, the hashes differ, B is untouched.
        st, body = http(a.http_port, "PUT", "/api/clients/%s" % LOCAL, {"profile": "kids"},
                        token=TOKEN)
        self.assertEqual(st, 201, body)
        self.assertEqual(self.metric(a, "kidguard_subscribers_drift"), 1)
        self.assertEqual(self.metric(b, "kidguard_subscribers_drift"), 0)
        self.assertNotEqual(self.metric(a, "kidguard_subscribers_hash"),
                            self.metric(b, "kidguard_subscribers_hash"))
        self.assertEqual(self.metric(b, "kidguard_subscribers_hash"), h2)
        self.assertEqual(self.answers(a.port, LOCAL, True), "NXDOMAIN")
        self.assertEqual(self.answers(b.port, LOCAL, True), "NOERROR")

        # The next version puts A back to the fleet's table (A takes the snapshot).
        v3, h3 = isp.publish([(KIDS + "/32", "open"), (OTHER + "/32", "kids"),
                              ("10.0.0.0/8", "kids")])
        for d in nodes:
            self.assertTrue(kgtest.wait_until(
                lambda: self.metric(d, "kidguard_subscribers_version") == v3,
                INTERVAL * 1.1 + 2, 0.1), d.log_text()[-3000:])
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h3)
            self.assertEqual(self.metric(d, "kidguard_subscribers_drift"), 0)
        self.assertEqual(self.answers(a.port, LOCAL, True), "NOERROR")
        self.assertIn("subscribers: version %d applied from the snapshot" % v3, a.log_text())
        self.assertIn("subscribers: version %d applied from a delta" % v3, b.log_text())

        # A table signed by a key no node pins (a compromised mirror): refused, the last good
        # table keeps serving.
        rogue = IspTable(self.tmp, "rogue")
        rogue.publish([(KIDS + "/32", "kids")], extra=["--version", "9"])
        for name in os.listdir(rogue.dir):
            if not name.startswith("."):
                shutil.copy(os.path.join(rogue.dir, name), os.path.join(isp.dir, name))
        for d in nodes:
            self.assertTrue(kgtest.wait_until(
                lambda: self.metric(d, "kidguard_subscribers_poll_failing") == 1,
                INTERVAL * 1.1 + 2, 0.1), d.log_text()[-3000:])
            self.assertEqual(self.metric(d, "kidguard_subscribers_version"), v3)
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h3)
            self.assertIn("the last good table (version %d) keeps serving" % v3,
                          d.log_text())
        self.assertEqual(self.answers(dd.port, KIDS), "NOERROR")

    def test_household_reaches_every_node(self):
        """A household and a device ID through the channel, on two nodes behind dnsdist."""
        pki = kgfeed.Pki(self.tmp)
        isp = IspTable(self.tmp)
        dev_id = "phone-secret-id-0001"
        dev_hash = device_hash(dev_id)
        tls_dir = os.path.join(self.tmp, "tls")
        os.makedirs(tls_dir)
        self.ca = make_ca(tls_dir)
        tls = make_cert(tls_dir, "node", ["DNS:" + HOST, "DNS:*." + HOST])
        rows = [(KIDS + "/32", "smith"), (OTHER + "/32", "kids"),
                "profile smith " + HOUSEHOLD, "device %s smith" % dev_hash]
        v1, h1 = isp.publish(rows)
        a, b, dd = self.fleet(isp, pki, v1, tls)
        nodes = (a, b)

        # The household's allow rule lets BLOCKED through for its subscriber (its template
        # "kids" blocks it for the other one), through dnsdist and through either node.
        for port, proxy in ((dd.port, False), (a.port, True), (b.port, True)):
            self.assertEqual(self.answers(port, KIDS, proxy), "NOERROR", port)
            self.assertEqual(self.answers(port, OTHER, proxy), "NXDOMAIN", port)
        for d in nodes:
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h1, d.state)
            shown = run_ctl(["profile", "show", "smith"], state=d.state).stdout
            for want in ("source         subscribers", "template       kids",
                         "preset         13to15", "bedtime        " + BEDTIME,
                         "rule           allow n7.kg.test"):
                self.assertIn(want, shown)
            devs = run_ctl(["devices", "list"], state=d.state).stdout
            self.assertRegex(devs, r"isp-%s\s+smith" % dev_hash[:56])
            # The phone's ID over DoT (from an address the table does not map: the default
            # profile, which blocks nothing) gives the household: its template blocks.
            self.assertEqual(self.dot_rcode(d, BLOCKED2), "NOERROR")
            self.assertEqual(self.dot_rcode(d, BLOCKED2, dev_id), "NXDOMAIN")
            self.assertEqual(self.dot_rcode(d, BLOCKED, dev_id), "NOERROR")  # its allow rule

        # A local edit of the household on node A: drift there, the hashes differ.
        st, body = http(a.http_port, "PUT", "/api/profiles?name=smith", {"mode": "filter"},
                        token=TOKEN)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.metric(a, "kidguard_subscribers_drift"), 1)
        self.assertEqual(self.metric(b, "kidguard_subscribers_drift"), 0)
        self.assertNotEqual(self.metric(a, "kidguard_subscribers_hash"),
                            self.metric(b, "kidguard_subscribers_hash"))

        # The ISP removes the household (and moves its subscriber): B takes the delta
        # (delprofile), A the snapshot; both serve it within one interval, equal hashes.
        v2, h2 = isp.publish([(KIDS + "/32", "kids"), (OTHER + "/32", "kids"),
                              "device %s kids" % dev_hash])
        for d in nodes:
            self.assertTrue(kgtest.wait_until(
                lambda: self.answers(d.port, KIDS, True) == "NXDOMAIN", INTERVAL * 1.1 + 2,
                0.1), d.log_text()[-3000:])
            self.assertTrue(kgtest.wait_until(
                lambda: self.metric(d, "kidguard_subscribers_version") == v2, 2))
            self.assertEqual(self.metric(d, "kidguard_subscribers_hash"), h2)
            self.assertEqual(self.metric(d, "kidguard_subscribers_drift"), 0)
            r = run_ctl(["profile", "show", "smith"], state=d.state)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            devs = run_ctl(["devices", "list"], state=d.state).stdout
            self.assertRegex(devs, r"isp-%s\s+kids" % dev_hash[:56])
        self.assertIn("subscribers: version %d applied from a delta" % v2, b.log_text())
        self.assertIn("subscribers: version %d applied from the snapshot" % v2, a.log_text())

    def test_households_checked_on_both_sides(self):
        """kidguard-sync-once (no daemon): a household naming an unknown template or category
        is refused by the publisher naming the line, and by the node if signed anyway; the
        last good state serves. A local household is left alone by a snapshot."""
        pki = kgfeed.Pki(self.tmp)
        isp = IspTable(self.tmp)
        srv = kgfeed.FeedServer(self.tmp, self.tmp, pki).start()
        self.addCleanup(srv.stop)
        state = os.path.join(self.tmp, "state")
        profiles = ["--subscribers", "--profiles", "kids open default"]

        def sync():
            return kgfeed.sync_once(srv.url("subs/manifest.json"), [isp.pub], state, pki.ca,
                                    extra=profiles)
        _, h1 = isp.publish([("192.0.2.0/24", "smith"), "profile smith " + HOUSEHOLD,
                             "device %s smith" % device_hash("x" * 20)])
        r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "verify", "--subscribers", "--pubkey",
                            isp.pub, "--dir", isp.dir])
        self.assertRegex(r.stdout, r"table hash %012x[0-9a-f]{52}\nok" % h1)
        # The same household with its keys in another order and other spacing is the same
        # line, so the same hash (the ISP's system may not keep key order).
        reordered = json.dumps(dict(reversed(list(json.loads(HOUSEHOLD).items()))), indent=1)
        _, h1b = IspTable(self.tmp, "subs-reordered").publish([("192.0.2.0/24", "smith"),
                              "profile smith " + reordered.replace("\n", " "),
                              "device %s smith" % device_hash("x" * 20)])
        self.assertEqual(h1b, h1)
        r = sync()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(kgfeed.ctl_info(state), r"table hash     %012x" % h1)
        # a household made on the node: not the channel's, a snapshot leaves it alone
        r = run_ctl(["profile", "set", "mine", "preset=13to15"], state=state)
        self.assertEqual(r.returncode, 0, r.stderr)

        def refused(why, *opts):
            r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "subscribers", "--key",
                                isp.keyfile, "--dir", isp.dir, "--table", isp.table,
                                "--profiles", "kids,open,default"] + list(opts))
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("subs.txt:3: household bad: " + why, r.stderr)
        with open(isp.table, "w") as f:
            f.write("# bad\n192.0.2.0/24 kids\nprofile bad {\"template\": \"yuong\"}\n")
        refused("unknown template 'yuong'")
        with open(isp.table, "w") as f:
            f.write("# bad\n192.0.2.0/24 kids\nprofile bad {\"block_add\": [\"casinos\"]}\n")
        refused("unknown category casinos")
        # Signed anyway (the publisher told to let them through): the node refuses both.
        for line, opt, why in (('{"template":"yuong"}', "--allow-undefined",
                                "unknown template yuong"),
                               ('{"block_add":["casinos"]}', "--categories=casinos",
                                "unknown category casinos")):
            v, _ = isp.publish([("192.0.2.0/24", "kids"), "profile bad " + line], extra=[opt])
            r = sync()
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("household bad: " + why, r.stderr)
            info = kgfeed.ctl_info(state)
            self.assertIn("fleet version 1,", info)
            self.assertRegex(info, r"table hash     %012x" % h1)
        out = run_ctl(["clients", "lookup", "192.0.2.9"], state=state)
        self.assertEqual(out.stdout.split()[1], "smith", out.stdout)
        # A good version: the channel's household goes, the local one stays.
        _, h = isp.publish([("192.0.2.0/24", "kids")])
        r = sync()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(kgfeed.ctl_info(state), r"table hash     %012x" % h)
        listed = run_ctl(["profile", "list"], state=state).stdout
        self.assertIn("mine", listed)
        self.assertNotIn("smith", listed)
        self.assertEqual(run_ctl(["devices", "list"], state=state).stdout.count("isp-"), 0)

    def _up(self, port):
        try:
            return query(port, "www.kg.test.", "A", source=OTHER, timeout=0.3)
        except (dns.exception.Timeout, OSError):
            return None

    def test_channels_do_not_mix(self):
        """A national feed manifest signed with the ISP's own key is not a subscriber table,
        and a subscriber table is not a feed: the payload types differ. A good table applied
        by kidguard-sync-once shows in kidguard-ctl info with the publisher's hash."""
        pki = kgfeed.Pki(self.tmp)
        isp = IspTable(self.tmp)
        feed = kgfeed.Publisher(self.tmp, "feed")
        feed.keyfile, feed.pub = isp.keyfile, isp.pub  # the same key for both channels
        names = kgfeed.write_list(os.path.join(self.tmp, "adult.txt"), ["x.kg-feed.test"])
        feed.publish([("adult", names, "domains")])
        _, h = isp.publish([("192.0.2.0/24", "kids"), ("2001:db8::/48", "open")])
        # kidguard-feed verify checks the table as a node would and prints its hash.
        feedtool = kgfeed.tool("kidguard-feed")
        r = kgtest.run_cmd([feedtool, "verify", "--subscribers", "--pubkey", isp.pub, "--dir",
                            isp.dir])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"table hash %012x[0-9a-f]{52}\nok" % h)
        r = kgtest.run_cmd([feedtool, "verify", "--pubkey", isp.pub, "--dir", isp.dir])
        self.assertEqual(r.returncode, 1, "a table is not a feed")
        r = kgtest.run_cmd([feedtool, "verify", "--subscribers", "--pubkey", isp.pub, "--dir",
                            feed.dir])
        self.assertEqual(r.returncode, 1, "a feed is not a table")
        srv = kgfeed.FeedServer(self.tmp, self.tmp, pki).start()
        self.addCleanup(srv.stop)
        state = os.path.join(self.tmp, "state")
        r = kgfeed.sync_once(srv.url("feed/manifest.json"), [isp.pub], state, pki.ca,
                             extra=["--subscribers"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("manifest", r.stderr)
        r = kgfeed.sync_once(srv.url("subs/manifest.json"), [isp.pub], state, pki.ca)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(run_ctl(["clients", "count"], state=state).stdout.strip(), "0")
        r = kgfeed.sync_once(srv.url("subs/manifest.json"), [isp.pub], state, pki.ca,
                             extra=["--subscribers"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        info = kgfeed.ctl_info(state)
        self.assertIn("subscribers    2 prefixes, fleet version 1, drift 0", info)
        self.assertRegex(info, r"table hash     %012x[0-9a-f]{52}" % h)
        info = kgfeed.ctl_info(state, lang="vi_VN.UTF-8")  # gettext, po/vi.po
        self.assertIn("thuê bao       2 dải địa chỉ, phiên bản bảng 1, độ lệch 0", info)
        self.assertRegex(info, r"mã băm bảng    %012x[0-9a-f]{52}" % h)
        out = run_ctl(["clients", "lookup", "192.0.2.9"], state=state)
        self.assertEqual(out.stdout.split()[1], "kids", out.stdout)

    def test_feed_and_table_in_one_sync_process(self):
        """[sync] and [subscribers] together: one sync process polls both channels (one store
        environment shared by the two), each with its own key; a feed name blocked for the
        subscriber the table puts in "kids", not for the one in "open"."""
        pki = kgfeed.Pki(self.tmp)
        isp = IspTable(self.tmp)
        feed = kgfeed.Publisher(self.tmp, "feed")
        names = kgfeed.write_list(os.path.join(self.tmp, "adult.txt"), ["n7.kg.test"])
        feed.publish([("adult", names, "domains")])
        isp.publish([(KIDS + "/32", "kids"), (OTHER + "/32", "open")])
        srv = kgfeed.FeedServer(self.tmp, self.tmp, pki).start()
        self.addCleanup(srv.stop)
        up = self.start_upstream()
        http_port = kgtest.free_port(v6=False)
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "profile kids": {"block": "adult", "action": "nxdomain"},
            "profile open": {"block": "none"},
            "profile default": {"block": "none"},
            "http": {"listen": "127.0.0.1:%d" % http_port, "token": TOKEN},
            "sync": {"url": srv.url("feed/manifest.json"), "public_keys": feed.pub,
                     "ca_file": pki.ca, "interval": 5},
            "subscribers": {"url": srv.url("subs/manifest.json"), "public_keys": isp.pub,
                            "ca_file": pki.ca, "interval": INTERVAL}}, v6=False)
        d.http_port = http_port
        self.assertTrue(kgtest.wait_until(
            lambda: (self.metric(d, "kidguard_feed_version") == 1 and
                     self.metric(d, "kidguard_subscribers_version") == 1), 15),
            d.log_text()[-3000:])
        self.assertEqual(self.answers(d.port, KIDS), "NXDOMAIN")
        self.assertEqual(self.answers(d.port, OTHER), "NOERROR")
        self.assertEqual(len(re.findall(r"sync process \d+ started", d.log_text())), 1)
        self.assertIn("polling the feed at", d.log_text())
        self.assertIn("polling the subscribers at", d.log_text())

    def test_publisher_refuses_a_bad_table(self):
        isp = IspTable(self.tmp)
        node_conf = os.path.join(self.tmp, "node.conf")
        with open(node_conf, "w") as f:
            f.write("[server]\nworkers = 2\n[profile kids]\nblock = adult\n"
                    " [profile open ]\nblock = none\n")

        def publish(text, *opts):
            with open(isp.table, "w") as f:
                f.write(text)
            return kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "subscribers", "--key",
                                   isp.keyfile, "--dir", isp.dir, "--table", isp.table]
                                  + list(opts))
        r = publish("10.0.0.0/24 kids\n10.0.0.0/24 open\n", "--config", node_conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("10.0.0.0/24 mapped to both", r.stderr)
        r = publish("10.0.0.1/24 kids\n", "--config", node_conf)  # host bits set
        self.assertEqual(r.returncode, 1)
        self.assertIn("subs.txt:1:", r.stderr)
        # A mistyped profile: refused naming the line and the names the nodes define...
        r = publish("10.0.0.0/24 kids\n# ok\nclient 10.0.1.0/24 yuong\n", "--config", node_conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("subs.txt:3: unknown profile 'yuong': the nodes define kids, open",
                      r.stderr)
        r = publish("10.0.0.0/24 kids\n")  # ... and the names must be given
        self.assertEqual(r.returncode, 1)
        self.assertIn("--allow-undefined", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(isp.dir, "manifest.json")))
        # ... unless asked for.
        r = publish("10.0.0.0/24 kids\n10.0.1.0/24 yuong\n", "--allow-undefined")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 prefixes", r.stdout)


if __name__ == "__main__":
    kgtest.main()
