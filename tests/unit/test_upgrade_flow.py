"""The upgrade flow without the CLI framework: plan in memory, write only when asked."""

from __future__ import annotations

import shutil
from pathlib import Path

from kopsgen.flows import upgrade
from kopsgen.spec import load_spec

SEED = Path(__file__).parents[2] / "examples" / "kubeops" / "cluster.yaml"


def test_plan_writes_nothing_and_write_applies_exactly_the_planned_bytes(tmp_path):
    shutil.copy(SEED, tmp_path / "cluster.yaml")
    step = upgrade.plan_upgrade(tmp_path, "v1.35.0")
    assert step.step == 1 and step.old == SEED.read_bytes()
    assert (tmp_path / "cluster.yaml").read_bytes() == step.old
    assert [line for line in step.diff.splitlines() if line[:1] in "+-"
            and not line.startswith(("+++", "---"))] == [
        f"+    kubernetesVersion: v1.34.2  {upgrade.MARKER}",
        "-kubernetesVersion: v1.34.2", "+kubernetesVersion: v1.35.0"]
    upgrade.write_upgrade(step)
    assert (tmp_path / "cluster.yaml").read_bytes() == step.new
    spec = load_spec(tmp_path / "cluster.yaml").spec
    assert spec.kubernetes_version == "v1.35.0"
    assert spec.pool("nodepool1").kubernetes_version == "v1.34.2"
    two = upgrade.plan_upgrade(tmp_path, "v1.35.0")  # no workspace: no render to wait for
    assert two.step == 2 and two.replaces.startswith("step 2 of 2: the nodes of pool nodepool1")
    upgrade.write_upgrade(two)
    assert (tmp_path / "cluster.yaml").read_text() == SEED.read_text().replace(
        "\nkubernetesVersion: v1.34.2\n", "\nkubernetesVersion: v1.35.0\n")
    assert upgrade.plan_upgrade(tmp_path, "v1.35.0").step == 0
