#!/usr/bin/env python3
"""Local test stack for ingestd's integration tests, demo and benchmarks.

Starts, on 127.0.0.1 with free ports and in one temporary directory, the servers a test asks for:
moto (S3, SQS, DynamoDB, Secrets Manager, STS, IAM) through tests/moto_launcher.py with exact
SigV4 checking on, PostgreSQL 15 and MariaDB 10.11 with real users and passwords. Everything is
stopped on exit, on exceptions and on SIGTERM; children also die with the test process. A server
that cannot start raises StackError with the reason and the tail of its log: nothing is skipped
silently. It does not build or run ingestd itself (see ingestd_config() for its configuration).
The database servers and process plumbing live in tests/stack_db.py; moto runs through
tests/moto_launcher.py.

    import sys, os
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))   # from tests/integration
    from stack import Stack, StackError

    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=30)
        st.make_bucket("inbox", notify_queue_url=q)       # enqueues an s3:TestEvent
        st.put_object("inbox", "data/a.csv", b"id,name\\n1,x\\n")
        msgs = st.receive_all(q)                           # list of dicts (see below)
        st.psql("CREATE TABLE t (id int, name text)")
        conf = st.ingestd_config(ROUTES_TEXT, workers=2)   # sinks pg/mysql/ddb are defined
        subprocess.run([os.environ["INGESTD_BIN"], "-c", conf], env=st.env(), ...)

Constructor: Stack(moto=True, postgres=False, mariadb=False, auth=True, moto_quiet=False,
pg_options=None, mysql_options=None). `auth=False` leaves moto's signature checking off.
Data directories are copies of templates made once per machine (in
$TMPDIR/ingestd-stack-cache-UID; INGESTD_STACK_CACHE=0 disables, =DIR moves it).
Environment: INGESTD_KEEP_TMP=1 keeps the temp directory when the block raises (path printed on
stderr); INGESTD_KEEP_TMP=always keeps it every time.

Attributes and methods (all addresses are 127.0.0.1):
  st.tmp                 the temp directory (logs: moto.log, pg.log, mysql.log)
  st.path(name)          os.path.join(st.tmp, name)
  st.env(extra=None)     os.environ without any AWS_* variable, plus st.aws_env, plus extra
                         (use it for subprocesses: ingestd, aws cli)
  st.write_config(text, name="ingestd.conf") -> path of the written file
  st.ingestd_config(routes_text, name="ingestd.conf", queue_url=None, dlq_url=None,
                    workers=2, log_level="debug", wait_time_seconds=1, visibility_timeout=30,
                    sinks=None, extra="") -> path
      renders [ingestd], [aws] (endpoint_url, static key of the IAM user), [sqs] (queue_url
      defaults to the last queue made with make_queue, dlq_url to its DLQ), one [sink NAME] per
      running database ("pg": type postgres, "mysql": type mysql, "ddb": type dynamodb, each with
      password inline) unless `sinks` (text) replaces them, then routes_text, then extra.
  st.stop() / st.close() stop everything (also done by the with block)

  moto:
  st.moto_url            "http://127.0.0.1:P"
  st.moto_port
  st.aws_env             {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION": "us-east-1",
                          "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_url,
                          "AWS_EC2_METADATA_DISABLED": "true"}  (no other AWS_ variable)
  st.access_key_id, st.secret_access_key   the IAM user's key (user `ingestd`, allow-all)
  st.client(service, **kw)  boto3 client with that key and endpoint (kw go to boto3.client;
                         e.g. config=botocore.config.Config(...), aws_secret_access_key="wrong");
                         AWS_* variables of the test's environment are ignored. Make clients
                         from one thread; the clients themselves are thread-safe.
  st.make_role(name, policy=None) -> role ARN assumable by the IAM user (sts:AssumeRole; the
                         trust names the user's ARN: moto does not expand ":root") and by any
                         web identity (AssumeRoleWithWebIdentity); allow-all unless `policy`
  st.make_queue(name, dlq=True, max_receive=3, visibility=30, attrs=None) -> (url, dlq_url|None)
                         DLQ is "NAME-dlq", attached with a real RedrivePolicy
  st.moto_pause() / st.moto_resume()   freeze/continue moto (SIGSTOP/SIGCONT): a hung
                         endpoint that accepts connections and never answers; state is kept
  st.queue_arn(url)
  st.make_bucket(name, notify_queue_url=None, events=("s3:ObjectCreated:*",), prefix=None,
                 suffix=None)  S3 -> SQS ObjectCreated notification; NOTE: setting it enqueues
                         one s3:TestEvent in that queue (receive_all/purge it if it matters)
  st.put_object(bucket, key, data: bytes|str) -> ETag (without quotes)
  st.get_object(bucket, key) -> bytes
  st.send(queue_url, body: str|dict) -> MessageId   (dict bodies are JSON-encoded)
  st.receive_all(queue_url, wait=1.0, delete=True, visibility=None) -> list of
                         {"Body", "body" (parsed JSON or None), "MessageId", "ReceiptHandle",
                          "ReceiveCount"} received until the queue stays empty for `wait` s
  st.queue_count(url) -> visible + in-flight + delayed messages (approximate, from attributes)
  st.purge(url)          deletes every currently visible message
  st.s3_events(queue_url, wait=1.0) -> list of S3 event records (s3:TestEvent dropped)

  PostgreSQL (postgres=True; run as the `postgres` system user when we are root):
  st.pg_port, st.pg_host ("127.0.0.1"), st.pg_socket_dir, st.pg_password
  st.pg_conninfo         "host=127.0.0.1 port=P dbname=ingest user=ingest password=..."
                         (role `ingest` owns database `ingest`; TCP uses scram-sha-256)
  st.psql(sql, superuser=False, db="ingest") -> list of tuples of str (None for NULL),
                         rows of every statement's result in order; raises StackError on error
  st.pg_stop(mode="fast"|"immediate") / st.pg_start()   simulate an outage (same port and
                         data; "immediate" is a crash-like stop)

  MariaDB (mariadb=True; run as the `mysql` system user when we are root):
  st.mysql_host ("127.0.0.1"), st.mysql_port, st.mysql_user ("ingest"), st.mysql_password,
  st.mysql_database ("ingest"), st.mysql_socket
                         users 'ingest'@'127.0.0.1' and 'ingest'@'localhost', ALL on ingest.*
  st.mysql(sql, root=False) -> list of tuples of str (None for NULL; a string "NULL" also
                         reads as None), via the mariadb client over TCP
  st.mysql_stop(kill=False) / st.mysql_start()   (kill=True: SIGKILL, crash-like)

Command line: `python3 tests/stack.py --shell [--postgres] [--mariadb]` starts a stack, prints
export lines and connection strings, and waits for Ctrl-C.
Start times on the development machine (st.timings has them): moto 0.35-0.6 s; PostgreSQL
0.3-0.5 s and MariaDB 0.15-0.45 s from the cached templates (the first stack on a machine adds
initdb 0.5-1 s and mariadb-install-db 0.7-2 s); pg/mysql stop+start 0.1-0.4 s.
Cleanup: the with block (or close()) stops everything, also on exceptions; SIGTERM is turned
into SystemExit while a stack is open (if the test has not set its own handler); servers get
PR_SET_PDEATHSIG, so they die if the test process is killed. Create a Stack in the thread that
will close it (the death signal follows the creating thread).
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from stack_db import (LOOPBACK, DatabaseServers, Proc, StackError, _base_tmp,  # noqa: E402,F401
                      free_port)

REGION = "us-east-1"


_live_stacks = []


def _atexit():
    for st in list(_live_stacks):
        st.close()


atexit.register(_atexit)


class Stack(DatabaseServers):
    def __init__(self, moto=True, postgres=False, mariadb=False, auth=True, moto_quiet=False,
                 pg_options=None, mysql_options=None):
        self.want_moto = moto
        self.want_pg = postgres
        self.want_mysql = mariadb
        self.auth = auth
        self.moto_quiet = moto_quiet
        self.pg_options = dict(pg_options or {})
        self.mysql_options = list(mysql_options or [])
        self.tmp = None
        self.timings = {}
        self._procs = {}
        self._clients = {}
        self._last_queue = (None, None)
        self._old_sigterm = None
        self.moto_url = self.moto_port = None
        self.access_key_id = self.secret_access_key = None
        self.aws_env = {}
        self.pg_port = self.pg_conninfo = self.pg_password = self.pg_socket_dir = None
        self.mysql_port = self.mysql_password = self.mysql_socket = None
        self.mysql_host, self.mysql_user, self.mysql_database = LOOPBACK, "ingest", "ingest"

    # ---- lifecycle ----

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="ingestd-stack-", dir=_base_tmp())
        _live_stacks.append(self)
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
            self._old_sigterm = signal.SIG_DFL
            signal.signal(signal.SIGTERM, _sigterm_to_exit)
        try:
            if self.want_moto:
                self._timed("moto", self._start_moto)
            if self.want_pg:
                self._timed("postgres", self._start_pg)
            if self.want_mysql:
                self._timed("mariadb", self._start_mysql)
        except BaseException:
            self.close(failed=True)
            raise
        return self

    def _timed(self, name, fn):
        t0 = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t0

    def stop(self):
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            if name == "moto" and proc.alive():
                proc.p.send_signal(signal.SIGCONT)
            proc.stop(signal.SIGINT if name == "postgres" else signal.SIGTERM)

    def close(self, failed=False):
        if self.tmp is None:
            return
        self.stop()
        if self in _live_stacks:
            _live_stacks.remove(self)
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        keep = os.environ.get("INGESTD_KEEP_TMP", "")
        if keep == "always" or (failed and keep == "1"):
            print(f"stack: kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def path(self, name):
        return os.path.join(self.tmp, name)

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(self.aws_env)
        env.update(extra or {})
        return env

    # ---- moto ----

    def _start_moto(self):
        log = self.path("moto.log")
        argv = [sys.executable, os.path.join(HERE, "moto_launcher.py"), "--port", "0"]
        if self.auth:
            argv.append("--auth")
        if self.moto_quiet:
            argv.append("--quiet")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = Proc("moto", argv, log, env=env, stdout=subprocess.PIPE)
        self._procs["moto"] = proc
        line = _readline_timeout(proc.p.stdout, 30)
        if not line.startswith("ready "):
            proc.fail(f"no ready line (got {line!r})")
        info = json.loads(line[6:])
        self.moto_port = info["port"]
        self.moto_url = info["url"]
        self.access_key_id = info.get("access_key_id", "test")
        self.secret_access_key = info.get("secret_access_key", "test")
        self.aws_env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service, **kw):
        import boto3
        args = {"endpoint_url": self.moto_url, "region_name": REGION,
                "aws_access_key_id": self.access_key_id,
                "aws_secret_access_key": self.secret_access_key}
        args.update(kw)
        if not kw and service in self._clients:
            return self._clients[service]
        # botocore still reads AWS_PROFILE, AWS_CONFIG_FILE, AWS_ENDPOINT_URL_* ... from the
        # environment while building a client; a stray one must not redirect or break ours.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        try:
            client = _session().client(service, **args)
        finally:
            os.environ.update(saved)
        if not kw:
            self._clients[service] = client
        return client

    def make_role(self, name, policy=None):
        """IAM role the `ingestd` user may assume (sts:AssumeRole) and any web identity may
        assume (sts:AssumeRoleWithWebIdentity); allow-all unless `policy` (a dict). -> ARN"""
        iam = self.client("iam")
        user_arn = iam.get_user(UserName="ingestd")["User"]["Arn"]
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Federated": "*"},
             "Action": "sts:AssumeRoleWithWebIdentity"}]}
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(
            policy or {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        return arn

    def moto_pause(self):
        """Freeze moto (SIGSTOP): connections are accepted by the kernel but never answered,
        as with a hung endpoint. State is kept; moto_resume() continues."""
        self._procs["moto"].p.send_signal(signal.SIGSTOP)

    def moto_resume(self):
        self._procs["moto"].p.send_signal(signal.SIGCONT)

    def queue_arn(self, url):
        return self.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def make_queue(self, name, dlq=True, max_receive=3, visibility=30, attrs=None):
        sqs = self.client("sqs")
        dlq_url = None
        qattrs = {"VisibilityTimeout": str(visibility)}
        if dlq:
            dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
            qattrs["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": self.queue_arn(dlq_url),
                "maxReceiveCount": str(max_receive)})
        qattrs.update(attrs or {})
        url = sqs.create_queue(QueueName=name, Attributes=qattrs)["QueueUrl"]
        self._last_queue = (url, dlq_url)
        return url, dlq_url

    def make_bucket(self, name, notify_queue_url=None, events=("s3:ObjectCreated:*",),
                    prefix=None, suffix=None):
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if notify_queue_url:
            conf = {"Id": "ingestd", "QueueArn": self.queue_arn(notify_queue_url),
                    "Events": list(events)}
            rules = []
            if prefix:
                rules.append({"Name": "prefix", "Value": prefix})
            if suffix:
                rules.append({"Name": "suffix", "Value": suffix})
            if rules:
                conf["Filter"] = {"Key": {"FilterRules": rules}}
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": [conf]})
        return name

    def put_object(self, bucket, key, data):
        if isinstance(data, str):
            data = data.encode()
        return self.client("s3").put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')

    def get_object(self, bucket, key):
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def send(self, queue_url, body):
        if not isinstance(body, str):
            body = json.dumps(body)
        return self.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]

    def receive_all(self, queue_url, wait=1.0, delete=True, visibility=None):
        sqs = self.client("sqs")
        out = []
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < wait:
            kw = {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0,
                  "AttributeNames": ["ApproximateReceiveCount"]}
            if visibility is not None:
                kw["VisibilityTimeout"] = visibility
            msgs = sqs.receive_message(**kw).get("Messages", [])
            if not msgs:
                time.sleep(0.05)
                continue
            idle_since = time.monotonic()
            for m in msgs:
                try:
                    parsed = json.loads(m["Body"])
                except ValueError:
                    parsed = None
                out.append({"Body": m["Body"], "body": parsed, "MessageId": m["MessageId"],
                            "ReceiptHandle": m["ReceiptHandle"],
                            "ReceiveCount": int(m.get("Attributes", {}).get(
                                "ApproximateReceiveCount", "0"))})
                if delete:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def purge(self, queue_url):
        self.receive_all(queue_url, wait=0.2)

    def queue_count(self, url):
        a = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in a.values())

    def s3_events(self, queue_url, wait=1.0):
        records = []
        for m in self.receive_all(queue_url, wait=wait):
            if isinstance(m["body"], dict):
                records.extend(m["body"].get("Records", []))
        return records

    # ---- ingestd configuration ----

    def write_config(self, text, name="ingestd.conf"):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def ingestd_config(self, routes_text, name="ingestd.conf", queue_url=None, dlq_url=None,
                       workers=2, log_level="debug", wait_time_seconds=1,
                       visibility_timeout=30, sinks=None, extra=""):
        queue_url = queue_url or self._last_queue[0] or ""
        if dlq_url is None:
            dlq_url = self._last_queue[1] or ""
        parts = [
            "[ingestd]", f"workers = {workers}", f"log_level = {log_level}", "",
            "[aws]", f"region = {REGION}", f"endpoint_url = {self.moto_url or ''}",
            "s3_force_path_style = true",
            f"access_key_id = {self.access_key_id or ''}",
            f"secret_access_key = {self.secret_access_key or ''}", "",
            "[sqs]", f"queue_url = {queue_url}", f"wait_time_seconds = {wait_time_seconds}",
            "max_messages = 10", f"visibility_timeout = {visibility_timeout}",
            f"dlq_url = {dlq_url}", "",
        ]
        if sinks is None:
            sinks = self._default_sinks()
        parts.append(sinks.rstrip("\n") + "\n")
        parts.append(routes_text.rstrip("\n") + "\n")
        if extra:
            parts.append(extra.rstrip("\n") + "\n")
        return self.write_config("\n".join(parts), name)

    def _default_sinks(self):
        out = []
        if "postgres" in self._procs:
            out += ["[sink pg]", "type = postgres",
                    f"conninfo = host={LOOPBACK} port={self.pg_port} dbname=ingest user=ingest",
                    f"password = {self.pg_password}", ""]
        if "mariadb" in self._procs:
            out += ["[sink mysql]", "type = mysql", f"host = {LOOPBACK}",
                    f"port = {self.mysql_port}", f"user = {self.mysql_user}",
                    f"database = {self.mysql_database}", f"password = {self.mysql_password}",
                    ""]
        if "moto" in self._procs:
            out += ["[sink ddb]", "type = dynamodb", ""]
        return "\n".join(out)


def _sigterm_to_exit(signum, _frame):
    raise SystemExit(128 + signum)


_session_cache = {}


def _session():
    # One botocore session per process: client creation then costs ~10 ms instead of ~150 ms.
    import boto3
    if "s" not in _session_cache:
        _session_cache["s"] = boto3.session.Session()
    return _session_cache["s"]


def _readline_timeout(stream, timeout):
    result = []
    t = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return ""
    line = result[0]
    return line.decode() if isinstance(line, bytes) else line


def _shell(argv):
    import argparse
    ap = argparse.ArgumentParser(description="start a local ingestd test stack")
    ap.add_argument("--shell", action="store_true", required=True)
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument("--mariadb", action="store_true")
    ap.add_argument("--no-auth", action="store_true")
    args = ap.parse_args(argv)
    with Stack(moto=True, postgres=args.postgres, mariadb=args.mariadb,
               auth=not args.no_auth) as st:
        for k, v in st.aws_env.items():
            print(f"export {k}={v}")
        if args.postgres:
            print(f"# postgres: {st.pg_conninfo}")
        if args.mariadb:
            print(f"# mariadb: mariadb -h {st.mysql_host} -P {st.mysql_port} "
                  f"-u {st.mysql_user} -p{st.mysql_password} {st.mysql_database}")
        print(f"# temp dir: {st.tmp}  timings: "
              + ", ".join(f"{k} {v:.2f}s" for k, v in st.timings.items()))
        print("# Ctrl-C to stop", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(_shell(sys.argv[1:]))
