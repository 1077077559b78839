#!/bin/bash
# Builds the libFuzzer targets and runs each for FUZZ_SECONDS (default 60) over its corpus.
#
# Usage: tests/fuzz/run.sh [-b BUILDDIR] [-j PARALLEL] [-m] [TARGET...]
#   -b  a configured build directory (default: build/ at the top of the tree); `make fuzz`
#       runs there first, so the targets are always current.
#   -j  how many targets run at once (default 2: the CI machine has two cores).
#   -m  merge what the run found into tests/fuzz/corpus/<target>/ afterwards (minimised with
#       -merge=1); without it the committed corpus is only read.
#   TARGET  default: every tests/fuzz/fuzz_*.c.
#
# Each run starts from the committed corpus (read-only) with a scratch corpus in a temp dir,
# so new inputs never land in the source tree unless -m is given. A crash, timeout, leak or
# invariant failure saves the input as $FUZZ_ARTIFACTS/<target>-crash-... (default: a temp
# dir, printed) and fails the target. Prints one line per target:
#   PASS fuzz csvstream: 1234567 runs in 60 s, corpus 28 -> 311
#   FAIL fuzz event: deadly signal after 12 s; input kept in /tmp/fuzz.x/event-crash-...
# and exits non-zero when any target failed. Stops nothing it did not start.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir="$top/build"
parallel=2
merge=0
while getopts "b:j:m" opt; do
    case "$opt" in
        b) builddir=$OPTARG ;;
        j) parallel=$OPTARG ;;
        m) merge=1 ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
seconds=${FUZZ_SECONDS:-60}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do
        t=$(basename "$f" .c)
        targets+=("${t#fuzz_}")
    done
fi

if [ ! -f "$builddir/Makefile" ]; then
    echo "run.sh: $builddir is not a configured build directory (use -b)" >&2
    exit 2
fi
if ! ${MAKE:-make} -s -C "$builddir" fuzz >"$builddir/fuzz-build.log" 2>&1; then
    tail -n 30 "$builddir/fuzz-build.log"
    for t in "${targets[@]}"; do echo "FAIL fuzz $t: the fuzz targets did not build"; done
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
# The harness's sanitizer options, plus what a fuzzer needs: stop at the first report.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"

run_one() {
    local t=$1 bin="$builddir/tests/fuzz/build/fuzz_$1" corpus="$top/tests/fuzz/corpus/$1"
    local scratch="$work/$t" log="$work/$t.log" rc
    mkdir -p "$scratch" "$corpus"
    nice -n 10 "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
        "$scratch" "$corpus" >"$log" 2>&1
    rc=$?
    echo "$rc" >"$work/$t.rc"
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
for t in "${targets[@]}"; do
    log="$work/$t.log"
    rc=$(cat "$work/$t.rc" 2>/dev/null || echo 99)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    ncorpus=$(find "$top/tests/fuzz/corpus/$t" -type f | wc -l)
    nfound=$(find "$work/$t" -type f | wc -l)
    if [ "$rc" = 0 ]; then
        echo "PASS fuzz $t: ${runs:-?} runs in ${secs:-$seconds} s, corpus $ncorpus -> $((ncorpus + nfound))"
    else
        failed=1
        why=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-zA-Z -]+|runtime error: .*|invariant failed: .*' "$log")
        echo "FAIL fuzz $t: ${why:-exit status $rc}; input kept in $artifacts/ (log $log)"
        # the report and the project's own frames, not libFuzzer's
        grep -E 'ERROR|runtime error|invariant failed|#[0-9]+ 0x.* in [a-z_0-9]+ [^ ]*/(src(/[a-z_0-9]+)+|tests/fuzz)/[a-z_0-9]+\.c:' \
            "$log" | head -n 16 | sed 's/^/    /'
    fi
    if [ "$merge" = 1 ] && [ "$rc" = 0 ] && [ "$nfound" -gt 0 ]; then
        "$builddir/tests/fuzz/build/fuzz_$t" -merge=1 -max_len=65536 "$top/tests/fuzz/corpus/$t" \
            "$work/$t" >"$work/$t.merge.log" 2>&1 || echo "    merge of $t failed: $work/$t.merge.log"
    fi
done
if [ "$failed" = 0 ]; then
    rm -rf "$work"
fi
exit "$failed"
