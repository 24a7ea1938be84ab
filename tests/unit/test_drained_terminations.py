"""Every instance kopsgen's groups terminate waits for a drain: read off each example's
rendered workspace (its root module and the module copies in it), not the repository's.

  D1  Every module of the workspace that builds an auto scaling group gives that group a
      termination lifecycle hook with a bounded heartbeat and CONTINUE as the default
      result (AWS: with no answer by the timeout, the default result is taken; ABANDON
      would terminate as well, but say the action failed).
  D2  Every group the root creates -- the controllers' and one per node pool, as
      outputs.tf lists them -- is one the termination rule forwards and whose lifecycle
      actions the handler may complete (modules/iam), and no other group is.
  D3  The handler's drain ends before the hook gives up: the node and pod grace periods
      of the rendered add-on are shorter than the heartbeat.
"""

from __future__ import annotations

import re

import hcl2
import helpers
import pytest
import yaml

EXAMPLES = sorted(p.parent.name for p in (helpers.REPO / "examples").glob("*/cluster.yaml"))


def _q(value):
    return value.strip('"') if isinstance(value, str) else value


def _resources(doc: dict) -> dict[tuple[str, str], dict]:
    return {(_q(t), _q(n)): attrs for r in doc.get("resource", [])
            for t, named in r.items() for n, attrs in named.items()}


@pytest.fixture(scope="module", params=EXAMPLES)
def workspace(request, tmp_path_factory):
    return helpers.render_example(request.param, tmp_path_factory.mktemp(request.param) / "c")


def test_every_group_has_a_bounded_termination_hook(workspace):
    groups = 0
    for module in sorted((workspace / "modules").iterdir()):
        resources: dict = {}
        for tf in module.glob("*.tf"):
            resources.update(_resources(hcl2.loads(tf.read_text())))
        asgs = [name for kind, name in resources if kind == "aws_autoscaling_group"]
        hooks = [a for (kind, _), a in resources.items() if kind == "aws_autoscaling_lifecycle_hook"]
        for name in asgs:
            groups += 1
            mine = [h for h in hooks
                    if _q(h["autoscaling_group_name"]) == f"${{aws_autoscaling_group.{name}.name}}"]
            assert [(_q(h["lifecycle_transition"]), _q(h["default_result"])) for h in mine] == [
                ("autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE")], (module.name, name)
            assert 0 < mine[0]["heartbeat_timeout"] <= 300
    assert groups >= 2  # the controllers and the node pool module


def test_the_rule_and_the_policy_cover_exactly_the_groups_the_root_creates(workspace):
    root = hcl2.loads((workspace / "main.tf").read_text())
    modules = {_q(k): v for b in root["module"] for k, v in b.items()}
    outputs = (workspace / "outputs.tf").read_text()
    block = outputs.split('output "autoscaling_group_names"', 1)[1].split("\n}\n", 1)[0]
    created = set()
    for ref in re.findall(r"module\.([a-z0-9_-]+)\.autoscaling_group_name", block):
        m = modules[ref]
        created.add(f"{_q(m['cluster_name'])}-{_q(m.get('name', 'controller'))}")
    assert len(created) == len([m for m in modules.values() if "nodepool" in _q(m["source"])]) + 1
    for consumer in ("node_termination", "iam"):
        assert sorted(_q(n) for n in modules[consumer]["autoscaling_group_names"]) == sorted(
            created), consumer


def test_the_handler_finishes_before_the_hook_gives_up(workspace):
    config = yaml.safe_load((workspace.parent / "userdata" / "cloud-config-controller").read_text())
    (content,) = [f["content"] for f in config["write_files"]
                  if f["path"] == "/etc/kubernetes/addons/aws-node-termination-handler.yaml"]
    (deployment,) = [d for d in yaml.safe_load_all(content) if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    hook = hcl2.loads((workspace / "modules" / "nodepool" / "workers.tf").read_text())
    heartbeat = _resources(hook)[("aws_autoscaling_lifecycle_hook", "drain")]["heartbeat_timeout"]
    assert env["ENABLE_SQS_TERMINATION_DRAINING"] == "true"
    assert int(env["POD_TERMINATION_GRACE_PERIOD"]) < int(env["NODE_TERMINATION_GRACE_PERIOD"]) \
        < heartbeat
