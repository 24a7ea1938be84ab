"""What `git add -A` stages in a cluster directory after kopsgen has been at work: the
reviewable workspace, and nothing that holds a secret or is local (issue 11, item 11).

The files are made by kopsgen's own code -- a render, the sandbox's emulator and scratch
copy, a killed render's temp files -- and the generated .gitignore is judged by real git.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import helpers

from kopsgen import workspace
from kopsgen.errors import ExitCode
from kopsgen.flows.session import PLAN_FILE
from kopsgen.sandbox import SANDBOX_DIR, Sandbox
from kopsgen.spec import load_spec

REPO = helpers.REPO


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=root,
                          capture_output=True, text=True, check=True)
    return done.stdout


def leave_sandbox_files(root: Path) -> list[Path]:
    """Run the sandbox's real start, prepare and stop, and add what terraform leaves in
    its scratch copy (state, plan, providers); returns every file under the sandbox dir."""
    helpers.require_module("moto.server")
    sandbox = Sandbox(root)
    sandbox.start()
    try:
        workdir = sandbox.prepare(load_spec(root / "cluster.yaml").spec)
    finally:
        sandbox.stop()
    for name in (PLAN_FILE, "terraform.tfstate", "terraform.tfstate.backup",
                 ".terraform/terraform.tfstate", ".terraform.lock.hcl"):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text("sandbox\n")
    files = [p for p in (root / SANDBOX_DIR).rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"moto.log", "seeded.json", "sandbox_override.tf", PLAN_FILE} <= names, names
    return files


def leave_terraform_files(root: Path) -> list[Path]:
    """What `kopsgen plan` / `up` and terraform leave in the workspace's terraform/."""
    tf = root / "terraform"
    out = []
    for name in (PLAN_FILE, "terraform.tfstate", "terraform.tfstate.backup",
                 ".terraform.tfstate.lock.info", ".terraform/terraform.tfstate",
                 ".terraform/providers/registry.terraform.io/hashicorp/aws/x", "crash.log",
                 "override.tf", "sandbox_override.tf"):
        (tf / name).parent.mkdir(parents=True, exist_ok=True)
        (tf / name).write_text("local\n")
        out.append(tf / name)
    return out


def leave_killed_render_temps(root: Path) -> list[Path]:
    """The temp files a render killed between writing and renaming leaves."""
    return [workspace._write_temp(root / rel, (root / rel).read_bytes(), 0o600)
            for rel in ("kubeconfig", "credentials/ca-key.pem", "terraform/main.tf")]


def test_git_add_stages_the_workspace_and_nothing_secret_or_local(cli, tmp_path):
    helpers.require_tool("git")
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    r = cli("render")
    assert r.code == ExitCode.OK, r.err
    local = leave_sandbox_files(tmp_path) + leave_terraform_files(tmp_path) + \
        leave_killed_render_temps(tmp_path) + [tmp_path / workspace.LOCK]
    assert all(p.is_file() for p in local)

    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    staged = set(git(tmp_path, "ls-files", "--cached").split())

    wrongly = sorted(rel for p in local if (rel := str(p.relative_to(tmp_path))) in staged)
    assert not wrongly, f"git add -A staged local or secret files: {wrongly}"
    secret = sorted(p for p in staged if p == "kubeconfig" or
                    (p.startswith("credentials/") and p != "credentials/.gitignore"))
    assert not secret, f"git add -A staged credentials: {secret}"
    # The reviewable part is staged (the test would pass vacuously if git ignored all).
    for path in ("cluster.yaml", ".gitignore", "credentials/.gitignore", workspace.MANIFEST,
                 "terraform/main.tf", "userdata/cloud-config-controller"):
        assert path in staged, f"{path} is not staged"
    assert any(p.startswith("terraform/modules/") for p in staged)

