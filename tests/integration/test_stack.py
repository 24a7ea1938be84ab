"""`kopsgen render stack`: the Terraform workspace of every example formats, initialises and
validates with the real terraform; one node pool's change touches only that pool's lines."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
from pathlib import Path

import helpers
import pytest
import yaml

from kopsgen import core
from kopsgen.render.stack import render_stack
from kopsgen.spec import load_spec_text

EXAMPLES = sorted(p.name for p in (helpers.REPO / "examples").iterdir()
                  if (p / "cluster.yaml").exists())


def tf(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    terraform = helpers.require_tool("terraform")
    proc = subprocess.run([terraform, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"terraform {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfenv")
    env = helpers.terraform_env(tmp)
    env["TF_PLUGIN_CACHE_DIR"] = str(tmp / "cache")
    (tmp / "cache").mkdir()
    return env


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_formats_inits_and_validates(example, tmp_path, tf_env):
    workdir = helpers.render_example(example, tmp_path / example)
    tf(["fmt", "-check", "-recursive", "-diff"], workdir, tf_env)
    # -backend=false: an example with s3URI must validate without reaching its bucket.
    tf(["init", "-backend=false", "-input=false"], workdir, tf_env)
    tf(["validate", "-no-color"], workdir, tf_env)


def test_root_module_reads_like_cluster_yaml(tmp_path):
    workdir = helpers.render_example("spot-pools", tmp_path / "c")
    main = (workdir / "main.tf").read_text()
    for pool in ("system", "batch-spot", "web", "heavy"):
        assert f'module "pool_{pool}" {{' in main
    assert 'spot_price             = "0.20"' in main
    assert 'root_volume            = { size = 200, type = "io2", iops = 8000 }' in main
    assert '{ key = "example.org/heavy", value = "", effect = "NoExecute" }' in main
    # an explicit kmsKeyArn is used as is: no key is created
    assert 'module "cluster_key"' not in main
    assert '"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"' in main
    versions = (workdir / "versions.tf").read_text()
    assert 'required_version = ">= 1.10"' in versions and "backend" not in versions
    assert (workdir / "modules" / "nodepool" / "workers.tf").exists()


def test_s3_uri_selects_the_s3_backend(tmp_path):
    workdir = helpers.render_example("ha-private", tmp_path / "c")
    versions = (workdir / "versions.tf").read_text()
    assert 'backend "s3" {' in versions
    assert 'bucket       = "example-kopsgen-state"' in versions
    assert 'key          = "clusters/prod/terraform.tfstate"' in versions
    assert "use_lockfile = true" in versions and "encrypt      = true" in versions
    main = (workdir / "main.tf").read_text()
    assert 'module "assets_bucket"' not in main
    assert re.search(r'\n  assets_prefix += "clusters/prod"\n', main)


def _render_main(text: str) -> dict[str, str]:
    spec = load_spec_text(text).spec
    files = render_stack(spec)
    return {p: f.content.decode() for p, f in files.items() if "/modules/" not in p}


def _changed_lines(a: dict[str, str], b: dict[str, str]) -> list[str]:
    out = []
    for path in sorted(set(a) | set(b)):
        for line in difflib.unified_diff(a.get(path, "").splitlines(), b.get(path, "").splitlines(),
                                         lineterm="", n=0):
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                out.append(line)
    return out


def _pool_lines_only(lines: list[str], rendered: dict[str, str], pool: str,
                     cluster: str = "batch") -> None:
    """The changed lines are exactly the pool's module block (with its comment), its
    output entry and its group's name in the two lists of the cluster's groups (the
    termination rule's and the handler's policy's, one name a line)."""
    main = rendered["terraform/main.tf"].splitlines()
    start = main.index(f'module "pool_{pool}" {{')
    while start > 0 and main[start - 1].startswith("#"):
        start -= 1
    end = main.index("}", start)
    expected = [ln for ln in main[start:end + 1] if ln.strip()]
    expected += [ln for ln in rendered["terraform/outputs.tf"].splitlines()
                 if f"module.pool_{pool}." in ln]
    expected += [f'    "{cluster}-{pool}",'] * 2
    assert sorted(ln[1:] for ln in lines if ln[1:].strip()) == sorted(expected)


def test_one_pool_changes_only_its_own_lines():
    text = (helpers.REPO / "examples" / "spot-pools" / "cluster.yaml").read_text()
    base = _render_main(text)
    doc = yaml.safe_load(text)

    changed = yaml.safe_load(text)
    # web is autoscaled: cluster-autoscaler's bounds are the group's bounds
    changed["worker"]["nodePools"][2]["clusterAutoscaler"]["maxSize"] = 40
    lines = _changed_lines(base, _render_main(yaml.safe_dump(changed)))
    assert lines == ["-  max_size               = 30", "+  max_size               = 40"], lines

    added = yaml.safe_load(text)
    added["worker"]["nodePools"].insert(1, {"name": "extra", "count": 1})
    with_extra = _render_main(yaml.safe_dump(added))
    lines = _changed_lines(base, with_extra)
    assert lines and all(ln.startswith("+") for ln in lines), lines
    _pool_lines_only(lines, with_extra, "extra")

    removed = yaml.safe_load(text)
    del removed["worker"]["nodePools"][1]  # batch-spot
    lines = _changed_lines(base, _render_main(yaml.safe_dump(removed)))
    assert lines and all(ln.startswith("-") for ln in lines), lines
    _pool_lines_only(lines, base, "batch-spot")
    assert doc  # the original document was not modified in place


@pytest.mark.slow
def test_hundred_pools_render_and_validate(tmp_path, tf_env):
    text = (helpers.REPO / "examples" / "kubeops" / "cluster.yaml").read_text()
    doc = yaml.safe_load(text)
    doc["worker"]["nodePools"] = [{"name": f"pool{i:03d}", "count": 1} for i in range(100)]
    doc["podCIDR"] = "10.128.0.0/12"
    d = tmp_path / "c"
    d.mkdir()
    (d / "cluster.yaml").write_text(yaml.safe_dump(doc))
    core.write(d, core.render(d))
    main = (d / "terraform" / "main.tf").read_text()
    assert main.count('source = "./modules/nodepool"') == 100
    tf(["init", "-backend=false", "-input=false"], d / "terraform", tf_env)
    tf(["validate", "-no-color"], d / "terraform", tf_env)


def test_render_stack_part_only_writes_terraform(tmp_path):
    shutil.copy(helpers.REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    core.write(tmp_path, core.render(tmp_path, "stack"))
    assert (tmp_path / "terraform" / "main.tf").exists()
    assert not (tmp_path / "credentials").exists()
    # a later credentials-only render leaves terraform/ alone
    core.write(tmp_path, core.render(tmp_path, "credentials"))
    assert (tmp_path / "terraform" / "main.tf").exists() and (tmp_path / "credentials").exists()
