#!/usr/bin/python3
"""The dashboard in a real browser: Debian's chromium, driven by playwright-core from npm.

A daemon with a local deny rule gets real DNS traffic; dashboard_check.cjs loads the page,
asserts the numbers and the charts show, uses the "check a domain" box, adds a local deny
rule (the daemon has a token and trust_loopback is off by default, so the dashboard asks for
the token once, keeps it, and the change then goes through; after a reload a second change
needs no prompt), asks "for whom?" (a child's profile blocks what the default allows, and
"Recently blocked" names each block's profile), and saves a screenshot to <build>/test-artifacts/dashboard.png. Here we then
check over DNS that the rule added in the browser really blocks.

Issue 17: the same dashboard with Accept-Language: vi (dashboard_i18n.cjs) shows the
Vietnamese catalogue's words and none of the English ones on every page, including the "why"
box's verdict and explanation; the block page, reached through a blocked name as a child's
browser reaches it, is Vietnamese with the hotline 111 and is screenshotted (phone size) into
<build>/test-artifacts/block-page-vi.png, the dashboard into dashboard-vi.png.

The language switch (dashboard_switch.cjs): an English phone browser picks Vietnamese in the
header; the dashboard, the Family page and an API error (the "check" box refusing a bad name)
are Vietnamese, the daemon's own error text too (the kg_lang cookie), and a reload keeps it; the
block page links to its Vietnamese version. Screenshot: dashboard-switch-vi.png.

playwright-core is installed (once) with npm into $KG_NODE_CACHE, default
~/.cache/kidguard-test-node, outside the repository; no browser is downloaded.
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import answer_rdata, query, run_ctl  # noqa: E402

KIDS = "127.0.0.9"
CHROMIUM = os.environ.get("KG_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
NPM = shutil.which("npm")
CACHE = os.environ.get("KG_NODE_CACHE",
                       os.path.join(os.path.expanduser("~"), ".cache", "kidguard-test-node"))


def playwright_dir():
    mod = os.path.join(CACHE, "node_modules")
    if os.path.isdir(os.path.join(mod, "playwright-core")):
        return mod
    if not NPM:
        return None
    os.makedirs(CACHE, exist_ok=True)
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    r = subprocess.run([NPM, "install", "--no-audit", "--no-fund", "--prefix", CACHE,
                        "playwright-core"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300, env=env)
    if r.returncode != 0:
        sys.stderr.write(r.stdout)
        return None
    return mod


I18N = os.path.join(kgtest.HERE, "..", "..", "resolver", "http", "www", "i18n")


def catalogue(lang):
    with open(os.path.join(I18N, lang + ".json"), encoding="utf-8") as f:
        return json.load(f)


def english_leftovers(en, vi, prefixes):
    """English phrases of the catalogue a Vietnamese page must not show: each message's parts
    between placeholders (4 letters or more) that the Vietnamese message does not share."""
    out = set()
    for k, v in en.items():
        if not k.startswith(prefixes) or vi.get(k) == v:
            continue
        for part in re.split(r"\{\w+\}", v):
            part = part.strip(" :·,.\"")
            if len(part) >= 4 and part not in vi.get(k, ""):
                out.add(part)
    return sorted(out)


class DashboardTest(kgtest.KGTestCase):
    def setUp(self):
        if not os.path.exists(CHROMIUM) or not NODE:
            self.skipTest("chromium or node not installed (packaging/install-deps.sh)")
        self.mod = playwright_dir()
        if not self.mod:
            self.skipTest("playwright-core could not be installed with npm")

    def start_with_block_page(self):
        """A daemon with the dashboard, the block page and bad.kg.test blocked (adult)."""
        up = self.start_upstream()
        hp, bp = kgtest.free_port(v6=False), kgtest.free_port(v6=False)
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"http": {"listen": "127.0.0.1:%d" % hp,
                                        "block_page_listen": "127.0.0.1:%d" % bp},
                               "profile default": {"block": "adult", "action": "sinkhole"}},
                              start=False)
        r = run_ctl(["deny", "add", "bad.kg.test", "--category", "adult"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        return d, hp, bp

    def run_spec(self, script, spec):
        """Run the Chromium driver `script` on a JSON spec file; the finished process."""
        spec_path = os.path.join(self.tmp, script + ".json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f, ensure_ascii=False)
        env = dict(os.environ, NODE_PATH=self.mod, KG_CHROMIUM=CHROMIUM)
        return subprocess.run([NODE, os.path.join(kgtest.HERE, script), spec_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=120, env=env)

    def test_dashboard_in_vietnamese(self):
        d, hp, bp = self.start_with_block_page()
        for n in ("www.kg.test.", "x.bad.kg.test.", "y.bad.kg.test."):
            query(d.port, n)
        en, vi = catalogue("en"), catalogue("vi")
        out_dir = os.path.join(kgtest.build_dir(), "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        spec = {"url": "http://127.0.0.1:%d/" % hp,
                "block_url": "http://y.bad.kg.test:%d/" % bp,
                "user_dir": os.path.join(self.tmp, "chromium-vi"), "locale": "vi-VN",
                "shot_dashboard": os.path.join(out_dir, "dashboard-vi.png"),
                "shot_block": os.path.join(out_dir, "block-page-vi.png"),
                "blocked_name": "y.bad.kg.test",
                "pages": ["/"],
                "must": [vi["dash.health.ok"], vi["dash.check.title"], vi["dash.events.title"],
                         vi["dash.rules.title"], vi["category.adult"], vi["dash.check.blocked"],
                         vi["dash.footer.metrics"]],
                "must_block": [vi["block.title"], vi["category.adult"], "111",
                               vi["block.wrong_block"]],
                "never": english_leftovers(en, vi, ("dash.", "why.", "answer.", "category.",
                                                    "block.", "report."))}
        p = self.run_spec("dashboard_i18n.cjs", spec)
        sys.stderr.write("\nVietnamese dashboard saw: %s\nscreenshots: %s, %s\n"
                         % (p.stdout.strip(), spec["shot_dashboard"], spec["shot_block"]))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.getsize(spec["shot_block"]) > 5000)

    def test_language_switch(self):
        """A Vietnamese parent whose phone browser speaks English: the header's switch turns
        the dashboard, the Family page and the API's errors Vietnamese and is remembered; the
        block page links to Vietnamese (dashboard_switch.cjs)."""
        d, hp, bp = self.start_with_block_page()
        query(d.port, "www.kg.test.")
        vi = catalogue("vi")
        out_dir = os.path.join(kgtest.build_dir(), "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        spec = {"url": "http://127.0.0.1:%d/" % hp,
                "block_url": "http://y.bad.kg.test:%d/" % bp,
                "user_dir": os.path.join(self.tmp, "chromium-switch"),
                "shot": os.path.join(out_dir, "dashboard-switch-vi.png"),
                "vi": vi, "bad_name": "-..-",
                "must": [vi["dash.check.title"], vi["dash.events.title"],
                         vi["dash.rules.title"], vi["dash.footer.metrics"]]}
        p = self.run_spec("dashboard_switch.cjs", spec)
        sys.stderr.write("\nlanguage switch saw: %s\nscreenshot: %s\n"
                         % (p.stdout.strip(), spec["shot"]))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_dashboard_in_chromium(self):
        mod = self.mod
        up = self.start_upstream()
        hp = kgtest.free_port(v6=False)
        token = "dash-test-token-0123456789"
        d = self.start_daemon("127.0.0.1:%d" % up.port,
                              {"http": {"listen": "127.0.0.1:%d" % hp, "token": token},
                               "profile kids": {"clients": KIDS + "/32",
                                                "block": "adult, gambling",
                                                "action": "sinkhole"},
                               "profile default": {"block": "adult", "action": "sinkhole"}},
                              start=False)
        r = run_ctl(["deny", "add", "bad.kg.test", "--category", "adult"], state=d.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_ctl(["import", "--format", "domains", "--category", "gambling", "-"],
                    state=d.state, input="multi.kg.test\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        for i in range(1, 21):
            query(d.port, "n%d.kg.test." % i)
        for n in ("x.bad.kg.test.", "y.bad.kg.test.", "bad.kg.test."):
            self.assertEqual(answer_rdata(query(d.port, n), "A"), {"0.0.0.0"})
        self.assertEqual(answer_rdata(query(d.port, "multi.kg.test.", source=KIDS), "A"),
                         {"0.0.0.0"})
        out_dir = os.path.join(kgtest.build_dir(), "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        shot = os.path.join(out_dir, "dashboard.png")
        script = os.path.join(kgtest.HERE, "dashboard_check.cjs")
        env = dict(os.environ, NODE_PATH=mod, KG_CHROMIUM=CHROMIUM)
        p = subprocess.run([NODE, script, "http://127.0.0.1:%d/" % hp, shot,
                            os.path.join(self.tmp, "chromium-profile"), "y.bad.kg.test",
                            "www.kg.test", token, "kids", "multi.kg.test"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120, env=env)
        sys.stderr.write("\ndashboard saw: %s\nscreenshot: %s\n" % (p.stdout.strip(), shot))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        seen = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertGreaterEqual(int(seen["queries"]), 23)
        self.assertEqual(seen["blocked"], "4")
        self.assertIn("www.kg.test", seen["rules"])
        self.assertIn("second.www.kg.test", seen["rules"])
        self.assertIn("token", seen["token_prompt"])
        self.assertTrue(os.path.getsize(shot) > 10000)
        # the rule added in the browser blocks over DNS
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"0.0.0.0"})


if __name__ == "__main__":
    kgtest.main()
