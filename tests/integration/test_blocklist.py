#!/usr/bin/python3
"""Blocking end to end: real lists imported with kidguard-ctl, the real daemon, dnspython.

Lists: when <repo>/../shared/data exists (real public lists, see its SOURCES.md) the
Sinfonietta gambling hosts list is imported as hosts/gambling (exact entries) and UT1
2025-07-13 mixed_adult/domains as domains/adult (subtree entries; UT1 ships no adult
domains file, see SOURCES.md).  Otherwise the small invented fixtures in fixtures/ are used
and a loud SKIPPED line is printed.

What is checked (issue 3): local sinkhole/NXDOMAIN/NODATA/REFUSED answers with an Extended
DNS Error (RFC 8914) whose info-code and text are compared exactly; exact vs subtree entries;
blocked names never reach the upstream and are never cached; allow beats block; a local deny
without category blocks for every profile; profiles chosen by client address; changes made
with kidguard-ctl are seen by the running daemon on the next query; a 1M-entry store is served
within 1 s of spawning the daemon; kill -9 of a writer mid-import leaves the committed state;
`kidguard-ctl check --client` agrees with the daemon.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, ede_options, run_ctl  # noqa: E402
from kgtest import EDE_FILTERED  # noqa: E402

FIXTURES = os.path.join(kgtest.HERE, "fixtures")
KIDS, OTHER, NONE_IP, NODATA_IP, REFUSED_IP = ("127.0.0.2", "127.0.0.3", "127.0.0.4",
                                               "127.0.0.5", "127.0.0.6")
IPV4_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
NAME_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*$")


# ------------------------------------------------------------------ the lists
class Lists:
    """The two lists this test imports, their parsed names and the names picked for queries."""

    def __init__(self):
        data = kgtest.shared_data_dir()
        if data:
            self.real = True
            self.gambling_path = os.path.join(data, "blocklists", "sinfonietta",
                                              "gambling-hosts.xz")
            self.adult_path = os.path.join(data, "blocklists", "ut1", "2025-07-13",
                                           "mixed_adult", "domains.xz")
            gtext = subprocess.run(["xz", "-dc", self.gambling_path], check=True,
                                   stdout=subprocess.PIPE).stdout.decode()
            atext = subprocess.run(["xz", "-dc", self.adult_path], check=True,
                                   stdout=subprocess.PIPE).stdout.decode()
        else:
            self.real = False
            sys.stderr.write("\n" + "!" * 72 + "\nSKIPPED: ../shared/data not found: using the "
                             "small generated fixtures in tests/integration/fixtures/ instead "
                             "of real lists\n" + "!" * 72 + "\n")
            self.gambling_path = os.path.join(FIXTURES, "gambling-hosts.txt")
            self.adult_path = os.path.join(FIXTURES, "adult-domains.txt")
            with open(self.gambling_path) as f:
                gtext = f.read()
            with open(self.adult_path) as f:
                atext = f.read()
        self.gambling = set()  # hosts: exact names
        for line in gtext.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2 and parts[0] in ("0.0.0.0", "127.0.0.1"):
                for n in parts[1:]:
                    n = n.lower().rstrip(".")
                    if NAME_RE.match(n) and n not in ("localhost",):
                        self.gambling.add(n)
        self.adult = set()  # domains: subtree names
        for line in atext.splitlines():
            n = line.strip().lower()
            if not n or n.startswith("#"):
                continue
            if n.startswith("*."):
                n = n[2:]
            n = n.strip(".")
            if NAME_RE.match(n) and not IPV4_RE.match(n):
                self.adult.add(n)
        # names that are in one list only and not under any other entry: their verdict (and
        # EDE text) is exactly what this test expects
        g_ok = sorted(n for n in self.gambling
                      if not self.covered_by_adult(n) and not self.has_gambling_ancestor(n)
                      and n.count(".") >= 1)
        a_ok = sorted(n for n in self.adult
                      if n not in self.gambling and not self.has_adult_ancestor(n)
                      and not any(g.endswith("." + n) or g == n for g in self.gambling))
        assert len(g_ok) >= 6 and len(a_ok) >= 4, "lists too small"
        self.g = [g_ok[i * (len(g_ok) - 1) // 5] for i in range(6)]  # spread over the list
        self.a = [a_ok[i * (len(a_ok) - 1) // 3] for i in range(4)]

    def covered_by_adult(self, n):
        labels = n.split(".")
        return any(".".join(labels[i:]) in self.adult for i in range(len(labels)))

    def has_adult_ancestor(self, n):
        labels = n.split(".")
        return any(".".join(labels[i:]) in self.adult for i in range(1, len(labels)))

    def has_gambling_ancestor(self, n):
        labels = n.split(".")
        return any(".".join(labels[i:]) in self.gambling for i in range(1, len(labels)))

    def upstream_records(self):
        """Records the upstream serves for the picked names, so that a forwarded query for
        them gets a real answer (192.0.2.x / 198.18.x.y) that proves it was forwarded."""
        recs = []
        for i, n in enumerate(self.g):
            recs.append((n + ".", "A", 300, "198.18.1.%d" % (i + 1)))
            recs.append(("kgsub." + n + ".", "A", 300, "198.18.2.%d" % (i + 1)))
        for i, n in enumerate(self.a):
            recs.append((n + ".", "A", 300, "198.18.3.%d" % (i + 1)))
            recs.append(("kgdeep.x." + n + ".", "A", 300, "198.18.4.%d" % (i + 1)))
        recs.append(("a.blk.kg.test.", "A", 300, "198.18.5.1"))
        recs.append(("b.blk.kg.test.", "A", 300, "198.18.5.2"))
        return recs

    def forwarded_a(self, name):
        name = name.rstrip(".") + "."
        return {r for (n, t, _ttl, r) in self.upstream_records() if n == name and t == "A"}


_LISTS = None


def lists():
    global _LISTS
    if _LISTS is None:
        _LISTS = Lists()
        print("lists: %s gambling=%d names (hosts, exact) adult=%d names (domains, subtree); "
              "picked gambling %s, adult %s" % ("REAL" if _LISTS.real else "FIXTURE",
                                                len(_LISTS.gambling), len(_LISTS.adult),
                                                _LISTS.g, _LISTS.a), file=sys.stderr)
    return _LISTS


def profiles_overrides(extra=None):
    o = {
        "profile kids": {"clients": KIDS + "/32", "block": "adult, gambling",
                         "action": "sinkhole"},
        "profile default": {"block": "adult", "action": "nxdomain"},
    }
    o.update(extra or {})
    return o


# ------------------------------------------------------------------ the tests
class BlocklistTest(kgtest.KGTestCase):

    @classmethod
    def setUpClass(cls):
        cls.L = lists()

    # ---- helpers
    def ctl(self, d, *args, ok=True, timeout=60, **kw):
        self.assertTrue(os.path.exists(kgtest.ctl_binary()),
                        "kidguard-ctl not found: %s" % kgtest.ctl_binary())
        r = run_ctl(args, state=d.state, timeout=timeout, **kw)
        if ok:
            self.assertEqual(r.returncode, 0, "kidguard-ctl %s failed rc=%d:\n%s%s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def import_xz_or_plain(self, d, path, fmt, category):
        """The operator's way: `xz -dc LIST.xz | kidguard-ctl -d DIR import ... -`."""
        args = [kgtest.ctl_binary(), "-d", d.state, "import", "--format", fmt,
                "--category", category, "-"]
        if path.endswith(".xz"):
            xz = subprocess.Popen(["xz", "-dc", path], stdout=subprocess.PIPE)
            r = subprocess.run(args, stdin=xz.stdout, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
            xz.stdout.close()
            self.assertEqual(xz.wait(), 0)
        else:
            with open(path) as f:
                r = subprocess.run(args, stdin=f, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, "import %s failed:\n%s%s" % (path, r.stdout, r.stderr))
        return r.stdout + r.stderr

    def import_lists(self, d):
        out = self.import_xz_or_plain(d, self.L.gambling_path, "hosts", "gambling")
        out += self.import_xz_or_plain(d, self.L.adult_path, "domains", "adult")
        return out

    def setup(self, overrides=None, import_lists=True, **kw):
        up = self.start_upstream(extra_records=self.L.upstream_records())
        d = self.start_daemon("127.0.0.1:%d" % up.port, overrides, start=False, **kw)
        if import_lists:
            self.import_lists(d)
        d.start()
        return up, d

    def assertSinkholed(self, d, name, cat, source=None, code=EDE_FILTERED, lst="list=local",
                        v4="0.0.0.0", v6="::", tcp=False):
        text = ("category=%s; %s" % (cat, lst)) if cat else lst
        for t, addr in (("A", v4), ("AAAA", v6)):
            r = query(d.port, name, t, source=source, edns=0, tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR, "%s %s from %s" % (name, t, source))
            self.assertEqual(answer_rdata(r, t), {addr}, "%s %s from %s: %s" % (name, t, source, r))
            self.assertEqual(len(r.answer), 1)
            self.assertEqual(r.answer[0].name, dns.name.from_text(name))
            self.assertEqual(ede_options(r), [(code, text)], "%s %s EDE" % (name, t))
            self.assertTrue(r.flags & dns.flags.QR and r.flags & dns.flags.RA)

    def assertBlockedRcode(self, d, name, rcode, cat, source=None, rdtype="A", code=EDE_FILTERED):
        text = ("category=%s; list=local" % cat) if cat else "list=local"
        r = query(d.port, name, rdtype, source=source, edns=0)
        self.assertEqual(r.rcode(), rcode, "%s %s from %s: %s" % (name, rdtype, source, r))
        self.assertEqual(r.answer, [], "%s %s from %s has an answer: %s" % (name, rdtype, source, r))
        self.assertEqual(ede_options(r), [(code, text)], "%s %s from %s EDE" % (name, rdtype, source))

    def assertForwarded(self, up, d, name, source=None, expect=None, count=True):
        before = up.count(name, "A")
        r = query(d.port, name, "A", source=source, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR, "%s from %s: %s" % (name, source, r))
        want = expect if expect is not None else (self.L.forwarded_a(name) or
                                                  kgtest.expected_rdata(name, "A"))
        self.assertTrue(want, "test bug: no upstream data for %s" % name)
        self.assertEqual(answer_rdata(r, "A"), want, "%s from %s not forwarded: %s"
                         % (name, source, r))
        self.assertEqual(ede_options(r), [], "forwarded answer for %s carries an EDE" % name)
        if count:
            self.assertEqual(up.count(name, "A"), before + 1,
                             "%s: the upstream did not receive exactly one query" % name)
        return r

    def assertForwardedNx(self, up, d, name):
        """Not blocked: forwarded; the upstream (static kg.test zone) says NXDOMAIN."""
        before = up.count(name, "A")
        r = query(d.port, name, "A", edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, "%s: %s" % (name, r))
        self.assertEqual(ede_options(r), [], "%s is blocked" % name)
        self.assertEqual(up.count(name, "A"), before + 1, "%s not forwarded" % name)

    # ---- real lists: sinkhole, EDE, exact vs subtree, forwarding, not reaching the upstream
    def test_real_lists_sinkhole_ede_exact_subtree(self):
        up, d = self.setup()
        L = self.L
        for g in L.g:
            self.assertSinkholed(d, g, "gambling")
        for a in L.a:
            self.assertSinkholed(d, a, "adult")
            # a subdomain of a subtree (domains format) entry is blocked too
            self.assertSinkholed(d, "kgdeep.x." + a, "adult")
        # case does not matter, the question's case is echoed
        r = query(d.port, L.g[0].upper(), "A", edns=0)
        self.assertEqual(answer_rdata(r, "A"), {"0.0.0.0"})
        self.assertEqual(r.question[0].name.to_text(), L.g[0].upper() + ".")
        # blocked over TCP too
        self.assertSinkholed(d, L.g[1], "gambling", tcp=True)
        # a hosts (exact) entry does not cover its subdomains: forwarded, answered upstream
        for g in L.g[:3]:
            self.assertForwarded(up, d, "kgsub." + g)
        # names on no list are forwarded
        self.assertForwarded(up, d, "www.kg.test.")
        # nothing blocked ever reached the upstream
        for n in L.g + L.a + ["kgdeep.x." + a for a in L.a]:
            self.assertEqual(up.count(n, None), 0, "blocked name %s reached the upstream" % n)

    def test_blocked_not_cached_allow_beats_block(self):
        up, d = self.setup()
        L = self.L
        g, a = L.g[0], L.a[0]
        # blocked twice: never forwarded
        self.assertSinkholed(d, g, "gambling")
        self.assertSinkholed(d, g, "gambling")
        self.assertEqual(up.count(g, None), 0)
        # allow it: the very next query is forwarded (no blocked answer was cached)
        self.ctl(d, "allow", "add", g)
        self.assertForwarded(up, d, g)
        # drop the allow: blocked again at once, although the forwarded answer is cached now
        self.ctl(d, "allow", "del", g)
        self.assertSinkholed(d, g, "gambling")
        self.assertEqual(up.count(g, "A"), 1)
        # an allow on a name below a subtree (domains) entry beats the block for that name
        # only (most specific level wins); the entry and its other names stay blocked
        self.ctl(d, "allow", "add", "kgdeep.x." + a)
        self.assertForwarded(up, d, "kgdeep.x." + a)
        self.assertSinkholed(d, a, "adult")
        self.assertSinkholed(d, "other.x." + a, "adult")
        # allow and deny at the same level: allow wins
        self.ctl(d, "deny", "add", "blk.kg.test")
        self.assertSinkholed(d, "a.blk.kg.test", None)
        self.assertSinkholed(d, "b.blk.kg.test", None)
        self.ctl(d, "allow", "add", "a.blk.kg.test", "--exact")
        self.assertForwarded(up, d, "a.blk.kg.test")
        self.assertSinkholed(d, "b.blk.kg.test", None)
        self.ctl(d, "deny", "add", "a.blk.kg.test", "--exact")
        self.assertForwarded(up, d, "a.blk.kg.test", count=False)  # may be a cache hit now
        self.assertEqual(up.count("b.blk.kg.test", None), 0)
        # a forwarded and cached name denied later: blocked at once (policy before cache)
        self.assertForwarded(up, d, "n5.kg.test")
        self.ctl(d, "deny", "add", "n5.kg.test")
        self.assertSinkholed(d, "n5.kg.test", None)
        self.ctl(d, "deny", "del", "n5.kg.test")
        r = query(d.port, "n5.kg.test", "A", edns=0)
        self.assertEqual(answer_rdata(r, "A"), kgtest.expected_rdata("n5.kg.test", "A"))
        self.assertEqual(ede_options(r), [])
        self.assertEqual(up.count("n5.kg.test", "A"), 1, "cached answer not used after deny del")

    def test_bind_rpz_absolute_owners_two_origins(self):
        """Issue 16: a BIND-style policy zone imports the policy names, not the owners."""
        up, d = self.setup(profiles_overrides(), import_lists=False)
        zone = os.path.join(d.workdir, "ministry.rpz")
        with open(zone, "w") as f:
            f.write("$TTL 2h\n"
                    "$ORIGIN rpz.ministry.example.\n"
                    "@ IN SOA ns1.ministry.example. hostmaster.ministry.example. (\n"
                    "        2026120201 ; serial\n"
                    "        3600 600 86400 300 )\n"
                    "  IN NS ns1.ministry.example.\n"
                    "bad.kg.test.rpz.ministry.example. CNAME .\n"
                    "*.wild.kg.test.rpz.ministry.example. 300 IN CNAME .\n"
                    "ok.bad.kg.test CNAME rpz-passthru.\n"
                    "\\110\\053.kg.test CNAME rpz-drop.\n"      # escapes: n5.kg.test
                    "$INCLUDE /etc/passwd\n"                       # line 11
                    "outside.kg.test. CNAME .\n"                   # line 12
                    "$ORIGIN sub.kg.test.rpz.ministry.example.\n"
                    "www CNAME .\n"
                    "* CNAME *.\n")
        r = self.ctl(d, "import", "--format", "rpz", "--category", "adult", zone)
        self.assertIn("6 names imported", r.stdout)
        self.assertIn("2 invalid", r.stdout)
        self.assertIn("ministry.rpz:11: $INCLUDE refused", r.stdout)
        self.assertIn("ministry.rpz:12: owner outside the policy zone", r.stdout)
        # the policy names are blocked (exact, subtree, after the second $ORIGIN) ...
        for name in ("bad.kg.test", "a.wild.kg.test", "wild.kg.test", "n5.kg.test",
                     "www.sub.kg.test", "sub.kg.test", "x.y.sub.kg.test"):
            self.assertBlockedRcode(d, name, dns.rcode.NXDOMAIN, "adult")
        # ... an exact rule does not cover names below it, passthru allows, and the owners as
        # written were not imported as names
        self.assertForwardedNx(up, d, "a.bad.kg.test")
        self.assertForwardedNx(up, d, "ok.bad.kg.test")
        self.assertForwardedNx(up, d, "outside.kg.test")
        c = run_ctl(["check", "bad.kg.test.rpz.ministry.example", "--json"], config=d.conf)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        self.assertNotEqual(json.loads(c.stdout)["action"], "block", c.stdout)

    def test_local_deny_without_category_blocks_every_profile(self):
        up, d = self.setup(profiles_overrides({
            "profile open": {"clients": NONE_IP + "/32", "block": "none", "action": "sinkhole"},
        }))
        # no category: every profile, even one that blocks nothing
        self.ctl(d, "deny", "add", "n7.kg.test")
        self.assertSinkholed(d, "n7.kg.test", None, source=KIDS)
        self.assertSinkholed(d, "n7.kg.test", None, source=NONE_IP)
        self.assertBlockedRcode(d, "n7.kg.test", dns.rcode.NXDOMAIN, None, source=OTHER)
        self.assertEqual(up.count("n7.kg.test", None), 0)
        # with a category: only profiles blocking it
        self.ctl(d, "deny", "add", "n8.kg.test", "--category", "gambling")
        self.assertSinkholed(d, "n8.kg.test", "gambling", source=KIDS)
        self.assertForwarded(up, d, "n8.kg.test", source=OTHER)
        self.assertForwarded(up, d, "n8.kg.test", source=NONE_IP, count=False)
        # the imported lists do not apply to the profile that blocks nothing
        self.assertForwarded(up, d, self.L.a[1], source=NONE_IP)

    def test_precedence_most_specific_wins(self):
        up, d = self.setup(import_lists=False)
        # deny subtree p.kg.test, allow subtree x.p.kg.test, deny exact y.x.p.kg.test
        self.ctl(d, "deny", "add", "p.kg.test", "--category", "adult")
        self.ctl(d, "allow", "add", "x.p.kg.test")
        self.ctl(d, "deny", "add", "y.x.p.kg.test", "--exact", "--category", "gambling")
        self.assertSinkholed(d, "p.kg.test", "adult")
        self.assertSinkholed(d, "w.p.kg.test", "adult")
        self.assertForwardedNx(up, d, "x.p.kg.test")
        self.assertForwardedNx(up, d, "z.x.p.kg.test")
        self.assertSinkholed(d, "y.x.p.kg.test", "gambling")
        self.assertForwardedNx(up, d, "sub.y.x.p.kg.test")  # the deny is exact
        # an exact allow covers the name only
        self.ctl(d, "allow", "add", "w.p.kg.test", "--exact")
        self.assertForwardedNx(up, d, "w.p.kg.test")
        self.assertSinkholed(d, "v.w.p.kg.test", "adult")
        # one name in several categories: the EDE names those the profile blocks
        self.ctl(d, "deny", "add", "multi.kg.test", "--category", "adult", "--category",
                 "gambling")
        self.assertSinkholed(d, "multi.kg.test", "adult,gambling")

    def test_odd_label_bytes_do_not_bypass_a_subtree_block(self):
        # A query name below a blocked subtree entry whose extra label holds a 0x00 byte (legal
        # in DNS: a label may hold any octet) must not be forwarded: the block covers every
        # name below the entry, and a wildcard upstream would answer it.
        up, d = self.setup(import_lists=False)
        a = "bypass.kg.test"  # in the upstream's zone: a forwarded query is answered at once
        self.ctl(d, "deny", "add", a, "--category", "adult")
        self.assertSinkholed(d, "www." + a, "adult")
        for labels in ([b"\x00"], [b"a\x00b"], [b"\x00", b"y"]):
            n = dns.name.Name(labels + list(dns.name.from_text(a).labels))
            with self.subTest(name=n.to_text()):
                q = dns.message.make_query(n, "A", use_edns=0)
                r = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3)
                blocked = (answer_rdata(r, "A") == {"0.0.0.0"} and
                           ede_options(r) == [(EDE_FILTERED, "category=adult; list=local")])
                local_error = r.rcode() in (dns.rcode.FORMERR, dns.rcode.REFUSED)
                self.assertTrue(blocked or local_error,
                                "%r below blocked subtree %s was answered %s %s %s"
                                % (n.to_text(), a, dns.rcode.to_text(r.rcode()),
                                   answer_rdata(r, "A"), ede_options(r)))
        seen = [q for q in up.queries() if q[0].endswith(a + ".")]
        self.assertEqual(seen, [], "names below the blocked subtree %s reached the upstream" % a)

    # ---- profiles by client address
    def test_profiles_by_client_address(self):
        up, d = self.setup(profiles_overrides())
        g, a = self.L.g[2], self.L.a[2]
        # gambling: blocked for the kids profile, forwarded for the default profile
        self.assertSinkholed(d, g, "gambling", source=KIDS)
        self.assertEqual(up.count(g, None), 0)
        self.assertForwarded(up, d, g, source=OTHER)
        self.assertSinkholed(d, g, "gambling", source=KIDS)  # the cached answer is not used
        # adult: sinkhole for kids, NXDOMAIN (with EDE) for everyone else
        self.assertSinkholed(d, a, "adult", source=KIDS)
        self.assertBlockedRcode(d, a, dns.rcode.NXDOMAIN, "adult", source=OTHER)
        self.assertBlockedRcode(d, a, dns.rcode.NXDOMAIN, "adult", source=OTHER, rdtype="AAAA")
        self.assertBlockedRcode(d, "kgdeep.x." + a, dns.rcode.NXDOMAIN, "adult", source=OTHER)
        self.assertEqual(up.count(a, None), 0)
        # IPv6 client (::1) is not in kids: default profile
        r = query(d.port, a, "A", addr="::1", edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        # no EDNS in the query: no OPT in the answer, still blocked
        for src, rc, addr in ((KIDS, dns.rcode.NOERROR, {"0.0.0.0"}), (OTHER, dns.rcode.NXDOMAIN,
                                                                          set())):
            r = query(d.port, a, "A", source=src)  # edns=None: plain query
            self.assertEqual(r.rcode(), rc, "%s from %s without EDNS: %s" % (a, src, r))
            self.assertEqual(answer_rdata(r, "A"), addr)
            self.assertEqual(r.edns, -1, "answer to a query without EDNS carries an OPT")
            self.assertEqual(len(r.options), 0)
        self.assertEqual(up.count(a, None), 0)

    # ---- other types and actions
    def test_other_types_nodata_and_actions(self):
        up, d = self.setup(profiles_overrides({
            "profile quiet": {"clients": NODATA_IP + "/32", "block": "all", "action": "nodata"},
            "profile strict": {"clients": REFUSED_IP + "/32", "block": "all",
                               "action": "refused"},
        }))
        g = self.L.g[3]
        # sinkhole action: only A and AAAA get an address; any other type is NODATA
        for t in ("MX", "TXT", "HTTPS", "SRV", "NS", "CAA", "SOA", "PTR", "CNAME"):
            self.assertBlockedRcode(d, g, dns.rcode.NOERROR, "gambling", source=KIDS, rdtype=t)
        # nodata action: NOERROR, empty answer, also for A/AAAA
        for t in ("A", "AAAA", "MX"):
            self.assertBlockedRcode(d, g, dns.rcode.NOERROR, "gambling", source=NODATA_IP,
                                    rdtype=t)
        # refused action
        for t in ("A", "AAAA", "TXT"):
            self.assertBlockedRcode(d, g, dns.rcode.REFUSED, "gambling", source=REFUSED_IP,
                                    rdtype=t)
        # nxdomain action (default profile here blocks adult only)
        self.assertBlockedRcode(d, self.L.a[3], dns.rcode.NXDOMAIN, "adult", source=OTHER,
                                rdtype="MX")
        self.assertEqual(up.count(g, None), 0)
        self.assertEqual(up.count(self.L.a[3], None), 0)

    def test_sinkhole_addresses_and_ttl_from_config(self):
        up, d = self.setup({"blocking": {"sinkhole_ipv4": "192.0.2.250",
                                         "sinkhole_ipv6": "2001:db8::250", "ttl": "42"}})
        g = self.L.g[4]
        self.assertSinkholed(d, g, "gambling", v4="192.0.2.250", v6="2001:db8::250")
        r = query(d.port, g, "A", edns=0)
        self.assertEqual(r.answer[0].ttl, 42)
        self.assertSinkholed(d, "kgdeep.x." + self.L.a[0], "adult", v4="192.0.2.250",
                             v6="2001:db8::250")

    # ---- live changes
    def test_changes_take_effect_without_restart(self):
        # the daemon starts on an empty (not yet created) store
        up, d = self.setup(import_lists=False)
        g, a = self.L.g[5], self.L.a[1]
        self.assertForwarded(up, d, g)
        self.assertForwarded(up, d, a)
        # import while it runs: blocked on the next query, no restart, no signal
        self.import_lists(d)
        self.assertSinkholed(d, g, "gambling")
        self.assertSinkholed(d, a, "adult")
        # deny add / del
        self.ctl(d, "deny", "add", "n9.kg.test", "--category", "adult")
        self.assertSinkholed(d, "n9.kg.test", "adult")
        self.ctl(d, "deny", "del", "n9.kg.test")
        self.assertForwarded(up, d, "n9.kg.test")
        self.assertTrue(d.alive())
        self.assertEqual(up.count(g, "A"), 1)

    def test_verdict_cache_sees_ctl_changes_at_the_next_query(self):
        """[cache] verdict_entries remembers the rules found per name; a kidguard-ctl
        deny/allow while the daemon runs is seen at the very next query (real DNS), for a
        name the cache holds, and the cache's hits show in /metrics. With the cache off, the
        same answers."""
        for entries in ("64", "0"):
            with self.subTest(verdict_entries=entries):
                http_port = kgtest.free_port(v6=False)
                up, d = self.setup(profiles_overrides({
                    "cache": {"verdict_entries": entries},
                    "http": {"listen": "127.0.0.1:%d" % http_port}}), import_lists=False)
                hits = lambda: kgtest.metrics_value(http_port,  # noqa: E731
                                                    "kidguard_verdict_cache_hits_total", 0)
                self.ctl(d, "deny", "add", "n21.kg.test", "--category", "adult")
                for _ in range(3):  # blocked answers are not in the answer cache
                    self.assertSinkholed(d, "n21.kg.test", "adult", source=KIDS)
                if entries != "0":
                    self.assertGreaterEqual(hits(), 4, "A and AAAA asked 3 times each")
                else:
                    self.assertEqual(hits(), 0)
                # an allow for the name: forwarded at the next query
                self.ctl(d, "allow", "add", "n21.kg.test")
                self.assertForwarded(up, d, "n21.kg.test", source=KIDS)
                # a subtree deny above it: the allow (more specific) still wins, a sibling
                # asked before (cached as "no rule") is blocked now
                self.assertForwarded(up, d, "n22.kg.test", source=KIDS)
                r = query(d.port, "n22.kg.test", "AAAA", source=KIDS, edns=0)
                self.assertEqual(ede_options(r), [])
                self.ctl(d, "deny", "add", "kg.test", "--category", "adult")
                self.assertSinkholed(d, "n22.kg.test", "adult", source=KIDS)
                self.assertForwarded(up, d, "n21.kg.test", source=KIDS, count=False)
                # and back: allow del leaves the subtree deny, deny del of both forwards
                self.ctl(d, "allow", "del", "n21.kg.test")
                self.assertSinkholed(d, "n21.kg.test", "adult", source=KIDS)
                self.ctl(d, "deny", "del", "kg.test")
                self.ctl(d, "deny", "del", "n21.kg.test")
                self.assertForwarded(up, d, "n21.kg.test", source=KIDS, count=False)
                self.assertForwarded(up, d, "n22.kg.test", source=KIDS, count=False)
                if entries != "0":
                    # resized by a reload: the counter goes on, the answers stay right
                    before = hits()
                    d.sections["cache"]["verdict_entries"] = "16"
                    d.write_config()
                    d.send_signal(signal.SIGHUP)
                    self.assertTrue(kgtest.wait_until(
                        lambda: "configuration reloaded" in d.log_text(), 5), d.log_text())
                    self.ctl(d, "deny", "add", "n23.kg.test", "--category", "adult")
                    self.assertTrue(kgtest.wait_until(lambda: (
                        self.assertSinkholed(d, "n23.kg.test", "adult", source=KIDS) or
                        hits() > before), 5))
                    self.assertGreaterEqual(hits(), before)
                self.assertTrue(d.alive())
                d.stop()
                up.stop()

    # ---- served from the first second
    def test_million_entries_served_from_first_second(self):
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, start=False)
        n = 1000000
        path = os.path.join(self.tmp, "million.txt")
        with open(path, "w") as f:
            f.write("".join("h%07d.b%03d.million.example\n" % (i, i % 997) for i in range(n)))
        t0 = time.monotonic()
        r = self.ctl(d, "import", "--format", "domains", "--category", "adult", path,
                     timeout=120)
        t_import = time.monotonic() - t0
        self.assertIn("%d names imported" % n, r.stdout + r.stderr)
        probe = "www.h%07d.b%03d.million.example" % (n - 1, (n - 1) % 997)
        t0 = time.monotonic()
        d.start(wait=False)
        first = None
        attempts = 0
        while time.monotonic() - t0 < 5:
            attempts += 1
            try:
                r = query(d.port, probe, "A", edns=0, timeout=0.02)
            except (dns.exception.Timeout, OSError):
                if not d.alive():
                    self.fail("kidguard exited: %s" % d.log_text())
                continue
            if answer_rdata(r, "A") == {"0.0.0.0"}:
                first = time.monotonic() - t0
                break
            self.fail("first answer from the 1M store is not the sinkhole: %s" % r)
        self.assertIsNotNone(first, "no blocked answer within 5 s of spawning the daemon")
        rss = kgtest.proc_rss_kb(d.proc.pid)
        print("\n1M-entry store: import %.2f s; spawn -> first correct blocked answer %.3f s "
              "(%d probes); RSS %d kB" % (t_import, first, attempts, rss), file=sys.stderr)
        self.assertLess(first, 1.0, "1M-entry store: first blocked answer after %.3f s" % first)
        self.assertEqual(ede_options(r), [(EDE_FILTERED, "category=adult; list=local")])
        self.assertForwarded(up, d, "www.kg.test")

    # ---- kill -9 of a writer mid-import
    def test_kill9_writer_mid_import_keeps_committed_state(self):
        up, d = self.setup()
        g = self.L.g[1]
        info0 = self.ctl(d, "info").stdout
        rules0 = re.search(r"^rules\s+(\d+)\s+(\d+)", info0, re.M)
        self.assertTrue(rules0, info0)
        big = os.path.join(self.tmp, "big.txt")
        n = 6000000
        with open(big, "w") as f:
            f.write("killed-marker.kg.test\n")
            f.write("".join("k%07d.big.kg.test\n" % i for i in range(n)))
        # queries keep flowing while the writer runs and dies
        stop = threading.Event()
        errors, ok = [], [0]

        def querier():
            while not stop.is_set():
                for name, want in ((g, {"0.0.0.0"}),
                                   ("www.kg.test", kgtest.expected_rdata("www.kg.test", "A"))):
                    try:
                        r = query(d.port, name, "A", edns=0, timeout=1)
                        if answer_rdata(r, "A") != want:
                            errors.append("%s: %s" % (name, r))
                        else:
                            ok[0] += 1
                    except Exception as e:  # noqa: BLE001
                        errors.append("%s: %r" % (name, e))
                time.sleep(0.005)  # pacing of the query load, not a wait
        t = threading.Thread(target=querier, daemon=True)
        t.start()
        try:
            w = subprocess.Popen([kgtest.ctl_binary(), "-d", d.state, "import", "--format",
                                  "domains", "--category", "gambling", big],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: w.poll() is None and w.kill())
            # kill once queries have been answered while the writer runs
            n0 = ok[0]
            kgtest.wait_until(lambda: ok[0] >= n0 + 20 or w.poll() is not None, 10)
            if w.poll() is not None:
                self.fail("import finished before 20 queries, nothing to kill: %s"
                          % w.stdout.read())
            os.kill(w.pid, signal.SIGKILL)
            self.assertEqual(w.wait(5), -signal.SIGKILL)
            w.stdout.close()
            n1 = ok[0]  # and queries keep being answered after it died
            kgtest.wait_until(lambda: ok[0] >= n1 + 20 or errors, 10)
        finally:
            stop.set()
            t.join(5)
        self.assertEqual(errors, [], "the daemon did not answer correctly during the import")
        self.assertGreater(ok[0], 20)
        self.assertTrue(d.alive())
        # exactly the committed state: old entries blocked, nothing from the killed import
        self.assertSinkholed(d, g, "gambling")
        self.assertSinkholed(d, "kgdeep.x." + self.L.a[0], "adult")
        for name in ("killed-marker.kg.test", "k0000000.big.kg.test", "x.k0000001.big.kg.test"):
            r = query(d.port, name, "A", edns=0)
            self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, "%s: %s" % (name, r))
            self.assertEqual(ede_options(r), [], "%s from the killed import is blocked" % name)
            self.assertEqual(up.count(name, "A"), 1)
        info1 = self.ctl(d, "info", timeout=20).stdout
        rules1 = re.search(r"^rules\s+(\d+)\s+(\d+)", info1, re.M)
        self.assertEqual(rules1.groups(), rules0.groups(), "rule counts changed:\n%s\n%s"
                         % (info0, info1))
        # the store is writable again: a later import succeeds and is served
        small = os.path.join(self.tmp, "after.txt")
        with open(small, "w") as f:
            f.write("after-kill.kg.test\n")
        self.ctl(d, "import", "--format", "domains", "--category", "gambling", small, timeout=20)
        self.assertSinkholed(d, "after-kill.kg.test", "gambling")
        self.assertSinkholed(d, "www.after-kill.kg.test", "gambling")

    # ---- kidguard-ctl check agrees with the daemon
    def test_ctl_check_agrees_with_daemon(self):
        import json
        up, d = self.setup(profiles_overrides())
        L = self.L
        names = [L.g[0], "kgsub." + L.g[0], L.a[0], "kgdeep.x." + L.a[0], "www.kg.test"]
        want_profile = {KIDS: "kids", OTHER: "default"}
        for name in names:
            for client in (KIDS, OTHER):
                with self.subTest(name=name, client=client):
                    r = run_ctl(["check", name, "--client", client, "--json"], config=d.conf)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    v = json.loads(r.stdout)
                    self.assertEqual(v["profile"], want_profile[client], v)
                    a = query(d.port, name, "A", source=client, edns=0)
                    if a.rcode() == dns.rcode.NXDOMAIN and ede_options(a):
                        seen = "nxdomain"
                    elif answer_rdata(a, "A") == {"0.0.0.0"} and ede_options(a):
                        seen = "sinkhole"
                    elif not ede_options(a):
                        seen = "forward"
                    else:
                        seen = "?: %s" % a
                    self.assertEqual(v["answer"], seen, "ctl says %s, daemon did %s" % (v, seen))
                    self.assertEqual(v["action"] == "block", seen != "forward", v)
                    # text form names the same profile
                    t = run_ctl(["check", name, "--client", client], config=d.conf)
                    self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
                    self.assertRegex(t.stdout, r"profile:\s+%s\b" % want_profile[client])


if __name__ == "__main__":
    kgtest.main()
