"""The publisher's desk end to end (issue 18): three kidguard daemons with [signal] on, each
with 20 child clients on their own loopback addresses (127.0.D.C), ask a planted set of new
adult and gambling names among noise; when the day rolls (the daemons' test clock) each
appliance sends its batch to the signal address the publisher signed into the feed's manifest:
a running kidguard-desk, over HTTPS. Triage ranks the planted names in its top 10; accept +
export + kidguard-feed publish gets them blocked on all three daemons within one sync interval.
A name asked by k-1 clients never reaches the desk, and bad input leaves nothing stored.

Run alone: /usr/bin/python3 tests/integration/test_desk.py --build-dir build
"""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
import kgfeed  # noqa: E402
import test_dashboard  # noqa: E402  (Chromium and playwright-core, as the dashboard's test)

INTERVAL = 5
K = 5
EPSILON = 1.0
DAY = "2026-12-02"
CLIENTS = 20
TOKEN = "desk-test-token-0123456789"

PLANTED = {
    "phimsex-moi.example": "adult",
    "hot-xxx-videos.example": "adult",
    "nguoilon-clip.example": "adult",
    "casino-vip88.example": "gambling",
    "bet-thethao.example": "gambling",
    "lode-online.example": "gambling",
}
POPULAR_NEW = ["homework-helper.example", "school-maths.example"]
NOISE = ["site%02d.example" % i for i in range(40)]
RARE = "rare-kminus1.example"  # asked by exactly K-1 clients on every daemon


def desk_binary():
    p = os.path.join(kgtest.build_dir(), "tools", "desk", "kidguard-desk")
    if not os.path.exists(p):
        raise AssertionError("kidguard-desk not built in %s" % kgtest.build_dir())
    return p


def train_model(workdir):
    """kidguard-desk model train on the classifier's fixture (tests/fixtures/desk)."""
    lists = {}
    with open(os.path.join(kgtest.REPO, "tests", "fixtures", "desk", "samples.txt")) as f:
        for line in f:
            cls, name = line.split()
            lists.setdefault(cls, []).append(name)
    args = []
    for cls, names in lists.items():
        path = kgfeed.write_list(os.path.join(workdir, "train-%s.txt" % cls), names)
        args += ["--negatives", path] if cls == "none" else ["--feed", "%s=%s" % (cls, path)]
    model = os.path.join(workdir, "model")
    r = kgtest.run_cmd([desk_binary(), "model", "train"] + args + ["-o", model], timeout=120)
    if r.returncode != 0:
        raise AssertionError("model train: %s %s" % (r.stdout, r.stderr))
    return model


class Desk:
    def __init__(self, workdir, pki, rate=1000, name="desk", model="", view="127.0.0.0/8",
                 extra=""):
        self.port = kgtest.free_port(v6=False)
        self.store = os.path.join(workdir, name + "-store")
        self.conf = os.path.join(workdir, name + ".conf")
        self.log = os.path.join(workdir, name + ".log")
        with open(self.conf, "w") as f:
            f.write("[desk]\nlisten = 127.0.0.1:%d\ntls_cert = %s\ntls_key = %s\nstore = %s\n"
                    "rate = %d\nmax_body = 65536\nday_window = 0\nmodel = %s\nview_allow = %s\n"
                    % (self.port, pki.cert, pki.key, self.store, rate, model, view) + extra)
        self.ctx = ssl.create_default_context(cafile=pki.ca)
        self.proc = None

    def start(self, *serve_args):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([desk_binary(), "-c", self.conf, "serve"] + list(serve_args),
                                     stdout=subprocess.DEVNULL, stderr=self.logf)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        if not kgtest.wait_until(up, 10):
            raise AssertionError("kidguard-desk did not start: " + open(self.log).read())
        return self

    def stop(self):
        if self.proc is not None:
            kgtest._stop_pid(self.proc)
            self.proc = None
            self.logf.close()

    def post(self, path, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers={"Content-Type": ctype}, method="POST")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path, headers=None):
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path),
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def cmd(self, *args):
        r = kgtest.run_cmd([desk_binary(), "-c", self.conf] + list(args), timeout=60)
        if r.returncode != 0:
            raise AssertionError("kidguard-desk %s: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout

    def triage(self, limit=10):
        return json.loads(self.cmd("triage", "--json", "--limit", str(limit)))["candidates"]


def blocked(port, name):
    try:
        r = kgtest.query(port, name, "A", timeout=2, edns=0)
    except Exception:
        return False
    return kgtest.answer_rdata(r, "A") == {"0.0.0.0"}


class DeskEndToEndTest(kgtest.KGTestCase):
    def setUp(self):
        self.pki = kgfeed.Pki(self.tmp)
        self.desk = Desk(self.tmp, self.pki, model=train_model(self.tmp)).start()
        self.addCleanup(self.desk.stop)

    def start_fleet(self):
        """A feed (one old gambling name, the desk as its signal address), its HTTPS server
        and three synced daemons with [signal] on, on one test clock."""
        self.pub = kgfeed.Publisher(self.tmp)
        self.base = [("gambling", kgfeed.write_list(os.path.join(self.tmp, "base.txt"),
                                                    ["old-casino.example"]), "domains")]
        # the desk is the feed's signal and report address (signed into the manifest)
        self.signal_url = ["--signal", "https://127.0.0.1:%d/signal" % self.desk.port,
                           "--report", "https://127.0.0.1:%d/report" % self.desk.port]
        self.pub.publish(self.base, extra=self.signal_url)
        self.clock = kgtest.FakeClock(self.tmp)
        popular = kgfeed.write_list(os.path.join(self.tmp, "popular.txt"), ["popular.example"])
        srv = kgfeed.FeedServer(self.tmp, self.pub.dir, self.pki).start()
        self.addCleanup(srv.stop)
        names = list(PLANTED) + POPULAR_NEW + NOISE + [RARE, "popular.example"]
        names += ["www." + n for n in names] + ["old-casino.example"]
        up = self.start_upstream(extra_records=[(n + ".", "A", 300, "192.0.2.10")
                                                for n in names])
        daemons = [self.start_daemon("127.0.0.1:%d" % up.port, {
            "sync": {"url": srv.url(), "public_keys": self.pub.pub, "ca_file": self.pki.ca,
                     "interval": INTERVAL, "timeout": 10},
            "signal": {"enabled": "on", "k": K, "epsilon": EPSILON, "allow_list": popular},
            "http": {"listen": "127.0.0.1:%d" % kgtest.free_port(v6=False),
                     "token": TOKEN}},
            env=self.clock.env()) for _ in range(3)]
        for d in daemons:
            self.assertTrue(kgtest.wait_until(lambda: blocked(d.port, "old-casino.example"),
                                              INTERVAL + 10), d.log_text()[-3000:])
        return daemons

    def ask(self, d, di):
        """The 20 children of daemon number `di` browse: the planted names and the new school
        sites (www. and the bare name: one registrable domain), noise, and one name by k-1."""
        plan = [(n, CLIENTS) for n in PLANTED] + [(n, CLIENTS) for n in POPULAR_NEW]
        plan += [(RARE, K - 1), ("popular.example", CLIENTS)]
        plan += [(n, 1 + (i * 7 + di) % 9) for i, n in enumerate(NOISE[di * 10:di * 10 + 15])]
        for name, n in plan:
            for c in range(1, n + 1):
                src = "127.0.%d.%d" % (di + 10, c)
                for q in (name, "www." + name):
                    r = kgtest.query(d.port, q, "A", timeout=3, source=src)
                    self.assertEqual(kgtest.answer_rdata(r, "A"), {"192.0.2.10"}, q)

    def test_signal_triage_accept_publish(self):
        daemons = self.start_fleet()
        for di, d in enumerate(daemons):
            self.ask(d, di)
        # the day ends on the appliances' clock: each sends its batch to the manifest's address
        self.clock.advance(86400)
        for d in daemons:
            self.assertTrue(kgtest.wait_until(lambda: "delivered to https://127.0.0.1:%d"
                                              % self.desk.port in d.log_text(), 20),
                            d.log_text()[-3000:])
        # a parent reports a site from the second appliance's dashboard: the appliance
        # delivers it to the report address of the manifest, the desk
        d = daemons[1]
        req = urllib.request.Request(
            "http://127.0.0.1:%s/api/report" % d.sections["http"]["listen"].split(":")[1],
            data=json.dumps({"domain": "lode-online.example", "kind": "not_blocked"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN},
            method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertIn(r.status, (200, 202))

        def reported():
            c = [c for c in self.desk.triage(50) if c["domain"] == "lode-online.example"]
            return c and c[0]["reports"] == 1
        self.assertTrue(kgtest.wait_until(reported, 20), d.log_text()[-3000:])

        top = self.desk.triage(10)
        ranked = [c["domain"] for c in top]
        sys.stderr.write("\n" + "\n".join("%2d %-26s score %6.1f strength %6.1f %-9s %.2f "
                                          "harm %.2f" % (c["rank"], c["domain"], c["score"],
                                                         c["strength"], c["category"],
                                                         c["probability"], c["harm"])
                                          for c in top) + "\n")
        for name in PLANTED:
            self.assertIn(name, ranked, json.dumps(top, indent=1))
        # harm counts: as many clients asked a new school site, which the model (trained on
        # the small fixture here) calls harmless, and it ranks below every planted name
        self.assertGreater(min(ranked.index(n) for n in ["school-maths.example"]),
                           max(ranked.index(n) for n in PLANTED), ranked)
        lode = [c for c in top if c["domain"] == "lode-online.example"][0]
        self.assertEqual((lode["appliances"], lode["reports"]), (3, 1))
        everything = [c["domain"] for c in self.desk.triage(10000)]
        self.assertNotIn(RARE, everything)
        self.assertNotIn("popular.example", everything)
        with open(os.path.join(self.desk.store, "data.mdb"), "rb") as f:
            self.assertNotIn(RARE.encode(), f.read())

        for name, cat in PLANTED.items():
            self.desk.cmd("accept", name, "--category", cat, "--operator", "lan.nguyen")
        self.desk.cmd("reject", "homework-helper.example", "--operator", "lan.nguyen")
        audit = self.desk.cmd("audit").splitlines()
        self.assertEqual(len(audit), len(PLANTED) + 1)
        self.assertTrue(all("operator=lan.nguyen" in a for a in audit), audit)
        left = [c["domain"] for c in self.desk.triage(10000)]
        for name in list(PLANTED) + ["homework-helper.example"]:
            self.assertNotIn(name, left)

        out = os.path.join(self.tmp, "desk-out")
        args = self.desk.cmd("export", "--dir", out).split()
        self.assertEqual(sorted(a.split("=")[0] for a in args if a != "--category"),
                         ["adult", "gambling"])
        self.pub.publish(self.base, extra=args + self.signal_url)
        for d in daemons:
            self.assertTrue(kgtest.wait_until(
                lambda: all(blocked(d.port, n) for n in PLANTED), INTERVAL + 5),
                d.log_text()[-3000:])
        self.assertFalse(blocked(daemons[0].port, "homework-helper.example"))
        # the desk's list adds to the feed's own list of the same category
        self.assertTrue(blocked(daemons[0].port, "old-casino.example"))

    def test_bad_input_stores_nothing(self):
        ok = {"day": DAY, "feed_version": 1, "software": "0.1.0", "epsilon": 1.0, "k": 5,
              "domains": [{"domain": "fine.example", "count": 9.5}]}
        bad = [
            ("/signal", b"{not json", "application/json", 400),
            ("/signal", dict(ok, client="127.0.0.7"), "application/json", 400),
            ("/signal", dict(ok, domains=[{"domain": "leak1.example", "count": 5,
                                           "profile": "little"}]), "application/json", 400),
            ("/signal", dict(ok, domains=[{"domain": "leak2.example", "count": 5},
                                          {"domain": "bad name.example", "count": 5}]),
             "application/json", 400),
            ("/signal", dict(ok, day="2026-13-01"), "application/json", 400),
            ("/signal", dict(ok, domains=[{"domain": "leak3.example", "count": 5}]),
             "text/plain", 415),
            ("/signal", dict(ok, domains=[{"domain": "leak4.example%05d" % i, "count": 5}
                                          for i in range(3000)]), "application/json", 413),
            ("/report", {"type": "kidguard-report", "kind": "nope", "domain": "leak5.example",
                         "category": "", "feed_version": 1, "software": "x"},
             "application/json", 400),
            ("/nothing", ok, "application/json", 404),
        ]
        # the same batch twice (a retry after a lost answer): done, counted once
        twice = dict(ok, domains=[{"domain": "retried.example", "count": 7}])
        self.assertEqual(self.desk.post("/signal", twice), (200, {"stored": 1}))
        self.assertEqual(self.desk.post("/signal", twice),
                         (200, {"stored": 0, "replay": True}))
        self.assertEqual([(c["domain"], c["appliances"]) for c in self.desk.triage(100)],
                         [("retried.example", 1)])
        self.desk.cmd("reject", "retried.example", "--operator", "t")
        for path, body, ctype, want in bad:
            status, reply = self.desk.post(path, body, ctype)
            self.assertEqual(status, want, (path, reply))
            self.assertIn("error", reply)
        # a body announced far over the bound is refused before a byte of it is read
        conn = http.client.HTTPSConnection("127.0.0.1", self.desk.port, context=self.desk.ctx,
                                           timeout=10)
        conn.putrequest("POST", "/signal")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10 ** 9))
        conn.endheaders()
        self.assertEqual(conn.getresponse().status, 413)
        conn.close()
        self.assertEqual(self.desk.triage(100), [])
        with open(os.path.join(self.desk.store, "data.mdb"), "rb") as f:
            data = f.read()
        for leak in (b"leak", b"127.0.0.7", b"little", b"fine.example"):
            self.assertNotIn(leak, data)
        self.assertEqual(self.desk.post("/signal", ok)[0], 200)
        self.assertEqual([c["domain"] for c in self.desk.triage(100)], ["fine.example"])

    def test_desk_page_in_chromium(self):
        if not os.path.exists(test_dashboard.CHROMIUM) or not test_dashboard.NODE:
            self.skipTest("chromium or node not installed (packaging/install-deps.sh)")
        mod = test_dashboard.playwright_dir()
        if not mod:
            self.skipTest("playwright-core could not be installed with npm")
        batch = {"day": DAY, "feed_version": 1, "software": "0.1.0", "epsilon": 1.0, "k": 5,
                 "domains": [{"domain": "casino-vip88.example", "count": 40},
                             {"domain": "phimsex-moi.example", "count": 30},
                             {"domain": "school-maths.example", "count": 35}]}
        self.assertEqual(self.desk.post("/signal", batch)[0], 200)
        for name in ("www.casino-vip88.example", "m.casino-vip88.example"):
            self.assertEqual(self.report(name)[0], 200)
        want = [c["domain"] for c in self.desk.triage(10)]
        out_dir = os.path.join(kgtest.build_dir(), "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        shot = os.path.join(out_dir, "desk.png")  # and desk-vi.png, the page in Vietnamese
        r = subprocess.run([test_dashboard.NODE, os.path.join(kgtest.HERE, "desk_check.cjs"),
                            "https://127.0.0.1:%d/" % self.desk.port, shot,
                            os.path.join(self.tmp, "chromium-profile")] + want,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120, env=dict(os.environ, NODE_PATH=mod,
                                                       KG_CHROMIUM=test_dashboard.CHROMIUM))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        seen = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["rows"], want)
        self.assertTrue(os.path.getsize(shot) > 10000)
        self.assertEqual(seen["vi_lang"], "vi")
        self.assertIn("Trang web", seen["vi_headers"])
        self.assertIn("m.casino-vip88.example, www.casino-vip88.example", seen["vi_reported"])
        self.assertTrue(os.path.getsize(shot.replace(".png", "-vi.png")) > 10000)

    def report(self, name):
        return self.desk.post("/report", {"type": "kidguard-report", "kind": "not_blocked",
                                          "domain": name, "category": "", "feed_version": 1,
                                          "software": "0.1.0"})

    def test_reports_grouped_by_site(self):
        """Parents' reports of names under one registrable domain make one candidate, the
        names stay visible, and the accepted (exported) name is the registrable domain, a
        subtree rule covering every reported name."""
        for name in ("a.b.grouped.example", "c.grouped.example", "a.b.grouped.example",
                     "www.other-site.co.uk"):
            self.assertEqual(self.report(name), (200, {"stored": 1}))
        cands = {c["domain"]: c for c in self.desk.triage(10)}
        self.assertEqual(sorted(cands), ["grouped.example", "other-site.co.uk"])
        g = cands["grouped.example"]
        self.assertEqual((g["reports"], g["reported_names"], g["reported_names_total"]),
                         (3, ["a.b.grouped.example", "c.grouped.example"], 2))
        self.assertEqual(cands["other-site.co.uk"]["reported_names"], ["www.other-site.co.uk"])
        self.assertIn("reported as: a.b.grouped.example, c.grouped.example",
                      self.desk.cmd("triage"))
        self.desk.cmd("accept", "grouped.example", "--category", "adult", "--operator", "t")
        self.assertEqual([c["domain"] for c in self.desk.triage(10)], ["other-site.co.uk"])
        out = os.path.join(self.tmp, "export")
        self.desk.cmd("export", "--dir", out)
        with open(os.path.join(out, "adult.txt")) as f:
            self.assertEqual(f.read().split(), ["grouped.example"])

    def desk_in(self, lang, *args):
        """kidguard-desk ARGS with LANG=lang and no other locale variable (as an operator's
        shell; vi_VN.UTF-8 need not be generated here: kg_i18n_gettext_init copes)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
        env["LANG"] = lang
        return kgtest.run_cmd([desk_binary(), "-c", self.desk.conf] + list(args), env=env,
                              timeout=60)

    def test_command_line_in_vietnamese(self):
        """The command line speaks the operator's language as kidguard-ctl does (gettext,
        po/vi.po): LANG=vi_VN.UTF-8 prints the triage table (headers, the category's name from
        the Desk page's catalogue, aligned), decisions, errors and usage in Vietnamese, LANG=C
        English; --json and export's lines for kidguard-feed are the same in every language."""
        for name in ("a.grouped.example", "b.grouped.example"):
            self.assertEqual(self.report(name), (200, {"stored": 1}))
        cat = self.desk.triage(10)[0]["category"]
        names = {}
        for lang in ("en", "vi"):
            with open(os.path.join(kgtest.REPO, "tools", "desk", "www", "i18n", lang + ".json"),
                      encoding="utf-8") as f:
                names[lang] = json.load(f)
        vi_label = "%s (%s)" % (names["vi"]["category." + cat], cat)
        r = self.desk_in("vi_VN.UTF-8", "triage")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn("trang ứng viên", lines[0])
        head, row = lines[1], lines[2]
        for want in ("hạng", "tên miền", "điểm", "danh mục", "lần đầu xuất hiện"):
            self.assertIn(want, head)
        self.assertIn("grouped.example", row)
        self.assertIn(vi_label, row)
        # the category column starts under its header (padding counts letters, not bytes)
        self.assertEqual(head.index("danh mục"), row.index(vi_label), r.stdout)
        self.assertIn("được báo cáo dưới tên: a.grouped.example, b.grouped.example", r.stdout)
        for english in ("rank", "domain", "category", "reported as", "candidates"):
            self.assertNotIn(english, r.stdout)
        en = self.desk_in("C", "triage").stdout
        self.assertIn("rank", en)
        self.assertIn("reported as: a.grouped.example, b.grouped.example", en)
        en_name = names["en"]["category." + cat]
        self.assertIn(en_name if en_name.lower() == cat else "%s (%s)" % (en_name, cat), en)
        # scripts read --json: the same in every language
        self.assertEqual(json.loads(self.desk_in("vi_VN.UTF-8", "triage", "--json").stdout),
                         json.loads(self.desk_in("C", "triage", "--json").stdout))
        # decisions, errors, usage
        r = self.desk_in("vi_VN.UTF-8", "accept", "grouped.example", "--category", "adult",
                         "--operator", "t")
        self.assertEqual(r.stdout, "đã chấp nhận grouped.example vào danh mục adult "
                                   "(người duyệt t)\n")
        r = self.desk_in("vi_VN.UTF-8", "accept", "bad..name", "--category", "adult")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad..name: không phải tên miền", r.stderr)
        r = self.desk_in("vi_VN.UTF-8")
        self.assertEqual(r.returncode, 2)
        self.assertIn("cách dùng: kidguard-desk", r.stderr)
        self.assertIn("mọi quyết định, cũ nhất trước", r.stderr)
        self.assertIn("usage: kidguard-desk", self.desk_in("C").stderr)
        conf = os.path.join(self.tmp, "bad-vi.conf")
        with open(conf, "w") as f:
            f.write("[desk]\nstore = /tmp/x\nrate = 0\n")
        r = self.desk_in("vi_VN.UTF-8", "-c", conf, "stats")
        self.assertIn(":3: [desk] rate: giá trị không hợp lệ", r.stderr)
        # export: kidguard-feed's arguments unchanged, the summary translated
        out = os.path.join(self.tmp, "export-vi")
        vi, c = (self.desk_in(lang, "export", "--dir", out) for lang in ("vi_VN.UTF-8", "C"))
        self.assertEqual(vi.stdout, "--category adult=%s/adult.txt:domains\n" % out)
        self.assertEqual(vi.stdout, c.stdout)
        self.assertIn("1 tên đã chấp nhận trong 1 danh mục", vi.stderr)
        self.assertIn("1 accepted names in 1 categories", c.stderr)

    def test_languages(self):
        """The Desk page's catalogues: negotiated from Accept-Language, forced by [desk]
        language, one per code for the language switch; error answers in the same language,
        with their message key."""
        status, body = self.desk.get("/i18n.json", {"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
        vi = json.loads(body)
        self.assertEqual((status, vi["@lang"]), (200, "vi"))
        self.assertEqual(vi["@languages"], {"en": "English", "vi": "Tiếng Việt"})
        self.assertEqual(vi["desk.col.site"], "Trang web")
        en = json.loads(self.desk.get("/i18n.json", {"Accept-Language": "fr, en;q=0.2"})[1])
        self.assertEqual(en["@lang"], "en")
        self.assertEqual(set(en), set(vi))
        self.assertEqual(json.loads(self.desk.get("/i18n/vi.json")[1])["@lang"], "vi")
        self.assertEqual(self.desk.get("/i18n/fr.json")[0], 404)
        status, body = self.desk.get("/api/triage?limit=0", {"Accept-Language": "vi"})
        self.assertEqual((status, json.loads(body)),
                         (400, {"error": "limit: cần giá trị từ 1 đến 200", "key": "error.limit"}))
        status, body = self.desk.get("/api/triage?limit=0")
        self.assertEqual(json.loads(body)["error"], "limit: want 1..200")
        # [desk] language = vi: Vietnamese whatever the browser asks
        forced = Desk(self.tmp, self.pki, name="vi", extra="language = vi\n").start()
        self.addCleanup(forced.stop)
        status, body = forced.get("/i18n.json", {"Accept-Language": "en-US,en"})
        self.assertEqual(json.loads(body)["@lang"], "vi")
        status, body = forced.get("/nothing", {"Accept-Language": "en"})
        self.assertEqual((status, json.loads(body)["error"]),
                         (404, "không có điểm truy cập này"))
        # serve --language beats the configuration; an unknown code is refused
        flag = Desk(self.tmp, self.pki, name="flag", extra="language = vi\n").start(
            "--language", "en")
        self.addCleanup(flag.stop)
        self.assertEqual(json.loads(flag.get("/i18n.json", {"Accept-Language": "vi"})[1])["@lang"],
                         "en")
        r = kgtest.run_cmd([desk_binary(), "-c", flag.conf, "serve", "--language", "fr"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--language fr", r.stderr)

    def test_slow_clients_do_not_stall_intake(self):
        """Clients that connect and stall (no TLS handshake; half a request; a body announced
        and not sent) hold connection slots, not the threads: a batch is still stored."""
        held = []
        self.addCleanup(lambda: [h.close() for h in held])
        for _ in range(8):
            held.append(socket.create_connection(("127.0.0.1", self.desk.port), 5))
        for i in range(8):
            t = self.desk.ctx.wrap_socket(socket.create_connection(("127.0.0.1",
                                                                    self.desk.port), 5),
                                          server_hostname="127.0.0.1")
            if i % 2:
                t.sendall(b"POST /signal HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            else:
                t.sendall(b"POST /signal HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 5000\r\n\r\n{\"day\"")
            held.append(t)
        batch = {"day": DAY, "feed_version": 1, "software": "0.1.0", "epsilon": 1.0, "k": 5,
                 "domains": [{"domain": "while-stalled.example", "count": 9}]}
        self.assertEqual(self.desk.post("/signal", batch), (200, {"stored": 1}))
        self.assertEqual(self.desk.get("/api/triage")[0], 200)
        self.assertEqual([c["domain"] for c in self.desk.triage(10)], ["while-stalled.example"])

    def test_view_allow(self):
        other = Desk(self.tmp, self.pki, name="closed", view="off").start()
        self.addCleanup(other.stop)
        for path in ("/", "/api/triage", "/desk.js"):
            self.assertEqual(other.get(path)[0], 403, path)
            self.assertEqual(self.desk.get(path)[0], 200, path)
        # the intake stays open
        self.assertEqual(other.post("/signal", {"day": DAY, "feed_version": 1, "software": "x",
                                                "epsilon": 1.0, "k": 5, "domains": []})[0], 200)

    def test_bad_config_names_file_line_key(self):
        conf = os.path.join(self.tmp, "bad.conf")
        for text, want in (("[desk]\nstore = /tmp/x\nrate = 0\n", ":3: [desk] rate: bad value"),
                           ("[desk]\nlisten = 127.0.0.1:1\ncolour = red\n",
                            ":3: [desk] colour: unknown key"),
                           ("[desk]\nview_allow = 10.0.0.0/33\n", ":2: [desk] view_allow"),
                           ("[desk]\ntls_cert = /x.pem\n", "tls_cert and tls_key go together"),
                           ("[desk]\nrate = 5\nlanguage = fr\n", ":3: [desk] language: bad value"),
                           ("[elsewhere]\nrate = 5\n", ":2: [elsewhere] unknown section")):
            with open(conf, "w") as f:
                f.write(text)
            r = kgtest.run_cmd([desk_binary(), "-c", conf, "stats"])
            self.assertEqual(r.returncode, 2, text)
            self.assertIn(want, r.stderr, text)

    def test_rate_per_prefix(self):
        slow = Desk(self.tmp, self.pki, rate=3, name="slow").start()
        self.addCleanup(slow.stop)
        ok = {"day": DAY, "feed_version": 1, "software": "0.1.0", "epsilon": 1.0, "k": 5}
        codes = [slow.post("/signal", dict(ok, domains=[{"domain": "r%d.example" % i,
                                                         "count": 6}]))[0] for i in range(5)]
        self.assertEqual(codes, [200, 200, 200, 429, 429])
        self.assertEqual(len(json.loads(slow.cmd("triage", "--json"))["candidates"]), 3)


if __name__ == "__main__":
    kgtest.main()
