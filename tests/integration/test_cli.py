#!/usr/bin/python3
"""Command line: --help, --version, -n config check with file:line:key errors."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402

GOOD = """[server]
listen = 127.0.0.1:{port}
workers = 1
tcp_max_connections = 256
tcp_idle_timeout = 10
log_level = info
[upstream]
servers = 127.0.0.1:53
timeout = 1000
query_timeout = 3000
[cache]
size = 10000
min_ttl = 0
max_ttl = 86400
[access]
allow = 127.0.0.0/8, ::1
[blocklist]
path = {state}
"""

# (description, line number (1-based) to replace, new line, key expected in the message)
BAD = [
    ("unknown key", 3, "wrokers = 1", "wrokers"),
    ("non-numeric workers", 3, "workers = many", "workers"),
    ("port out of range", 2, "listen = 127.0.0.1:99999", "listen"),
    ("bad upstream address", 8, "servers = not..an..address:53", "servers"),
    ("bad timeout", 9, "timeout = -5", "timeout"),
    ("bad cache size", 12, "size = lots", "size"),
    ("bad CIDR", 16, "allow = 10.0.0.0/33", "allow"),
    ("bad log level", 6, "log_level = chatty", "log_level"),
]


class CliTest(kgtest.KGTestCase):

    def run_kg(self, *args, timeout=10):
        b = kgtest.daemon_binary()
        self.assertTrue(os.path.exists(b), "kidguard binary not found: %s" % b)
        return subprocess.run([b] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def write(self, text, name="kg.ini"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def good_config(self):
        state = os.path.join(self.tmp, "state")
        os.makedirs(state, exist_ok=True)
        return GOOD.format(port=kgtest.free_port(v6=False), state=state)

    def test_help(self):
        r = self.run_kg("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("-c", out)
        self.assertIn("-n", out)

    def test_version(self):
        r = self.run_kg("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        v = kgtest.project_version()
        self.assertTrue(v, "no version in the top-level CMakeLists.txt")
        self.assertIn(v, r.stdout + r.stderr)

    def test_check_good_config(self):
        path = self.write(self.good_config())
        r = self.run_kg("-n", "-c", path)
        self.assertEqual(r.returncode, 0, "good config rejected: %s%s" % (r.stdout, r.stderr))

    def test_check_good_config_with_comments(self):
        text = "; a comment\n" + self.good_config().replace(
            "workers = 1", "workers = 1   ; inline comment")
        path = self.write(text)
        r = self.run_kg("-n", "-c", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_check_bad_configs_name_file_line_key(self):
        for desc, lineno, newline, key in BAD:
            with self.subTest(desc):
                lines = self.good_config().splitlines()
                self.assertNotEqual(lines[lineno - 1].split("=")[0].strip(), "",
                                    "test table out of date")
                lines[lineno - 1] = newline
                path = self.write("\n".join(lines) + "\n", "bad.ini")
                r = self.run_kg("-n", "-c", path)
                msg = r.stdout + r.stderr
                self.assertNotEqual(r.returncode, 0, "%s accepted" % desc)
                self.assertIn(path, msg, "message does not name the file: %r" % msg)
                rest = msg.replace(path, "")
                self.assertRegex(rest, r"(?<!\d)%d(?!\d)" % lineno,
                                 "message does not name line %d: %r" % (lineno, msg))
                self.assertIn(key, rest, "message does not name key %s: %r" % (key, msg))

    def test_missing_config_file(self):
        path = os.path.join(self.tmp, "does-not-exist.ini")
        r = self.run_kg("-n", "-c", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stdout + r.stderr)

    def test_start_with_bad_config_fails_fast(self):
        lines = self.good_config().splitlines()
        lines[2] = "workers = many"
        path = self.write("\n".join(lines) + "\n")
        t0 = time.monotonic()
        r = self.run_kg("-c", path, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("workers", r.stdout + r.stderr)


if __name__ == "__main__":
    kgtest.main()
