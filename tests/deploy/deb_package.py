#!/usr/bin/env python3
"""The Debian package, built, installed on this machine, inspected and purged (check-long).

Builds from a clean copy of the sources with `dpkg-buildpackage -b -us -uc` (which runs the
unit tests), runs lintian on the result when it is installed, installs the package with
dpkg, and checks: `dpkg -L` holds the daemon, unit, manual pages, configuration and docs
(tests/deploy/test_debian_files.py lists them); /etc/ingestd.conf is a conffile and an
operator's edit survives a reinstall; `systemd-analyze verify` accepts the installed unit
(its binary and Documentation= manual pages must exist); `ingestd --version` prints the
changelog's version; the unit is neither enabled nor running after the install; the
example configuration passes --check-config. Then it purges the package and checks that
nothing of it is left.

It changes this machine (CI runs as root on a throwaway one): it needs root and refuses
(skip) when an ingestd package, /usr/sbin/ingestd or /etc/ingestd.conf is already there, so
that the purge restores the state it found.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from daemon import Checks  # noqa: E402
from srctree import build_env, copy_source, sh, skip  # noqa: E402
from test_debian_files import PACKAGE_FILES, ac_init_version  # noqa: E402

UNIT = "/lib/systemd/system/ingestd.service"


def installed():
    p = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "ingestd"],
                       capture_output=True, text=True)
    return p.returncode == 0 and p.stdout not in ("", "not-installed")


def main():
    if os.geteuid() != 0:
        skip("installs a package: needs root")
    for tool in ("dpkg-buildpackage", "dh"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed (tests/install-deps.sh installs it)")
    if installed() or os.path.exists("/usr/sbin/ingestd") or os.path.exists("/etc/ingestd.conf"):
        skip("ingestd is already installed here: the purge could not restore this state")

    c = Checks()
    tmp = tempfile.mkdtemp(prefix="ingestd-deb-")
    src = copy_source(os.path.join(tmp, "src"))
    deb = os.path.join(tmp, f"ingestd_{ac_init_version()}_{arch()}.deb")
    try:
        def build():
            env = build_env(DEB_BUILD_OPTIONS="parallel=2")
            sh(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env)
            assert os.path.isfile(deb), os.listdir(tmp)

        def lint():
            if shutil.which("lintian") is None:
                print("# lintian not installed: not run")
                return
            _, out = sh(["lintian", "--fail-on", "error,warning", deb[:-4] + ".changes"])
            print("".join(f"# {line}\n" for line in out.splitlines() if line[:2] in ("E:", "W:")),
                  end="")

        c.check("dpkg-buildpackage -b -us -uc (unit tests included)", build)
        if c.failed:
            return c.done()
        c.check("lintian: no error or warning", lint)

        def install():
            sh(["dpkg", "-i", deb])
            assert installed()

        def contents():
            _, out = sh(["dpkg", "-L", "ingestd"])
            listed = set(out.split())
            missing = [p for p in PACKAGE_FILES if p not in listed]
            assert not missing, f"not in dpkg -L: {missing}\n{out}"
            _, conffiles = sh(["dpkg-query", "-W", "-f", "${Conffiles}", "ingestd"])
            assert "/etc/ingestd.conf " in conffiles, conffiles

        def verify_unit():
            rc, out = sh(["systemd-analyze", "verify", UNIT], check=False)
            assert rc == 0 and "ingestd.service" not in out, out

        def version():
            _, out = sh(["/usr/sbin/ingestd", "--version"])
            assert out.strip() == f"ingestd {ac_init_version()}", out

        def not_started():
            _, state = sh(["systemctl", "is-enabled", "ingestd"], check=False)
            assert state.strip() == "disabled", state
            if os.path.isdir("/run/systemd/system"):
                rc, state = sh(["systemctl", "is-active", "ingestd"], check=False)
                assert rc != 0 and state.strip() in ("inactive", "unknown"), state
            running = installed_daemons()
            assert not running, f"the packaged ingestd runs: pids {running}"

        def example_config():
            _, out = sh(["/usr/sbin/ingestd", "--check-config", "-c", "/etc/ingestd.conf"])
            assert "configuration is valid" in out, out

        def edit_survives():
            with open("/etc/ingestd.conf", "a") as f:
                f.write("; edited by the operator\n")
            sh(["dpkg", "-i", "--force-confold", deb])
            with open("/etc/ingestd.conf") as f:
                assert f.read().endswith("; edited by the operator\n")

        c.check("dpkg -i", install)
        if installed():
            c.check("dpkg -L: daemon, unit, manual pages, configuration, docs; conffile",
                    contents)
            c.check("systemd-analyze verify of the installed unit", verify_unit)
            c.check("ingestd --version is the package's version", version)
            c.check("the service is neither enabled nor running after install", not_started)
            c.check("the shipped /etc/ingestd.conf passes --check-config", example_config)
            c.check("an operator's edit of /etc/ingestd.conf survives a reinstall",
                    edit_survives)
    finally:
        purged = True
        if installed():
            rc, out = sh(["dpkg", "--purge", "ingestd"], check=False)
            purged = rc == 0
            if not purged:
                print(out)
        shutil.rmtree(tmp, ignore_errors=True)

    def purge_leaves_nothing():
        assert purged and not installed()
        for p in PACKAGE_FILES + ["/etc/ingestd.conf"]:
            assert not os.path.exists(p), f"{p} left after purge"
        assert not os.path.exists("/var/lib/systemd/deb-systemd-helper-enabled/ingestd.service.dsh-also")

    c.check("dpkg --purge leaves nothing behind", purge_leaves_nothing)
    return c.done()


def installed_daemons():
    """Pids running the packaged binary (other ingestd processes, such as tests' own
    builds, do not count)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/exe") == "/usr/sbin/ingestd":
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
