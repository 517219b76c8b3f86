#!/usr/bin/python3
"""The household as data (issue 17): profiles, their devices and per-profile exceptions kept
in the store and changed over the API and kidguard-ctl, checked in real DNS answers.

Two children with different tiers (little: under9, big: 13to15) and a default adult. An
exception for one child leaves the other blocked; a device moved over the API gets its new
profile at the next query; bedtime and schedules set over the API apply (the real clock, in a
window around now); the file's devices are listed, marked read-only; a walled-garden
profile resolves only allow-listed and child-safe names; changes survive a restart; unknown
presets, categories and templates are refused (400 / exit 1).
"""
import json
import os
import sys
import time
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgfeed  # noqa: E402
import kgtest  # noqa: E402
from kgtest import answer_rdata, ede_options, query, run_ctl  # noqa: E402

LITTLE, BIG, ADULT, TABLET = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
TOKEN = "household-token-1"
EXTRA = [
    ("play.kg.test.", "A", 300, "192.0.2.67"),
    ("school.kg.test.", "A", 300, "192.0.2.68"),
    ("learn.kg.test.", "A", 300, "192.0.2.69"),
]

CONFIG = """
[server]
listen = 127.0.0.1:{port}
workers = 1
[upstream]
servers = 127.0.0.1:{up}
[access]
allow = 127.0.0.0/8
[blocklist]
path = {state}
[http]
listen = 127.0.0.1:{http}
token = {token}
query_log = on
[profile little]
preset = under9
clients = {little}
[profile big]
preset = 13to15
clients = {big}
[profile default]
preset = adult
"""


def a_records(msg):
    return answer_rdata(msg, "A")


class HouseholdTest(kgtest.KGTestCase):
    def start(self, env=None):
        up = self.start_upstream(extra_records=EXTRA)
        d = self.start_daemon("127.0.0.1:%d" % up.port, start=False, v6=False)
        self.http_port = kgtest.free_port(v6=False)
        d.write_config(CONFIG.format(port=d.port, up=up.port, state=d.state, little=LITTLE,
                                     big=BIG, http=self.http_port, token=TOKEN))
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            d.start()
        finally:
            os.environ.clear()
            os.environ.update(old)
        rc = run_ctl(["deny", "add", "play.kg.test", "--category", "dating"], state=d.state)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        return up, d

    def api(self, method, path, body=None, token=True):
        c = HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        hdrs = {"Authorization": "Bearer " + TOKEN} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            text = r.read().decode()
            return r.status, (json.loads(text) if text.startswith(("{", "[")) else text)
        finally:
            c.close()

    def ip(self, d, name, source):
        return a_records(query(d.port, name, "A", source=source))

    def test_exception_for_one_child(self):
        up, d = self.start()
        # both children's tiers block dating
        self.assertEqual(self.ip(d, "play.kg.test.", LITTLE), {"0.0.0.0"})
        self.assertEqual(self.ip(d, "play.kg.test.", BIG), {"0.0.0.0"})
        # an exception for little only, over the API
        st, j = self.api("POST", "/api/overrides",
                         {"name": "play.kg.test", "action": "allow", "profile": "little"})
        self.assertEqual(st, 201, j)
        self.assertEqual(self.ip(d, "play.kg.test.", LITTLE), {"192.0.2.67"})
        self.assertEqual(self.ip(d, "play.kg.test.", BIG), {"0.0.0.0"}, "big stays blocked")
        st, j = self.api("GET", "/api/overrides?profile=little")
        self.assertEqual([o["name"] for o in j["overrides"]], ["play.kg.test"])
        st, j = self.api("GET", "/api/overrides")
        self.assertEqual([o["action"] for o in j["overrides"]], ["deny"],
                         "the household's rules are untouched")
        # "why is it blocked?" for whom: the same answer as the DNS
        st, j = self.api("GET", "/api/check?name=play.kg.test&profile=big")
        self.assertEqual(j["answer"], "sinkhole", j)
        st, j = self.api("GET", "/api/check?name=play.kg.test&device=" + LITTLE)
        self.assertEqual((j["answer"], j["profile"]), ("forward", "little"), j)
        # the same with kidguard-ctl, for the other child; then the exception goes
        r = run_ctl(["allow", "add", "play.kg.test", "--profile", "big"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ip(d, "play.kg.test.", BIG), {"192.0.2.67"})
        st, j = self.api("DELETE", "/api/overrides?name=play.kg.test&action=allow&profile=little")
        self.assertEqual(st, 200, j)
        self.assertEqual(self.ip(d, "play.kg.test.", LITTLE), {"0.0.0.0"})
        # an unknown profile is refused, not ignored
        st, j = self.api("POST", "/api/overrides",
                         {"name": "play.kg.test", "action": "allow", "profile": "nobody"})
        self.assertEqual(st, 400, j)
        r = run_ctl(["allow", "add", "play.kg.test", "--profile", "nobody"], state=d.state,
                    config=d.conf)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)

    def test_device_moves_and_survives_restart(self):
        up, d = self.start()
        # the tablet is unknown: the adult default lets games through
        self.assertEqual(self.ip(d, "play.kg.test.", TABLET), {"192.0.2.67"})
        st, j = self.api("POST", "/api/profiles/devices", {"profile": "big", "address": TABLET})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.ip(d, "play.kg.test.", TABLET), {"0.0.0.0"})
        # a store profile made from a template, then the tablet moves to it
        st, j = self.api("PUT", "/api/profiles?name=tiny",
                         {"template": "little", "preset": "under9"})
        self.assertEqual(st, 201, j)
        st, j = self.api("POST", "/api/overrides",
                         {"name": "play.kg.test", "action": "allow", "profile": "tiny"})
        self.assertEqual(st, 201, j)
        st, j = self.api("POST", "/api/profiles/devices", {"profile": "tiny", "address": TABLET})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.ip(d, "play.kg.test.", TABLET), {"192.0.2.67"})
        st, j = self.api("GET", "/api/profiles")
        prof = {p["name"]: p for p in j["profiles"]}
        self.assertEqual(prof["tiny"]["source"], "store")
        self.assertIn({"kind": "address", "value": TABLET, "source": "store"},
                      prof["tiny"]["devices"])
        self.assertNotIn(TABLET, [x["value"] for x in prof["big"]["devices"]])
        self.assertEqual(prof["tiny"]["rules"][0]["name"], "play.kg.test")
        self.assertIn("under9", j["presets"])
        # the store is the source of truth: a restart keeps all of it
        d.stop()
        d.start()
        self.assertEqual(self.ip(d, "play.kg.test.", TABLET), {"192.0.2.67"})
        self.assertEqual(self.ip(d, "play.kg.test.", BIG), {"0.0.0.0"})
        st, j = self.api("DELETE", "/api/profiles/devices?address=" + TABLET)
        self.assertEqual(st, 200, j)
        # a MAC is stored, but without [server] trusted_forwarders it cannot match: said so
        st, j = self.api("POST", "/api/profiles/devices",
                         {"profile": "little", "mac": "02:00:00:00:00:07"})
        self.assertEqual(st, 200, j)
        self.assertIn("trusted_forwarders", j.get("warning", ""))
        self.assertEqual(self.ip(d, "play.kg.test.", TABLET), {"192.0.2.67"}, "default again")

    def test_recently_seen_devices(self):
        up, d = self.start()
        self.ip(d, "www.kg.test.", TABLET)
        self.ip(d, "www.kg.test.", TABLET)
        self.ip(d, "www.kg.test.", LITTLE)
        # addresses of the household: the operator's only, reading included
        st, j = self.api("GET", "/api/devices/seen", token=False)
        self.assertIn(st, (401, 403))
        st, j = self.api("GET", "/api/devices/seen")
        self.assertEqual(st, 200, j)
        seen = {e["address"]: e for e in j["devices"]}
        self.assertEqual(seen[TABLET]["profile"], "default")
        self.assertEqual(seen[TABLET]["queries"], 2)
        self.assertEqual(seen[LITTLE]["profile"], "little")
        self.assertNotIn("mac", seen[TABLET])
        # added from the list: the next query shows (and gets) the new profile
        st, j = self.api("POST", "/api/profiles/devices", {"profile": "little", "address": TABLET})
        self.assertEqual(st, 200, j)
        self.ip(d, "www.kg.test.", TABLET)
        st, j = self.api("GET", "/api/devices/seen")
        self.assertEqual({e["address"]: e for e in j["devices"]}[TABLET]["profile"], "little")
        # the query log says for whom each answer was
        st, j = self.api("GET", "/api/querylog")
        self.assertEqual(st, 200, j)
        self.assertEqual([e.get("profile") for e in j["queries"]][:2], ["little", "little"], j)

    def test_bedtime_from_the_api(self):
        now = time.time()
        start = now - now % 60 - 120  # inside a window that started two minutes ago
        t, e = time.localtime(start), time.localtime(start + 3600)
        up, d = self.start()
        self.assertEqual(self.ip(d, "school.kg.test.", BIG), {"192.0.2.68"})
        st, j = self.api("PUT", "/api/profiles?name=big", {
            "bedtime": {"start": "%02d:%02d" % (t.tm_hour, t.tm_min),
                        "end": "%02d:%02d" % (e.tm_hour, e.tm_min)},
            "bedtime_allow": ["learn.kg.test"]})
        self.assertEqual(st, 201, j)
        r = query(d.port, "school.kg.test.", "A", source=BIG, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"})
        self.assertEqual(ede_options(r), [(17, "schedule=bedtime; profile allow list only")])
        self.assertEqual(self.ip(d, "learn.kg.test.", BIG), {"192.0.2.69"})
        self.assertEqual(self.ip(d, "school.kg.test.", LITTLE), {"192.0.2.68"}, "little: no")
        st, j = self.api("GET", "/api/profiles")
        big = [p for p in j["profiles"] if p["name"] == "big"][0]
        self.assertEqual(big["source"], "both")
        self.assertEqual(big["bedtime_allow"], ["learn.kg.test"])
        self.assertIsNotNone(big["bedtime"])
        # bedtime off again
        st, j = self.api("PUT", "/api/profiles?name=big", {"bedtime": None})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.ip(d, "school.kg.test.", BIG), {"192.0.2.68"})

    def test_schedules_from_the_api(self):
        """A profile's schedules (windows that block more categories) are shown and edited
        over the API like its bedtime; each replaces only itself; the next query obeys."""
        now = time.time()
        start = now - now % 60 - 120  # inside a window that started two minutes ago
        t, e = time.localtime(start), time.localtime(start + 3600)
        hm = lambda x: "%02d:%02d" % (x.tm_hour, x.tm_min)  # noqa: E731
        e2 = time.localtime(start + 6000)
        up, d = self.start()
        r = run_ctl(["deny", "add", "learn.kg.test", "--category", "games"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ip(d, "learn.kg.test.", BIG), {"192.0.2.69"}, "13to15: games ok")
        # a bedtime outside now, then a games window around now: both kept
        st, j = self.api("PUT", "/api/profiles?name=big",
                         {"bedtime": {"start": hm(e), "end": hm(time.localtime(start + 7200))}})
        self.assertEqual(st, 201, j)
        win = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": hm(t),
               "end": hm(e), "block": ["games"]}
        st, j = self.api("PUT", "/api/profiles?name=big", {"schedules": [win]})
        self.assertEqual(st, 200, j)
        r = query(d.port, "learn.kg.test.", "A", source=BIG, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"}, "the window blocks games now")
        self.assertIn("games", " ".join(x for _, x in ede_options(r)))
        self.assertEqual(self.ip(d, "school.kg.test.", BIG), {"192.0.2.68"}, "only games")
        st, j = self.api("GET", "/api/profiles")
        big = [p for p in j["profiles"] if p["name"] == "big"][0]
        self.assertEqual(big["schedules"], [win])
        self.assertEqual(big["bedtime"]["start"], hm(e), "the bedtime stays")
        r = run_ctl(["profile", "show", "big"], config=d.conf)
        self.assertIn("schedule       mon,tue,wed,thu,fri,sat,sun %s-%s block games"
                      % (hm(t), hm(e)), r.stdout)
        # a new bedtime keeps the schedules; "schedules": [] clears them, not the bedtime
        st, j = self.api("PUT", "/api/profiles?name=big",
                         {"bedtime": {"start": hm(e), "end": hm(time.localtime(start + 5400))}})
        self.assertEqual(st, 200, j)
        self.assertEqual(a_records(query(d.port, "learn.kg.test.", "A", source=BIG)),
                         {"0.0.0.0"})
        # kidguard-ctl changes the bedtime the same way (one function): the window stays
        r = run_ctl(["profile", "set", "big", "bedtime=%s-%s" % (hm(e), hm(e2))],
                    config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        st, j = self.api("GET", "/api/profiles")
        big = [p for p in j["profiles"] if p["name"] == "big"][0]
        self.assertEqual((big["schedules"], big["bedtime"]["end"]), ([win], hm(e2)))
        st, j = self.api("PUT", "/api/profiles?name=big", {"schedules": []})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.ip(d, "learn.kg.test.", BIG), {"192.0.2.69"}, "window gone")
        st, j = self.api("GET", "/api/profiles")
        big = [p for p in j["profiles"] if p["name"] == "big"][0]
        self.assertEqual(big["schedules"], [])
        self.assertIsNotNone(big["bedtime"])
        # kidguard-ctl sets the windows too, in the words `profile show` prints: same record
        r = run_ctl(["profile", "set", "big", "schedule=daily %s-%s block games" % (hm(t), hm(e))],
                    config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(a_records(query(d.port, "learn.kg.test.", "A", source=BIG)),
                         {"0.0.0.0"}, "the ctl's window blocks games now")
        st, j = self.api("GET", "/api/profiles")
        big = [p for p in j["profiles"] if p["name"] == "big"][0]
        self.assertEqual((big["schedules"], big["bedtime"]["end"]), ([win], hm(e2)))
        for bad in ("schedule=daily %s-%s block nosuchcat" % (hm(t), hm(e)),
                    "schedule=daily 8-9 block games", "schedule=daily %s-%s block" % (hm(t), hm(e))):
            r = run_ctl(["profile", "set", "big", bad], config=d.conf)
            self.assertEqual(r.returncode, 1, (bad, r.stdout))
        r = run_ctl(["profile", "set", "big", "schedule=off"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ip(d, "learn.kg.test.", BIG), {"192.0.2.69"}, "ctl cleared it")
        # bad windows are refused, naming the window and what is wrong
        for body, word in (({"schedules": [dict(win, block=["nosuchcat"])]}, "nosuchcat"),
                           ({"schedules": [dict(win, end="25:00")]}, "schedules[0]"),
                           ({"schedules": [dict(win, block=[])]}, "at least one"),
                           ({"schedules": [win] * 8}, "at most 7")):
            st, j = self.api("PUT", "/api/profiles?name=big", body)
            self.assertEqual(st, 400, (body, j))
            self.assertIn(word, j["error"])

    def test_config_devices_listed(self):
        """The devices kidguard.conf's clients = names are on the profile, marked as the
        file's (read-only); the dashboard's are marked as the store's."""
        up, d = self.start()
        st, j = self.api("POST", "/api/profiles/devices", {"profile": "little", "address": TABLET})
        self.assertEqual(st, 200, j)
        st, j = self.api("GET", "/api/profiles")
        devs = {p["name"]: p["devices"] for p in j["profiles"]}
        self.assertIn({"kind": "address", "value": LITTLE, "source": "config"}, devs["little"])
        self.assertIn({"kind": "address", "value": TABLET, "source": "store"}, devs["little"])
        self.assertIn({"kind": "address", "value": BIG, "source": "config"}, devs["big"])
        self.assertEqual(devs["default"], [])

    def test_walled_garden(self):
        up, d = self.start()
        st, j = self.api("PUT", "/api/profiles?name=little", {"mode": "allowlist"})
        self.assertEqual(st, 201, j)
        r = query(d.port, "school.kg.test.", "A", source=LITTLE, edns=0)
        self.assertEqual(a_records(r), {"0.0.0.0"})
        self.assertEqual(ede_options(r), [(17, "not on the allow list")])
        r = run_ctl(["allow", "add", "school.kg.test", "--profile", "little"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ip(d, "school.kg.test.", LITTLE), {"192.0.2.68"})
        self.assertEqual(self.ip(d, "learn.kg.test.", LITTLE), {"0.0.0.0"})
        # a household allow rule is on the allow list too; a block stays a block
        r = run_ctl(["allow", "add", "learn.kg.test"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ip(d, "learn.kg.test.", LITTLE), {"192.0.2.69"})
        self.assertEqual(self.ip(d, "play.kg.test.", LITTLE), {"0.0.0.0"})
        # the other child is not in the garden
        self.assertEqual(self.ip(d, "www.kg.test.", BIG),
                         kgtest.expected_rdata("www.kg.test.", "A"))

    def test_walled_garden_child_safe_feed_category(self):
        """kidguard-feed publish --child-safe: the publisher's curated category resolves in
        a walled garden (signed manifest -> sync -> store meta child_safe -> the lookup)."""
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        learn = kgfeed.write_list(os.path.join(self.tmp, "learning.txt"), ["learn.kg.test"])
        adult = kgfeed.write_list(os.path.join(self.tmp, "adult.txt"), ["play.kg.test"])
        pub.publish([("learning", learn, "domains"), ("adult", adult, "domains")],
                    extra=["--child-safe", "learning", "--child-default", "learning=allow"])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        state = os.path.join(self.tmp, "kidguard0-state")
        os.makedirs(state, exist_ok=True)
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        up, d = self.start()
        self.assertEqual(d.state, state)
        st, j = self.api("PUT", "/api/profiles?name=little", {"mode": "allowlist"})
        self.assertEqual(st, 201, j)
        self.assertEqual(self.ip(d, "learn.kg.test.", LITTLE), {"192.0.2.69"})
        self.assertEqual(self.ip(d, "school.kg.test.", LITTLE), {"0.0.0.0"})
        self.assertEqual(self.ip(d, "play.kg.test.", LITTLE), {"0.0.0.0"})
        # the flag is the publisher's: a feed category without it does not open the garden
        self.assertEqual(self.ip(d, "school.kg.test.", BIG), {"192.0.2.68"})

    def test_unknown_names_refused(self):
        up, d = self.start()
        for body, word in (({"preset": "toddler"}, "toddler"),
                           ({"block_add": ["nosuchcat"]}, "nosuchcat"),
                           ({"template": "ghost"}, "ghost"),
                           ({"mode": "open"}, "mode")):
            st, j = self.api("PUT", "/api/profiles?name=little", body)
            self.assertEqual(st, 400, (body, j))
            self.assertIn(word, j["error"])
        st, j = self.api("PUT", "/api/profiles?name=little", {"preset": "adult"}, token=False)
        self.assertIn(st, (401, 403))
        r = run_ctl(["profile", "set", "little", "preset=toddler"], state=d.state,
                    config=d.conf)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("toddler", r.stderr)


if __name__ == "__main__":
    kgtest.main()
