#!/bin/bash
# Makes sure the tests, the demo and the benchmarks have a python3 with boto3, botocore and
# moto 5.2 (with its server parts), and the aws command (the demo uploads with it). Run by
# tests/install-deps.sh; idempotent, and silent when there is nothing to do.
#
#   1. Nothing to do when tests/find-python.sh finds such a python3 and `aws` is on PATH.
#   2. Otherwise, with apt-get: Debian's python3-boto3 (with python3-botocore) for the system
#      python3 and awscli where they are missing, python3-venv when moto is; then moto, which
#      Debian 12 does not package, with pip into the virtual environment tests/.venv (made with
#      --system-site-packages, so Debian's boto3 serves), when the package index answers
#      (PIP_INDEX_URL, default https://pypi.org/simple). When the python3 in use is not the
#      system's, apt cannot add modules to it: boto3 and botocore then come from pip as well.
#   3. Otherwise it stops (status 1) with one line on stderr saying what to run.
#
# Environment: INGESTD_PYTHON: the only python3 to consider (default: the search of
# find-python.sh, then the system python3); INGESTD_SYSTEM_PYTHON: the one apt installs modules
# for (default /usr/bin/python3); INGESTD_AWS_CLI: the aws command to look for (default aws);
# INGESTD_VENV: the virtual environment (default tests/.venv); INSTALL_DEPS_DRY_RUN=1: print
# every step as "plan: COMMAND" and change nothing (tests/test_install_python_deps.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/find-python.sh
. "$here/find-python.sh"

MOTO_REQ='moto[server]==5.2.1'
sys_py=${INGESTD_SYSTEM_PYTHON:-/usr/bin/python3}
aws_cli=${INGESTD_AWS_CLI:-aws}
venv=${INGESTD_VENV:-$here/.venv}
index=${PIP_INDEX_URL:-https://pypi.org/simple}
dry=${INSTALL_DEPS_DRY_RUN:-0}

die() {
    echo "install-deps: $*" >&2
    exit 1
}

step() {
    if [ "$dry" = 1 ]; then
        echo "plan: $*"
    else
        "$@"
    fi
}

has() { "$1" -c "import $2" >/dev/null 2>&1; }

# The aws command on PATH, or beside the python3 found (tests/demo.sh puts that directory first).
has_aws() {
    command -v "$aws_cli" >/dev/null 2>&1 ||
        { [ -n "$found" ] && [ "$aws_cli" = aws ] && [ -x "$(dirname "$found")/aws" ]; }
}

found=$(ingestd_find_python) || found=""
if [ -n "$found" ]; then
    has_aws && exit 0
    py=$found
else
    py=${INGESTD_PYTHON:-$sys_py}
fi
command -v "$py" >/dev/null 2>&1 || die "no python3 at $py: apt-get install python3, then run tests/install-deps.sh again"
is_sys=0
[ "$(readlink -f "$(command -v "$py")")" = "$(readlink -f "$sys_py")" ] && is_sys=1

apt=()
pip=()
if ! has "$py" 'boto3, botocore'; then
    if [ "$is_sys" = 1 ]; then apt+=(python3-boto3); else pip+=(boto3 botocore); fi
fi
need_moto=0
if ! has "$py" 'moto, flask_cors'; then
    need_moto=1
    pip+=("$MOTO_REQ")
    [ "$is_sys" = 1 ] && ! has "$py" 'venv, ensurepip' && apt+=(python3-venv)
fi
has_aws || apt+=(awscli)

# PyPI is the only source of moto here. Ask it before changing anything, so that an
# unreachable index is one clear line rather than a half-done install, pip's retries and a
# traceback.
if [ ${#pip[@]} -gt 0 ] && ! curl -fsS -m 20 -o /dev/null "${index%/}/moto/" 2>/dev/null; then
    todo=""
    [ ${#apt[@]} -gt 0 ] && todo="apt-get install ${apt[*]} && "
    todo+="$py -m venv --system-site-packages $venv && $venv/bin/pip install$(printf " '%s'" "${pip[@]}")"
    what=moto
    [ "$need_moto" = 1 ] || what="boto3"
    die "$what is missing and ${index%/}/ does not answer: run $todo where it does, or set PYTHON3 to a python3 with boto3, botocore and moto"
fi

if [ ${#apt[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: install ${apt[*]} (or their equivalents) yourself, or set PYTHON3 to a python3 that has boto3, botocore and moto"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run apt-get install ${apt[*]} as root"
        sudo=(sudo -n)
    fi
    if [ "$dry" = 1 ]; then
        step apt-get install -y "${apt[@]}"
    else
        log=$(mktemp)
        if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
               "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                   --no-install-recommends "${apt[@]}"; } >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            die "apt-get install ${apt[*]} failed (output above)"
        fi
        rm -f "$log"
    fi
fi

if [ ${#pip[@]} -gt 0 ]; then
    step "$py" -m venv --system-site-packages "$venv"
    step "$venv/bin/python3" -m pip install -q --disable-pip-version-check "${pip[@]}"
    if [ "$dry" != 1 ]; then
        has "$venv/bin/python3" "${INGESTD_PY_IMPORTS#import }" ||
            die "$venv/bin/python3 still cannot $INGESTD_PY_IMPORTS after pip install ${pip[*]}"
    fi
fi
exit 0
