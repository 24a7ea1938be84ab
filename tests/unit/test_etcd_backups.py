"""`kopsgen etcd backups` and `kopsgen etcd restore` as flows over a real Session's code, with
real boto3 against the AWS emulator (moto on loopback, as --sandbox uses it) holding a bucket
of objects this test puts; and the line-exact cluster.yaml edit."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import boto3
import helpers
import pytest
import yaml
from test_flows import REPO, session_for

from kopsgen import core
from kopsgen.aws import make_session
from kopsgen.errors import ExitCode, UsageError
from kopsgen.flows import etcd_backups
from kopsgen.spec import load_spec
from kopsgen.spec.edit import set_etcd_restore_snapshot

BUCKET, PREFIX = "assets-bucket", "team/k8s"


def snapshot_key(time: str, member: str, body: bytes) -> str:
    return f"backups/etcd/{time}-{member}-{hashlib.sha256(body).hexdigest()}.db"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with helpers.emulator(log) as url:
        yield url


@pytest.fixture
def bucket(endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    name = f"{BUCKET}-{os.getpid()}-{len(s3.list_buckets()['Buckets'])}"
    s3.create_bucket(Bucket=name)
    bodies = {snapshot_key(t, m, f"{t}{m}".encode() * n): f"{t}{m}".encode() * n
              for t, m, n in (("20261201T090000Z", "etcd1", 10), ("20261201T110000Z", "etcd0", 30),
                              ("20261201T100000Z", "etcd2", 20))}
    for key, body in bodies.items():
        s3.put_object(Bucket=name, Key=f"{PREFIX}/{key}", Body=body)
    # Not snapshots of this cluster: another object there, another cluster's prefix.
    s3.put_object(Bucket=name, Key=f"{PREFIX}/backups/etcd/notes.txt", Body=b"x")
    s3.put_object(Bucket=name, Key=f"other/{next(iter(bodies))}", Body=b"x")
    return name, bodies, endpoint


@pytest.fixture
def cluster(tmp_path) -> Path:
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    core.write(tmp_path, core.render(tmp_path))
    return tmp_path


def session(cluster: Path, bucket_name: str, endpoint: str):
    s = session_for(cluster, state=["module.assets_bucket.aws_s3_bucket.this"],
                    outputs={"assets_location": {"value": f"s3://{bucket_name}/{PREFIX}"}})
    clients = make_session("us-east-1", endpoint_url=endpoint)
    s.clients = lambda: clients
    return s


def test_backups_lists_the_snapshots_newest_first(cluster, bucket):
    name, bodies, endpoint = bucket
    where, found = etcd_backups.list_backups(session(cluster, name, endpoint))
    assert where == f"s3://{name}/{PREFIX}/backups/etcd/"
    assert [(b.time, b.member) for b in found] == [
        ("20261201T110000Z", "etcd0"), ("20261201T100000Z", "etcd2"), ("20261201T090000Z", "etcd1")]
    for b in found:
        assert b.size == len(bodies[b.key])
        assert b.sha256 == hashlib.sha256(bodies[b.key]).hexdigest()
        assert b.restore_line == f"etcd.restore.snapshot: {b.key}"


def test_restore_dry_run_shows_the_edit_and_writes_nothing(cluster, bucket):
    name, bodies, endpoint = bucket
    key = sorted(bodies)[0]
    before = (cluster / "cluster.yaml").read_bytes()
    edit = etcd_backups.set_restore(session(cluster, name, endpoint), key, dry_run=True)
    assert not edit.written
    assert f"+    snapshot: {key}\n" in edit.diff and "+  restore:\n" in edit.diff
    assert (cluster / "cluster.yaml").read_bytes() == before


def test_restore_sets_the_one_setting_and_the_spec_has_it(cluster, bucket):
    name, bodies, endpoint = bucket
    key = sorted(bodies)[1]
    path = cluster / "cluster.yaml"
    before = path.read_text()
    path.chmod(0o640)
    edit = etcd_backups.set_restore(session(cluster, name, endpoint), key, dry_run=False)
    assert edit.written
    after = path.read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    # The example has no etcd: block yet (its etcd settings are top-level kube-aws keys).
    assert added == ["etcd:", "  restore:", f"    snapshot: {key}"]
    assert [line for line in before.splitlines() if line not in after.splitlines()] == []
    assert path.stat().st_mode & 0o777 == 0o640
    assert load_spec(path).spec.etcd.restore_snapshot == key
    # Again: nothing to do.
    again = etcd_backups.set_restore(session(cluster, name, endpoint), key, dry_run=False)
    assert again.unchanged and path.read_text() == after


@pytest.mark.parametrize("snapshot", [
    "backups/etcd/20261201T120000Z-etcd0-" + "0" * 64 + ".db",  # well formed, not in S3
    "backups/etcd/notes.txt",  # in S3, not a snapshot
    "20261201T110000Z-etcd0.db",
])
def test_restore_of_an_unknown_snapshot_fails_and_leaves_cluster_yaml(cluster, bucket, snapshot):
    name, _, endpoint = bucket
    before = (cluster / "cluster.yaml").read_bytes()
    with pytest.raises(UsageError) as exc:
        etcd_backups.set_restore(session(cluster, name, endpoint), snapshot, dry_run=False)
    assert exc.value.exit_code == ExitCode.USAGE
    assert exc.value.message.startswith("SNAPSHOT: ") and "\n" not in exc.value.message
    assert (cluster / "cluster.yaml").read_bytes() == before


KEY = "backups/etcd/20261201T110000Z-etcd0-" + "ab" * 32 + ".db"
OTHER = KEY.replace("ab", "cd")


@pytest.mark.parametrize(("text", "expected"), [
    # No etcd block: one is added at the end.
    ("clusterName: k8s\n", f"clusterName: k8s\netcd:\n  restore:\n    snapshot: {KEY}\n"),
    ("clusterName: k8s", f"clusterName: k8s\netcd:\n  restore:\n    snapshot: {KEY}\n"),
    # An etcd block (four-space indent, comments): restore added with its indent.
    ("etcd:\n    # the members\n    backup:\n        interval: 6h\nworker: 1\n",
     f"etcd:\n    # the members\n    restore:\n      snapshot: {KEY}\n    backup:\n"
     "        interval: 6h\nworker: 1\n"),
    # An existing value, quoted and commented: only the value changes.
    (f"etcd:\n  restore:\n    snapshot: \"{OTHER}\"  # from the incident\n",
     f"etcd:\n  restore:\n    snapshot: {KEY}  # from the incident\n"),
])
def test_the_edit_changes_only_the_setting(text, expected):
    assert set_etcd_restore_snapshot(text, KEY) == expected
    assert yaml.safe_load(expected)["etcd"]["restore"]["snapshot"] == KEY


def test_the_edit_refuses_what_it_cannot_edit_exactly():
    with pytest.raises(UsageError, match=r"^c.yaml:2: etcd: is not a block mapping"):
        set_etcd_restore_snapshot("a: 1\netcd: {backup: {interval: 6h}}\n", KEY, "c.yaml")
    with pytest.raises(UsageError, match=r"^c.yaml:1: etcd: is empty"):
        set_etcd_restore_snapshot("etcd:\n", KEY, "c.yaml")
