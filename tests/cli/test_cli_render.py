"""`kopsgen render`, `render --check` and `certs` as users run them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kopsgen.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"


def seed_dir(tmp_path: Path) -> Path:
    shutil.copy(SEED, tmp_path / "cluster.yaml")
    return tmp_path


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".kopsgen" not in p.parts and ".terraform" not in p.parts:
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def test_render_credentials_writes_kube_aws_layout(cli, tmp_path):
    seed_dir(tmp_path)
    r = cli("render")
    assert r.code == ExitCode.OK, r.err
    names = {p.name for p in (tmp_path / "credentials").iterdir()}
    for seed_name in ("ca.pem", "ca-key.pem", "apiserver.pem", "apiserver-key.pem", "admin.pem",
                      "admin-key.pem", "etcd.pem", "etcd-key.pem", "etcd-client.pem",
                      "etcd-client-key.pem", "worker.pem", "worker-key.pem", ".gitignore"):
        assert seed_name in names
    for role in ("controller", "etcd", "worker"):
        assert (tmp_path / "userdata" / f"cloud-config-{role}").read_text().startswith(
            "#cloud-config")
    assert (tmp_path / "kubeconfig").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "credentials").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "credentials" / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert "created   credentials/ca-key.pem" in r.out
    assert "0 updated" in r.out
    assert "ca.pem created" in r.err  # the notice


def test_rerender_is_byte_identical_and_touches_nothing(cli, tmp_path):
    seed_dir(tmp_path)
    assert cli("render").code == 0
    before = snapshot(tmp_path)
    r = cli("render")
    assert r.code == 0 and "0 created, 0 updated" in r.out
    assert snapshot(tmp_path) == before  # same bytes, same mtimes


def test_check_reports_drift_with_exit_1_and_never_prints_keys(cli, tmp_path):
    seed_dir(tmp_path)
    assert cli("render").code == 0
    r = cli("render", "--check")
    assert r.code == ExitCode.OK and "up to date" in r.out
    text = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(text.replace("k8s.kubeops.net", "k8s.example.net"))
    before = snapshot(tmp_path)
    r = cli("render", "--check")
    assert r.code == ExitCode.DRIFT
    assert "credentials/apiserver.pem: differs" in r.out
    assert "+              - --service-account-issuer=https://k8s.example.net" in r.out
    assert "BEGIN" not in r.out  # no certificate or key text
    assert "workspace is stale" in r.err
    assert snapshot(tmp_path) == before  # --check wrote nothing
    doc = json.loads(cli("render", "--check", "-o", "json").out)
    assert doc["up_to_date"] is False
    assert {"path": "credentials/apiserver.pem", "status": "updated"} in doc["changes"]


def test_changing_external_dns_name_reissues_exactly_apiserver_pem(cli, tmp_path):
    seed_dir(tmp_path)
    assert cli("render").code == 0
    before = snapshot(tmp_path / "credentials")
    text = (tmp_path / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(text.replace("k8s.kubeops.net", "k8s.example.net"))
    r = cli("render")
    assert r.code == 0
    assert "apiserver.pem re-issued" in r.err and "k8s.example.net" in r.err
    after = snapshot(tmp_path / "credentials")
    changed = sorted(k for k in before if before[k][0] != after[k][0])
    assert changed == ["apiserver.pem"]


def test_bad_spec_writes_nothing(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_text("clusterName: k8s\nregion: nowhere\n")
    r = cli("render")
    assert r.code == ExitCode.INVALID_SPEC
    assert sorted(os.listdir(tmp_path)) == ["cluster.yaml"]


def test_user_files_are_never_touched(cli, tmp_path):
    seed_dir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "userdata").mkdir()
    (tmp_path / "userdata" / "cloud-config-worker").write_text("my own file")
    r = cli("render")
    assert r.code == ExitCode.WORKSPACE
    assert "refusing to overwrite" in r.err and "cloud-config-worker" in r.err
    assert (tmp_path / "userdata" / "cloud-config-worker").read_text() == "my own file"
    assert not (tmp_path / "credentials").exists()


def test_missing_ca_key_is_an_error_not_a_new_ca(cli, tmp_path):
    seed_dir(tmp_path)
    assert cli("render").code == 0
    ca = (tmp_path / "credentials" / "ca.pem").read_bytes()
    (tmp_path / "credentials" / "ca-key.pem").unlink()
    r = cli("render")
    assert r.code == ExitCode.WORKSPACE
    assert "ca-key.pem" in r.err and "Traceback" not in r.err
    assert (tmp_path / "credentials" / "ca.pem").read_bytes() == ca


def test_certs_lists_every_certificate(cli, tmp_path):
    seed_dir(tmp_path)
    assert cli("render").code == 0
    r = cli("certs")
    assert r.code == 0
    assert "apiserver.pem" in r.out and "k8s.kubeops.net" in r.out and "days left" in r.out
    doc = json.loads(cli("certs", "-o", "json").out)
    api = next(c for c in doc if c["file"] == "apiserver.pem")
    assert "10.3.0.1" in api["sans"] and api["days_left"] > 3000


def test_certs_without_credentials(cli, tmp_path):
    r = cli("certs")
    assert r.code == ExitCode.WORKSPACE and "kopsgen render" in r.err


def test_stack_check_needs_no_credentials(cli, tmp_path):
    """A pipeline has the committed workspace but never credentials/ or the kubeconfig."""
    seed_dir(tmp_path)
    assert cli("render").code == 0
    shutil.rmtree(tmp_path / "credentials")
    (tmp_path / "kubeconfig").unlink()
    r = cli("render", "stack", "--check")
    assert r.code == ExitCode.OK, r.out + r.err
    (tmp_path / "userdata" / "cloud-config-worker").write_text("#cloud-config\n")
    r = cli("render", "stack", "--check")
    assert r.code == ExitCode.DRIFT and "userdata/cloud-config-worker" in r.out
    assert not (tmp_path / "credentials").exists()  # --check created nothing


def test_render_credentials_part_only(cli, tmp_path):
    seed_dir(tmp_path)
    r = cli("render", "credentials")
    assert r.code == 0
    assert (tmp_path / "credentials" / "ca.pem").exists() and (tmp_path / "kubeconfig").exists()
    # Of terraform/, only the roles' credential digests are the credentials part's.
    assert [p.name for p in (tmp_path / "terraform").iterdir()] == ["credentials.auto.tfvars.json"]
    assert not (tmp_path / "userdata").exists()
    # ... and a stack render keeps them, without rendering or checking them.
    digests = (tmp_path / "terraform" / "credentials.auto.tfvars.json").read_bytes()
    assert cli("render", "stack").code == 0
    assert cli("render", "stack", "--check").code == 0
    assert (tmp_path / "terraform" / "credentials.auto.tfvars.json").read_bytes() == digests
    assert cli("render", "nonsense").code == ExitCode.USAGE
