#!/bin/bash
# The demo command: install what is missing, build, and run tests/demo.py (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
if [ ! -x build/ingestd ] || [ -n "$(find src -newer build/ingestd -print -quit 2>/dev/null)" ]; then
    echo "== building ingestd"
    mkdir -p m4 build
    autoreconf -fi >/dev/null 2>&1
    (cd build && ../configure -q && make -j2 -s ingestd)
fi
. tests/find-python.sh
py=$(ingestd_find_python) || py=python3
export PATH="$(dirname "$(command -v "$py")"):$PATH"
exec "$py" tests/demo.py --ingestd build/ingestd "$@"
