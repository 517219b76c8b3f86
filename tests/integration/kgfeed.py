"""Helpers for the sync integration tests: a real feed, a real HTTPS server.

* ``Pki``        - a throw-away CA and a server certificate for 127.0.0.1/localhost, made
                   with the openssl command line in the test's temp dir.
* ``FeedServer`` - python's http.server behind ssl, in its own process, serving a feed
                   directory with ETag / If-None-Match (like nginx: size and mtime), one log
                   line per request ("GET /path STATUS") so tests can see what was fetched.
* ``HangServer`` - accepts TCP connections and never says a word (a hanging server).
* ``Publisher``  - kidguard-feed keygen / publish / verify in a feed directory.
* ``sync_once``  - one poll with the test driver kidguard-sync-once.

Run as a script (``kgfeed.py serve DIR PORT CERT KEY LOG``) it is the server process itself.
"""

import http.server
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kgtest  # noqa: E402

DATA = os.path.abspath(os.environ.get("KG_TEST_DATA",
                                      os.path.join(kgtest.REPO, "..", "shared", "data")))
REAL_DATA = os.path.isdir(os.path.join(DATA, "blocklists", "ut1"))
FAKE_CATEGORIES = ("gambling", "phishing", "child", "adult", "drogue")


def _make_fake_data():
    """Without ../shared/data: small generated lists at the same paths, xz-compressed, so the
    sync tests still exercise every path (with invented names, not the real lists)."""
    root = os.path.join(kgtest.tempfile.gettempdir(), "kgfeed-fake-data-%d" % os.getpid())
    for snap in ("2025-07-13", "2026-08-17"):
        for c in FAKE_CATEGORIES:
            d = os.path.join(root, "blocklists", "ut1", snap, c)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "domains")
            if os.path.exists(path + ".xz"):
                continue
            with open(path, "w") as f:
                for i in range(3000):
                    f.write("%s%05d.%s-fixture.example\n" % (c[0], i, c))
            kgtest.run_cmd(["xz", "-z", "-f", path], timeout=60)
    return root


if not REAL_DATA:
    sys.stderr.write("\n" + "!" * 72 + "\nSKIPPED (real lists): %s not found; the sync tests "
                     "run on generated lists instead\n" % DATA + "!" * 72 + "\n")
    DATA = _make_fake_data()
UT1 = os.path.join(DATA, "blocklists", "ut1")


def tool(name):
    b = kgtest.build_dir()
    for p in (os.path.join(b, "tools", name), os.path.join(b, "sync", name),
              os.path.join(b, "resolver", name)):
        if os.path.exists(p):
            return p
    raise AssertionError("%s not built in %s" % (name, b))


class Pki:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.cert = os.path.join(self.dir, "server.pem")
        self.key = os.path.join(self.dir, "server.key")
        cakey = os.path.join(self.dir, "ca.key")
        csr = os.path.join(self.dir, "server.csr")
        ext = os.path.join(self.dir, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run = lambda *a: subprocess.run(["openssl"] + list(a), check=True,  # noqa: E731
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", cakey, "-out", self.ca, "-days", "2", "-subj", "/CN=kidguard test CA")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", cakey, "-CAcreateserial",
            "-out", self.cert, "-days", "2", "-extfile", ext)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def _log(self, code):
        with open(self.server.logpath, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, code))

    def send_response(self, code, message=None):
        self._log(code)
        super().send_response(code, message)

    def send_head(self):
        path = self.translate_path(self.path)
        try:
            st = os.stat(path)
        except OSError:
            return super().send_head()
        etag = '"%x-%x"' % (int(st.st_mtime_ns), st.st_size)
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        self._etag = etag
        return super().send_head()

    def end_headers(self):
        if getattr(self, "_etag", None):
            self.send_header("ETag", self._etag)
            self._etag = None
        super().end_headers()


def _serve(root, port, cert, key, log):
    class Srv(http.server.ThreadingHTTPServer):
        daemon_threads = True
    handler = lambda *a, **kw: _Handler(*a, directory=root, **kw)  # noqa: E731
    srv = Srv(("127.0.0.1", port), handler)
    srv.logpath = log
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


class FeedServer:
    def __init__(self, workdir, root, pki, port=None):
        self.root, self.pki = root, pki
        self.port = port or kgtest.free_port(v6=False)
        self.log = os.path.join(workdir, "https-%d.log" % self.port)
        self.proc = None

    def start(self):
        open(self.log, "a").close()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve",
                                      self.root, str(self.port), self.pki.cert, self.pki.key,
                                      self.log], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        if not kgtest.wait_until(up, 10):
            raise AssertionError("HTTPS feed server did not start")
        return self

    def stop(self):
        if self.proc is not None:
            kgtest._stop_pid(self.proc)
            self.proc = None

    def url(self, name="manifest.json"):
        return "https://127.0.0.1:%d/%s" % (self.port, name)

    def requests(self):
        with open(self.log) as f:
            return [tuple(line.split()) for line in f if line.strip()]

    def fetched(self, prefix):
        """GETs answered 200 for paths starting with /prefix."""
        return [r for r in self.requests() if r[1].startswith("/" + prefix) and r[2] == "200"]


class HangServer:
    """Accepts connections, reads nothing, answers nothing."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self.sock.settimeout(0.2)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except (socket.timeout, OSError):
                pass

    def stop(self):
        self._stop = True
        self.t.join(2)
        for c in self.conns + [self.sock]:
            c.close()


class Publisher:
    def __init__(self, workdir, name="feed"):
        self.dir = os.path.join(workdir, name)
        self.keyfile = os.path.join(workdir, name + "-key.pem")
        self.pub = self.keygen(self.keyfile)

    @staticmethod
    def keygen(path):
        r = kgtest.run_cmd([tool("kidguard-feed"), "keygen", "--out", path])
        if r.returncode != 0:
            raise AssertionError("keygen failed: " + r.stderr)
        return r.stdout.strip()

    def publish(self, lists, confidential=(), keys=None, extra=(), timeout=600):
        """lists: [(category, file, format)]. Returns the CompletedProcess."""
        args = [tool("kidguard-feed"), "publish", "--dir", self.dir,
                "--report", "mailto:blocks@ministry.example"]
        for k in keys or [self.keyfile]:
            args += ["--key", k]
        for cat, path, fmt in lists:
            args += ["--category", "%s=%s:%s" % (cat, path, fmt)]
        for c in confidential:
            args += ["--confidential", c]
        args += list(extra)
        r = kgtest.run_cmd(args, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError("publish failed: %s %s" % (r.stdout, r.stderr))
        return r

    def verify(self, pub=None):
        return kgtest.run_cmd([tool("kidguard-feed"), "verify", "--pubkey", pub or self.pub,
                               "--dir", self.dir], timeout=300)


def write_list(path, names):
    with open(path, "w") as f:
        f.write("\n".join(names) + "\n")
    return path


def sync_once(url, keys, state, ca, extra=(), timeout=120):
    args = [tool("kidguard-sync-once"), "--url", url, "--keys", ",".join(keys), "--state",
            state, "--ca", ca] + list(extra)
    return kgtest.run_cmd(args, timeout=timeout)


def ctl_check(state, name):
    """kidguard-ctl -d STATE check NAME: (returncode, stdout)."""
    r = kgtest.run_cmd([tool("kidguard-ctl"), "-d", state, "check", name])
    return r.returncode, r.stdout + r.stderr


def store_version(state):
    """The feed version kidguard-ctl info reports for the store."""
    import re
    m = re.search(r"^feed version\s+(\d+)", ctl_info(state), re.M)
    return int(m.group(1)) if m else None


def ctl_info(state, lang=None):
    """kidguard-ctl info; with `lang` (e.g. "vi_VN.UTF-8") in that language."""
    env = None
    if lang:
        env = {k: v for k, v in os.environ.items()
               if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
        env["LANG"] = lang
    r = kgtest.run_cmd([tool("kidguard-ctl"), "-d", state, "info"], env=env)
    return r.stdout + r.stderr


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "serve":
    _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
