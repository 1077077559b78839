#!/bin/bash
# Every unit test (UNIT_TESTS in Makefile.am) under valgrind memcheck: invalid reads/writes, use of
# uninitialised values, bad frees, and definite or indirect leaks fail the test. Valgrind and the
# sanitizers cannot share a process, so this needs a build without them: the one in
# $INGESTD_BUILDDIR when it has none, else its own tree, in VALGRIND_BUILDDIR=DIR when set (kept,
# so that a second run only rebuilds what changed) or in a temp dir removed afterwards. Tests run
# through automake's harness (`make check` with LOG_COMPILER=valgrind), so they get the usual
# environment; their logs are that tree's tests/*.log. Suppressions, if ever needed, go in
# tests/valgrind.supp with the reason for each.
# Exit: 0 clean, 1 a test failed or valgrind reported errors, 77 valgrind absent (outside CI).
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

lint_need valgrind
jobs=${JOBS:-2}

build=
if [ -n "${INGESTD_BUILDDIR:-}" ] && [ -f "$INGESTD_BUILDDIR/Makefile" ] &&
    ! grep -q '^SAN_CFLAGS = .*-fsanitize' "$INGESTD_BUILDDIR/Makefile"; then
    build=$(cd "$INGESTD_BUILDDIR" && pwd)
else
    if [ -n "${VALGRIND_BUILDDIR:-}" ]; then
        mkdir -p "$VALGRIND_BUILDDIR"
        build=$(cd "$VALGRIND_BUILDDIR" && pwd)
    else
        lint_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ingestd-valgrind.XXXXXX")
        build="$lint_tmp/build"
        mkdir -p "$build"
    fi
    if [ ! -f "$build/Makefile" ]; then
        echo "# configure (no sanitizers) in $build"
        if ! (cd "$build" && "$src/configure" -q >configure.out 2>&1); then
            echo "FAIL: configure failed"
            tail -n 20 "$build/configure.out"
            exit 1
        fi
    fi
fi

mapfile -t tests < <(lint_make_var UNIT_TESTS)
if [ "${#tests[@]}" -eq 0 ]; then
    echo "FAIL: no UNIT_TESTS in $build/Makefile"
    exit 1
fi
echo "# $(valgrind --version), ${#tests[@]} unit tests, build $build"
if ! make -C "$build" -j"$jobs" "${tests[@]}" >"$build/valgrind-make.log" 2>&1; then
    grep -E 'error:|Error [0-9]|undefined reference' "$build/valgrind-make.log" | head -n 30
    echo "FAIL: the unit tests did not build"
    exit 1
fi

vflags="--quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect"
vflags="$vflags --show-leak-kinds=definite,indirect --num-callers=30"
[ -f "$src/tests/valgrind.supp" ] && vflags="$vflags --suppressions=$src/tests/valgrind.supp"
for t in "${tests[@]}"; do rm -f "$build/$t.log" "$build/$t.trs"; done
make -C "$build" -j"$jobs" -k check TESTS="${tests[*]}" LOG_COMPILER=valgrind \
    LOG_FLAGS="$vflags" >"$build/valgrind-check.log" 2>&1

bad=0
for t in "${tests[@]}"; do
    res=$(sed -n 's/^:test-result: //p' "$build/$t.trs" 2>/dev/null | head -n 1)
    echo "${res:-ERROR}: $t"
    case "$res" in
        PASS | SKIP) ;;
        *)
            bad=$((bad + 1))
            echo "---- $t.log (valgrind and test output)"
            grep -v '^ok ' "$build/$t.log" 2>/dev/null | tail -n 80
            ;;
    esac
done
if [ "$bad" -gt 0 ]; then
    echo "FAIL: $bad of ${#tests[@]} unit tests failed under valgrind"
    exit 1
fi
echo "PASS: ${#tests[@]} unit tests clean under valgrind memcheck"
