"""A cluster created by an older kopsgen upgrades in place: the ``masters`` module became
``controllers``, and the generated root's ``moved`` blocks carry the state over, so nothing
is replaced or destroyed.

The older workspace is committed (``tests/fixtures/rendered-8cb7a25``: what kopsgen rendered
at that commit, see its README), applied against the emulator, then rendered again by this
kopsgen in the same directory and planned against the same state -- the upgrade a user makes.
The same state then shows who owns a group's size: a count cluster-autoscaler set survives
the upgrade, and a fixed pool's new count reaches its group. Emulator gaps are bridged as in
test_modules_apply_moto.py: override files only.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import helpers
import pytest
from test_modules_apply_moto import boto, run, unexplained_drift, write_overrides

from kopsgen import core
from kopsgen.render.stack import MOVED_MODULES

FIXTURE = helpers.REPO / "tests" / "fixtures" / "rendered-8cb7a25"


@pytest.fixture
def moto_endpoint(tmp_path):
    with helpers.emulator(tmp_path / "moto.log", MOTO_IAM_LOAD_MANAGED_POLICIES="true") as endpoint:
        yield endpoint


#: (address pattern, attributes) a newer kopsgen may change in place: what nodes boot from.
NODE_CONTENT = [
    (r"module\.[a-z_0-9]+\.aws_launch_template\.this",
     {"latest_version", "tag_specifications", "user_data"}),
    (r"module\.[a-z_0-9]+\.aws_s3_object\.cloud_config", None),  # any attribute: its file
]


#: What drained rollouts (docs/updates.md) added to every cluster: new resources only --
#: the termination queue and its rules, a lifecycle hook per group, the handler's policy --
#: and, in place, the controllers' group's health check and refresh preferences (with the
#: emulator's drift of that group, test_modules_apply_moto.EMULATOR_DRIFT).
DRAIN_CREATES = (r"module\.node_termination\..+",
                 r"module\.[a-z_0-9]+\.aws_autoscaling_lifecycle_hook\.drain",
                 r"module\.iam\.aws_iam_policy\.node_termination_handler",
                 r"module\.iam\.aws_iam_role_policy_attachment\.controller_node_termination_handler")
#: What etcd backups (docs/etcd.md "Backups") added: the backup settings object and the
#: restore marker (created: a create never triggers the members' replace_triggered_by),
#: the etcd role's put-only grant, and in place the assets bucket's retention rule.
BACKUP_CREATES = (r"module\.etcd\.aws_s3_object\.backup_settings",
                  r"module\.etcd\.terraform_data\.restore",
                  r"module\.iam\.aws_iam_role_policy\.etcd_backups")
BACKUP_UPDATES = [(r"module\.assets_bucket\.aws_s3_bucket_lifecycle_configuration\.this",
                   {"rule"})]
DRAIN_UPDATES = [(r"module\.controllers\.aws_autoscaling_group\.this",
                  {"health_check_type", "health_check_grace_period", "instance_refresh",
                   "launch_template", "capacity_reservation_specification"})]


def newer_node_content(drift: str) -> bool:
    """Whether one of unexplained_drift's lines is a change of what nodes boot from, or
    what drained rollouts or etcd backups added."""
    m = re.fullmatch(r"(\S+) \['(update|create)'\] \[(.*)\]", drift)
    if m is None:
        return False
    if m.group(2) == "create":
        return any(re.fullmatch(pattern, m.group(1))
                   for pattern in DRAIN_CREATES + BACKUP_CREATES)
    attrs = {a.strip().strip("'") for a in m.group(3).split(",") if a.strip()}
    return any(re.fullmatch(pattern, m.group(1)) and (allowed is None or attrs <= allowed)
               for pattern, allowed in NODE_CONTENT + DRAIN_UPDATES + BACKUP_UPDATES)


def plan_json(terraform: str, workdir: Path, env: dict[str, str]) -> tuple[str, dict]:
    """``terraform plan`` as a reviewer reads it, and as JSON."""
    plan = run([terraform, "plan", "-input=false", "-no-color", "-out=upgrade.tfplan"], workdir, env)
    shown = run([terraform, "show", "-json", "upgrade.tfplan"], workdir, env).stdout
    return plan.stdout, json.loads(shown)


def removals(plan: dict) -> list[str]:
    """Resources the plan destroys, alone or to replace them."""
    return [f"{rc['address']} {rc['change']['actions']}" for rc in plan.get("resource_changes", [])
            if "delete" in rc["change"]["actions"]]


@pytest.mark.slow
def test_workspace_of_older_kopsgen_upgrades_without_replacing_anything(tmp_path, moto_endpoint):
    terraform = helpers.require_tool("terraform")
    if helpers.find_provider_mirror() is None:
        helpers.missing("no offline Terraform provider mirror (tf-plugins; see DEVELOPERS.md)")
    env = helpers.terraform_env(tmp_path)
    env["TF_PLUGIN_CACHE_DIR"] = str(tmp_path / "plugin-cache")
    Path(env["TF_PLUGIN_CACHE_DIR"]).mkdir()

    cluster = tmp_path / "cluster"
    shutil.copytree(FIXTURE, cluster)
    workdir = cluster / "terraform"
    assert (workdir / "modules" / "masters").is_dir() and 'module "masters"' in (
        workdir / "main.tf").read_text(), "the fixture is the workspace from before the rename"
    zone = boto(moto_endpoint, "route53").create_hosted_zone(Name="kubeops.net", CallerReference="up")
    write_overrides(workdir, moto_endpoint, zone["HostedZone"]["Id"].rsplit("/", 1)[-1])

    # What the older kopsgen created.
    run([terraform, "init", "-input=false"], workdir, env)
    run([terraform, "apply", "-input=false", "-auto-approve"], workdir, env)
    before = run([terraform, "state", "list"], workdir, env).stdout.split()
    # (data sources are read again, not moved)
    old = {a for a in before if a.startswith("module.masters.") and not re.search(r"(^|\.)data\.", a)}
    assert "module.masters.aws_autoscaling_group.this" in old and len(old) > 10, before

    # cluster-autoscaler scales its pool; nothing in cluster.yaml says so.
    autoscaling = boto(moto_endpoint, "autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName="k8s-scaled", DesiredCapacity=3)

    # The upgrade: this kopsgen renders into the same directory, next to the same state.
    core.write(cluster, core.render(cluster, "stack"))
    main_tf = (workdir / "main.tf").read_text()
    assert 'module "controllers"' in main_tf and 'module "masters"' not in main_tf
    assert not (workdir / "modules" / "masters").exists()  # the old copy was removed
    run([terraform, "init", "-input=false"], workdir, env)  # the module's new directory
    text, plan = plan_json(terraform, workdir, env)

    assert removals(plan) == [], text[-6000:]
    moved = {rc["previous_address"]: rc["address"] for rc in plan["resource_changes"]
             if rc.get("previous_address")}
    want = {a: re.sub(r"^module\.masters\.", "module.controllers.", a) for a in old}
    assert moved == want, text[-6000:]
    # ... and the plan says so for each: "has moved to", or "(moved from" beside a change
    # (here only the emulator's, below).
    for a, b in want.items():
        assert f"# {a} has moved to {b}\n" in text or f"# {b} will be updated in-place\n  # (moved from {a})\n" in text, a
    # Nothing else changes either: no resource other than what the emulator does not give
    # back as written (test_modules_apply_moto.EMULATOR_DRIFT) -- in particular, the
    # autoscaler's count stays where the autoscaler put it.
    # Besides the emulator's drift, only what a newer kopsgen's nodes boot from may change: the
    # cloud-config objects and the user data naming them (this kopsgen's bootstrap carries
    # the credentials digest, docs/credentials.md), updated in place -- a roll by instance
    # refresh, as docs/upgrading.md says; never a destroy or a new count.
    assert [d for d in unexplained_drift(plan) if not newer_node_content(d)] == [], text[-6000:]
    asg = next(rc for rc in plan["resource_changes"]
               if rc["address"] == "module.pool_scaled.aws_autoscaling_group.this")
    assert asg["change"]["after"]["desired_capacity"] == 3, asg["change"]

    # What did it: the moved block, from the one list of renames.
    assert ("masters", "controllers") in MOVED_MODULES
    assert "moved {\n  from = module.masters\n  to   = module.controllers\n}\n" in main_tf

    # A fixed-size pool's count is Terraform's: a new count reaches the group, in place.
    yaml_path = cluster / "cluster.yaml"
    yaml_text = yaml_path.read_text()
    assert yaml_text.count("count: 2") == 1  # the pool "fixed"
    yaml_path.write_text(yaml_text.replace("count: 2", "count: 3"))
    core.write(cluster, core.render(cluster, "stack"))
    text, plan = plan_json(terraform, workdir, env)
    assert removals(plan) == [], text[-6000:]
    asgs = {rc["address"]: rc["change"] for rc in plan["resource_changes"]
            if rc["type"] == "aws_autoscaling_group" and rc["change"]["actions"] != ["no-op"]}
    fixed = asgs.get("module.pool_fixed.aws_autoscaling_group.this")
    assert fixed is not None and fixed["actions"] == ["update"], text[-6000:]
    assert (fixed["before"]["desired_capacity"], fixed["after"]["desired_capacity"]) == (2, 3)
    assert (fixed["after"]["min_size"], fixed["after"]["max_size"]) == (3, 3)
