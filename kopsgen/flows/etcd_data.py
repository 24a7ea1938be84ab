"""The etcd data volumes and the KMS key that encrypts them: found in the state and in AWS,
kept by a destroy, adopted again by `up`, released and deleted when etcdCount goes down."""

from __future__ import annotations

import re

from kopsgen import naming
from kopsgen.aws import asking
from kopsgen.errors import AwsCheckError, UsageError
from kopsgen.flows.session import Session


def data_volume_address(session: Session, member: str) -> str:
    """The state address of the data volume ``member`` is attached to: the restored set
    once cluster.yaml has etcd.restore.snapshot (modules/etcd/members.tf)."""
    kind = "restored" if session.spec.etcd.restore_snapshot else "data"
    return f'module.etcd.aws_ebs_volume.{kind}["{member}"]'


def etcd_volumes(session: Session) -> list[tuple[str, str]]:
    """(state address, volume id) of the etcd data volumes in the state (after a restore,
    the restored set and the set it replaced, which is kept)."""
    state = session.tf.show_json()
    out = []

    def walk(module: dict) -> None:
        for r in module.get("resources", []):
            if r.get("type") == "aws_ebs_volume" and r["address"].startswith("module.etcd."):
                out.append((r["address"], r.get("values", {}).get("id", "")))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return out


def etcd_data_volumes_in_aws(session: Session) -> list[str]:
    """IDs of the cluster's etcd data volumes that exist in AWS (kept by an earlier destroy
    or still attached), found by their tags."""
    return [vid for vid, _ in kept_data_volumes(session, attached=True)]


def kept_data_volumes(session: Session, *, attached: bool = False) -> list[tuple[str, str]]:
    """(volume id, member name) of the cluster's etcd data volumes in AWS, by their Name
    tag ``<cluster>-etcd<i>-data``; only detached ones unless ``attached``."""
    ec2 = session.clients().client("ec2")
    # Matched here rather than with a wildcard filter, which not every endpoint honours.
    wanted = re.compile(rf"^{re.escape(session.spec.cluster_name)}-(etcd\d+)-data$")
    found = ec2.describe_volumes(Filters=[
        {"Name": f"tag:{naming.cluster_tag(session.spec)}", "Values": ["owned"]}])["Volumes"]
    out = []
    for v in found:
        if v.get("State") == "deleted" or (not attached and v.get("State") != "available"):
            continue
        names = [t["Value"] for t in v.get("Tags", []) if t["Key"] == "Name"]
        m = wanted.match(names[0]) if names else None
        if m:
            out.append((v["VolumeId"], m.group(1)))
    return sorted(out)


#: State addresses of the cluster's own KMS key (module cluster_key; none with kmsKeyArn).
KEY_ADDRESSES = ("module.cluster_key.aws_kms_key.this", "module.cluster_key.aws_kms_alias.this")


def kept_cluster_key(session: Session) -> tuple[str, str] | None:
    """(key id, alias) of the cluster's own KMS key while it is usable: kept by a destroy
    that kept the etcd data it encrypts. None with kmsKeyArn (the user's key is theirs)."""
    if session.spec.kms_key_arn:
        return None
    kms = session.clients().client("kms")
    alias = naming.cluster_key_alias(session.spec)
    for page in kms.get_paginator("list_aliases").paginate():
        for a in page["Aliases"]:
            if a["AliasName"] == alias and a.get("TargetKeyId"):
                state = kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]["KeyState"]
                if state in ("Enabled", "Disabled"):
                    return a["TargetKeyId"], alias
    return None


def adopt_kept_etcd_data(session: Session) -> list[str]:
    """Before `up` plans: bring the etcd data volumes and the KMS key that an earlier
    `kopsgen destroy` kept back under this cluster's Terraform (terraform import), so the
    new members attach the old data instead of starting an empty cluster. Returns what was
    adopted or left alone, in words."""
    addresses = set(session.tf.state_list())
    said = []
    key = None if KEY_ADDRESSES[0] in addresses else asking_aws(
        "the cluster's kept KMS key", lambda: kept_cluster_key(session))
    volumes = asking_aws("kept etcd data volumes", lambda: kept_data_volumes(session))
    members = {name for name, _ in naming.etcd_members(session.spec)}
    adopt = [(vid, m) for vid, m in volumes
             if m in members and data_volume_address(session, m) not in addresses]
    if key is not None and (adopt or not volumes):
        key_id, alias = key
        session.tf.import_resource(KEY_ADDRESSES[0], key_id)
        session.tf.import_resource(KEY_ADDRESSES[1], alias)
        said.append(f"adopted the cluster's kept KMS key {alias} ({key_id})")
    for vid, member in adopt:
        session.tf.import_resource(data_volume_address(session, member), vid)
        said.append(f"adopted the kept etcd data volume of {member} ({vid})")
    said += [f"left alone the kept data volume {vid} of {m}: etcdCount no longer has {m}"
             for vid, m in volumes if m not in members]
    return said


def asking_aws(what: str, call):
    """``call()``, with a failed AWS call as one line naming ``what`` was asked."""
    with asking(f"look for {what}"):
        return call()


def kept_etcd_data_notes(session: Session) -> list[str]:
    """What `plan` says about etcd data an earlier destroy kept (and `up` would adopt)."""
    if session.tf.state_list():
        return []
    try:
        volumes = asking_aws("kept etcd data volumes", lambda: kept_data_volumes(session))
        key = asking_aws("the cluster's kept KMS key", lambda: kept_cluster_key(session))
    except AwsCheckError as exc:
        return [f"{exc.message} (a plan does not need it; `kopsgen up` does)"]
    if not volumes and not key:
        return []
    what = ", ".join([f"{m} ({vid})" for vid, m in volumes] + ([key[1]] if key else []))
    return [f"the etcd data of an earlier cluster {session.spec.cluster_name} was kept: {what}; "
            "`kopsgen up` adopts it (this plan shows what a cluster without it would create)"]


def etcd_members_leaving(session: Session) -> list[tuple[str, str]]:
    """(state address, volume id) of the data volumes of etcd members that cluster.yaml no
    longer has (etcdCount was lowered). Refuses a step that would lose the quorum: the
    members that stay must be a majority of the members there are now."""
    members = {name for name, _ in naming.etcd_members(session.spec)}
    attached = data_volume_address(session, "").split("[", 1)[0] + "["
    volumes = [(a, v) for a, v in etcd_volumes(session) if a.startswith(attached)]
    now = [re.search(r'\["(etcd\d+)"\]', a).group(1) for a, _ in volumes]
    leaving = [(a, v) for (a, v), m in zip(volumes, now, strict=True) if m not in members]
    # A member's instance may go before the others have removed it: those that stay must
    # be a quorum of the membership as it is now.
    most = (len(now) - 1) // 2
    if leaving and len(leaving) > most:
        how = (f"lower it by at most {most} at a time (first to {len(now) - most})" if most
               else f"a cluster of {len(now)} members cannot lose one and keep its quorum")
        raise UsageError(
            f"etcdCount {len(members)} would remove {len(leaving)} of the {len(now)} etcd "
            f"members at once, more than the cluster can lose and keep its quorum: {how} "
            "(docs/etcd.md)")
    return leaving


def release_leaving_members(session: Session, leaving: list[tuple[str, str]]) -> None:
    """Take the data volumes of leaving members out of the state before the plan (they are
    protected from terraform by prevent_destroy)."""
    if leaving:
        session.tf.state_rm([a for a, _ in leaving])
        for address, vid in leaving:
            member = address.split("[", 1)[1].strip('[]"')
            session.say(f"etcd: {member} leaves the cluster; its data volume {vid} is deleted "
                        "once its instance is gone")


def delete_leaving_volumes(session: Session, leaving: list[tuple[str, str]]) -> None:
    """After the apply: the leaving members' volumes, whose data the others hold (and which
    must never rejoin: their member ids were removed from the cluster)."""
    if not leaving:
        return
    with asking("delete the data volumes of the etcd members that left"):
        ec2 = session.clients().client("ec2")
        for _, vid in leaving:
            ec2.delete_volume(VolumeId=vid)
    session.say(f"deleted the data volume(s) of the members that left: "
                f"{', '.join(v for _, v in leaving)}")


def schedule_key_deletion(session: Session, key: tuple[str, str]) -> None:
    key_id, alias = key
    with asking(f"schedule the deletion of the KMS key {alias} ({key_id})"):
        kms = session.clients().client("kms")
        kms.delete_alias(AliasName=alias)
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
