"""Ordered Kubernetes upgrades: a render goes up one minor at a time from the workspace's
last render, and `kopsgen upgrade --to` writes the two steps (controllers, then pools)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from kopsgen.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"
SEED_VERSION = "v1.34.2"  # what the seed's cluster.yaml names (checked below)


def tree(root: Path) -> dict[str, str]:
    """sha256 and mode of every file under ``root``, the state directory included."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            + f" {p.stat().st_mode:o} {p.stat().st_mtime_ns}"
            for p in sorted(root.rglob("*")) if p.is_file()}


def set_version(root: Path, version: str) -> None:
    path = root / "cluster.yaml"
    text = path.read_text()
    line = next(x for x in text.splitlines() if x.startswith("kubernetesVersion: "))
    path.write_text(text.replace(line, f"kubernetesVersion: {version}"))


def seed(tmp_path: Path) -> Path:
    shutil.copy(SEED, tmp_path / "cluster.yaml")
    assert f"\nkubernetesVersion: {SEED_VERSION}\n" in SEED.read_text()
    return tmp_path


def version_line(root: Path) -> int:
    lines = (root / "cluster.yaml").read_text().splitlines()
    return next(i for i, x in enumerate(lines, 1) if x.startswith("kubernetesVersion: "))


def controller(root: Path) -> bytes:
    return (root / "userdata" / "cloud-config-controller").read_bytes()


# -- a render moves the control plane one minor at a time ---------------------------------

def test_render_refuses_two_minors_up_and_writes_nothing(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    set_version(tmp_path, "v1.36.0")
    before = tree(tmp_path)
    r = cli("render")
    assert r.code == ExitCode.INVALID_SPEC
    assert "Traceback" not in r.err
    last = r.err.strip().splitlines()[-1]
    assert last == (
        f"cluster.yaml:{version_line(tmp_path)}:1: kubernetesVersion: v1.36.0 is more than "
        f"one minor above {SEED_VERSION}, the last render's (userdata/cloud-config-controller);"
        " the control plane goes up one minor at a time: go to 1.35 first (e.g. v1.35.0), "
        "apply it (kopsgen update), then go to v1.36.0")
    assert tree(tmp_path) == before
    # plan (and up, update: every flow renders first, in its Session) refuses the same way,
    # before terraform or AWS is touched.
    r = cli("plan")
    assert r.code == ExitCode.INVALID_SPEC and r.err.strip().splitlines()[-1] == last
    assert tree(tmp_path) == before


def test_render_one_minor_up_is_fine_and_then_the_next(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    old = controller(tmp_path)
    set_version(tmp_path, "v1.35.0")
    r = cli("render")
    assert r.code == ExitCode.OK, r.err
    assert "updated   userdata/cloud-config-controller" in r.out
    assert b"/kube-apiserver:v1.35.0" in controller(tmp_path) and controller(tmp_path) != old
    # the next minor is measured from this render, not from the first
    set_version(tmp_path, "v1.36.1")
    assert cli("render").code == ExitCode.OK


def test_render_refuses_a_minor_downgrade_but_not_a_patch_one(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    set_version(tmp_path, "v1.33.4")
    before = tree(tmp_path)
    r = cli("render")
    assert r.code == ExitCode.INVALID_SPEC
    assert r.err.strip().splitlines()[-1].startswith(
        f"cluster.yaml:{version_line(tmp_path)}:1: kubernetesVersion: v1.33.4 is of an older "
        f"minor than {SEED_VERSION}, the last render's")
    assert "does not support downgrading the control plane a minor" in r.err
    assert tree(tmp_path) == before
    set_version(tmp_path, "v1.34.1")
    assert cli("render").code == ExitCode.OK
    assert b"/kube-apiserver:v1.34.1" in controller(tmp_path)


def test_a_new_workspace_renders_any_supported_version(cli, tmp_path):
    seed(tmp_path)
    set_version(tmp_path, "v1.36.0")
    assert cli("render").code == ExitCode.OK
    assert b"/kube-apiserver:v1.36.0" in controller(tmp_path)
