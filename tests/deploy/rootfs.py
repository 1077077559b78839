"""The container's runtime root without a container engine: an mmdebstrap chroot.

cached_root() returns a tarball of Debian 12 minbase with debian:12-slim's dpkg path
excludes, after deploy/rootfs-install.sh ran inside it: the root the Dockerfile's runtime
stage builds on debian:12-slim with the same script. Making it downloads Debian packages
through apt and takes minutes, so the tarball is kept in the cache directory
($INGESTD_ROOTFS_CACHE, default /var/tmp/ingestd-rootfs-cache; never in the source tree),
keyed by the script's content and the options below, and made again after a week so that
security updates come in. `python3 tests/deploy/rootfs.py` prints its path.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
SCRIPT = os.path.join(SRCDIR, "deploy", "rootfs-install.sh")
CACHE = os.environ.get("INGESTD_ROOTFS_CACHE", "/var/tmp/ingestd-rootfs-cache")
MAX_AGE_S = 7 * 86400
SUITE = "bookworm"

# debian:12-slim: minbase, without manual pages, docs (copyright files kept), locales, info.
SLIM = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*",
        "/usr/share/groff/*", "/usr/share/lintian/*", "/usr/share/linda/*"]
MMDEBSTRAP_OPTS = (["--variant=minbase", "--quiet"]
                   + [f"--dpkgopt=path-exclude={p}" for p in SLIM]
                   + ["--dpkgopt=path-include=/usr/share/doc/*/copyright"])


def cache_key():
    h = hashlib.sha256()
    with open(SCRIPT, "rb") as f:
        h.update(f.read())
    h.update("\0".join(MMDEBSTRAP_OPTS + [SUITE]).encode())
    return h.hexdigest()[:16]


def cached_root(log=sys.stderr):
    """Path of the runtime root's tarball, made first when missing or older than a week."""
    os.makedirs(CACHE, exist_ok=True)
    tar = os.path.join(CACHE, f"runtime-{SUITE}-{cache_key()}.tar")
    if os.path.exists(tar) and time.time() - os.path.getmtime(tar) < MAX_AGE_S:
        return tar
    part = f"{tar[:-4]}.{os.getpid()}.part.tar"         # mmdebstrap: format by extension
    print(f"# making the runtime root with mmdebstrap into {tar} (minutes)", file=log, flush=True)
    argv = ["mmdebstrap", *MMDEBSTRAP_OPTS,
            f"--customize-hook=copy-in {SCRIPT} /tmp",
            '--customize-hook=chroot "$1" sh /tmp/rootfs-install.sh',
            '--customize-hook=rm -f "$1/tmp/rootfs-install.sh"',
            SUITE, part]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    if p.returncode != 0:
        if os.path.exists(part):
            os.unlink(part)
        raise AssertionError(f"mmdebstrap failed ({p.returncode}):\n"
                             f"{p.stdout.decode('utf-8', 'replace')[-3000:]}")
    os.replace(part, tar)
    for old in os.listdir(CACHE):                      # earlier versions of the root
        if old.startswith("runtime-") and os.path.join(CACHE, old) != tar:
            os.unlink(os.path.join(CACHE, old))
    return tar


def mounted_below(path):
    """Mount points at or below path (a chroot must have none left before it is removed)."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [m for m in points if m == path or m.startswith(path + "/")]


def remove_root(path):
    left = mounted_below(path)
    if left:
        raise AssertionError(f"not removing {path}: still mounted: {left}")
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    if shutil.which("mmdebstrap") is None:
        sys.exit("mmdebstrap is not installed")
    print(cached_root())
