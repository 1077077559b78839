#!/bin/bash
# tests/install-python-deps.sh on machines that lack the Python modules, without changing this
# one: a fake python3 that has only the modules in $FAKE_PY_MODULES stands for the system's
# (or another) interpreter, the script runs with INSTALL_DEPS_DRY_RUN=1 (it prints its steps as
# "plan: ..."), and the package index is a local HTTP server (reachable) or a closed loopback
# port (unreachable). Also the real /usr/bin/python3 when it lacks moto, as on a fresh Debian 12.
set -u
src=${INGESTD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
script="$src/tests/install-python-deps.sh"
tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0
fails=0

mkdir -p "$tmp/py" "$tmp/bin" "$tmp/index/moto"
fake="$tmp/py/python3"
cat >"$fake" <<'PY'
#!/bin/bash
# A python3 that has only the modules named in $FAKE_PY_MODULES.
[ "${1:-}" = -c ] || exit 1
case "$2" in
    'import sys; print(sys.executable)') echo "$0" ;;
    import\ *)
        for m in ${2#import }; do
            case " ${FAKE_PY_MODULES:-} " in *" ${m%,} "*) ;; *) exit 1 ;; esac
        done ;;
    *) exit 1 ;;
esac
PY
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/aws"
chmod +x "$fake" "$tmp/bin/aws"
echo '<html><body></body></html>' >"$tmp/index/moto/index.html"

# A package index on loopback that answers for moto.
python3 - "$tmp/index" >"$tmp/port" 2>/dev/null <<'PY' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
print(srv.server_port, flush=True)
srv.serve_forever()
PY
server=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
up="http://127.0.0.1:$(cat "$tmp/port")/"
down="http://127.0.0.1:1/"
venv="$tmp/venv"
pip_line="plan: $venv/bin/python3 -m pip install -q --disable-pip-version-check"

# run MODULES SYSTEM_PYTHON AWS INDEX [PYTHON]: the script's stdout, stderr and status.
run() {
    FAKE_PY_MODULES=$1 INGESTD_PYTHON=${5:-$fake} INGESTD_SYSTEM_PYTHON=$2 INGESTD_AWS_CLI=$3 \
        PIP_INDEX_URL=$4 INGESTD_VENV="$venv" INSTALL_DEPS_DRY_RUN=1 \
        bash "$script" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

check() {
    n=$((n + 1))
    if [ "$2" = ok ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '# status %s\n# stdout:\n%s\n# stderr:\n%s\n' "$rc" "$out" "$err" | sed '2,$s/^/# /'
        fails=$((fails + 1))
    fi
}

expect() { # NAME EXPECTED_STATUS EXPECTED_STDOUT
    if [ "$rc" = "$2" ] && [ "$out" = "$3" ]; then check "$1" ok; else check "$1" bad; fi
}

all="boto3 botocore moto flask_cors venv ensurepip"

run "$all" "$fake" "$tmp/bin/aws" "$down"
expect "everything there: nothing to do, no network" 0 ""
[ -z "$err" ] || check "everything there: silent" bad

run "" "$fake" "$tmp/nowhere/aws" "$up"
expect "fresh Debian python3: boto3 and awscli from apt, moto with pip into a venv" 0 \
"plan: apt-get install -y python3-boto3 python3-venv awscli
plan: $fake -m venv --system-site-packages $venv
$pip_line moto[server]==5.2.1"

run "" "$fake" "$tmp/nowhere/aws" "$down"
lines=$(printf '%s' "$err" | wc -l)
if [ "$rc" = 1 ] && [ -z "$out" ] && [ "$lines" -eq 0 ] &&
    [[ "$err" == "install-deps: moto is missing and http://127.0.0.1:1/ does not answer: run apt-get install python3-boto3 python3-venv awscli && $fake -m venv --system-site-packages $venv && $venv/bin/pip install 'moto[server]==5.2.1' where it does, or set PYTHON3 to a python3 with boto3, botocore and moto" ]]; then
    check "index unreachable: nothing done, one line saying what to run" ok
else
    check "index unreachable: nothing done, one line saying what to run" bad
fi

run "boto3 botocore venv ensurepip" "$fake" "$tmp/bin/aws" "$up"
expect "Debian's boto3 suffices: only moto with pip" 0 \
"plan: $fake -m venv --system-site-packages $venv
$pip_line moto[server]==5.2.1"

run "" /usr/bin/python3 "$tmp/bin/aws" "$up"
expect "a python3 apt does not serve: boto3, botocore and moto with pip" 0 \
"plan: $fake -m venv --system-site-packages $venv
$pip_line boto3 botocore moto[server]==5.2.1"

run "$all" "$fake" "$tmp/nowhere/aws" "$down"
expect "only the aws command missing: awscli from apt, no index needed" 0 \
"plan: apt-get install -y awscli"

if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import moto' >/dev/null 2>&1; then
    run "" /usr/bin/python3 "$tmp/bin/aws" "$down" /usr/bin/python3
    if [ "$rc" = 1 ] && [ -z "$out" ] && [[ "$err" == "install-deps: moto is missing and "*"/usr/bin/python3 -m venv --system-site-packages $venv && $venv/bin/pip install"*"'moto[server]==5.2.1' where it does"* ]]; then
        check "the real /usr/bin/python3 without moto: one line naming the venv and pip" ok
    else
        check "the real /usr/bin/python3 without moto: one line naming the venv and pip" bad
    fi
else
    n=$((n + 1))
    echo "ok $n - # SKIP /usr/bin/python3 has moto (or is absent)"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
