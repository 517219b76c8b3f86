#!/usr/bin/python3
"""The operator's HTTP server (issue 6), over real HTTP against the real daemon.

Checked: /metrics parses (promtool check metrics when installed, and a strict parser of the
text exposition format here) and its counters move with real DNS traffic; /health is 200, and
503 with the reason once the feed has expired; state-changing API calls are refused without
the token (401/403, CSRF rules for trusted loopback); /api/check agrees with
`kidguard-ctl check --json`; overrides added and removed over the API change DNS answers; the
block page fetched with curl at the sinkhole listener names the category; recent blocked
events carry the name and no client address by default; the query log truncates addresses;
reports are queued, retried and never carry a client address; `kidguard-ctl stats` and
`kidguard-ctl sync now` talk to the API.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import answer_rdata, query, run_ctl  # noqa: E402

PROMTOOL = shutil.which("promtool")
CURL = shutil.which("curl")


def http(port, method, path, body=None, headers=None, raw=None, host="127.0.0.1"):
    """(status, headers, text) of one real HTTP request."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if raw is not None:
        data = raw
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path), data=data,
                                 method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def get_json(port, path):
    st, _, text = http(port, "GET", path)
    assert st == 200, (st, text)
    return json.loads(text)


# ------------------------------------------------------------ exposition-format parser
METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """Strict parse of the text format: {(name, frozenset(labels)): value}, types."""
    samples, types, helps = {}, {}, {}
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helps, "duplicate HELP " + name
            helps[name] = True
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "duplicate TYPE " + name
            types[name] = typ
            continue
        assert line and not line.startswith("#"), "unexpected line %r" % line
        m = METRIC_RE.match(line)
        assert m, "bad sample line %r" % line
        name, labels = m.group(1), {}
        if m.group(3):
            rest = m.group(3)
            pos = 0
            while pos < len(rest):
                lm = LABEL_RE.match(rest, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        value = float(m.group(4))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample without TYPE: " + line
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate series " + line
        samples[key] = value
    return samples, types


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class HTTPTestCase(kgtest.KGTestCase):
    def start(self, http_over=None, deny=("bad.kg.test",), allow=(), extra=None):
        up = self.start_upstream()
        self.http_port = kgtest.free_port(v6=False)
        over = {"http": {"listen": "127.0.0.1:%d" % self.http_port}}
        over["http"].update(http_over or {})
        for sec, kv in (extra or {}).items():
            over.setdefault(sec, {}).update(kv)
        d = self.start_daemon("127.0.0.1:%d" % up.port, over, start=False)
        for n in deny:
            r = run_ctl(["deny", "add", n, "--category", "adult"], state=d.state)
            self.assertEqual(r.returncode, 0, r.stderr)
        for n in allow:
            r = run_ctl(["allow", "add", n], state=d.state)
            self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        ok = kgtest.wait_until(lambda: self._http_up(), 5)
        self.assertTrue(ok, "HTTP server did not come up:\n" + d.log_text())
        self.d, self.up = d, up
        return d

    def _http_up(self):
        try:
            return http(self.http_port, "GET", "/health")[0] in (200, 503)
        except OSError:
            return False


class MetricsTest(HTTPTestCase):
    def test_metrics_parse_and_move_with_traffic(self):
        d = self.start()
        st, hdrs, before = http(self.http_port, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"))
        s0, types = parse_metrics(before)
        for _ in range(3):
            self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"192.0.2.1"})
        query(d.port, "www.kg.test.", tcp=True)
        r = query(d.port, "x.bad.kg.test.")
        self.assertEqual(answer_rdata(r, "A"), {"0.0.0.0"})
        query(d.port, "nonexistent.kg.test.")
        st, _, text = http(self.http_port, "GET", "/metrics")
        s1, types = parse_metrics(text)
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(p.returncode, 0, "promtool check metrics:\n" + p.stdout)
        else:
            sys.stderr.write("\nSKIPPED promtool (not installed): strict parser only\n")
        # counters moved by exactly the traffic sent
        d_udp = metric(s1, "kidguard_queries_total", transport="udp") - \
            metric(s0, "kidguard_queries_total", transport="udp")
        self.assertEqual(d_udp, 5)
        self.assertEqual(metric(s1, "kidguard_queries_total", transport="tcp") -
                         metric(s0, "kidguard_queries_total", transport="tcp"), 1)
        self.assertEqual(metric(s1, "kidguard_blocked_total", category="adult"), 1)
        self.assertEqual(metric(s1, "kidguard_blocked_profile_total", profile="default"), 1)
        self.assertEqual(metric(s1, "kidguard_answers_total", rcode="NXDOMAIN") -
                         metric(s0, "kidguard_answers_total", rcode="NXDOMAIN"), 1)
        self.assertGreaterEqual(metric(s1, "kidguard_cache_hits_total"), 3)
        self.assertGreaterEqual(metric(s1, "kidguard_cache_misses_total"), 2)
        self.assertEqual(metric(s1, "kidguard_store_entries", source="local"), 1)
        self.assertEqual(metric(s1, "kidguard_build_info", version=kgtest.project_version()), 1)
        self.assertEqual(types["kidguard_upstream_latency_seconds"], "histogram")
        inf = metric(s1, "kidguard_upstream_latency_seconds_bucket", le="+Inf")
        self.assertEqual(inf, metric(s1, "kidguard_upstream_latency_seconds_count"))
        self.assertGreaterEqual(inf, 2)
        for name in ("kidguard_inflight_queries", "kidguard_feed_version",
                     "kidguard_feed_last_sync_timestamp_seconds",
                     "kidguard_upstream_errors_total", "kidguard_cache_entries"):
            self.assertIn(name, types)
        # the dashboard's JSON agrees
        s = get_json(self.http_port, "/api/stats")
        self.assertEqual(s["totals"]["blocked"], 1)
        self.assertEqual(sum(p[1] for p in s["history"]), s["totals"]["queries"])

    def test_health_ok_then_expired_feed(self):
        self.start(extra={"sync": {"url": "https://127.0.0.1:1/manifest.json",
                                   "public_keys": "AAAA", "max_age": "3600"}})
        st, _, text = http(self.http_port, "GET", "/health")
        self.assertEqual((st, text.strip()), (200, "ok"))
        # the feed's manifest expired a long time ago: written with LMDB's own tool
        inp = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n" \
              " 666565645f65787069726573\n 0100000000000000\nDATA=END\n"
        p = subprocess.run(["mdb_load", "-s", "meta", self.d.state], input=inp, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout)
        st, _, text = http(self.http_port, "GET", "/health")
        self.assertEqual(st, 503, text)
        self.assertIn("feed expired", text)
        st, _, text = http(self.http_port, "GET", "/metrics")
        s, _ = parse_metrics(text)
        self.assertEqual(metric(s, "kidguard_healthy"), 0)

    def test_health_without_sync(self):
        self.start()
        st, _, text = http(self.http_port, "GET", "/health")
        self.assertEqual(st, 200)
        self.assertIn("no feed sync configured", text)


class AuthTest(HTTPTestCase):
    RULE = {"name": "www.kg.test", "action": "deny"}

    def test_token_required(self):
        self.start({"token": "s3cret-token", "trust_loopback": "off"})
        st, hdrs, text = http(self.http_port, "POST", "/api/overrides", self.RULE)
        self.assertEqual(st, 401, text)
        self.assertIn("Bearer", hdrs["WWW-Authenticate"])
        st, _, _ = http(self.http_port, "POST", "/api/overrides", self.RULE,
                        {"Authorization": "Bearer wrong"})
        self.assertEqual(st, 401)
        st, _, _ = http(self.http_port, "DELETE", "/api/overrides?name=www.kg.test&action=deny")
        self.assertEqual(st, 401)
        st, _, _ = http(self.http_port, "POST", "/api/sync")
        self.assertEqual(st, 401)
        # reading needs no token
        self.assertEqual(http(self.http_port, "GET", "/api/overrides")[0], 200)
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE,
                           {"Authorization": "Bearer s3cret-token"})
        self.assertEqual(st, 201, text)

    def test_no_token_configured_refuses(self):
        self.start({"trust_loopback": "off"})
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE)
        self.assertEqual(st, 403, text)

    def test_trusted_loopback_and_csrf(self):
        self.start()
        # a cross-site form post: not JSON
        st, _, _ = http(self.http_port, "POST", "/api/overrides",
                        raw=b"name=www.kg.test&action=deny",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 403)
        st, _, _ = http(self.http_port, "POST", "/api/overrides", self.RULE,
                        {"Origin": "http://evil.example"})
        self.assertEqual(st, 403)
        st, _, _ = http(self.http_port, "POST", "/api/overrides", self.RULE,
                        {"Host": "rebind.evil.example:%d" % self.http_port})
        self.assertEqual(st, 403)
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE,
                           {"Origin": "http://127.0.0.1:%d" % self.http_port})
        self.assertEqual(st, 201, text)


class ApiTest(HTTPTestCase):
    def test_check_agrees_with_ctl(self):
        d = self.start(deny=("bad.kg.test",), allow=("ok.bad.kg.test",))
        for name in ("bad.kg.test", "deep.sub.bad.kg.test", "ok.bad.kg.test", "www.kg.test"):
            api = get_json(self.http_port, "/api/check?name=" + name)
            r = run_ctl(["check", name, "--json"], config=d.conf)
            self.assertEqual(r.returncode, 0, r.stderr)
            ctl = json.loads(r.stdout)
            for k in ("name", "profile", "answer", "action", "source", "feed_version", "match",
                      "subtree", "categories"):
                self.assertEqual(api[k], ctl[k], "%s: field %s" % (name, k))
            self.assertTrue(api["explanation"])
        self.assertIn("local deny rule", get_json(self.http_port,
                                                  "/api/check?name=bad.kg.test")["explanation"])
        st, _, _ = http(self.http_port, "GET", "/api/check?name=not..valid")
        self.assertEqual(st, 400)

    def test_override_add_remove_changes_dns(self):
        d = self.start(deny=())
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"192.0.2.1"})
        st, _, text = http(self.http_port, "POST", "/api/overrides",
                           {"name": "WWW.kg.test.", "action": "deny", "categories": ["gambling"]})
        self.assertEqual(st, 201, text)
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"0.0.0.0"})
        ov = get_json(self.http_port, "/api/overrides")["overrides"]
        self.assertEqual(ov, [{"name": "www.kg.test", "action": "deny", "subtree": True,
                               "categories": ["gambling"]}])
        st, _, text = http(self.http_port, "DELETE",
                           "/api/overrides?name=www.kg.test&action=deny&subtree=1")
        self.assertEqual(st, 200, text)
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"192.0.2.1"})
        self.assertEqual(get_json(self.http_port, "/api/overrides")["overrides"], [])
        st, _, _ = http(self.http_port, "DELETE", "/api/overrides?name=www.kg.test&action=deny")
        self.assertEqual(st, 404)
        st, _, _ = http(self.http_port, "POST", "/api/overrides",
                        {"name": "x.kg.test", "action": "deny", "categories": ["nope"]})
        self.assertEqual(st, 400)

    def test_events_have_no_client_by_default(self):
        d = self.start()
        query(d.port, "a.bad.kg.test.")
        query(d.port, "b.bad.kg.test.", "AAAA", addr="::1")
        query(d.port, "www.kg.test.")
        st, _, text = http(self.http_port, "GET", "/api/events")
        self.assertEqual(st, 200)
        ev = json.loads(text)["events"]
        self.assertEqual([e["name"] for e in ev], ["b.bad.kg.test", "a.bad.kg.test"])
        self.assertEqual(ev[0]["categories"], ["adult"])
        self.assertEqual(ev[0]["profile"], "default")
        for e in ev:
            self.assertNotIn("client", e)
        self.assertNotIn("127.0.0", text)
        self.assertNotIn("::1", text)
        st, _, _ = http(self.http_port, "GET", "/api/querylog")
        self.assertEqual(st, 404)

    def test_query_log_truncates(self):
        d = self.start({"query_log": "on", "query_log_size": "64"})
        query(d.port, "www.kg.test.", source="127.0.0.7")
        query(d.port, "x.bad.kg.test.", source="127.0.0.7")
        q = get_json(self.http_port, "/api/querylog")["queries"]
        self.assertEqual([e["name"] for e in q[:2]], ["x.bad.kg.test", "www.kg.test"])
        self.assertEqual(q[0]["client"], "127.0.0.0/24")
        self.assertTrue(q[0]["blocked"])
        self.assertFalse(q[1]["blocked"])
        ev = get_json(self.http_port, "/api/events")["events"]
        self.assertEqual(ev[0]["client"], "127.0.0.0/24")
        self.assertNotIn("127.0.0.7", json.dumps(q))

    def test_sync_endpoint_and_ctl(self):
        d = self.start()
        query(d.port, "www.kg.test.")
        query(d.port, "x.bad.kg.test.")
        r = run_ctl(["stats"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"queries\s+[23] ")
        self.assertRegex(r.stdout, r"blocked\s+1")
        self.assertIn("adult", r.stdout)
        r = run_ctl(["stats", "--json"], config=d.conf)
        self.assertEqual(json.loads(r.stdout)["totals"]["blocked"], 1)
        st, _, text = http(self.http_port, "POST", "/api/sync")
        self.assertEqual(st, 409, text)
        r = run_ctl(["sync", "now"], config=d.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409", r.stderr)

    def test_sync_now_pokes_supervisor(self):
        d = self.start({"token": "tok"}, extra={"sync": {
            "url": "https://127.0.0.1:1/manifest.json", "public_keys": "AAAA"}})
        r = run_ctl(["sync", "now"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(kgtest.wait_until(lambda: "SIGUSR1" in d.log_text(), 3), d.log_text())


class BlockPageTest(HTTPTestCase):
    def test_block_page_via_curl(self):
        if not CURL:
            self.skipTest("curl not installed")
        bp = kgtest.free_port(v6=False)
        self.start({"block_page_listen": "127.0.0.1:%d" % bp,
                    "block_page_contact": "Child helpline 0800 1111",
                    "block_page_text": "Blocked here: ask a parent."})
        # what a browser does after the sinkhole answer: connect to it with the blocked name
        p = subprocess.run([CURL, "-s", "-i", "--resolve", "x.bad.kg.test:%d:127.0.0.1" % bp,
                            "http://x.bad.kg.test:%d/some/page" % bp],
                           stdout=subprocess.PIPE, text=True, timeout=15)
        self.assertEqual(p.returncode, 0)
        self.assertIn("200", p.stdout.splitlines()[0])
        self.assertIn("This site is blocked", p.stdout)
        self.assertRegex(p.stdout, r'class="category">adult<')
        self.assertIn("x.bad.kg.test", p.stdout)
        self.assertIn("Blocked here: ask a parent.", p.stdout)
        self.assertIn("Child helpline 0800 1111", p.stdout)
        # the report button is a plain form
        p = subprocess.run([CURL, "-s", "--resolve", "x.bad.kg.test:%d:127.0.0.1" % bp,
                            "-d", "domain=x.bad.kg.test&kind=wrong_block",
                            "http://x.bad.kg.test:%d/report" % bp],
                           stdout=subprocess.PIPE, text=True, timeout=15)
        self.assertIn("Thank you", p.stdout)
        reps = get_json(self.http_port, "/api/reports")
        self.assertEqual(len(reps["reports"]), 1)
        rep = reps["reports"][0]
        self.assertEqual((rep["domain"], rep["kind"], rep["category"]),
                         ("x.bad.kg.test", "wrong_block", "adult"))
        self.assertNotIn("127.0.0.1", json.dumps(reps))

    def test_report_retried_and_bounded(self):
        self.start({"report_url": "https://127.0.0.1:1/report"})
        st, _, text = http(self.http_port, "POST", "/api/report",
                           {"domain": "bad.kg.test", "kind": "wrong_block"})
        self.assertEqual(st, 202, text)
        self.assertEqual(json.loads(text)["state"], "queued")

        def tried():
            r = get_json(self.http_port, "/api/reports")["reports"][0]
            return r if r["attempts"] >= 1 else None
        r = kgtest.wait_until(tried, 5)
        self.assertTrue(r, "no delivery attempt")
        self.assertEqual(r["state"], "queued")  # kept for a retry
        self.assertTrue(r["error"])
        # the same pending report is not duplicated; a bad kind is refused
        http(self.http_port, "POST", "/api/report", {"domain": "bad.kg.test", "kind": "wrong_block"})
        self.assertEqual(len(get_json(self.http_port, "/api/reports")["reports"]), 1)
        st, _, _ = http(self.http_port, "POST", "/api/report", {"domain": "x.test", "kind": "x"})
        self.assertEqual(st, 400)
        # bounded: a burst is rate limited
        codes = [http(self.http_port, "POST", "/api/report",
                      {"domain": "n%d.kg.test" % i, "kind": "not_blocked"})[0] for i in range(40)]
        self.assertIn(429, codes)
        self.assertLessEqual(len(get_json(self.http_port, "/api/reports")["reports"]), 64)

    def test_dashboard_files_served(self):
        self.start()
        for path, needle in (("/", "kidguard"), ("/app.js", "drawChart"),
                             ("/style.css", "--q")):
            st, hdrs, text = http(self.http_port, "GET", path)
            self.assertEqual(st, 200, path)
            self.assertIn(needle, text)
        st, _, _ = http(self.http_port, "GET", "/../../etc/passwd")
        self.assertEqual(st, 404)


if __name__ == "__main__":
    kgtest.main()
