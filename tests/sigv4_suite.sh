#!/bin/sh
# Runs tests/sigv4_suite over AWS's SigV4 suite and ingestd's own cases (data/sigv4).
# The AWS suite is not part of the repository: it sits next to it, at ../shared/sigv4-suite,
# as in CI. Outside CI its absence skips the test (77); with CI=true it is a failure.
set -u
src=${INGESTD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${INGESTD_BUILDDIR:-$src}
# INGESTD_SHARED_DIR: where ../shared is when the tree was copied (make distcheck).
suite="${INGESTD_SHARED_DIR:-$src/../shared}/sigv4-suite/v4"
if [ ! -d "$suite" ]; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL: $suite is absent" >&2
        exit 1
    fi
    echo "SKIP: $suite is absent"
    exit 77
fi
exec "$build/tests/sigv4_suite" "$suite" "$src/data/sigv4"
