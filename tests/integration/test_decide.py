#!/usr/bin/python3
"""One decision (issue 15 findings 13 and 14): the real daemon, a real unbound upstream.

DecideAgreementTest: for a table of cases (address rules, the subscriber table, a MAC from a
trusted forwarder, a schedule and a bedtime window via KIDGUARD_FAKE_NOW, safe search, bypass
canaries, local and feed rules, DoT device IDs made by `kidguard-ctl devices add`), the DNS
answer (over DoT with the ID as the server name's first label, or DoH to /dns-query/ID, for
the device-ID rows),
`kidguard-ctl check --json` (--device-id), GET /api/check?client= (&device_id=, with the
token) and the block page (fetched from the client's own address, or for the device the
router names by MAC from that device's address, which never asked us) all say the same:
blocked or not, the same answer, the same deciding step and EDE text.

StaleFeedTest: the same agreement when a feed's signed manifest has expired and
on_stale = fail_closed blocks everything for profiles that block anything.

StoreErrorTest: a blocklist store whose lookups fail (KIDGUARD_TEST_STORE_FAULT, honoured by
the daemon as KIDGUARD_FAKE_NOW is) fails closed for profiles that block anything, with EDE
"store error; failing closed", counts kidguard_store_errors_total and logs rate limited;
`[blocking] on_store_error = forward` answers unfiltered.
"""
import html
import http.client
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
import kgfeed  # noqa: E402
from kgtest import dns, query, answer_rdata, ede_options, run_ctl  # noqa: E402
import dns.edns  # noqa: E402
import dns.message  # noqa: E402
from test_tls import HOST, make_ca, make_cert  # noqa: E402

LITTLE, TEEN, SLEEPY, OPEN, SUBSCRIBER, STRANGER, ROUTER = (
    "127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.9", "127.0.0.1")
MAC = "02:00:00:00:00:01"
DEVICE = "127.0.0.11"  # the MAC-identified tablet's own address: it asks the router, not us
DEVICE2 = "127.0.0.12"  # a device the router names by MAC and by address (ECS)

EXTRA = [
    ("forcesafesearch.google.com.", "A", 300, "216.239.38.120"),
    ("restrictmoderate.youtube.com.", "A", 300, "216.239.38.119"),
    ("restrict.youtube.com.", "A", 300, "216.239.38.120"),
    ("www.google.de.", "A", 300, "192.0.2.100"),
    ("www.youtube.com.", "A", 300, "192.0.2.101"),
    ("use-application-dns.net.", "A", 300, "192.0.2.102"),
    ("mask.icloud.com.", "A", 300, "192.0.2.103"),
    ("evil.kg.test.", "A", 300, "192.0.2.66"),
    ("ok.evil.kg.test.", "A", 300, "192.0.2.65"),
    ("play.kg.test.", "A", 300, "192.0.2.67"),
    ("school.kg.test.", "A", 300, "192.0.2.68"),
    ("ads.kg.test.", "A", 300, "192.0.2.69"),
]

CONFIG = """
[server]
listen = 127.0.0.1:{port}
workers = 1
log_level = debug
trusted_forwarders = 127.0.0.1
[upstream]
servers = 127.0.0.1:{up}
[access]
allow = 127.0.0.0/8
[blocklist]
path = {state}
[http]
listen = 127.0.0.1:{http}
block_page_listen = 127.0.0.1:{bp}
token = {token}
{blocking}
{tls}
[profile little]
preset = under9
clients = {little}
[profile teen]
preset = 13to15
clients = {teen}
schedule = daily {window} block games
[profile sleepy]
preset = 16to17
clients = {sleepy}
bedtime = daily {window}
bedtime_allow = school.kg.test
[profile mac]
preset = 9to12
macs = {mac}
[profile subnet]
preset = 9to12
clients = 192.168.7.0/24
[profile open]
block = none
clients = {open}, {subscriber}
[profile default]
preset = adult
"""

SUBNET = "192.168.7.9"  # an ECS address the router (a trusted forwarder) sends
TOKEN = "tok-decide-0123456789"
# Device IDs for DoT, made by `kidguard-ctl devices add NAME --profile P` (secrets, stored
# hashed); [tls] device_id_overrides_address stays off.
DEVICES = {"little-phone": "little", "open-phone": "open"}

# (client address, ("mac", MAC) | ("ecs", ADDR) | None, name, expected answer)
M, E = ("mac", MAC), ("ecs", SUBNET)
CASES = [
    (LITTLE, None, "evil.kg.test", "sinkhole"),            # local rule, blocked category
    (LITTLE, None, "www.kg.test", "forward"),              # no rule
    (LITTLE, None, "ok.evil.kg.test", "forward"),          # allow rule beats the deny
    (LITTLE, None, "ads.kg.test", "sinkhole"),             # local deny for everyone
    (LITTLE, None, "play.kg.test", "sinkhole"),            # under9 blocks games
    (LITTLE, None, "use-application-dns.net", "nxdomain"),  # bypass canary
    (LITTLE, None, "mask.icloud.com", "nxdomain"),         # Private Relay canary
    (LITTLE, None, "www.google.de", "rewrite"),            # safe search (strict)
    (LITTLE, None, "www.youtube.com", "rewrite"),
    (LITTLE, None, "school.kg.test", "forward"),
    (TEEN, None, "play.kg.test", "sinkhole"),              # schedule window: games
    (TEEN, None, "evil.kg.test", "sinkhole"),
    (TEEN, None, "ads.kg.test", "sinkhole"),
    (TEEN, None, "ok.evil.kg.test", "forward"),
    (TEEN, None, "www.youtube.com", "rewrite"),            # safe search (moderate)
    (TEEN, None, "www.google.de", "rewrite"),
    (TEEN, None, "use-application-dns.net", "nxdomain"),
    (TEEN, None, "www.kg.test", "forward"),
    (SLEEPY, None, "www.kg.test", "sinkhole"),             # bedtime
    (SLEEPY, None, "evil.kg.test", "sinkhole"),            # bedtime decides first
    (SLEEPY, None, "www.google.de", "sinkhole"),           # bedtime before safe search
    (SLEEPY, None, "school.kg.test", "forward"),           # bedtime_allow
    (SLEEPY, None, "use-application-dns.net", "nxdomain"),  # canary before bedtime
    (ROUTER, M, "evil.kg.test", "sinkhole"),               # MAC from a trusted forwarder
    (ROUTER, M, "play.kg.test", "forward"),                # 9to12 allows games
    (ROUTER, M, "www.kg.test", "forward"),
    (ROUTER, M, "ads.kg.test", "sinkhole"),
    (ROUTER, M, "use-application-dns.net", "nxdomain"),
    (ROUTER, M, "www.google.de", "rewrite"),
    (ROUTER, E, "evil.kg.test", "sinkhole"),               # ECS from a trusted forwarder
    (ROUTER, E, "www.kg.test", "forward"),
    (ROUTER, E, "www.youtube.com", "rewrite"),
    (ROUTER, None, "evil.kg.test", "forward"),             # the router itself: default
    (SUBSCRIBER, None, "evil.kg.test", "sinkhole"),        # subscriber table beats clients =
    (SUBSCRIBER, None, "www.google.de", "rewrite"),
    (SUBSCRIBER, None, "play.kg.test", "sinkhole"),
    (SUBSCRIBER, None, "use-application-dns.net", "nxdomain"),
    (SUBSCRIBER, None, "www.kg.test", "forward"),
    (OPEN, None, "evil.kg.test", "forward"),               # block = none
    (OPEN, None, "ads.kg.test", "sinkhole"),               # local deny for everyone
    (OPEN, None, "use-application-dns.net", "forward"),    # no hardening
    (OPEN, None, "www.google.de", "forward"),
    (STRANGER, None, "evil.kg.test", "forward"),           # default (adult)
    (STRANGER, None, "www.google.de", "forward"),          # no safe search for adults
    (STRANGER, None, "ads.kg.test", "sinkhole"),
    (STRANGER, None, "www.kg.test", "forward"),
    # DoT with a device ID. A child's ID from an adult's address: the ID tightens, it wins.
    (OPEN, ("id", "little-phone"), "evil.kg.test", "sinkhole"),
    (OPEN, ("id", "little-phone"), "play.kg.test", "sinkhole"),
    (OPEN, ("id", "little-phone"), "use-application-dns.net", "nxdomain"),
    (OPEN, ("id", "little-phone"), "www.google.de", "rewrite"),
    (OPEN, ("id", "little-phone"), "www.kg.test", "forward"),
    # An adult's ID from a child's address, device_id_overrides_address off: the child's.
    (LITTLE, ("id", "open-phone"), "evil.kg.test", "sinkhole"),
    (LITTLE, ("id", "open-phone"), "use-application-dns.net", "nxdomain"),
    (LITTLE, ("id", "open-phone"), "www.google.de", "rewrite"),
    # The adult's ID away from home (no address rule): the ID's profile.
    (STRANGER, ("id", "open-phone"), "ads.kg.test", "sinkhole"),
    (STRANGER, ("id", "open-phone"), "use-application-dns.net", "forward"),
    # The child's ID away from home.
    (STRANGER, ("id", "little-phone"), "evil.kg.test", "sinkhole"),
    (STRANGER, ("id", "little-phone"), "www.youtube.com", "rewrite"),
    # The same IDs over DoH, as the path /dns-query/ID.
    (OPEN, ("doh", "little-phone"), "evil.kg.test", "sinkhole"),
    (LITTLE, ("doh", "open-phone"), "evil.kg.test", "sinkhole"),
    (STRANGER, ("doh", "open-phone"), "evil.kg.test", "forward"),
]


def dns_answer(msg, name):
    """What the daemon answered, in kidguard-ctl's words."""
    rcode = msg.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return "nxdomain"
    if rcode == dns.rcode.REFUSED:
        return "refused"
    if rcode != dns.rcode.NOERROR:
        return dns.rcode.to_text(rcode)
    if answer_rdata(msg, "A") == {"0.0.0.0"}:
        return "sinkhole"
    if any(r.rdtype == dns.rdatatype.CNAME and str(r.name) == name + "." for r in msg.answer):
        return "rewrite"
    if not msg.answer and ede_options(msg):
        return "nodata"
    return "forward"


def block_page(port, client, name):
    """The block page as the client's browser gets it after the sinkhole answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(client, 0))
    try:
        c.request("GET", "/", headers={"Host": "%s:%d" % (name, port)})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def api_check(port, client, mac, name, device_id=None):
    args = {"name": name, "client": client}
    if mac:
        args["mac"] = mac
    headers = {}
    if device_id:
        args["device_id"] = device_id
        headers["Authorization"] = "Bearer " + TOKEN
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/api/check?" + urllib.parse.urlencode(args), headers=headers)
        r = c.getresponse()
        return r.status, json.loads(r.read().decode())
    finally:
        c.close()


def dot_query(port, ca, client, device_id, name):
    """An A query over DoT from `client`, the device ID as the server name's first label."""
    q = dns.message.make_query(name + ".", "A", use_edns=0)
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(client, 0))
    with ctx.wrap_socket(raw, server_hostname="%s.%s" % (device_id, HOST)) as s:
        s.sendall(kgtest.frame(q.to_wire()))
        return dns.message.from_wire(kgtest.tcp_read_msg(s))


def doh_query(port, ca, client, device_id, name):
    """An A query over DoH (HTTP/1.1 POST) from `client`, to the path /dns-query/ID."""
    q = dns.message.make_query(name + ".", "A", use_edns=0)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx,
                                    source_address=(client, 0))
    try:
        c.request("POST", "/dns-query/" + device_id, body=q.to_wire(),
                  headers={"Content-Type": "application/dns-message"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return dns.message.from_wire(body)
    finally:
        c.close()


def page_reason(text):
    # the page says why in the reader's language; data-decided-by is rs_decide's own words
    m = re.search(r'<p class="reason" data-decided-by="([^"]*)"', text, re.S)
    return html.unescape(m.group(1)) if m else None


class DecideBase(kgtest.KGTestCase):
    def start(self, blocking="", env=None, window="00:00-00:01", up=None, dot=False):
        up = up or self.start_upstream(extra_records=EXTRA)
        d = self.start_daemon("127.0.0.1:%d" % up.port, start=False, v6=False)
        self.http_port = kgtest.free_port(v6=False)
        self.bp_port = kgtest.free_port(v6=False)
        tls = ""
        if dot:  # a DoT listener: device IDs are the first label of the server name
            pki = os.path.join(self.tmp, "pki")
            os.makedirs(pki)
            self.ca = make_ca(pki)
            cert, key = make_cert(pki, "server",
                                  ["DNS:" + HOST, "DNS:*." + HOST, "IP:127.0.0.1"])
            self.dot_port = kgtest.free_port(v6=False)
            self.doh_port = kgtest.free_port(v6=False)
            tls = ("[tls]\nlisten_dot = 127.0.0.1:%d\nlisten_doh = 127.0.0.1:%d\ncert = %s\n"
                   "key = %s\nhostname = %s\n"
                   % (self.dot_port, self.doh_port, cert, key, HOST))
        d.write_config(CONFIG.format(port=d.port, up=up.port, state=d.state, http=self.http_port,
                                     bp=self.bp_port, blocking=blocking, little=LITTLE,
                                     teen=TEEN, sleepy=SLEEPY, mac=MAC, open=OPEN,
                                     subscriber=SUBSCRIBER, window=window, token=TOKEN,
                                     tls=tls))
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            d.start()
        finally:
            os.environ.clear()
            os.environ.update(old)
        for args in (["deny", "add", "evil.kg.test", "--category", "adult"],
                     ["deny", "add", "play.kg.test", "--category", "games"],
                     ["deny", "add", "ads.kg.test"],
                     ["allow", "add", "ok.evil.kg.test"]):
            rc = run_ctl(args, state=d.state)
            self.assertEqual(rc.returncode, 0, rc.stderr)
        return up, d


class DecideAgreementTest(DecideBase):
    def test_dns_ctl_api_and_block_page_agree(self):
        # The daemon's clock sits inside a window that started 30 min ago and lasts an hour:
        # teen's games schedule and sleepy's bedtime are on, however long the test takes.
        fake = int(time.time()) - 5 * 3600
        start, end = time.localtime(fake - 1800), time.localtime(fake + 3600)
        window = "%02d:%02d-%02d:%02d" % (start.tm_hour, start.tm_min, end.tm_hour, end.tm_min)
        t0 = time.time()
        up, d = self.start(env={"KIDGUARD_FAKE_NOW": str(fake)}, window=window, dot=True)
        # The subscriber table (an ISP's RADIUS view) puts 127.0.0.7 in "little", although
        # the config's clients = names it for "open".
        rc = run_ctl(["clients", "set", SUBSCRIBER + "/32", "little"], config=d.conf)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        ids = {}
        for dev, prof in DEVICES.items():
            rc = run_ctl(["devices", "add", dev, "--profile", prof], config=d.conf)
            self.assertEqual(rc.returncode, 0, rc.stderr)
            ids[dev] = re.search(r"^\s*id:\s*(\S+)", rc.stdout, re.M).group(1)
        mac_opt = dns.edns.GenericOption(65001, bytes.fromhex(MAC.replace(":", "")))
        ecs_opt = dns.edns.ECSOption(SUBNET, 32)
        problems = []
        for client, extra, name, want in CASES:
            kind, value = extra or (None, None)
            case = "%s%s %s" % (client, " %s %s" % extra if extra else "", name)
            opts = {"mac": [mac_opt], "ecs": [ecs_opt]}.get(kind, [])
            device_id = ids[value] if kind in ("id", "doh") else None
            if kind == "doh":
                r = doh_query(self.doh_port, self.ca, client, device_id, name)
            elif kind == "id":
                r = dot_query(self.dot_port, self.ca, client, device_id, name)
            else:
                r = query(d.port, name + ".", "A", source=client, edns=0, options=opts)
            got_dns = dns_answer(r, name)
            ede = ede_options(r)
            at = time.strftime("%Y-%m-%d %H:%M", time.localtime(fake + time.time() - t0))
            # The operator asks about the device: by its MAC, or by the address the router's
            # ECS option names.
            asked = value if kind == "ecs" else client
            mac = value if kind == "mac" else None
            args = ["check", name, "--client", asked, "--at", at, "--json"]
            if mac:
                args += ["--mac", mac]
            if device_id:
                args += ["--device-id", device_id]
            out = run_ctl(args, config=d.conf)
            self.assertEqual(out.returncode, 0, out.stderr)
            ctl = json.loads(out.stdout)
            st, api = api_check(self.http_port, asked, mac, name, device_id)
            self.assertEqual(st, 200, api)
            row = [case, "dns=" + got_dns, "ctl=" + ctl["answer"], "api=" + api["answer"]]
            ok = got_dns == want == ctl["answer"] == api["answer"]
            ok = ok and ctl["profile"] == api["profile"]
            ok = ok and ctl["decided_by"] == api["decided_by"]
            if device_id:
                # whose profile: the child's address beats the adult's ID, else the ID's
                prof = "little" if client == LITTLE else DEVICES[value]
                by = "address" if client == LITTLE else "device ID"
                ok = ok and ctl["profile"] == prof and ctl["profile_by"] == api["profile_by"]
                ok = ok and (ctl["profile_by"] == "device ID") == (by == "device ID")
                row.append("profile=%s/%s" % (ctl["profile"], ctl["profile_by"]))
            if want not in ("forward", "rewrite"):
                # the EDE the client got is what check and the API explain
                ok = ok and bool(ede) and ede[0][1] == ctl["detail"] == api["detail"]
                row.append("ede=%r ctl=%r api=%r" % (ede[0][1] if ede else None,
                                                     ctl["detail"], api["detail"]))
            # The browser's address: the client's own, or for a device the router names by
            # MAC, the device's (the DNS never saw it; the block page finds the device by the
            # router's recent query for this name). ECS addresses cannot be bound here. A
            # browser sends no device ID (DoT's server name is the phone's resolver setting,
            # not part of an HTTP request), so the page cannot know one: no page column for
            # the device-ID rows.
            browser = DEVICE if kind == "mac" else client
            if kind not in ("ecs", "id", "doh"):
                st, text = block_page(self.bp_port, browser, name)
                blocked = "This site is blocked" in text
                row.append("page=%s/%s" % (blocked, page_reason(text)))
                ok = ok and st == 200 and blocked == (want not in ("forward", "rewrite"))
                if blocked:
                    ok = ok and page_reason(text) == api["decided_by"]
            if not ok:
                problems.append(" ".join(row))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))
        self.assertGreaterEqual(len(CASES), 40)
        # A device ID selects a profile: the API tries one only with the token, and the ID is
        # never echoed nor logged (the refusal's audit line names the argument only).
        st, body = api_check(self.http_port, OPEN, None, "evil.kg.test", ids["little-phone"])
        self.assertEqual(st, 200)
        self.assertNotIn(ids["little-phone"], json.dumps(body))
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        c.request("GET", "/api/check?" + urllib.parse.urlencode(
            {"name": "evil.kg.test", "device_id": ids["open-phone"]}))
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        self.assertEqual(r.status, 401, text)
        self.assertTrue(kgtest.wait_until(lambda: "device_id=-" in d.log_text(), 5))
        for i in ids.values():
            self.assertNotIn(i, d.log_text())
            self.assertNotIn(i, text)


class BlockPageBehindRouterTest(DecideBase):
    """The block page for a device the router (a trusted forwarder) names: by MAC, it is the
    device that asked for this very name just before; by MAC and ECS, the device whose
    address the router sent, whatever the name."""

    def page_blocked(self, browser, name):
        st, text = block_page(self.bp_port, browser, name)
        self.assertEqual(st, 200)
        return "This site is blocked" in text

    def test_mac_device_found_by_the_name_it_asked(self):
        up, d = self.start()
        mac_opt = dns.edns.GenericOption(65001, bytes.fromhex(MAC.replace(":", "")))
        name = "x.evil.kg.test"  # adult: blocked for the MAC's profile (9to12), not default
        # nobody behind the router asked for it: the browser's own address (default)
        self.assertFalse(self.page_blocked(DEVICE, name))
        r = query(d.port, name + ".", "A", source=ROUTER, edns=0, options=[mac_opt])
        self.assertEqual(dns_answer(r, name), "sinkhole")
        self.assertTrue(self.page_blocked(DEVICE, name), "the MAC device's answer")
        # another name the tablet did not ask stays the browser's own decision
        self.assertFalse(self.page_blocked(DEVICE, "y.evil.kg.test"))
        # a client that asks us itself is never taken for the router's device
        query(d.port, "www.kg.test.", "A", source=STRANGER, edns=0)
        self.assertFalse(self.page_blocked(STRANGER, name))

    def test_mac_and_ecs_device_found_by_its_address(self):
        up, d = self.start()
        mac_opt = dns.edns.GenericOption(65001, bytes.fromhex(MAC.replace(":", "")))
        ecs_opt = dns.edns.ECSOption(DEVICE2, 32)
        r = query(d.port, "www.kg.test.", "A", source=ROUTER, edns=0, options=[mac_opt, ecs_opt])
        self.assertEqual(dns_answer(r, "www.kg.test"), "forward")
        # the router named this address: any name is decided for the MAC's profile
        self.assertTrue(self.page_blocked(DEVICE2, "z.evil.kg.test"))
        self.assertFalse(self.page_blocked(DEVICE, "z.evil.kg.test"))


class StaleFeedTest(DecideBase):
    def test_fail_closed_agrees(self):
        """on_stale = fail_closed: a feed whose signed manifest expired blocks everything for
        profiles that block anything; check, the API and the block page say so too."""
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        names = kgfeed.write_list(os.path.join(self.tmp, "adult.txt"), ["feed-evil.kg.test"])
        pub.publish([("adult", names, "domains")], extra=["--expires-in", "5"])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        up = self.start_upstream(extra_records=EXTRA)
        state = os.path.join(self.tmp, "kidguard0-state")
        os.makedirs(state, exist_ok=True)
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        srv.stop()  # from now on every sync fails: the manifest expires and is not renewed
        blocking = ("[sync]\nurl = https://127.0.0.1:1/manifest.json\npublic_keys = %s\n"
                    "ca_file = %s\non_stale = fail_closed" % (pub.pub, pki.ca))
        _, d = self.start(blocking=blocking, up=up)
        self.assertEqual(d.state, state)

        def failing_closed():
            r = query(d.port, "www.kg.test.", "A", source=LITTLE, edns=0)
            return ede_options(r) == [(15, "feed stale; failing closed")]
        self.assertTrue(kgtest.wait_until(failing_closed, 20), d.log_text()[-3000:])
        problems = []
        for client, name, want in ((LITTLE, "www.kg.test", "sinkhole"),
                                   (TEEN, "school.kg.test", "sinkhole"),
                                   (OPEN, "www.kg.test", "forward"),
                                   (OPEN, "evil.kg.test", "forward")):
            got = dns_answer(query(d.port, name + ".", "A", source=client, edns=0), name)
            out = run_ctl(["check", name, "--client", client, "--json"], config=d.conf)
            self.assertEqual(out.returncode, 0, out.stderr)
            ctl = json.loads(out.stdout)
            st, api = api_check(self.http_port, client, None, name)
            st, text = block_page(self.bp_port, client, name)
            blocked = "This site is blocked" in text
            if not (got == want == ctl["answer"] == api["answer"] and
                    ctl["decided_by"] == api["decided_by"] and
                    blocked == (want == "sinkhole") and
                    (not blocked or page_reason(text) == api["decided_by"])):
                problems.append("%s %s dns=%s ctl=%s/%s api=%s/%s page=%s/%s" % (
                    client, name, got, ctl["answer"], ctl["decided_by"], api["answer"],
                    api["decided_by"], blocked, page_reason(text)))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


class StoreErrorTest(DecideBase):
    FAULT = {"KIDGUARD_TEST_STORE_FAULT": "1"}

    def metric(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        m = re.search(r"^%s (\d+)$" % name, text, re.M)
        return int(m.group(1)) if m else None

    def test_store_error_fails_closed(self):
        up, d = self.start(env=self.FAULT)
        n = 30
        for i in range(n):
            r = query(d.port, "n%d.kg.test." % i, "A", source=LITTLE, edns=0)
            self.assertEqual(answer_rdata(r, "A"), {"0.0.0.0"}, "store error must not pass")
            self.assertEqual(ede_options(r), [(15, "store error; failing closed")])
        # a profile that blocks nothing is not failed closed
        r = query(d.port, "www.kg.test.", "A", source=OPEN)
        self.assertEqual(answer_rdata(r, "A"), kgtest.expected_rdata("www.kg.test.", "A"))
        self.assertGreaterEqual(self.metric("kidguard_store_errors_total"), n)
        # rate limited: one line, not one per query
        lines = [l for l in d.log_text().splitlines() if "store lookup failed" in l]
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), 3, "\n".join(lines))
        self.assertIn("failing closed", lines[0])
        # check and the API say the same
        st, api = api_check(self.http_port, LITTLE, None, "www.kg.test")
        self.assertEqual((st, api["answer"], api["detail"]),
                         (200, "sinkhole", "store error; failing closed"))

    def test_store_error_forward_when_configured(self):
        up, d = self.start(blocking="[blocking]\non_store_error = forward", env=self.FAULT)
        r = query(d.port, "www.kg.test.", "A", source=LITTLE)
        self.assertEqual(answer_rdata(r, "A"), kgtest.expected_rdata("www.kg.test.", "A"))
        self.assertGreaterEqual(self.metric("kidguard_store_errors_total"), 1)
        self.assertTrue(kgtest.wait_until(
            lambda: "answering unfiltered" in d.log_text(), 3), d.log_text())


if __name__ == "__main__":
    kgtest.main()
