#!/bin/bash
# Runs every benchmark in bench/ with a few rows, so that none can rot unnoticed: each must exit
# 0 within its time limit and print its ratio lines. Figures from such runs mean nothing.
# The benchmarks for sinks this build left out (config.h) are not run.
set -u
src=${INGESTD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${INGESTD_BUILDDIR:-$src/build}
export INGESTD_BIN=${INGESTD_BIN:-$build/ingestd}
py=${PYTHON3:-python3}
fails=0
n=0

built() { grep -q "^#define WITH_$1 1" "$build/config.h"; }

# bench ARGS... -- PATTERN...: runs bench/ARGS under a time limit; every PATTERN (an extended
# regular expression) must match a line of its output.
bench() {
    local args=() pats=() out rc t0
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    pats=("$@")
    n=$((n + 1))
    t0=$SECONDS
    out=$(timeout -k 10 300 "$py" "$src/bench/${args[0]}" "${args[@]:1}" 2>&1)
    rc=$?
    for p in "${pats[@]}"; do
        if ! printf '%s\n' "$out" | grep -Eq "$p"; then
            rc=${rc/#0/1}
            echo "# ${args[0]}: no line matches /$p/"
        fi
    done
    if [ "$rc" -eq 0 ]; then
        echo "ok $n - ${args[*]} ($((SECONDS - t0)) s)"
    else
        echo "not ok $n - ${args[*]} (status $rc after $((SECONDS - t0)) s)"
        printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
        fails=$((fails + 1))
    fi
}

ratio='ratio [0-9]+\.[0-9]+x'
if built POSTGRES; then
    bench bench_pg.py --rows 2000 --repeat 1 --files 2 --skip-rss --timeout 120 -- \
        "^append: .*$ratio" "^upsert: .*$ratio" "^aggregate: .*$ratio"
fi
if built POSTGRES; then
    bench bench_http.py --seconds 2 --rows 2000 --workers 2 --timeout 120 -- \
        "^put: .*requests/s, p50 .*p99 " "^post: .*$ratio"
fi
if built MYSQL; then
    bench bench_mysql.py --rows 2000 --skip-rss --timeout 120 -- \
        "^append: .*$ratio" "^upsert: .*$ratio"
fi
if built DYNAMODB; then
    bench bench_dynamodb.py --rows 1000 --repeat 1 --timeout 120 -- \
        "^moto .*$ratio" "^ratios \(boto3 time / ingestd time\): moto [0-9.]+x"
fi
if built LUA && built POSTGRES; then
    bench bench_transform.py --rows 2000 --repeat 1 --timeout 120 -- \
        "^plain: .*rows/s" "^transform: .*rows/s.*ratio [0-9]+\.[0-9]+x"
fi
echo "1..$n"
[ "$fails" -eq 0 ]
