"""Lifecycle pieces that need no emulator: replacement notes, --s3-uri, kubeconfig install,
progress lines, and refusing a stale workspace with --no-render."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kopsgen import core
from kopsgen.errors import ExitCode, UsageError, WorkspaceError
from kopsgen.flows.kubeconfig import install_kubeconfig
from kopsgen.flows.plan import replacement_notes
from kopsgen.flows.session import Progress, Session, parse_s3_uri
from kopsgen.spec import load_spec
from kopsgen.terraform import parse_progress

REPO = Path(__file__).resolve().parents[2]


def change(address, type_, actions, module=None):
    rc = {"address": address, "type": type_, "change": {"actions": actions}}
    if module:
        rc["module_address"] = module
    return rc


def test_replacement_notes_name_the_instances():
    plan = {"resource_changes": [
        change("module.pool_web.aws_launch_template.this", "aws_launch_template", ["update"],
               "module.pool_web"),
        change("module.controllers.aws_launch_template.this", "aws_launch_template", ["update"],
               "module.controllers"),
        change('module.etcd.aws_instance.member["etcd1"]', "aws_instance", ["delete", "create"],
               "module.etcd"),
        change("module.pool_old.aws_autoscaling_group.this", "aws_autoscaling_group", ["delete"],
               "module.pool_old"),
        change("module.network.aws_vpc.this", "aws_vpc", ["no-op"], "module.network"),
    ]}
    notes = replacement_notes(plan)
    assert any(n.startswith("the nodes of pool web will be replaced one at a time") for n in notes)
    assert any(n.startswith("the controllers will be replaced") for n in notes)
    assert 'module.etcd.aws_instance.member["etcd1"] will be replaced' in notes
    assert any("pool_old" in n and "removed with all its instances" in n for n in notes)
    assert replacement_notes({"resource_changes": [plan["resource_changes"][-1]]}) == [
        "no instance will be replaced"]
    # A new etcd cloud-config replaces nobody, and the plan says what that means.
    (note,) = replacement_notes({"resource_changes": [change(
        "module.etcd.aws_s3_object.cloud_config", "aws_s3_object", ["update"], "module.etcd")]})
    assert note.startswith("the etcd cloud-config changes: running members keep the one they "
                           "were created with until each is replaced")


def test_s3_uri_option_is_checked_like_the_spec():
    loc = parse_s3_uri("s3://my-bucket/a/b/")
    assert (loc.bucket, loc.prefix) == ("my-bucket", "a/b")
    with pytest.raises(UsageError, match="--s3-uri"):
        parse_s3_uri("my-bucket")
    with pytest.raises(UsageError, match="not a valid S3 bucket name"):
        parse_s3_uri("s3://Bad_Bucket")
    assert parse_s3_uri(None) is None


def test_progress_counts_done_of_total():
    lines = []
    p = Progress(lines.append, "apply", total=3)
    for text in ("module.network.aws_vpc.this: Creating...",
                 "module.network.aws_vpc.this: Creation complete after 2s [id=vpc-1]",
                 "module.network.aws_subnet.this: Still creating... [10s elapsed]",
                 "module.network.aws_subnet.this: Creation complete after 12s [id=subnet-1]"):
        event = parse_progress(text)
        assert event is not None
        p(event)
    assert [line.split("] ", 1)[1].split(" ", 1)[0] for line in lines] == ["1/3", "1/3", "2/3"]
    assert lines[0].startswith("[apply 00:00]")


def test_install_kubeconfig_merges_and_backs_up(tmp_path):
    cluster = tmp_path / "c"
    cluster.mkdir()
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", cluster / "cluster.yaml")
    core.write(cluster, core.render(cluster, "credentials"))
    spec = load_spec(cluster / "cluster.yaml").spec
    target = tmp_path / "home" / ".kube" / "config"
    target.parent.mkdir(parents=True)
    mine = {"apiVersion": "v1", "kind": "Config", "current-context": "other",
            "clusters": [{"name": "other", "cluster": {"server": "https://other"}}],
            "users": [{"name": "me", "user": {"token": "t"}}],
            "contexts": [{"name": "other", "context": {"cluster": "other", "user": "me"}}]}
    target.write_text(yaml.safe_dump(mine))
    written, backup = install_kubeconfig(cluster, spec, target)
    merged = yaml.safe_load(written.read_text())
    assert {c["name"] for c in merged["clusters"]} == {"other", "k8s"}
    assert {u["name"] for u in merged["users"]} == {"me", "k8s-admin"}
    assert merged["current-context"] == "other"  # the user's choice is kept
    assert yaml.safe_load(backup.read_text()) == mine
    assert written.stat().st_mode & 0o777 == 0o600
    # installing twice replaces the entries instead of duplicating them
    install_kubeconfig(cluster, spec, target)
    assert [c["name"] for c in yaml.safe_load(target.read_text())["clusters"]].count("k8s") == 1


def test_no_render_refuses_a_stale_workspace(tmp_path):
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    core.write(tmp_path, core.render(tmp_path))
    text = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(text.replace("count: 4", "count: 5"))
    with pytest.raises(WorkspaceError) as info:
        Session(tmp_path, say=lambda m: None, no_render=True)
    assert "stale" in str(info.value) and "--no-render" in str(info.value)
    assert info.value.exit_code == ExitCode.WORKSPACE
    assert "count: 5" in (tmp_path / "cluster.yaml").read_text()
    assert "min_size               = 4" in (tmp_path / "terraform" / "main.tf").read_text()


def test_kubeconfig_command_prints_the_path(cli, tmp_path):
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    assert cli("kubeconfig").code == ExitCode.WORKSPACE
    assert cli("render", "credentials").code == 0
    r = cli("kubeconfig")
    assert r.code == 0 and r.out.strip() == str((tmp_path / "kubeconfig").resolve())


def test_a_plan_says_it_could_not_look_for_kept_data_instead_of_failing():
    from botocore.exceptions import ClientError

    from kopsgen.flows.etcd_data import kept_etcd_data_notes

    class Denied:
        def client(self, service):
            class C:
                def describe_volumes(self, **kw):
                    raise ClientError({"Error": {"Code": "UnauthorizedOperation",
                                                 "Message": "not allowed"}}, "DescribeVolumes")
            return C()

    class Tf:
        def state_list(self):
            return []

    class S:
        spec = load_spec(REPO / "examples" / "kubeops" / "cluster.yaml").spec
        tf = Tf()

        def clients(self):
            return Denied()

    (note,) = kept_etcd_data_notes(S())
    assert note.startswith("cannot look for kept etcd data volumes: UnauthorizedOperation")
    assert note.endswith("(a plan does not need it; `kopsgen up` does)")


def test_restore_notes_say_what_is_replaced_and_what_is_kept():
    snap = "backups/etcd/20261201T100000Z-etcd0-" + "ab" * 32 + ".db"
    restore = change("module.etcd.terraform_data.restore", "terraform_data", ["delete", "create"],
                     "module.etcd")
    restore["change"].update(before={"input": ""}, after={"input": snap})
    rcs = [restore]
    for m in ("etcd0", "etcd1", "etcd2"):
        rcs.append(change(f'module.etcd.aws_instance.member["{m}"]', "aws_instance",
                          ["delete", "create"], "module.etcd"))
        rcs.append(change(f'module.etcd.aws_ebs_volume.restored["{m}"]', "aws_ebs_volume",
                          ["create"], "module.etcd"))
        kept = change(f'module.etcd.aws_ebs_volume.data["{m}"]', "aws_ebs_volume", ["update"],
                      "module.etcd")
        kept["change"]["before"] = {"id": f"vol-{m}"}
        rcs.append(kept)
    notes = replacement_notes({"resource_changes": rcs})
    (what,) = [n for n in notes if n.startswith("etcd restore from ")]
    assert f"etcd restore from {snap}: every etcd member (etcd0, etcd1, etcd2) is replaced" in what
    assert "new, blank data volume (etcd0, etcd1, etcd2)" in what
    assert "every write since it was taken is lost" in what
    (kept_note,) = [n for n in notes if n.startswith("the data volumes the members had are kept")]
    assert "etcd0 vol-etcd0, etcd1 vol-etcd1, etcd2 vol-etcd2" in kept_note
    # No restore, or an unchanged one: nothing about it.
    assert not [n for n in replacement_notes({"resource_changes": rcs[1:]}) if "restore" in n]
    unchanged = change("module.etcd.terraform_data.restore", "terraform_data", ["no-op"], "module.etcd")
    assert replacement_notes({"resource_changes": [unchanged]}) == ["no instance will be replaced"]
