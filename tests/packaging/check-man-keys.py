#!/usr/bin/python3
"""Every configuration key the daemon accepts is documented in kidguard.conf(5).

The keys come from the source, not from a list kept here: every (section, key) of the keys[]
table in resolver/policy/rs_config.c, plus the keys of a [profile NAME] section (the literals that
the profile_*() functions compare the key name with). The manual page is docs/man/kidguard.conf.5,
where a key is documented as

    .SS "[section]"          (or "[profile NAME]" for the profile keys)
    .TP
    \\fBkey\\fR = ...          (a key with a space, "block +", as \\fBblock +\\fR= ...)
    description ... Default: ... Range: LO..HI.

For each key the test checks that its entry exists, says "Default:", and, for a numeric key
(an integer, seconds or megabytes setter), states the table's range as "LO..HI" (the form the
daemon's own error messages use). A documented key that the table no longer has fails too: it
documents something the daemon rejects. Failures name the key. The page must also format
without groff warnings.

Run: /usr/bin/python3 tests/packaging/check-man-keys.py [--repo DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
NUMERIC_SETTERS = {"set_int", "set_u32", "set_seconds_ms", "set_workers", "set_megabytes"}


def c_defines(paths):
    """Integer #defines from C headers: {NAME: text}."""
    out = {}
    for p in paths:
        try:
            with open(p) as f:
                for line in f:
                    m = re.match(r"\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+([^/\n]+)", line)
                    if m:
                        out[m.group(1)] = m.group(2).strip()
        except OSError:
            pass
    return out


def c_eval(expr, defines, depth=0):
    """Value of a small integer C expression (numbers, macros, + - * /), or None."""
    expr = expr.strip()
    if depth > 8:
        return None

    def sub(m):
        name = m.group(0)
        if name in defines:
            v = c_eval(defines[name], defines, depth + 1)
            return "(%d)" % v if v is not None else name
        return name
    text = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", sub, expr)
    text = re.sub(r"(\d+)[uUlL]+\b", r"\1", text)
    if not re.fullmatch(r"[\d\s()+\-*/]+", text):
        return None
    try:
        return int(eval(text.replace("/", "//"), {"__builtins__": {}}))  # digits and operators only
    except Exception:
        return None


def source_keys(repo):
    """[(section, key, setter, lo, hi)] from rs_config.c, in table order, then profile keys."""
    path = os.path.join(repo, "resolver", "policy", "rs_config.c")
    with open(path) as f:
        src = f.read()
    m = re.search(r"\bkeys\s*\[\s*\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if not m:
        raise SystemExit("check-man-keys: no keys[] table found in %s" % path)
    defines = c_defines([os.path.join(repo, "resolver", h)
                         for h in ("policy/rs.h", "dns/rs_dns.h", "daemon/rs_daemon.h",
                                   "daemon/rs_daemon_int.h")] + [path])
    keys = []
    for e in re.finditer(r'\{\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^,]+),\s*([^,]+),',
                         m.group(1)):
        sec, key, setter, lo, hi = e.groups()
        keys.append((sec, key, setter, c_eval(lo, defines), c_eval(hi, defines)))
    if not keys:
        raise SystemExit("check-man-keys: the keys[] table in %s has no entries I can read"
                         % path)
    # The keys of [profile NAME]: the names that the profile_*() functions compare `name` with.
    bodies = re.findall(r"\n(?:static )?\w[\w ]*\bprofile_\w+\([^;{]*\)\s*\{.*?\n\}", src, re.S)
    if not bodies:
        raise SystemExit("check-man-keys: no profile_*() functions in %s" % path)
    pkeys = []
    for b in bodies:
        for k in re.findall(r'strcmp\(\s*name\s*,\s*"([^"]+)"\s*\)', b):
            if k not in pkeys:
                pkeys.append(k)
    if not pkeys:
        raise SystemExit("check-man-keys: the profile_*() functions compare no key names")
    for k in pkeys:
        keys.append(("profile NAME", k, None, None, None))
    return keys


def man_entries(page):
    """{(section, key): entry text} from kidguard.conf.5."""
    with open(page) as f:
        lines = f.read().splitlines()
    entries = {}
    section = None
    cur = None
    after_tp = False
    for line in lines:
        if line.startswith(".SH"):
            section, cur = None, None
            continue
        m = re.match(r'\.SS\s+"?\[([^\]]+)\]', line)
        if m:
            section = m.group(1).strip()
            if section.startswith("profile"):
                section = "profile NAME"
            cur = None
            continue
        if line.startswith(".SS"):
            section, cur = None, None
            continue
        if line.startswith(".TP"):
            after_tp = True
            cur = None
            continue
        if after_tp:
            after_tp = False
            # "\fBkey\fR = ..." or, for "block +=", "\fBblock +\fR= ..."
            k = re.match(r"\\fB([A-Za-z0-9_]+(?: (?:\+|\\?-))?)\\f[RP]", line)
            if k and section:
                cur = (section, k.group(1).replace("\\-", "-"))
                entries[cur] = ""
                continue
        if cur is not None:
            entries[cur] += line + "\n"
    return entries


def groff_warnings(page):
    groff = shutil.which("groff")
    if not groff:
        print("check-man-keys: groff not installed; formatting not checked", file=sys.stderr)
        return []
    r = subprocess.run([groff, "-man", "-ww", "-z", "-t", page], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return [l for l in r.stderr.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(HERE, "..", "..")))
    args = ap.parse_args()
    page = os.path.join(args.repo, "docs", "man", "kidguard.conf.5")
    keys = source_keys(args.repo)
    entries = man_entries(page)
    problems = []
    known = set()
    for sec, key, setter, lo, hi in keys:
        known.add((sec, key))
        name = "[%s] %s" % (sec, key)
        text = entries.get((sec, key))
        if text is None:
            problems.append("%s: not documented in docs/man/kidguard.conf.5 (add a .TP entry "
                            "under .SS \"[%s]\")" % (name, sec))
            continue
        plain = text.replace("\\&", "").replace("\\(en", "..")
        if "Default:" not in plain:
            problems.append("%s: its entry does not say \"Default:\"" % name)
        if setter in NUMERIC_SETTERS:
            if lo is None or hi is None:
                problems.append("%s: cannot evaluate the range in keys[] (update this test)"
                                % name)
            elif not re.search(r"\b%d\.\.%d\b" % (lo, hi), plain.replace("\\", "")):
                problems.append("%s: its entry does not state the range %d..%d" % (name, lo, hi))
    for (sec, key) in sorted(entries):
        if (sec, key) not in known:
            problems.append("[%s] %s: documented, but the daemon has no such key" % (sec, key))
    for w in groff_warnings(page):
        problems.append("groff: " + w)
    if problems:
        for p in problems:
            print("check-man-keys: " + p)
        print("check-man-keys: %d problem(s), %d keys in the source" % (len(problems), len(keys)))
        return 1
    print("check-man-keys: all %d keys documented in kidguard.conf(5)" % len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
