#!/usr/bin/env python3
"""Credentials that really expire while loads run: refreshed in time, no load fails.

ingestd gets its AWS credentials from the ECS container endpoint (tests/creds_responder.py,
AWS_CONTAINER_CREDENTIALS_FULL_URI + authorization token), with a 20 s lifetime. Every
credential request gets a session of a role of its own (STS AssumeRole in moto, signature
checking on); one second after the stated expiry the test revokes that role (its policy becomes
deny-all), so anything signed with old credentials afterwards fails with 403 — a 403 on the
object would even be a permanent failure with a DLQ report. Meanwhile one object is uploaded
every second for 45 s (100 s with INGESTD_LONG=1).
Checks: at least two refreshes happened and at least two sessions were revoked while the daemon
ran; every object loaded, every row exactly once, one ledger row each; no failed load, no error
or warning in the log; DLQ empty; main queue empty; SIGTERM exits 0.
"""

import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from creds_responder import CredsResponder  # noqa: E402
from faults import (LONG, Pg, csv_rows, dlq_reports, stop_cleanly,  # noqa: E402
                    wait_until)
from stack import Stack  # noqa: E402

LIFETIME_S = 20
RUN_S = 100 if LONG else 45
ROWS = 2000
ECS_TOKEN = "ecs-task-token-faults"

ROUTES = """
[route rows]
sink = pg
match_prefix = rows/
table = items
"""

DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "*", "Resource": "*"}]})


class Sessions:
    """Hands out one role session per credential request and revokes it after it expires."""

    def __init__(self, st):
        self.st = st
        self.iam = st.client("iam")
        self.sts = st.client("sts")
        self.lock = threading.Lock()
        self.live = []            # (revoke at, role name)
        self.revoked = []
        self.issued = []          # boto3 keyword arguments of every session handed out
        self.n = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._reaper, daemon=True)
        self.thread.start()

    def fetch(self):
        with self.lock:
            self.n += 1
            name = f"ingestd-task-{self.n}"
        arn = self.st.make_role(name)
        c = self.sts.assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
        with self.lock:
            self.issued.append({"aws_access_key_id": c["AccessKeyId"],
                                "aws_secret_access_key": c["SecretAccessKey"],
                                "aws_session_token": c["SessionToken"]})
            # The responder states now + LIFETIME_S (whole seconds, rounded down) as the
            # expiry; revoking one second later never takes away time that was promised.
            self.live.append((time.time() + LIFETIME_S + 1, name))
        return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["SessionToken"]}

    def _reaper(self):
        while not self.stop.wait(0.2):
            now = time.time()
            with self.lock:
                due = [x for x in self.live if x[0] <= now]
                self.live = [x for x in self.live if x[0] > now]
            for _, name in due:
                self.iam.put_role_policy(RoleName=name, PolicyName="all",
                                         PolicyDocument=DENY_ALL)
                with self.lock:
                    self.revoked.append(name)

    def close(self):
        self.stop.set()
        self.thread.join(5)


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        pg = Pg(st, "items")
        pg.create()
        sessions = Sessions(st)
        resp = CredsResponder(sessions.fetch, lifetime=LIFETIME_S, ecs_token=ECS_TOKEN).start()
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=10,
                                 log_level="info")
        with open(conf) as f:
            text = f.read()
        # No static keys: the credential chain has to find the container endpoint.
        text = re.sub(r"(?m)^(access_key_id|secret_access_key) = .*\n", "", text)
        with open(conf, "w") as f:
            f.write(text)
        env = st.env({"HOME": st.tmp, "AWS_CONFIG_FILE": st.path("none"),
                      "AWS_SHARED_CREDENTIALS_FILE": st.path("none"),
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI": resp.ecs_url,
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN": ECS_TOKEN})
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(k, None)
        d = Ingestd(conf, env, st.path("creds.log"))

        def loads_across_refreshes():
            d.wait_for_log("ready", timeout=30)
            t0 = time.monotonic()
            files = 0
            while time.monotonic() - t0 < RUN_S:
                st.put_object("inbox", f"rows/{files:04d}.csv", csv_rows(files * 10_000, ROWS))
                files += 1
                time.sleep(max(0.0, t0 + files - time.monotonic()))
            wait_until(lambda: pg.count() >= files * ROWS and st.queue_count(q) == 0, 120,
                       f"{files} objects loaded and the queue empty")
            time.sleep(1)
            log = d.log_text()
            refreshed = len(re.findall(r"AWS credentials refreshed from ecs", log))
            print(f"# {RUN_S} s, {files} objects: {resp.stats['ecs_ok']} credential requests, "
                  f"{refreshed} refreshes logged, {len(sessions.revoked)} sessions revoked "
                  "while loading", flush=True)
            assert refreshed >= 2 and resp.stats["ecs_ok"] >= 3, (refreshed, resp.stats)
            assert len(sessions.revoked) >= 2, sessions.revoked
            pg.exactly_once(files * ROWS)
            ledger = pg.ledger("rows/")
            assert len(ledger) == files and set(ledger.values()) == {1}, ledger
            bad = [ln for ln in log.splitlines() if re.search(r"Z (err|warning|crit): ", ln)]
            assert not bad, "\n".join(bad[:10])
            assert "failure loading" not in log
            assert dlq_reports(st, dlq) == []
            assert ECS_TOKEN not in log, "the container token was logged"

        def revoked_is_refused():
            # The revocation is real: the first session, revoked long ago, is refused.
            import botocore.exceptions
            sqs = st.client("sqs", **sessions.issued[0])
            try:
                sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])
            except botocore.exceptions.ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response
            else:
                raise AssertionError("a revoked session still works")

        try:
            c.check(f"credentials expiring every {LIFETIME_S} s (then revoked) during {RUN_S} s "
                    "of loads: refreshed, no failed load, every row once", loads_across_refreshes)
            c.check("the revoked sessions are refused by moto (the expiry was real)",
                    revoked_is_refused)
            c.check("SIGTERM: exit status 0, no sanitizer report", lambda: stop_cleanly(d))
        finally:
            d.kill()
            resp.stop()
            sessions.close()
            if c.failed:
                print(d.log_text()[-6000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
