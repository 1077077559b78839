#!/usr/bin/env python3
"""The loop-side AWS client (src/aws/http.c, sqs.c, secrets.c) against moto with exact SigV4
checking, through tests/aws/awsctl, directly and behind tests/fault_proxy.py.

Covers every SQS call (ReceiveMessage with attributes, a long poll that returns nothing, a
long poll woken by a send made on the same loop, ChangeMessageVisibilityBatch and
DeleteMessageBatch with per-entry failures, SendMessage read back by boto3,
GetQueueAttributes with the redrive policy), GetSecretValue on the loop and blocking (RDS
JSON, plain string, missing secret by code), a wrong secret key (typed
SignatureDoesNotMatch, one request), QueueDoesNotExist (one request), standard-mode retries
on injected 500 / 503 / ThrottlingException / dropped and reset connections (success on the
last attempt, and giving up after max_attempts), credentials fetched once per attempt, and
clock-skew correction from the server's Date header.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from fault_proxy import FaultProxy  # noqa: E402
from stack import Stack, StackError  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
AWSCTL = os.environ.get("AWSCTL", os.path.join(BUILD, "tests", "aws", "awsctl"))
IN_CI = os.environ.get("CI") == "true"
FAST = ["--backoff", "20", "200"]     # short backoffs for the retry cases

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok %d - %s" if cond else "not ok %d - %s") % (len(results), name), flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-25:]:
            print("#   " + line, flush=True)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.lines = []
        self.summary = {}
        for line in proc.stdout.splitlines():
            d = json.loads(line)
            if d.get("summary"):
                self.summary = d
            else:
                self.lines.append(d)
        self.lines.sort(key=lambda d: d["index"])

    def __getitem__(self, i):
        return self.lines[i]

    def __repr__(self):
        return "rc=%d\n%s\n%s\nstderr: %s" % (self.rc, "\n".join(map(json.dumps, self.lines)),
                                             json.dumps(self.summary), self.stderr[-2000:])


def awsctl(st, *args, endpoint=None, env=None, timeout=90):
    cmd = [AWSCTL]
    if endpoint:
        cmd += ["--endpoint", endpoint]
    cmd += list(args)
    proc = subprocess.run(cmd, env=st.env(env or {}), capture_output=True, text=True,
                          timeout=timeout)
    return Result(proc)


def err_code(line):
    return line.get("error", {}).get("code")


def test_sqs_calls(st):
    q, dlq = st.make_queue("calls", dlq=True, max_receive=3, visibility=30)
    r = awsctl(st, "attrs", q)
    a = r[0].get("result", {})
    check("GetQueueAttributes: redrive policy and visibility",
          r.rc == 0 and a.get("has_redrive") and a.get("max_receive_count") == 3
          and a.get("dead_letter_target_arn", "").endswith(":calls-dlq")
          and a.get("visibility_timeout") == 30, r)

    body = json.dumps({"Records": [{"s3": {"object": {"key": "a b+c.csv"}}}], "u": "\u00e9\u4e2d"})
    sent_id = st.send(q, body)
    r = awsctl(st, "receive", q, "10", "1")
    msgs = r[0].get("result", {}).get("messages", [])
    check("ReceiveMessage: a boto3 message arrives intact with its attributes",
          r.rc == 0 and len(msgs) == 1 and msgs[0]["id"] == sent_id and msgs[0]["body"] == body
          and msgs[0]["receive_count"] == 1 and msgs[0]["sent_ms"] > 1.6e12, r)
    if not msgs:
        return
    rh = msgs[0]["receipt"]

    r = awsctl(st, "visibility", q, "0", rh, "not-a-receipt-handle")
    ents = r[0].get("result", {}).get("entries", [])
    check("ChangeMessageVisibilityBatch: per-entry success and failure",
          r.rc == 0 and len(ents) == 2 and ents[0]["ok"] and not ents[1]["ok"]
          and ents[1]["code"] == "ReceiptHandleIsInvalid" and ents[1]["sender_fault"], r)

    r = awsctl(st, "receive", q, "10", "1")
    msgs = r[0].get("result", {}).get("messages", [])
    check("visibility 0 makes the message visible again (receive count 2)",
          r.rc == 0 and len(msgs) == 1 and msgs[0]["receive_count"] == 2, r)
    if not msgs:
        return
    r = awsctl(st, "delete", q, msgs[0]["receipt"], "bogus")
    ents = r[0].get("result", {}).get("entries", [])
    check("DeleteMessageBatch: per-entry results",
          r.rc == 0 and len(ents) == 2 and ents[0]["ok"] and not ents[1]["ok"]
          and ents[1]["code"] == "ReceiptHandleIsInvalid", r)
    check("the deleted message is gone", st.queue_count(q) == 0, st.queue_count(q))

    report = json.dumps({"ingestd_error": 1, "class": "permanent", "reason": "x\ny\t\"z\""})
    r = awsctl(st, "send", dlq, report)
    got = st.receive_all(dlq, wait=0.5)
    check("SendMessage: boto3 reads back the exact body and id",
          r.rc == 0 and len(got) == 1 and got[0]["Body"] == report
          and got[0]["MessageId"] == r[0].get("result", {}).get("message_id"), (r, got))


def test_long_polls(st):
    q, _ = st.make_queue("polls", dlq=False)
    t0 = time.monotonic()
    r = awsctl(st, "receive", q, "10", "2")
    took = time.monotonic() - t0
    check("long poll on an empty queue returns nothing after WaitTimeSeconds",
          r.rc == 0 and r[0].get("result", {}).get("messages") == [] and 1.8 <= took < 8
          and r[0]["elapsed_ms"] >= 1800, (took, r))

    r = awsctl(st, "receive", q, "1", "10", "--", "after", "700", "send", q, "late")
    msgs = r[0].get("result", {}).get("messages", [])
    check("a send on the same loop wakes a running long poll (loop never blocks)",
          r.rc == 0 and len(msgs) == 1 and msgs[0]["body"] == "late" and r[1]["ok"]
          and 600 <= r[0]["elapsed_ms"] < 5000, r)

    r = awsctl(st, "receive", q, "11", "0")
    check("MaxNumberOfMessages 11: InvalidParameterValue, not retried",
          r.rc == 1 and err_code(r[0]) == "InvalidParameterValue"
          and r[0]["error"]["status"] == 400 and not r[0]["error"]["retryable"]
          and r.summary.get("creds_calls") == 1, r)


def test_errors_not_retried(st):
    q, _ = st.make_queue("errs", dlq=False)
    with FaultProxy(st.moto_url) as fp:
        r = awsctl(st, "--max-attempts", "3", "--secret-key", "wrong-secret", "attrs", q,
                   endpoint=fp.url)
        e = r[0].get("error", {})
        check("wrong secret: typed SignatureDoesNotMatch (http, 403), not retried",
              r.rc == 1 and e.get("kind") == "http" and e.get("code") == "SignatureDoesNotMatch"
              and e.get("status") == 403 and not e.get("retryable") and fp.count() == 1,
              (r, fp.count()))
        fp.reset()
        r = awsctl(st, "--max-attempts", "3", "receive", q + "-missing", "1", "0",
                   endpoint=fp.url)
        check("QueueDoesNotExist: typed error, one request",
              r.rc == 1 and err_code(r[0]) == "QueueDoesNotExist"
              and r[0]["error"]["status"] == 400 and fp.count() == 1, (r, fp.count()))


def test_retries(st):
    q, _ = st.make_queue("retries", dlq=False)
    cases = [
        ("500 twice", "status:500*2", 3, True, 3, None),
        ("503 ServiceUnavailable twice", "status:503*2", 3, True, 3, None),
        ("ThrottlingException (400) twice", "status:400:ThrottlingException*2", 3, True, 3, None),
        ("connection dropped twice", "drop*2", 3, True, 3, None),
        ("connection reset once", "reset", 2, True, 2, None),
        ("500 until attempts run out", "status:500*5", 3, False, 3, "InternalError"),
        ("throttled until attempts run out (max 5)", "status:400:ThrottlingException*9", 5, False,
         5, "ThrottlingException"),
        ("max_attempts 1: no retry", "status:503", 1, False, 1, "ServiceUnavailable"),
    ]
    with FaultProxy(st.moto_url, match="AmazonSQS.GetQueueAttributes") as fp:
        for name, plan, attempts, ok, want_requests, code in cases:
            fp.reset()
            fp.set_plan(plan)
            r = awsctl(st, "--max-attempts", str(attempts), *FAST, "attrs", q, endpoint=fp.url)
            n = fp.count()
            good = (r.rc == 0) == ok and n == want_requests
            good = good and r.summary.get("creds_calls") == want_requests
            if ok:
                good = good and r[0].get("result", {}).get("visibility_timeout") == 30
            else:
                good = good and err_code(r[0]) == code and r[0]["error"]["retryable"]
            check("retry: %s -> %s after %d requests" % (name, "ok" if ok else "error", n), good,
                  (r, [e["action"] for e in fp.log]))

        # A request that gets no answer times out and is retried.
        fp.reset()
        fp.set_plan("hang")
        body = json.dumps({"QueueUrl": q, "AttributeNames": ["VisibilityTimeout"]})
        r = awsctl(st, "--max-attempts", "2", *FAST, "--timeout-ms", "800", "call", "sqs",
                   "AmazonSQS.GetQueueAttributes", "application/x-amz-json-1.0", body,
                   endpoint=fp.url)
        res = r[0].get("result", {})
        check("a hung request times out and the retry succeeds",
              r.rc == 0 and res.get("attempts") == 2 and res.get("status") == 200
              and '"VisibilityTimeout"' in res.get("body", "") and fp.count() == 2
              and 800 <= r[0]["elapsed_ms"] < 5000, (r, fp.count()))
        fp.reset()
        fp.set_plan("hang*2")
        r = awsctl(st, "--max-attempts", "2", *FAST, "--timeout-ms", "500", "call", "sqs",
                   "AmazonSQS.GetQueueAttributes", "application/x-amz-json-1.0", body,
                   endpoint=fp.url)
        e = r[0].get("error", {})
        check("timeouts until attempts run out: a retryable network error",
              r.rc == 1 and e.get("kind") == "network" and e.get("retryable")
              and r[0].get("result", {}).get("attempts") == 2, r)

        # No credentials: nothing is sent; retried as transient, then reported.
        fp.reset()
        r = awsctl(st, "--max-attempts", "3", *FAST, "--no-creds", "attrs", q, endpoint=fp.url)
        check("no credentials: typed credentials error, asked once per attempt, nothing sent",
              r.rc == 1 and r[0].get("error", {}).get("kind") == "credentials"
              and r.summary.get("creds_calls") == 3 and fp.count() == 0, (r, fp.count()))

        # The default backoff (1 s base, full jitter) is waited on the loop, not skipped.
        fp.reset()
        fp.set_plan("status:503*2")
        r = awsctl(st, "--max-attempts", "3", "attrs", q, endpoint=fp.url)
        times = [e["time"] for e in fp.log]
        check("default backoff: 3 requests, delays within rand(0,1)*1s and rand(0,1)*2s",
              r.rc == 0 and len(times) == 3 and times[1] - times[0] < 1.5
              and times[2] - times[1] < 2.5, (r, times))

        # A receive and a delete retried concurrently on one loop.
        fp.reset()
        fp.set_match("AmazonSQS.")
        fp.set_plan("status:500*2")
        st.send(q, "m1")
        r = awsctl(st, "--max-attempts", "4", *FAST, "receive", q, "10", "1", "--", "send", q,
                   "m2", endpoint=fp.url)
        check("concurrent calls each retry on their own", r.rc == 0 and r[0]["ok"] and r[1]["ok"]
              and fp.count(action="status") == 2, (r, [e["action"] for e in fp.log]))


def test_clock_skew(st):
    q, _ = st.make_queue("skew", dlq=False)
    with FaultProxy(st.moto_url, match="AmazonSQS.", plan="skew:300") as fp:
        r = awsctl(st, "--max-attempts", "1", "attrs", q, endpoint=fp.url)
        heads = [e["head"] for e in fp.log]
        dates = []
        for h in heads:
            for line in h.split("\r\n"):
                if line.lower().startswith("x-amz-date:"):
                    dates.append(time.mktime(time.strptime(line.split(":", 1)[1].strip(),
                                                           "%Y%m%dT%H%M%SZ")))
        off = r.summary.get("clock_offset", 0)
        check("clock skew: offset taken from Date, re-signed once even at max_attempts 1",
              r.rc == 0 and len(heads) == 2 and 295 <= off <= 305 and len(dates) == 2
              and 290 <= dates[1] - dates[0] <= 310, (r, heads))
        fp.reset()
        fp.set_plan("skew:300*3")
        r = awsctl(st, "--max-attempts", "3", "attrs", q, endpoint=fp.url)
        check("clock skew that persists: one correction, then the error is reported",
              r.rc == 1 and r[0]["error"]["clock_skew"] and fp.count() == 2, (r, fp.count()))


def test_secrets(st):
    sm = st.client("secretsmanager")
    rds = {"username": "ingest", "password": "p@ss;w\"ord #1", "host": "127.0.0.1",
           "port": 5432, "dbname": "ingest", "engine": "postgres"}
    sm.create_secret(Name="db/pg", SecretString=json.dumps(rds))
    sm.create_secret(Name="plain", SecretString=" plain secret ")
    r = awsctl(st, "secret", "db/pg", "--", "secret-blocking", "db/pg", "--", "secret", "plain",
               "--", "secret-blocking", "plain")
    check("GetSecretValue: RDS JSON password, on the loop and blocking",
          r.rc == 0 and all(r[i].get("result", {}).get("password") == rds["password"]
                            for i in (0, 1)), r)
    check("GetSecretValue: a plain secret is the password as written",
          r.rc == 0 and all(r[i].get("result", {}).get("password") == " plain secret "
                            for i in (2, 3)), r)
    r = awsctl(st, "secret", "missing", "--", "secret-blocking", "missing")
    check("missing secret: ResourceNotFoundException on both paths, not retried",
          r.rc == 1 and all(err_code(r[i]) == "ResourceNotFoundException"
                            and not r[i]["error"]["retryable"] for i in (0, 1))
          and r.summary.get("creds_calls") == 2, r)
    arn = sm.describe_secret(SecretId="db/pg")["ARN"]
    with FaultProxy(st.moto_url, match="secretsmanager.", plan="status:500,status:503") as fp:
        r = awsctl(st, *FAST, "secret-blocking", arn, endpoint=fp.url)
        check("blocking GetSecretValue by ARN retries 500 and 503, then succeeds",
              r.rc == 0 and r[0].get("result", {}).get("password") == rds["password"]
              and fp.count() == 3, (r, fp.count()))
        fp.reset()
        fp.set_plan("status:500*2")
        r = awsctl(st, *FAST, "secret", arn, endpoint=fp.url)
        check("loop GetSecretValue retries, then succeeds",
              r.rc == 0 and fp.count() == 3, (r, fp.count()))


def main():
    if not os.access(AWSCTL, os.X_OK):
        print("# %s is not built" % AWSCTL)
        return 1
    try:
        st = Stack(moto=True)
    except StackError as e:
        print("# cannot start moto: %s" % e)
        return 1 if IN_CI else 77
    with st:
        for t in (test_sqs_calls, test_long_polls, test_errors_not_retried, test_retries,
                  test_clock_skew, test_secrets):
            try:
                t(st)
            except Exception as e:  # a crash in one group fails it, the others still run
                check("%s raised %r" % (t.__name__, e), False)
    print("1..%d" % len(results))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
