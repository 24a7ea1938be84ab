"""Rotating a credential as the README says -- delete it, `kopsgen render` -- changes what
that role's instances are built from, and nothing else: the real Terraform, applied in the
emulator, plans a new launch template version for exactly the roles whose credentials
changed, kopsgen's plan notes name the rotation as the reason, the user data Terraform
renders carries the role's digest, and etcd members (whose user data Terraform ignores) are
named with the command that replaces each. Emulator gaps are bridged as in
test_modules_apply_moto.py: override files only."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import helpers
import pytest
from test_modules_apply_moto import boto, run, write_overrides

from kopsgen import core
from kopsgen.flows.plan import replacement_notes
from kopsgen.render.credential_files import DIGEST_FILE, role_digest


@pytest.fixture
def moto_endpoint(tmp_path):
    with helpers.emulator(tmp_path / "moto.log", MOTO_IAM_LOAD_MANAGED_POLICIES="true") as endpoint:
        yield endpoint


def plan(terraform: str, workdir: Path, env: dict[str, str]) -> dict:
    run([terraform, "plan", "-input=false", "-no-color", "-out=rotate.tfplan"], workdir, env)
    return json.loads(run([terraform, "show", "-json", "rotate.tfplan"], workdir, env).stdout)


def changed_templates(doc: dict) -> dict[str, str]:
    """Launch templates whose user data the plan changes -> the new user data (decoded)."""
    out = {}
    for rc in doc.get("resource_changes", []):
        change = rc["change"]
        if rc["type"] != "aws_launch_template" or change["actions"] == ["no-op"]:
            continue
        before, after = (change.get("before") or {}), (change.get("after") or {})
        if before.get("user_data") != after.get("user_data"):
            out[rc["address"]] = base64.b64decode(after["user_data"]).decode()
    return out


def rotate(cluster: Path, *names: str) -> dict[str, str]:
    """Delete ``names`` from credentials/ and render (they are re-issued from the same CA);
    returns the digests the render wrote for Terraform."""
    for name in names:
        (cluster / "credentials" / name).unlink()
    outcome = core.render(cluster)
    assert any(n.startswith(names[0]) for n in outcome.notices), outcome.notices
    core.write(cluster, outcome)
    return json.loads((cluster / DIGEST_FILE).read_text())["credentials_sha256"]


@pytest.mark.slow
def test_a_rotated_credential_rolls_exactly_the_roles_that_use_it(tmp_path, moto_endpoint):
    terraform = helpers.require_tool("terraform")
    if helpers.find_provider_mirror() is None:
        helpers.missing("no offline Terraform provider mirror (tf-plugins; see DEVELOPERS.md)")
    env = helpers.terraform_env(tmp_path)
    workdir = helpers.render_example("kubeops", tmp_path / "cluster")
    cluster = workdir.parent
    zone = boto(moto_endpoint, "route53").create_hosted_zone(Name="kubeops.net",
                                                             CallerReference="rotate")
    write_overrides(workdir, moto_endpoint, zone["HostedZone"]["Id"].rsplit("/", 1)[-1])
    run([terraform, "init", "-input=false"], workdir, env)
    run([terraform, "apply", "-input=false", "-auto-approve"], workdir, env)

    first = json.loads((cluster / DIGEST_FILE).read_text())["credentials_sha256"]
    files = core.read_credentials(cluster)
    assert first == {r: role_digest(files, r) for r in ("controller", "etcd", "worker")}
    # The etcd members carry the digest they were created with.
    members = boto(moto_endpoint, "ec2").describe_instances(
        Filters=[{"Name": "tag:kopsgen.io/role", "Values": ["etcd"]},
                 {"Name": "instance-state-name", "Values": ["running", "pending"]}])
    tags = [{t["Key"]: t["Value"] for t in i["Tags"]}
            for r in members["Reservations"] for i in r["Instances"]]
    assert tags and all(t["kopsgen.io/credentials-sha256"] == first["etcd"] for t in tags), tags

    # The workers' bootstrap identity: only the pools roll, for that reason.
    now = rotate(cluster, "worker.pem", "worker-key.pem")
    assert now["worker"] != first["worker"]
    assert (now["controller"], now["etcd"]) == (first["controller"], first["etcd"])
    doc = plan(terraform, workdir, env)
    templates = changed_templates(doc)
    assert sorted(templates) == ["module.pool_nodepool1.aws_launch_template.this"], templates
    # What the node gets: Terraform's own rendering of the user data, with the new digest.
    user_data = templates["module.pool_nodepool1.aws_launch_template.this"]
    assert f'KOPSGEN_CREDENTIALS_SHA256="{now["worker"]}"' in user_data
    assert f"# credentials/worker sha256 {now['worker']}\n" in user_data
    notes = replacement_notes(doc)
    assert any(n.startswith("the nodes of pool nodepool1 will be replaced") and
               n.endswith(": credentials of role worker changed") for n in notes), notes
    # (the emulator gives launch templates back with other tag_specifications, so the
    # controllers' may show a change too -- never for their credentials, nor etcd's members)
    assert [n for n in notes if "credentials" in n] == [
        n for n in notes if n.startswith("the nodes of pool nodepool1")], notes

    # etcd's serving certificate: no launch template changes; every member is named, with
    # the command that replaces it (Terraform ignores a member's user data: quorum).
    now = rotate(cluster, "etcd.pem")
    assert now["etcd"] != first["etcd"] and now["controller"] == first["controller"]
    doc = plan(terraform, workdir, env)
    assert sorted(changed_templates(doc)) == ["module.pool_nodepool1.aws_launch_template.this"]
    etcd_notes = [n for n in replacement_notes(doc) if "module.etcd.aws_instance.member" in n]
    assert len(etcd_notes) == 3, etcd_notes
    for n, name in zip(etcd_notes, ("etcd0", "etcd1", "etcd2"), strict=True):
        assert f"runs older etcd credentials ({first['etcd']}; now {now['etcd']})" in n, n
        assert f"-replace='module.etcd.aws_instance.member[\"{name}\"]'" in n, n
        assert "one member at a time" in n

    # The CA's own certificate is in every role's set: ca.pem is never re-issued implicitly,
    # so no render changes it -- shown here by the digests of a render that changes nothing.
    core.write(cluster, core.render(cluster))
    assert json.loads((cluster / DIGEST_FILE).read_text())["credentials_sha256"] == now
