#!/bin/bash
# Installs the Debian 12 packages needed to build ingestd and run its tests.
#
# Idempotent and quiet: when every package is already installed it does nothing (and needs no
# network); otherwise it runs apt-get update + apt-get install -y for the missing ones and shows
# apt's output only if that fails. Uses sudo when not root. The postgresql and mariadb-server
# packages' own services are neither needed nor started: the tests run their own servers
# (tests/stack.py), so service starts are blocked with a temporary policy-rc.d during the install.
# Last, tests/install-python-deps.sh makes sure of boto3, botocore, moto and awscli (Debian's
# packages where they suffice, moto with pip into tests/.venv) or stops with one line saying
# what to run.
# debhelper, lintian and mmdebstrap serve the packaging and container tests (tests/deploy/).
set -euo pipefail

PACKAGES=(
    build-essential autoconf automake libtool pkg-config make
    libcurl4-openssl-dev libssl-dev libpq-dev libmariadb-dev libcsv-dev libjansson-dev
    libsystemd-dev zlib1g-dev libzstd-dev libinih-dev liblua5.4-dev libmicrohttpd-dev
    postgresql postgresql-client mariadb-server mariadb-client
    mandoc valgrind clang libclang-rt-14-dev systemd curl ca-certificates
    cppcheck clang-tidy clang-format
    python3 gzip zstd procps
    debhelper dpkg-dev lintian man-db mmdebstrap shellcheck
)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: not root and no sudo" >&2
        exit 1
    fi
    SUDO=(sudo -n)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        # exit 101: "action forbidden", so package scripts do not start database services.
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        made_policy=1
    fi
    rc=0
    {
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}"
    } >"$log" 2>&1 || rc=$?
    if [ "$made_policy" = 1 ]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
    if [ "$rc" -ne 0 ]; then
        echo "install-deps: apt-get failed (status $rc) installing: ${missing[*]}" >&2
        tail -n 40 "$log" >&2
        exit "$rc"
    fi
fi

# The test servers run as these system users when the tests run as root.
for u in postgres mysql; do
    if ! id "$u" >/dev/null 2>&1; then
        echo "install-deps: system user $u is missing (its server package did not create it)" >&2
        exit 1
    fi
done

# -- dynalite: the DynamoDB emulator of tests/integration/test_sink_dynamodb.py --
# `npm ci` into tests/node_modules (gitignored) at the version locked in tests/package-lock.json;
# nothing to do when that version is already there. A failure only warns: the DynamoDB test then
# reports dynalite as missing (a failure under CI=true) while every other test still runs.
tests_dir=$(cd "$(dirname "$0")" && pwd)
if [ -f "$tests_dir/package-lock.json" ]; then
    want=$(sed -n 's/.*"dynalite": "\([0-9.]*\)".*/\1/p' "$tests_dir/package.json" | head -n 1)
    have=$(node -p "require('$tests_dir/node_modules/dynalite/package.json').version" 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
        if ! command -v npm >/dev/null; then
            echo "install-deps: npm not found: dynalite (DynamoDB tests) not installed" >&2
        elif ! (cd "$tests_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
            echo "install-deps: npm ci failed in $tests_dir: dynalite not installed" >&2
        fi
    fi
fi

# -- Python modules of the integration tests, the demo and the benchmarks --
bash "$tests_dir/install-python-deps.sh"
