#!/usr/bin/env python3
"""test_config_docs.py: the configuration key table, etc/ingestd.conf and
man/ingestd.conf.5 name the same keys in the same sections, and both man pages
pass `mandoc -T lint` without warnings.

The key table comes from `tests/base/test_config_keys --list` (config_each_key()).
In the example file a key counts whether it is set or shown commented out as
";key = value"; prose comments start with "; ". In the man page a key is an
`.It Cm KEY` item under a `.Ss [section]` heading of the SECTIONS chapter.
Exit status: 0 pass, 1 fail, 77 skip (only when the key lister is not built).
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR") or os.path.dirname(HERE)
BUILDDIR = os.environ.get("INGESTD_BUILDDIR") or os.path.dirname(HERE)
SECTIONS = ("ingestd", "aws", "sqs", "http", "sink", "route")


def normalize(section, key):
    if section == "route" and key.startswith("validate."):
        key = "validate.COLUMN"
    if section == "route" and key.startswith("update."):
        key = "update.COLUMN"
    return (section, key)


def table_keys():
    lister = os.path.join(BUILDDIR, "tests", "base", "test_config_keys")
    if not os.access(lister, os.X_OK):
        print(f"# {lister} is not built")
        sys.exit(1 if os.environ.get("CI") == "true" else 77)
    out = subprocess.run([lister, "--list"], check=True, capture_output=True, text=True).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}


def example_keys(path):
    keys, section = {}, None
    header = re.compile(r"^;?\[(\w+)(?:\s+[^\]]*)?\]")
    key = re.compile(r"^;?([A-Za-z_][A-Za-z0-9_.]*)\s*=")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            m = header.match(line)
            if m:
                section = m.group(1)
                continue
            m = key.match(line)
            if m:
                keys.setdefault(normalize(section, m.group(1)), n)
    return keys


def man_keys(path):
    keys, section, in_sections = {}, None, False
    heading = re.compile(r"^\.Ss\s+(?:\\&)?\[(\w+)")
    item = re.compile(r"^\.It Cm (\S+?)(?:\\&)?(?: Ns Ar (\S+))?(?:\s|$)")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.startswith(".Sh "):
                in_sections = line.strip() == ".Sh SECTIONS"
                section = None
                continue
            if not in_sections:
                continue
            m = heading.match(line)
            if m:
                section = m.group(1)
                continue
            m = item.match(line)
            if m and section:
                name = m.group(1) + (m.group(2) if m.group(1).endswith(".") and m.group(2) else "")
                keys.setdefault(normalize(section, name), n)
    return keys


def compare(what, documented, table):
    ok = True
    for sec, key in sorted(table - set(documented)):
        print(f"FAIL: {what} lacks [{sec}] {key}")
        ok = False
    for (sec, key), line in sorted(documented.items()):
        if (sec, key) not in table:
            print(f"FAIL: {what}:{line}: [{sec}] {key} is not in the key table")
            ok = False
    if ok:
        print(f"ok: {what} names the {len(table)} keys of the table")
    return ok


def lint(page):
    mandoc = shutil.which("mandoc")
    if not mandoc:
        print(f"# mandoc not installed: {page} not linted")
        return os.environ.get("CI") != "true"
    r = subprocess.run([mandoc, "-T", "lint", "-W", "warning", page], capture_output=True,
                       text=True)
    # STYLE notes are not reported with -W warning; a missing cross-reference is one.
    if r.returncode != 0:
        print(f"FAIL: mandoc -T lint {page}:\n{r.stdout}{r.stderr}")
        return False
    print(f"ok: mandoc -T lint {os.path.basename(page)}")
    return True


def main():
    table = table_keys()
    if not table or any(sec not in SECTIONS for sec, _ in table):
        print(f"FAIL: unexpected key table: {sorted(table)}")
        return 1
    ok = compare("etc/ingestd.conf", example_keys(os.path.join(SRCDIR, "etc", "ingestd.conf")),
                 table)
    ok &= compare("man/ingestd.conf.5", man_keys(os.path.join(SRCDIR, "man", "ingestd.conf.5")),
                  table)
    for page in ("ingestd.conf.5", "ingestd.8"):
        ok &= lint(os.path.join(SRCDIR, "man", page))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
