"""The terraform runner driving the real terraform binary: a full lifecycle on builtin
``terraform_data`` resources (no provider downloads), terraform's own plan JSON and errors,
Ctrl-C during an apply, and provider installation from the offline mirror."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import helpers
import pytest

from kopsgen.terraform import (
    Counts,
    ProgressEvent,
    Terraform,
    TerraformFailed,
    find_plugin_mirror,
    summarize_plan,
)

pytestmark = pytest.mark.slow


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def runner(workdir: Path, events: list[ProgressEvent] | None = None) -> Terraform:
    helpers.require_tool("terraform")
    return Terraform(workdir, out=events.append if events is not None else None)


LIFECYCLE = {
    "main.tf": """\
        resource "terraform_data" "x" {
          input = "a"
        }

        module "child" {
          source = "./child"
        }

        output "x" {
          value = terraform_data.x.output
        }
    """,
    "child/main.tf": """\
        resource "terraform_data" "y" {
          input = "b"
        }
    """,
}


def test_lifecycle(tmp_path: Path):
    workdir = write(tmp_path / "terraform", LIFECYCLE)
    events: list[ProgressEvent] = []
    tf = runner(workdir, events)
    plan = tmp_path / "main.tfplan"

    assert tf.state_list() == []  # no state yet is not an error
    assert tf.needs_init()
    tf.init()
    assert not tf.needs_init()
    assert tf.validate()["valid"] is True
    assert tf.fmt_check() == []

    assert tf.plan(plan) is True
    summary = summarize_plan(tf.show_json(plan))
    assert (summary.add, summary.change, summary.destroy) == (2, 0, 0)
    assert dict(summary.by_module) == {"(root)": Counts(add=1), "module.child": Counts(add=1)}
    planned = [e for e in events if e.kind == "plan"]
    assert [(e.added, e.changed, e.destroyed) for e in planned] == [(2, 0, 0)]

    events.clear()
    result = tf.apply(plan)
    assert result is not None and (result.added, result.changed, result.destroyed) == (2, 0, 0)
    assert sorted(e.address for e in events if e.kind == "created") == [
        "module.child.terraform_data.y", "terraform_data.x"]
    assert sorted(e.address for e in events if e.kind == "creating") == [
        "module.child.terraform_data.y", "terraform_data.x"]
    assert all(e.elapsed is not None for e in events if e.done)
    assert sum(e.done for e in events) == summary.steps

    assert tf.output_json()["x"]["value"] == "a"
    assert sorted(tf.state_list()) == ["module.child.terraform_data.y", "terraform_data.x"]
    assert tf.plan(plan) is False

    events.clear()
    result = tf.destroy()
    assert result is not None and result.destroyed == 2
    assert sorted(e.address for e in events if e.kind == "destroyed") == [
        "module.child.terraform_data.y", "terraform_data.x"]
    assert tf.state_list() == []


POOL = """\
    variable "name" {
      type = string
    }

    variable "generation" {
      type = number
    }

    resource "terraform_data" "node" {
      triggers_replace = var.generation
    }

    resource "terraform_data" "label" {
      input = var.name
    }
"""

ROOT_V1 = """\
    module "pool" {
      source     = "./pool"
      for_each   = toset(["one", "two"])
      name       = each.key
      generation = 1
    }

    resource "terraform_data" "keep" {
      input = "v1"
    }

    resource "terraform_data" "gone" {
      input = "bye"
    }
"""

ROOT_V2 = """\
    module "pool" {
      source     = "./pool"
      for_each   = toset(["one", "two"])
      name       = each.key
      generation = each.key == "one" ? 2 : 1
    }

    resource "terraform_data" "keep" {
      input = "v2"
    }

    resource "terraform_data" "new" {
      input = "hello"
    }
"""


def test_summary_of_a_real_plan_matches_terraforms_counts(tmp_path: Path):
    workdir = write(tmp_path / "terraform", {"main.tf": ROOT_V1, "pool/main.tf": POOL})
    events: list[ProgressEvent] = []
    tf = runner(workdir, events)
    plan = tmp_path / "p.tfplan"
    tf.init()
    tf.plan(plan)
    tf.apply(plan)

    write(workdir, {"main.tf": ROOT_V2})
    events.clear()
    assert tf.plan(plan) is True
    summary = summarize_plan(tf.show_json(plan))
    assert (summary.add, summary.change, summary.destroy, summary.replace) == (2, 1, 2, 1)
    assert dict(summary.by_module) == {
        "(root)": Counts(add=1, change=1, destroy=1),
        'module.pool["one"]': Counts(add=1, destroy=1, replace=1),
    }
    assert summary.replaced == ('module.pool["one"].terraform_data.node',)
    (line,) = [e for e in events if e.kind == "plan"]
    assert (line.added, line.changed, line.destroyed) == (summary.add, summary.change, summary.destroy)

    events.clear()
    tf.apply(plan)
    assert sum(e.done for e in events) == summary.steps == 5


def test_errors_carry_terraforms_text(tmp_path: Path):
    workdir = write(tmp_path / "terraform", {
        "main.tf": 'resource "terraform_data" "e" {\n  foo = 1\n}\n',
        "ugly.tf": 'resource   "terraform_data"    "u" {\n  input ="q"\n}\n',
    })
    tf = runner(workdir)
    tf.init()
    assert tf.fmt_check() == ["ugly.tf"]
    result = tf.validate()
    assert result["valid"] is False
    assert [d["summary"] for d in result["diagnostics"]] == ["Unsupported argument"]
    with pytest.raises(TerraformFailed) as err:
        tf.plan(tmp_path / "p.tfplan")
    lines = err.value.lines()
    assert lines[0] == "terraform plan failed (exit 1)"
    assert lines[1] == "Error: Unsupported argument"
    assert 'An argument named "foo" is not expected here.' in lines
    assert any("on main.tf line 2" in line for line in lines)


DRIVER = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from kopsgen.errors import KopsgenError
    from kopsgen.terraform import Terraform

    def report(event):
        print(json.dumps({"event": event.kind, "address": event.address}), flush=True)

    tf = Terraform(Path(sys.argv[1]), out=report)
    try:
        tf.plan(Path(sys.argv[2]))
        tf.apply(Path(sys.argv[2]))
        print(json.dumps({"raised": None}))
    except KopsgenError as err:
        print(json.dumps({"raised": type(err).__name__, "exit_code": int(err.exit_code),
                          "message": err.message}))
""")

SLOW = {
    "main.tf": """\
        resource "terraform_data" "slow" {
          input = "a"

          provisioner "local-exec" {
            command = "exec sleep 60"
          }
        }
    """,
}


def test_ctrl_c_during_apply_releases_the_state_lock(tmp_path: Path):
    workdir = write(tmp_path / "terraform", SLOW)
    tf = runner(workdir)
    tf.init()
    env = dict(os.environ, PYTHONPATH=str(helpers.REPO))
    # Its own process group stands in for the terminal's foreground group: killpg() is Ctrl-C.
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(workdir), str(tmp_path / "p.tfplan")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              process_group=0, preexec_fn=helpers.foreground_signals)
    try:
        assert driver.stdout is not None
        for line in driver.stdout:
            if json.loads(line) == {"event": "creating", "address": "terraform_data.slow"}:
                break
        else:
            pytest.fail(f"apply never started: {driver.stderr.read() if driver.stderr else ''}")
        assert (workdir / ".terraform.tfstate.lock.info").exists()
        time.sleep(0.5)  # let the provisioner start
        started = time.monotonic()
        os.killpg(driver.pid, signal.SIGINT)
        rest, stderr = driver.communicate(timeout=45)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert time.monotonic() - started < 30, "terraform did not stop the 60 s provisioner"
    assert json.loads(rest.splitlines()[-1]) == {
        "raised": "Interrupted", "exit_code": 130,
        "message": "interrupted: terraform stopped cleanly; state lock released"}, stderr
    assert not (workdir / ".terraform.tfstate.lock.info").exists()
    assert tf.state_list() == ["terraform_data.slow"]  # the lock is free: state reads work


MIRRORED_AWS = {
    "versions.tf": """\
        terraform {
          required_providers {
            aws = {
              source  = "hashicorp/aws"
              version = "5.100.0"
            }
          }
        }

        provider "aws" {}
    """,
}


def test_init_installs_the_aws_provider_from_the_mirror(tmp_path: Path):
    helpers.require_tool("terraform")
    mirror = find_plugin_mirror()
    if mirror is None or not (mirror / "registry.terraform.io/hashicorp/aws/5.100.0").is_dir():
        # Fails instead of skipping under KOPSGEN_REQUIRE_TOOLS=1, like any missing tool.
        helpers.missing("no offline provider mirror with hashicorp/aws 5.100.0 (set KOPSGEN_TF_PLUGIN_MIRROR)")
    workdir = write(tmp_path / "terraform", MIRRORED_AWS)
    base = {k: v for k, v in os.environ.items() if k != "TF_CLI_CONFIG_FILE"}
    # No user CLI config, and a dead proxy: a registry download would fail, the mirror must not.
    base.update(HOME=str(tmp_path), HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    base.pop("NO_PROXY", None)
    base.pop("no_proxy", None)
    tf = Terraform(workdir, env=base)
    assert tf.env["TF_CLI_CONFIG_FILE"] == str(workdir / ".terraform" / "kopsgen.tfrc")
    tf.init()
    lock = (workdir / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert 'version     = "5.100.0"' in lock
    assert (workdir / ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0").is_dir()
    assert not tf.needs_init()
    assert tf.validate()["valid"] is True
