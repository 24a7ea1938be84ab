"""etcd backups and restore on real etcd (Debian's etcd-server 3.4), with the rendered scripts.

Three members of the rendered cloud-config run as etcd.service runs them, each on a test
host of its own (tests/netns.py: a bridge with no route out; the member's ports are fixed
at 2379/2380, so they cannot share one loopback) -- the same harness as
test_etcd_membership.py, whose ``Member`` moves the scripts' paths into a directory per
member. Keys are written; the rendered kopsgen-etcd-backup.service runs on every member
(the leader saves, the others say they are not); its kopsgen-s3-put (the rendered one)
signs the PUT with the role credentials it reads from a local IMDS stand-in and sends it to
a local recorder (s3_recorder.py), whose record this test checks: SigV4 (recomputed with
botocore), SSE-KMS under the cluster key, the body's SHA-256 in the payload hash and in the
key. Then the cloud-config is rendered again with etcd.restore.snapshot = that key; a new
instance that boots while two old members still run refuses to join them; once they are
gone, new instances with blank volumes restore the snapshot by the rendered kopsgen-etcd
and form a new cluster (three voting members with new IDs, the keys there, a write made
after the snapshot not), which the rendered reconciler marks as restored, so the waiting
member then joins it.

Stand-ins, on the members' /opt/bin (never edits of the scripts): ``kopsgen-s3-get``
(tested on its own elsewhere) copies the member list, the backup settings object and the
recorded snapshot.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import helpers
import netns
import pytest
import yaml
from s3_recorder import CREDENTIALS
from test_etcd_membership import NAMES, Member, etcd_env, member_table, params, wait_for

from kopsgen.render.cloudconfig import render_cloudconfigs
from kopsgen.render.pki import PkiParams, render_credentials

pytestmark = pytest.mark.slow

REGION, BUCKET, PREFIX = "us-east-1", "assets", "membership"
KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"
PORT = 8080
KEYS = {f"/registry/test/key{i}": f"value {i}" for i in range(20)}


def cloud_config(restore: str | None = None) -> dict:
    p = replace(params(3), etcd_restore_snapshot=restore)
    return yaml.safe_load(render_cloudconfigs(p)["userdata/cloud-config-etcd"])


class BackupMember(Member):
    """A member whose instance also has what a backup and a restore use."""

    def __init__(self, *args, recorder: Path, settings: Path, endpoint: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorder, self.settings, self.endpoint = recorder, settings, endpoint

    def install(self, config: dict) -> None:
        super().install(config)
        stub = self.root / "opt" / "bin" / "kopsgen-s3-get"
        objects = self.recorder / "objects" / BUCKET / PREFIX
        stub.write_text(
            "#!/bin/sh\n# stand-in for kopsgen-s3-get KEY DEST: what the test's bucket holds\n"
            'case "$1" in\n'
            f'  userdata/etcd/members) exec cp {self.members_file} "$2" ;;\n'
            f'  userdata/etcd/backup) exec cp {self.settings} "$2" ;;\n'
            f'  backups/etcd/*) exec cp {objects}/"$1" "$2" ;;\n'
            '  *) echo "kopsgen-s3-get stand-in: no $1" >&2; exit 1 ;;\n'
            "esac\n")
        env = self.root / "etc" / "kopsgen" / "environment"
        # What the user data writes (bucket, prefix, region), and the two endpoints
        # kopsgen-s3-put takes from its environment: IMDS and S3, both the recorder.
        with env.open("a") as f:
            f.write(f'KOPSGEN_ASSETS_BUCKET="{BUCKET}"\nKOPSGEN_ASSETS_PREFIX="{PREFIX}"\n'
                    f'KOPSGEN_REGION="{REGION}"\nKOPSGEN_IMDS_ENDPOINT="{self.endpoint}"\n'
                    f'KOPSGEN_S3_ENDPOINT="{self.endpoint}/{BUCKET}"\nKOPSGEN_S3_PUT_ATTEMPTS="1"\n')

    def backup(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.host.argv("sh", "-c", self.unit_command("kopsgen-etcd-backup.service")),
            capture_output=True, text=True, env=etcd_env(), timeout=60)

    def member_ids(self) -> dict[str, str]:
        out = self.ctl("member", "list")
        assert out.returncode == 0, out.stderr
        return {line.split(", ")[2]: line.split(", ")[0] for line in out.stdout.splitlines()}


def check_sigv4(request: dict, body: bytes) -> None:
    """The recorded PUT is signed as S3 checks it: recompute the signature with botocore
    from the request's signed headers and the recorder's credentials."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {k.lower(): v for k, v in request["headers"].items()}
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", headers["authorization"])
    assert m, headers["authorization"]
    access_key, day, region, signed, signature = m.groups()
    assert (access_key, region) == (CREDENTIALS["AccessKeyId"], REGION)
    signed = signed.split(";")
    # Everything that matters is covered by the signature.
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-aws-kms-key-id"} <= set(signed), signed
    req = AWSRequest(method="PUT", url=f"http://{headers['host']}{request['path']}",
                     headers={h: headers[h] for h in signed}, data=body)
    auth = S3SigV4Auth(Credentials(CREDENTIALS["AccessKeyId"], CREDENTIALS["SecretAccessKey"],
                                   CREDENTIALS["Token"]), "s3", REGION)
    req.context["timestamp"] = headers["x-amz-date"]
    assert headers["x-amz-date"].startswith(day)
    canonical = auth.canonical_request(req)
    expected = auth.signature(auth.string_to_sign(req, canonical), req)
    assert signature == expected, canonical


@pytest.fixture
def lab(tmp_path):
    helpers.require_tool("etcd")
    helpers.require_tool("etcdctl")
    helpers.require_tool("curl")
    with netns.lab(NAMES[:3], subnet="10.214.0") as lab:
        recorder_dir = tmp_path / "s3"
        recorder_dir.mkdir()
        host = lab.hosts[NAMES[0]]
        recorder = subprocess.Popen(
            host.argv(sys.executable, str(Path(__file__).with_name("s3_recorder.py")),
                      host.address, str(PORT), str(recorder_dir)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        members: list[BackupMember] = []
        try:
            yield lab, tmp_path, recorder_dir, f"http://{NAMES[0]}:{PORT}", members
        finally:
            for m in members:
                m.stop()
            recorder.kill()
            recorder.wait(timeout=10)


def test_backup_by_the_rendered_script_restores_into_new_members(lab) -> None:
    lab_, tmp, recorder_dir, endpoint, members = lab
    pki = PkiParams(cluster_name="membership", external_dns_name="k8s.test.example",
                    service_cidr="10.3.0.0/24", etcd_names=tuple(NAMES[:3]))
    creds = render_credentials(pki, {}, datetime.now(UTC)).files
    members_file = tmp / "members"
    members_file.write_text("etcd0\netcd1\netcd2\n")
    settings = tmp / "backup-settings"  # what modules/etcd writes to userdata/etcd/backup
    settings.write_text(f'KOPSGEN_BACKUP_KMS_KEY_ARN="{KMS_KEY}"\n')

    def make(where: str) -> list[BackupMember]:
        (tmp / where).mkdir()
        made = [BackupMember(i, lab_, tmp / where, creds, members_file, recorder=recorder_dir,
                             settings=settings, endpoint=endpoint) for i in range(3)]
        members.extend(made)
        return made

    # The cluster as it was created: three blank members, keys written.
    old = make("old")
    config = cloud_config()
    for m in old:
        m.install(config)
        m.start()
    names = {"etcd0", "etcd1", "etcd2"}
    wait_for("three voting members", lambda: member_table(old[0]) == {
        n: ("started", False) for n in names}, old)
    for k, v in KEYS.items():
        assert old[0].ctl("put", k, v).returncode == 0
    old_ids = old[0].member_ids()

    # The timer fires on every member: the leader saves, the others leave it to the leader.
    runs = [m.backup() for m in old]
    for r in runs:
        assert r.returncode == 0, r.stdout + r.stderr
    saved = [r for r in runs if "kopsgen-etcd-backup: saved " in r.stdout]
    assert len(saved) == 1, [r.stdout for r in runs]
    assert sum("is not the leader" in r.stdout for r in runs) == 2
    key = re.search(r"saved (backups/etcd/\S+\.db)", saved[0].stdout).group(1)
    # etcd's revision counts the writes: the snapshot holds every one.
    assert f"(revision {1 + len(KEYS)}," in saved[0].stdout, saved[0].stdout

    requests = [json.loads(line) for line in (recorder_dir / "requests.jsonl").read_text().splitlines()]
    assert len(requests) == 1
    request = requests[0]
    assert urlsplit(f"http://x{request['path']}").path == f"/{BUCKET}/{PREFIX}/{key}"
    body = (recorder_dir / "objects" / BUCKET / PREFIX / key).read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    m = re.fullmatch(r"backups/etcd/(\d{8}T\d{6}Z)-(etcd[0-2])-([0-9a-f]{64})\.db", key)
    assert m and m.group(3) == sha, key
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == KMS_KEY
    assert headers["x-amz-content-sha256"] == sha
    assert headers["x-amz-security-token"] == CREDENTIALS["Token"]
    check_sigv4(request, body)

    # Writes after the snapshot are not in it.
    assert old[0].ctl("put", "/registry/test/after", "lost").returncode == 0

    # Terraform replaces every member (and gives it a new, blank volume): the first new
    # instance may boot while two of the old members still run and have a quorum. It must
    # not join them: it waits for them to go.
    new = make("new")
    restore_config = cloud_config(restore=key)
    old[0].stop()
    new[0].install(restore_config)
    new[0].start()
    wait_for("the new etcd0 to refuse the old members", lambda: "are not the cluster restored "
             f"from {key} (not restored): waiting" in new[0].logged(), [new[0]], timeout=30)
    assert not (new[0].volume / "data").exists()
    assert member_table(old[1])["etcd0"] == ("started", False)  # the old cluster is untouched
    # The old instances are gone; the other new ones boot on blank volumes.
    started = time.monotonic()
    for mem in old[1:]:
        mem.stop()
    for mem in new[1:]:
        mem.install(restore_config)
        assert not (mem.volume / "data").exists()
        mem.start()
    # etcd1 and etcd2 restore and form the cluster; its reconciler (a 30 s timer, run here
    # each second) marks it as the restored one, and the waiting etcd0 then joins it.
    reconciled = []

    def formed() -> bool:
        reconciled.append(new[1].reconcile().stdout)
        return member_table(new[1]) == {n: ("started", False) for n in names}

    wait_for("three restored voting members", formed, new, timeout=60)
    restored_in = time.monotonic() - started
    for mem in new[1:]:
        log = mem.logged()
        assert f"kopsgen-etcd: restored {key} as {mem.name}" in log, log[-2000:]
    assert sum(f"marked the cluster as restored from {key}" in r for r in reconciled) == 1
    assert "the cluster is being created and lists etcd0: joining it" in new[0].logged()
    for k, v in KEYS.items():
        got = new[1].ctl("get", k, "--print-value-only")
        assert got.stdout.strip() == v, (k, got.stderr)
    assert new[2].ctl("get", "/registry/test/after", "--print-value-only").stdout.strip() == ""
    health = new[0].ctl("endpoint", "health", "--cluster")
    said = health.stdout + health.stderr  # etcdctl 3.4 reports health on stderr
    assert health.returncode == 0 and said.count(" is healthy") == 3, said
    new_ids = new[0].member_ids()
    assert set(new_ids) == names
    # A new cluster (a token of its own): no member ID of the old one.
    assert not set(new_ids.values()) & set(old_ids.values()), (old_ids, new_ids)
    print(f"restored and formed in {restored_in:.1f}s")


def test_restore_refuses_a_snapshot_whose_sha256_is_not_its_keys(lab) -> None:
    """A snapshot that does not match the SHA-256 its key names (corrupt, or another one
    put under its name) is never restored: the member exits and says why."""
    lab_, tmp, recorder_dir, endpoint, members = lab
    pki = PkiParams(cluster_name="membership", external_dns_name="k8s.test.example",
                    service_cidr="10.3.0.0/24", etcd_names=tuple(NAMES[:3]))
    creds = render_credentials(pki, {}, datetime.now(UTC)).files
    members_file = tmp / "members"
    members_file.write_text("etcd0\netcd1\netcd2\n")
    key = f"backups/etcd/20261201T100000Z-etcd0-{'0' * 64}.db"
    stored = recorder_dir / "objects" / BUCKET / PREFIX / key
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"not the snapshot the key names")
    (tmp / "m").mkdir()
    mem = BackupMember(0, lab_, tmp / "m", creds, members_file, recorder=recorder_dir,
                       settings=tmp / "none", endpoint=endpoint)
    members.append(mem)
    mem.install(cloud_config(restore=key))
    mem.start()
    wait_for("the refusal", lambda: "refusing to restore it" in mem.logged(), [mem], timeout=30)
    assert not (mem.volume / "data").exists()
    assert not (mem.volume / "restore.db").exists()
