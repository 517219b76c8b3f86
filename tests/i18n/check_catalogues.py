#!/usr/bin/python3
"""The message catalogues are complete (issue 17): fails when a key is missing or empty in
either language.

resolver/http/www/i18n/<lang>.json (the dashboard, the block page, the report pages):
  - each parses, has no duplicate key, and says its own code in "@lang";
  - every language has exactly the keys of en.json, every message is non-empty (keys starting
    with '@' describe the language and may be empty, like English's "@default_contact"), and
    uses the same {placeholders} as the English one;
  - every key the code names literally exists: data-i18n* attributes of www/*.html,
    t("key") in www/*.js, {{t:key}} and msg(.., "key") / rs__msg(.., "key") in
    resolver/http/*.c and www/block.html, and with --c-keys the "error.*" literals of the C
    code (the API's error keys, rs__api_error).
tools/desk/www/i18n/<lang>.json (the publisher's Desk page and the desk's error answers), with
--www tools/desk/www --http tools/desk --c-keys: the same checks; keys in the desk's C code are
the string literals "error.*" that name a message ("error.limit") as well as msg(...) calls.
po/<lang>.po (kidguard-ctl's and kidguard-desk's human output), when given --po-dir and msgfmt
exists:
  - msgfmt --check --statistics passes and reports no untranslated or fuzzy message;
  - its msgids are exactly those of po/kidguard.pot;
  - po/kidguard.pot is current: xgettext over POT_SOURCES finds exactly its msgids (else:
    cmake --build build --target kidguard-pot, then translate the new messages).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# the sources of po/kidguard.pot, as po/CMakeLists.txt's kidguard-pot target lists them
POT_SOURCES = ("tools/ctl_*.c", "tools/desk/desk_*.c")


def load(path, errors):
    def no_dups(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                errors.append("%s: key %s twice" % (path, k))
            seen[k] = v
        return seen
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f, object_pairs_hook=no_dups)
        except ValueError as e:
            errors.append("%s: %s" % (path, e))
            return {}


def used_keys(www, http, c_keys=False):
    keys = set()
    for f in glob.glob(os.path.join(www, "*.html")):
        text = open(f, encoding="utf-8").read()
        keys |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', text))
        keys |= set(re.findall(r"\{\{t:([^}]+)\}\}", text))
    for f in glob.glob(os.path.join(www, "*.js")):
        keys |= set(re.findall(r'\bt\(\s*"([^"]+)"', open(f, encoding="utf-8").read()))
    for f in glob.glob(os.path.join(http, "*.c")):
        text = open(f, encoding="utf-8").read()
        keys |= set(re.findall(r'\b(?:rs__)?msg\([^;"]*?"([@a-z][\w.@-]*)"', text))
        keys |= set(re.findall(r"\{\{t:([^}]+)\}\}", text))
        if c_keys:
            keys |= set(re.findall(r'"(error\.[a-z0-9_.]+)"', text))
    # a key is "@word" or "word.word..." (what ends in '.' is a prefix the code completes)
    return {k for k in keys if re.fullmatch(r"@[a-z_]+|[a-z]+(\.[a-z0-9_-]+)+", k)}


def check_json(www, http, errors, c_keys=False):
    files = sorted(glob.glob(os.path.join(www, "i18n", "*.json")))
    cats = {os.path.basename(f)[:-5]: load(f, errors) for f in files}
    if "en" not in cats:
        errors.append("no en.json in %s" % os.path.join(www, "i18n"))
        return cats
    en = cats["en"]
    for lang, cat in cats.items():
        if cat.get("@lang") != lang:
            errors.append("%s.json: \"@lang\" is %r" % (lang, cat.get("@lang")))
        for k in sorted(set(en) - set(cat)):
            errors.append("%s.json: missing key %s" % (lang, k))
        for k in sorted(set(cat) - set(en)):
            errors.append("%s.json: key %s is not in en.json" % (lang, k))
        for k, v in cat.items():
            if not isinstance(v, str):
                errors.append("%s.json: %s is not a string" % (lang, k))
            elif not v.strip() and not k.startswith("@"):
                errors.append("%s.json: %s is empty" % (lang, k))
            elif k in en and isinstance(en[k], str) and \
                    set(PLACEHOLDER.findall(v)) != set(PLACEHOLDER.findall(en[k])):
                errors.append("%s.json: %s has placeholders %s, English has %s"
                              % (lang, k, sorted(set(PLACEHOLDER.findall(v))),
                                 sorted(set(PLACEHOLDER.findall(en[k])))))
    for k in sorted(used_keys(www, http, c_keys) - set(en)):
        errors.append("key %s is used but not in en.json" % k)
    return cats


def po_msgids(path):
    """msgids of a .po/.pot file (concatenated string continuations), header excluded."""
    ids, cur, in_id = set(), None, False
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("msgid "):
            cur, in_id = json.loads(line[6:]), True
        elif line.startswith('"') and in_id:
            cur += json.loads(line)
        else:
            if in_id and cur:
                ids.add(cur)
            in_id = False
    if in_id and cur:
        ids.add(cur)
    return ids


def check_pot_current(pot, errors):
    xgettext = shutil.which("xgettext")
    if not xgettext:
        print("xgettext not installed: kidguard.pot not compared with the sources")
        return
    srcs = sorted(f for g in POT_SOURCES for f in glob.glob(os.path.join(ROOT, g)))
    fresh = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kidguard-pot-%d.pot" % os.getpid())
    try:
        subprocess.run([xgettext, "--language=C", "--keyword=_", "--keyword=N_",
                        "--from-code=UTF-8", "-o", fresh] + srcs, check=True)
        want, have = po_msgids(fresh), po_msgids(pot)
    finally:
        if os.path.exists(fresh):
            os.unlink(fresh)
    for m in sorted(want - have):
        errors.append("kidguard.pot is stale: the sources have %r (cmake --build build "
                      "--target kidguard-pot)" % m)
    for m in sorted(have - want):
        errors.append("kidguard.pot is stale: no source has %r any more" % m)


def check_po(po_dir, errors):
    msgfmt = shutil.which("msgfmt")
    pot = os.path.join(po_dir, "kidguard.pot")
    if os.path.exists(pot):
        check_pot_current(pot, errors)
    pos = sorted(glob.glob(os.path.join(po_dir, "*.po")))
    if not pos:
        errors.append("no .po file in %s" % po_dir)
    for po in pos:
        if msgfmt:
            r = subprocess.run([msgfmt, "--check", "--statistics", "-o", os.devnull, po],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0 or "untranslated" in r.stdout or "fuzzy" in r.stdout:
                errors.append("%s: msgfmt --check --statistics: %s" % (po, r.stdout.strip()))
        else:
            print("msgfmt not installed: .po files checked for keys only")
        if os.path.exists(pot):
            want, have = po_msgids(pot), po_msgids(po)
            for m in sorted(want - have):
                errors.append("%s: missing msgid %r" % (po, m))
            for m in sorted(have - want):
                errors.append("%s: msgid %r is not in kidguard.pot" % (po, m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--www", default=os.path.join(ROOT, "resolver", "http", "www"))
    ap.add_argument("--http", default=os.path.join(ROOT, "resolver", "http"))
    ap.add_argument("--po-dir")
    ap.add_argument("--c-keys", action="store_true",
                    help="also count C string literals \"error.*\" as used keys")
    a = ap.parse_args()
    errors = []
    cats = check_json(a.www, a.http, errors, a.c_keys)
    if a.po_dir:
        check_po(a.po_dir, errors)
    for e in errors:
        print("FAIL: " + e)
    if not errors:
        print("ok: %s, %d keys each" % (", ".join(sorted(cats)), len(cats.get("en", {}))))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
