#!/bin/bash
# `make install DESTDIR=<temp dir>` from the build tree: the daemon, the systemd unit (in the
# unit directory configure chose, pkg-config's systemdsystemunitdir by default), the example
# configuration and both man pages land where the build's directory variables say; the installed
# unit starts that binary with that configuration; the installed binary runs. Then an operator
# edits the configuration: a second install keeps the edit, and `make uninstall` removes
# everything but the edited file. An unedited configuration is removed by uninstall.
# Needs a configured, built tree: $INGESTD_BUILDDIR (set by make check).
# Exit: 0 pass, 1 fail.
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

if [ -z "${INGESTD_BUILDDIR:-}" ] || [ ! -f "$INGESTD_BUILDDIR/Makefile" ]; then
    echo "FAIL: INGESTD_BUILDDIR does not name a configured build tree (run through make check)"
    exit 1
fi
build=$(cd "$INGESTD_BUILDDIR" && pwd)
lint_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ingestd-install.XXXXXX")
dest="$lint_tmp/root"
failures=0
fail() { echo "not ok: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# A make started from a test is not part of make check's job server.
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$build" "$@"; }

mapfile -t dirs < <(lint_make_var sbindir sysconfdir mandir systemdsystemunitdir)
if [ "${#dirs[@]}" -ne 4 ]; then
    echo "FAIL: could not read the install directories from $build/Makefile: ${dirs[*]}"
    exit 1
fi
sbindir=${dirs[0]} sysconfdir=${dirs[1]} mandir=${dirs[2]} unitdir=${dirs[3]}
echo "# sbindir=$sbindir sysconfdir=$sysconfdir mandir=$mandir unitdir=$unitdir"

bin="$dest$sbindir/ingestd"
conf="$dest$sysconfdir/ingestd.conf"
unit="$dest$unitdir/ingestd.service"
man8="$dest$mandir/man8/ingestd.8"
man5="$dest$mandir/man5/ingestd.conf.5"

if ! submake install DESTDIR="$dest" >"$lint_tmp/install1.log" 2>&1; then
    cat "$lint_tmp/install1.log"
    echo "FAIL: make install failed"
    exit 1
fi
[ -x "$bin" ] && ok "daemon installed: $sbindir/ingestd" || fail "no executable $bin"
[ -f "$unit" ] && ok "unit installed: $unitdir/ingestd.service" || fail "no unit $unit"
for m in "$man8" "$man5"; do
    [ -s "$m" ] && ok "man page installed: ${m#"$dest"}" || fail "no man page $m"
done
if cmp -s "$src/etc/ingestd.conf" "$conf"; then
    ok "example configuration installed as $sysconfdir/ingestd.conf"
else
    fail "$conf is missing or differs from etc/ingestd.conf"
fi
case "$unitdir" in
    /*) ;;
    *) fail "unit directory is not absolute: $unitdir" ;;
esac
if [ -f "$unit" ]; then
    want="ExecStart=$sbindir/ingestd -c $sysconfdir/ingestd.conf"
    if grep -qxF "$want" "$unit"; then
        ok "the unit runs the installed binary with the installed configuration"
    else
        fail "the unit's ExecStart is not '$want': $(grep '^ExecStart=' "$unit")"
    fi
fi
if [ -x "$bin" ]; then
    if v=$("$bin" --version 2>&1); then
        ok "installed binary runs: $v"
    else
        fail "installed ingestd --version failed: $v"
    fi
fi

# An operator's edit survives a second install.
printf '\n; edited by the operator\n' >>"$conf"
cp "$conf" "$lint_tmp/edited.conf"
if ! submake install DESTDIR="$dest" >"$lint_tmp/install2.log" 2>&1; then
    cat "$lint_tmp/install2.log"
    fail "second make install failed"
fi
if cmp -s "$lint_tmp/edited.conf" "$conf"; then
    ok "second install kept the edited configuration"
else
    fail "second install replaced the edited $conf"
fi
grep -q 'keeping the existing' "$lint_tmp/install2.log" && ok "second install said so" ||
    fail "second install did not say it kept the configuration"

# Uninstall keeps only the operator's file.
if ! submake uninstall DESTDIR="$dest" >"$lint_tmp/uninstall1.log" 2>&1; then
    cat "$lint_tmp/uninstall1.log"
    fail "make uninstall failed"
fi
left=$(cd "$dest" && find . -type f | sort)
if [ "$left" = "./${sysconfdir#/}/ingestd.conf" ] && cmp -s "$lint_tmp/edited.conf" "$conf"; then
    ok "uninstall removed everything but the edited configuration"
else
    fail "after uninstall, files left: $(echo "$left" | tr '\n' ' ')"
fi

# Unedited, the example configuration goes with uninstall.
rm -f "$conf"
submake install DESTDIR="$dest" >"$lint_tmp/install3.log" 2>&1 || fail "third make install failed"
submake uninstall DESTDIR="$dest" >"$lint_tmp/uninstall2.log" 2>&1 || fail "make uninstall failed"
left=$(cd "$dest" && find . -type f)
[ -z "$left" ] && ok "uninstall of an unedited install leaves no file" ||
    fail "files left after uninstall: $(echo "$left" | tr '\n' ' ')"

if [ "$failures" -gt 0 ]; then
    echo "FAIL: $failures install checks failed"
    exit 1
fi
echo "PASS: install, reinstall and uninstall"
