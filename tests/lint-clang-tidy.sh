#!/bin/bash
# clang-tidy over every src/**/*.c (and, through HeaderFilterRegex, the src/**/*.h they include) with
# the checks in .clang-tidy and the flags the build compiles with. Any finding fails: the
# configuration turns every enabled check into an error. Fix the code, or for a false positive
# add `/* NOLINT(check): reason */` on the line. Files not yet listed in Makefile.am are checked
# too. Runs $JOBS (default 2) clang-tidy processes at a time.
# Exit: 0 clean, 1 findings or a file that does not compile, 77 clang-tidy absent (outside CI).
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

tidy=
for t in clang-tidy-14 clang-tidy; do
    command -v "$t" >/dev/null 2>&1 && { tidy=$t; break; }
done
lint_need "${tidy:-clang-tidy}"
lint_build
lint_cflags
lint_sources

out=$(mktemp -d "${TMPDIR:-/tmp}/ingestd-tidy.XXXXXX")
trap 'rm -rf "$out"; lint_cleanup' EXIT
cd "$build" || exit 1
echo "# $tidy $("$tidy" --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -n 1)," \
    "${#SOURCES_LINT[@]} files, flags: ${CFLAGS_LINT[*]}"
export tidy out src
printf '%s\n' "${SOURCES_LINT[@]}" |
    xargs -P "${JOBS:-2}" -I{} bash -c '
        f=$1; shift
        rel=${f#"$src"/}
        log="$out/${rel//\//:}.log"
        if "$tidy" --quiet "$f" -- "$@" >"$log" 2>&1; then
            rm -f "$log"
        fi' _ {} "${CFLAGS_LINT[@]}"

bad=0
for log in "$out"/*.log; do
    [ -e "$log" ] || continue
    bad=$((bad + 1))
    name=$(basename "$log" .log)
    echo "---- ${name//://}"
    grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Use -system-headers' "$log" |
        sed "s|$src/||g"
done
if [ "$bad" -gt 0 ]; then
    echo "FAIL: clang-tidy findings in $bad of ${#SOURCES_LINT[@]} files"
    exit 1
fi
echo "PASS: clang-tidy clean on ${#SOURCES_LINT[@]} files"
