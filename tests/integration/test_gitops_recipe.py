"""The GitOps recipe's pull-request job, run here in the same order on an example: every
`run:` step of examples/gitops/kopsgen.yml (installs aside) must pass on a committed
workspace that has no credentials."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import helpers
import pytest
import yaml

WORKFLOW = helpers.REPO / "examples" / "gitops" / "kopsgen.yml"


def review_steps() -> list[tuple[str, str]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["review"]["steps"]
    return [(s["id"], s["run"]) for s in steps if "run" in s and "id" in s]


def test_workflow_runs_the_documented_checks_in_order():
    ids = [i for i, _ in review_steps()]
    assert ids == ["render-check", "fmt", "validate", "checkov", "plan"]
    doc = yaml.safe_load(WORKFLOW.read_text())
    text = WORKFLOW.read_text()
    assert "credentials push" not in "".join(r for _, r in review_steps())
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws-access-key-id" not in text
    assert doc["jobs"]["apply"]["permissions"]["id-token"] == "write"  # OIDC, no stored keys


@pytest.mark.slow
def test_review_job_passes_on_a_committed_example(tmp_path):
    helpers.require_tool("terraform")
    helpers.require_module("moto.server")
    repo = tmp_path / "repo"
    cluster = repo / "clusters" / "prod"
    helpers.render_example("ha-private", cluster)
    # What git holds: no credentials, no kubeconfig (the generated .gitignore keeps them out).
    shutil.rmtree(cluster / "credentials")
    (cluster / "kubeconfig").unlink()

    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "checkov").write_text(
        f'#!/bin/sh\n# the workflow installs checkov; here it lives in its own venv\n'
        f'dir=$2\nexec "{helpers.REPO / "scripts" / "checkov"}" "$dir"\n')
    (shims / "checkov").chmod(0o755)
    env = helpers.terraform_env(tmp_path)
    env["PATH"] = os.pathsep.join([str(shims), str(Path(sys.executable).parent), env["PATH"]])
    env["CLUSTER_DIR"] = "clusters/prod"
    for step, script in review_steps():
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"step {step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    plan = yaml.safe_load((repo / "plan.json").read_text())
    assert plan["add"] > 50 and plan["destroy"] == 0
    assert not (cluster / "credentials").exists()  # nothing in the job needed or made them
    assert not list((cluster / "terraform").glob("*override*"))
