#!/usr/bin/env python3
"""deploy/cloudformation.yaml: its structure, then deployed into moto and used by ingestd.

Structure: cfn-lint (the CloudFormation resource specification) passes; every Ref, GetAtt,
${...} in Sub, condition and DependsOn names something that exists, and every parameter is
used; the task role's policy is etc/iam-policy.json's, statement for statement, with the
stack's names in place of the placeholders; the rendered configuration sets log_format =
json and a loopback metrics_listen, its shutdown_timeout is below the container's
StopTimeout, and the health check, the command and the config container agree on the
configuration's path.

Deployment: moto 5.2.1's CloudFormation creates no AWS::SQS::QueuePolicy,
AWS::CloudWatch::Alarm, AWS::ApplicationAutoScaling::ScalableTarget or
AWS::ApplicationAutoScaling::ScalingPolicy (the test asserts exactly this list against
moto's own resource map) and ignores an S3 bucket's NotificationConfiguration (asserted
too), as well as an ECS service's LaunchType and NetworkConfiguration. The template without those resources is deployed through CloudFormation; every
remaining resource must come up. The dropped parts are then applied through their own
APIs with the template's properties (queue policy, bucket notification, alarms, scalable
target and target-tracking policy), so their properties are exercised as well. Finally
ingestd runs with the configuration the stack rendered into its SSM parameter, against the
stack's queue, bucket and DLQ: `ingestd health` turns 0, a good object's rows reach
PostgreSQL, a bad object's report reaches the DLQ.
"""

import copy
import json
import os
import re
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

TEMPLATE = os.path.join(SRCDIR, "deploy", "cloudformation.yaml")
# Resource types moto 5.2.1's CloudFormation does not create.
MOTO_UNSUPPORTED = {"AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm",
                    "AWS::ApplicationAutoScaling::ScalableTarget",
                    "AWS::ApplicationAutoScaling::ScalingPolicy"}
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName",
          "AWS::StackId", "AWS::NoValue", "AWS::URLSuffix", "AWS::NotificationARNs"}
ATTRIBUTES = {"AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"},
              "AWS::ECS::Service": {"Name", "ServiceArn"},
              "AWS::IAM::Role": {"Arn", "RoleId"},
              "AWS::S3::Bucket": {"Arn", "DomainName"},
              "AWS::SNS::Topic": {"TopicArn", "TopicName"}}
STACK = "ingestd-cfn"
BUCKET = "ingestd-cfn-inbox"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub ...) as long forms."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template():
    with open(TEMPLATE) as f:
        return yaml.load(f, Loader=CfnLoader)


def sub_names(text):
    """The names a Fn::Sub string refers to (${X} or ${X.Attr}; ${!X} is literal)."""
    return re.findall(r"\$\{(?!!)([^}]+)\}", text)


def walk(node, fn):
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


# ---- structure ----

def check_references(t):
    params, res, conds = set(t["Parameters"]), t["Resources"], set(t.get("Conditions", {}))
    used, problems = set(), []

    def ref(name, where, local=()):
        if name in local:
            return
        if "." in name:
            r, attr = name.split(".", 1)
            getatt(r, attr, where)
            return
        if name not in params and name not in res and name not in PSEUDO:
            problems.append(f"{where}: Ref {name} resolves to nothing")
        used.add(name)

    def getatt(r, attr, where):
        if r not in res:
            problems.append(f"{where}: GetAtt {r}.{attr}: no such resource")
        elif attr not in ATTRIBUTES.get(res[r]["Type"], set()):
            problems.append(f"{where}: GetAtt {r}.{attr}: not an attribute of {res[r]['Type']}")

    def visit(where):
        def fn(d):
            if "Ref" in d:
                ref(d["Ref"], where)
            if "Fn::GetAtt" in d:
                getatt(*d["Fn::GetAtt"], where)
            if "Fn::Sub" in d:
                s = d["Fn::Sub"]
                text, local = (s, {}) if isinstance(s, str) else (s[0], s[1])
                for name in sub_names(text):
                    ref(name, where, local)
            if "Fn::If" in d and d["Fn::If"][0] not in conds:
                problems.append(f"{where}: Fn::If {d['Fn::If'][0]}: no such condition")
        return fn

    for name, r in res.items():
        walk(r, visit(name))
        if r.get("Condition") and r["Condition"] not in conds:
            problems.append(f"{name}: Condition {r['Condition']}: no such condition")
        deps = r.get("DependsOn", [])
        for dep in [deps] if isinstance(deps, str) else deps:
            if dep not in res:
                problems.append(f"{name}: DependsOn {dep}: no such resource")
    walk(t.get("Outputs", {}), visit("Outputs"))
    walk(t.get("Conditions", {}), visit("Conditions"))
    unused = params - used
    if unused:
        problems.append(f"parameters never used: {sorted(unused)}")
    assert not problems, "\n".join(problems)


def expected_policy():
    """etc/iam-policy.json with the template's names for its placeholders."""
    with open(os.path.join(SRCDIR, "etc", "iam-policy.json")) as f:
        text = f.read()
    for old, new in ((":ingest-events-dlq\"", ":${DeadLetterQueue.QueueName}\""),
                     (":ingest-events\"", ":${EventQueue.QueueName}\""),
                     (":ingest-rows\"", ":${RowsQueueName}\""),
                     ("role/ingestd-loader\"", "role/${LoaderRoleName}\""),
                     ("table/TARGET_TABLE\"", "table/${DynamoDbTable}\""),
                     ("BUCKET/", "${BucketName}/"), ("REGION", "${AWS::Region}"),
                     ("ACCOUNT_ID", "${AWS::AccountId}")):
        assert old in text, f"{old} not in etc/iam-policy.json"
        text = text.replace(old, new)
    return json.loads(text)


def template_policy(t):
    pol = [p for p in t["Resources"]["TaskRole"]["Properties"]["Policies"]
           if p["PolicyName"] == "ingestd"][0]["PolicyDocument"]

    def plain(v):
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict) and set(v) == {"Fn::Sub"}:
            return v["Fn::Sub"]
        return v
    return {"Version": pol["Version"],
            "Statement": [{k: plain(v) for k, v in s.items()} for s in pol["Statement"]]}


def containers(t):
    defs = t["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return {c["Name"]: c for c in defs}


def rendered_config(t):
    return t["Resources"]["ConfigParameter"]["Properties"]["Value"]["Fn::Sub"]


def ini_value(text, section, key):
    cur = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            cur = s.strip("[]")
        elif cur == section and "=" in s and s.split("=", 1)[0].strip() == key:
            return s.split("=", 1)[1].strip()
    return None


# ---- moto ----

def moto_model_types():
    from moto.cloudformation.parsing import get_model_map, NULL_MODELS
    return set(get_model_map()) | set(NULL_MODELS)


def for_moto(t):
    """(template without the types moto cannot create, the dropped resources)."""
    t = copy.deepcopy(t)
    dropped = {n: r for n, r in t["Resources"].items() if r["Type"] in MOTO_UNSUPPORTED}
    for n in dropped:
        del t["Resources"][n]
    for r in t["Resources"].values():
        deps = r.get("DependsOn")
        if deps:
            deps = [d for d in ([deps] if isinstance(deps, str) else deps) if d not in dropped]
            if deps:
                r["DependsOn"] = deps
            else:
                del r["DependsOn"]
    return t, dropped


class Resolver:
    """Evaluates the template's intrinsic functions against the deployed stack."""

    def __init__(self, st, params, physical):
        self.st, self.params, self.physical = st, params, physical
        self.account = st.client("sts").get_caller_identity()["Account"]
        self.pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": self.account,
                       "AWS::Partition": "aws", "AWS::StackName": STACK}

    def name(self, n):
        if "." in n:
            return self.getatt(*n.split(".", 1))
        if n in self.params:
            return self.params[n]
        if n in self.pseudo:
            return self.pseudo[n]
        return self.physical[n]

    def getatt(self, r, attr):
        v = self.physical[r]
        if attr == "Arn" and "/" in v and v.startswith("http"):
            return self.st.queue_arn(v)
        if attr == "QueueName":
            return v.rsplit("/", 1)[1]
        if attr == "Name":
            return v.rsplit("/", 1)[1]
        raise AssertionError(f"GetAtt {r}.{attr} not resolved by the test")

    def __call__(self, v):
        if isinstance(v, list):
            return [self(x) for x in v]
        if not isinstance(v, dict):
            return v
        if set(v) == {"Ref"}:
            return self.name(v["Ref"])
        if set(v) == {"Fn::GetAtt"}:
            return self.getatt(*v["Fn::GetAtt"])
        if set(v) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self.name(m.group(1))), v["Fn::Sub"])
        return {k: self(x) for k, x in v.items()}


def wait_until(what, fn, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def main():
    require_binary()
    c = Checks()
    t = load_template()

    def lint():
        p = subprocess.run([sys.executable, "-c",
                            "import sys; from cfnlint.runner import main; sys.exit(main())",
                            TEMPLATE], capture_output=True, text=True)
        if "No module named 'cfnlint'" in p.stderr:
            raise AssertionError("cfn-lint is not installed in this python3")
        assert p.returncode == 0, p.stdout + p.stderr

    def references():
        check_references(t)

    def iam_policy():
        want, got = expected_policy(), template_policy(t)
        assert [s["Sid"] for s in got["Statement"]] == [s["Sid"] for s in want["Statement"]], \
            [s["Sid"] for s in got["Statement"]]
        for w, g in zip(want["Statement"], got["Statement"]):
            assert g == w, f"statement {w['Sid']}:\n template {g}\n expected {w}"
        assert got == want

    def container_contract():
        cont = containers(t)
        conf = rendered_config(t)
        assert ini_value(conf, "ingestd", "log_format") == "json"
        assert ini_value(conf, "ingestd", "metrics_listen") == "127.0.0.1:${HealthPort}"
        assert ini_value(conf, "sqs", "queue_url") == "${EventQueue}"
        assert ini_value(conf, "sqs", "dlq_url") == "${DeadLetterQueue}"
        main_c = cont["ingestd"]
        assert int(ini_value(conf, "ingestd", "shutdown_timeout")) < main_c["StopTimeout"] <= 120
        path = main_c["Command"][main_c["Command"].index("-c") + 1]
        assert main_c["HealthCheck"]["Command"] == ["CMD", "ingestd", "health", "-c", path]
        assert main_c["HealthCheck"]["Timeout"] > 5, "above ingestd health's own 5 s"
        assert f"> {path}" in cont["config"]["Command"][0]
        assert main_c["DependsOn"] == [{"ContainerName": "config", "Condition": "SUCCESS"}]
        mount = os.path.dirname(path)
        for name, ro in (("config", False), ("ingestd", True)):
            mp = cont[name]["MountPoints"][0]
            assert mp["ContainerPath"] == mount and mp.get("ReadOnly", False) == ro, mp
        assert main_c["LogConfiguration"]["LogDriver"] == "awslogs"
        assert "Environment" not in main_c, "the configuration travels through Secrets only"

    c.check("cfn-lint passes", lint)
    c.check("every Ref, GetAtt, Sub name, condition and DependsOn resolves; "
            "every parameter used", references)
    c.check("the task role's policy is etc/iam-policy.json with the stack's names", iam_policy)
    c.check("config: log_format json, loopback listener, shutdown_timeout < StopTimeout, "
            "one path", container_contract)

    def unsupported_list():
        types = {r["Type"] for r in t["Resources"].values()}
        assert types - moto_model_types() == MOTO_UNSUPPORTED, types - moto_model_types()

    c.check("moto cannot create exactly: " + ", ".join(sorted(MOTO_UNSUPPORTED)),
            unsupported_list)

    with Stack(moto=True, postgres=True) as st:
        st.psql("CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)")
        port = free_port()
        routes = (f"[sink pg]\ntype = postgres\nconninfo = host=127.0.0.1 port={st.pg_port} "
                  f"dbname=ingest user=ingest\npassword = {st.pg_password}\n\n"
                  "[route people]\nsink = pg\nmatch_prefix = data/\ntable = people\n")
        params = {"BucketName": BUCKET, "ImageUri": "ingestd:test",
                  "Subnets": "subnet-0123456789abcdef0",
                  "SecurityGroups": "sg-0123456789abcdef0", "SinksAndRoutes": routes,
                  "HealthPort": str(port)}
        state = {}

        def deploy():
            body, dropped = for_moto(t)
            state["dropped"] = dropped
            cf = st.client("cloudformation")
            cf.create_stack(StackName=STACK, TemplateBody=json.dumps(body),
                            Capabilities=["CAPABILITY_IAM"],
                            Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                        for k, v in params.items()])
            stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE", stack
            res = cf.describe_stack_resources(StackName=STACK)["StackResources"]
            physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in res}
            assert set(physical) == set(body["Resources"]), \
                set(body["Resources"]) ^ set(physical)
            assert all(physical.values()), physical
            state["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
            state["physical"] = physical
            defaults = {k: str(v["Default"]) for k, v in t["Parameters"].items() if "Default" in v}
            plist = dict(defaults, **params)
            plist.update(Subnets=[params["Subnets"]], SecurityGroups=[params["SecurityGroups"]])
            state["resolve"] = Resolver(st, plist, physical)

        c.check("CloudFormation in moto creates every other resource", deploy)
        if c.failed:
            return c.done()
        resolve, out = state["resolve"], state["outputs"]
        q, dlq = out["EventQueueUrl"], out["DeadLetterQueueUrl"]

        def queues():
            a = st.client("sqs").get_queue_attributes(QueueUrl=q, AttributeNames=["All"])[
                "Attributes"]
            redrive = json.loads(a["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == st.queue_arn(dlq), redrive
            assert int(redrive["maxReceiveCount"]) == 5, redrive
            assert a["ReceiveMessageWaitTimeSeconds"] == "20" and a["VisibilityTimeout"] == "300"
            role = st.client("iam").get_role(RoleName=out["TaskRoleArn"].rsplit("/", 1)[1])
            assert role["Role"]["Arn"] == out["TaskRoleArn"]
            td = st.client("ecs").describe_task_definition(
                taskDefinition=resolve.physical["TaskDefinition"])["taskDefinition"]
            names = [cd["name"] for cd in td["containerDefinitions"]]
            assert names == ["config", "ingestd"], names
            svc = st.client("ecs").describe_services(cluster=out["ClusterName"],
                                                     services=[out["ServiceName"]])["services"]
            assert svc and svc[0]["taskDefinition"] == td["taskDefinitionArn"], svc
            assert svc[0]["desiredCount"] == 1, svc
            # moto's CloudFormation drops the service's LaunchType and NetworkConfiguration
            # (cfn-lint checked them above); say so if that changes.
            assert svc[0]["launchType"] == "EC2" and not svc[0]["networkConfiguration"], svc

        def apply_dropped():
            dropped = state["dropped"]
            # put_scaling_policy names the target by its ids, not by the target's Ref
            scaling = dropped["BacklogScaling"]["Properties"]
            assert scaling.pop("ScalingTargetId") == {"Ref": "ScalableTarget"}
            props = {n: resolve(r["Properties"]) for n, r in dropped.items()}
            sqs, s3 = st.client("sqs"), st.client("s3")
            # moto ignores the bucket's NotificationConfiguration: apply it like S3 would.
            assert not s3.get_bucket_notification_configuration(Bucket=BUCKET).get(
                "QueueConfigurations"), "moto now applies NotificationConfiguration"
            pol = props["EventQueuePolicy"]
            sqs.set_queue_attributes(QueueUrl=pol["Queues"][0],
                                     Attributes={"Policy": json.dumps(pol["PolicyDocument"])})
            nc = resolve(t["Resources"]["IngestBucket"]["Properties"]["NotificationConfiguration"])
            s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": x["Queue"], "Events": [x["Event"]]}
                                        for x in nc["QueueConfigurations"]]})
            cw = st.client("cloudwatch")
            for n, p in props.items():
                if dropped[n]["Type"] == "AWS::CloudWatch::Alarm":
                    p["Threshold"] = float(p["Threshold"])
                    cw.put_metric_alarm(**p)
            alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
            assert set(alarms) == {f"{STACK}-dlq-not-empty", f"{STACK}-events-waiting"}, alarms
            assert alarms[f"{STACK}-dlq-not-empty"]["Dimensions"] == [
                {"Name": "QueueName", "Value": dlq.rsplit("/", 1)[1]}]
            assert alarms[f"{STACK}-dlq-not-empty"]["AlarmActions"] == [out["AlarmTopicArn"]]
            aas = st.client("application-autoscaling")
            tgt = props["ScalableTarget"]
            tgt["MinCapacity"], tgt["MaxCapacity"] = int(tgt["MinCapacity"]), int(tgt["MaxCapacity"])
            aas.register_scalable_target(**tgt)
            sp = props["BacklogScaling"]
            cfg = sp["TargetTrackingScalingPolicyConfiguration"]
            cfg["TargetValue"] = float(cfg["TargetValue"])
            aas.put_scaling_policy(PolicyName=sp["PolicyName"], PolicyType=sp["PolicyType"],
                                   ServiceNamespace=tgt["ServiceNamespace"],
                                   ResourceId=tgt["ResourceId"],
                                   ScalableDimension=tgt["ScalableDimension"],
                                   TargetTrackingScalingPolicyConfiguration=cfg)
            got = aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
            assert [p["ResourceId"] for p in got] == \
                [f"service/{out['ClusterName']}/{out['ServiceName']}"], got

        c.check("queues with redrive, task role, task definition, Fargate service", queues)
        c.check("queue policy, bucket notification, alarms, scaling applied by their APIs",
                apply_dropped)
        if c.failed:
            return c.done()

        conf_text = st.client("ssm").get_parameter(Name=out["ConfigParameterName"])[
            "Parameter"]["Value"]
        conf_text = without_unknown_log_format(st, conf_text)
        conf = st.write_config(conf_text)
        st.purge(q)                                     # the s3:TestEvent
        d = Ingestd(conf, env=st.env(), log=st.path("ingestd.log"))
        try:
            def healthy():
                wait_until("ingestd health exit 0",
                           lambda: run(["health", "-c", conf])[0] == 0, 30)

            def loads():
                st.put_object(BUCKET, "data/people.csv", b"id,name\n1,Ann\n2,Bob\n")
                st.put_object(BUCKET, "data/bad.csv", b"id,name\n3,Cy\n4,Dee,extra\n")
                wait_until("2 rows", lambda: st.psql("SELECT count(*) FROM people")
                           == [("2",)], 60)
                reports = wait_until("a DLQ report", lambda: st.receive_all(dlq, wait=0.5), 60)
                assert [(r["body"]["bucket"], r["body"]["key"]) for r in reports] == \
                    [(BUCKET, "data/bad.csv")], reports

            # loads first: until its first ReceiveMessage returns (at once when messages
            # wait, after wait_time_seconds = 20 otherwise) the daemon is not yet healthy
            c.check("a good object loads into PostgreSQL, a bad one's report reaches the "
                    "stack's DLQ", loads)
            c.check("ingestd with the stack's rendered configuration: health 0", healthy)
            c.check("SIGTERM: exit 0", lambda: _stopped(d))
        finally:
            d.kill()
            if c.failed:
                sys.stderr.write(d.log_text()[-3000:])
    return c.done()


def _stopped(d):
    rc = d.stop(timeout=40)
    assert rc == 0, rc


def without_unknown_log_format(st, text):
    """The rendered configuration, without log_format when this build does not know the
    key yet (it then says so); unchanged otherwise."""
    probe = st.write_config("[ingestd]\nlog_format = json\n[sqs]\nqueue_url = "
                            "https://sqs.us-east-1.amazonaws.com/1/q\n", name="probe.conf")
    rc, _, err = run(["--check-config", "-c", probe])
    if rc == 0:
        return text
    assert "log_format" in err, err
    print("# this build has no log_format key: the rendered configuration runs without it")
    return re.sub(r"^log_format = json\n", "", text, flags=re.M)


if __name__ == "__main__":
    sys.exit(main())
