#!/usr/bin/env python3
"""The AWS credential chain (src/aws/creds*.c, src/aws/sts.c) through tests/aws/credsctl, against
moto with exact SigV4 checking on and tests/creds_responder.py for the ECS and EC2 endpoints.

Every provider resolves and then signs SQS ListQueues calls that moto verifies (so the
credentials are real, not just parsed): [aws] keys, environment, web identity (moto STS
AssumeRoleWithWebIdentity), shared files (static profile, config-file profile, role_arn +
source_profile through moto STS, a two-role chain, [aws] profile, web_identity_token_file and
credential_source in a profile), ECS full URI with a token and with a token file, IMDSv2
(token PUT, 401 without a token, a revoked token recovered), and AWS_EC2_METADATA_DISABLED.
Then the chain order, failures that must not fall through, the never-expired guarantee, and a
40 s run with 24 s credentials: refreshed early, every call succeeds at its first attempt.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from creds_responder import CredsResponder  # noqa: E402
from stack import Stack, StackError  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
CREDSCTL = os.environ.get("CREDSCTL", os.path.join(BUILD, "tests", "aws", "credsctl"))
IN_CI = os.environ.get("CI") == "true"
ROLE = "ingestd-role"
ROLE_ARN = "arn:aws:iam::123456789012:role/" + ROLE
ROLE2_ARN = "arn:aws:iam::123456789012:role/ingestd-role2"

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-25:]:
            print("#   " + line, flush=True)


def parse_line(line):
    head, sep, err = line.partition(" error=")
    d = dict(re.findall(r"(\w+)=(.*?)(?= \w+=|$)", head))
    if sep:
        d["error"] = err
    return d


class Run:
    def __init__(self, p, elapsed):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr
        self.elapsed = elapsed
        self.creds = [parse_line(x[6:]) for x in self.out.splitlines() if x.startswith("creds ")]
        self.calls = [parse_line(x[5:]) for x in self.out.splitlines() if x.startswith("call ")]
        s = [parse_line(x[8:]) for x in self.out.splitlines() if x.startswith("summary ")]
        self.summary = s[0] if s else {}

    @property
    def first(self):
        return self.creds[0] if self.creds else {}

    def __repr__(self):
        return "rc=%d %.1fs\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.elapsed, self.out,
                                                          self.err[-3000:])


class Ctx:
    def __init__(self, st):
        self.st = st
        self.home = st.path("home")
        os.makedirs(os.path.join(self.home, ".aws"), exist_ok=True)
        self.queue, _ = st.make_queue("creds-q", dlq=False)
        self.conf = self.config()

    def config(self, aws_extra="", name="creds.conf"):
        return self.st.write_config(
            "[ingestd]\nlog_level = info\n"
            "[aws]\nregion = us-east-1\nendpoint_url = %s\n%s"
            "[sqs]\nqueue_url = %s\n" % (self.st.moto_url, aws_extra, self.queue), name=name)

    def env(self, extra=None):
        e = self.st.env()
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            e.pop(k, None)
        e.update({
            "HOME": self.home,
            "AWS_CONFIG_FILE": self.st.path("no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": self.st.path("no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        for k, v in (extra or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def run(self, *args, env=None, conf=None, timeout=90):
        argv = [CREDSCTL, "-c", conf or self.conf, *args]
        t0 = time.monotonic()
        p = subprocess.run(argv, env=self.env(env), capture_output=True, text=True,
                           timeout=timeout)
        return Run(p, time.monotonic() - t0)

    def calls(self, env=None, conf=None, seconds=2, every=500):
        return self.run("--run", str(seconds), "--call-every", str(every), env=env, conf=conf)

    def write(self, name, text):
        path = self.st.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path


def all_calls_ok(r, minimum=2):
    return (r.rc == 0 and len(r.calls) >= minimum and
            all(c.get("ok") == "1" and c.get("attempts") == "1" for c in r.calls))


def setup_iam(st):
    iam = st.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Federated": "*"},
         "Action": "sts:AssumeRoleWithWebIdentity"}]})
    allow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    for name in (ROLE, "ingestd-role2"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=allow)


def sts_fetcher(st):
    sts = st.client("sts")
    count = [0]

    def fetch():
        count[0] += 1
        c = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="responder-%d" % count[0])
        c = c["Credentials"]
        return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["SessionToken"]}
    return fetch


# ---------------------------------------------------------------------------------------------

def test_static_and_env(cx):
    st = cx.st
    keys = "access_key_id = %s\nsecret_access_key = %s\n" % (st.access_key_id,
                                                            st.secret_access_key)
    conf_static = cx.config(keys, name="static.conf")
    r = cx.calls(conf=conf_static)
    check("static [aws] keys: source config", r.first.get("source") == "config" and
          r.first.get("access_key_id") == st.access_key_id, r)
    check("static [aws] keys: signed calls pass moto's check", all_calls_ok(r), r)
    check("the secret never appears in the output",
          st.secret_access_key not in r.out + r.err, r)

    bad = cx.config("access_key_id = %s\nsecret_access_key = wrong\n" % st.access_key_id,
                    name="bad.conf")
    r = cx.calls(conf=bad, seconds=1)
    check("a wrong secret is rejected by moto (the check is real)",
          r.rc != 0 and r.calls and all(c.get("ok") == "0" for c in r.calls) and
          "SignatureDoesNotMatch" in r.out, r)

    env_keys = {"AWS_ACCESS_KEY_ID": st.access_key_id,
                "AWS_SECRET_ACCESS_KEY": st.secret_access_key}
    r = cx.calls(env=env_keys)
    check("environment: source environment, calls pass",
          r.first.get("source") == "environment" and all_calls_ok(r), r)

    r = cx.run(env={"AWS_ACCESS_KEY_ID": "AKIAENVONLY", "AWS_SECRET_ACCESS_KEY": "x"},
               conf=conf_static)
    check("order: [aws] keys beat the environment",
          r.first.get("source") == "config" and r.first.get("access_key_id") == st.access_key_id,
          r)

    r = cx.run(env={"AWS_ACCESS_KEY_ID": "AKIAHALF"})
    check("a key id without a secret is an error, not a fall-through",
          r.rc != 0 and r.first.get("ok") == "0" and "together" in r.first.get("error", ""), r)


def test_web_identity(cx):
    st = cx.st
    tok = cx.write("web-token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpbmdlc3RkIn0.c2lnbmF0dXJl\n")
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": ROLE_ARN,
           "AWS_ROLE_SESSION_NAME": "ingestd-web"}
    r = cx.calls(env=env)
    c = r.first
    check("web identity: STS AssumeRoleWithWebIdentity gives session credentials",
          c.get("source") == "web-identity" and c.get("access_key_id", "").startswith("ASIA") and
          c.get("has_token") == "1" and 0 < int(c.get("expires_in_ms", "0")) <= 3600 * 1000, r)
    check("web identity: signed calls with them pass", all_calls_ok(r), r)

    r = cx.run("--once", env=env)
    check("web identity through creds_resolve_once (ingestd check/load path)",
          r.rc == 0 and r.first.get("source") == "web-identity", r)

    r = cx.run(env={**env, "AWS_WEB_IDENTITY_TOKEN_FILE": st.path("missing-token")})
    check("web identity: a missing token file is an error naming it",
          r.rc != 0 and "missing-token" in r.first.get("error", ""), r)

    creds = cx.write("creds-webenv", "[default]\naws_access_key_id = %s\n"
                     "aws_secret_access_key = %s\n" % (st.access_key_id, st.secret_access_key))
    r = cx.run(env={**env, "AWS_SHARED_CREDENTIALS_FILE": creds})
    check("order: web identity beats the shared files", r.first.get("source") == "web-identity",
          r)


def test_shared_files(cx):
    st = cx.st
    creds = cx.write("credentials", (
        "[default]\naws_access_key_id = AKIADEFAULTWRONG\naws_secret_access_key = wrong\n"
        "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n") % (
        st.access_key_id, st.secret_access_key, st.access_key_id, st.secret_access_key))
    config = cx.write("config", (
        "[default]\nregion = us-east-1\n"
        "[profile fromconfig]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        "[profile assumer]\nrole_arn = %s\nsource_profile = base\n"
        "role_session_name = ingestd-assumer\n"
        "[profile chained]\nrole_arn = %s\nsource_profile = assumer\n"
        "[profile broken]\nrole_arn = %s\nsource_profile = nowhere\n") % (
        st.access_key_id, st.secret_access_key, ROLE_ARN, ROLE2_ARN, ROLE_ARN))
    files = {"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": config}

    r = cx.calls(env={**files, "AWS_PROFILE": "dev"})
    check("shared credentials file, AWS_PROFILE=dev: static keys, calls pass",
          r.first.get("source") == "profile" and r.first.get("detail") == "profile dev" and
          all_calls_ok(r), r)

    r = cx.calls(env={**files, "AWS_PROFILE": "fromconfig"})
    check("shared config file [profile fromconfig]: static keys, calls pass",
          r.first.get("detail") == "profile fromconfig" and all_calls_ok(r), r)

    r = cx.calls(env={**files, "AWS_PROFILE": "assumer"})
    c = r.first
    check("role_arn + source_profile: STS AssumeRole signed with the source's keys",
          c.get("source") == "profile" and c.get("access_key_id", "").startswith("ASIA") and
          ROLE_ARN in c.get("detail", "") and c.get("has_token") == "1", r)
    check("role_arn + source_profile: calls with the role's credentials pass", all_calls_ok(r), r)

    r = cx.calls(env={**files, "AWS_PROFILE": "chained"})
    c = r.first
    check("two roles chained (chained -> assumer -> base)",
          c.get("access_key_id", "").startswith("ASIA") and ROLE_ARN in c.get("detail", "") and
          ROLE2_ARN in c.get("detail", "") and all_calls_ok(r), r)

    conf = cx.config("profile = assumer\n", name="profile.conf")
    r = cx.run(env={**files, "AWS_PROFILE": "dev"}, conf=conf)
    check("[aws] profile beats AWS_PROFILE",
          "profile assumer" in r.first.get("detail", ""), r)

    tok = cx.write("web-token-profile", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9maWxlIn0.c2ln\n")
    wi_config = cx.write("config-wi", "[profile wi]\nrole_arn = %s\n"
                         "web_identity_token_file = %s\n" % (ROLE_ARN, tok))
    r = cx.calls(env={"AWS_CONFIG_FILE": wi_config, "AWS_PROFILE": "wi"})
    c = r.first
    check("profile with role_arn + web_identity_token_file: AssumeRoleWithWebIdentity",
          c.get("source") == "profile" and c.get("access_key_id", "").startswith("ASIA") and
          ROLE_ARN in c.get("detail", "") and all_calls_ok(r), r)

    src_config = cx.write("config-envsrc", "[profile envsrc]\nrole_arn = %s\n"
                          "credential_source = Environment\n" % ROLE2_ARN)
    r = cx.run(env={"AWS_CONFIG_FILE": src_config, "AWS_PROFILE": "envsrc"})
    check("credential_source = Environment without the variables is an error",
          r.rc != 0 and "AWS_ACCESS_KEY_ID" in r.first.get("error", ""), r)

    r = cx.run(env={**files, "AWS_PROFILE": "broken"})
    check("a profile whose source_profile is missing is an error",
          r.rc != 0 and "nowhere" in r.first.get("error", ""), r)

    r = cx.run(env={**files, "AWS_PROFILE": "nosuchprofile"})
    check("a named profile that exists nowhere is an error",
          r.rc != 0 and "nosuchprofile" in r.first.get("error", ""), r)

    r = cx.run(env={**files, "AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": st.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": st.secret_access_key})
    check("order: the environment beats the shared files",
          r.first.get("source") == "environment", r)

    home_creds = os.path.join(cx.home, ".aws", "credentials")
    with open(home_creds, "w") as f:
        f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
            st.access_key_id, st.secret_access_key))
    r = cx.calls(env={"AWS_SHARED_CREDENTIALS_FILE": None, "AWS_CONFIG_FILE": None})
    os.unlink(home_creds)
    check("default files: ~/.aws/credentials [default]",
          r.first.get("detail") == "profile default" and all_calls_ok(r), r)


def test_ecs(cx, fetch):
    st = cx.st
    with CredsResponder(fetch, lifetime=900, role=ROLE, ecs_token="ecs-secret-token") as resp:
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": resp.ecs_url,
               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-secret-token"}
        r = cx.calls(env=env)
        c = r.first
        check("ECS full URI + authorization token: credentials, calls pass",
              c.get("source") == "ecs" and c.get("has_token") == "1" and
              c.get("access_key_id") in resp.issued and all_calls_ok(r), r)
        check("the container authorization token is never printed",
              "ecs-secret-token" not in r.out + r.err, r)

        tokfile = cx.write("ecs-token", "ecs-secret-token\n")
        r = cx.calls(env={"AWS_CONTAINER_CREDENTIALS_FULL_URI": resp.ecs_url,
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokfile,
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong-but-file-wins"})
        check("ECS with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (wins over the variable)",
              r.first.get("source") == "ecs" and all_calls_ok(r), r)

        before = resp.stats["ecs_401"]
        src_config = cx.write("config-ecssrc", "[profile ecsrole]\nrole_arn = %s\n"
                              "credential_source = EcsContainer\n" % ROLE2_ARN)
        r = cx.calls(env={**env, "AWS_CONFIG_FILE": src_config, "AWS_PROFILE": "ecsrole"})
        c = r.first
        check("profile credential_source = EcsContainer: AssumeRole signed with ECS credentials",
              c.get("source") == "profile" and ROLE2_ARN in c.get("detail", "") and
              c.get("access_key_id") not in resp.issued and all_calls_ok(r), r)

        r = cx.run(env={**env, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong"})
        check("ECS with a wrong token: 401, an error, no fall-through",
              r.rc != 0 and "401" in r.first.get("error", "") and
              resp.stats["ecs_401"] > before, r)

        r = cx.run(env={"AWS_CONTAINER_CREDENTIALS_FULL_URI":
                        resp.ecs_url.replace("127.0.0.1", "192.0.2.1")})
        check("ECS full URI over http to a non-loopback host is refused",
              r.rc != 0 and "loopback" in r.first.get("error", ""), r)

        files = cx.write("creds-ecs", "[default]\naws_access_key_id = %s\n"
                         "aws_secret_access_key = %s\n" % (st.access_key_id,
                                                           st.secret_access_key))
        r = cx.run(env={**env, "AWS_SHARED_CREDENTIALS_FILE": files})
        check("order: the shared files beat ECS", r.first.get("source") == "profile", r)


def raw(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_imds(cx, fetch):
    with CredsResponder(fetch, lifetime=900, role=ROLE) as resp:
        creds_url = resp.url + "/latest/meta-data/iam/security-credentials/"
        st1, _ = raw(creds_url)
        tst, token = raw(resp.url + "/latest/api/token", "PUT",
                         {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        st2, role = raw(creds_url, headers={"X-aws-ec2-metadata-token": token})
        st3, _ = raw(resp.url + "/latest/api/token", "PUT")
        check("responder behaves as IMDSv2: 401 without a token, token PUT, role list, "
              "400 without a TTL", st1 == 401 and tst == 200 and st2 == 200 and role == ROLE and
              st3 == 400, (st1, tst, st2, role, st3))

        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": resp.url, "AWS_EC2_METADATA_DISABLED": None}
        puts = resp.stats["token_put"]
        r = cx.calls(env=env)
        c = r.first
        check("IMDSv2: token, role, credentials; calls pass",
              c.get("source") == "imds" and c.get("detail") == "role " + ROLE and
              c.get("access_key_id") in resp.issued and all_calls_ok(r) and
              resp.stats["token_put"] == puts + 1, (r, resp.stats))

        src_config = cx.write("config-imdssrc", "[profile imdsrole]\nrole_arn = %s\n"
                              "credential_source = Ec2InstanceMetadata\n" % ROLE2_ARN)
        r = cx.calls(env={**env, "AWS_CONFIG_FILE": src_config, "AWS_PROFILE": "imdsrole"})
        c = r.first
        check("profile credential_source = Ec2InstanceMetadata: AssumeRole on IMDS credentials",
              c.get("source") == "profile" and ROLE2_ARN in c.get("detail", "") and
              c.get("access_key_id", "").startswith("ASIA") and
              c.get("access_key_id") not in resp.issued and all_calls_ok(r), r)

        r = cx.run("--once", env=env)
        check("IMDSv2 through creds_resolve_once", r.rc == 0 and r.first.get("source") == "imds",
              r)

        r = cx.run(env={**env, "AWS_EC2_METADATA_DISABLED": "true"})
        check("AWS_EC2_METADATA_DISABLED=true: no request to the metadata service, an error",
              r.rc != 0 and "disabled" in r.first.get("error", ""), r)

        # A revoked token (service restart): the GET gets 401, a new token is fetched, once.
        r401 = resp.stats["imds_401"]
        puts = resp.stats["token_put"]
        resp.lifetime = 10        # refresh after 5 s
        p = subprocess.Popen([CREDSCTL, "-c", cx.conf, "--run", "12", "--call-every", "1000"],
                             env=cx.env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(2)
        resp.revoke_tokens()
        out, err = p.communicate(timeout=60)
        resp.lifetime = 900
        r = Run(subprocess.CompletedProcess(p.args, p.returncode, out, err), 12)
        check("IMDSv2: a revoked token gives 401, the client gets a new token and refreshes",
              resp.stats["imds_401"] > r401 and resp.stats["token_put"] >= puts + 2 and
              len(r.creds) >= 2 and all_calls_ok(r, 8), (r, resp.stats))

    # Nothing listens there: falls through fast (1 s timeout, one attempt).
    port = free_closed_port()
    r = cx.run(env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % port,
                    "AWS_EC2_METADATA_DISABLED": None})
    check("IMDS unreachable: an error within 3 s", r.rc != 0 and r.elapsed < 3 and
          r.first.get("ok") == "0", r)


def free_closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_expired(cx, fetch):
    with CredsResponder(fetch, lifetime=3, role=ROLE) as resp:
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": resp.url, "AWS_EC2_METADATA_DISABLED": None}
        r = cx.run("--once", env=env)
        check("credentials that expire within the safety margin are never handed out",
              r.rc != 0 and "expired" in r.first.get("error", "") and
              "expire within" in r.err, r)


def test_refresh(cx, fetch):
    with CredsResponder(fetch, lifetime=24, role=ROLE) as resp:
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": resp.url, "AWS_EC2_METADATA_DISABLED": None}
        r = cx.run("--run", "40", "--call-every", "1000", env=env, timeout=120)
        keys = {c.get("access_key_id") for c in r.calls}
        refreshed = len(re.findall(r"AWS credentials refreshed from imds", r.err))
        check("40 s of calls with 24 s credentials: every call succeeds at its first attempt",
              all_calls_ok(r, 35) and r.summary.get("failed") == "0", r)
        check("refreshed before expiry at least twice, logged, with new keys each time",
              refreshed >= 2 and len(r.creds) >= 3 and len(keys) >= 3 and
              all(int(c.get("expires_in_ms", "0")) > 20000 for c in r.creds), (r, keys))

        # A failing refresh keeps the current credentials and retries with backoff.
        p = subprocess.Popen([CREDSCTL, "-c", cx.conf, "--run", "20", "--call-every", "1000"],
                             env=cx.env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1)
        resp.fail_creds(2)
        out, err = p.communicate(timeout=60)
        r = Run(subprocess.CompletedProcess(p.args, p.returncode, out, err), 20)
        check("failed refreshes keep the current credentials; retried; calls never fail",
              resp.stats["failed"] == 2 and "refresh failed, keeping the current ones" in r.err and
              any(c.get("ok") == "0" for c in r.creds) and
              r.creds[-1].get("ok") == "1" and all_calls_ok(r, 15), (r, resp.stats))


def main():
    if not os.access(CREDSCTL, os.X_OK):
        print("not ok 1 - %s not built (make check builds it)" % CREDSCTL)
        return 1
    try:
        import moto  # noqa: F401
    except ImportError:
        print("# moto is not installed")
        return 1 if IN_CI else 77
    try:
        with Stack(moto=True, auth=True) as st:
            setup_iam(st)
            cx = Ctx(st)
            fetch = sts_fetcher(st)
            test_static_and_env(cx)
            test_web_identity(cx)
            test_shared_files(cx)
            test_ecs(cx, fetch)
            test_imds(cx, fetch)
            test_expired(cx, fetch)
            test_refresh(cx, fetch)
    except StackError as e:
        print("not ok - stack: %s" % e)
        return 1
    print("1..%d" % len(results))
    failed = results.count(False)
    print("# %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
