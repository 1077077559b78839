#!/usr/bin/env python3
"""The Debian packaging (debian/) agrees with the build, without building the package.

Quick counterpart of tests/deploy/deb_package.py (`make check-long`), which builds the
package with dpkg-buildpackage, installs, inspects and purges it. Here: the changelog's
version is configure.ac's AC_INIT version; Build-Depends names every -dev package
configure.ac requires and debhelper compat 13; the build dependencies are installed
(dpkg-checkbuilddeps, as dpkg-buildpackage will); dh's sequence runs dh_autoreconf and
dh_installsystemd; debian/rules keeps the unit neither enabled nor started and installs
it where bookworm's systemd looks; every path the package must hold follows from
Makefile.am's install rules; the unit runs /usr/sbin/ingestd -c /etc/ingestd.conf under
DynamicUser (so no maintainer script creates a user). lintian runs in the long test, on the
built package.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
from daemon import Checks  # noqa: E402

# What the installed package holds (dpkg -L), checked after install by deb_package.py.
PACKAGE_FILES = [
    "/usr/sbin/ingestd",
    "/lib/systemd/system/ingestd.service",
    "/etc/ingestd.conf",
    "/usr/share/man/man8/ingestd.8.gz",
    "/usr/share/man/man5/ingestd.conf.5.gz",
    "/usr/share/doc/ingestd/copyright",
    "/usr/share/doc/ingestd/changelog.gz",
    "/usr/share/doc/ingestd/README.md.gz",
    "/usr/share/doc/ingestd/examples/iam-policy.json",
]


def read(rel):
    with open(os.path.join(SRCDIR, rel)) as f:
        return f.read()


def ac_init_version():
    return re.search(r"AC_INIT\(\[ingestd\],\s*\[([^\]]+)\]", read("configure.ac")).group(1)


def configure_dev_packages():
    return set(re.findall(r"\b(lib[a-z0-9.+]+-dev|zlib1g-dev)\b", read("configure.ac")))


def build_depends():
    m = re.search(r"^Build-Depends:(.*?)^\S", read("debian/control"), re.S | re.M)
    return [d.strip() for d in m.group(1).replace("\n", " ").split(",") if d.strip()]


def main():
    c = Checks()

    def changelog_version():
        out = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(SRCDIR, "debian/changelog"),
                              "-S", "Version"], capture_output=True, text=True, check=True).stdout
        assert out.strip() == ac_init_version(), (out, ac_init_version())
        assert read("debian/source/format").strip() == "3.0 (native)"

    def build_dependencies():
        deps = build_depends()
        names = {d.split()[0] for d in deps}
        assert "debhelper-compat (= 13)" in deps, deps
        missing = configure_dev_packages() - names
        assert not missing, f"configure.ac needs {sorted(missing)}, not in Build-Depends"
        p = subprocess.run(["dpkg-checkbuilddeps", "debian/control"], cwd=SRCDIR,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr

    def dh_sequence():
        p = subprocess.run(["dh", "binary", "--no-act", "--builddirectory=debian/build"],
                           cwd=SRCDIR, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        seq = p.stdout
        for step in ("dh_autoreconf", "override_dh_auto_configure", "override_dh_auto_test",
                     "override_dh_installsystemd"):
            assert step in seq, f"{step} not in dh's sequence:\n{seq}"

    def rules():
        r = read("debian/rules")
        assert re.search(r"^\tdh \$@ --builddirectory=debian/build$", r, re.M), r
        assert re.search(r"^\tdh_installsystemd --no-enable$", r, re.M), \
            "the unit must not be enabled on install"
        assert "--no-restart-after-upgrade" not in r
        assert "--with-systemdsystemunitdir=/lib/systemd/system" in r
        assert "TESTS='$$(UNIT_TESTS)'" in r, "only the unit tests run in a package build"
        for script in ("postinst", "preinst", "postrm", "prerm"):
            assert not os.path.exists(os.path.join(SRCDIR, "debian", "ingestd." + script)), script

    def install_paths():
        mk = read("Makefile.am")
        assert re.search(r"^sbin_PROGRAMS = ingestd$", mk, re.M)
        assert re.search(r"^dist_man_MANS = man/ingestd\.8 man/ingestd\.conf\.5$", mk, re.M)
        assert re.search(r"^systemdsystemunit_DATA = systemd/ingestd\.service$", mk, re.M)
        assert "$(INSTALL_DATA) '$(srcdir)/etc/ingestd.conf' " \
               "'$(DESTDIR)$(sysconfdir)/ingestd.conf'" in mk
        for rel in read("debian/ingestd.docs").split() + read("debian/ingestd.examples").split():
            assert os.path.isfile(os.path.join(SRCDIR, rel)), rel
        assert "/usr/share/doc/ingestd/README.md.gz" in PACKAGE_FILES
        assert "/usr/share/doc/ingestd/examples/iam-policy.json" in PACKAGE_FILES

    def unit():
        u = read("systemd/ingestd.service")
        assert re.search(r"^ExecStart=/usr/sbin/ingestd -c /etc/ingestd\.conf$", u, re.M), u
        assert re.search(r"^DynamicUser=yes$", u, re.M)
        assert re.search(r"^WantedBy=multi-user\.target$", u, re.M)

    c.check("debian/changelog version is AC_INIT's; native source format", changelog_version)
    c.check("Build-Depends: debhelper compat 13, configure.ac's -dev packages, installed",
            build_dependencies)
    c.check("dh sequence: autoreconf, configure/test/systemd overrides", dh_sequence)
    c.check("debian/rules: unit not enabled or started, unit dir, unit tests only", rules)
    c.check("every packaged path follows from Makefile.am's install rules", install_paths)
    c.check("the unit runs /usr/sbin/ingestd -c /etc/ingestd.conf with DynamicUser", unit)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
