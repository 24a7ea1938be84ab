"""The whole lifecycle as a user runs it, against the sandbox (a moto server on loopback)
with the real terraform: plan -> up -> status -> update of one pool -> destroy, including
a refusal to prompt without a terminal and leftovers detection."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from kopsgen.errors import ExitCode
from kopsgen.render.pki import ROLE_FILES

REPO = helpers.REPO


def sandbox_client(cluster: Path, service: str):
    import boto3

    port = json.loads((cluster / ".kopsgen" / "sandbox" / "server.json").read_text())["port"]
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def ec2_client(cluster: Path):
    return sandbox_client(cluster, "ec2")


@pytest.mark.slow
def test_sandbox_lifecycle(cli, tmp_path):
    helpers.require_tool("terraform")
    helpers.require_module("moto.server")
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")

    # plan: renders the workspace first, then a full creation plan against an empty account
    r = cli("plan", "--sandbox", "--detailed-exitcode", "-o", "json")
    assert r.code == ExitCode.CHANGES, r.err
    plan = json.loads(r.out)
    assert plan["add"] > 50 and plan["destroy"] == 0
    assert "module.pool_nodepool1" in plan["by_module"]
    assert (tmp_path / "terraform" / "main.tf").exists()
    assert "emulator stopped" in r.err  # plan leaves nothing running
    assert not list((tmp_path / "terraform").glob("*override*"))  # workspace untouched

    # status with no state: says how to create the cluster and leaves no emulator running
    r = cli("status", "--sandbox")
    assert r.code == ExitCode.USAGE and "create it with `kopsgen up`" in r.err, r.err
    assert "emulator stopped" in r.err
    assert not (tmp_path / ".kopsgen" / "sandbox" / "server.json").exists()

    # up without --yes and without a terminal: refuses after the plan, creates nothing
    r = cli("up", "--sandbox")
    assert r.code == ExitCode.USAGE
    assert "no terminal to ask for confirmation on; pass --yes" in r.err
    assert "Plan:" in r.out

    r = cli("up", "--sandbox", "--yes")
    assert r.code == ExitCode.OK, r.err
    assert "pre-flight checks passed" in r.err
    assert "/" in r.err and "done:" in r.err  # progress: resources done of total
    # Each role's own files (controllers no longer get the bootstrap worker.pem).
    uploaded = sum(len(files) for files in ROLE_FILES.values())
    assert f"credentials: {uploaded} file(s) uploaded" in r.err
    assert "skipped in the sandbox" in r.err
    assert "Cluster name:   k8s" in r.out and "Load balancer:  k8s-api" in r.out
    assert "API endpoint:   https://k8s.kubeops.net" in r.out

    s3 = sandbox_client(tmp_path, "s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"]
                  if b["Name"].startswith("kopsgen-k8s") and not b["Name"].endswith("-log"))
    head = s3.head_object(Bucket=bucket, Key="k8s/credentials/worker/worker-key.pem")
    assert head["ServerSideEncryption"] == "aws:kms"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "k8s/credentials/worker/ca-key.pem" not in keys  # each role gets only its files
    assert "k8s/credentials/controller/ca-key.pem" in keys

    # a re-plan right after up is clean: the emulator's artefacts are bridged
    r = cli("plan", "--sandbox", "--detailed-exitcode", "-o", "json")
    assert r.code == ExitCode.OK, (r.out, r.err[-2000:])
    assert json.loads(r.out)["notes"] == ["no instance will be replaced"]

    r = cli("status", "--sandbox", "-o", "json")
    assert r.code == ExitCode.OK, r.err
    status = json.loads(r.out)
    assert status["groups"]["nodepool1"]["desired"] == 4
    assert status["groups"]["controller"]["in_service"] == 2
    assert status["outputs"]["api_endpoint"] == "https://k8s.kubeops.net"
    text = cli("status", "--sandbox")
    assert "nodepool1" in text.out and "IN SERVICE" in text.out

    # update one pool: new labels reach its nodes through the launch template, and a new
    # Kubernetes release changes the pool's own cloud-config -- not the controllers'.
    def objects() -> dict[str, str]:
        return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket,
                                                                 Prefix="k8s/userdata/")["Contents"]}

    before = objects()
    assert set(before) == {"k8s/userdata/etcd/cloud-config-etcd", "k8s/userdata/etcd/members",
                           "k8s/userdata/etcd/backup",
                           "k8s/userdata/controllers/cloud-config-controller",
                           "k8s/userdata/pools/nodepool1/cloud-config-worker"}
    spec = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(spec.replace(
        "    count: 4\n", "    count: 4\n    nodeLabels:\n      example.com/team: web\n").replace(
        "kubernetesVersion: v1.34.2", "kubernetesVersion: v1.34.3"))
    r = cli("update", "--sandbox", "--yes", "--pool", "nodepool1")
    assert r.code == ExitCode.OK, r.err
    assert "module.pool_nodepool1" in r.out
    assert "nodes of pool nodepool1 will be replaced" in r.out
    assert "module.controllers" not in r.out and "module.etcd " not in r.out
    assert "credentials: unchanged in S3" in r.err  # fingerprints unchanged: nothing uploaded
    after = objects()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"k8s/userdata/pools/nodepool1/cloud-config-worker"}
    assert cli("update", "--sandbox", "--yes", "--pool", "nope").code == ExitCode.USAGE

    # a count change only scales: the group reaches the new size, no instance is replaced
    autoscaling = sandbox_client(tmp_path, "autoscaling")

    def instances(group: str) -> dict[str, str]:
        (g,) = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return {i["InstanceId"]: i["LaunchTemplate"]["Version"] for i in g["Instances"]}

    pool_before, controllers_before = instances("k8s-nodepool1"), instances("k8s-controller")
    etcd_before = {i["InstanceId"] for r_ in ec2_client(tmp_path).describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["k8s-etcd*"]}])["Reservations"] for i in r_["Instances"]}
    spec = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(spec.replace("    count: 4\n", "    count: 6\n"))
    r = cli("update", "--sandbox", "--yes", "--pool", "nodepool1")
    assert r.code == ExitCode.OK, r.err
    assert "Plan: 0 to add, 1 to change, 0 to destroy (0 replaced)" in r.out, r.out
    assert "no instance will be replaced" in r.out and "will be replaced one" not in r.out
    groups = json.loads(cli("status", "--sandbox", "-o", "json").out)["groups"]
    assert groups["nodepool1"]["desired"] == groups["nodepool1"]["in_service"] == 6
    pool_scaled = instances("k8s-nodepool1")
    assert set(pool_before) < set(pool_scaled) and len(pool_scaled) == 6

    # an instance-type change of one pool: only that pool's launch template changes, the
    # controllers and etcd are untouched
    (tmp_path / "cluster.yaml").write_text(spec.replace(
        "    count: 4\n", "    count: 6\n    instanceType: t3.medium\n"))
    r = cli("update", "--sandbox", "--yes", "--pool", "nodepool1")
    assert r.code == ExitCode.OK, r.err
    assert "the nodes of pool nodepool1 will be replaced one at a time" in r.out, r.out
    assert "module.controllers" not in r.out and "module.etcd " not in r.out
    (g,) = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["k8s-nodepool1"])["AutoScalingGroups"]
    # the group launches from the new launch template version, and the instance refresh
    # Terraform started (kopsgen.emulator carries it out at once) replaced every node
    assert int(g["LaunchTemplate"]["Version"]) > max(map(int, pool_scaled.values()))
    assert {i["InstanceType"] for i in g["Instances"]} == {"t3.medium"}, g["Instances"]
    assert len(g["Instances"]) == 6 and set(instances("k8s-nodepool1")).isdisjoint(pool_scaled)
    assert instances("k8s-controller") == controllers_before
    assert {i["InstanceId"] for r_ in ec2_client(tmp_path).describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["k8s-etcd*"]}])["Reservations"]
        for i in r_["Instances"]} == etcd_before
    (tmp_path / "cluster.yaml").write_text(spec)

    # etcdCount: 3 -> 1 at once would lose the quorum: refused before anything is planned.
    spec = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(spec.replace("etcdCount: 3", "etcdCount: 1"))
    r = cli("update", "--sandbox", "--yes")
    assert r.code == ExitCode.USAGE
    assert "lower it by at most 1 at a time (first to 2)" in r.err

    # 3 -> 5 -> 3: members are added, then two leave; the leaving volumes are deleted.
    ec2 = sandbox_client(tmp_path, "ec2")

    def etcd_data() -> dict[str, str]:
        return {t["Value"]: v["State"] for v in ec2.describe_volumes()["Volumes"]
                for t in v.get("Tags", []) if t["Key"] == "Name" and t["Value"].endswith("-data")}

    def members_list() -> str:
        return s3.get_object(Bucket=bucket, Key="k8s/userdata/etcd/members")["Body"].read().decode()

    (tmp_path / "cluster.yaml").write_text(spec.replace("etcdCount: 3", "etcdCount: 5"))
    r = cli("update", "--sandbox", "--yes")
    assert r.code == ExitCode.OK, r.err
    assert members_list() == "".join(f"etcd{i}\n" for i in range(5))
    assert etcd_data() == {f"k8s-etcd{i}-data": "in-use" for i in range(5)}
    (tmp_path / "cluster.yaml").write_text(spec)
    r = cli("update", "--sandbox", "--yes")
    assert r.code == ExitCode.OK, r.err
    assert "etcd: etcd3 leaves the cluster" in r.err and "etcd: etcd4 leaves" in r.err
    assert "deleted the data volume(s) of the members that left" in r.err
    assert members_list() == "etcd0\netcd1\netcd2\n"
    assert etcd_data() == {f"k8s-etcd{i}-data": "in-use" for i in range(3)}

    # etcd backups: a snapshot as kopsgen-etcd-backup names it (the sandbox runs no etcd:
    # tests/integration/test_etcd_backup_restore.py saves real ones) is listed with the line
    # that restores it; a restore --dry-run shows that edit and writes nothing; a key that
    # is not there is refused, cluster.yaml untouched.
    snapshot = f"backups/etcd/20261201T100000Z-etcd0-{'ab' * 32}.db"
    s3.put_object(Bucket=bucket, Key=f"k8s/{snapshot}", Body=b"snapshot")
    r = cli("etcd", "backups", "--sandbox")
    assert r.code == ExitCode.OK, r.err
    assert f"1 etcd snapshot(s) in s3://{bucket}/k8s/backups/etcd/, newest first:" in r.out, r.out
    assert f"    etcd.restore.snapshot: {snapshot}\n" in r.out, r.out
    before = (tmp_path / "cluster.yaml").read_bytes()
    r = cli("etcd", "restore", snapshot, "--dry-run", "--sandbox")
    assert r.code == ExitCode.OK, r.err
    assert f"+    snapshot: {snapshot}" in r.out and "is unchanged" in r.out, r.out
    r = cli("etcd", "restore", snapshot.replace("etcd0", "etcd1"), "--sandbox")
    assert r.code == ExitCode.USAGE and "SNAPSHOT" in r.err, r.err
    assert (tmp_path / "cluster.yaml").read_bytes() == before

    # something created outside Terraform but tagged with the cluster is reported
    stray = ec2.create_volume(AvailabilityZone="us-east-1c", Size=1, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": "kubernetes.io/cluster/k8s", "Value": "owned"}]}])
    r = cli("destroy", "--sandbox")  # no terminal, no --yes: refuses
    assert r.code == ExitCode.USAGE and "pass --yes" in r.err
    kept_volumes = sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]
                          if any(t["Value"].endswith("-data") for t in v.get("Tags", [])
                                 if t["Key"] == "Name"))
    r = cli("destroy", "--sandbox", "--yes")
    assert r.code == ExitCode.LEFTOVERS, r.err
    assert stray["VolumeId"] in r.err
    assert "etcd data volume(s) are kept" in r.out
    # ... and the snapshots go with the bucket kopsgen created: it says so before asking.
    assert "and with it 1 etcd snapshot(s), the newest 20261201T100000Z: to keep them, copy " \
        f"them first (aws s3 sync s3://{bucket}/k8s/backups/etcd/ <elsewhere>)." in r.out, r.out
    # The key that encrypts the kept volumes is kept with them: usable, alias and all.
    assert "KMS key alias/kopsgen/k8s is kept with them" in r.out
    kms = sandbox_client(tmp_path, "kms")
    (alias,) = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/kopsgen/k8s"]
    assert kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    ec2.delete_volume(VolumeId=stray["VolumeId"])

    # up again, interrupted by Ctrl-C once the apply is under way (terraform stops cleanly
    # with part of the cluster created), then up once more: it finishes the job.
    proc = subprocess.Popen(
        [sys.executable, "-m", "kopsgen", "up", "--sandbox", "--yes"], cwd=tmp_path,
        env=dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if re.match(r"\[apply \d\d:\d\d\] [1-9]\d*/\d+ ", line):
            proc.send_signal(signal.SIGINT)
            break
    lines += proc.stderr.readlines()
    interrupted = "".join(lines)
    assert proc.wait(timeout=300) == ExitCode.INTERRUPTED, interrupted
    assert "interrupted: terraform stopped cleanly" in interrupted, interrupted
    r = cli("up", "--sandbox", "--yes")
    assert r.code == ExitCode.OK, r.err
    assert "done:" in r.err
    groups = json.loads(cli("status", "--sandbox", "-o", "json").out)["groups"]
    assert {g["in_service"] for g in groups.values()} == {2, 4}, groups
    # The kept data and its key came back under Terraform; no new volume or key.
    assert f"adopted the cluster's kept KMS key alias/kopsgen/k8s ({alias['TargetKeyId']})" \
        in interrupted
    for vid in kept_volumes:
        assert vid in interrupted and "adopted the kept etcd data volume" in interrupted
    attached = sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]
                      if v["Attachments"] and any(t["Value"].endswith("-data")
                                                  for t in v.get("Tags", []) if t["Key"] == "Name"))
    assert attached == kept_volumes
    assert [a["TargetKeyId"] for a in kms.list_aliases()["Aliases"]
            if a["AliasName"] == "alias/kopsgen/k8s"] == [alias["TargetKeyId"]]

    r = cli("destroy", "--sandbox", "--yes", "--delete-etcd-data")
    assert r.code == ExitCode.OK, r.err
    assert "deleted 3 etcd data volume(s)" in r.err
    assert "nothing tagged with it remains" in r.out  # the key counts once pending deletion
    assert "are DELETED too: the cluster's data is gone for good, and its KMS key is " \
        "scheduled for deletion." in r.out
    assert "emulator stopped" in r.err
    assert not (tmp_path / ".kopsgen" / "sandbox" / "server.json").exists()
    # One total: the header's, the sum of the per-module lines and the progress's agree,
    # and the last progress line says that many were destroyed.
    (header,) = re.findall(r"This destroys cluster k8s: (\d+) resources, by module:", r.out)
    per_module = sum(int(n) for n in re.findall(r"^  module\.\S+\s+(\d+)$", r.out, re.M))
    progress_totals = set(re.findall(r"\] \d+/(\d+) ", r.err))
    (done,) = re.findall(r"\[destroy \d\d:\d\d\] done: (\d+) of (\d+) destroyed", r.err)
    assert int(header) == per_module == int(done[0]) == int(done[1]) > 50, (r.out, r.err[-3000:])
    assert progress_totals == {header}, progress_totals
