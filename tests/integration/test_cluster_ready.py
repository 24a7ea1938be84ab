"""`kopsgen up` waits until the cluster is ready as `kops validate cluster` judges it, and
`kopsgen status` shows the same: asked through the API endpoint as the admin (TLS to the
cluster CA) of a kube-apiserver stand-in (tests/apistub.py) that holds the Nodes and the
kube-system workloads. The Nodes carry the labels the rendered kopsgen-kubelet gives them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import apistub
import helpers
import pytest
import yaml

from kopsgen import core
from kopsgen.errors import ExitCode, KopsgenError
from kopsgen.flows.readiness import cluster_readiness, expected_addons, wait_until_ready

FakeSession = helpers.FakeSession


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    shutil.copy(helpers.REPO / "examples" / "kubeops" / "cluster.yaml", d / "cluster.yaml")
    core.write(d, core.render(d))
    return d


def kubelet_labels(cluster: Path, role: str, pool: str, tmp: Path) -> dict[str, str]:
    """The --node-labels the rendered kopsgen-kubelet starts the kubelet with."""
    config = yaml.safe_load((cluster / "userdata" / f"cloud-config-{role}").read_text())
    files = {f["path"]: f["content"] for f in config["write_files"]}
    units = {u["name"]: u.get("content", "") for u in config["coreos"]["units"]}
    extra = dict(line.removeprefix("Environment=").split("=", 1)
                 for line in units["kubelet.service"].splitlines()
                 if line.startswith("Environment="))
    bindir = tmp / role
    bindir.mkdir(exist_ok=True)
    (bindir / "kopsgen-kubelet").write_text(
        files["/opt/bin/kopsgen-kubelet"].replace("/opt/bin/", f"{bindir}/"))
    (bindir / "kopsgen-imds").write_text("#!/bin/sh\necho x\n")
    # The node's client certificate is not what this test is about (test_controller_scripts).
    (bindir / "kopsgen-node-identity").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "kubelet").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    for p in bindir.iterdir():
        p.chmod(0o755)
    out = subprocess.run([str(bindir / "kopsgen-kubelet")], capture_output=True, text=True,
                         check=True, env={**os.environ, **extra, "KOPSGEN_NODE_POOL": pool,
                                          "KOPSGEN_NODE_LABELS": "", "KOPSGEN_NODE_TAINTS": ""})
    (flag,) = [a for a in out.stdout.splitlines() if a.startswith("--node-labels=")]
    return dict(kv.split("=", 1) for kv in flag.removeprefix("--node-labels=").split(","))


def node(name: str, labels: dict[str, str], ready: bool = True) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def workload(kind: str, name: str, want: int, have: int) -> dict:
    status = ({"availableReplicas": have} if kind == "Deployment"
              else {"desiredNumberScheduled": want, "numberReady": have})
    spec = {"replicas": want} if kind == "Deployment" else {}
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "kube-system"}, "spec": spec, "status": status}


@pytest.fixture
def api(cluster, tmp_path):
    with apistub.serve(core.read_credentials(cluster), tmp_path) as (stub, url):
        yield stub, url


EXPECTED = {"controller": 2, "nodepool1": 4}


def test_ready_only_when_nodes_of_every_group_and_the_addons_are(cluster, api, tmp_path):
    stub, url = api
    controller = kubelet_labels(cluster, "controller", "", tmp_path)
    worker = kubelet_labels(cluster, "worker", "nodepool1", tmp_path)
    assert controller["node.kubernetes.io/kopsgen-role"] == "controller"
    assert worker["node.kubernetes.io/kopsgen-pool"] == "nodepool1"
    addons = expected_addons(cluster)
    assert ("DaemonSet", "kube-proxy") in addons and ("Deployment", "coredns") in addons

    spec = FakeSession(cluster).spec
    stub.ready = False
    state = cluster_readiness(spec, cluster, EXPECTED, url=url)
    assert state.problems == [f"the API does not answer {url}/readyz: HTTP 500 Internal Server Error"]

    stub.ready = True
    stub.put(node("c0", controller))
    stub.put(node("c1", controller, ready=False))
    for i in range(3):
        stub.put(node(f"w{i}", worker))
    state = cluster_readiness(spec, cluster, EXPECTED, url=url)
    assert state.problems[:2] == [
        "controllers: 1 of 2 Ready (2 registered; not Ready: c1)",
        "nodes of pool nodepool1: 3 of 4 Ready (3 registered)"]
    assert f"{addons[0][0]} kube-system/{addons[0][1]}: not applied" in state.problems

    stub.put(node("c1", controller))
    stub.put(node("w3", worker))
    for kind, name in addons:
        stub.put(workload(kind, name, 2, 1 if name == "coredns" else 2))
    state = cluster_readiness(spec, cluster, EXPECTED, url=url)
    assert state.problems == ["Deployment kube-system/coredns: 1/2 available"]
    assert state.nodes == {"controller": {"want": 2, "registered": 2, "ready": 2},
                           "nodepool1": {"want": 4, "registered": 4, "ready": 4}}

    stub.put(workload("Deployment", "coredns", 2, 2))
    state = cluster_readiness(spec, cluster, EXPECTED, url=url)
    assert state.ready and state.problems == []
    assert state.addons["kube-system/coredns"] == "2/2 available"


def test_wait_says_what_is_missing_and_gives_up_naming_it(cluster, api, tmp_path):
    stub, url = api
    session = FakeSession(cluster)
    started = time.monotonic()
    with pytest.raises(KopsgenError) as caught:
        wait_until_ready(session, 0.6, EXPECTED, url=url, interval=0.1)
    assert time.monotonic() - started < 10
    assert caught.value.exit_code == ExitCode.NOT_READY
    assert "controllers: 0 of 2 Ready (0 registered)" in str(caught.value)
    assert session.said[0].startswith("[wait 00:00] waiting for: controllers: 0 of 2 Ready")
    assert len(session.said) == 1  # the same state is not repeated every look

    labels = kubelet_labels(cluster, "worker", "nodepool1", tmp_path)
    for kind, name in expected_addons(cluster):
        stub.put(workload(kind, name, 1, 1))
    for i in range(2):
        stub.put(node(f"c{i}", kubelet_labels(cluster, "controller", "", tmp_path)))
    for i in range(4):
        stub.put(node(f"w{i}", labels))
    state = wait_until_ready(session, 5, EXPECTED, url=url, interval=0.1)
    assert state.ready
    assert session.said[-1].endswith("the cluster is ready: the API answers, 6 nodes are "
                                     f"Ready, {len(expected_addons(cluster))} add-ons are "
                                     "available")
