"""`kopsgen etcd backups` and `kopsgen etcd restore`: the snapshots kopsgen-etcd-backup put
below the cluster's S3 prefix, and setting etcd.restore.snapshot in cluster.yaml to one of
them (docs/etcd.md "Backups", "Restoring from a snapshot")."""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kopsgen.aws import asking
from kopsgen.errors import UsageError, WorkspaceError
from kopsgen.flows.session import Session
from kopsgen.safeio import read_limited
from kopsgen.spec import MAX_BYTES
from kopsgen.spec.builder.etcd import SNAPSHOT_KEY_RE
from kopsgen.spec.edit import set_etcd_restore_snapshot

PREFIX = "backups/etcd/"
_PARTS = re.compile(r"backups/etcd/(\d{8}T\d{6}Z)-([a-z0-9]+)-([0-9a-f]{64})\.db")


@dataclass(frozen=True)
class Backup:
    key: str  # below the cluster prefix: what etcd.restore.snapshot takes
    time: str  # UTC, as the key has it (20261201T100000Z)
    member: str
    sha256: str
    size: int

    @property
    def restore_line(self) -> str:
        return f"etcd.restore.snapshot: {self.key}"


def _location(session: Session) -> tuple[str, str]:
    location = session.outputs().get("assets_location")
    if not location:
        raise WorkspaceError("no assets location in the Terraform state; run `kopsgen up` first")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def list_backups(session: Session) -> tuple[str, list[Backup]]:
    """(where, the snapshots newest first). Objects below the prefix that are not named as
    kopsgen-etcd-backup names its snapshots are left out."""
    bucket, prefix = _location(session)
    full = f"{prefix}/{PREFIX}" if prefix else PREFIX
    found = []
    with asking(f"list s3://{bucket}/{full}"):
        s3 = session.clients().client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(prefix) + 1:] if prefix else obj["Key"]
                m = _PARTS.fullmatch(key)
                if m:
                    found.append(Backup(key, m.group(1), m.group(2), m.group(3), obj["Size"]))
    found.sort(key=lambda b: (b.time, b.key), reverse=True)
    return f"s3://{bucket}/{full}", found


@dataclass(frozen=True)
class RestoreEdit:
    path: Path
    diff: str  # unified diff of cluster.yaml
    written: bool
    unchanged: bool


def set_restore(session: Session, snapshot: str, *, dry_run: bool) -> RestoreEdit:
    """Set etcd.restore.snapshot in cluster.yaml to ``snapshot``, once S3 is known to hold
    it; with ``dry_run`` only the diff. Writes the file whole (a temporary file renamed over
    it, its mode kept), or not at all."""
    if not SNAPSHOT_KEY_RE.fullmatch(snapshot):
        raise UsageError(f"SNAPSHOT: {snapshot!r} is not a snapshot key as `kopsgen etcd backups` "
                         "lists it (backups/etcd/<time>-<member>-<sha256>.db)")
    where, backups = list_backups(session)
    if snapshot not in {b.key for b in backups}:
        raise UsageError(f"SNAPSHOT: {where} holds no {snapshot.removeprefix(PREFIX)} "
                         "(`kopsgen etcd backups` lists the snapshots there); cluster.yaml is unchanged")
    path = session.cluster_dir / "cluster.yaml"
    try:
        text = read_limited(path, MAX_BYTES).decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"cannot read {path}: {exc}") from None
    new = set_etcd_restore_snapshot(text, snapshot, filename=str(path))
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new.splitlines(keepends=True),
                                        "cluster.yaml", "cluster.yaml"))
    if new == text or dry_run:
        return RestoreEdit(path, diff, written=False, unchanged=new == text)
    target = path.resolve()  # a symlinked cluster.yaml stays a symlink
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".cluster.yaml.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WorkspaceError(f"cannot write {path}: {exc}") from None
    return RestoreEdit(path, diff, written=True, unchanged=False)
