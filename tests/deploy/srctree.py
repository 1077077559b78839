"""Helpers shared by the deploy tests: a clean copy of the source tree, and commands.

copy_source(dest) copies the files of the project into dest: the files git tracks (and
untracked ones not ignored) in a git checkout, otherwise the whole tree minus build
directories. A build in the copy never meets a configured source tree or build output.
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
SKIP_DIRS = {".git", "autom4te.cache", "node_modules", "__pycache__"}


def _git_files():
    if not os.path.exists(os.path.join(SRCDIR, ".git")) or shutil.which("git") is None:
        return None
    p = subprocess.run(["git", "-C", SRCDIR, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], capture_output=True)
    if p.returncode != 0:
        return None
    return [f for f in p.stdout.decode().split("\0")
            if f and not f.startswith("tests/node_modules/")]


def _tree_files():
    out = []
    for root, dirs, files in os.walk(SRCDIR):
        rel = os.path.relpath(root, SRCDIR)
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS
                   and not (rel == "." and (d.startswith("build") or d.startswith("ingestd-")))]
        for f in files:
            if os.path.exists(os.path.join(root, f, "")):
                continue
            out.append(os.path.normpath(os.path.join(rel, f)))
    return out


def copy_source(dest):
    files = _git_files()
    if files is None:
        files = _tree_files()
    for rel in files:
        src = os.path.join(SRCDIR, rel)
        if not os.path.lexists(src):       # deleted in the work tree, not yet committed
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)
    return dest


def build_env(**extra):
    """os.environ without the variables an enclosing make passes down (MAKEFLAGS carries its
    command-line variables: TESTS=... from `make check-long` would make the package build's
    own `make check` run these tests again, inside itself), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMOUT",
                        "MAKE_TERMERR")}
    env.update(extra)
    return env


def sh(argv, check=True, timeout=1800, **kw):
    """Runs argv; returns (status, stdout+stderr). Raises AssertionError with the output's
    tail when check is set and it fails."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       **kw)
    out = p.stdout.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {p.returncode}\n{out[-3000:]}")
    return p.returncode, out


def skip(reason):
    print(f"# SKIP: {reason}", flush=True)
    sys.exit(77)
