#!/usr/bin/python3
"""Vietnamese and English (issue 17): the block page, the report pages and the dashboard's
catalogue come from www/i18n/<lang>.json in the language of the request's Accept-Language, or
of [http] language when it names one.

Checked against the real daemon over real HTTP: the block page with Accept-Language: vi is
Vietnamese (title, category name, reason, footer, report button) with the national hotline
111 as its contact (a tel: link), and holds none of the English catalogue's block page
phrases; without Accept-Language it is English with no hotline; [http] language = vi beats
an English browser and = en a Vietnamese one; block_page_contact and block_page_text still
override; the report form's thank-you and expired pages follow the same choice; /i18n.json
negotiates with q-values (q=0 refuses, unknown languages fall back to English) and
/i18n/<code>.json names one; a language no catalogue has fails `kidguard -n` naming
FILE:LINE and the key, and `kidguard -n -v` prints the key.

A feed's own category names (manifest "category_names", kidguard-feed --category-name) are
what a Vietnamese page shows for its categories, built-in ones included, and /i18n.json carries
them; a republished feed without them takes them back; a malformed one is refused.

kidguard-ctl (gettext, po/vi.po): with LANG=vi_VN.UTF-8 `check` and `--help` print
Vietnamese (also on a machine where that locale is not generated), LANG=C English, and --json
is the same document in every language.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgfeed  # noqa: E402
import kgtest  # noqa: E402
from kgtest import run_ctl  # noqa: E402
from test_http import HTTPTestCase, http  # noqa: E402

I18N = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "resolver", "http",
                    "www", "i18n")
VI_BROWSER = "vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7"


def catalogue(lang):
    with open(os.path.join(I18N, lang + ".json"), encoding="utf-8") as f:
        return json.load(f)


EN, VI = catalogue("en"), catalogue("vi")


def english_phrases(prefixes=("block.", "report.", "category.")):
    """The English texts of the server-side pages that the Vietnamese page must not show
    (without "{...}" placeholders, which are filled in, and shorter than 4 letters)."""
    out = []
    for k, v in EN.items():
        if k.startswith(prefixes) and VI[k] != v:
            for part in re.split(r"\{\w+\}", v):
                part = part.strip(" :·")
                if len(part) >= 4:
                    out.append(part)
    return out


def visible_text(html):
    """What a reader sees: no tags, no attribute values (the form's hidden fields are
    machine words like wrong_block)."""
    return re.sub(r"<[^>]*>", " ", html)


class I18nTest(HTTPTestCase):
    def start_bp(self, **http_over):
        self.bp = kgtest.free_port(v6=False)
        http_over["block_page_listen"] = "127.0.0.1:%d" % self.bp
        return self.start(http_over)

    def page(self, host="x.bad.kg.test", lang=None, method="GET", path="/some/page", raw=None):
        hdrs = {"Host": host}
        if lang is not None:
            hdrs["Accept-Language"] = lang
        return http(self.bp, method, path, headers=hdrs, raw=raw)

    def assertVietnamese(self, html, *must):
        text = visible_text(html)
        for m in must:
            self.assertIn(m, text)
        for phrase in english_phrases():
            self.assertNotIn(phrase, text, "English left on the Vietnamese page")

    def test_block_page_in_vietnamese_with_hotline(self):
        self.start_bp()
        st, hdrs, html = self.page(lang=VI_BROWSER)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["Content-Language"], "vi")
        self.assertIn('<html lang="vi">', html)
        self.assertVietnamese(html, "Trang này đã bị chặn", "x.bad.kg.test", "Danh mục:",
                              "Nội dung người lớn", "Lý do:", "Đường dây nóng", "111",
                              "Trang này không nên bị chặn", "phiên bản danh sách")
        self.assertIn('href="tel:111"', html)
        # the report form is the same form, in Vietnamese
        self.assertIn('value="wrong_block"', html)

    def test_block_page_english_without_hotline(self):
        self.start_bp()
        for lang in (None, "en-GB,en;q=0.9", "fr-FR,fr;q=0.9", "vi;q=0, en"):
            with self.subTest(lang):
                st, hdrs, html = self.page(lang=lang)
                self.assertEqual(st, 200)
                self.assertEqual(hdrs["Content-Language"], "en")
                self.assertIn("This site is blocked", html)
                self.assertIn("Adult content", html)
                self.assertNotIn("tel:111", html)
                self.assertNotIn("Trang này", html)

    def test_language_setting_beats_the_browser(self):
        self.start_bp(language="vi")
        st, _, html = self.page(lang="en-US,en;q=0.9")
        self.assertVietnamese(html, "Trang này đã bị chặn", "111")
        self.d.stop()
        self.start_bp(language="en")
        st, _, html = self.page(lang=VI_BROWSER)
        self.assertIn("This site is blocked", html)
        self.assertNotIn("Trang này", html)

    def test_configured_contact_and_text_override(self):
        self.start_bp(block_page_contact="Đường dây tư vấn của trường 0909 123 456",
                      block_page_text="Trang này bị chặn ở trường. Hãy hỏi thầy cô.")
        st, _, html = self.page(lang="vi")
        self.assertVietnamese(html, "Trang này bị chặn ở trường. Hãy hỏi thầy cô.",
                              "Đường dây tư vấn của trường 0909 123 456", VI["block.contact"].strip())
        self.assertNotIn("tel:111", html)
        self.assertNotIn(VI["block.hotline"].strip(), html)
        self.assertNotIn(VI["block.text"], html)

    def test_report_pages_in_vietnamese(self):
        self.start_bp()
        st, _, html = self.page(lang="vi")
        token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
        form = ("token=%s&domain=x.bad.kg.test&kind=wrong_block" % token).encode()
        st, hdrs, html = self.page(lang="vi", method="POST", path="/report", raw=form)
        self.assertEqual(st, 200, html)
        self.assertEqual(hdrs["Content-Language"], "vi")
        self.assertVietnamese(html, "Cảm ơn bạn", "Báo cáo của bạn đã được lưu")
        # an expired (here: made up) token: the expired page, in Vietnamese too
        st, _, html = self.page(lang="vi", method="POST", path="/report",
                                raw=b"token=" + b"0" * 32 + b"&domain=x.bad.kg.test&kind=wrong_block")
        self.assertEqual(st, 403)
        self.assertVietnamese(html, "Trang này đã hết hạn", "tải lại trang")
        # and in English for an English browser
        st, _, html = self.page(lang="en", method="POST", path="/report",
                                raw=b"token=" + b"0" * 32 + b"&domain=x.bad.kg.test&kind=wrong_block")
        self.assertIn("This page has expired", html)

    def test_not_blocked_page_in_vietnamese(self):
        self.start_bp()
        st, _, html = self.page(host="www.kg.test", lang="vi")
        self.assertVietnamese(html, "Trang này hiện không bị chặn")

    def test_catalogue_negotiation(self):
        self.start()
        cases = [(None, "en"), ("vi", "vi"), ("vi-VN", "vi"), ("VI-vn;q=1.0", "vi"),
                 (VI_BROWSER, "vi"), ("en;q=0.5, vi;q=0.9", "vi"), ("vi;q=0.5, en;q=0.9", "en"),
                 ("vi;q=0, en;q=0.1", "en"), ("fr, de;q=0.5", "en"), ("vi;q=bogus", "en"),
                 ("*", "en"), (",,;;vi", "en"), ("fr;q=0.9, vi;q=0.8", "vi")]
        for accept, want in cases:
            with self.subTest(accept):
                st, hdrs, text = http(self.http_port, "GET", "/i18n.json",
                                      headers={"Accept-Language": accept} if accept else None)
                self.assertEqual(st, 200, text)
                cat = json.loads(text)
                self.assertEqual(cat["@lang"], want)
                self.assertEqual(hdrs["Content-Language"], want)
                self.assertEqual(hdrs["Vary"], "Accept-Language, Cookie")
        # each catalogue as the dashboard gets it: with the languages for its switch
        langs = {"en": EN["@name"], "vi": VI["@name"]}
        st, _, text = http(self.http_port, "GET", "/i18n/vi.json")
        self.assertEqual(json.loads(text), dict(VI, **{"@languages": langs}))
        st, _, text = http(self.http_port, "GET", "/i18n/en.json",
                           headers={"Accept-Language": "vi"})
        self.assertEqual(json.loads(text), dict(EN, **{"@languages": langs}))
        self.assertEqual(http(self.http_port, "GET", "/i18n/fr.json")[0], 404)
        # the health badge's words come from the catalogue by code
        stats = json.loads(http(self.http_port, "GET", "/api/stats")[2])
        self.assertEqual((stats["healthy"], stats["health_code"]), (True, "ok"))
        self.assertEqual(http(self.http_port, "GET", "/i18n/../vi.json")[0], 404)

    def test_switch_choice_beats_browser_and_setting(self):
        """The language switch's choice (the kg_lang cookie of the dashboard, ?lang= of the
        block page) beats both the browser's Accept-Language and [http] language; a value
        that names no catalogue is ignored."""
        self.start_bp(language="en")
        for hdrs, want in (({"Cookie": "kg_lang=vi"}, "vi"),
                           ({"Cookie": "theme=dark; kg_lang=vi; x=1"}, "vi"),
                           ({"Cookie": "kg_lang=fr", "Accept-Language": "vi"}, "en"),
                           ({"Cookie": "kg_lang=../vi"}, "en"),
                           ({"Cookie": "kg_lang=en", "Accept-Language": "vi"}, "en")):
            with self.subTest(hdrs):
                st, h, text = http(self.http_port, "GET", "/i18n.json", headers=hdrs)
                self.assertEqual((st, json.loads(text)["@lang"], h["Content-Language"]),
                                 (200, want, want))
        # the block page: its own links, ?lang=CODE, for a child whose browser is English
        st, _, html = self.page(lang="en-US,en;q=0.9")
        self.assertIn('href="/?lang=vi"', html)
        self.assertIn(VI["@name"], html)
        st, hdrs, html = self.page(lang="en-US,en;q=0.9", path="/?lang=vi")
        self.assertEqual(hdrs["Content-Language"], "vi")
        self.assertVietnamese(html, "Trang này đã bị chặn", "111")
        self.assertIn('href="/?lang=en"', html)
        # the report form keeps the page's language: the thank-you page is Vietnamese too
        token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
        action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
        self.assertEqual(action, "/report?lang=vi")
        form = ("token=%s&domain=x.bad.kg.test&kind=wrong_block" % token).encode()
        st, hdrs, html = self.page(lang="en", method="POST", path=action, raw=form)
        self.assertEqual((st, hdrs["Content-Language"]), (200, "vi"), html)
        self.assertVietnamese(html, "Cảm ơn bạn")

    def test_api_errors_in_the_request_language(self):
        """An API error is {"error": TEXT, "key": KEY, "args"}: TEXT in the request's
        language (Accept-Language, or the switch's cookie), English the same as before for
        scripts; KEY is in both catalogues."""
        self.start({"token": "tok", "trust_loopback": "off"})
        bearer = {"Authorization": "Bearer tok"}
        cases = [  # method, path, body, headers, status, key, args
            ("GET", "/api/check?name=-..-", None, {}, 400, "error.check_name", None),
            ("GET", "/api/check?name=www.kg.test&profile=nosuch", None, {}, 400,
             "error.no_profile", {"name": "nosuch"}),
            ("POST", "/api/overrides", {"name": "x.kg.test", "action": "maybe"}, bearer, 400,
             "error.bad_rule", None),
            ("POST", "/api/overrides", {"name": "x.kg.test", "action": "deny"}, {}, 401,
             "error.token_needed", None),
            ("DELETE", "/api/overrides?name=nothere.kg.test&action=deny", None, bearer, 404,
             "error.no_such_rule", None),
            ("POST", "/api/sync", None, bearer, 409, "error.no_feed", None),
            ("GET", "/api/nothing", None, {}, 404, "error.no_endpoint", None),
            # a text with braces that are not placeholders
            ("POST", "/api/report", {"domain": "x.kg.test", "kind": "x"}, {}, 400,
             "error.report_body", None),
        ]
        for method, path, body, hdrs, status, key, args in cases:
            for lang in ("en", "vi"):
                with self.subTest((path, lang)):
                    h = dict(hdrs, **({"Accept-Language": VI_BROWSER} if lang == "vi" else {}))
                    st, rh, text = http(self.http_port, method, path, body, headers=h)
                    j = json.loads(text)
                    self.assertEqual((st, j["key"]), (status, key), text)
                    self.assertEqual(rh["Content-Language"], lang)
                    self.assertIn(key, EN)
                    self.assertIn(key, VI)
                    cat = VI if lang == "vi" else EN
                    want = cat[key]
                    for k, v in (j.get("args") or {}).items():
                        want = want.replace("{%s}" % k, v)
                    self.assertEqual(j["error"], want)
                    for k, v in (args or {}).items():
                        self.assertEqual(j["args"][k], v)
        # English keeps the words scripts and tests read; Vietnamese is Vietnamese
        st, _, text = http(self.http_port, "GET", "/api/check?name=www.kg.test&profile=nosuch")
        self.assertIn('profile: no profile "nosuch"; valid:', json.loads(text)["error"])
        st, _, text = http(self.http_port, "GET", "/api/check?name=-..-",
                           headers={"Cookie": "kg_lang=vi"})
        self.assertEqual(json.loads(text)["error"], VI["error.check_name"])

    def test_report_mail_in_the_parents_language(self):
        """With a mailto: report address the dashboard offers an e-mail: its subject and body
        are the parent's language; the machine words (the kind's code) stay."""
        self.start({"report_url": "mailto:reports@kg.test"})
        st, _, text = http(self.http_port, "POST", "/api/report",
                           {"domain": "x.bad.kg.test", "kind": "wrong_block"},
                           headers={"Accept-Language": "vi"})
        self.assertEqual(st, 202, text)
        from urllib.parse import parse_qs, urlsplit
        link = urlsplit(json.loads(text)["mailto"])
        q = parse_qs(link.query)
        self.assertEqual(link.path, "reports@kg.test")
        self.assertEqual(q["subject"], ["Báo cáo kidguard: %s x.bad.kg.test"
                                        % VI["report.mail_kind.wrong_block"]])
        self.assertIn("Tên miền: x.bad.kg.test\nBáo cáo: wrong_block\n", q["body"][0])
        reports = json.loads(http(self.http_port, "GET", "/api/reports")[2])["reports"]
        q = parse_qs(urlsplit(reports[0]["mailto"]).query)
        self.assertEqual(q["subject"], ["kidguard report: wrongly blocked x.bad.kg.test"])

    def test_language_key_checked_and_printed(self):
        kg = kgtest.daemon_binary()
        for value, ok in (("vi", True), ("en", True), ("auto", True), ("fr", False),
                          ("VI", False), ("", False)):
            with self.subTest(value):
                path = os.path.join(self.tmp, "l.conf")
                with open(path, "w") as f:
                    f.write("[server]\nlisten = 127.0.0.1:%d\n\n[http]\nlanguage = %s\n"
                            % (kgtest.free_port(v6=False), value))
                r = subprocess.run([kg, "-n", "-v", "-c", path], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=10)
                if ok:
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("language = %s\n" % value, r.stdout)
                else:
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn("l.conf:5: [http] language", r.stdout + r.stderr)


class FeedCategoryNamesTest(HTTPTestCase):
    def test_feed_names_in_the_viewers_language(self):
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        gamb = kgfeed.write_list(os.path.join(self.tmp, "g.txt"), ["casino.kg.test"])
        learn = kgfeed.write_list(os.path.join(self.tmp, "l.txt"), ["hoc.kg.test"])
        lists = [("gambling", gamb, "domains"), ("learning", learn, "domains")]
        pub.publish(lists, extra=["--category-name", "gambling:vi=Cờ bạc trực tuyến",
                                  "--category-name", "learning:vi=Học tập",
                                  "--category-name", "learning:en=Learning services"])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        state = os.path.join(self.tmp, "kidguard0-state")
        os.makedirs(state, exist_ok=True)
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.bp = kgtest.free_port(v6=False)
        d = self.start({"block_page_listen": "127.0.0.1:%d" % self.bp}, deny=(),
                       extra={"profile default": {"block": "gambling, learning"}})
        self.assertEqual(d.state, state)
        st, _, html = http(self.bp, "GET", "/", headers={"Host": "casino.kg.test",
                                                         "Accept-Language": "vi"})
        self.assertIn('class="category">Cờ bạc trực tuyến<', html)
        st, _, html = http(self.bp, "GET", "/", headers={"Host": "hoc.kg.test",
                                                         "Accept-Language": "en"})
        self.assertIn('class="category">Learning services<', html)
        st, _, html = http(self.bp, "GET", "/", headers={"Host": "casino.kg.test",
                                                         "Accept-Language": "en"})
        self.assertIn('class="category">Gambling<', html)  # the catalogue's: no feed English
        cat = json.loads(http(self.http_port, "GET", "/i18n.json",
                              headers={"Accept-Language": "vi"})[2])
        self.assertEqual(cat["category.gambling"], "Cờ bạc trực tuyến")
        self.assertEqual(cat["category.learning"], "Học tập")
        self.assertEqual(cat["category.adult"], VI["category.adult"])
        # the next version without names takes them back
        pub.publish(lists)
        r = kgfeed.sync_once(srv.url(), [pub.pub], state, pki.ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cat = json.loads(http(self.http_port, "GET", "/i18n.json",
                              headers={"Accept-Language": "vi"})[2])
        self.assertEqual(cat["category.gambling"], VI["category.gambling"])
        self.assertNotIn("category.learning", cat)
        # the publisher's tool refuses what an appliance would
        for bad in ("gambling=Cờ bạc", "gambling:vietnamese=x", "gambling:vi=", "GAMB:vi=x",
                    "gambling:vi=a\tb"):
            with self.subTest(bad):
                r = kgtest.run_cmd([kgfeed.tool("kidguard-feed"), "publish", "--dir", pub.dir,
                                    "--key", pub.keyfile, "--category",
                                    "gambling=%s:domains" % gamb, "--category-name", bad])
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("--category-name", r.stderr)


class CtlI18nTest(kgtest.KGTestCase):
    def ctl(self, lang, args, state):
        env = {k: v for k, v in os.environ.items()
               if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
        env["LANG"] = lang
        r = run_ctl(args, state=state, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_ctl_speaks_vietnamese(self):
        state = os.path.join(self.tmp, "state")
        os.makedirs(state)
        r = run_ctl(["deny", "add", "bad.kg.test", "--category", "adult"], state=state)
        self.assertEqual(r.returncode, 0, r.stderr)
        vi = self.ctl("vi_VN.UTF-8", ["check", "x.bad.kg.test"], state)
        en = self.ctl("C", ["check", "x.bad.kg.test"], state)
        for want in ("x.bad.kg.test: bị chặn", "hồ sơ:", "quyết định:", "quy tắc:",
                     "cả tên miền con", "danh mục:", "trả lời:"):
            self.assertIn(want, vi)
        for english in ("profile:", "decided by:", "subtree", "categories:", "answer:"):
            self.assertNotIn(english, vi)
            self.assertIn(english, en)
        self.assertIn("x.bad.kg.test: blocked", en)
        helps = self.ctl("vi_VN.UTF-8", ["--help"], state)
        self.assertIn("cách dùng: kidguard-ctl", helps)
        self.assertIn("các lệnh:", helps)
        # the household's commands (issue 17) too: usage and errors
        env = {k: v for k, v in os.environ.items()
               if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
        env["LANG"] = "vi_VN.UTF-8"
        r = run_ctl(["profile", "set", "kids", "bedtime=late"], state=state, env=env)
        self.assertIn("cần HH:MM-HH:MM[@NGÀY]", r.stderr)
        r = run_ctl(["profile", "device", "add", "nobody", "--address", "192.0.2.1"],
                    state=state, env=env)
        self.assertIn("không có hồ sơ nobody", r.stderr)
        r = run_ctl(["profile"], state=state, env=env)
        self.assertIn("cách dùng: kidguard-ctl profile", r.stderr)
        # scripts read --json: the same in every language
        j_vi = json.loads(self.ctl("vi_VN.UTF-8", ["check", "x.bad.kg.test", "--json"], state))
        j_en = json.loads(self.ctl("C", ["check", "x.bad.kg.test", "--json"], state))
        self.assertEqual(j_vi, j_en)


if __name__ == "__main__":
    kgtest.main()
