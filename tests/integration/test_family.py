#!/usr/bin/python3
"""The dashboard's Family page in a real browser, checked with real DNS (issue 17).

family_check.cjs drives Debian's headless Chromium with playwright-core (installed as in
test_dashboard.py) and stops after each change made in the page, printing one JSON line; this
side then asks the daemon over DNS, from the child's own source address, whether the change
took effect at the next query, and answers "go" to let the page continue:

- a device from "Recently seen devices" is put in a child's profile, then moved to another
  child's profile: its next queries get each profile's answers;
- a site allowed for one child resolves for that child while the other stays blocked;
- a bedtime set in the page blocks under the fake schedule clock (KIDGUARD_FAKE_NOW), and
  clearing it lets names through again; so does a schedule (games blocked in a window);
- the address kidguard.conf's `clients =` gives a child is on its card, marked "from
  kidguard.conf", with no move or remove control;
- a changed age tier changes what the child gets;
- "only the allowed sites" (a walled garden) leaves the child the sites allowed for it;
- "Why is a site blocked?" for a device answers as the DNS did;
- a phone-sized viewport (390x844) has no horizontal scroll on either page.

Screenshots of each page go to <build>/test-artifacts/ (docs/img/ holds the ones
docs/policy.md shows).
"""
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import answer_rdata, ede_options, query, run_ctl  # noqa: E402
from test_dashboard import CHROMIUM, NODE, playwright_dir  # noqa: E402

LITTLE, BIG, TABLET = "127.0.0.2", "127.0.0.3", "127.0.0.5"
SINK = {"0.0.0.0"}
PLAY, BET, WWW = "play.kg.test", "bet.kg.test", "www.kg.test"
EVIL = "evil.kg.test"  # scam: blocked for every profile, the block page's example
EXTRA = [(PLAY + ".", "A", 300, "192.0.2.67"), (BET + ".", "A", 300, "192.0.2.68")]
I18N = os.path.join(kgtest.HERE, "..", "..", "resolver", "http", "www", "i18n")


def vietnamese_args(block_url):
    """What the Vietnamese pages must show and must not: every English phrase of the
    catalogue (a space, no placeholder, not the same in Vietnamese) is a leftover."""
    with open(os.path.join(I18N, "en.json"), encoding="utf-8") as f:
        en = json.load(f)
    with open(os.path.join(I18N, "vi.json"), encoding="utf-8") as f:
        vi = json.load(f)
    english = sorted({v for k, v in en.items() if not k.startswith("@") and " " in v
                      and "{" not in v and len(v) >= 8 and v != vi.get(k)})
    tabs = [vi["family.tab_overview"], vi["family.tab_family"]]
    return {"english": english, "block_url": block_url, "block_title": vi["block.title"],
            "vietnamese": {"family": tabs + [vi["family.tier"], vi["family.seen_title"],
                                             vi["family.sites"], vi["family.schedules"],
                                             vi["family.from_conf"]],
                           "overview": tabs}}


class FamilyPageTest(kgtest.KGTestCase):
    def a(self, name, source):
        return answer_rdata(query(self.d.port, name + ".", source=source), "A")

    def step(self, want):
        """The next JSON line the page prints; it must be step `want`."""
        end = time.monotonic() + 60
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.1, end - time.monotonic()))
            if not r:
                continue
            line = self.p.stdout.readline()
            if not line:
                self.fail("the page script ended before step %s: %s" % (want, self.p.stderr.read()))
            line = line.strip()
            if line.startswith("{"):
                msg = json.loads(line)
                self.assertEqual(msg.get("step"), want, msg)
                return msg
        self.fail("no step %s from the page within 60 s" % want)

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def test_family_page(self):
        if not os.path.exists(CHROMIUM) or not NODE:
            self.skipTest("chromium or node not installed (packaging/install-deps.sh)")
        mod = playwright_dir()
        if not mod:
            self.skipTest("playwright-core could not be installed with npm")
        # the schedule clock sits 5 minutes into a one-hour window, for the bedtime step
        now = int(time.time())
        start = now - now % 60 + 120
        fake = start + 300
        bed_from = time.strftime("%H:%M", time.localtime(start))
        bed_to = time.strftime("%H:%M", time.localtime(start + 3600))
        up = self.start_upstream(extra_records=EXTRA)
        hp = kgtest.free_port(v6=False)
        bp = kgtest.free_port(v6=False)
        token = "family-test-token-0123456789"
        self.d = d = self.start_daemon(
            "127.0.0.1:%d" % up.port,
            {"http": {"listen": "127.0.0.1:%d" % hp, "token": token,
                      "block_page_listen": "127.0.0.1:%d" % bp},
             "profile little": {"preset": "under9", "clients": LITTLE + "/32"},
             "profile big": {"preset": "13to15", "clients": BIG + "/32"},
             "profile default": {"preset": "adult"}},
            start=False, env={"KIDGUARD_FAKE_NOW": str(fake)})
        for cat, name in (("games", PLAY), ("gambling", BET)):
            r = run_ctl(["import", "--format", "domains", "--category", cat, "-"],
                        state=d.state, input=name + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)
        r = run_ctl(["deny", "add", EVIL, "--category", "scam"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        # before: games blocked for little only, gambling for both children
        self.assertEqual(self.a(PLAY, LITTLE), SINK)
        self.assertEqual(self.a(PLAY, BIG), {"192.0.2.67"})
        self.assertEqual(self.a(BET, LITTLE), SINK)
        self.assertEqual(self.a(BET, BIG), SINK)
        # the tablet is new: the adults' default profile, and now "recently seen"
        self.assertEqual(self.a(PLAY, TABLET), {"192.0.2.67"})

        out_dir = os.path.join(kgtest.build_dir(), "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        args = {"url": "http://127.0.0.1:%d/" % hp, "out": out_dir, "token": token,
                "user_dir": os.path.join(self.tmp, "chromium-profile"),
                "little": "little", "big": "big", "little_addr": LITTLE, "tablet": TABLET,
                "mac": "02:00:00:00:00:07",
                "play": PLAY, "bet": BET, "bed_from": bed_from, "bed_to": bed_to,
                "block_host": EVIL,
                "vi": vietnamese_args("http://%s:%d/" % (EVIL, bp))}
        env = dict(os.environ, NODE_PATH=mod, KG_CHROMIUM=CHROMIUM)
        self.p = subprocess.Popen([NODE, os.path.join(kgtest.HERE, "family_check.cjs"),
                                   json.dumps(args)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.addCleanup(self._stop_page)

        self.step("added")  # the tablet put in little's profile from "recently seen"
        self.assertEqual(self.a(PLAY, TABLET), SINK, "the tablet gets little's games block")
        self.go()
        self.step("moved")  # ... and moved to big's
        self.assertEqual(self.a(PLAY, TABLET), {"192.0.2.67"}, "the tablet moved to big")
        self.assertEqual(self.a(BET, TABLET), SINK)
        self.go()
        self.step("allowed")  # bet.kg.test allowed for little only
        self.assertEqual(self.a(BET, LITTLE), {"192.0.2.68"}, "allowed for little")
        self.assertEqual(self.a(BET, BIG), SINK, "still blocked for big")
        self.assertEqual(self.a(BET, TABLET), SINK, "still blocked for big's tablet")
        self.go()
        self.step("bedtime")  # big's bedtime covers the fake clock's now
        r = query(d.port, WWW + ".", source=BIG, edns=0)
        self.assertEqual(answer_rdata(r, "A"), SINK, "bedtime blocks big")
        self.assertIn("bedtime", " ".join(t for _, t in ede_options(r)))
        self.assertEqual(self.a(WWW, LITTLE), {"192.0.2.1"}, "little has no bedtime")
        self.go()
        self.step("bedtime_cleared")
        self.assertEqual(self.a(WWW, BIG), {"192.0.2.1"}, "no bedtime after clearing it")
        self.go()
        self.step("schedule")  # big: games blocked every day, in the window around now
        r = query(d.port, PLAY + ".", source=BIG, edns=0)
        self.assertEqual(answer_rdata(r, "A"), SINK, "big's schedule blocks games")
        self.assertIn("games", " ".join(t for _, t in ede_options(r)))
        self.assertEqual(self.a(WWW, BIG), {"192.0.2.1"}, "only games")
        self.go()
        self.step("schedule_removed")
        self.assertEqual(self.a(PLAY, BIG), {"192.0.2.67"}, "no schedule after removing it")
        self.go()
        self.step("tier")  # little becomes 9to12: games allowed
        self.assertEqual(self.a(PLAY, LITTLE), {"192.0.2.67"}, "9to12 lets games through")
        self.assertEqual(self.a(BET, BIG), SINK)
        self.go()
        self.step("garden")  # little: only the allowed sites
        r = query(d.port, WWW + ".", source=LITTLE, edns=0)
        self.assertEqual(answer_rdata(r, "A"), SINK, "the walled garden blocks the rest")
        self.assertIn("not on the allow list", " ".join(t for _, t in ede_options(r)))
        self.assertEqual(self.a(BET, LITTLE), {"192.0.2.68"}, "little's allowed site resolves")
        self.assertEqual(self.a(WWW, BIG), {"192.0.2.1"}, "big is not in a garden")
        self.go()
        seen = self.step("done")
        self.go()
        self.assertEqual(self.p.wait(timeout=60), 0, self.p.stderr.read())
        sys.stderr.write("\nfamily page saw: %s\n" % json.dumps(seen))
        self.assertIn("from kidguard.conf", seen["conf_device"])
        self.assertIn("Games", seen["schedule"])
        self.assertTrue(seen["whom_device"].startswith("Blocked"), seen)
        self.assertIn("for big", seen["whom_device"])
        self.assertLessEqual(seen["phone_overflow_family"], 0)
        self.assertLessEqual(seen["phone_overflow_overview"], 0)
        self.assertTrue(seen.get("vietnamese"), seen)
        self.assertIn(EVIL, seen["block_page_vi"])
        self.assertIn(args["vi"]["block_title"], seen["block_page_vi"])
        self.assertIn("111", seen["block_page_vi"])  # the national hotline
        for shot in ("dashboard-overview-en.png", "dashboard-family-en.png",
                     "dashboard-family-phone-en.png", "dashboard-overview-vi.png",
                     "dashboard-family-vi.png", "block-page-vi.png"):
            self.assertGreater(os.path.getsize(os.path.join(out_dir, shot)), 10000, shot)
        # the changes are data in the store: they survive a restart
        d.stop()
        d.start()
        self.assertEqual(self.a(BET, LITTLE), {"192.0.2.68"})
        self.assertEqual(self.a(PLAY, TABLET), {"192.0.2.67"})
        self.assertEqual(self.a(EVIL, LITTLE), SINK)

    def _stop_page(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            f.close()


if __name__ == "__main__":
    kgtest.main()
