"""What a restore does to the Terraform state, with the real terraform against the AWS
emulator: the kubeops example applied as `kopsgen render` writes it, then rendered again
with etcd.restore.snapshot set (by the `kopsgen etcd restore` edit), planned and applied.
Every member is replaced onto a new volume set; the data volumes it had are kept (never
destroyed), renamed, and named by the plan notes; changing the snapshot again is refused.
Emulator gaps are bridged as test_modules_apply_moto.py bridges them (override files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import helpers
import pytest
from test_modules_apply_moto import boto, run, write_overrides

from kopsgen import core
from kopsgen.flows.plan import replacement_notes
from kopsgen.spec.edit import set_etcd_restore_snapshot

pytestmark = pytest.mark.slow

SNAPSHOT = "backups/etcd/20261201T100000Z-etcd0-" + "ab" * 32 + ".db"


@pytest.fixture
def moto_endpoint(tmp_path):
    with helpers.emulator(tmp_path / "moto.log", MOTO_IAM_LOAD_MANAGED_POLICIES="true") as endpoint:
        yield endpoint


def test_a_restore_replaces_every_member_onto_new_volumes_and_keeps_the_old(tmp_path: Path,
                                                                           moto_endpoint: str):
    terraform = helpers.require_tool("terraform")
    env = helpers.terraform_env(tmp_path)
    env.setdefault("TF_PLUGIN_CACHE_DIR", str(tmp_path / "plugin-cache"))
    os.makedirs(env["TF_PLUGIN_CACHE_DIR"], exist_ok=True)
    cluster = tmp_path / "cluster"
    workdir = helpers.render_example("kubeops", cluster)
    zone = boto(moto_endpoint, "route53").create_hosted_zone(Name="kubeops.net", CallerReference="r")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    write_overrides(workdir, moto_endpoint, zone_id)
    run([terraform, "init", "-input=false"], workdir, env)
    run([terraform, "apply", "-input=false", "-auto-approve"], workdir, env)
    ec2 = boto(moto_endpoint, "ec2")
    old = {v["VolumeId"] for v in ec2.describe_volumes(
        Filters=[{"Name": "tag:Name", "Values": ["k8s-etcd*-data"]}])["Volumes"]}
    assert len(old) == 3

    # `kopsgen etcd restore` edits cluster.yaml; the render writes the workspace again.
    path = cluster / "cluster.yaml"
    path.write_text(set_etcd_restore_snapshot(path.read_text(), SNAPSHOT))
    core.write(cluster, core.render(cluster))
    run([terraform, "plan", "-input=false", "-out=restore.tfplan"], workdir, env)
    plan = json.loads(run([terraform, "show", "-json", "restore.tfplan"], workdir, env).stdout)
    actions = {rc["address"]: rc["change"]["actions"] for rc in plan["resource_changes"]
               if rc["address"].startswith("module.etcd.") and rc["change"]["actions"] != ["no-op"]}
    members = ("etcd0", "etcd1", "etcd2")
    for m in members:
        assert actions[f'module.etcd.aws_instance.member["{m}"]'] == ["delete", "create"]
        assert actions[f'module.etcd.aws_ebs_volume.restored["{m}"]'] == ["create"]
        # The old data volume: renamed in place, never destroyed.
        assert actions[f'module.etcd.aws_ebs_volume.data["{m}"]'] == ["update"]
    assert not [a for a, acts in actions.items() if "delete" in acts and "aws_ebs_volume" in a]
    notes = replacement_notes(plan)
    (what,) = [n for n in notes if n.startswith("etcd restore from ")]
    assert f"every etcd member ({', '.join(members)}) is replaced" in what
    (kept,) = [n for n in notes if n.startswith("the data volumes the members had are kept")]
    assert all(v in kept for v in old), kept

    # Applied for the members and their volumes only: the emulator round-trips security
    # group rules and the private zone wrongly (test_modules_apply_moto.py EMULATOR_DRIFT),
    # and the updates that drift plans fail there.
    run([terraform, "apply", "-input=false", "-auto-approve",
         *(f"-target=module.etcd.{r}" for r in ("aws_instance.member", "aws_ebs_volume.data",
                                                "aws_ebs_volume.restored", "aws_volume_attachment.data"))],
        workdir, env)
    after = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    for vid in old:  # still there, detached, named for what they were
        assert after[vid]["State"] == "available", after[vid]
        name = {t["Key"]: t["Value"] for t in after[vid]["Tags"]}["Name"]
        assert name.endswith("-data-before-restore"), name
    attached = {v["VolumeId"] for v in after.values() if v.get("Attachments")
                and v["Attachments"][0]["Device"] == "/dev/xvdf"}
    assert len(attached) == 3 and not attached & old

    # Another snapshot would need blank volumes again: Terraform refuses (prevent_destroy)
    # rather than start new members on the first restore's data.
    path.write_text(set_etcd_restore_snapshot(path.read_text(), SNAPSHOT.replace("ab", "cd")))
    core.write(cluster, core.render(cluster))
    refused = run([terraform, "plan", "-input=false"], workdir, env, ok=(1,))
    assert "Instance cannot be destroyed" in refused.stderr and "aws_ebs_volume.restored" in refused.stderr
