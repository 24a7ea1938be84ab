"""The boot order of every role, from the rendered user data and cloud-configs, through the
model in tests/bootmodel.py (coreos-cloudinit's semantics on systemd, and what each program
waits for): no first boot and no reboot may block, and the cluster's nodes register."""

from __future__ import annotations

import subprocess
from pathlib import Path

import helpers
import pytest
import yaml
from bootmodel import PROGRAMS, Cluster, Machine

from kopsgen.render.workspace_files import render_userdata
from kopsgen.spec import load_spec

REPO = helpers.REPO
ROLES = ("etcd", "controller", "worker")

#: The seed cluster: 3 etcd members, 2 controllers, (a few of) its workers.
LAYOUT = (("etcd0", "etcd"), ("etcd1", "etcd"), ("etcd2", "etcd"),
          ("controller0", "controller"), ("controller1", "controller"),
          ("worker0", "worker"), ("worker1", "worker"))

BOOTSTRAP_ROOT = """\
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "model"
  secret_key                  = "model"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}}
{modules}
"""
BOOTSTRAP_MODULE = """\
module "{role}" {{
  source              = "{source}"
  role                = "{role}"
  assets_bucket       = "model-bucket"
  assets_prefix       = "k8s"
  cloud_config_key    = "userdata/model/cloud-config-{role}"
  cloud_config_sha256 = "{sha}"
{extra}}}
output "{role}" {{
  value = module.{role}.user_data
}}
"""


@pytest.fixture(scope="module")
def user_data(tmp_path_factory) -> dict[str, str]:
    """Each role's EC2 user data as Terraform renders it from modules/bootstrap."""
    terraform = helpers.require_tool("terraform")
    tmp = tmp_path_factory.mktemp("bootstrap")
    env = helpers.terraform_env(tmp)
    modules = "".join(
        BOOTSTRAP_MODULE.format(role=role, source=REPO / "modules" / "bootstrap", sha="0" * 64,
                                extra='  etcd_name           = "etcd0"\n' if role == "etcd" else "")
        for role in ROLES)
    (tmp / "main.tf").write_text(BOOTSTRAP_ROOT.format(modules=modules))
    for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        proc = subprocess.run([terraform, *argv], cwd=tmp, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {role: subprocess.run([terraform, "output", "-raw", role], cwd=tmp, env=env,
                                 check=True, capture_output=True, text=True).stdout
            for role in ROLES}


def cloud_configs(example: str = "kubeops") -> dict[str, str]:
    spec = load_spec(REPO / "examples" / example / "cluster.yaml").spec
    return {role: render_userdata(spec)[f"userdata/cloud-config-{role}"].content.decode()
            for role in ROLES}


def boot(user_data: dict[str, str], configs: dict[str, str], *, reboots: int = 0) -> Cluster:
    cluster = Cluster([Machine(name, role) for name, role in LAYOUT], user_data, configs)
    for _ in range(reboots + 1):
        cluster.boot()
    return cluster


def verdict(cluster: Cluster) -> list[str]:
    """Everything that keeps the cluster from coming up, per machine."""
    problems = []
    for m in cluster.machines:
        for run in m.blocked():
            waits = run.rsplit(" ", 1)[-1]
            problems.append(f"{m.name}: {run} ({m.why(waits, cluster)})")
        problems += [f"{m.name}: {p}" for p in m.problems]
        if m.role == "etcd" and "etcd.service" not in m.active:
            problems.append(f"{m.name}: etcd.service is not active")
        if m.role in ("controller", "worker") and f"node@{m.name}" not in cluster.facts:
            problems.append(f"{m.name}: its Node never registers")
        if m.role == "controller" and f"control-plane-label@{m.name}" not in cluster.facts:
            problems.append(f"{m.name}: its Node is never labelled as the control plane")
    if "addons" not in cluster.facts:
        problems.append("the add-ons are never applied")
    return problems


@pytest.mark.parametrize("reboots", [0, 1], ids=["first boot", "reboot"])
@pytest.mark.parametrize("example", ["kubeops", "ha-private"])
def test_no_boot_blocks_and_every_node_registers(user_data, example: str, reboots: int) -> None:
    cluster = boot(user_data, cloud_configs(example), reboots=reboots)
    assert verdict(cluster) == []
    for m in cluster.machines:
        # Every coreos-cloudinit run ran to its end: user data, and the role's cloud-config.
        assert {r.label.split(":")[0] for r in m.runs.values()} == {
            "oem-cloudinit.service", "kopsgen-bootstrap.service"}, m.name
        assert all(r.done and not r.aborted for r in m.runs.values()), m.name
        assert "multi-user.target" in m.active, m.name


def node_label_first_controller(controller: str) -> str:
    """The rendered controller cloud-config with the node label as a oneshot unit started
    before the kubelet: the shape of kopsgen's first release, where the label's start job
    waited for a Node that only a later step could register."""
    config = yaml.safe_load(controller)
    units = config["coreos"]["units"]
    by_name = {u["name"]: u for u in units}
    label = by_name["kopsgen-node-role.service"]
    label["content"] = label["content"].replace("Type=simple", "Type=oneshot")
    units.remove(label)
    units.insert(units.index(by_name["kubelet.service"]), label)
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def test_the_model_finds_a_boot_that_waits_for_a_later_step(user_data) -> None:
    configs = cloud_configs()
    broken = node_label_first_controller(configs["controller"])
    problems = verdict(boot(user_data, {**configs, "controller": broken}))
    assert ("controller0: kopsgen-bootstrap.service: /usr/bin/coreos-cloudinit "
            "--from-file=/var/lib/kopsgen/cloud-config: waits for the start of "
            "kopsgen-node-role.service (/opt/bin/kopsgen-node-role waits for node@)") in problems
    assert "the add-ons are never applied" in problems
    assert "worker0: its Node never registers" in problems


def test_a_worker_registers_only_through_the_approver(user_data) -> None:
    """A worker's kubelet starts only once the controllers' approver has approved its
    instance's request (K3): without the approver, every worker waits -- in the background,
    so its boot still ends -- and the controllers register regardless."""
    configs = cloud_configs()
    controller = configs["controller"].replace(
        "ExecStart=/opt/bin/kopsgen-approve-kubelet-serving", "ExecStart=/usr/bin/mkdir -p /x")
    assert controller != configs["controller"]
    problems = verdict(boot(user_data, {**configs, "controller": controller}))
    assert problems == ["worker0: its Node never registers", "worker1: its Node never registers"]


def test_a_notify_unit_that_waits_for_its_peers_needs_no_start_timeout(user_data) -> None:
    configs = cloud_configs()
    etcd = configs["etcd"].replace("TimeoutStartSec=infinity\n", "")
    assert etcd != configs["etcd"]
    problems = verdict(boot(user_data, {**configs, "etcd": etcd}))
    assert any("etcd.service (Type=notify, TimeoutStartSec=90s) is ready only once "
               "etcd-quorum" in p for p in problems), problems


def test_every_program_a_unit_runs_is_in_the_model(user_data) -> None:
    """A new script must say in the model what it waits for before any boot test passes."""
    cluster = boot(user_data, cloud_configs())
    ran = {argv[0] if argv[0] != "/opt/bin/kopsgen-retry" else argv[1]
           for m in cluster.machines for u in m.units.values() for _, argv in u.steps()}
    assert ran <= set(PROGRAMS)
    assert {"/opt/bin/kopsgen-apply-addons", "/opt/bin/kopsgen-node-role",
            "/opt/bin/kopsgen-etcd", "/opt/bin/kopsgen-kubelet"} <= ran


def test_masked_units_stay_stopped_and_enabled_units_have_install_sections(user_data) -> None:
    cluster = boot(user_data, cloud_configs(), reboots=1)
    for m in cluster.machines:
        assert "locksmithd.service" in m.masked and "locksmithd.service" not in m.active, m.name
        assert m.files["/etc/flatcar/update.conf"].splitlines()[-2:] == [
            "SERVER=disabled", "REBOOT_STRATEGY=off"], m.name
        assert all(m.unit(u).values.get("WantedBy") for u in m.enabled), m.name


def test_reboot_applies_the_cached_cloud_config_without_s3(user_data) -> None:
    """A rebooted node runs the cloud-config it was created with: the bootstrap needs S3
    only when its cache does not hold the expected version (see test_bootstrap.py)."""
    ud = user_data["worker"]
    assert "/opt/bin/kopsgen-cloud-config" in ud
    assert "/usr/bin/coreos-cloudinit --from-file=/var/lib/kopsgen/cloud-config" in ud


def test_model_helpers_read_units_as_systemd_does(tmp_path: Path) -> None:
    from bootmodel import Unit, _unit_values

    u = Unit("x.service", _unit_values("[Service]\nExecStart=/a b\nExecStart=\n"
                                        "ExecStart=-/c\nType=notify\n"))
    assert u.type == "notify" and u.start_timeout == "90s"
    m = Machine("m", "worker")
    m.apply("#cloud-config\ncoreos:\n  units:\n    - name: x.service\n      content: |\n"
            "        [Service]\n        ExecStart=/a\n      drop-ins:\n        - name: 1.conf\n"
            "          content: |\n            [Service]\n            ExecStart=\n"
            "            ExecStart=/b\n", "t")
    assert m.unit("x.service").steps() == [("main", ["/b"])]
