#!/bin/bash
# The rules of ARCHITECTURE.md over the source tree: every #include under src/ against what
# its part may use, and, in a built tree, every call between src/ files (nm) the same way,
# with no circle of calls. The rules and the checks are in tests/lint_layers.py.
# Exit: 0 clean, 1 a rule broken, 77 python3 or nm absent (outside CI).
set -uo pipefail
. "$(dirname "$0")/lint-env.sh"

lint_need python3 nm
args=(--src "$src")
if [ -n "${INGESTD_BUILDDIR:-}" ] && [ -f "$INGESTD_BUILDDIR/Makefile" ]; then
    args+=(--build "$(cd "$INGESTD_BUILDDIR" && pwd)")
fi
echo "# $(python3 --version), build ${INGESTD_BUILDDIR:-none (includes only)}"
python3 "$src/tests/lint_layers.py" "${args[@]}"
