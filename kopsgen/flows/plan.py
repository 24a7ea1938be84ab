"""What a plan means, in words: the totals per module and the instances it replaces; and
the plan flow itself (`kopsgen plan`)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from kopsgen import naming
from kopsgen.errors import UsageError
from kopsgen.flows.etcd_data import kept_etcd_data_notes
from kopsgen.flows.session import Session
from kopsgen.terraform import PlanSummary

#: The tag each etcd member keeps the digest of the credentials it was created with in
#: (modules/etcd: ignore_changes, like its user data).
CREDENTIALS_TAG = "kopsgen.io/credentials-sha256"


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
            why = "".join(f": {r}" for r in _rotated(rc))
            notes.append(f"{what} will be replaced one at a time by an instance refresh "
                         f"({rc['address']} changes){why}")
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
    notes += etcd_credential_notes(plan_json)
    notes += etcd_restore_notes(plan_json)
    return notes or ["no instance will be replaced"]


def etcd_restore_notes(plan_json: dict) -> list[str]:
    """What a new etcd.restore.snapshot replaces: every member and the volume it runs on,
    and which volumes are kept (modules/etcd/members.tf: the set they had stays, detached)."""
    changes = plan_json.get("resource_changes", [])
    restore = next((rc for rc in changes if rc.get("address") == "module.etcd.terraform_data.restore"
                    and set(rc.get("change", {}).get("actions", [])) & {"create", "update", "delete"}),
                   None)
    if restore is None:
        return []
    change = restore["change"]
    snapshot = (change.get("after") or {}).get("input") or ""
    if not snapshot:
        return []
    members = sorted(_member_of(rc["address"]) for rc in changes
                     if rc.get("address", "").startswith("module.etcd.aws_instance.member[")
                     and "create" in rc["change"]["actions"])
    new = sorted(_member_of(rc["address"]) for rc in changes
                 if rc.get("address", "").startswith("module.etcd.aws_ebs_volume.restored[")
                 and rc["change"]["actions"] == ["create"])
    kept = [f"{_member_of(rc['address'])} {(rc['change'].get('before') or {}).get('id', '?')}"
            for rc in changes if rc.get("address", "").startswith("module.etcd.aws_ebs_volume.data[")
            and rc["change"].get("before")]
    notes = [f"etcd restore from {snapshot}: every etcd member ({', '.join(members) or 'none'}) "
             f"is replaced by (or created as) a new instance on a new, blank data volume "
             f"({', '.join(new) or 'none'}), restored from the snapshot; every write since it "
             "was taken is lost"]
    if kept:
        notes.append("the data volumes the members had are kept, detached (Name "
                     f"<cluster>-<member>-data-before-restore): {', '.join(sorted(kept))}")
    return notes


def _member_of(address: str) -> str:
    return address.rsplit("[", 1)[1].strip('[]"')


_CREDENTIALS_LINE = re.compile(r'^\s*KOPSGEN_CREDENTIALS_SHA256="([^"]*)"', re.M)
_ROLE_LINE = re.compile(r'^\s*KOPSGEN_ROLE="([^"]*)"', re.M)


def _user_data_digest(value) -> tuple[str | None, str | None]:
    """(role, credentials digest) in a launch template's base64 user data."""
    if not isinstance(value, str):
        return None, None
    try:
        text = base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return None, None
    role, digest = _ROLE_LINE.search(text), _CREDENTIALS_LINE.search(text)
    return (role.group(1) if role else None), (digest.group(1) if digest else None)


def _rotated(rc: dict) -> list[str]:
    """Why a launch template's user data changes, if its credentials are why."""
    change = rc.get("change", {})
    before = _user_data_digest((change.get("before") or {}).get("user_data"))
    role, after = _user_data_digest((change.get("after") or {}).get("user_data"))
    if role and after and before[1] != after:
        return [f"credentials of role {role} changed"]
    return []


def _etcd_members(plan_json: dict) -> dict[str, dict]:
    """module.etcd's aws_instance.member addresses -> their values in the prior state."""
    out: dict[str, dict] = {}
    stack = [(plan_json.get("prior_state") or {}).get("values", {}).get("root_module", {})]
    while stack:
        module = stack.pop()
        stack += module.get("child_modules", [])
        for r in module.get("resources", []):
            if r.get("address", "").startswith("module.etcd.aws_instance.member"):
                out[r["address"]] = r.get("values") or {}
    return out


def etcd_credential_notes(plan_json: dict) -> list[str]:
    """The etcd members that run older credentials than the workspace's: Terraform ignores
    a member's user data (replacing all at once would lose quorum), so each is replaced by
    hand, one at a time, with the command given here."""
    want = ((plan_json.get("variables") or {}).get("credentials_sha256") or {}).get("value")
    want = want.get("etcd") if isinstance(want, dict) else None
    if not want:
        return []
    replaced = {rc["address"] for rc in plan_json.get("resource_changes", [])
                if "delete" in rc.get("change", {}).get("actions", [])}
    notes = []
    for address, values in sorted(_etcd_members(plan_json).items()):
        have = (values.get("tags") or {}).get(CREDENTIALS_TAG)
        if address in replaced or have == want:
            continue
        notes.append(f"{address} runs {'older' if have else 'unrecorded'} etcd credentials "
                     f"({have or 'created before kopsgen recorded them'}; now {want}): after "
                     f"this apply, replace it -- one member at a time, each once the others "
                     f"are healthy: terraform -chdir=terraform apply -replace='{address}' "
                     "(docs/credentials.md)")
    return notes


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
