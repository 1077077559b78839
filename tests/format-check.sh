#!/bin/bash
# clang-format --dry-run -Werror over every .c and .h under src/ and tests/ (tests/node_modules
# aside) with the top-level .clang-format:
# fails when any file would change, listing each such file and the number of lines that would.
# To fix: clang-format -i FILE. Nothing is modified here.
# Exit: 0 formatted, 1 not, 77 clang-format absent (outside CI).
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

fmt=
for t in clang-format-14 clang-format; do
    command -v "$t" >/dev/null 2>&1 && { fmt=$t; break; }
done
lint_need "${fmt:-clang-format}"
cd "$src" || exit 1
mapfile -t files < <(find src tests -path tests/node_modules -prune -o -name '*.[ch]' -print |
    LC_ALL=C sort)
echo "# $("$fmt" --version | sed 's/^.*clang-format/clang-format/'), ${#files[@]} files"

bad=0 lines=0
for f in "${files[@]}"; do
    if ! "$fmt" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
        n=$("$fmt" --style=file "$f" | diff "$f" - | grep -c '^[<>]')
        echo "not formatted: $f ($n diff lines)"
        bad=$((bad + 1))
        lines=$((lines + n))
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "FAIL: $bad of ${#files[@]} files need clang-format ($lines diff lines);" \
        "first differences:"
    for f in "${files[@]}"; do
        "$fmt" --style=file --dry-run -Werror "$f" 2>&1 | head -n 6
        [ "${PIPESTATUS[0]}" -ne 0 ] && break
    done
    exit 1
fi
echo "PASS: ${#files[@]} files formatted"
