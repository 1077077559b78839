#!/bin/bash
# cppcheck over every src/**/*.c (files not yet listed in Makefile.am included) with the warning,
# performance and portability checks, config.h forced in as the build does. Any finding fails.
# Fix the code, or for a false positive put `// cppcheck-suppress ID` with the reason on the
# line above. Style findings are not enabled: clang-tidy and the compiler cover those.
# Exit: 0 clean, 1 findings, 77 cppcheck absent (outside CI).
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

lint_need cppcheck
lint_build
lint_sources

echo "# $(cppcheck --version), ${#SOURCES_LINT[@]} files"
cd "$src" || exit 1
cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
    --std=c11 -j "${JOBS:-2}" -I src --include="$build/config.h" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]\n{code}' \
    "${SOURCES_LINT[@]/#$src\//}" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: cppcheck findings (status $rc)"
    exit 1
fi
echo "PASS: cppcheck clean on ${#SOURCES_LINT[@]} files"
