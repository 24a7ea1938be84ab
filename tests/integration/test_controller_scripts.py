"""The controllers' background scripts, run as rendered, with the real kubectl and openssl,
against a kube-apiserver stand-in (tests/apistub.py) that holds Nodes and certificate
signing requests: the kubelet serving-certificate approver, the node labeller, the add-ons.

/opt/bin/ is moved into the test's directory (kubectl there is the real one; kopsgen-imds
a stand-in that names the instance), /etc/kubernetes/admin.kubeconfig is an admin
kubeconfig for the stand-in.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import apistub
import helpers
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kopsgen.render.cloudconfig import CloudConfigParams, render_cloudconfigs
from kopsgen.render.pki import PkiParams, render_credentials

NODE = "ip-10-0-1-2.ec2.internal"
PARAMS = CloudConfigParams(
    cluster_name="k8s", external_dns_name="k8s.kubeops.net", region="us-east-1",
    kubernetes_version="v1.34.2", etcd_version="v3.5.21",
    etcd_members=(("etcd0", "etcd0.k8s.internal"),), internal_api_name="api.k8s.internal",
    service_cidr="10.3.0.0/24", pod_cidr="10.2.0.0/16", dns_service_ip="10.3.0.10")


@pytest.fixture(scope="module")
def creds() -> dict[str, bytes]:
    return render_credentials(PkiParams(
        cluster_name="k8s", external_dns_name="k8s.kubeops.net", service_cidr="10.3.0.0/24",
        etcd_names=("etcd0.k8s.internal",)), {}, datetime.now(UTC)).files


@pytest.fixture
def api(creds, tmp_path):
    helpers.require_tool("openssl")
    with apistub.serve(creds, tmp_path) as (stub, url):
        yield stub, url


def install(tmp: Path, url: str, creds: dict[str, bytes], name: str) -> Path:
    """/opt/bin/<name> of the controller cloud-config, moved into ``tmp``."""
    kubectl = helpers.require_tool("kubectl")
    config = yaml.safe_load(render_cloudconfigs(PARAMS)["userdata/cloud-config-controller"])
    files = {f["path"]: f["content"] for f in config["write_files"]}
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    for cert in ("ca.pem", "admin.pem", "admin-key.pem"):
        (tmp / cert).write_bytes(creds[cert])
    (tmp / "admin.kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "k8s", "cluster": {"server": url,
                                                 "certificate-authority": str(tmp / "ca.pem")}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(tmp / "admin.pem"),
                                             "client-key": str(tmp / "admin-key.pem")}}],
        "contexts": [{"name": "admin", "context": {"cluster": "k8s", "user": "admin"}}]}))
    text = (files[f"/opt/bin/{name}"].replace("/opt/bin/kubectl", kubectl)
            .replace("/opt/bin/", f"{bindir}/")
            .replace("/etc/kubernetes/admin.kubeconfig", str(tmp / "admin.kubeconfig")))
    script = bindir / name
    script.write_text(text)
    script.chmod(0o755)
    imds = bindir / "kopsgen-imds"  # a stand-in: the instance's metadata
    imds.write_text(f'#!/bin/sh\n[ "$1" = local-hostname ] && echo "{NODE} ec2.internal"\n')
    imds.chmod(0o755)
    return script


def start(script: Path, tmp: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp / f"{script.name}.log"
    proc = subprocess.Popen([str(script)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "HOME": str(tmp), **env})
    return proc, log


def wait(what: str, check, log: Path, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def node(name: str, addresses: dict[str, str], *, initialised: bool = True) -> dict:
    taints = [] if initialised else [{"key": "node.cloudprovider.kubernetes.io/uninitialized",
                                      "value": "true", "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {}},
            "spec": {"taints": taints},
            "status": {"addresses": [{"type": t, "address": a} for a, t in addresses.items()]}}


def csr(name: str, *, cn: str, sans: list[str], user: str | None = None,
        signer: str = "kubernetes.io/kubelet-serving", usages=("digital signature", "server auth"),
        groups=("system:nodes", "system:authenticated")) -> dict:
    """A CertificateSigningRequest as a kubelet makes one (ECDSA P-256, CN and O, SANs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s)
           for s in sans]
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .add_extension(x509.SubjectAlternativeName(alt), critical=False)
               .sign(key, hashes.SHA256()))
    pem = request.public_bytes(serialization.Encoding.PEM)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer,
                     "usages": list(usages), "username": user or cn, "groups": list(groups)},
            "status": {}}


def approved(stub: apistub.APIStub, name: str) -> bool:
    obj = stub.get("certificates.k8s.io/v1", "certificatesigningrequests", name)
    return any(c["type"] == "Approved" for c in obj.get("status", {}).get("conditions", []))


def test_approver_signs_off_only_a_nodes_own_names_and_addresses(api, creds, tmp_path):
    stub, url = api
    addresses = {"10.0.1.2": "InternalIP", NODE: "Hostname", f"{NODE}.x": "InternalDNS"}
    stub.put(node(NODE, addresses))
    stub.put(node("ip-10-0-9-9.ec2.internal", {"10.0.9.9": "InternalIP"}, initialised=False))
    me = f"system:node:{NODE}"
    stub.put(csr("good", cn=me, sans=[NODE, f"{NODE}.x", "10.0.1.2"]))
    stub.put(csr("other-ip", cn=me, sans=[NODE, "10.0.1.99"]))
    stub.put(csr("other-name", cn=me, sans=["kubernetes.default", "10.0.1.2"]))
    stub.put(csr("for-another-node", cn="system:node:ip-10-0-1-3.ec2.internal", user=me,
                 sans=["10.0.1.2"]))
    stub.put(csr("not-a-node", cn="system:bootstrap:x", sans=["10.0.1.2"],
                 groups=("system:bootstrappers",)))
    stub.put(csr("client-usage", cn=me, sans=["10.0.1.2"],
                 usages=("digital signature", "client auth")))
    stub.put(csr("uninitialised", cn="system:node:ip-10-0-9-9.ec2.internal",
                 sans=["10.0.9.9"]))
    stub.put(csr("missing-node", cn="system:node:ip-10-0-7-7.ec2.internal", sans=["10.0.7.7"]))
    stub.put(csr("client-cert", cn=me, sans=[], signer="kubernetes.io/kube-apiserver-client-kubelet",
                 usages=("digital signature", "client auth")))

    script = install(tmp_path, url, creds, "kopsgen-approve-kubelet-serving")
    proc, log = start(script, tmp_path, KOPSGEN_APPROVER_INTERVAL="1")
    try:
        wait("the approver to go through every request",
             lambda: "missing-node pending" in log.read_text().replace("leaving ", ""), log)
        wait("a second round", lambda: log.read_text().count("leaving missing-node") >= 2, log)
    finally:
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert approved(stub, "good"), text
    for name in ("other-ip", "other-name", "for-another-node", "not-a-node", "client-usage",
                 "uninitialised", "missing-node", "client-cert"):
        assert not approved(stub, name), (name, text)
    for line in (
        "approved good for Node ip-10-0-1-2.ec2.internal",
        "leaving other-ip pending: 10.0.1.99 is not an address of Node ip-10-0-1-2.ec2.internal",
        "leaving other-name pending: kubernetes.default is not an address of Node",
        "leaving for-another-node pending: subject CN=system:node:ip-10-0-1-3.ec2.internal,"
        "O=system:nodes is not CN=system:node:ip-10-0-1-2.ec2.internal,O=system:nodes",
        "leaving not-a-node pending: requested by system:bootstrap:x, not by a node",
        "leaving client-usage pending: usage client auth is not one of a serving certificate",
        "leaving uninitialised pending: Node ip-10-0-9-9.ec2.internal is not initialised",
        "leaving missing-node pending: Node ip-10-0-7-7.ec2.internal does not exist",
    ):
        assert line in text, (line, text)
    assert "client-cert" not in text  # another signer: none of the approver's business
    # An approved request is not approved again.
    assert text.count("approved good") == 1


def test_node_label_waits_for_the_node_in_the_background(api, creds, tmp_path):
    stub, url = api
    script = install(tmp_path, url, creds, "kopsgen-node-role")
    proc, log = start(script, tmp_path)
    try:
        wait("it to say what it waits for",
             lambda: f"waiting for Node {NODE} to register" in log.read_text(), log)
        assert proc.poll() is None  # still waiting, never failed
        stub.put(node(NODE, {"10.0.1.2": "InternalIP"}))
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        proc.kill()
    labels = stub.get("v1", "nodes", NODE)["metadata"]["labels"]
    assert labels == {"node-role.kubernetes.io/control-plane": ""}
    assert "labelled node-role.kubernetes.io/control-plane" in log.read_text()


def test_addons_wait_for_the_api_and_apply_the_bootstrap_rbac_first(api, creds, tmp_path):
    stub, url = api
    stub.ready = False
    script = install(tmp_path, url, creds, "kopsgen-apply-addons")
    proc, log = start(script, tmp_path)
    try:
        wait("it to wait for the API",
             lambda: "waiting for the local API server" in log.read_text(), log)
        stub.ready = True
        # The stand-in serves no RBAC: the first apply fails and is retried -- and it is the
        # bootstrap RBAC's file, before any other add-on.
        wait("the first apply", lambda: "applying " in log.read_text(), log)
    finally:
        proc.kill()
        proc.wait()
    first = next(ln for ln in log.read_text().splitlines() if "applying " in ln)
    assert "applying /etc/kubernetes/addons/kopsgen-rbac.yaml failed, retrying" in first
