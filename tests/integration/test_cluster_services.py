"""What the rendered control plane and add-ons do for the cluster's services: CoreDNS's own
resolvers, the aggregation layer's TLS, the load balancers' health checks, the kubelets'
serving certificates and graceful shutdown, and the cloud-controller-manager's IAM.

Where Kubernetes itself cannot run here, its rule is stated with its source next to the
test; the files come from the renderer, the TLS is real (openssl, curl, Python's ssl)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import hcl2
import helpers
import pytest
import yaml

from kopsgen.render.cloudconfig import CloudConfigParams, render_cloudconfigs
from kopsgen.render.pki import ROLE_FILES, PkiParams, render_credentials

PARAMS = CloudConfigParams(
    cluster_name="k8s", external_dns_name="k8s.kubeops.net", region="us-east-1",
    kubernetes_version="v1.34.2", etcd_version="v3.5.21",
    etcd_members=(("etcd0", "etcd0.k8s.internal"),), internal_api_name="api.k8s.internal",
    service_cidr="10.3.0.0/24", pod_cidr="10.2.0.0/16", dns_service_ip="10.3.0.10")
PKI = "/etc/kubernetes/pki/"


def files(role: str) -> dict[str, str]:
    config = yaml.safe_load(render_cloudconfigs(PARAMS)[f"userdata/cloud-config-{role}"])
    return {f["path"]: f["content"] for f in config["write_files"]}


def docs(path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(files("controller")[path]) if d]


def flags(manifest: str) -> dict[str, str]:
    (pod,) = docs(f"/etc/kubernetes/manifests/{manifest}.yaml")
    return dict(a.removeprefix("--").split("=", 1) for a in pod["spec"]["containers"][0]["command"]
                if a.startswith("--"))


@pytest.fixture(scope="module")
def creds() -> dict[str, bytes]:
    return render_credentials(PkiParams(
        cluster_name="k8s", external_dns_name="k8s.kubeops.net", service_cidr="10.3.0.0/24",
        etcd_names=("etcd0.k8s.internal",), internal_api_name="api.k8s.internal"),
        {}, datetime.now(UTC)).files


# --------------------------------------------------------------------------- CoreDNS


def pod_nameservers(pod_spec: dict, kubelet: dict, node_resolv_conf: str) -> list[str]:
    """The nameservers the kubelet gives a pod (pkg/kubelet/network/dns/dns.go, getPodDNSType
    and GetPodDNS): ClusterFirst, the default, means the cluster DNS (KubeletConfiguration
    clusterDNS) -- unless the pod uses the host network, where it falls back to Default;
    ClusterFirstWithHostNet means the cluster DNS; Default means the node's resolvConf."""
    policy = pod_spec.get("dnsPolicy", "ClusterFirst")
    host = pod_spec.get("hostNetwork", False)
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host):
        return list(kubelet["clusterDNS"])
    if policy in ("ClusterFirst", "Default"):
        return re.findall(r"^nameserver\s+(\S+)", node_resolv_conf, re.M)
    raise AssertionError(f"dnsPolicy {policy} is not modelled")


def test_coredns_forwards_to_the_nodes_resolvers_not_to_itself() -> None:
    kubelet = yaml.safe_load(files("worker")["/etc/kubernetes/kubelet-config.yaml"])
    # What systemd-resolved writes on Flatcar at resolvConf: the VPC's resolver.
    assert kubelet["resolvConf"] == "/run/systemd/resolve/resolv.conf"
    node_resolv = "# This is /run/systemd/resolve/resolv.conf\nnameserver 10.0.0.2\n"
    coredns = {d["kind"]: d for d in docs("/etc/kubernetes/addons/coredns.yaml")}
    corefile = coredns["ConfigMap"]["data"]["Corefile"]
    assert re.search(r"^\s*forward \. /etc/resolv\.conf", corefile, re.M)
    assert coredns["Service"]["spec"]["clusterIP"] == "10.3.0.10" == kubelet["clusterDNS"][0]
    upstream = pod_nameservers(coredns["Deployment"]["spec"]["template"]["spec"], kubelet,
                               node_resolv)
    assert upstream == ["10.0.0.2"]
    # Without dnsPolicy (the first release) CoreDNS's upstream was its own Service.
    spec = dict(coredns["Deployment"]["spec"]["template"]["spec"])
    spec.pop("dnsPolicy")
    assert pod_nameservers(spec, kubelet, node_resolv) == ["10.3.0.10"]


# --------------------------------------------------------------------------- aggregation


def test_flags_name_files_the_controllers_get() -> None:
    """Every credential a control-plane flag names is one the controllers fetch."""
    fetched = set(ROLE_FILES["controller"])
    for manifest in ("kube-apiserver", "kube-controller-manager"):
        named = {v.removeprefix(PKI) for v in flags(manifest).values() if v.startswith(PKI)}
        assert named <= fetched, (manifest, named - fetched)


def test_an_aggregated_api_server_accepts_the_proxy_and_no_one_else(creds, tmp_path) -> None:
    """The aggregation layer's handshake, done for real: a backend configured as
    k8s.io/apiserver's request-header authenticator is (client certificate verified
    against --requestheader-client-ca-file, its CN one of --requestheader-allowed-names,
    then the user from the --requestheader-username-headers header) and curl presenting
    --proxy-client-cert-file/--proxy-client-key-file, as kube-apiserver does."""
    curl = helpers.require_tool("curl")
    f = flags("kube-apiserver")
    for name, data in creds.items():
        (tmp_path / name).write_bytes(data)
    local = {k: tmp_path / v.removeprefix(PKI) for k, v in f.items() if v.startswith(PKI)}
    allowed = f["requestheader-allowed-names"].split(",")
    user_header = f["requestheader-username-headers"]
    seen: list[tuple[str, str]] = []

    class Backend(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            cn = dict(x[0] for x in self.connection.getpeercert()["subject"])["commonName"]
            ok = cn in allowed
            seen.append((cn, self.headers.get(user_header) if ok else ""))
            body = json.dumps({"user": seen[-1][1]}).encode() if ok else b"forbidden"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    # The backend trusts the request-header CA for clients (helpers.tls_server verifies
    # clients against the file it is given as ca.pem) and serves a cluster certificate.
    backend_creds = {**creds, "ca.pem": local["requestheader-client-ca-file"].read_bytes()}
    (tmp_path / "backend").mkdir()
    with helpers.tls_server(backend_creds, Backend, tmp_path / "backend") as server:
        url = f"https://127.0.0.1:{server.server_address[1]}/apis/metrics.k8s.io/v1beta1"

        def call(cert: Path, key: Path) -> subprocess.CompletedProcess:
            return subprocess.run([curl, "-sS", "--cacert", str(tmp_path / "ca.pem"), "--cert",
                                   str(cert), "--key", str(key), "-H", f"{user_header}: alice",
                                   url], capture_output=True, text=True, timeout=20)

        out = call(local["proxy-client-cert-file"], local["proxy-client-key-file"])
        assert out.returncode == 0 and json.loads(out.stdout) == {"user": "alice"}, out
        # A certificate of the cluster CA -- even the admin's -- is no front proxy.
        out = call(tmp_path / "admin.pem", tmp_path / "admin-key.pem")
        assert out.returncode != 0, out
        # Refused in the handshake: the chain does not lead to the request-header CA.
        (reason,) = server.rejected
        assert reason in ("unable to get local issuer certificate",
                          "self-signed certificate in certificate chain"), reason
    assert seen == [("front-proxy-client", "alice")]


# --------------------------------------------------------------------------- health checks


def anonymous_may_get(path: str, apiserver: dict[str, str]) -> bool:
    """kube-apiserver's answer to an unauthenticated GET (what a load balancer's HTTPS
    health check sends): anonymous requests are authenticated as system:anonymous in
    system:unauthenticated unless --anonymous-auth=false (reference/access-authn-authz/
    authentication, "Anonymous requests"); with RBAC, the default ClusterRoleBinding
    system:public-info-viewer lets that group GET /healthz, /livez, /readyz and /version
    (rbac docs, "Default roles and role bindings")."""
    if apiserver.get("anonymous-auth", "true") == "false" or "authentication-config" in apiserver:
        return False
    modes = apiserver.get("authorization-mode", "AlwaysAllow").split(",")
    return "RBAC" in modes and path in ("/healthz", "/livez", "/readyz", "/version")


def test_load_balancers_check_api_readiness_which_anonymous_clients_may_ask(tmp_path) -> None:
    lbs = hcl2.loads((helpers.REPO / "modules" / "controllers" / "load_balancer.tf").read_text())
    groups = {k.strip('"'): v for r in lbs["resource"] for t, named in r.items()
              if t.strip('"') == "aws_lb_target_group" for k, v in named.items()}
    assert set(groups) == {"api", "internal"}
    for name, tg in groups.items():
        (check,) = tg["health_check"]
        assert (check["protocol"], check["path"], check["matcher"]) == (
            '"HTTPS"', '"/readyz"', '"200"'), name
        assert anonymous_may_get(check["path"].strip('"'), flags("kube-apiserver")), name


# --------------------------------------------------------------------------- kubelets


def seconds(value: str) -> int:
    return int(value.removesuffix("s"))


def test_kubelet_shutdown_fits_in_logind_delay_and_serving_certs_are_verified() -> None:
    for role in ("controller", "worker"):
        fs = files(role)
        kubelet = yaml.safe_load(fs["/etc/kubernetes/kubelet-config.yaml"])
        grace = seconds(kubelet["shutdownGracePeriod"])
        critical = seconds(kubelet["shutdownGracePeriodCriticalPods"])
        assert 0 < critical < grace, role
        # The kubelet's delay lock lasts no longer than logind allows (InhibitDelayMaxSec);
        # Flatcar's default is 5 s (logind.conf(5)).
        logind = fs["/etc/systemd/logind.conf.d/kopsgen-kubelet.conf"]
        assert grace <= seconds(re.search(r"^InhibitDelayMaxSec=(\d+)", logind, re.M)[1])
        assert kubelet["serverTLSBootstrap"] is True
    # kube-apiserver verifies kubelets with the CA kube-controller-manager signs them with.
    api, kcm = flags("kube-apiserver"), flags("kube-controller-manager")
    assert api["kubelet-certificate-authority"] == kcm["cluster-signing-cert-file"] == \
        f"{PKI}ca.pem"
    assert "/opt/bin/kopsgen-approve-kubelet-serving" in files("controller")


# --------------------------------------------------------------------------- IAM

#: The control-plane policy of the AWS cloud-controller-manager, as documented in
#: kubernetes/cloud-provider-aws docs/prerequisites.md ("Control Plane Policy", read at
#: 2f4b2e2f). Actions kopsgen leaves out on purpose are in OMITTED, each with its reason.
CCM_ACTIONS = """
autoscaling:DescribeAutoScalingGroups autoscaling:DescribeLaunchConfigurations
autoscaling:DescribeTags ec2:DescribeInstances ec2:DescribeRegions ec2:DescribeRouteTables
ec2:DescribeSecurityGroups ec2:DescribeSubnets ec2:DescribeVolumes
ec2:DescribeAvailabilityZones ec2:CreateSecurityGroup ec2:CreateTags ec2:CreateVolume
ec2:ModifyInstanceAttribute ec2:ModifyVolume ec2:AttachVolume
ec2:AuthorizeSecurityGroupIngress ec2:CreateRoute ec2:DeleteRoute ec2:DeleteSecurityGroup
ec2:DeleteVolume ec2:DetachVolume ec2:RevokeSecurityGroupIngress ec2:DescribeVpcs
ec2:DescribeInstanceTopology elasticloadbalancing:AddTags
elasticloadbalancing:AttachLoadBalancerToSubnets
elasticloadbalancing:ApplySecurityGroupsToLoadBalancer
elasticloadbalancing:CreateLoadBalancer elasticloadbalancing:CreateLoadBalancerPolicy
elasticloadbalancing:CreateLoadBalancerListeners elasticloadbalancing:ConfigureHealthCheck
elasticloadbalancing:DeleteLoadBalancer elasticloadbalancing:DeleteLoadBalancerListeners
elasticloadbalancing:DescribeLoadBalancers elasticloadbalancing:DescribeLoadBalancerAttributes
elasticloadbalancing:DetachLoadBalancerFromSubnets
elasticloadbalancing:DeregisterInstancesFromLoadBalancer
elasticloadbalancing:ModifyLoadBalancerAttributes
elasticloadbalancing:RegisterInstancesWithLoadBalancer
elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer
elasticloadbalancing:CreateListener elasticloadbalancing:CreateTargetGroup
elasticloadbalancing:DeleteListener elasticloadbalancing:DeleteTargetGroup
elasticloadbalancing:DescribeListeners elasticloadbalancing:DescribeLoadBalancerPolicies
elasticloadbalancing:DescribeTargetGroups elasticloadbalancing:DescribeTargetHealth
elasticloadbalancing:ModifyListener elasticloadbalancing:ModifyTargetGroup
elasticloadbalancing:RegisterTargets elasticloadbalancing:DeregisterTargets
elasticloadbalancing:SetLoadBalancerPoliciesOfListener iam:CreateServiceLinkedRole
kms:DescribeKey
""".split()
OMITTED = {
    # Volumes are the EBS CSI driver's (its own policy); the CCM runs no volume controller.
    "ec2:CreateVolume": "ebs-csi", "ec2:AttachVolume": "ebs-csi",
    "ec2:DeleteVolume": "ebs-csi", "ec2:DetachVolume": "ebs-csi", "ec2:ModifyVolume": "ebs-csi",
    # Only the route controller uses these (aws_routes.go: routes, and source/destination
    # checks through ModifyInstanceAttribute); kopsgen runs it with --configure-cloud-routes=false.
    "ec2:CreateRoute": "routes", "ec2:DeleteRoute": "routes",
    "ec2:ModifyInstanceAttribute": "routes",
}


def test_the_cloud_controller_manager_may_do_what_it_documents() -> None:
    policies = helpers.REPO / "modules" / "iam" / "policies"
    text = (policies / "cloud-provider.json.tftpl").read_text()
    doc = json.loads(re.sub(r"\$\{[a-z_]+\}", "x", text))
    allowed = {a for s in doc["Statement"] if s["Effect"] == "Allow"
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    missing = [a for a in CCM_ACTIONS if a not in allowed and a not in OMITTED]
    assert missing == []
    ebs = json.loads(re.sub(r"\$\{[a-z_]+\}", "x", (policies / "ebs-csi.json.tftpl").read_text()))
    ebs_allowed = {a for s in ebs["Statement"]
                   for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a for a, where in OMITTED.items() if where == "ebs-csi"} <= ebs_allowed
