"""A node pool's own kubernetesVersion: the skew rules and the worker cloud-config it boots."""

from __future__ import annotations

from pathlib import Path

import yaml

from kopsgen.errors import SpecError
from kopsgen.render.stack import render_stack
from kopsgen.render.workspace_files import render_userdata
from kopsgen.spec import load_spec_text, rules

SEED = Path(__file__).parents[2] / "examples" / "kubeops" / "cluster.yaml"


def _text(cluster: str, pool: str | None) -> str:
    text = SEED.read_text().replace("kubernetesVersion: v1.34.2", f"kubernetesVersion: {cluster}")
    if pool is not None:
        text = text.replace("    count: 4\n", f"    count: 4\n    kubernetesVersion: {pool}\n")
    return text


def _install_version(cloud_config: bytes) -> str:
    """The version the rendered kopsgen-install-kubernetes.service installs."""
    units = yaml.safe_load(cloud_config)["coreos"]["units"]
    unit = next(u for u in units if u["name"] == "kopsgen-install-kubernetes.service")
    exec_start = next(line for line in unit["content"].splitlines()
                      if line.startswith("ExecStart="))
    return exec_start.split("kopsgen-install-kubernetes ")[1].split()[0]


def test_pool_newer_than_control_plane_is_refused_at_its_line():
    text = _text("v1.35.0", "v1.36.0")
    try:
        load_spec_text(text)
    except SpecError as err:
        first = str(err.problems[0])
    else:
        raise AssertionError("a pool newer than the control plane validated")
    line = text.splitlines().index("    kubernetesVersion: v1.36.0") + 1
    cluster_line = text.splitlines().index("kubernetesVersion: v1.35.0") + 1
    assert first.startswith(f"cluster.yaml:{line}:5: worker.nodePools[0].kubernetesVersion: ")
    assert "must not be newer than kube-apiserver" in first
    assert f"cluster.yaml:{cluster_line}" in first


def test_pool_of_unsupported_minor_is_refused():
    try:
        load_spec_text(_text("v1.35.0", "v1.30.1"))
    except SpecError as err:
        assert "worker.nodePools[0].kubernetesVersion: v1.30.1 is end-of-life" in str(err)
    else:
        raise AssertionError("an unsupported pool minor validated")


def test_skew_rule_bounds():
    assert rules.kubelet_skew((1, 33), (1, 36)) is None
    assert "at most 3 minors older" in rules.kubelet_skew((1, 32), (1, 36))
    assert "must not be newer" in rules.kubelet_skew((1, 36), (1, 35))


def test_older_pool_boots_its_own_worker_cloud_config():
    spec = load_spec_text(_text("v1.35.0", "v1.34.2")).spec
    assert spec.pool("nodepool1").kubernetes_version == "v1.34.2"
    files = render_userdata(spec)
    assert _install_version(files["userdata/cloud-config-worker-v1.34.2"].content) == "v1.34.2"
    assert _install_version(files["userdata/cloud-config-worker"].content) == "v1.35.0"
    assert _install_version(files["userdata/cloud-config-controller"].content) == "v1.35.0"
    main = render_stack(spec)["terraform/main.tf"].content.decode()
    assert '"${path.root}/../userdata/cloud-config-worker-v1.34.2"' in main


def test_pool_without_own_version_follows_the_cluster():
    spec = load_spec_text(_text("v1.35.0", None)).spec
    assert spec.pool("nodepool1").kubernetes_version == "v1.35.0"
    assert sorted(p for p in render_userdata(spec) if "worker" in p) == [
        "userdata/cloud-config-worker"]


def test_control_plane_step_one_minor_up_any_patch_no_minor_down():
    assert rules.control_plane_step("v1.34.2", "v1.35.0") is None
    assert rules.control_plane_step("v1.34.2", "v1.34.9") is None
    assert rules.control_plane_step("v1.34.2", "v1.34.0") is None
    up = rules.control_plane_step("v1.33.4", "v1.35.2")
    assert up.startswith("v1.35.2 is more than one minor above v1.33.4;")
    assert "go to 1.34 first (e.g. v1.34.0)" in up
    down = rules.control_plane_step("v1.35.0", "v1.34.2", said="v1.35.0 (last)")
    assert down.startswith("v1.34.2 is of an older minor than v1.35.0 (last);")
    assert rules.version_of("v1.34.12") == (1, 34, 12)
