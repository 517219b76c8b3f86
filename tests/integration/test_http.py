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

Issue 15: a Host that is not this server is refused on every API request (DNS rebinding,
RebindTest); loopback is not trusted by default and never through a proxy's
X-Forwarded-For/Forwarded (AuthTest); reports are limited per /24 or /56 client prefix and the
block page's form needs its per-page token (ReportQuotaTest).

Issue 17: /api/check?profile=NAME answers for that profile, as a DNS query from the profile's
address gets it; an unknown profile is a 400 listing the valid names; /api/events names the
profile of each block (CheckForWhomTest).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import answer_rdata, query, run_ctl  # noqa: E402

PROMTOOL = shutil.which("promtool")
CURL = shutil.which("curl")


def http(port, method, path, body=None, headers=None, raw=None, host="127.0.0.1", source=None):
    """(status, headers, text) of one real HTTP request; `source` binds the client address,
    a "Host" in `headers` replaces the one http.client would send."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if raw is not None:
        data = raw
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    c = HTTPConnection(host, port, timeout=10,
                                   source_address=(source, 0) if source else None)
    try:
        c.putrequest(method, path, skip_host="Host" in hdrs, skip_accept_encoding=True)
        for k, v in hdrs.items():
            c.putheader(k, v)
        if data is not None:
            c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        return r.status, r.headers, r.read().decode()
    finally:
        c.close()


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
        self.http_port = int(over["http"]["listen"].rsplit(":", 1)[1])
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
        # the dashboard gets the kind of problem, to say it in the parent's language
        stats = get_json(self.http_port, "/api/stats")
        self.assertEqual((stats["healthy"], stats["health_code"]), (False, "expired"))
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

    def test_audit_log_names_tokens_never_secrets(self):
        """Issue 19: every change and every refused attempt is one audit line in the log, with
        the token's name, method, path, source and result, and never the secret."""
        admin, isp = "s3cret-token", "isp-provisioning-secret-0123"
        # A quiet log level does not silence the audit log.
        d = self.start({"token": admin, "tokens": "provisioning:" + isp,
                        "trust_loopback": "off"}, extra={"server": {"log_level": "warning"}})
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE,
                           {"Authorization": "Bearer " + isp})
        self.assertEqual(st, 201, text)
        st, _, _ = http(self.http_port, "DELETE", "/api/overrides?name=www.kg.test&action=deny",
                        headers={"Authorization": "Bearer " + admin})
        self.assertEqual(st, 200)
        st, _, _ = http(self.http_port, "POST", "/api/overrides", self.RULE,
                        {"Authorization": "Bearer wrong-guess"})
        self.assertEqual(st, 401)
        st, _, _ = http(self.http_port, "GET", "/api/overrides",
                        headers={"Host": "rebound.attacker.example"})
        self.assertEqual(st, 403)
        self.assertEqual(http(self.http_port, "GET", "/api/overrides")[0], 200)

        def lines():
            return [ln for ln in d.log_text().splitlines() if "audit:" in ln]
        self.assertTrue(kgtest.wait_until(lambda: len(lines()) >= 4, 5), d.log_text()[-2000:])
        got = lines()
        self.assertEqual(len(got), 4, got)  # the plain GET is not audited
        self.assertRegex(got[0], r'audit: change method=POST path="/api/overrides" '
                                 r'source=127\.0\.0\.1:\d+ token=provisioning result=201$')
        self.assertRegex(got[1], r'audit: change method=DELETE '
                                 r'path="/api/overrides\?name=www\.kg\.test&action=deny" '
                                 r'source=127\.0\.0\.1:\d+ token=default result=200$')
        self.assertRegex(got[2], r'audit: refused method=POST path="/api/overrides" '
                                 r'source=127\.0\.0\.1:\d+ token=- result=401 reason=token$')
        self.assertRegex(got[3], r'audit: refused method=GET path="/api/overrides" '
                                 r'source=127\.0\.0\.1:\d+ token=- result=403 reason=host$')
        log = d.log_text()
        for secret in (admin, isp, "wrong-guess"):
            self.assertNotIn(secret, log)

    def test_no_token_configured_refuses(self):
        self.start({"trust_loopback": "off"})
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE)
        self.assertEqual(st, 403, text)

    def test_trusted_loopback_and_csrf(self):
        self.start({"trust_loopback": "on"})
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


    def test_loopback_not_trusted_by_default(self):
        # issue 15 finding 5: a local user (or a same-host proxy's client) is not the operator
        self.start()
        for origin in (None, "http://127.0.0.1:%d" % self.http_port):
            hdrs = {"Origin": origin} if origin else {}
            st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE, hdrs)
            self.assertEqual(st, 403, text)
        self.assertEqual(get_json(self.http_port, "/api/stats")["settings"]["trust_loopback"],
                         False)
        self.assertNotIn("www.kg.test", json.dumps(get_json(self.http_port, "/api/overrides")))

    def test_forwarded_request_is_not_loopback(self):
        # behind nginx on the same host every remote client arrives from 127.0.0.1
        self.start({"trust_loopback": "on"})
        for hdr, val in (("X-Forwarded-For", "203.0.113.5"), ("Forwarded", "for=203.0.113.5"),
                         ("X-Real-IP", "203.0.113.5")):
            st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE, {hdr: val})
            self.assertEqual(st, 403, "%s: %s" % (hdr, text))
        self.assertNotIn("www.kg.test", json.dumps(get_json(self.http_port, "/api/overrides")))
        st, _, text = http(self.http_port, "POST", "/api/overrides", self.RULE)
        self.assertEqual(st, 201, text)


class RebindTest(HTTPTestCase):
    """Issue 15 finding 4: a page whose name is rebound to the appliance reads nothing."""
    PATHS = ("/api/querylog", "/api/overrides", "/api/events", "/api/stats", "/api/reports",
             "/api/check?name=bad.kg.test", "/metrics", "/health", "/")

    def test_foreign_host_refused_before_any_handler(self):
        d = self.start({"query_log": "on"})
        query(d.port, "x.bad.kg.test.")
        p = self.http_port
        for path in self.PATHS:
            for host in ("rebind.evil.example:%d" % p, "rebind.evil.example",
                         "127.0.0.1.evil.example:%d" % p, "localhost.evil.example",
                         "[::1]:%d" % p, "127.0.0.2:%d" % p, "127.0.0.1:%d:1" % p,
                         "127.0.0.1:x", ""):
                st, _, text = http(p, "GET", path, headers={"Host": host})
                self.assertEqual(st, 403, "%s Host %r: %s" % (path, host, text[:200]))
                self.assertNotIn("bad.kg.test", text)
                self.assertIn("[http] hostname", text)
            for host in ("127.0.0.1:%d" % p, "127.0.0.1", "localhost:%d" % p, "LocalHost",
                         "localhost."):
                st, _, text = http(p, "GET", path, headers={"Host": host})
                self.assertEqual(st, 200, "%s Host %r: %s" % (path, host, text[:200]))
        # a state change with a foreign Host is refused before authorisation, token or not
        st, _, _ = http(p, "POST", "/api/overrides", {"name": "www.kg.test", "action": "deny"},
                        {"Host": "rebind.evil.example:%d" % p})
        self.assertEqual(st, 403)

    def test_hostname_list(self):
        self.start({"hostname": "kidguard.home.arpa, Router.LAN", "token": "tok"})
        p = self.http_port
        for host in ("kidguard.home.arpa:%d" % p, "KIDGUARD.home.arpa", "router.lan:80",
                     "router.lan."):
            st, _, text = http(p, "GET", "/api/stats", headers={"Host": host})
            self.assertEqual(st, 200, "%r: %s" % (host, text))
        for host in ("evil.kidguard.home.arpa", "kidguard.home.arpa.evil.example", "lan"):
            st, _, _ = http(p, "GET", "/api/stats", headers={"Host": host})
            self.assertEqual(st, 403, host)
        st, _, text = http(p, "POST", "/api/overrides", {"name": "www.kg.test", "action": "deny"},
                           {"Host": "router.lan:%d" % p, "Authorization": "Bearer tok"})
        self.assertEqual(st, 201, text)
        r = run_ctl(["stats", "--json"], config=self.d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_wildcard_listen_takes_any_address_literal(self):
        self.start({"listen": "0.0.0.0:%d" % kgtest.free_port(v6=False)})
        p = self.http_port
        for host in ("192.0.2.7:%d" % p, "10.1.2.3", "127.0.0.1:%d" % p):
            self.assertEqual(http(p, "GET", "/api/stats", headers={"Host": host})[0], 200, host)
        self.assertEqual(http(p, "GET", "/api/stats", headers={"Host": "evil.example"})[0], 403)

    def test_http11_without_host_is_400(self):
        self.start()
        import socket
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as s:
            s.sendall(b"GET /api/stats HTTP/1.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:200])
        self.assertNotIn(b"totals", data)

    def test_block_listener_never_serves_the_api(self):
        bp = kgtest.free_port(v6=False)
        d = self.start({"block_page_listen": "127.0.0.1:%d" % bp, "query_log": "on"})
        query(d.port, "x.bad.kg.test.")
        for path in self.PATHS:
            st, hdrs, text = http(bp, "GET", path, headers={"Host": "rebind.evil.example"})
            self.assertEqual(st, 200, path)
            self.assertTrue(hdrs["Content-Type"].startswith("text/html"), path)
            self.assertIn("This site is not blocked now", text)
            self.assertNotIn("x.bad.kg.test", text)
            self.assertNotIn("kidguard_queries_total", text)


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
        d = self.start({"trust_loopback": "on"}, deny=())
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
        d = self.start({"trust_loopback": "on"})
        query(d.port, "www.kg.test.")
        query(d.port, "x.bad.kg.test.")
        r = run_ctl(["stats"], config=d.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Two questions asked; a client that retried under a slow (sanitizer) build asks more.
        m = re.search(r"queries\s+(\d+) ", r.stdout)
        self.assertTrue(m and int(m.group(1)) >= 2, r.stdout)
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


class CheckForWhomTest(HTTPTestCase):
    KIDS = "127.0.0.9"

    def test_check_for_a_profile_agrees_with_dns(self):
        extra = {"profile kids": {"clients": self.KIDS + "/32", "block": "adult, gambling",
                                  "action": "sinkhole"},
                 "profile default": {"block": "adult", "action": "nxdomain"}}
        d = self.start(deny=(), extra=extra)
        r = run_ctl(["import", "--format", "domains", "--category", "gambling", "-"],
                    state=d.state, input="www.kg.test\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # The default profile allows it, for DNS and for the check.
        ok = kgtest.wait_until(lambda: answer_rdata(
            query(d.port, "www.kg.test.", source=self.KIDS), "A") == {"0.0.0.0"}, 5)
        self.assertTrue(ok, "the import never reached the kids' DNS answers")
        self.assertEqual(answer_rdata(query(d.port, "www.kg.test."), "A"), {"192.0.2.1"})
        plain = get_json(self.http_port, "/api/check?name=www.kg.test")
        self.assertEqual((plain["profile"], plain["answer"]), ("default", "forward"))
        # Asked for the kids, the same name is blocked, as the kids' DNS query was.
        kids = get_json(self.http_port, "/api/check?name=www.kg.test&profile=kids")
        self.assertEqual(kids["profile"], "kids")
        self.assertEqual(kids["answer"], "sinkhole")
        self.assertEqual(kids["action"], "block")
        self.assertEqual(kids["categories"], ["gambling"])
        self.assertIn("kids", kids["explanation"])
        # The profile wins over client= (the operator asked "for whom").
        both = get_json(self.http_port, "/api/check?name=www.kg.test&profile=default&client="
                        + self.KIDS)
        self.assertEqual((both["profile"], both["answer"]), ("default", "forward"))
        # An unknown profile is refused, not answered for someone else.
        st, _, text = http(self.http_port, "GET", "/api/check?name=www.kg.test&profile=nosuch")
        self.assertEqual(st, 400, text)
        err = json.loads(text)["error"]
        self.assertIn("nosuch", err)
        self.assertIn("kids", err)
        self.assertIn("default", err)
        # Recently blocked says for whom.
        ev = get_json(self.http_port, "/api/events")["events"]
        self.assertEqual([(e["name"], e["profile"]) for e in ev], [("www.kg.test", "kids")])


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
        self.assertRegex(p.stdout, r'class="category">Adult content<')
        self.assertIn("x.bad.kg.test", p.stdout)
        self.assertIn("Blocked here: ask a parent.", p.stdout)
        self.assertIn("Child helpline 0800 1111", p.stdout)
        # the report button is a plain form, with the page's token
        token = re.search(r'name="token" value="([0-9a-f]{32})"', p.stdout).group(1)
        p = subprocess.run([CURL, "-s", "--resolve", "x.bad.kg.test:%d:127.0.0.1" % bp,
                            "-d", "token=%s&domain=x.bad.kg.test&kind=wrong_block" % token,
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

    def test_api_report_needs_json(self):
        # a foreign page's form (text/plain or urlencoded, no preflight) cannot post a report
        self.start()
        for ct in ("text/plain", "application/x-www-form-urlencoded"):
            st, _, _ = http(self.http_port, "POST", "/api/report",
                            raw=b'{"domain":"bad.kg.test","kind":"wrong_block"}',
                            headers={"Content-Type": ct})
            self.assertEqual(st, 415, ct)
        self.assertEqual(get_json(self.http_port, "/api/reports")["reports"], [])

    def test_dashboard_files_served(self):
        self.start()
        for path, needle in (("/", "kidguard"), ("/app.js", "drawChart"),
                             ("/style.css", "--q")):
            st, hdrs, text = http(self.http_port, "GET", path)
            self.assertEqual(st, 200, path)
            self.assertIn(needle, text)
        st, _, _ = http(self.http_port, "GET", "/../../etc/passwd")
        self.assertEqual(st, 404)


class ReportQuotaTest(HTTPTestCase):
    """Issue 15 finding 8: one household cannot use up everyone's reporting, and a foreign
    page cannot post the block page's form."""
    PER_PREFIX = 10  # RS_REPORT_PER_PREFIX

    def start_block(self):
        self.bp = kgtest.free_port(v6=False)
        self.start({"block_page_listen": "127.0.0.1:%d" % self.bp})

    def page_token(self, source):
        st, _, text = http(self.bp, "GET", "/", headers={"Host": "x.bad.kg.test"},
                           source=source)
        self.assertEqual(st, 200)
        m = re.search(r'name="token" value="([0-9a-f]{32})"', text)
        return m.group(1) if m else ""  # "" from a daemon without form tokens

    def report(self, source, token, domain):
        form = "domain=%s&kind=not_blocked" % domain
        if token is not None:
            form = "token=%s&%s" % (token, form)
        return http(self.bp, "POST", "/report", raw=form.encode(),
                    headers={"Host": "x.bad.kg.test"}, source=source)

    def test_report_quota_per_client_prefix(self):
        self.start_block()
        # one client presses the button until it is refused (before: the global 30 / 10 min)
        tok = self.page_token("127.0.0.5")
        codes = []
        while 429 not in codes and len(codes) < 100:
            codes.append(self.report("127.0.0.5", tok, "n%d.kg.test" % len(codes))[0])
        self.assertEqual(codes[-1], 429, codes)
        # another /24 is not affected
        st, _, text = self.report("127.0.9.5", self.page_token("127.0.9.5"), "other.kg.test")
        self.assertEqual(st, 200, text)
        self.assertIn("Thank you", text)
        self.assertEqual(codes, [200] * self.PER_PREFIX + [429])
        # the same /24, another address: the same household
        st, _, _ = self.report("127.0.0.77", self.page_token("127.0.0.77"), "m.kg.test")
        self.assertEqual(st, 429)
        # nor is a third /24 reporting through the dashboard's API
        st, _, _ = http(self.http_port, "POST", "/api/report",
                        {"domain": "dash.kg.test", "kind": "wrong_block"}, source="127.0.3.1")
        self.assertEqual(st, 202)
        names = {r["domain"] for r in get_json(self.http_port, "/api/reports")["reports"]}
        self.assertIn("other.kg.test", names)
        self.assertNotIn("m.kg.test", names)

    CEILING = 200  # RS_REPORT_CEILING

    def api_report(self, source, domain, host="127.0.0.1"):
        return http(self.http_port, "POST", "/api/report",
                    {"domain": domain, "kind": "not_blocked"}, source=source, host=host)[0]

    def test_report_global_ceiling(self):
        """Many households each within their own quota: all of them together are held at
        RS_REPORT_CEILING per window, a prefix that never reported included."""
        self.start()
        prefixes = self.CEILING // self.PER_PREFIX
        codes = [self.api_report("127.0.%d.1" % (10 + p), "c%d-%d.kg.test" % (p, i))
                 for p in range(prefixes) for i in range(self.PER_PREFIX)]
        self.assertEqual(codes, [202] * self.CEILING)
        self.assertEqual(self.api_report("127.0.%d.1" % (10 + prefixes), "late.kg.test"), 429)
        self.assertEqual(self.api_report("127.0.250.9", "later.kg.test"), 429)

    @staticmethod
    def other_v6_address():
        """A global IPv6 address of this machine other than ::1 (another /56), or None."""
        try:
            with open("/proc/net/if_inet6") as f:
                for line in f:
                    hexa, scope = line.split()[0], line.split()[3]
                    if scope == "00" and not hexa.startswith("0000"):
                        return ":".join(hexa[i:i + 4] for i in range(0, 32, 4))
        except OSError:
            pass
        return None

    def test_report_quota_ipv6_56_and_v4_mapped(self):
        """On a dual-stack listener: an IPv6 client's quota is its /56's; an IPv4 client,
        seen as a v4-mapped address, keeps its /24's."""
        port = kgtest.free_port(v6=True)
        self.start({"listen": "[::]:%d" % port})
        codes = [self.api_report("::1", "v6-%d.kg.test" % i, host="::1")
                 for i in range(self.PER_PREFIX + 1)]
        self.assertEqual(codes, [202] * self.PER_PREFIX + [429])
        # v4-mapped: not counted with ::1, and grouped by /24
        codes = [self.api_report("127.0.0.5", "v4-%d.kg.test" % i)
                 for i in range(self.PER_PREFIX)]
        self.assertEqual(codes, [202] * self.PER_PREFIX)
        self.assertEqual(self.api_report("127.0.0.77", "v4-same-24.kg.test"), 429)
        self.assertEqual(self.api_report("127.0.1.5", "v4-other-24.kg.test"), 202)
        # another /56 (when this machine has a second IPv6 address to send from)
        other = self.other_v6_address()
        if other:
            self.assertEqual(self.api_report(other, "v6-other.kg.test", host="::1"), 202,
                             other)

    def test_report_form_needs_its_token(self):
        self.start_block()
        tok = self.page_token("127.0.0.5")
        self.assertTrue(tok, "the block page's form has no token")
        for bad in (None, "", "0" * 32, tok[:-1] + ("0" if tok[-1] != "0" else "1"), tok[:16]):
            st, _, text = self.report("127.0.0.5", bad, "x.bad.kg.test")
            self.assertEqual(st, 403, repr(bad))
            self.assertIn("expired", text)
        # a token is good only for the prefix it was made for
        st, _, _ = self.report("127.0.9.5", tok, "x.bad.kg.test")
        self.assertEqual(st, 403)
        self.assertEqual(get_json(self.http_port, "/api/reports")["reports"], [])
        st, _, text = self.report("127.0.0.6", tok, "x.bad.kg.test")
        self.assertEqual(st, 200, text)
        self.assertEqual(len(get_json(self.http_port, "/api/reports")["reports"]), 1)


if __name__ == "__main__":
    kgtest.main()
