#!/usr/bin/python3
"""CNAME chains (issue 15, finding 3): every name of an upstream answer is checked against the
blocklist, however long the chain, and a chain longer than the bound (16) is never passed on.

The 9-link chain comes from a real upstream: unbound serving an auth-zone follows a CNAME chain
inside its zone (up to 9 links in one answer). Longer chains come from a hostile upstream (a
dnspython UDP server on loopback) that answers any question with the whole chain, as an upstream
under an attacker's control would.
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import dns, query, answer_rdata, ede_options, run_ctl  # noqa: E402
import dns.message  # noqa: E402
import dns.rrset  # noqa: E402

TEEN, ADULT = "127.0.0.3", "127.0.0.4"
ZONE = "chain.example."

CONFIG = """
[server]
listen = 127.0.0.1:{port}
workers = 1
log_level = debug
[upstream]
servers = 127.0.0.1:{up}
[access]
allow = 127.0.0.0/8
[blocklist]
path = {state}
[profile teen]
preset = 13to15
clients = {teen}
[profile default]
preset = adult
"""


def chain_zone():
    """c1 -> c2 -> ... -> c10 (9 links; c10 blocked), and d1 -> ... -> d10 (not blocked)."""
    recs = [(ZONE, "SOA", 300, "ns.%s host.%s 1 3600 600 86400 60" % (ZONE, ZONE)),
            (ZONE, "NS", 300, "ns." + ZONE), ("ns." + ZONE, "A", 300, "192.0.2.53")]
    for p in ("c", "d"):
        for i in range(1, 10):
            recs.append(("%s%d.%s" % (p, i, ZONE), "CNAME", 300, "%s%d.%s" % (p, i + 1, ZONE)))
        recs.append(("%s10.%s" % (p, ZONE), "A", 300, "192.0.2.10"))
    return recs


class ChainUpstream:
    """Answers "<links>-<b|ok>.evil.example." with a chain of <links> CNAMEs ending at
    blocked.evil.example. (b) or fine.evil.example. (ok), then its A record."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            r = dns.message.make_response(q)
            qname = q.question[0].name
            first = qname.labels[0].decode()
            links, _, kind = first.partition("-")
            if links.isdigit():
                end = "blocked.evil.example." if kind == "b" else "fine.evil.example."
                names = [qname.to_text()] + ["l%d.evil.example." % i
                                             for i in range(1, int(links))] + [end]
                for a, b in zip(names, names[1:]):
                    r.answer.append(dns.rrset.from_text(a, 300, "IN", "CNAME", b))
                r.answer.append(dns.rrset.from_text(end, 300, "IN", "A", "192.0.2.77"))
            try:
                self.sock.sendto(r.to_wire(), peer)
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.sock.close()


class CnameChainTest(kgtest.KGTestCase):
    def daemon(self, up_port, deny):
        d = self.start_daemon("127.0.0.1:%d" % up_port, start=False, v6=False)
        d.write_config(CONFIG.format(port=d.port, up=up_port, state=d.state, teen=TEEN))
        d.start()
        for name in deny:
            rc = run_ctl(["deny", "add", name, "--category", "adult"], state=d.state)
            self.assertEqual(rc.returncode, 0, rc.stderr)
        return d

    def assertBlockedVia(self, d, qname, via):
        r = query(d.port, qname, "A", source=TEEN, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(answer_rdata(r, "A"), {"0.0.0.0"}, r.to_text())
        ede = ede_options(r)
        self.assertEqual(len(ede), 1, r.to_text())
        self.assertIn("cname=" + via.rstrip("."), ede[0][1])
        self.assertIn("category=adult", ede[0][1])

    def test_nine_links_from_a_real_upstream(self):
        up = self.start_upstream(auth_zones=[(ZONE, chain_zone())])
        d = self.daemon(up.port, ["c10." + ZONE.rstrip(".")])
        # the adult gets the chain as unbound sent it: all nine links
        r = query(d.port, "c1." + ZONE, "A", source=ADULT, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        targets = answer_rdata(r, "CNAME")
        self.assertIn("c10." + ZONE, targets)
        self.assertEqual(len(targets), 9)
        # the child: the ninth target is blocked (main inspected only the first eight)
        self.assertBlockedVia(d, "c1." + ZONE, "c10." + ZONE)
        # a clean nine-link chain passes for both
        for src in (TEEN, ADULT):
            r = query(d.port, "d1." + ZONE, "A", source=src, edns=0)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertIn("d10." + ZONE, answer_rdata(r, "CNAME"))
            self.assertEqual(ede_options(r), [])

    def test_long_chains_from_a_hostile_upstream(self):
        up = ChainUpstream()
        self.addCleanup(up.stop)
        d = self.daemon(up.port, ["blocked.evil.example"])
        # 16 links, the bound: every target inspected, the last one blocked
        self.assertBlockedVia(d, "16-b.evil.example.", "blocked.evil.example.")
        # 20 links ending at a blocked name: over the bound, never passed
        r = query(d.port, "20-b.evil.example.", "A", source=TEEN, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertEqual(answer_rdata(r, "A"), set())
        # 17 links to a clean name: refused for the adult as well (a loop or an attack)
        for src in (TEEN, ADULT):
            r = query(d.port, "17-ok.evil.example.", "A", source=src, edns=0)
            self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        # 16 links to a clean name pass
        r = query(d.port, "16-ok.evil.example.", "A", source=TEEN, edns=0)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.77"})
        self.assertTrue(d.alive())


if __name__ == "__main__":
    kgtest.main()
