#!/usr/bin/env python3
"""The container's runtime root, run without a container engine (check-long).

Builds the runtime root as the Dockerfile's last stage does (tests/deploy/rootfs.py:
mmdebstrap + deploy/rootfs-install.sh, cached), builds ingestd as the build stage does
(deploy/container-build.sh in a clean copy of the sources) and copies its install tree in,
as `COPY --from=build /out/ /` does. Then checks the root: no compiler or -dev package,
every library of the binary found by the root's own ldd, the non-root user. And runs it:
the daemon starts from the root (chroot in a private mount namespace, as the image's user
10001, with a clean environment) against moto and PostgreSQL from tests/stack.py; `ingestd
health` run inside the root (as the HEALTHCHECK runs it) turns 0 once it is ready; a good
object's rows reach PostgreSQL, a bad object's report reaches the DLQ; SIGTERM stops it
with status 0, and health then fails.

Needs root, mmdebstrap and apt access to Debian's mirror (the first run downloads the root:
minutes; later runs reuse it).
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, ".."))
from daemon import Checks  # noqa: E402
from rootfs import cached_root, mounted_below, remove_root  # noqa: E402
from srctree import build_env, copy_source, sh, skip  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402
from test_dockerfile import BUILD_TOOLS  # noqa: E402

UID = "10001"
ROUTES = """
[route people]
sink = pg
bucket = inbox
match_prefix = people/
table = people
"""


def in_root(root, argv, user=True):
    """argv run inside root: a private mount namespace with /dev and /proc, chroot, as the
    image's user unless user=False. The argv list, for Popen or sh()."""
    spec = [f"--userspec={UID}:{UID}"] if user else []
    script = ('mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && '
              'root=$1 && shift && exec chroot "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            root, *spec, root, *argv]


def clean_env(extra):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def wait_until(what, fn, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def main():
    if os.geteuid() != 0:
        skip("chroot and mount namespaces need root")
    for tool in ("mmdebstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed (tests/install-deps.sh installs it)")

    c = Checks()
    tmp = tempfile.mkdtemp(prefix="ingestd-rootfs-")
    root = os.path.join(tmp, "root")
    out = os.path.join(tmp, "out")
    try:
        def build_binary():
            src = copy_source(os.path.join(tmp, "src"))
            sh(["sh", "deploy/container-build.sh", out], cwd=src, env=build_env())
            files = sorted(os.path.relpath(os.path.join(d, f), out)
                           for d, dirs, fs in os.walk(out) for f in fs + dirs)
            assert files == ["etc", "etc/ingestd.conf", "usr", "usr/sbin", "usr/sbin/ingestd"], \
                f"the build stage installs more than the image needs: {files}"
            assert os.access(os.path.join(out, "usr/sbin/ingestd"), os.X_OK)

        def make_root():
            tar = cached_root(log=sys.stdout)
            os.makedirs(root)
            with tarfile.open(tar) as t:
                t.extractall(root, numeric_owner=True)
            sh(["cp", "-a", out + "/.", root + "/"])           # COPY --from=build /out/ /

        c.check("build stage: deploy/container-build.sh", build_binary)
        c.check("runtime root: mmdebstrap + deploy/rootfs-install.sh, build tree copied in",
                make_root)
        if c.failed:
            return c.done()

        def no_build_tools():
            _, pkgs = sh(["chroot", root, "dpkg-query", "-W", "-f", "${Package}\n"])
            bad = [p for p in pkgs.split() if BUILD_TOOLS.match(p)]
            assert not bad, f"build tools or -dev packages in the runtime root: {bad}"
            assert not os.path.exists(os.path.join(root, "usr/bin/gcc"))
            lists = os.listdir(os.path.join(root, "var/lib/apt/lists"))
            assert set(lists) <= {"partial", "lock", "auxfiles"}, f"apt lists left: {lists}"

        def libraries_resolve():
            _, ldd = sh(["chroot", root, "ldd", "/usr/sbin/ingestd"])
            assert "not found" not in ldd, ldd
            _, ver = sh(in_root(root, ["ingestd", "--version"]), env=clean_env({}))
            assert ver.startswith("ingestd "), ver

        def user():
            _, pw = sh(["chroot", root, "getent", "passwd", "ingestd"])
            assert pw.split(":")[2:4] == [UID, UID], pw
            assert not os.path.exists(os.path.join(root, "usr/share/man/man8/ingestd.8.gz"))

        c.check("no compiler or -dev package, apt lists emptied", no_build_tools)
        c.check("the root's ldd finds every library; ingestd --version runs", libraries_resolve)
        c.check("user ingestd is 10001:10001; no manual pages in the image", user)

        with Stack(moto=True, postgres=True) as st:
            q, dlq = st.make_queue("rootfs", dlq=True, max_receive=3)
            st.make_bucket("inbox", notify_queue_url=q)
            st.purge(q)
            st.psql("CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)")
            port = free_port()
            text = open(st.ingestd_config(ROUTES, workers=2, log_level="info")).read()
            text = text.replace("[ingestd]\n", f"[ingestd]\nmetrics_listen = 127.0.0.1:{port}\n")
            conf = os.path.join(root, "etc/ingestd.conf")
            with open(conf, "w") as f:                  # as a mounted configuration would be
                f.write(text)
            os.chmod(conf, 0o644)
            env = clean_env({k: v for k, v in st.aws_env.items()})
            log = open(os.path.join(tmp, "ingestd.log"), "wb")
            d = subprocess.Popen(in_root(root, ["ingestd", "-c", "/etc/ingestd.conf"]),
                                 env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

            def health():
                p = subprocess.run(in_root(root, ["ingestd", "health", "-c", "/etc/ingestd.conf"]),
                                   env=clean_env({}), capture_output=True, text=True, timeout=30)
                return p.returncode, p.stderr

            try:
                def healthy():
                    wait_until("ingestd health exit 0 inside the root",
                               lambda: health()[0] == 0 or None, 30)

                def loads():
                    st.put_object("inbox", "people/good.csv", b"id,name\n1,Ann\n2,Bob\n")
                    st.put_object("inbox", "people/bad.csv", b"id,name\n3,Cy\n4,Dee,extra\n")
                    wait_until("2 rows", lambda: st.psql("SELECT count(*) FROM people")
                               == [("2",)], 60)
                    reports = wait_until("a DLQ report", lambda: st.receive_all(dlq, wait=0.5),
                                         60)
                    assert [r["body"]["key"] for r in reports] == ["people/bad.csv"], reports
                    assert st.psql("SELECT name FROM people ORDER BY id") == [("Ann",), ("Bob",)]

                def stops():
                    d.terminate()
                    assert d.wait(40) == 0
                    rc, err = health()
                    assert rc == 1 and err.count("\n") == 1, (rc, err)

                c.check("the daemon runs from the root as 10001; ingestd health 0 inside it",
                        healthy)
                c.check("a good object loads into PostgreSQL, a bad one's report reaches the DLQ",
                        loads)
                c.check("SIGTERM: exit 0; ingestd health then exits 1", stops)
            finally:
                if d.poll() is None:
                    d.kill()
                    d.wait()
                log.close()
                if c.failed:
                    with open(os.path.join(tmp, "ingestd.log"), "rb") as f:
                        sys.stderr.write(f.read().decode("utf-8", "replace")[-3000:])
    finally:
        if mounted_below(tmp):
            print(f"# left {tmp}: mounts remain", file=sys.stderr)
        else:
            remove_root(tmp)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
