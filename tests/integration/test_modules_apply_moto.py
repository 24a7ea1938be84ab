"""Apply the seed root against a moto server, re-plan for drift, destroy, and check that
nothing tagged with the cluster is left.

The seed cluster's workspace is applied exactly as `kopsgen render` writes it; emulator gaps are bridged
only by override files this test adds (provider endpoints, the moto hosted zone id, an
image moto knows), never in the modules.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import helpers
import pytest

CLUSTER_TAG = "kubernetes.io/cluster/k8s"
MOTO_AMI = "ami-760aaa0f"  # an x86_64 HVM image in moto's default catalogue, root /dev/xvda

# Differences a second plan shows only because moto does not round-trip some fields:
# (resource address pattern, attributes allowed to differ, why).
EMULATOR_DRIFT = [
    (
        r"module\.etcd\.aws_route53_zone\.internal",
        {"vpc"},
        "moto returns a private hosted zone as public (no VPC associations)",
    ),
    (
        r"module\.[a-z_0-9]+\.aws_launch_template\.this",
        {"tag_specifications", "latest_version"},
        "moto adds a launch-template entry to tag_specifications",
    ),
    (
        r"module\.[a-z_0-9]+\.aws_autoscaling_group\.this",
        {"launch_template", "capacity_reservation_specification"},
        "follows the launch template's version; moto returns an empty reservation preference",
    ),
    (
        r"module\.[a-z_0-9]+\.aws_autoscaling_lifecycle_hook\.drain",
        {"notification_target_arn", "role_arn"},
        "moto does not give back a hook's unset notification target and role as unset",
    ),
    (
        r"module\.[a-z_0-9]+\.aws_vpc_security_group_(ingress|egress)_rule\..+",
        {"description"},
        "moto drops the description of rules that reference a security group",
    ),
]


def run(cmd: list[str], cwd: Path, env: dict[str, str], ok=(0,)) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode in ok, (
        f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def changed_attributes(change: dict) -> set[str]:
    before, after = change["before"] or {}, change["after"] or {}
    unknown = change.get("after_unknown") or {}
    keys = set(before) | set(after) | set(unknown)
    return {k for k in keys if k != "tags_all" and (before.get(k) != after.get(k) or unknown.get(k) is True)}


def unexplained_drift(plan: dict) -> list[str]:
    problems = []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        attrs = changed_attributes(rc["change"])
        allowed = next((a for pattern, a, _ in EMULATOR_DRIFT if re.fullmatch(pattern, rc["address"])), None)
        if actions != ["update"] or allowed is None or not attrs <= allowed:
            problems.append(f"{rc['address']} {actions} {sorted(attrs)}")
    return problems


@pytest.fixture
def moto_endpoint(monkeypatch, tmp_path):
    # A process of its own: moto's backends are global to a process, and other tests in
    # this session leave things in them (a load balancer named k8s-api, for one).
    with helpers.emulator(tmp_path / "moto.log", MOTO_IAM_LOAD_MANAGED_POLICIES="true") as endpoint:
        yield endpoint


def boto(endpoint: str, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def write_overrides(workdir: Path, endpoint: str, zone_id: str) -> None:
    services = ["autoscaling", "ec2", "elbv2", "events", "iam", "kms", "logs", "route53", "s3",
                "sqs", "sts"]
    endpoints = "\n".join(f'    {s:<11} = "{endpoint}"' for s in services)
    (workdir / "moto_override.tf").write_text(
        'provider "aws" {\n'
        '  access_key                  = "test"\n'
        '  secret_key                  = "test"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_requesting_account_id  = false\n"
        "  max_retries                 = 3\n"
        "  s3_use_path_style           = true\n\n"
        f"  endpoints {{\n{endpoints}\n  }}\n}}\n\n"
        "# moto has no Flatcar images; the lookup module is swapped for a fixed moto image.\n"
        'module "flatcar_ami" {\n  source = "./moto_ami"\n}\n\n'
        f'module "dns" {{\n  hosted_zone_id = "{zone_id}"\n}}\n'
    )
    # moto applies a bucket policy's Deny without reading its Condition, so the TLS-only
    # policy would refuse every request over the emulator's plain HTTP.
    from kopsgen.sandbox import TLS_POLICY_OVERRIDE

    (workdir / "modules" / "assets_bucket" / "moto_override.tf").write_text(TLS_POLICY_OVERRIDE)
    (workdir / "moto_ami").mkdir()
    (workdir / "moto_ami" / "main.tf").write_text(f'output "id" {{\n  value = "{MOTO_AMI}"\n}}\n')


# An Auto Scaling termination lifecycle event as EventBridge delivers it (Amazon EC2 Auto
# Scaling User Guide, "Amazon EC2 Auto Scaling event reference": "EC2 Instance-terminate
# Lifecycle Action"), for the group named.
def lifecycle_event(group: str) -> dict:
    return {
        "Source": "aws.autoscaling",
        "DetailType": "EC2 Instance-terminate Lifecycle Action",
        "Resources": [f"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
                      f"59fcbb81-bd02-485d-80ce-563ef5b237bf:autoScalingGroupName/{group}"],
        "Detail": json.dumps({
            "Origin": "AutoScalingGroup",
            "Destination": "EC2",
            "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
            "AutoScalingGroupName": group,
            "LifecycleHookName": "kopsgen-drain",
            "EC2InstanceId": "i-1234567890abcdef0",
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        }),
    }


def check_drained_terminations(endpoint: str, groups: list[dict]) -> None:
    """Every group waits for a drain on termination, and what says so reaches the queue."""
    autoscaling, events, sqs = (boto(endpoint, s) for s in ("autoscaling", "events", "sqs"))
    for g in groups:
        hooks = autoscaling.describe_lifecycle_hooks(
            AutoScalingGroupName=g["AutoScalingGroupName"])["LifecycleHooks"]
        assert [(h["LifecycleHookName"], h["LifecycleTransition"], h["HeartbeatTimeout"],
                 h["DefaultResult"]) for h in hooks] == [
            ("kopsgen-drain", "autoscaling:EC2_INSTANCE_TERMINATING", 300, "CONTINUE")], hooks
    url = sqs.get_queue_url(QueueName="k8s-node-termination")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["MessageRetentionPeriod"], attrs.get("SqsManagedSseEnabled")) == ("300", "true")
    policy = json.loads(attrs["Policy"])
    (statement,) = policy["Statement"]
    assert (statement["Principal"], statement["Action"], statement["Resource"]) == (
        {"Service": "events.amazonaws.com"}, "sqs:SendMessage", attrs["QueueArn"])
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix="k8s-termination-")["Rules"]}
    assert set(rules) == {f"k8s-termination-{k}" for k in (
        "asg-lifecycle", "spot-interruption", "rebalance", "state-change", "scheduled-change")}
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        r["Arn"] for r in rules.values())
    for name in rules:
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        assert [t["Arn"] for t in targets] == [attrs["QueueArn"]], (name, targets)
    # The rule's pattern matches the real event of a cluster group, and not that of another
    # cluster whose name merely starts with this one's.
    sent = events.put_events(Entries=[lifecycle_event("k8s-prod-nodepool1"),
                                      lifecycle_event("k8s-nodepool1")])
    assert sent["FailedEntryCount"] == 0, sent
    received = []
    for _ in range(3):
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=1).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in received]
    assert [(b["detail-type"], b["detail"]["AutoScalingGroupName"]) for b in bodies] == [
        ("EC2 Instance-terminate Lifecycle Action", "k8s-nodepool1")], bodies


def leftovers(endpoint: str) -> list[str]:
    left = []
    tagging = boto(endpoint, "resourcegroupstaggingapi")
    kms, ec2 = boto(endpoint, "kms"), boto(endpoint, "ec2")
    for res in tagging.get_resources(TagFilters=[{"Key": CLUSTER_TAG}])["ResourceTagMappingList"]:
        arn = res["ResourceARN"]
        kind, _, ident = arn.split(":", 5)[-1].partition("/")
        if kind == "key" and kms.describe_key(KeyId=ident)["KeyMetadata"]["KeyState"] == "PendingDeletion":
            continue  # KMS keys are only ever scheduled for deletion
        if kind == "instance":
            state = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"][0]
            if state["State"]["Name"] == "terminated":
                continue
        left.append(arn)
    tag_filter = [{"Name": f"tag:{CLUSTER_TAG}", "Values": ["owned", "shared"]}]
    live = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    for r in ec2.describe_instances(Filters=tag_filter + live)["Reservations"]:
        left += [i["InstanceId"] for i in r["Instances"]]
    left += [v["VolumeId"] for v in ec2.describe_volumes(Filters=tag_filter)["Volumes"]]
    left += [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag_filter)["Vpcs"]]
    left += [
        g["AutoScalingGroupName"]
        for g in boto(endpoint, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    ]
    left += [
        lb["LoadBalancerArn"] for lb in boto(endpoint, "elbv2").describe_load_balancers()["LoadBalancers"]
    ]
    return sorted(set(left))


@pytest.mark.slow
def test_seed_root_applies_replans_clean_and_destroys(tmp_path: Path, moto_endpoint: str):
    terraform = helpers.require_tool("terraform")
    env = helpers.terraform_env(tmp_path)
    env.setdefault("TF_PLUGIN_CACHE_DIR", str(tmp_path / "plugin-cache"))
    os.makedirs(env["TF_PLUGIN_CACHE_DIR"], exist_ok=True)

    workdir = helpers.render_example("kubeops", tmp_path / "cluster")

    zone = boto(moto_endpoint, "route53").create_hosted_zone(Name="kubeops.net", CallerReference="seed")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    write_overrides(workdir, moto_endpoint, zone_id)

    timings = {}
    started = time.monotonic()
    run([terraform, "init", "-input=false"], workdir, env)
    timings["init"] = time.monotonic() - started

    started = time.monotonic()
    run([terraform, "apply", "-input=false", "-auto-approve"], workdir, env)
    timings["apply"] = time.monotonic() - started

    outputs = json.loads(run([terraform, "output", "-json"], workdir, env).stdout)
    assert outputs["api_endpoint"]["value"] == "https://k8s.kubeops.net"
    assert outputs["assets_location"]["value"] == "s3://kopsgen-k8s-123456789012-us-east-1/k8s"
    assert set(outputs["autoscaling_group_names"]["value"]) == {"controller", "nodepool1"}
    assert set(outputs["role_arns"]["value"]) == {"etcd", "controller", "worker"}

    # What the apply built, seen from the emulator's side.
    ec2 = boto(moto_endpoint, "ec2")
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["k8s-etcd*-data"]}])["Volumes"]
    assert len(volumes) == 3 and all(v["Encrypted"] for v in volumes)
    assert {a["Device"] for v in volumes for a in v["Attachments"]} == {"/dev/xvdf"}
    records = boto(moto_endpoint, "route53").list_resource_record_sets(HostedZoneId=zone_id)
    assert any(r["Name"] == "k8s.kubeops.net." and "AliasTarget" in r for r in records["ResourceRecordSets"])
    asgs = boto(moto_endpoint, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {g["AutoScalingGroupName"]: g["MinSize"] for g in asgs} == {
        "k8s-controller": 2,
        "k8s-nodepool1": 4,
    }
    # Controllers count as healthy when the load balancers say so (kube-apiserver /readyz).
    (controllers,) = [g for g in asgs if g["AutoScalingGroupName"] == "k8s-controller"]
    assert (controllers["HealthCheckType"], controllers["HealthCheckGracePeriod"]) == ("ELB", 600)

    # In-cluster clients' endpoint (what tests/unit/test_api_reachability.py reads off the
    # HCL), as the emulator holds it: an internal load balancer in the controllers' subnets
    # that admits the node groups, named api.k8s.internal in the private zone.
    elbv2 = boto(moto_endpoint, "elbv2")
    lbs = {lb["LoadBalancerName"]: lb for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    internal, public = lbs["k8s-api-int"], lbs["k8s-api"]
    # (moto leaves Scheme out for the default, internet-facing)
    assert (internal.get("Scheme"), public.get("Scheme", "internet-facing")) == (
        "internal", "internet-facing"), (internal, public)
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert internal["SecurityGroups"] == [groups["k8s-api-int"]["GroupId"]]
    admitted = {p["GroupId"] for rule in groups["k8s-api-int"]["IpPermissions"]
                if rule.get("FromPort") == 443 for p in rule.get("UserIdGroupPairs", [])}
    assert admitted == {groups["k8s-controller"]["GroupId"], groups["k8s-worker"]["GroupId"]}
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"]) == ("HTTPS", "/readyz")
        attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
            TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
        if tg["TargetGroupName"] == "k8s-api-int":
            assert attrs.get("preserve_client_ip.enabled") == "false"
    zones = boto(moto_endpoint, "route53").list_hosted_zones()["HostedZones"]
    (private,) = [z for z in zones if z["Name"] == "k8s.internal."]
    records = boto(moto_endpoint, "route53").list_resource_record_sets(
        HostedZoneId=private["Id"])["ResourceRecordSets"]
    (api,) = [r for r in records if r["Name"] == "api.k8s.internal."]
    assert api["AliasTarget"]["DNSName"].rstrip(".").lower() == internal["DNSName"].lower()

    check_drained_terminations(moto_endpoint, asgs)

    state = run([terraform, "show", "-json"], workdir, env).stdout
    assert "PRIVATE KEY" not in state
    assert "aws_secret_access_key" not in state and "SecretAccessKey" not in state

    plan = run(
        [terraform, "plan", "-input=false", "-detailed-exitcode", "-out=replan.tfplan"],
        workdir,
        env,
        ok=(0, 2),
    )
    plan_json = json.loads(run([terraform, "show", "-json", "replan.tfplan"], workdir, env).stdout)
    assert unexplained_drift(plan_json) == [], plan.stdout[-4000:]

    # prevent_destroy guards the etcd data: take the volumes out of the state, then destroy.
    etcd_volumes = [
        a
        for a in run([terraform, "state", "list"], workdir, env).stdout.split()
        if a.startswith("module.etcd.aws_ebs_volume.data[")
    ]
    assert len(etcd_volumes) == 3
    run([terraform, "state", "rm", *etcd_volumes], workdir, env)

    started = time.monotonic()
    run([terraform, "destroy", "-input=false", "-auto-approve"], workdir, env)
    timings["destroy"] = time.monotonic() - started

    kept = ec2.describe_volumes(VolumeIds=[v["VolumeId"] for v in volumes])["Volumes"]
    assert [v["State"] for v in kept] == ["available"] * 3, "etcd data must survive the destroy"
    for v in kept:
        ec2.delete_volume(VolumeId=v["VolumeId"])

    assert leftovers(moto_endpoint) == []
    print("terraform timings against moto: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
