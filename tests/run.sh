#!/bin/bash
# The project's test command: install dependencies, build in build/, run `make check`, report.
#
# Steps: tests/install-deps.sh; autoreconf -fi; configure in build/ (with --enable-sanitizers
# when SANITIZE=1 or CI=true); make -j2; make -j2 -k check (every test runs even when some
# fail); with CI=true or FUZZ_SECONDS set, make check-fuzz (one PASS/FAIL line and one test
# per fuzz target); with CI=true or LINT=1, the lint phase: tests/lint-cppcheck.sh,
# tests/lint-clang-tidy.sh, tests/format-check.sh, tests/valgrind-unit.sh, tests/lint-layers.sh
# (one test each, timed; valgrind builds in build-valgrind/). Then the log tail of every failed test, and as the last line
# `N passed, M failed` (`, K skipped` appended when tests skipped), summed from automake's .trs
# files: PASS and XPASS count as passed, FAIL, XFAIL and ERROR as failed; a registered test with no .trs (its program
# did not build) counts as failed. Exits non-zero when anything failed or did not build.
# The network is used only when something is missing: apt, and PyPI for moto (see
# install-python-deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build="$top/build"
jobs=${JOBS:-2}

say() { printf '== %s\n' "$*"; }

bash tests/install-deps.sh || { echo "install-deps.sh failed"; echo "0 passed, 1 failed"; exit 1; }

# The integration tests need a python3 with boto3 and moto; the machine image may keep it outside
# a minimal PATH (e.g. under pyenv, or tests/.venv), so look for it and put its directory first.
. tests/find-python.sh
if py=$(ingestd_find_python); then
    PATH="$(dirname "$py"):$PATH"
    export PATH
else
    say "warning: no python3 with boto3 and moto found; integration tests will fail or skip"
fi

# LeakSanitizer stops the process with ptrace to scan it; some container runtimes forbid that
# and LSan then dies with "LeakSanitizer has encountered a fatal error" in every test. Probe once;
# if leak checking cannot run here, turn it off (ASan's other checks stay on) and say so.
sanitize=no
if [ "${SANITIZE:-}" = 1 ] || [ "${CI:-}" = true ]; then
    sanitize=yes
fi
if [ "$sanitize" = yes ]; then
    probe=$(mktemp -d)
    printf '#include <stdlib.h>\nint main(void){void *volatile p = malloc(7); p = 0; (void)p; return 0;}\n' \
        >"$probe/leak.c"
    if gcc -fsanitize=address -g -o "$probe/leak" "$probe/leak.c" 2>/dev/null; then
        out=$(ASAN_OPTIONS=detect_leaks=1 "$probe/leak" 2>&1)
        if printf '%s' "$out" | grep -q 'detected memory leaks'; then
            say "LeakSanitizer works here"
        elif printf '%s' "$out" | grep -q 'LeakSanitizer has encountered a fatal error'; then
            say "LeakSanitizer cannot run here (ptrace restricted); leak checking off:"
            printf '%s\n' "$out" | tail -n 3
            export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        fi
    fi
    rm -rf "$probe"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=0:print_summary=1"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
fi

build_failed=0
mkdir -p m4 "$build"
say "autoreconf"
if ! autoreconf -fi >"$build/autoreconf.log" 2>&1; then
    tail -n 30 "$build/autoreconf.log"
    echo "autoreconf failed"
    echo "0 passed, 1 failed"
    exit 1
fi

cd "$build"
conf=()
[ "$sanitize" = yes ] && conf+=(--enable-sanitizers)
say "configure ${conf[*]}"
if ! "$top/configure" -q "${conf[@]}" >configure.out 2>&1; then
    cat configure.out
    tail -n 30 config.log
    echo "configure failed"
    echo "0 passed, 1 failed"
    exit 1
fi

say "make -j$jobs"
if ! make -j"$jobs" -k >make.log 2>&1; then
    build_failed=1
    grep -E 'error:|Error [0-9]|undefined reference' make.log | head -n 40
    echo "(build failed; full log: $build/make.log)"
fi

find . -name '*.trs' -delete
say "make -j$jobs -k check"
make -j"$jobs" -k check >check.log 2>&1
check_rc=$?

# What automake would run: TEST_LOGS from the generated Makefile.
mapfile -t logs < <(make -s -f Makefile -f - print-test-logs <<'EOF' 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
print-test-logs:
	@echo $(TEST_LOGS)
EOF
)
if [ "$check_rc" -ne 0 ] && [ "${#logs[@]}" -gt 0 ]; then
    # If a check program failed to build, make stopped before running any test (check-TESTS
    # depends on every check program): run each test log that can be made now.
    missing_trs=0
    for l in "${logs[@]}"; do [ -f "${l%.log}.trs" ] || missing_trs=1; done
    if [ "$missing_trs" = 1 ]; then
        grep -E 'error:|Error [0-9]|undefined reference' check.log | head -n 40
        say "some check programs did not build; running the tests that can run"
        make -j"$jobs" -k "${logs[@]}" >>check.log 2>&1
    fi
fi

passed=0 failed=0 skipped=0
failed_logs=()
for l in "${logs[@]}"; do
    trs="${l%.log}.trs"
    if [ ! -f "$trs" ]; then
        failed=$((failed + 1))
        failed_logs+=("$l (did not run: its program did not build)")
        continue
    fi
    bad=0
    while read -r _ res _; do
        case "$res" in
            PASS|XPASS) passed=$((passed + 1)) ;;
            SKIP) skipped=$((skipped + 1)) ;;
            *) failed=$((failed + 1)); bad=1 ;;
        esac
    done < <(grep '^:test-result:' "$trs")
    [ "$bad" = 1 ] && failed_logs+=("$l")
done

# Lint phase (CI=true, or LINT=1): each script counts as one test; a skip (77) counts as skipped.
# After make check so that it does not compete with the timed integration tests for the cores.
if [ "${CI:-}" = true ] || [ "${LINT:-}" = 1 ]; then
    for t in tests/lint-cppcheck.sh tests/lint-clang-tidy.sh tests/format-check.sh \
             tests/valgrind-unit.sh tests/lint-layers.sh; do
        l="$build/$(basename "$t" .sh).lint.log"
        t0=$SECONDS
        INGESTD_SRCDIR="$top" INGESTD_BUILDDIR="$build" VALGRIND_BUILDDIR="$top/build-valgrind" \
            JOBS="$jobs" bash "$top/$t" >"$l" 2>&1
        rc=$?
        case $rc in
            0) passed=$((passed + 1)); res=PASS ;;
            77) skipped=$((skipped + 1)); res=SKIP ;;
            *) failed=$((failed + 1)); res=FAIL; failed_logs+=("$l") ;;
        esac
        say "$res: $t ($((SECONDS - t0)) s)"
    done
fi

# Fuzzing (tests/fuzz/README.md), only in CI or when FUZZ_SECONDS is set: every target for
# FUZZ_SECONDS (default 60) over its corpus, two at a time; each target counts as one test.
if [ "${CI:-}" = true ] || [ -n "${FUZZ_SECONDS:-}" ]; then
    say "make check-fuzz (${FUZZ_SECONDS:-60} s per target)"
    FUZZ_SECONDS=${FUZZ_SECONDS:-60} make check-fuzz >fuzz.log 2>&1
    fuzz_rc=$?
    grep -E '^(PASS|FAIL) fuzz |^    ' fuzz.log
    fuzz_pass=$(grep -c '^PASS fuzz ' fuzz.log)
    fuzz_fail=$(grep -c '^FAIL fuzz ' fuzz.log)
    if [ "$fuzz_rc" -ne 0 ] && [ "$fuzz_fail" -eq 0 ]; then
        tail -n 20 fuzz.log
        fuzz_fail=1
    fi
    passed=$((passed + fuzz_pass))
    failed=$((failed + fuzz_fail))
fi

for l in "${failed_logs[@]}"; do
    echo
    echo "---- FAILED: $l ----"
    f="${l%% (*}"
    [ -f "$f" ] && tail -n 60 "$f"
done
if [ "$skipped" -gt 0 ]; then
    echo
    for l in "${logs[@]}"; do
        trs="${l%.log}.trs"
        [ -f "$trs" ] && grep -q '^:test-result: SKIP' "$trs" && echo "skipped: ${l%.log}"
    done
fi
[ "$build_failed" = 1 ] && [ "$failed" -eq 0 ] && failed=1 && echo "build failed"
[ "${#logs[@]}" -eq 0 ] && failed=$((failed + 1)) && echo "no tests found"

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo
echo "$summary"
[ "$failed" -eq 0 ]
