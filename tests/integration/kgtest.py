"""Integration-test harness for kidguard.

Everything here talks real DNS over real loopback sockets:

* ``Upstream``  - an authoritative upstream: Debian's unbound serving the test
  zones from ``local-zone``/``local-data``.  Queries that reach it are counted
  two ways: ``log-queries: yes`` writes one line per received query to a
  logfile (unbound flushes each line), which ``count(name, type)`` parses, and
  ``unbound-control stats_noreset`` over a unix control socket gives exact
  counters (total, TCP, EDNS DO) via ``stats()``.
* ``BlackHole`` - UDP/TCP sockets that read and count queries, never answer
  (an upstream that times out).
* ``DelayLine`` - a UDP relay that holds each query for a fixed delay, then
  passes it to a real upstream and relays its real answer back; it counts
  what it receives.  Used to make "slow upstream" deterministic.
* ``Daemon``    - kidguard itself, started with a generated INI config,
  stderr captured to a file, stopped by PID with SIGTERM (must exit 0 in 5 s).
  ``env=`` adds test-only variables: KIDGUARD_FAKE_NOW (the schedule clock, epoch s),
  KIDGUARD_TEST_CLOCK (the cache clock, see ``FakeClock``), KIDGUARD_TEST_STORE_FAULT.
* ``FakeClock`` - the file KIDGUARD_TEST_CLOCK names; ``advance(s)`` ages every cached
  answer by exactly s seconds, so TTL tests need no sleeps.

No test sleeps to wait for something: ``wait_until(pred, bound)`` polls the condition
(a metric, an answer, a log line). The sleeps left pace a load generator or a fake
upstream, each with a comment saying so.

Binary: $KG_DAEMON, else <build>/resolver/kidguard where <build> comes from
``--build-dir`` on the command line, $KG_BUILD_DIR, or <repo>/build.
Clients: dnspython (run the tests with /usr/bin/python3) and kdig/dig.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    import dns.edns
    import dns.exception
    import dns.flags
    import dns.message
    import dns.opcode
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
except ImportError:  # pragma: no cover
    sys.stderr.write("dnspython missing: run these tests with /usr/bin/python3 "
                     "(Debian's python3-dnspython)\n")
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
UNBOUND = shutil.which("unbound", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control", path="/usr/sbin:/usr/bin") or "/usr/sbin/unbound-control"

_build_dir = None

ZONE = "kg.test."

# ---------------------------------------------------------------- test data
# name -> list of (type, ttl, rdata).  The data is what the tests compare
# against; the upstream serves exactly this.
BIG_TXT_COUNT = 40


def _big_txt(i):
    return '"record-%02d-%s"' % (i, "x" * 56)


def zone_records():
    recs = []
    z = ZONE
    recs.append((z, "SOA", 3600, "ns.kg.test. host.kg.test. 1 3600 600 86400 60"))
    recs.append((z, "NS", 3600, "ns.kg.test."))
    recs.append(("ns." + z, "A", 3600, "192.0.2.53"))
    recs.append(("www." + z, "A", 300, "192.0.2.1"))
    recs.append(("www." + z, "AAAA", 300, "2001:db8::1"))
    recs.append(("multi." + z, "A", 300, "192.0.2.2"))
    recs.append(("multi." + z, "A", 300, "192.0.2.3"))
    recs.append(("multi." + z, "A", 300, "192.0.2.4"))
    recs.append(("short." + z, "A", 5, "192.0.2.5"))
    recs.append(("long." + z, "A", 300, "192.0.2.6"))
    recs.append(("v4only." + z, "A", 300, "192.0.2.7"))
    recs.append(("alias." + z, "CNAME", 300, "www.kg.test."))
    recs.append(("mail." + z, "MX", 300, "10 www.kg.test."))
    recs.append(("txt." + z, "TXT", 300, '"hello kidguard"'))
    for i in range(1, BIG_TXT_COUNT + 1):
        recs.append(("big." + z, "TXT", 300, _big_txt(i)))
    for i in range(1, 61):
        recs.append(("n%d.%s" % (i, z), "A", 300, "198.51.100.%d" % i))
    # a second zone whose SOA minimum (negative TTL) is 2 s, for expiry tests
    recs.append(("neg2.test.", "SOA", 2, "ns.neg2.test. host.neg2.test. 1 3600 600 86400 2"))
    recs.append(("a.neg2.test.", "A", 300, "192.0.2.9"))
    return recs


def expected_rdata(name, rdtype):
    """Set of rdata texts the upstream holds for name/type (zone data)."""
    name = name.lower()
    if not name.endswith("."):
        name += "."
    return {r for (n, t, _ttl, r) in zone_records() if n == name and t == rdtype}


# ---------------------------------------------------------------- ports
def _can_bind(family, addr, port, kind):
    s = socket.socket(family, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_port_rng = random.Random(os.getpid() * 1000003 + int(time.time() * 1000))


def free_port(v6=True):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1 when v6).

    Chosen below the kernel's ephemeral range: a port the kernel hands out (to a client socket,
    or a daemon's random upstream port) could otherwise take it between this check and the
    server's bind, as happened under ctest -j2."""
    hi = min(_ephemeral_low(), 65536) - 1
    for _ in range(500):
        port = _port_rng.randrange(10000, max(hi, 10001))
        ok = (_can_bind(socket.AF_INET, "127.0.0.1", port, socket.SOCK_STREAM) and
              _can_bind(socket.AF_INET, "127.0.0.1", port, socket.SOCK_DGRAM))
        if ok and v6:
            ok = (_can_bind(socket.AF_INET6, "::1", port, socket.SOCK_DGRAM) and
                  _can_bind(socket.AF_INET6, "::1", port, socket.SOCK_STREAM))
        if ok and _reserve(port):
            return port
    raise RuntimeError("no free port found")


_PORT_DIR = os.path.join(tempfile.gettempdir(), "kgtest-ports")
_PORT_HOLD = 900  # seconds a handed-out port stays reserved against other test processes
_given = set()


def _reserve(port):
    """Claim `port` against this process and every other kgtest process (ctest -j2, a second
    suite on the machine): a free port is only free until its server binds, and two tests that
    both found it free would otherwise share it (seen: a daemon's HTTP port taken by another
    test's server between the check and the bind). A claim is a file created with O_EXCL;
    claims older than _PORT_HOLD are stale and taken over."""
    if port in _given:
        return False
    path = os.path.join(_PORT_DIR, str(port))
    try:
        os.makedirs(_PORT_DIR, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            if time.time() - os.stat(path).st_mtime < _PORT_HOLD:
                return False
            os.utime(path)  # a stale claim: take it over
    except OSError:
        pass  # no shared directory: the per-process set still holds
    _given.add(port)
    return True


def metrics_value(http_port, name, default=None):
    """One unlabelled sample of the daemon's /metrics, or default when it is absent."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return default


def wait_until(pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------- DNS helpers
def make_query(name, rdtype="A", rdclass="IN", edns=None, payload=1232, do=False, rd=True,
               options=None):
    if options:
        q = dns.message.make_query(name, rdtype, rdclass, use_edns=0 if edns is None else edns,
                                   payload=payload, want_dnssec=do, options=options)
    elif edns is None and not do:
        # dnspython turns EDNS on whenever payload is given: pass nothing
        q = dns.message.make_query(name, rdtype, rdclass, use_edns=False)
    else:
        q = dns.message.make_query(name, rdtype, rdclass, use_edns=0 if edns is None else edns,
                                   payload=payload, want_dnssec=do)
    if not rd:
        q.flags &= ~dns.flags.RD
    return q


def query(port, name, rdtype="A", tcp=False, addr="127.0.0.1", timeout=3.0, source=None,
          edns=None, payload=1232, do=False, rdclass="IN", options=None):
    """Real DNS query with dnspython; returns the parsed response."""
    q = make_query(name, rdtype, rdclass, edns=edns, payload=payload, do=do, options=options)
    if tcp:
        return dns.query.tcp(q, addr, timeout=timeout, port=port, source=source)
    return dns.query.udp(q, addr, timeout=timeout, port=port, source=source)


def udp_raw(port, wire, addr="127.0.0.1", timeout=2.0, source=None):
    """Send raw bytes over UDP; return the raw reply or None on timeout."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(wire, (addr, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None
    finally:
        s.close()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(sock):
    """Read one length-framed message; None if the peer closed."""
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    ln = int.from_bytes(hdr, "big")
    return recv_exact(sock, ln)


def tcp_connect(port, addr="127.0.0.1", timeout=3.0, source=None):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except OSError:
        s.close()
        raise
    return s


def frame(wire):
    return len(wire).to_bytes(2, "big") + wire


def rrset_texts(msg, section="answer"):
    """{(name, type, rdata-text)} of a section, TTL ignored, names lowercased."""
    out = set()
    for rrset in getattr(msg, section):
        for rd in rrset:
            out.add((rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype),
                     rd.to_text()))
    return out


def answer_rdata(msg, rdtype):
    out = set()
    for rrset in msg.answer:
        if dns.rdatatype.to_text(rrset.rdtype) == rdtype:
            out |= {rd.to_text() for rd in rrset}
    return out


def run_cmd(args, timeout=10, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, text=True, **kw)


# ---------------------------------------------------------------- processes
def proc_cpu_seconds(pid):
    """utime+stime of a process from /proc/PID/stat, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def _stop_pid(proc, sig=signal.SIGTERM, grace=5.0):
    """Signal by PID, wait; returns (rc, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=grace), False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return proc.returncode, True


class Upstream:
    """unbound as an authoritative server for the test zones, on loopback."""

    def __init__(self, workdir, port=None, v6=True, extra_records=(), max_udp=1232,
                 auth_zones=()):
        self.dir = os.path.join(workdir, "upstream-%d" % id(self))
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port(v6)
        self.v6 = v6
        self.log = os.path.join(self.dir, "queries.log")
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.ctl = os.path.join(self.dir, "ctl.sock")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        recs = list(zone_records()) + list(extra_records)
        lines = [
            "server:",
            "  interface: 127.0.0.1@%d" % self.port,
        ]
        if v6:
            lines.append("  interface: ::1@%d" % self.port)
        lines += [
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % self.dir,
            '  pidfile: ""',
            "  use-syslog: no",
            '  logfile: "%s"' % self.log,
            "  log-queries: yes",
            "  verbosity: 0",
            "  num-threads: 1",
            "  so-reuseport: no",
            '  module-config: "iterator"',
            "  extended-statistics: yes",
            "  statistics-cumulative: no",
            "  access-control: 127.0.0.0/8 allow",
            "  access-control: ::1 allow",
            "  ratelimit: 0",
            "  ip-ratelimit: 0",
            "  max-udp-size: %d" % max_udp,
            "  edns-buffer-size: %d" % max_udp,
            "  minimal-responses: yes",
            "  incoming-num-tcp: 64",
            '  local-zone: "kg.test." static',
            '  local-zone: "neg2.test." static',
        ]
        for (n, t, ttl, r) in recs:
            lines.append("  local-data: '%s %d IN %s %s'" % (n, ttl, t, r))
        # auth_zones: [(origin, [(name, type, ttl, rdata)])] served from zone files, where
        # unbound (unlike local-data) follows a CNAME chain inside the zone in one answer.
        for (origin, zrecs) in auth_zones:
            zpath = os.path.join(self.dir, origin.strip(".") + ".zone")
            with open(zpath, "w") as f:
                for (n, t, ttl, r) in zrecs:
                    f.write("%s %d IN %s %s\n" % (n, ttl, t, r))
            lines += ["auth-zone:", '  name: "%s"' % origin, '  zonefile: "%s"' % zpath,
                      "  for-downstream: yes", "  for-upstream: no", "server:"]
        lines += [
            "remote-control:",
            "  control-enable: yes",
            '  control-interface: "%s"' % self.ctl,
            "  control-use-cert: no",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf],
                                     stdout=self._err, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("upstream unbound exited rc=%s:\n%s" %
                                   (self.proc.returncode, self.stderr_text()))
            try:
                r = query(self.port, "ns.kg.test.", "A", timeout=0.3)
                return r.rcode() == dns.rcode.NOERROR
            except (dns.exception.Timeout, OSError):
                return False
        if not wait_until(ready, 10):
            raise RuntimeError("upstream unbound did not answer:\n" + self.stderr_text())
        return self

    def stderr_text(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            _stop_pid(self.proc)
            self.proc = None
            self._err.close()

    def queries(self):
        """[(name, type, class)] of every query the upstream received, in order."""
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    m = re.search(r"info: \S+ (\S+) (\S+) (\S+)\s*$", line)
                    if m:
                        out.append((m.group(1).lower(), m.group(2).upper(), m.group(3).upper()))
        except FileNotFoundError:
            pass
        return out

    def count(self, name, rdtype=None, rdclass="IN"):
        """Queries received for name (case-insensitive) [and type/class]."""
        name = name.lower()
        if not name.endswith("."):
            name += "."
        return sum(1 for (n, t, c) in self.queries()
                   if n == name and (rdtype is None or t == rdtype.upper())
                   and (rdclass is None or c == rdclass.upper()))

    def stats(self):
        """unbound-control stats_noreset as a dict of ints."""
        r = run_cmd([UNBOUND_CONTROL, "-c", self.conf, "stats_noreset"])
        if r.returncode != 0:
            raise RuntimeError("unbound-control failed: %s %s" % (r.stdout, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            try:
                out[k] = float(v) if "." in v else int(v)
            except ValueError:
                pass
        return out


class BlackHole:
    """Loopback UDP+TCP sockets that swallow queries: an upstream that never answers."""

    def __init__(self, port=None):
        self.port = port or free_port(v6=False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.count = 0
        self._conns = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                self.udp.recvfrom(65535)
                self.count += 1
            except socket.timeout:
                pass
            except OSError:
                return
            try:
                c, _ = self.tcp.accept()
                self._conns.append(c)  # held open, never answered
            except (socket.timeout, OSError):
                pass

    def stop(self):
        self._stop = True
        self._t.join(2)
        for s in [self.udp, self.tcp] + self._conns:
            s.close()


class DelayLine:
    """UDP relay to a real upstream that delays every query by `delay` seconds.

    Answers are the upstream's own bytes; only the timing is changed.
    """

    def __init__(self, upstream_port, delay):
        self.port = free_port(v6=False)
        self.delay = delay
        self.up = ("127.0.0.1", upstream_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.received = []  # (qname lower, qtype)
        self.outstanding = 0      # queries received and not yet answered or given up
        self.max_outstanding = 0  # the most that were ever held at once
        self._lock = threading.Lock()
        self._stop = False
        self._threads = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                m = dns.message.from_wire(data)
                key = (m.question[0].name.to_text().lower(),
                       dns.rdatatype.to_text(m.question[0].rdtype))
            except Exception:
                key = ("<unparsable>", "")
            with self._lock:
                self.received.append(key)
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            t = threading.Thread(target=self._relay, args=(data, peer), daemon=True)
            t.start()
            self._threads.append(t)

    def _relay(self, data, peer):
        time.sleep(self.delay)  # the fake slow upstream's delay: pacing, not waiting
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        reply = None
        try:
            s.sendto(data, self.up)
            reply, _ = s.recvfrom(65535)
        except OSError:
            pass
        finally:
            s.close()
            # before the answer leaves: the next query it lets in must not find this one
            # still counted
            with self._lock:
                self.outstanding -= 1
        try:
            if reply is not None and not self._stop:
                self.sock.sendto(reply, peer)
        except OSError:
            pass

    def count(self, name, rdtype=None):
        name = name.lower()
        if not name.endswith("."):
            name += "."
        with self._lock:
            return sum(1 for (n, t) in self.received if n == name and (rdtype is None or t == rdtype))

    def stop(self):
        self._stop = True
        self._t.join(2)
        for t in self._threads:
            t.join(4)
        self.sock.close()


# ---------------------------------------------------------------- kidguard
def build_dir():
    if _build_dir:
        return os.path.abspath(_build_dir)
    if os.environ.get("KG_BUILD_DIR"):
        return os.path.abspath(os.environ["KG_BUILD_DIR"])
    return os.path.join(REPO, "build")


def daemon_binary():
    if os.environ.get("KG_DAEMON"):
        return os.environ["KG_DAEMON"]
    return os.path.join(build_dir(), "resolver", "kidguard")


def project_version():
    """The version from the top-level CMakeLists.txt (the single source)."""
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*kidguard\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1) if m else None


DEFAULTS = {
    "server": {
        "listen": None,  # filled from port
        "workers": "1",
        "tcp_max_connections": "256",
        "tcp_idle_timeout": "10",
        "log_level": "debug",
    },
    "upstream": {
        "servers": None,
        "timeout": "1000",
        "query_timeout": "3000",
    },
    "cache": {"size": "10000", "min_ttl": "0", "max_ttl": "86400"},
    "access": {"allow": "127.0.0.0/8, ::1"},
    "blocklist": {"path": None},
    # the built-in 127.0.0.1:8053 would be shared by every test's daemon; test_http sets its own
    "http": {"listen": "off"},
}


def render_config(sections):
    out = []
    for sec, kv in sections.items():
        out.append("[%s]" % sec)
        for k, v in kv.items():
            if v is not None:
                out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


# What AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer and ThreadSanitizer print
# (tests/sanitize runs the suite with instrumented builds and halt_on_error=1).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")


def sanitizer_report(text):
    """The first sanitizer report in a process's output (with some context), or None."""
    for m in SANITIZER_MARKERS:
        i = text.find(m)
        if i >= 0:
            start = text.rfind("\n", 0, max(0, i - 200)) + 1
            return text[start:i + 6000]
    return None


class FakeClock:
    """The daemon's cache clock under KIDGUARD_TEST_CLOCK: a file holding milliseconds.

    The daemon re-reads it once per loop iteration, so a query sent after set()/advance()
    returns already sees the new time; cache TTLs then age exactly, without sleeping."""

    def __init__(self, workdir, start_ms=1000000):
        self.path = os.path.join(workdir, "test-clock")
        self.ms = 0
        self.set(start_ms)

    def set(self, ms):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ms)
        os.replace(tmp, self.path)  # never a half-written file
        self.ms = ms

    def advance(self, seconds):
        self.set(self.ms + int(round(seconds * 1000)))

    def env(self):
        return {"KIDGUARD_TEST_CLOCK": self.path}


class Daemon:
    def __init__(self, workdir, upstream_servers, overrides=None, v6=True, name="kidguard",
                 env=None):
        self.workdir = workdir
        self.env = env
        self.port = free_port(v6)
        self.v6 = v6
        self.binary = daemon_binary()
        self.state = os.path.join(workdir, name + "-state")
        os.makedirs(self.state, exist_ok=True)
        self.conf = os.path.join(workdir, name + ".ini")
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.proc = None
        # a command to run the daemon under (setpriv ...) and options before -c
        self.prefix, self.args = [], []
        sections = {s: dict(kv) for s, kv in DEFAULTS.items()}
        listen = "127.0.0.1:%d" % self.port
        if v6:
            listen += ", [::1]:%d" % self.port
        sections["server"]["listen"] = listen
        sections["upstream"]["servers"] = upstream_servers
        sections["blocklist"]["path"] = self.state
        for sec, kv in (overrides or {}).items():
            sections.setdefault(sec, {}).update({k: str(v) for k, v in kv.items()})
        self.sections = sections
        self.write_config()

    def write_config(self, text=None):
        with open(self.conf, "w") as f:
            f.write(text if text is not None else render_config(self.sections))

    def start(self, wait=True, probe="dns"):
        if not os.path.exists(self.binary):
            raise AssertionError("kidguard binary not found: %s (build it, or set "
                                 "KG_BUILD_DIR / --build-dir / KG_DAEMON)" % self.binary)
        self._err = open(self.stderr_path, "w")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(self.prefix + [self.binary] + self.args + ["-c", self.conf],
                                     stdout=self._err,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env)
        if wait:
            self.wait_ready(probe=probe)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=5.0, probe="dns"):
        """Poll until the daemon answers a DNS query (any rcode).

        probe="socket": for configs whose upstream never answers, readiness is
        "TCP connect works and UDP gets no ICMP port-unreachable".
        """
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("kidguard exited during startup rc=%s\n%s" %
                                     (self.proc.returncode, self.log_text()))
            if probe == "dns":
                try:
                    query(self.port, "ready-probe.kg.test.", "A", timeout=0.25)
                    return True
                except (dns.exception.Timeout, OSError):
                    return False
            try:
                s = tcp_connect(self.port, timeout=0.25)
                s.close()
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.connect(("127.0.0.1", self.port))
                u.settimeout(0.2)
                u.send(make_query("ready-probe.kg.test.", "A").to_wire())
                try:
                    u.recv(4096)
                except socket.timeout:
                    pass
                finally:
                    u.close()
                return True
            except OSError:
                return False
        if not wait_until(ready, timeout):
            raise AssertionError("kidguard did not answer within %.1fs on port %d\n%s" %
                                 (timeout, self.port, self.log_text()))

    def log_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Stop by PID; assert clean exit 0 within grace seconds."""
        if self.proc is None:
            return
        early = self.proc.poll()
        rc, killed = _stop_pid(self.proc, sig, grace)
        self.proc = None
        self._err.close()
        report = sanitizer_report(self.log_text())
        if report:
            raise AssertionError("sanitizer report in kidguard's stderr (rc=%s):\n%s"
                                 % (rc, report))
        if early is not None:
            raise AssertionError("kidguard had already exited (rc=%s) before stop" % early)
        if killed:
            raise AssertionError("kidguard did not exit within %.0fs of %s; killed -9" %
                                 (grace, signal.Signals(sig).name))
        if rc != 0:
            raise AssertionError("kidguard exited rc=%s on %s (expected 0)" %
                                 (rc, signal.Signals(sig).name))



# ---------------------------------------------------------------- blocklist helpers
EDE_OPTION = 15          # RFC 8914 option code
EDE_BLOCKED = 15         # info-code "Blocked" (feed entries)
EDE_FILTERED = 17        # info-code "Filtered" (local overrides)


def ctl_binary():
    """kidguard-ctl: $KG_CTL, else <build>/tools/kidguard-ctl."""
    if os.environ.get("KG_CTL"):
        return os.environ["KG_CTL"]
    return os.path.join(build_dir(), "tools", "kidguard-ctl")


def run_ctl(args, state=None, config=None, timeout=60, input=None, **kw):
    """Run kidguard-ctl with -d STATE or -c CONFIG; returns the CompletedProcess (text)."""
    cmd = [ctl_binary()]
    if config:
        cmd += ["-c", config]
    if state:
        cmd += ["-d", state]
    cmd += list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          text=True, input=input, **kw)


def shared_data_dir():
    """<repo>/../shared/data (real public lists, see its SOURCES.md) or None when absent.
    KG_NO_SHARED_DATA=1 pretends it is absent (to exercise the fixture fallback)."""
    if os.environ.get("KG_NO_SHARED_DATA"):
        return None
    p = os.path.abspath(os.path.join(REPO, "..", "shared", "data"))
    return p if os.path.isdir(p) else None


def ede_options(msg):
    """[(info-code, extra-text)] of the Extended DNS Error options of a response ("" when the
    option has no text)."""
    out = []
    for o in msg.options:
        if int(o.otype) == EDE_OPTION:
            out.append((int(o.code), o.text or ""))
    return out

# ---------------------------------------------------------------- test base
class KGTestCase(unittest.TestCase):
    """Gives each test a temp dir, process cleanup by PID, logs on failure."""

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self.tmp = tempfile.mkdtemp(prefix="kgtest-")
        self._daemons = []
        self._upstreams = []
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            if failed:
                for d in self._daemons:
                    sys.stderr.write("\n----- kidguard stderr (%s) -----\n%s\n----- end -----\n"
                                     % (d.stderr_path, d.log_text()[-20000:]))
                for u in self._upstreams:
                    t = u.stderr_text()
                    if t.strip():
                        sys.stderr.write("\n----- upstream unbound stderr -----\n%s\n" % t[-5000:])
            if os.environ.get("KG_KEEP_TMP"):
                sys.stderr.write("kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def start_upstream(self, **kw):
        u = Upstream(self.tmp, **kw)
        self._upstreams.append(u)
        self.addCleanup(u.stop)
        return u.start()

    def blackhole(self):
        b = BlackHole()
        self.addCleanup(b.stop)
        return b

    def delay_line(self, upstream, delay):
        d = DelayLine(upstream.port, delay)
        self.addCleanup(d.stop)
        return d

    def start_daemon(self, servers, overrides=None, probe="dns", name=None, start=True, **kw):
        if not isinstance(servers, str):
            servers = ", ".join(servers)
        d = Daemon(self.tmp, servers, overrides, name=name or "kidguard%d" % len(self._daemons), **kw)
        self._daemons.append(d)
        self.addCleanup(d.stop)
        if start:
            d.start(probe=probe)
        return d

    def start_pair(self, overrides=None, **kw):
        """Upstream + daemon forwarding to it; returns (upstream, daemon)."""
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, overrides, **kw)
        return up, d

    def assertAliveAndAnswering(self, d, name="www.kg.test."):
        self.assertTrue(d.alive(), "kidguard died (rc=%s)" % d.proc.poll())
        r = query(d.port, name, "A", timeout=3)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(answer_rdata(r, "A"), expected_rdata(name, "A"))


def main():
    """unittest.main with a --build-dir DIR option."""
    global _build_dir
    argv = [sys.argv[0]]
    args = sys.argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--build-dir" and i + 1 < len(args):
            _build_dir = args[i + 1]
            i += 2
            continue
        if a.startswith("--build-dir="):
            _build_dir = a.split("=", 1)[1]
            i += 1
            continue
        argv.append(a)
        i += 1
    unittest.main(argv=argv, verbosity=2)
