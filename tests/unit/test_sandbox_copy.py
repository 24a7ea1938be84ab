"""The sandbox's scratch copy of the modules: what it changes to bridge the emulator, run
through the real terraform (it must still validate), and that it changes nothing else."""

from __future__ import annotations

import shutil
import subprocess

import helpers

from kopsgen.sandbox import EMULATOR_DRIFT, ignore_drift

RULE = '''resource "aws_vpc_security_group_ingress_rule" "x" {
  for_each = var.groups

  security_group_id = "sg-1"
  description       = "from ${each.key}"
}

resource "aws_s3_object" "y" {
  bucket = "b"
}
'''


def test_ignore_drift_adds_a_lifecycle_block_to_the_drifting_types_only() -> None:
    out = ignore_drift(RULE)
    assert out.count("ignore_changes") == 1
    assert out.index("ignore_changes = [description]") < out.index('resource "aws_s3_object"')
    assert ignore_drift(out) == out  # a resource with a lifecycle block is left alone
    assert ignore_drift(RULE, {}) == RULE


def test_the_scratch_copy_of_every_module_still_validates(tmp_path) -> None:
    terraform = helpers.require_tool("terraform")
    workdir = helpers.render_example("ha-private", tmp_path / "cluster")
    patched = 0
    for tf in (workdir / "modules").rglob("*.tf"):
        text = tf.read_text()
        new = ignore_drift(text)
        patched += new != text
        tf.write_text(new)
    assert patched >= 4  # network, controllers, nodepool, dns
    env = helpers.terraform_env(tmp_path)
    for argv in (["init", "-backend=false", "-input=false"], ["validate", "-no-color"]):
        proc = subprocess.run([terraform, *argv], cwd=workdir, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.rmtree(workdir.parent)
    assert set(EMULATOR_DRIFT) >= {"aws_vpc_security_group_ingress_rule", "aws_launch_template"}
