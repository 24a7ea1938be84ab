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
    # A cluster upgraded from a release that auto-approved every bootstrapper's request.
    old = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "kopsgen:node-autoapprove-bootstrap"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "system:certificates.k8s.io:certificatesigningrequests:nodeclient"},
           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                         "name": "system:bootstrappers"}]}
    stub.put(old)
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
    # ... after the old auto-approval of bootstrappers is gone.
    assert stub.get("rbac.authorization.k8s.io/v1", "clusterrolebindings",
                    "kopsgen:node-autoapprove-bootstrap") is None
    assert "removing the old auto-approval" not in log.read_text()


def test_addons_give_the_termination_handler_its_queue_from_the_user_data(api, creds, tmp_path):
    """The handler's queue URL names the account, so Terraform puts it in the controllers'
    user data (KOPSGEN_TERMINATION_QUEUE_URL) and the rendered script writes it into the
    ConfigMap the handler's Deployment reads, after the bootstrap RBAC, before the add-ons."""
    stub, url = api
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/k8s-node-termination"
    script = install(tmp_path, url, creds, "kopsgen-apply-addons")
    # /etc/kubernetes/addons/ moved into the test's directory too, with the rendered add-ons.
    config = yaml.safe_load(render_cloudconfigs(PARAMS)["userdata/cloud-config-controller"])
    addons = tmp_path / "addons"
    addons.mkdir()
    for f in config["write_files"]:
        if f["path"].startswith("/etc/kubernetes/addons/"):
            (addons / f["path"].rsplit("/", 1)[1]).write_text(f["content"])
    script.write_text(script.read_text().replace("/etc/kubernetes/addons", str(addons)))
    proc, log = start(script, tmp_path, KOPSGEN_TERMINATION_QUEUE_URL=queue)
    try:
        wait("the queue's ConfigMap", lambda: stub.get(
            "v1", "configmaps", "aws-node-termination-handler", "kube-system") is not None, log)
    finally:
        proc.kill()
        proc.wait()
    cm = stub.get("v1", "configmaps", "aws-node-termination-handler", "kube-system")
    assert cm["data"] == {"QUEUE_URL": queue}
    assert stub.get("rbac.authorization.k8s.io/v1", "clusterrolebindings",
                    "kopsgen:node-autoapprove-bootstrap") is None
    applied = [r for r in stub.requests if r.startswith("PATCH ")]
    assert "clusterrolebindings" in applied[0] and "configmaps" in applied[-1], applied
    # The handler's manifest reads that key of that ConfigMap.
    manifest = (addons / "aws-node-termination-handler.yaml").read_text()
    deployment = next(d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["QUEUE_URL"]["valueFrom"]["configMapKeyRef"] == {
        "name": cm["metadata"]["name"], "key": "QUEUE_URL"}
    assert deployment["metadata"]["namespace"] == cm["metadata"]["namespace"]

    # Without the URL (user data of another role), it stops there and says why.
    proc, log = start(script, tmp_path)
    assert proc.wait(timeout=60) != 0
    assert "the user data names no termination queue" in log.read_text()


# ------------------------------------------------- a node's identity: its own instance only
#
# The worker's kopsgen-node-identity and the controllers' approver, both as rendered, with
# the real curl, openssl and kubectl, against the API stand-in and moto (EC2, IAM, STS).
# Moto does not verify SigV4 signatures, so the STS the scripts talk to is moto behind
# SigV4Check, which verifies each request's signature with the secret of its access key as
# STS does (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) and
# answers SignatureDoesNotMatch otherwise: that is what binds a proof to its CSR. What the
# approver checks itself -- scope, signed headers, age, ARN, instance -- needs no stand-in.

SECRETS: dict[str, str] = {}  # access key -> secret of every session the test made


def _sigv4_ok(method: str, path: str, headers, body: bytes) -> bool:
    import hashlib
    import hmac
    import re

    headers = {k.lower(): v for k, v in headers.items()}
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r" ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})",
                     headers.get("authorization", ""))
    if not m or m.group(1) not in SECRETS:
        return False
    key, day, region, service, signed, signature = m.groups()
    path, _, query = path.partition("?")
    canonical = "\n".join([
        method, path, "&".join(sorted(query.split("&"))) if query else "",
        "".join(f"{h}:{' '.join((headers.get(h) or '').split())}\n" for h in signed.split(";")),
        signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = f"AWS4{SECRETS[key]}".encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(),
                               signature)


@pytest.fixture(scope="module")
def aws():
    """moto (EC2, IAM, STS) and, in front of its STS, the signature check; yields
    (boto3 session maker, moto URL, STS URL)."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    helpers.require_module("moto.server")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = f"http://{host}:{port}"

    class SigV4Check(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        seen: list[dict] = []

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            SigV4Check.seen.append(dict(self.headers))
            if not _sigv4_ok("POST", self.path, self.headers, body):
                data = (b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch"
                        b"</Code></Error></ErrorResponse>")
                code = 403
            else:
                conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                code, data = resp.status, resp.read()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    # The check agrees with botocore's signer, and refuses what differs from what it signed.
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    SECRETS["AKIDCHECK"] = "check-secret"
    probe = botocore.awsrequest.AWSRequest(
        method="POST", url="http://127.0.0.1:1/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDCHECK", "check-secret"), "sts",
                            "us-east-1").add_auth(probe)
    probe_headers = {**probe.headers, "Host": "127.0.0.1:1"}
    assert _sigv4_ok("POST", "/", probe_headers, probe.body)
    assert not _sigv4_ok("POST", "/", probe_headers, b"Action=AssumeRole&Version=2011-06-15")

    front = ThreadingHTTPServer(("127.0.0.1", 0), SigV4Check)
    threading.Thread(target=front.serve_forever, daemon=True).start()
    try:
        yield moto, f"http://127.0.0.1:{front.server_address[1]}", SigV4Check.seen
    finally:
        front.shutdown()
        server.stop()


def _client(moto: str, service: str):
    import boto3

    return boto3.client(service, endpoint_url=moto, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def cloud(aws):
    """The instances: two workers and a controller of cluster k8s, a worker of cluster
    other, an untagged one; each with the session EC2 would give it (its instance ID as
    the session name). Returns name -> metadata."""
    moto, _, _ = aws
    ec2, iam, sts = (_client(moto, s) for s in ("ec2", "iam", "sts"))
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":' \
            '{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    arns = {r: iam.create_role(RoleName=r, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
            for r in ("k8s-worker", "k8s-controller", "other-worker")}
    image = ec2.describe_images()["Images"][0]["ImageId"]
    out = {}
    for name, role, tags in (
        ("worker-a", "k8s-worker", {"kubernetes.io/cluster/k8s": "owned"}),
        ("worker-b", "k8s-worker", {"kubernetes.io/cluster/k8s": "owned"}),
        ("controller", "k8s-controller", {"kubernetes.io/cluster/k8s": "owned"}),
        ("foreign", "k8s-worker", {"kubernetes.io/cluster/other": "owned"}),
        ("untagged", "k8s-worker", {}),
        ("other-role", "other-worker", {"kubernetes.io/cluster/k8s": "owned"}),
    ):
        spec = {"ImageId": image, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.small"}
        if tags:
            spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in tags.items()]}]
        inst = ec2.run_instances(**spec)["Instances"][0]
        c = sts.assume_role(RoleArn=arns[role], RoleSessionName=inst["InstanceId"])["Credentials"]
        SECRETS[c["AccessKeyId"]] = c["SecretAccessKey"]
        out[name] = {"id": inst["InstanceId"], "dns": inst["PrivateDnsName"], "role": role,
                     "creds": {"Code": "Success", "AccessKeyId": c["AccessKeyId"],
                               "SecretAccessKey": c["SecretAccessKey"],
                               "Token": c["SessionToken"]}}
    return out


def imds_standin(path: Path, inst: dict) -> None:
    """The instance's metadata, as kopsgen-imds prints it."""
    import json
    import shlex

    meta = {"instance-id": inst["id"], "local-hostname": inst["dns"],
            "iam/security-credentials/": inst["role"],
            f"iam/security-credentials/{inst['role']}": json.dumps(inst["creds"])}
    cases = "".join(f"  {shlex.quote(k)}) printf '%s\\n' {shlex.quote(v)} ;;\n"
                    for k, v in meta.items())
    path.write_text(f'#!/bin/sh\ncase "$1" in\n{cases}  *) exit 22 ;;\nesac\n')
    path.chmod(0o755)


def identity_env(tmp: Path, url: str, sts_url: str, moto: str) -> dict[str, str]:
    env_file = tmp / "environment"
    env_file.write_text('KOPSGEN_REGION="us-east-1"\n')
    return {"KOPSGEN_ENVIRONMENT": str(env_file), "KOPSGEN_REGION": "us-east-1",
            "KOPSGEN_STS_ENDPOINT": sts_url, "KOPSGEN_EC2_ENDPOINT": moto,
            "KOPSGEN_APPROVER_INTERVAL": "1", "KOPSGEN_IDENTITY_POLL": "1"}


def node_identity(tmp: Path, url: str, creds: dict[str, bytes], inst: dict) -> Path:
    """The worker's /opt/bin/kopsgen-node-identity, as rendered, for instance ``inst``: its
    PKI, certificate store and metadata in ``tmp``, the API at ``url``."""
    config = yaml.safe_load(render_cloudconfigs(PARAMS)["userdata/cloud-config-worker"])
    files = {f["path"]: f["content"] for f in config["write_files"]}
    tmp.mkdir(parents=True, exist_ok=True)
    pki = tmp / "pki"
    pki.mkdir(exist_ok=True)
    for f in ("ca.pem", "worker.pem", "worker-key.pem"):
        (pki / f).write_bytes(creds[f])
    imds_standin(tmp / "kopsgen-imds", inst)
    text = (files["/opt/bin/kopsgen-node-identity"]
            .replace("/opt/bin/kopsgen-imds", str(tmp / "kopsgen-imds"))
            .replace("/etc/kubernetes/pki", str(pki))
            .replace("server=https://api.k8s.internal", f"server={url}"))
    assert f"server={url}" in text
    script = tmp / "kopsgen-node-identity"
    script.write_text(text)
    script.chmod(0o755)
    return script


def sign_approved(stub: apistub.APIStub, creds: dict[str, bytes]) -> None:
    """kube-controller-manager's part (a stand-in): sign what is approved, with the CA."""
    from datetime import timedelta

    ca = x509.load_pem_x509_certificate(creds["ca.pem"])
    ca_key = serialization.load_pem_private_key(creds["ca-key.pem"], None)
    for name, obj in list(stub.objects.get(("certificates.k8s.io/v1",
                                            "certificatesigningrequests", None), {}).items()):
        if approved(stub, name) and not obj["status"].get("certificate"):
            req = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
            now = datetime.now(UTC)
            cert = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca.subject)
                    .public_key(req.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - timedelta(minutes=1))
                    .not_valid_after(now + timedelta(days=365))
                    .sign(ca_key, hashes.SHA256()))
            obj["status"]["certificate"] = base64.b64encode(
                cert.public_bytes(serialization.Encoding.PEM)).decode()


def csrs_of(stub: apistub.APIStub, instance: str) -> list[dict]:
    return [o for n, o in stub.objects.get(("certificates.k8s.io/v1",
                                            "certificatesigningrequests", None), {}).items()
            if n.startswith(f"node-{instance}-")]


def test_bootstrappers_are_not_approved_automatically() -> None:
    """Kubernetes approves a bootstrapper's kubelet client CSR by itself when the group may
    create certificatesigningrequests/nodeclient: the rendered RBAC must grant that to no
    one but nodes renewing their own (selfnodeclient)."""
    config = yaml.safe_load(render_cloudconfigs(PARAMS)["userdata/cloud-config-controller"])
    rbac = next(f["content"] for f in config["write_files"]
                if f["path"] == "/etc/kubernetes/addons/kopsgen-rbac.yaml")
    bindings = {(d["roleRef"]["name"], s["name"]) for d in yaml.safe_load_all(rbac)
                if d and d["kind"] == "ClusterRoleBinding" for s in d["subjects"]}
    assert bindings == {
        ("system:node-bootstrapper", "system:bootstrappers"),
        ("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
    }


def test_a_worker_gets_the_identity_of_its_own_instance_only(api, creds, aws, cloud, tmp_path):
    stub, url = api
    moto, sts_url, seen = aws
    env = identity_env(tmp_path, url, sts_url, moto)
    approver = install(tmp_path, url, creds, "kopsgen-approve-kubelet-serving")
    imds_standin(tmp_path / "bin" / "kopsgen-imds", cloud["controller"])
    me, other = cloud["worker-a"], cloud["worker-b"]

    # The attempts, each by the rendered node script on the instance that makes it.
    runs = {
        "own": (me, me["dns"]),
        "another-instance": (me, other["dns"]),
        "a-controller": (me, cloud["controller"]["dns"]),
        "foreign": (cloud["foreign"], cloud["foreign"]["dns"]),
        "untagged": (cloud["untagged"], cloud["untagged"]["dns"]),
        "other-role": (cloud["other-role"], cloud["other-role"]["dns"]),
    }
    nodes = {}
    for what, (inst, name) in runs.items():
        script = node_identity(tmp_path / what, url, creds, inst)
        log = tmp_path / what / "node.log"
        nodes[what] = (subprocess.Popen(
            [str(script), name], stdout=log.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(tmp_path), **env,
                 "KOPSGEN_KUBELET_CERT_DIR": str(tmp_path / what / "store")}), log)
    for what, (_, log) in nodes.items():
        wait(f"{what}: its request", lambda log=log: "waiting for the approval of" in log.read_text(),
             log)

    # Forged proofs, made with the test's own hands from the real one of worker-a.
    import re

    own, = [o for o in csrs_of(stub, me["id"]) if x509.load_pem_x509_csr(base64.b64decode(
        o["spec"]["request"])).subject.rfc4514_string().startswith(f"CN=system:node:{me['dns']}")]
    proof = own["metadata"]["annotations"]["kopsgen.io/instance-proof"]
    headers = base64.b64decode(proof).decode()
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    assume = botocore.awsrequest.AWSRequest(
        method="POST", url=f"{sts_url}/", data="Action=AssumeRole&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                 "x-kopsgen-csr-sha256": "0" * 64})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(
        me["creds"]["AccessKeyId"], me["creds"]["SecretAccessKey"], me["creds"]["Token"]),
        "sts", "us-east-1").add_auth(assume)
    wrong_action = "".join(f"{k}: {assume.headers[k]}\n" for k in
                           ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"))
    forged = {
        "no-proof": None,
        "replayed": proof,  # worker-a's proof on another CSR for its own name
        "s3-scope": headers.replace("/us-east-1/sts/", "/us-east-1/s3/"),
        "other-region": headers.replace("/us-east-1/sts/", "/eu-west-1/sts/"),
        "unbound": headers.replace(";x-kopsgen-csr-sha256", ""),
        "wrong-action": wrong_action,
        # signed the same day, but not in the last 5 minutes (AWS would refuse it too)
        "stale": re.sub(r"X-Amz-Date: (\d{8})T\d{6}Z", lambda m: f"X-Amz-Date: {m.group(1)}T"
                        + ("000000Z" if datetime.now(UTC).hour >= 12 else "235959Z"), headers),
    }
    for what, text in forged.items():
        obj = csr(what, cn=f"system:node:{me['dns']}", sans=[],
                  signer="kubernetes.io/kube-apiserver-client-kubelet",
                  usages=("digital signature", "client auth"),
                  user="system:bootstrap:kopsgen-worker",
                  groups=("system:bootstrappers", "system:authenticated"))
        pem = base64.b64decode(obj["spec"]["request"])
        key = ec.generate_private_key(ec.SECP256R1())
        pem = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{me['dns']}")]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        obj["spec"]["request"] = base64.b64encode(pem).decode()
        if text is not None:
            obj["metadata"]["annotations"] = {"kopsgen.io/instance-proof": text if what ==
                                              "replayed" else base64.b64encode(text.encode()).decode()}
        stub.put(obj)

    ids = {w: runs[w][0]["id"] for w in runs}
    refused = {  # what -> the reason the approver gives, in the line that denies it
        "another-instance": f"node-{ids['another-instance']}-.*: the private DNS name of "
                            f"instance {ids['another-instance']} is not {other['dns']}",
        "a-controller": f"node-{me['id']}-.*: the private DNS name of instance {me['id']} "
                        f"is not {cloud['controller']['dns']}",
        "foreign": f"node-{ids['foreign']}-.*: instance {ids['foreign']} is not an instance "
                   "of cluster k8s",
        "untagged": f"node-{ids['untagged']}-.*: instance {ids['untagged']} is not an "
                    "instance of cluster k8s",
        "other-role": f"node-{ids['other-role']}-.*: the proof was signed by "
                      f"arn:aws:sts::123456789012:assumed-role/other-worker/"
                      f"{ids['other-role']}, not by the worker role k8s-worker",
        "no-proof": "no-proof: no instance proof",
        "replayed": r"replayed: STS refused the instance proof \(HTTP 403 SignatureDoesNotMatch\)",
        "wrong-action": r"wrong-action: STS refused the instance proof \(HTTP 403 "
                        r"SignatureDoesNotMatch\)",
        "s3-scope": "s3-scope: the instance proof is not a request signed for STS in us-east-1",
        "other-region": "other-region: the instance proof is not a request signed for STS in "
                        "us-east-1",
        "unbound": "unbound: the instance proof does not sign host, x-amz-date and "
                   "x-kopsgen-csr-sha256",
        "stale": "stale: the instance proof was made at .*, not in the last 5 minutes",
    }

    proc, log = start(approver, tmp_path, **env)
    try:
        def settled() -> bool:
            sign_approved(stub, creds)
            text = log.read_text()
            return nodes["own"][0].poll() is not None and all(
                re.search(f"denying {r}", text) for r in refused.values())
        wait("every request to be decided", settled, log, timeout=150)
    finally:
        proc.kill()
        proc.wait()
        for p, _ in nodes.values():
            p.kill()
            p.wait()
    text = log.read_text()

    # Its own identity: approved, signed, in the kubelet's certificate store.
    assert nodes["own"][0].returncode == 0, nodes["own"][1].read_text()
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "own" / "store" / "kubelet-client-current.pem").read_bytes())
    assert cert.subject.rfc4514_string() == f"CN=system:node:{me['dns']},O=system:nodes"
    assert f"for Node {me['dns']} (instance {me['id']})" in text
    # Each refused request was denied for its own reason (settled() waited for each); a
    # denied node asks again with a fresh proof, and is denied again for the same reason.
    for what in ("another-instance", "foreign", "untagged", "other-role"):
        assert "was refused" in nodes[what][1].read_text() or re.search(
            f"denying {refused[what]}", text), what
    # Only worker-a's own request was approved; the STS the approver used saw the CSR hash
    # it computed itself, never one the node sent.
    approved_names = [n for n, o in stub.objects[("certificates.k8s.io/v1",
                                                  "certificatesigningrequests", None)].items()
                      if approved(stub, n)]
    assert approved_names == [own["metadata"]["name"]], approved_names
    import hashlib

    sent = {{k.lower(): v for k, v in h.items()}.get("x-kopsgen-csr-sha256") for h in seen}
    assert hashlib.sha256(base64.b64decode(own["spec"]["request"])).hexdigest() in sent
    replayed = stub.get("certificates.k8s.io/v1", "certificatesigningrequests", "replayed")
    assert hashlib.sha256(base64.b64decode(replayed["spec"]["request"])).hexdigest() in sent


def test_a_controller_signs_its_own_kubelet_identity(creds, tmp_path):
    """On a controller the kubelet runs kube-apiserver, so it cannot wait for the API: the
    rendered kopsgen-node-identity signs the node's client certificate with the cluster CA
    (which kube-controller-manager signs with anyway), for the name it is given, once."""
    helpers.require_tool("openssl")
    config = yaml.safe_load(render_cloudconfigs(PARAMS)["userdata/cloud-config-controller"])
    files = {f["path"]: f["content"] for f in config["write_files"]}
    pki = tmp_path / "pki"
    pki.mkdir()
    for f in ("ca.pem", "ca-key.pem"):
        (pki / f).write_bytes(creds[f])
    script = tmp_path / "kopsgen-node-identity"
    script.write_text(files["/opt/bin/kopsgen-node-identity"].replace("/etc/kubernetes/pki",
                                                                       str(pki)))
    script.chmod(0o755)
    store = tmp_path / "store"
    env = {**os.environ, "KOPSGEN_KUBELET_CERT_DIR": str(store)}

    def run(name: str) -> x509.Certificate:
        proc = subprocess.run([str(script), name], env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        pem = (store / "kubelet-client-current.pem").read_bytes()
        assert b"PRIVATE KEY" in pem  # certificate and key in one file, as the kubelet keeps them
        return x509.load_pem_x509_certificate(pem)

    cert = run(NODE)
    assert cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
    ca = x509.load_pem_x509_certificate(creds["ca.pem"])
    cert.verify_directly_issued_by(ca)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert run(NODE).serial_number == cert.serial_number  # still valid: kept
    assert run("ip-10-0-1-3.ec2.internal").subject.rfc4514_string().startswith(
        "CN=system:node:ip-10-0-1-3.ec2.internal")  # another name: a new one
    assert (store.stat().st_mode & 0o777) == 0o700
