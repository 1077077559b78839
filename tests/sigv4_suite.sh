#!/bin/sh
# Runs tests/sigv4_suite over AWS's SigV4 suite (data/sigv4-suite/v4, vendored with its license)
# and ingestd's own cases (data/sigv4). Both ship with the tree, so this never skips.
set -u
src=${INGESTD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${INGESTD_BUILDDIR:-$src}
suite="$src/data/sigv4-suite/v4"
if [ ! -d "$suite" ]; then
    echo "FAIL: $suite is absent" >&2
    exit 1
fi
exec "$build/tests/sigv4_suite" "$suite" "$src/data/sigv4"
