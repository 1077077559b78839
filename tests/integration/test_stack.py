#!/usr/bin/env python3
"""Proves the test harness (tests/stack.py, tests/moto_launcher.py) before anything relies on it.

moto with the launcher must accept correct signatures on awkward S3 keys, form-encoded posts and
presigned URLs, and reject a wrong secret, a skewed clock, a credential scope from another day, a
missing or wrong payload hash and an unsigned request. SQS redrive and S3 -> SQS notifications
must behave as ingestd expects. PostgreSQL and MariaDB must answer as the `ingest` user with a
password, survive stop/start, and a server that cannot start must raise with its log. It does not
test ingestd. Exit 0 when every check passes, 1 with the failures listed, 77 when a server is
absent outside CI.
"""

import datetime
import hashlib
import hmac
import json
import os
import shutil
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stack import Stack, StackError  # noqa: E402

import botocore.auth  # noqa: E402
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KEYS = ["plain.csv", "with space.csv", "a+b.csv", "x=1&y=2.csv", "(paren).csv", "bang!.csv",
        "ünïcödé/日本.csv", "double//slash.csv", "../dotdot.csv", "dir/./dot.csv",
        "tilde~*'@$,;:.csv", "percent%2F.csv", "trailing-space .csv"]

failures = []
passed = []


def check(name):
    def wrap(fn):
        def run(*a, **kw):
            t0 = time.monotonic()
            try:
                fn(*a, **kw)
            except Exception:
                failures.append(name)
                print(f"FAIL {name}\n" + "".join(
                    "    " + line for line in traceback.format_exc().splitlines(True)))
            else:
                passed.append(name)
                print(f"ok   {name} ({time.monotonic() - t0:.2f}s)")
        return run
    return wrap


def expect_error(fn, code, status=None):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got == code, f"expected {code}, got {got}: {e}"
        assert status is None or got_status == status, f"expected HTTP {status}, got {got_status}"
        return e
    raise AssertionError(f"expected {code}, but the call succeeded")


# A signer independent of botocore, so the launcher is checked against a second implementation
# and requests botocore would never send can be made.
def sign(st, method, path, query="", headers=None, body=b"", service="s3", when=None,
         scope_date=None, secret=None, payload_hash="body", signed_extra=()):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope_date = scope_date or amz_date[:8]
    host = urllib.parse.urlsplit(st.moto_url).netloc
    hdrs = {"host": host, "x-amz-date": amz_date}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    if payload_hash == "body":
        payload_hash = hashlib.sha256(body).hexdigest()
    if payload_hash is not None:
        hdrs["x-amz-content-sha256"] = payload_hash
    signed = sorted(set(hdrs) | set(signed_extra))
    pairs = sorted((urllib.parse.quote(urllib.parse.unquote(n), safe="-_.~"),
                    urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
                   for n, _, v in (p.partition("=") for p in query.split("&") if p))
    canonical = "\n".join([
        method, path, "&".join(f"{n}={v}" for n, v in pairs),
        "".join(f"{h}:{hdrs[h].strip()}\n" for h in signed), ";".join(signed),
        payload_hash if payload_hash is not None else hashlib.sha256(body).hexdigest()])
    scope = f"{scope_date}/us-east-1/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + (secret or st.secret_access_key)).encode()
    for part in (scope_date, "us-east-1", service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={st.access_key_id}/{scope}, "
                             f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    del hdrs["host"]
    return hdrs


def send(st, method, path, query="", headers=None, body=b""):
    url = st.moto_url + path + ("?" + query if query else "")
    req = urllib.request.Request(url, data=body if body else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def skewed(minutes):
    real = botocore.auth.get_current_datetime

    class Patch:
        def __enter__(self):
            botocore.auth.get_current_datetime = (
                lambda *a, **kw: real(*a, **kw) + datetime.timedelta(minutes=minutes))

        def __exit__(self, *exc):
            botocore.auth.get_current_datetime = real
    return Patch()


@check("s3 keys with awkward characters round-trip with signature checking on")
def t_keys(st):
    s3 = st.client("s3")
    st.make_bucket("keys-bucket")
    for k in KEYS:
        etag = st.put_object("keys-bucket", k, ("body of " + k).encode())
        assert len(etag) == 32, etag
        got = st.get_object("keys-bucket", k).decode()
        assert got == "body of " + k, (k, got)
        head = s3.head_object(Bucket="keys-bucket", Key=k)
        assert head["ContentLength"] == len(("body of " + k).encode())
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="keys-bucket")["Contents"])
    assert listed == sorted(KEYS), listed
    # '/' in a query parameter travels as %2F
    sub = s3.list_objects_v2(Bucket="keys-bucket", Prefix="ünïcödé/", Delimiter="/")
    assert [o["Key"] for o in sub["Contents"]] == ["ünïcödé/日本.csv"], sub
    ranged = s3.get_object(Bucket="keys-bucket", Key="a+b.csv", Range="bytes=0-3")
    assert ranged["Body"].read() == b"body"


@check("independent signer: S3 GET/PUT, form-encoded SQS POST and presigned URL accepted")
def t_independent(st):
    st.make_bucket("raw-bucket")
    body = b"id,name\n1,x\n"
    path = "/raw-bucket/" + urllib.parse.quote("in/a b+c=(1)!.csv", safe="/")
    status, resp = send(st, "PUT", path, headers=sign(st, "PUT", path, body=body), body=body)
    assert status == 200, (status, resp)
    status, resp = send(st, "GET", path, headers=sign(st, "GET", path,
                                                       payload_hash="UNSIGNED-PAYLOAD"))
    assert status == 200 and resp == body, (status, resp)
    q = "list-type=2&prefix=in%2Fa"
    status, resp = send(st, "GET", "/raw-bucket", q,
                        headers=sign(st, "GET", "/raw-bucket", q))
    assert status == 200 and b"a b+c=(1)!.csv" in resp, (status, resp)

    url, _ = st.make_queue("form-q", dlq=False)
    form = urllib.parse.urlencode({"Action": "SendMessage", "QueueUrl": url,
                                   "MessageBody": "a+b & c=d ü", "Version": "2012-11-05"})
    fbody = form.encode()
    hdrs = sign(st, "POST", "/", headers={
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=fbody, service="sqs", payload_hash=None)
    status, resp = send(st, "POST", "/", headers=hdrs, body=fbody)
    assert status == 200, (status, resp)
    msgs = st.receive_all(url, wait=0.3)
    assert [m["Body"] for m in msgs] == ["a+b & c=d ü"], msgs

    s3v4 = st.client("s3", config=botocore.config.Config(signature_version="s3v4"))
    signed_url = s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": "raw-bucket", "Key": "in/a b+c=(1)!.csv"})
    with urllib.request.urlopen(signed_url, timeout=10) as r:
        assert r.read() == body
    tampered = signed_url.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601")
    try:
        urllib.request.urlopen(tampered, timeout=10)
        raise AssertionError("tampered presigned URL accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and b"SignatureDoesNotMatch" in e.read()


@check("wrong secret is rejected with SignatureDoesNotMatch (S3, SQS JSON, DynamoDB)")
def t_wrong_secret(st):
    bad = {"aws_secret_access_key": "wrong" + st.secret_access_key[5:]}
    expect_error(lambda: st.client("s3", **bad).list_buckets(), "SignatureDoesNotMatch", 403)
    expect_error(lambda: st.client("sqs", **bad).list_queues(), "SignatureDoesNotMatch", 403)
    expect_error(lambda: st.client("dynamodb", **bad).list_tables(), "SignatureDoesNotMatch",
                 403)
    expect_error(lambda: st.client("s3", aws_access_key_id="AKIAIOSFODNN7EXAMPLE").list_buckets(),
                 "InvalidAccessKeyId", 403)
    # the independent signer with a wrong secret, and a body changed after signing
    st.make_bucket("sig-bucket")
    hdrs = sign(st, "GET", "/sig-bucket", secret="x" * 40)
    status, resp = send(st, "GET", "/sig-bucket", headers=hdrs)
    assert status == 403 and b"SignatureDoesNotMatch" in resp, (status, resp)
    hdrs = sign(st, "POST", "/", headers={"content-type": "application/x-amz-json-1.0",
                                          "x-amz-target": "AmazonSQS.ListQueues"},
                body=b"{}", service="sqs", payload_hash=None)
    status, resp = send(st, "POST", "/", headers=hdrs, body=b'{"QueueNamePrefix":"x"}')
    assert status == 403 and json.loads(resp)["__type"] == "SignatureDoesNotMatch", resp


@check("clock skew over 15 minutes: RequestTimeTooSkewed; 14 minutes accepted")
def t_skew(st):
    one = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    for minutes in (-20, 20):
        with skewed(minutes):
            sqs = st.client("sqs", config=one)
            s3 = st.client("s3", config=one)
            expect_error(sqs.list_queues, "RequestTimeTooSkewed", 403)
            expect_error(s3.list_buckets, "RequestTimeTooSkewed", 403)
    with skewed(-14):
        st.client("sqs", config=one).list_queues()
        st.client("s3", config=one).list_buckets()


@check("STS: assumed-role and web-identity session credentials work; a bad token fails")
def t_sts(st):
    import botocore
    arn = st.make_role("loader")
    c = st.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")["Credentials"]
    kw = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
          "aws_session_token": c["SessionToken"]}
    st.client("s3", **kw).list_buckets()
    st.client("sqs", **kw).list_queues()
    expect_error(st.client("sqs", **dict(kw, aws_session_token="bogus")).list_queues,
                 "InvalidClientTokenId", 403)
    anon = st.client("sts", config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    w = anon.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="web",
                                           WebIdentityToken="token-1")["Credentials"]
    st.client("s3", aws_access_key_id=w["AccessKeyId"],
              aws_secret_access_key=w["SecretAccessKey"],
              aws_session_token=w["SessionToken"]).list_buckets()


@check("moto_pause makes the endpoint hang; moto_resume brings it back with its state")
def t_pause(st):
    import socket
    st.make_bucket("pause-bucket")
    st.moto_pause()
    try:
        s = socket.create_connection(("127.0.0.1", st.moto_port), timeout=2)
        s.settimeout(0.5)
        s.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
            raise AssertionError(f"paused moto answered: {data!r}")
        except socket.timeout:
            pass
        finally:
            s.close()
    finally:
        st.moto_resume()
    assert "pause-bucket" in [b["Name"] for b in st.client("s3").list_buckets()["Buckets"]]


@check("credential scope date differing from X-Amz-Date is rejected")
def t_scope_date(st):
    st.make_bucket("scope-bucket")
    now = datetime.datetime.now(datetime.timezone.utc)
    yesterday = (now - datetime.timedelta(days=1)).strftime("%Y%m%d")
    hdrs = sign(st, "GET", "/scope-bucket", scope_date=yesterday)
    status, resp = send(st, "GET", "/scope-bucket", headers=hdrs)
    assert status == 403 and b"SignatureDoesNotMatch" in resp and b"Credential" in resp, resp
    status, resp = send(st, "GET", "/scope-bucket", headers=sign(st, "GET", "/scope-bucket"))
    assert status == 200, (status, resp)


@check("S3: missing or wrong x-amz-content-sha256, unsigned x-amz-* header, no auth")
def t_s3_payload(st):
    st.make_bucket("hash-bucket")
    path = "/hash-bucket/k.csv"
    status, resp = send(st, "PUT", path, headers=sign(st, "PUT", path, body=b"abc",
                                                       payload_hash=None), body=b"abc")
    assert status == 400 and b"x-amz-content-sha256" in resp, (status, resp)
    hdrs = sign(st, "PUT", path, body=b"abc")
    status, resp = send(st, "PUT", path, headers=hdrs, body=b"abd")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in resp, (status, resp)
    hdrs = sign(st, "PUT", path, body=b"abc")
    hdrs["x-amz-meta-extra"] = "1"
    status, resp = send(st, "PUT", path, headers=hdrs, body=b"abc")
    assert status == 403 and b"HeadersNotSigned" in resp, (status, resp)
    status, resp = send(st, "GET", path)
    assert status == 403, (status, resp)
    status, resp = send(st, "POST", "/", headers={
        "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ListQueues"},
        body=b"{}")
    assert status in (400, 403), (status, resp)


@check("SQS redrive moves a message to the DLQ after maxReceiveCount receives")
def t_redrive(st):
    sqs = st.client("sqs")
    url, dlq = st.make_queue("redrive", dlq=True, max_receive=3, visibility=30)
    st.send(url, {"n": 1})
    for i in range(1, 4):
        msgs = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0,
                                   AttributeNames=["ApproximateReceiveCount"]).get("Messages")
        assert msgs and msgs[0]["Attributes"]["ApproximateReceiveCount"] == str(i), (i, msgs)
    assert not sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages")
    moved = st.receive_all(dlq, wait=0.3)
    assert [m["body"] for m in moved] == [{"n": 1}], moved
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                        ["Attributes"]["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 3 and policy["deadLetterTargetArn"].endswith(
        ":redrive-dlq"), policy


@check("S3 put produces an ObjectCreated event in the queue (after an s3:TestEvent)")
def t_events(st):
    url, _ = st.make_queue("events", dlq=False)
    st.make_bucket("inbox", notify_queue_url=url)
    first = st.receive_all(url, wait=0.3)
    assert [m["body"].get("Event") for m in first] == ["s3:TestEvent"], first
    etag = st.put_object("inbox", "incoming/2024/data file+1.csv", b"a,b\n1,2\n")
    recs = st.s3_events(url, wait=0.3)
    assert len(recs) == 1, recs
    obj = recs[0]["s3"]["object"]
    key = urllib.parse.unquote_plus(obj["key"])
    assert key == "incoming/2024/data file+1.csv", obj
    assert obj["eTag"] == etag and obj["size"] == 8, obj
    assert recs[0]["eventName"] == "ObjectCreated:Put"
    assert recs[0]["s3"]["bucket"]["name"] == "inbox"


@check("environment: st.env() and st.aws_env carry only the stack's AWS_ variables")
def t_env(st):
    os.environ["AWS_PROFILE"] = "leaky"
    os.environ["AWS_SESSION_TOKEN"] = "leaky"
    try:
        env = st.env({"X": "1"})
        aws = sorted(k for k in env if k.startswith("AWS_"))
        assert aws == sorted(st.aws_env), aws
        assert env["AWS_ENDPOINT_URL"] == st.moto_url and env["X"] == "1"
        assert st.aws_env["AWS_REGION"] == "us-east-1"
        assert st.aws_env["AWS_EC2_METADATA_DISABLED"] == "true"
        os.environ["AWS_ENDPOINT_URL_S3"] = "http://192.0.2.1:1"
        fresh = st.client("s3", config=botocore.config.Config(connect_timeout=2))
        assert "keys-bucket" in [b["Name"] for b in fresh.list_buckets()["Buckets"]]
        del os.environ["AWS_ENDPOINT_URL_S3"]
    finally:
        del os.environ["AWS_PROFILE"], os.environ["AWS_SESSION_TOKEN"]
    text = open(st.ingestd_config("[route r]\nsink = ddb\n")).read()
    assert f"endpoint_url = {st.moto_url}" in text and st.secret_access_key in text, text
    if shutil.which("aws"):
        import subprocess
        r = subprocess.run(["aws", "s3api", "list-buckets", "--endpoint-url", st.moto_url],
                           env=st.env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "keys-bucket" in r.stdout, r.stderr


@check("PostgreSQL: ingest user over TCP with password, superuser over socket, stop/start")
def t_pg(st):
    assert st.psql("SELECT current_user, current_database()") == [("ingest", "ingest")]
    rows = st.psql("CREATE TABLE t (id int, name text); "
                   "INSERT INTO t VALUES (1, 'a,b'), (2, NULL), (3, E'x\\ny'); "
                   "SELECT * FROM t ORDER BY id")
    assert rows == [("1", "a,b"), ("2", None), ("3", "x\ny")], rows
    assert st.psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'",
                   superuser=True) == [("t",)]
    assert f"port={st.pg_port}" in st.pg_conninfo and "password=" in st.pg_conninfo
    import subprocess
    bad = subprocess.run(["psql", "-X", "-c", "SELECT 1",
                          f"host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest"],
                         env=dict(os.environ, PGPASSWORD="wrong"), capture_output=True)
    assert bad.returncode != 0 and b"password authentication failed" in bad.stderr, bad
    t0 = time.monotonic()
    st.pg_stop()
    try:
        st.psql("SELECT 1")
        raise AssertionError("PostgreSQL still answers after pg_stop")
    except StackError:
        pass
    st.pg_start()
    assert st.psql("SELECT count(*) FROM t") == [("3",)]
    st.pg_stop(mode="immediate")
    st.pg_start()
    assert st.psql("SELECT count(*) FROM t") == [("3",)]
    print(f"     pg stop+start {time.monotonic() - t0:.2f}s")


@check("MariaDB: ingest user over TCP with password, LOCAL INFILE on, stop/start")
def t_mysql(st):
    assert st.mysql("SELECT current_user(), database()") == [("ingest@127.0.0.1", "ingest")]
    rows = st.mysql("CREATE TABLE t (id int, name text); "
                    "INSERT INTO t VALUES (1, 'a\\tb'), (2, NULL), (3, 'x\\ny'); "
                    "SELECT * FROM t ORDER BY id")
    assert rows == [("1", "a\tb"), ("2", None), ("3", "x\ny")], rows
    assert st.mysql("SELECT @@local_infile, @@bind_address", root=True) == [("1", "127.0.0.1")]
    import subprocess
    bad = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P",
                          str(st.mysql_port), "-u", "ingest", "-pwrong", "-e", "SELECT 1"],
                         capture_output=True)
    assert bad.returncode != 0 and b"Access denied" in bad.stderr, bad
    t0 = time.monotonic()
    st.mysql_stop()
    try:
        st.mysql("SELECT 1")
        raise AssertionError("MariaDB still answers after mysql_stop")
    except StackError:
        pass
    st.mysql_start()
    assert st.mysql("SELECT count(*) FROM t") == [("3",)]
    st.mysql_stop(kill=True)
    st.mysql_start()
    assert st.mysql("SELECT count(*) FROM t") == [("3",)]
    print(f"     mariadb stop+start {time.monotonic() - t0:.2f}s")


@check("a server that cannot start raises StackError with its log; nothing is left running")
def t_start_failure():
    try:
        with Stack(moto=False, postgres=True, pg_options={"no_such_setting": "1"}):
            raise AssertionError("PostgreSQL started with a bad setting")
    except StackError as e:
        assert "no_such_setting" in str(e), str(e)
    try:
        with Stack(moto=False, mariadb=True, mysql_options=["--no-such-option=1"]):
            raise AssertionError("MariaDB started with a bad option")
    except StackError as e:
        assert "no-such-option" in str(e), str(e)


def pids_alive(pids):
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    continue
            alive.append(pid)
        except (ProcessLookupError, FileNotFoundError):
            pass
    return alive


def servers_present():
    missing = [b for b in ("psql", "mariadb", "mariadbd") if not shutil.which(b) and
               not os.path.exists("/usr/sbin/" + b)]
    if not os.path.exists("/usr/lib/postgresql"):
        missing.append("postgresql server")
    return missing


def main():
    missing = servers_present()
    if missing:
        print(f"missing: {', '.join(missing)}")
        if os.environ.get("CI") != "true":
            return 77
    t0 = time.monotonic()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        print("start times: " + ", ".join(f"{k} {v:.2f}s" for k, v in st.timings.items()))
        pids = [p.p.pid for p in st._procs.values()]
        tmp = st.tmp
        t_keys(st)
        t_independent(st)
        t_wrong_secret(st)
        t_skew(st)
        t_scope_date(st)
        t_sts(st)
        t_pause(st)
        t_s3_payload(st)
        t_redrive(st)
        t_events(st)
        t_env(st)
        t_pg(st)
        t_mysql(st)

    @check("closing the stack stops every server and removes the temp dir")
    def t_closed():
        assert not pids_alive(pids), pids_alive(pids)
        assert not os.path.exists(tmp), tmp
    t_closed()
    t_start_failure()
    print(f"{len(passed)} passed, {len(failures)} failed in {time.monotonic() - t0:.1f}s")
    for f in failures:
        print(f"failed: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
