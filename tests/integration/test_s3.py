#!/usr/bin/env python3
"""The S3 client (src/aws/s3.c) against moto with exact SigV4 checking, through tests/aws/s3get.

Covers key encoding (reserved characters, non-ASCII, "//", "./", "../", a 1000-byte key),
byte-exact multi-MB downloads with a flat memory profile, If-Match (right and wrong ETag),
NoSuchKey, a wrong secret, version ids, ranged starts, a consumer abort, and the failure
paths behind tests/cut_proxy.py: a body cut mid-way (resumed with Range + If-Match), an
object overwritten between the cut and the resume (PreconditionFailed, nothing spliced),
503 SlowDown once then success, SlowDown until the attempts run out, a stalled body that
trips the low-speed limit and is resumed, and a bad Content-Range that is not used; then,
behind tests/fault_proxy.py, failures before the first byte (TCP reset, a dropped or unanswered
request, 500/502, a 403 that must not be retried, cancellation) and a signing clock an hour
off; and TLS: verified against a private CA only when it is given, resumable like plain HTTP.
"""
import hashlib
import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from cut_proxy import CutProxy  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from stack import Stack, StackError  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
S3GET = os.path.join(BUILD, "tests", "aws", "s3get")
IN_CI = os.environ.get("CI") == "true"

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-20:]:
            print("#   " + line, flush=True)


class Run:
    def __init__(self, proc, rusage=None):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr.decode("utf-8", "replace")
        self.rusage = rusage
        last = self.err.strip().splitlines()[-1] if self.err.strip() else ""
        self.kind = last.split(":", 1)[0]
        self.fields = dict(re.findall(r"(\w+)=(\S*)", last.split(" message=")[0]))

    def __getitem__(self, k):
        return self.fields.get(k)

    def __repr__(self):
        return "rc=%d stderr=%s" % (self.rc, self.err[-1500:])


def s3get(st, bucket, key, *args, env=None, endpoint=None, timeout=120):
    e = st.env(env or {})
    if endpoint is not None:
        e["AWS_ENDPOINT_URL"] = endpoint
    argv = [S3GET, *args, "s3://%s/%s" % (bucket, key)]
    p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=timeout)
    p.stdout = out
    p.stderr = err
    return Run(p)


def measure_rss(st, bucket, key):
    code = ("import os,subprocess,sys,resource\n"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", code, S3GET, "--count",
                        "s3://%s/%s" % (bucket, key)], env=st.env(), capture_output=True,
                       timeout=120)
    rc, rss = r.stdout.split()
    return int(rc), int(rss)


def counted(data):
    return ("bytes=%d sha256=%s\n" % (len(data), hashlib.sha256(data).hexdigest())).encode()


def range_of(head):
    m = re.search(r"(?im)^range:\s*(.*?)\r?$", head)
    return m.group(1) if m else None


def if_match_of(head):
    m = re.search(r"(?im)^if-match:\s*(.*?)\r?$", head)
    return m.group(1) if m else None


KEYS = [
    "plain.csv",
    "with space.csv",
    "plus+sign.csv",
    "eq=amp&pct%25%.csv",
    "paren(1)!bang.csv",
    "caf\u00e9/\u00fcber/\u65e5\u672c.csv",
    "double//slash.csv",
    "./dot-start.csv",
    "a/./dot/../dotdot.csv",
    "../parent.csv",
    "tilde~star*quote'.csv",
    "long/" + "\u00e9" * 300 + "x" * 400,
]


def test_keys(st, s3):
    for key in KEYS:
        body = ("row for %r\n" % key).encode() * 3
        s3.put_object(Bucket="bkt", Key=key, Body=body)
        r = s3get(st, "bkt", key)
        check("GET key %r byte-exact" % key[:40], r.rc == 0 and r.out == body, r)
    key = KEYS[-1]
    check("the long key is 1000+ bytes", len(key.encode()) >= 1000, len(key.encode()))
    head = s3.head_object(Bucket="bkt", Key=KEYS[5])
    r = s3get(st, "bkt", KEYS[5], "--head")
    check("HEAD non-ASCII key: size and ETag",
          r.rc == 0 and r["size"] == str(head["ContentLength"]) and r["etag"] == head["ETag"]
          and r.out == b"", r)


def test_big(st, s3, big, big_etag):
    r = s3get(st, "bkt", "big.bin", "--count")
    check("8 MiB object byte-exact (sha256)", r.rc == 0 and r.out == counted(big), r)
    check("8 MiB: one request, ETag and size reported",
          r["requests"] == "1" and r["etag"] == '"%s"' % big_etag
          and r["size"] == str(len(big)), r)
    r = s3get(st, "bkt", "big.bin", "--count", "--repeat", "3")
    check("handle reused for 3 GETs", r.rc == 0 and r.out == counted(big), r)
    path = st.path("big.out")
    r = s3get(st, "bkt", "big.bin", "-o", path)
    with open(path, "rb") as f:
        check("8 MiB written to a file byte-exact", r.rc == 0 and f.read() == big, r)

    # Memory stays flat: 48 MiB more object must not mean 48 MiB more memory.
    s3.put_object(Bucket="bkt", Key="huge.bin", Body=os.urandom(1 << 20) * 56)
    rc1, rss_small = measure_rss(st, "bkt", "big.bin")
    rc2, rss_huge = measure_rss(st, "bkt", "huge.bin")
    check("memory flat: 56 MiB GET uses < 16 MiB more than 8 MiB GET",
          rc1 == 0 and rc2 == 0 and rss_huge - rss_small < 16 * 1024,
          "rss 8MiB=%d KiB, 56MiB=%d KiB" % (rss_small, rss_huge))


def test_errors(st, s3, big_etag):
    r = s3get(st, "bkt", "big.bin", "--count", "--if-match", big_etag)
    check("If-Match with the right (unquoted) ETag", r.rc == 0, r)
    r = s3get(st, "bkt", "big.bin", "--count", "--if-match", '"%s"' % big_etag)
    check("If-Match with the right (quoted) ETag", r.rc == 0, r)
    r = s3get(st, "bkt", "big.bin", "--if-match", "0123456789abcdef0123456789abcdef")
    check("If-Match wrong ETag -> PreconditionFailed 412, not retryable",
          r.rc == 1 and r["code"] == "PreconditionFailed" and r["status"] == "412"
          and r["retryable"] == "0" and r["requests"] == "1" and r.out == b"", r)
    r = s3get(st, "bkt", "big.bin", "--head", "--if-match", "0123456789abcdef0123456789abcdef")
    check("HEAD If-Match wrong ETag -> PreconditionFailed",
          r.rc == 1 and r["code"] == "PreconditionFailed" and r["status"] == "412", r)
    r = s3get(st, "bkt", "no/such key.csv")
    check("missing key -> NoSuchKey 404, not retryable",
          r.rc == 1 and r["code"] == "NoSuchKey" and r["status"] == "404"
          and r["retryable"] == "0" and r["requests"] == "1", r)
    r = s3get(st, "bkt", "no/such key.csv", "--head")
    check("HEAD missing key -> NoSuchKey 404", r.rc == 1 and r["code"] == "NoSuchKey"
          and r["status"] == "404", r)
    r = s3get(st, "bkt", "plain.csv", env={"AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    check("wrong secret -> SignatureDoesNotMatch 403, not retryable",
          r.rc == 1 and r["code"] == "SignatureDoesNotMatch" and r["status"] == "403"
          and r["retryable"] == "0", r)
    r = s3get(st, "bkt", "plain.csv", "--anonymous")
    check("unsigned request refused by the auth-checking server", r.rc == 1
          and r["status"] == "403", r)
    r = s3get(st, "bkt", "big.bin", "--count", "--abort-after", "100000")
    check("consumer abort -> Aborted, not retryable, single request",
          r.rc == 1 and r["code"] == "Aborted" and r["retryable"] == "0"
          and r["requests"] == "1", r)


def test_offset_and_versions(st, s3, big):
    r = s3get(st, "bkt", "big.bin", "--count", "--offset", "1000001")
    check("--offset N returns bytes N.. (206)", r.rc == 0 and r.out == counted(big[1000001:])
          and r["size"] == str(len(big)), r)
    r = s3get(st, "bkt", "big.bin", "--offset", str(len(big) + 10))
    check("offset past the end -> InvalidRange 416", r.rc == 1 and r["status"] == "416"
          and r["code"] == "InvalidRange", r)

    s3.create_bucket(Bucket="vers")
    s3.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="vers", Key="k v.csv", Body=b"version one\n")["VersionId"]
    s3.put_object(Bucket="vers", Key="k v.csv", Body=b"version two\n")
    r = s3get(st, "vers", "k v.csv", "--version-id", v1)
    check("versionId fetches the old version", r.rc == 0 and r.out == b"version one\n"
          and r["version_id"] == v1, r)
    r = s3get(st, "vers", "k v.csv")
    check("no versionId fetches the current one", r.rc == 0 and r.out == b"version two\n", r)


def test_faults(st, s3, big, big_etag):
    moto_port = st.moto_port
    cut = 3 * (1 << 20) + 12345
    with CutProxy(moto_port) as px:
        px.set_plan([("cut", cut)])
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", endpoint=px.url)
        check("cut mid-body: resumed, byte-exact", r.rc == 0 and r.out == counted(big), r)
        check("cut mid-body: 2 requests, 1 resume", r["requests"] == "2"
              and r["resumes"] == "1", r)
        heads = list(px.requests)
        check("resume asked for Range: bytes=%d- with If-Match on the ETag" % cut,
              len(heads) == 2 and range_of(heads[0]) is None
              and range_of(heads[1]) == "bytes=%d-" % cut
              and if_match_of(heads[1]) == '"%s"' % big_etag, heads)

        # Two cuts in a row, then success: progress resets the failure count.
        px.set_plan([("cut", 1 << 20), ("cut", 1 << 20), ("cut", 1 << 20)])
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10",
                  "--max-attempts", "2", endpoint=px.url)
        check("three cuts with progress each time: still byte-exact",
              r.rc == 0 and r.out == counted(big) and r["requests"] == "4"
              and [range_of(h) for h in px.requests] ==
              [None, "bytes=1048576-", "bytes=2097152-", "bytes=3145728-"],
              (r, [range_of(h) for h in px.requests]))

        # Overwritten between the cut and the resume: no splice, a superseded error.
        s3.put_object(Bucket="bkt", Key="changing.bin", Body=big)
        other = os.urandom(len(big))
        px.set_plan([("cut_then", 1 << 20, lambda: s3.put_object(
            Bucket="bkt", Key="changing.bin", Body=other))])
        r = s3get(st, "bkt", "changing.bin", "--backoff-ms", "10", endpoint=px.url)
        check("object replaced mid-download -> PreconditionFailed, not spliced",
              r.rc == 1 and r["code"] == "PreconditionFailed" and r["retryable"] == "0"
              and r.out == big[: 1 << 20] and r["requests"] == "2", r)

        slowdown = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n")
        body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
                b"<Message>Please reduce your request rate.</Message></Error>")
        reply = slowdown % len(body) + body
        px.set_plan([("reply", reply)])
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", endpoint=px.url)
        check("503 SlowDown once, then success", r.rc == 0 and r.out == counted(big)
              and r["requests"] == "2" and range_of(px.requests[1]) is None, r)

        px.set_plan([("reply", reply)] * 10)
        t0 = time.monotonic()
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10",
                  "--max-attempts", "3", endpoint=px.url)
        check("SlowDown every time: gives up after 3 attempts, retryable + throttling",
              r.rc == 1 and r["code"] == "SlowDown" and r["status"] == "503"
              and r["retryable"] == "1" and r["throttling"] == "1" and r["requests"] == "3"
              and time.monotonic() - t0 < 10, r)

        px.set_plan([("stall", 512 * 1024, 30)])
        t0 = time.monotonic()
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10",
                  "--low-speed-time", "2", "--low-speed-limit", "1000", endpoint=px.url)
        took = time.monotonic() - t0
        check("stalled body: low-speed limit trips, resumed byte-exact",
              r.rc == 0 and r.out == counted(big) and r["requests"] == "2"
              and range_of(px.requests[1]) == "bytes=524288-", r)
        # curl averages the speed over its last ~5 s of samples, so a 2 s limit trips
        # some 5-8 s after the burst; 30 s would mean the limit was not applied.
        check("stall detected well before the proxy gives up (%.1f s)" % took, 1.5 < took < 20)

        # A 206 that starts at the wrong byte is not used; the next request is.
        bad = (b"HTTP/1.1 206 Partial Content\r\nETag: \"%s\"\r\n"
               b"Content-Range: bytes 0-9/%d\r\nContent-Length: 10\r\nConnection: close\r\n"
               b"\r\n0123456789" % (big_etag.encode(), len(big)))
        px.set_plan([("cut", 2 << 20), ("reply", bad)])
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", endpoint=px.url)
        check("206 with a wrong Content-Range start is rejected, then resumed",
              r.rc == 0 and r.out == counted(big) and r["requests"] == "3"
              and range_of(px.requests[2]) == "bytes=%d-" % (2 << 20), r)

    # Connection refused: retryable network error after the attempts.
    with CutProxy(moto_port) as px:
        dead = px.url
    r = s3get(st, "bkt", "plain.csv", "--backoff-ms", "10", "--max-attempts", "2",
              endpoint=dead)
    check("connection refused -> network error, retryable, 2 attempts",
          r.rc == 1 and r["kind"] == "network" and r["retryable"] == "1"
          and r["requests"] == "2", r)


def test_http_faults(st, big):
    """Failures before any byte arrives, through tests/fault_proxy.py."""
    with FaultProxy(st.moto_url) as fp:
        for plan, what in (("reset", "TCP reset"), ("drop", "connection closed unanswered"),
                           ("status:500", "500 InternalError"), ("status:502", "502")):
            fp.reset()
            fp.set_plan(plan)
            r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", endpoint=fp.url)
            check("%s once, then success" % what, r.rc == 0 and r.out == counted(big)
                  and r["requests"] == "2" and fp.count() == 2, (r, fp.log))
        fp.reset()
        fp.set_plan("hang")
        t0 = time.monotonic()
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", "--low-speed-time",
                  "2", endpoint=fp.url)
        check("no answer at all: the low-speed limit ends the wait, then success",
              r.rc == 0 and r.out == counted(big) and r["requests"] == "2"
              and time.monotonic() - t0 < 20, r)
        fp.reset()
        fp.set_plan("hang")
        t0 = time.monotonic()
        r = s3get(st, "bkt", "big.bin", "--count", "--cancel-after-ms", "500", endpoint=fp.url)
        took = time.monotonic() - t0
        check("cancel flag ends a hung request (%.1f s)" % took, r.rc == 1
              and r["code"] == "Cancelled" and r["retryable"] == "0" and took < 5, r)
        fp.reset()
        fp.set_plan("status:503*10")
        t0 = time.monotonic()
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "2000", "--cancel-after-ms",
                  "300", "--max-attempts", "10", endpoint=fp.url)
        took = time.monotonic() - t0
        check("cancel flag ends a backoff sleep (%.1f s)" % took, r.rc == 1
              and r["code"] == "Cancelled" and took < 3, r)
        fp.reset()
        fp.set_plan("status:403:AccessDenied*3")
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10", endpoint=fp.url)
        check("403 AccessDenied is not retried", r.rc == 1 and r["code"] == "AccessDenied"
              and r["retryable"] == "0" and fp.count() == 1, r)

    # Our clock an hour behind: the server refuses the signature, its Date header gives the
    # offset, the second request is signed with the corrected time.
    r = s3get(st, "bkt", "plain.csv", "--clock-offset", "-3600")
    check("clock skew: corrected from the Date header and retried once",
          r.rc == 0 and r.out == ("row for %r\n" % "plain.csv").encode() * 3
          and r["requests"] == "2", r)


def test_tls(st, big):
    """TLS is verified: a private CA works only when given (AWS_CA_BUNDLE -> ca_file)."""
    cert, key = st.path("tls-cert.pem"), st.path("tls-key.pem")
    gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True)
    if gen.returncode != 0:
        check("openssl made a test certificate", False, gen.stderr.decode())
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with CutProxy(st.moto_port, ssl_context=ctx) as px:
        r = s3get(st, "bkt", "big.bin", "--count", env={"AWS_CA_BUNDLE": cert},
                  endpoint=px.url)
        check("https with the CA given: byte-exact", r.rc == 0 and r.out == counted(big), r)
        r = s3get(st, "bkt", "big.bin", "--count", endpoint=px.url)
        check("https with an unknown CA: refused, not retried",
              r.rc == 1 and r["kind"] == "network" and r["retryable"] == "0"
              and r["requests"] == "1" and "certificate" in r.err, r)
        px.set_plan([("cut", 1 << 20)])
        r = s3get(st, "bkt", "big.bin", "--count", "--backoff-ms", "10",
                  env={"AWS_CA_BUNDLE": cert}, endpoint=px.url)
        check("https cut mid-body: resumed byte-exact", r.rc == 0 and r.out == counted(big)
              and r["resumes"] == "1" and range_of(px.requests[1]) == "bytes=1048576-", r)


def main():
    if not os.access(S3GET, os.X_OK):
        print("not ok 1 - %s not built (make check builds it)" % S3GET)
        return 1
    try:
        import moto  # noqa: F401
    except ImportError:
        print("# moto is not installed")
        return 1 if IN_CI else 77
    try:
        with Stack(moto=True, auth=True) as st:
            s3 = st.client("s3")
            s3.create_bucket(Bucket="bkt")
            big = os.urandom(8 << 20)
            big_etag = st.put_object("bkt", "big.bin", big)
            test_keys(st, s3)
            test_big(st, s3, big, big_etag)
            test_errors(st, s3, big_etag)
            test_offset_and_versions(st, s3, big)
            test_faults(st, s3, big, big_etag)
            test_http_faults(st, big)
            test_tls(st, big)
    except StackError as e:
        print("not ok - stack: %s" % e)
        return 1
    print("1..%d" % len(results))
    failed = results.count(False)
    print("# %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
