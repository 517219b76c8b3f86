#!/usr/bin/python3
"""Child-protection policy end to end (issue 5): the real daemon, a real unbound upstream,
dnspython clients on distinct loopback addresses (one per profile).

Checked: safe-search rewrites return the CNAME and the target's addresses from the upstream;
canaries answer NXDOMAIN/NODATA for child profiles and resolve for adults; an upstream CNAME
chain into a blocked name is blocked; a schedule switches on at its start time (the clock is
moved with KIDGUARD_FAKE_NOW, nobody sleeps for hours); bedtime blocks everything but its allow
list; MAC (EDNS option 65001) and ECS matching from a trusted forwarder, ignored from others.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, ede_options, run_ctl  # noqa: E402
import dns.edns  # noqa: E402

LITTLE, TEEN, ADULT, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"
SAFE_GOOGLE = "216.239.38.120"
SAFE_YT_STRICT = "216.239.38.120"
SAFE_YT_MODERATE = "216.239.38.119"

EXTRA = [
    ("forcesafesearch.google.com.", "A", 300, SAFE_GOOGLE),
    ("restrict.youtube.com.", "A", 300, SAFE_YT_STRICT),
    ("restrictmoderate.youtube.com.", "A", 300, SAFE_YT_MODERATE),
    ("www.google.de.", "A", 300, "192.0.2.100"),
    ("www.youtube.com.", "A", 300, "192.0.2.101"),
    ("use-application-dns.net.", "A", 300, "192.0.2.102"),
    ("mask.icloud.com.", "A", 300, "192.0.2.103"),
    ("cdn.kg.test.", "CNAME", 300, "evil.kg.test."),
    ("evil.kg.test.", "A", 300, "192.0.2.66"),
    ("play.kg.test.", "A", 300, "192.0.2.67"),
    ("school.kg.test.", "A", 300, "192.0.2.68"),
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
[profile little]
preset = under9
clients = {little}
[profile teen]
preset = 13to15
clients = {teen}
{teen_extra}
[profile mac]
preset = 9to12
macs = 02:00:00:00:00:01
[profile subnet]
preset = 9to12
clients = 192.168.7.0/24
[profile default]
preset = adult
"""


def a_records(msg):
    return answer_rdata(msg, "A")


def cnames(msg):
    return answer_rdata(msg, "CNAME")


class PolicyTest(kgtest.KGTestCase):
    def start(self, teen_extra="", env=None):
        up = self.start_upstream(extra_records=EXTRA)
        d = self.start_daemon("127.0.0.1:%d" % up.port, start=False, v6=False)
        d.write_config(CONFIG.format(port=d.port, up=up.port, state=d.state, little=LITTLE,
                                     teen=TEEN, teen_extra=teen_extra))
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            d.start()
        finally:
            os.environ.clear()
            os.environ.update(old)
        rc = run_ctl(["deny", "add", "evil.kg.test", "--category", "adult"], state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        rc = run_ctl(["deny", "add", "play.kg.test", "--category", "games"], state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        return up, d

    def test_safe_search_rewrites(self):
        up, d = self.start()
        r = query(d.port, "www.google.de.", "A", source=LITTLE, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(cnames(r), {"forcesafesearch.google.com."})
        self.assertEqual(a_records(r), {SAFE_GOOGLE})
        self.assertEqual(str(r.answer[0].name), "www.google.de.")
        self.assertEqual(up.count("forcesafesearch.google.com.", "A"), 1)
        self.assertEqual(up.count("www.google.de.", "A"), 0)
        # moderate (teen) vs strict (little) on YouTube
        r = query(d.port, "www.youtube.com.", "A", source=TEEN)
        self.assertEqual(cnames(r), {"restrictmoderate.youtube.com."})
        self.assertEqual(a_records(r), {SAFE_YT_MODERATE})
        r = query(d.port, "www.youtube.com.", "A", source=LITTLE)
        self.assertEqual(cnames(r), {"restrict.youtube.com."})
        self.assertEqual(a_records(r), {SAFE_YT_STRICT})
        # the adult profile gets the real answer
        r = query(d.port, "www.google.de.", "A", source=ADULT)
        self.assertEqual(cnames(r), set())
        self.assertEqual(a_records(r), {"192.0.2.100"})
        # a second child query is served from the cache of the target
        r = query(d.port, "WWW.Google.DE.", "A", source=LITTLE, tcp=True)
        self.assertEqual(a_records(r), {SAFE_GOOGLE})
        self.assertEqual(up.count("forcesafesearch.google.com.", "A"), 1)

    def test_canaries(self):
        up, d = self.start()
        for name in ("use-application-dns.net.", "mask.icloud.com.", "mask-h2.icloud.com."):
            r = query(d.port, name, "A", source=LITTLE, edns=0)
            self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, name)
            self.assertEqual(ede_options(r), [(15, "bypass-canary")], name)
        r = query(d.port, "_dns.resolver.arpa.", "SVCB", source=TEEN)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(len(r.answer), 0)
        self.assertEqual(up.count("use-application-dns.net.", "A"), 0)
        # adults resolve the canaries normally
        r = query(d.port, "use-application-dns.net.", "A", source=ADULT)
        self.assertEqual(a_records(r), {"192.0.2.102"})
        r = query(d.port, "mask.icloud.com.", "A", source=ADULT)
        self.assertEqual(a_records(r), {"192.0.2.103"})

    def test_cname_chain_into_blocked_name(self):
        up, d = self.start()
        # unbound, authoritative for kg.test, answers the first link of the chain (a
        # recursive upstream would add the target's records): adults get it as it is
        r = query(d.port, "cdn.kg.test.", "A", source=ADULT, edns=0)
        self.assertEqual(cnames(r), {"evil.kg.test."})
        self.assertEqual(ede_options(r), [])
        r = query(d.port, "cdn.kg.test.", "A", source=TEEN, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"})
        ede = ede_options(r)
        self.assertEqual(len(ede), 1)
        self.assertEqual(ede[0][0], 17)
        self.assertIn("cname=evil.kg.test", ede[0][1])
        self.assertIn("category=adult", ede[0][1])
        # the answer was cached for the adult; the child's cache hit is inspected too
        n = up.count("cdn.kg.test.", "A")
        r = query(d.port, "cdn.kg.test.", "A", source=LITTLE)
        self.assertEqual(a_records(r), {"0.0.0.0"})
        self.assertEqual(up.count("cdn.kg.test.", "A"), n)

    def _fake_now_before_window(self, lead):
        """Epoch seconds `lead` s before the next minute boundary, and that minute as HH:MM."""
        now = int(time.time())
        start = now - now % 60 + 120  # a minute boundary at least 60 s away
        fake = start - lead
        t = time.localtime(start)
        end = time.localtime(start + 3600)
        return fake, "%02d:%02d-%02d:%02d" % (t.tm_hour, t.tm_min, end.tm_hour, end.tm_min)

    def test_schedule_switches_on(self):
        fake, window = self._fake_now_before_window(3)
        up, d = self.start(teen_extra="schedule = daily %s block games" % window,
                           env={"KIDGUARD_FAKE_NOW": str(fake)})
        r = query(d.port, "play.kg.test.", "A", source=TEEN)
        self.assertEqual(a_records(r), {"192.0.2.67"}, "games allowed before the window")
        # the window opens 3 s later by the daemon's (offset) clock
        self.assertTrue(kgtest.wait_until(lambda: a_records(query(
            d.port, "play.kg.test.", "A", source=TEEN)) == {"0.0.0.0"}, 8, 0.2),
            "games not blocked once the window opened")
        r = query(d.port, "play.kg.test.", "A", source=TEEN, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"}, "games blocked inside the window")
        self.assertIn("category=games", ede_options(r)[0][1])
        # another profile without the schedule is not affected
        r = query(d.port, "play.kg.test.", "A", source=ADULT)
        self.assertEqual(a_records(r), {"192.0.2.67"})
        # kidguard-ctl explains the same at that time
        hhmm = window.split("-")[0]
        out = run_ctl(["check", "play.kg.test", "--client", TEEN, "--at",
                       time.strftime("%Y-%m-%d ", time.localtime(fake + 3)) + hhmm],
                      config=d.conf)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("blocked", out.stdout)
        self.assertIn("schedule: window 1", out.stdout)

    def test_bedtime_allow_list_only(self):
        fake, window = self._fake_now_before_window(-5)  # already inside the window
        up, d = self.start(teen_extra="bedtime = daily %s\nbedtime_allow = school.kg.test"
                           % window, env={"KIDGUARD_FAKE_NOW": str(fake)})
        r = query(d.port, "www.kg.test.", "A", source=TEEN, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"})
        self.assertEqual(ede_options(r), [(17, "schedule=bedtime; profile allow list only")])
        r = query(d.port, "school.kg.test.", "A", source=TEEN)
        self.assertEqual(a_records(r), {"192.0.2.68"})
        r = query(d.port, "www.kg.test.", "A", source=ADULT)
        self.assertEqual(a_records(r), kgtest.expected_rdata("www.kg.test.", "A"))

    def test_mac_and_ecs_from_trusted_forwarder(self):
        up, d = self.start()
        mac = dns.edns.GenericOption(65001, bytes([2, 0, 0, 0, 0, 1]))
        # 127.0.0.1 is a trusted forwarder: the MAC picks profile "mac" (9to12: adult blocked)
        r = query(d.port, "evil.kg.test.", "A", source="127.0.0.1", edns=0, options=[mac])
        self.assertEqual(a_records(r), {"0.0.0.0"})
        # the same option from an untrusted client is ignored: default (adult) profile
        r = query(d.port, "evil.kg.test.", "A", source=STRANGER, edns=0, options=[mac])
        self.assertEqual(a_records(r), {"192.0.2.66"})
        # an unknown MAC from the trusted forwarder: its own address decides (default)
        other = dns.edns.GenericOption(65001, bytes([2, 0, 0, 0, 0, 9]))
        r = query(d.port, "evil.kg.test.", "A", source="127.0.0.1", edns=0, options=[other])
        self.assertEqual(a_records(r), {"192.0.2.66"})
        # ECS 192.168.7.9/32 from the trusted forwarder: profile "subnet" (9to12: adult blocked)
        ecs = dns.edns.ECSOption("192.168.7.9", 32)
        r = query(d.port, "evil.kg.test.", "A", source="127.0.0.1", edns=0, options=[ecs])
        self.assertEqual(a_records(r), {"0.0.0.0"})
        ecs = dns.edns.ECSOption("10.9.9.9", 32)
        r = query(d.port, "evil.kg.test.", "A", source="127.0.0.1", edns=0, options=[ecs])
        self.assertEqual(a_records(r), {"192.0.2.66"})
        # the options never go upstream (unbound would log nothing about them; check ECS
        # by the answer being the same for everyone: covered above), and the daemon lives
        self.assertAliveAndAnswering(d)


if __name__ == "__main__":
    kgtest.main()
