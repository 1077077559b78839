# find-python.sh: sourced (bash) by tests/run.sh, tests/demo.sh and tests/install-python-deps.sh.
#
# ingestd_find_python prints the path of the first python3 that imports what the integration
# tests, the demo and the benchmarks need (boto3, botocore, and moto with its server parts) and
# returns 0; it returns 1 when there is none. Candidates, in order: $PYTHON3, python3 on PATH,
# tests/.venv (made by install-python-deps.sh), pyenv's interpreters, /usr/local/bin/python3,
# /usr/bin/python3. When INGESTD_PYTHON is set it is the only candidate.

INGESTD_PY_IMPORTS='import boto3, botocore, moto, flask_cors'
INGESTD_PY_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ingestd_find_python() {
    local c cands=()

    if [ -n "${INGESTD_PYTHON:-}" ]; then
        cands=("$INGESTD_PYTHON")
    else
        cands=("${PYTHON3:-}" python3 "$INGESTD_PY_TOP/tests/.venv/bin/python3"
               "${HOME:-/root}/.pyenv/shims/python3" /root/.pyenv/versions/*/bin/python3
               /usr/local/bin/python3 /usr/bin/python3)
    fi
    for c in "${cands[@]}"; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c "$INGESTD_PY_IMPORTS" >/dev/null 2>&1; then
            "$c" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}
