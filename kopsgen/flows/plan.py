"""What a plan means, in words: the totals per module and the instances it replaces; and
the plan flow itself (`kopsgen plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kopsgen import naming
from kopsgen.errors import UsageError
from kopsgen.flows.etcd_data import kept_etcd_data_notes
from kopsgen.flows.session import Session
from kopsgen.terraform import PlanSummary


def describe_summary(summary: PlanSummary) -> list[str]:
    lines = [f"Plan: {summary.add} to add, {summary.change} to change, {summary.destroy} to "
             f"destroy ({summary.replace} replaced)"]
    for module, counts in sorted(summary.by_module.items()):
        lines.append(f"  {module:<28} +{counts.add} ~{counts.change} -{counts.destroy}")
    return lines


def replacement_notes(plan_json: dict) -> list[str]:
    """Which instances a plan replaces, in words a reviewer can act on."""
    notes = []
    for rc in plan_json.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if actions in (["no-op"], ["read"]) or not actions:
            continue
        module = rc.get("module_address", "")
        if rc.get("type") == "aws_launch_template" and "update" in actions:
            what = "the controllers" if module == "module.controllers" else \
                f"the nodes of pool {module.removeprefix('module.pool_')}"
            notes.append(f"{what} will be replaced one at a time by an instance refresh "
                         f"({rc['address']} changes)")
        elif rc.get("type") == "aws_instance" and "delete" in actions and "create" in actions:
            notes.append(f"{rc['address']} will be replaced")
        elif rc.get("type") == "aws_autoscaling_group" and "delete" in actions:
            notes.append(f"{rc['address']} will be {'replaced' if 'create' in actions else 'removed'}"
                         " with all its instances")
        elif rc.get("address") == "module.etcd.aws_s3_object.cloud_config" and \
                "update" in actions:
            notes.append("the etcd cloud-config changes: running members keep the one they were "
                         "created with until each is replaced (terraform apply -replace="
                         "'module.etcd.aws_instance.member[\"etcd0\"]', one at a time; "
                         "docs/etcd.md)")
    return notes or ["no instance will be replaced"]


@dataclass(frozen=True)
class PlanResult:
    path: Path
    summary: PlanSummary
    notes: list[str]


def pool_targets(session: Session, pool: str | None) -> tuple[str, ...]:
    """The terraform -target of ``--pool NAME`` (none without it)."""
    if pool is None:
        return ()
    names = [p.name for p in session.spec.node_pools]
    if pool not in names:
        raise UsageError(f"--pool: no node pool named {pool!r} (pools: {', '.join(names)})")
    return (f"module.{naming.pool_module(session.spec.pool(pool))}",)


def plan(session: Session, *, pool: str | None = None,
         expected_account: str | None = None) -> PlanResult:
    """`kopsgen plan`: pre-flight, then a plan saved in the terraform directory."""
    targets = pool_targets(session, pool)
    session.preflight(expected_account=expected_account)
    for note in kept_etcd_data_notes(session):
        session.say(f"note: {note}")
    path, summary, doc = session.plan(targets=targets)
    return PlanResult(path, summary, replacement_notes(doc))
