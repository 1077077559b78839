#!/usr/bin/env python3
"""The Dockerfile and its scripts, checked without a container engine (quick).

No engine runs here and no image can be pulled, so `docker build` itself is not run; the
runtime root it makes is built and run by tests/deploy/rootfs_chroot.py (`make
check-long`) from the same deploy/rootfs-install.sh. Here: the Dockerfile has a build
stage on debian:12 that installs every -dev package configure.ac requires and runs
deploy/container-build.sh, and a last stage on debian:12-slim that runs
deploy/rootfs-install.sh, copies only the build stage's install tree, installs no package
itself, runs as the non-root user the script creates, starts `ingestd -c
/etc/ingestd.conf` and checks health with `ingestd health`. The script's library list is
exactly the Debian packages (dpkg -S) of the libraries the built binary links (its
NEEDED entries, less libc6 and the sanitizer runtimes of a test build), each of the
binary's libraries (ldd) comes with them, and nothing in it is a compiler or -dev
package. The scripts parse (sh -n; shellcheck when installed), and .dockerignore keeps
build trees and .git out of the context.
"""

import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILDDIR = os.environ.get("INGESTD_BUILDDIR", os.path.join(SRCDIR, "build"))
INGESTD_BIN = os.environ.get("INGESTD_BIN", os.path.join(BUILDDIR, "ingestd"))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
sys.path.insert(0, HERE)
from daemon import Checks  # noqa: E402
from test_debian_files import configure_dev_packages  # noqa: E402

# Runtimes of a --enable-sanitizers test build: never part of a release binary.
SANITIZER_LIBS = ("libasan.so", "libubsan.so", "liblsan.so", "libtsan.so")
BUILD_TOOLS = re.compile(r"^(gcc|g\+\+|cpp|clang|make|binutils|autoconf|automake|libtool|"
                         r"pkg-config|pkgconf|build-essential|.*-dev)(-[0-9.]+)?$")


def read(rel):
    with open(os.path.join(SRCDIR, rel)) as f:
        return f.read()


def instructions(text):
    """[(KEYWORD, arguments)] with continuations joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        cur += " " + s[:-1] if s.endswith("\\") else " " + s
        if not s.endswith("\\"):
            kw, _, rest = cur.strip().partition(" ")
            out.append((kw.upper(), rest.strip()))
            cur = ""
    return out


def stages(text):
    st = []
    for kw, rest in instructions(text):
        if kw == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            st.append({"image": m.group(1), "name": m.group(2), "ins": []})
        else:
            assert st, f"{kw} before FROM"
            st[-1]["ins"].append((kw, rest))
    return st


def script_var(name):
    m = re.search(rf'^{name}="([^"]*)"$', read("deploy/rootfs-install.sh"), re.M)
    assert m, f"{name} not in deploy/rootfs-install.sh"
    return m.group(1).split()


def owners(paths):
    """{path: the Debian package holding it} in one dpkg -S call (merged /usr: a library
    may be registered under /lib or /usr/lib, so both spellings are asked)."""
    alt = {}
    for p in paths:
        for q in (p, os.path.realpath(p)):
            alt[q] = p
            alt[q[4:] if q.startswith("/usr/") else "/usr" + q] = p
    r = subprocess.run(["dpkg", "-S", *alt], capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        if path in alt:
            out[alt[path]] = pkg.split(":")[0].split(",")[0].strip()
    missing = [p for p in paths if p not in out]
    assert not missing, f"no Debian package holds {missing}"
    return out


def depends_closure(pkgs):
    """The installed packages pkgs pull in (Depends and Pre-Depends, recursively)."""
    deps = {}
    listing = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Depends}, ${Pre-Depends}\n"],
                             capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name, _, d = line.partition("\t")
        deps[name] = [n.strip().split(" ")[0].split(":")[0]
                      for alt in d.split(",") for n in alt.split("|") if n.strip()]
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(deps.get(p, []))
    return seen


def main():
    c = Checks()
    df = stages(read("Dockerfile"))

    def two_stages():
        assert len(df) == 2, [s["image"] for s in df]
        assert (df[0]["image"], df[0]["name"]) == ("debian:12", "build"), df[0]
        assert df[1]["image"] == "debian:12-slim", df[1]

    def build_stage():
        runs = " ".join(r for k, r in df[0]["ins"] if k == "RUN")
        installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", runs.split("install", 1)[1]))
        missing = configure_dev_packages() - installed
        assert not missing, f"build stage lacks {sorted(missing)}"
        for tool in ("build-essential", "autoconf", "automake", "pkg-config"):
            assert tool in installed, tool
        assert "sh deploy/container-build.sh /out" in runs, runs

    def runtime_stage():
        ins = df[1]["ins"]
        kws = [k for k, _ in ins]
        runs = [r for k, r in ins if k == "RUN"]
        assert runs == ["sh /tmp/rootfs-install.sh && rm /tmp/rootfs-install.sh"], runs
        assert ("COPY", "deploy/rootfs-install.sh /tmp/rootfs-install.sh") in ins, ins
        copies = [r for k, r in ins if k == "COPY" and "--from" in r]
        assert copies == ["--from=build /out/ /"], copies
        user = [r for k, r in ins if k == "USER"]
        uid = re.search(r"^INGESTD_UID=(\d+)$", read("deploy/rootfs-install.sh"), re.M).group(1)
        assert user == [f"{uid}:{uid}"], (user, uid)
        assert kws.index("USER") > kws.index("RUN"), "USER must follow the root-only steps"
        entry = json.loads(dict(ins)["ENTRYPOINT"])
        assert entry == ["ingestd", "-c", "/etc/ingestd.conf"], entry
        hc = dict(ins)["HEALTHCHECK"]
        cmd = json.loads(hc.split("CMD", 1)[1])
        assert cmd == ["ingestd", "health", "-c", "/etc/ingestd.conf"], cmd
        assert re.search(r"--timeout=(\d+)s", hc) and \
            int(re.search(r"--timeout=(\d+)s", hc).group(1)) > 5, "timeout above health's 5 s"
        assert dict(ins).get("STOPSIGNAL") == "SIGTERM"

    def library_list():
        libs = set(script_var("RUNTIME_LIBRARIES"))
        extra = set(script_var("RUNTIME_EXTRA"))
        for p in libs | extra:
            assert not BUILD_TOOLS.match(p), f"{p} is a build tool or -dev package"
        if not os.access(INGESTD_BIN, os.X_OK):
            raise AssertionError(f"{INGESTD_BIN} not built")
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", INGESTD_BIN], capture_output=True,
                                           text=True, check=True).stdout)
        ldd = subprocess.run(["ldd", INGESTD_BIN], capture_output=True, text=True,
                             check=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
        own = owners([p for so, p in paths.items() if not so.startswith(SANITIZER_LIBS)])
        direct = {own[paths[so]] for so in needed if not so.startswith(SANITIZER_LIBS)}
        direct.discard("libc6")                     # essential: in every Debian root
        assert direct == libs, (f"binary needs {sorted(direct)}, "
                                f"RUNTIME_LIBRARIES has {sorted(libs)}")
        closure = depends_closure(libs | {"libc6"})
        for soname, path in paths.items():
            if soname.startswith(SANITIZER_LIBS):
                continue
            pkg = own[path]
            sanitized = any(so.startswith(SANITIZER_LIBS) for so in needed)
            assert pkg in closure or (sanitized and pkg.startswith(("libgcc-s", "libstdc++"))), \
                f"{soname} ({pkg}) does not come with RUNTIME_LIBRARIES"

    def scripts_parse():
        for s in ("deploy/rootfs-install.sh", "deploy/container-build.sh"):
            r = subprocess.run(["sh", "-n", os.path.join(SRCDIR, s)], capture_output=True,
                               text=True)
            assert r.returncode == 0, (s, r.stderr)
            if shutil.which("shellcheck"):
                r = subprocess.run(["shellcheck", "-s", "sh", os.path.join(SRCDIR, s)],
                                   capture_output=True, text=True)
                assert r.returncode == 0, r.stdout

    def dockerignore():
        lines = set(read(".dockerignore").split())
        for p in (".git", "build*", "tests/node_modules"):
            assert p in lines, p
        assert re.search(r"^make install-strip DESTDIR=", read("deploy/container-build.sh"),
                         re.M), "the image's binary is stripped"

    c.check("two stages: build on debian:12, runtime on debian:12-slim", two_stages)
    c.check("build stage: configure.ac's -dev packages, deploy/container-build.sh",
            build_stage)
    c.check("runtime stage: rootfs-install.sh only, build tree copied, non-root USER, "
            "ENTRYPOINT, HEALTHCHECK ingestd health", runtime_stage)
    c.check("RUNTIME_LIBRARIES = the packages of the binary's NEEDED libraries (dpkg -S); "
            "ldd's libraries come with them; no -dev or compiler", library_list)
    c.check("the deploy scripts parse (sh -n, shellcheck)", scripts_parse)
    c.check(".dockerignore keeps .git and build trees out", dockerignore)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
