"""The CLI as users run it: exit codes, one-line errors, nothing written on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from kopsgen.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"
INIT = ("init", "--cluster-name", "k8s", "--external-dns-name", "k8s.kubeops.net",
        "--region", "us-east-1")


def test_version(cli):
    r = cli("version")
    assert r.code == ExitCode.OK and r.out.startswith("kopsgen ")
    assert json.loads(cli("version", "-o", "json").out)["version"]


def test_init_writes_a_commented_file_that_validates(cli, tmp_path):
    r = cli(*INIT)
    assert r.code == ExitCode.OK, r.err
    assert "Created cluster.yaml" in r.out and "kopsgen render" in r.out
    text = (tmp_path / "cluster.yaml").read_text()
    assert text.count("\n#") > 60  # every key explained
    data = yaml.safe_load(text)
    assert data["clusterName"] == "k8s"
    assert {s["availabilityZone"] for s in data["subnets"]} == {"us-east-1a", "us-east-1b"}
    assert "availabilityZone" not in data
    v = cli("validate")
    assert v.code == ExitCode.OK, v.err
    assert "valid" in v.out


def test_init_single_az_and_optional_flags(cli, tmp_path):
    r = cli(*INIT, "--availability-zone", "us-east-1c", "--key-name", "admin",
            "--hosted-zone-id", "Z0123ABC", "--s3-uri", "s3://bucket/clusters",
            "--kms-key-arn",
            "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012")
    assert r.code == ExitCode.OK, r.err
    data = yaml.safe_load((tmp_path / "cluster.yaml").read_text())
    assert data["availabilityZone"] == "us-east-1c" and "subnets" not in data
    assert data["createRecordSet"] is True and data["hostedZoneId"] == "Z0123ABC"
    assert data["keyName"] == "admin" and data["s3URI"] == "s3://bucket/clusters"
    assert cli("validate").code == ExitCode.OK


def test_init_missing_flags_named_together(cli, tmp_path):
    r = cli("init", "--region", "us-east-1")
    assert r.code == ExitCode.USAGE
    assert "--cluster-name" in r.err and "--external-dns-name" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "cluster.yaml").exists()


def test_init_refuses_to_overwrite(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_text("mine: true\n")
    r = cli(*INIT)
    assert r.code == ExitCode.WORKSPACE
    assert "already exists" in r.err and "--force" in r.err
    assert (tmp_path / "cluster.yaml").read_text() == "mine: true\n"
    assert cli(*INIT, "--force").code == ExitCode.OK
    assert "clusterName: k8s" in (tmp_path / "cluster.yaml").read_text()


def test_init_bad_flag_values_write_nothing(cli, tmp_path):
    r = cli("init", "--cluster-name", "9", "--external-dns-name", "k8s", "--region", "mars")
    assert r.code == ExitCode.INVALID_SPEC
    # The flags the user typed, not the YAML keys they become.
    assert "--cluster-name:" in r.err and "--external-dns-name:" in r.err and "--region:" in r.err
    assert "Traceback" not in r.err
    assert list(tmp_path.iterdir()) == []


def test_validate_seed_example(cli):
    r = cli("-C", str(SEED.parent), "validate")
    assert r.code == ExitCode.OK, r.err
    assert "cluster k8s (k8s.kubeops.net) in us-east-1" in r.out
    assert "warning:" in r.err  # m3.medium is previous generation


def test_validate_dir_option_after_command(cli):
    assert cli("validate", "-C", str(SEED.parent)).code == ExitCode.OK


def test_validate_reports_every_problem_and_exit_3(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_text(
        "clusterName: k8s\nexternalDNSName: bad_name\nregion: us-east-1\netcdCount: 0\n"
        "workerCount: 2\n")
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC
    lines = [line for line in r.err.splitlines() if line.startswith("cluster.yaml:")]
    assert [line.split(":")[3].strip() for line in lines] == [
        "externalDNSName", "etcdCount", "workerCount"]
    assert "3 errors" in r.err
    assert "Traceback" not in r.err


def test_validate_json(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_text("clusterName: k8s\n")
    r = cli("validate", "-o", "json")
    assert r.code == ExitCode.INVALID_SPEC
    doc = json.loads(r.out)
    assert doc["valid"] is False
    assert {e["field"] for e in doc["errors"]} == {"externalDNSName", "region"}
    ok = cli("-C", str(SEED.parent), "validate", "-o", "json")
    assert ok.code == 0 and json.loads(ok.out)["valid"] is True


def test_validate_missing_file(cli):
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC
    assert "cluster.yaml not found" in r.err and "kopsgen init" in r.err


def test_validate_binary_file(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_bytes(b"\xff\xfe\x00garbage")
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC and "UTF-8" in r.err


def test_validate_seed_verbatim_kube_aws_file(cli, tmp_path):
    text = SEED.read_text().replace("kubernetesVersion: v1.34.2",
                                    "kubernetesVersion: v1.5.3_coreos.0")
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC
    errors = [line for line in r.err.splitlines() if line.startswith("cluster.yaml:")
              and "warning:" not in line]
    assert len(errors) == 1 and "end-of-life" in errors[0]


def test_schema_is_json_schema_of_every_key(cli):
    r = cli("schema")
    assert r.code == ExitCode.OK
    doc = json.loads(r.out)
    props = doc["properties"]
    for key in ("clusterName", "externalDNSName", "worker", "subnets", "s3URI",
                "etcdDataVolumeEncrypted", "apiAccessAllowedSourceCIDRs"):
        assert key in props
    assert doc["additionalProperties"] is False


def test_usage_errors_exit_2_one_line(cli):
    r = cli("validate", "--no-such-flag")
    assert r.code == ExitCode.USAGE
    assert len(r.err.strip().splitlines()) == 1 and "--no-such-flag" in r.err
    assert cli("no-such-command").code == ExitCode.USAGE


def test_internal_errors_are_one_line_unless_debug(cli, monkeypatch):
    import kopsgen.cli as cli_mod

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli_mod, "load_spec", boom)  # a bug where validate loads the spec
    r = cli("validate")
    assert r.code == ExitCode.INTERNAL
    assert "internal error: RuntimeError: kaboom" in r.err and "Traceback" not in r.err
    r = cli("--debug", "validate")
    assert r.code == ExitCode.INTERNAL and "Traceback" in r.err


def test_python_dash_m_works(tmp_path):
    import subprocess
    import sys

    shutil.copy(SEED, tmp_path / "cluster.yaml")
    p = subprocess.run([sys.executable, "-m", "kopsgen", "validate"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "valid" in p.stdout
