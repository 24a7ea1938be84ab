"""`kopsgen destroy`: what goes, what is kept (the etcd data and its key), and a check that
nothing tagged with the cluster remains."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from kopsgen import naming
from kopsgen.aws import asking, tagged_resources
from kopsgen.boot import BootLab
from kopsgen.errors import ExitCode, KopsgenError
from kopsgen.flows.etcd_backups import list_backups
from kopsgen.flows.etcd_data import (
    KEY_ADDRESSES,
    asking_aws,
    etcd_data_volumes_in_aws,
    etcd_volumes,
    kept_cluster_key,
    schedule_key_deletion,
)
from kopsgen.flows.session import Progress, Say, Session

#: A data source's state address: data.TYPE.NAME, or module.M.data.TYPE.NAME.
_DATA_SOURCE = re.compile(r"(^|\.)data\.[a-z]")


def destroy_cluster(session: Session, *, delete_etcd_data: bool,
                    confirm: Callable[[str], None], echo: Say) -> int:
    """Destroy the cluster. Its etcd data volumes are kept unless ``delete_etcd_data``, and
    with them the cluster's own KMS key and alias, without which they could never be read
    again; a later `kopsgen up` adopts both (:func:`adopt_kept_etcd_data`). ``confirm`` asks
    (or raises); returns how many etcd data volumes (and keys) are kept. Raises
    :class:`KopsgenError` (LEFTOVERS) when something tagged with the cluster remains."""
    spec = session.spec
    # Before anything is asked or destroyed: terraform would fail half-way without them.
    with asking("use the AWS credentials (nothing was destroyed)"):
        session.clients().client("sts").get_caller_identity()
    addresses = session.tf.state_list()
    key_in_state = [a for a in KEY_ADDRESSES if a in addresses]
    if not addresses:
        echo(f"cluster {spec.cluster_name}: nothing in the state to destroy")
    else:
        volumes = etcd_volumes(session)
        # Leave the state before the destroy (below), so terraform never counts them.
        keep = [a for a, _ in volumes] + ([] if delete_etcd_data else key_in_state)
        # One total, said three times (header, per module, progress): the managed
        # resources terraform destroys; data sources are read, never destroyed.
        doomed = [a for a in addresses if not _DATA_SOURCE.search(a) and a not in keep]
        by_module = Counter(a.split(".aws_")[0] if a.startswith("module.") else "(root)"
                            for a in doomed)
        echo(f"This destroys cluster {spec.cluster_name}: {len(doomed)} resources, by module:")
        for module, n in sorted(by_module.items()):
            echo(f"  {module:<28} {n}")
        if delete_etcd_data:
            echo(f"The {len(volumes)} etcd data volume(s) are DELETED too: the cluster's data is "
                 "gone for good" + (", and its KMS key is scheduled for deletion."
                                    if key_in_state else "."))
        else:
            echo(f"The {len(volumes)} etcd data volume(s) are kept (--delete-etcd-data deletes "
                 "them): " + ", ".join(v for _, v in volumes))
            if key_in_state:
                echo(f"The cluster's KMS key {naming.cluster_key_alias(spec)} is kept with them: "
                     "it encrypts them. `kopsgen up` of this cluster adopts both.")
        if "module.assets_bucket.aws_s3_bucket.this" in addresses:
            for line in _snapshots_going(session):
                echo(line)
        confirm(f"Type the cluster name ({spec.cluster_name}) to destroy it")
        # prevent_destroy guards the volumes against terraform: they leave the state first,
        # then stay in AWS (kept) or are deleted below; a kept key leaves with them.
        session.tf.state_rm(keep)
        progress = Progress(session.say, "destroy", total=len(doomed))
        session.tf.out = progress
        try:
            session.tf.destroy()
        finally:
            session.tf.out = None
        session.say(f"[destroy {progress.elapsed()}] done: {progress.done} of {len(doomed)} "
                    "destroyed")
    data_volumes = asking_aws("the kept etcd data volumes",
                               lambda: etcd_data_volumes_in_aws(session))
    key = asking_aws("the cluster's kept KMS key", lambda: kept_cluster_key(session))
    if delete_etcd_data and (data_volumes or key) and not addresses:
        # Kept by an earlier destroy: deleting them is as final as a destroy.
        what = ", ".join(data_volumes + ([key[1]] if key else []))
        echo(f"The kept etcd data of cluster {spec.cluster_name} will be DELETED: {what}")
        confirm(f"Type the cluster name ({spec.cluster_name}) to delete it")
    if delete_etcd_data:
        with asking("delete the etcd data volumes"):
            ec2 = session.clients().client("ec2")
            for vid in data_volumes:
                ec2.delete_volume(VolumeId=vid)
        if data_volumes:
            session.say(f"deleted {len(data_volumes)} etcd data volume(s): "
                        f"{', '.join(data_volumes)}")
        if key:
            schedule_key_deletion(session, key)
            session.say(f"scheduled the deletion of the KMS key {key[1]} ({key[0]}) in 7 days")
    kept = set() if delete_etcd_data else set(data_volumes) | ({key[0]} if key else set())
    left = [arn for arn in tagged_resources(session.clients(), spec.cluster_name)
            if not any(arn.endswith(v) for v in kept)]
    if left:
        for arn in left:
            session.say(f"still tagged with the cluster: {arn}")
        raise KopsgenError(f"{len(left)} resource(s) tagged kubernetes.io/cluster/"
                           f"{spec.cluster_name} remain; delete them or run `kopsgen "
                           "destroy` again", exit_code=ExitCode.LEFTOVERS)
    volumes_kept = len(kept) - (1 if key and not delete_etcd_data else 0)
    echo(f"cluster {spec.cluster_name} destroyed; nothing tagged with it remains"
         + (f" except the {volumes_kept} kept etcd data volume(s)"
            + (" and their KMS key" if key else "") if kept else ""))
    return len(kept)


def _snapshots_going(session: Session) -> list[str]:
    """What to say of the etcd snapshots in the assets bucket kopsgen created, which the
    destroy deletes with it (docs/etcd.md "Backups"): they are not data kopsgen keeps."""
    try:
        where, backups = list_backups(session)
    except KopsgenError as exc:
        return [f"The etcd snapshots in the assets bucket are deleted with it (they could not "
                f"be listed: {exc}): copy backups/etcd/ first if you need them."]
    if not backups:
        return []
    return [f"The assets bucket is deleted with the cluster, and with it {len(backups)} etcd "
            f"snapshot(s), the newest {backups[0].time}: to keep them, copy them first "
            f"(aws s3 sync {where} <elsewhere>)."]


def destroy(session: Session, *, delete_etcd_data: bool, confirm: Callable[[str], None],
            out: Say, expected_account: str | None = None) -> int:
    """`kopsgen destroy`: the account first (``expected_account``), the sandbox's booted
    machines, then the cluster; the sandbox's emulator stops only once the cluster is
    really gone."""
    session.check_account(expected_account)
    session.stop_sandbox = False
    if session.sandbox is not None and (session.sandbox.root / "boot").exists():
        session.say("boot: powering off and removing the sandbox machines")
        BootLab(session.sandbox, session.spec, session.say).stop(volumes=True)
    kept = destroy_cluster(session, delete_etcd_data=delete_etcd_data, confirm=confirm,
                           echo=out)
    session.stop_sandbox = session.sandbox is not None
    return kept
