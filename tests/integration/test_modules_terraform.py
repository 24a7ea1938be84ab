"""Static checks of the Terraform modules: formatting, structure, a validating seed root,
and the EC2 user data bootstrap (size, shellcheck, contents)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import helpers
import pytest
import yaml

REPO = helpers.REPO
MODULES = REPO / "modules"
MODULE_NAMES = sorted(p.name for p in MODULES.iterdir() if p.is_dir())
USER_DATA_LIMIT = 16 * 1024


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_workspace(tmp: Path) -> Path:
    """The seed cluster's workspace as kopsgen renders it; returns the terraform/ directory."""
    return helpers.render_example("kubeops", tmp / "cluster")


def _unquote(name: str) -> str:
    return name.strip('"')


def test_module_index_lists_every_module():
    index = (MODULES / "README.md").read_text()
    for name in MODULE_NAMES:
        assert f"[`{name}`]({name}/)" in index, f"modules/README.md does not list {name}"


def test_terraform_fmt_is_clean():
    terraform = helpers.require_tool("terraform")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(MODULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt would change:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_structure(module: str):
    hcl2 = helpers.require_module("hcl2")
    path = MODULES / module
    for required in ("variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (path / required).is_file(), f"{module} has no {required}"

    readme = (path / "README.md").read_text()
    variables = hcl2.loads((path / "variables.tf").read_text()).get("variable", [])
    assert variables, f"{module}/variables.tf declares no variables"
    for block in variables:
        ((name, body),) = ((k, v) for k, v in block.items() if k != "__is_block__")
        name = _unquote(name)
        assert body.get("type"), f"{module}: variable {name} has no type"
        assert len(_unquote(body.get("description", ""))) > 10, f"{module}: {name} undescribed"
        assert f"`{name}`" in readme, f"{module}/README.md does not document input {name}"

    outputs = hcl2.loads((path / "outputs.tf").read_text()).get("output", [])
    assert outputs, f"{module}/outputs.tf declares no outputs"
    for block in outputs:
        ((name, body),) = ((k, v) for k, v in block.items() if k != "__is_block__")
        name = _unquote(name)
        assert _unquote(body.get("description", "")), f"{module}: output {name} undescribed"
        assert f"`{name}`" in readme, f"{module}/README.md does not document output {name}"

    versions = (path / "versions.tf").read_text()
    assert 'required_version = ">= 1.10"' in versions
    assert 'version = "~> 5.60"' in versions  # admits the mirrored 5.100.0


@pytest.mark.slow
def test_seed_root_inits_and_validates(tmp_path: Path):
    terraform = helpers.require_tool("terraform")
    env = helpers.terraform_env(tmp_path)
    workdir = make_workspace(tmp_path)
    run([terraform, "init", "-input=false", "-backend=false"], workdir, env)
    proc = run([terraform, "validate", "-json"], workdir, env)
    result = json.loads(proc.stdout)
    assert result["valid"], proc.stdout
    assert result["warning_count"] == 0, proc.stdout


BOOTSTRAP_ROOT = """
provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
}

module "bootstrap" {
  source = "./modules/bootstrap"

  role                = "%(role)s"
  assets_bucket       = "example-assets"
  assets_prefix       = "clusters/k8s"
  cloud_config_key    = "%(key)s"
  cloud_config_sha256 = "%(sha)s"
  node_pool           = "%(pool)s"
  node_labels         = { "kopsgen.io/pool" = "%(pool)s", "disk" = "ssd" }
  node_taints         = [{ key = "dedicated", value = "ci", effect = "NoSchedule" }]
  etcd_name           = "%(etcd)s"
}

output "user_data" {
  value = module.bootstrap.user_data
}
"""


def render_bootstrap(tmp: Path, **values: str) -> str:
    values.setdefault("key", "userdata/pools/pool-a/cloud-config-worker")
    terraform = helpers.require_tool("terraform")
    env = helpers.terraform_env(tmp)
    root = tmp / "bootstrap-root"
    shutil.copytree(MODULES / "bootstrap", root / "modules" / "bootstrap")
    (root / "main.tf").write_text(BOOTSTRAP_ROOT % values)
    run([terraform, "init", "-input=false", "-backend=false"], root, env)
    run([terraform, "apply", "-input=false", "-auto-approve"], root, env)
    return run([terraform, "output", "-raw", "user_data"], root, env).stdout


@pytest.mark.slow
def test_bootstrap_user_data(tmp_path: Path):
    shellcheck = helpers.require_tool("shellcheck")
    sha = "ab" * 32
    user_data = render_bootstrap(tmp_path, role="worker", sha=sha, pool="pool-a", etcd="")

    assert user_data.startswith("#cloud-config\n")
    assert len(user_data.encode()) < USER_DATA_LIMIT
    assert sha in user_data, "the cloud-config hash must be part of the user data"
    assert "PRIVATE KEY" not in user_data

    doc = yaml.safe_load(user_data)
    files = {f["path"]: f for f in doc["write_files"]}
    env_lines = files["/etc/kopsgen/environment"]["content"].splitlines()
    environment = dict(line.split("=", 1) for line in env_lines)
    assert environment == {
        "KOPSGEN_ASSETS_BUCKET": '"example-assets"',
        "KOPSGEN_ASSETS_PREFIX": '"clusters/k8s"',
        "KOPSGEN_CLOUD_CONFIG_KEY": '"userdata/pools/pool-a/cloud-config-worker"',
        "KOPSGEN_CLOUD_CONFIG_SHA256": f'"{sha}"',
        # No credentials_sha256 given: the node installs what S3 holds (docs/credentials.md).
        "KOPSGEN_CREDENTIALS_SHA256": '"none"',
        "KOPSGEN_ETCD_NAME": '""',
        "KOPSGEN_NODE_LABELS": '"disk=ssd,kopsgen.io/pool=pool-a"',
        "KOPSGEN_NODE_POOL": '"pool-a"',
        "KOPSGEN_NODE_TAINTS": '"dedicated=ci:NoSchedule"',
        "KOPSGEN_REGION": '"eu-west-1"',
        "KOPSGEN_ROLE": '"worker"',
    }

    for name in ("kopsgen-s3-get", "kopsgen-cloud-config"):
        script = files[f"/opt/bin/{name}"]
        assert script["permissions"] == "0755"
        assert script["content"] == (MODULES / "bootstrap" / f"{name}.sh").read_text()
        extracted = tmp_path / name
        extracted.write_text(script["content"])
        proc = subprocess.run(
            [shellcheck, "--shell=sh", "--severity=style", str(extracted)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    (unit,) = doc["coreos"]["units"]
    assert unit["command"] == "start"
    assert ("ExecStart=/opt/bin/kopsgen-cloud-config /var/lib/kopsgen/cloud-config\n"
            "ExecStart=/usr/bin/coreos-cloudinit --from-file=/var/lib/kopsgen/cloud-config\n"
            ) in unit["content"]
