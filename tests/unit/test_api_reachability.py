"""Can every in-cluster client reach the API, in every example's subnet layout?

Read off the rendered workspace (the root module's inputs, modules/controllers' load balancers
and security-group rules) and the rendered cloud-configs (the API address each client is
given), and judged by these rules of AWS networking:

  N1  An internal load balancer is reached at its private addresses, from inside the VPC:
      its security group sees the client's private address, and a rule that references a
      security group admits the members of that group (VPC user guide, "Security group
      rules": a referenced group matches traffic from the private IP addresses of its
      members).
  N2  An internet-facing load balancer is reached at its public addresses: a client in a
      private subnet arrives from its NAT gateway's Elastic IP, one in a public subnet from
      its own public address. A rule that references a security group never matches that
      traffic; only a CIDR rule that covers an arbitrary public address (0.0.0.0/0) admits
      it (the NAT address is not one the user listed).
  N3  With client IP preservation (the default for instance targets), a target that reaches
      itself through the load balancer fails: source and destination are the same address
      (Network Load Balancer guide, "Client IP preservation": loopback is not supported).
  N4  127.0.0.1 is the API server on the machine itself: only on a controller.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import hcl2
import helpers
import pytest
import yaml

from kopsgen.render.cloudconfig import ROLES

EXAMPLES = sorted(p.parent.name for p in (helpers.REPO / "examples").glob("*/cluster.yaml"))


def _q(value):
    return value.strip('"') if isinstance(value, str) else value


def _blocks(doc: dict, kind: str) -> dict[str, dict]:
    return {_q(k): v for b in doc.get(kind, []) for k, v in b.items()}


def _resources(doc: dict) -> dict[tuple[str, str], dict]:
    return {(_q(t), _q(n)): attrs for r in doc.get("resource", [])
            for t, named in r.items() for n, attrs in named.items()}


def _subnet_names(refs: list[str]) -> list[str]:
    return [r.split('subnet_ids["', 1)[1].split('"]', 1)[0] for r in refs]


class Workspace:
    def __init__(self, example: str, tmp: Path):
        cluster = tmp / example
        terraform = helpers.render_example(example, cluster)
        self.root = hcl2.loads((terraform / "main.tf").read_text())
        self.modules = _blocks(self.root, "module")
        self.controllers = self.modules["controllers"]
        self.lbs = _resources(hcl2.loads(
            (terraform / "modules" / "controllers" / "load_balancer.tf").read_text()))
        self.subnets = {n: s for n, s in self.modules["network"]["subnets"].items()}
        self.public_ips = self.modules["network"]["map_public_ips"]
        self.configs = {r: yaml.safe_load((cluster / "userdata" / f"cloud-config-{r}").read_text())
                        for r in ROLES}
        shutil.rmtree(cluster)

    def var(self, expr: str):
        """${var.x} of modules/controllers, or toset()/keys of it, from the root's inputs."""
        name = expr.removeprefix("${").removesuffix("}")
        name = name.removeprefix("toset(").removesuffix(")").removeprefix("var.")
        value = self.controllers[name]
        return [_q(v) for v in value] if isinstance(value, list) else value

    def load_balancer(self, host: str) -> str | None:
        """Which aws_lb a host name leads to (the dns module's record, or the internal one)."""
        if host == _q(self.controllers["internal_api_name"]):
            record = self.lbs[("aws_route53_record", "internal")]
            return record["alias"][0]["name"].split(".")[1]
        if "dns" in self.modules and host == _q(self.modules["dns"]["external_dns_name"]):
            return "api"
        return None

    def admits(self, lb: str) -> tuple[set[str], list[str]]:
        """(security groups, CIDRs) the load balancer's security group admits on 443."""
        sg = self.lbs[("aws_lb", lb)]["security_groups"][0].split(".")[1]
        groups, cidrs = set(), []
        for (kind, _), rule in self.lbs.items():
            if kind != "aws_vpc_security_group_ingress_rule" or \
                    rule["security_group_id"] != f"${{aws_security_group.{sg}.id}}":
                continue
            over = self.var(rule["for_each"])
            if "referenced_security_group_id" in rule:
                groups |= set(over)
            else:
                cidrs += over
        return groups, cidrs

    def keeps_client_ip(self, lb: str) -> bool:
        listener = next(r for (k, _), r in self.lbs.items()
                        if k == "aws_lb_listener" and r["load_balancer_arn"] == f"${{aws_lb.{lb}.arn}}")
        tg = listener["default_action"][0]["target_group_arn"].split(".")[1]
        return self.lbs[("aws_lb_target_group", tg)].get("preserve_client_ip", True) is not False

    def clients(self):
        """(role, what, server URL, its subnet names) of every API client on the nodes."""
        pools = [m for name, m in self.modules.items() if name.startswith("pool_")]
        where = {"controller": [_subnet_names(self.controllers["subnet_ids"])],
                 "worker": [_subnet_names(p["subnet_ids"]) for p in pools]}
        for role in ("controller", "worker"):
            files = {f["path"]: f["content"] for f in self.configs[role]["write_files"]}
            servers = {"kubelet": yaml.safe_load(files["/etc/kubernetes/kubelet-kubeconfig"])}
            proxy = next((d for d in yaml.safe_load_all(
                self.configs_file("controller", "/etc/kubernetes/addons/kube-proxy.yaml"))
                if d["kind"] == "ConfigMap"), None)
            servers["kube-proxy"] = yaml.safe_load(proxy["data"]["kubeconfig.conf"])
            for what, kubeconfig in servers.items():
                url = kubeconfig["clusters"][0]["cluster"]["server"]
                for subnets in where[role]:
                    yield role, what, url, subnets

    def configs_file(self, role: str, path: str) -> str:
        return next(f["content"] for f in self.configs[role]["write_files"] if f["path"] == path)


def reaches(ws: Workspace, role: str, url: str, subnets: list[str]) -> str | None:
    """None if a client of ``role`` in ``subnets`` reaches ``url``; else why not."""
    host = urlparse(url).hostname
    if host == "127.0.0.1":  # N4
        return None if role == "controller" else "127.0.0.1 is no API server on a worker"
    lb = ws.load_balancer(host)
    if lb is None:
        return f"{host} is no load balancer of the cluster"
    if role == "controller" and ws.keeps_client_ip(lb):  # N3
        return f"a controller reaching itself through aws_lb.{lb}, which keeps client IPs"
    groups, cidrs = ws.admits(lb)
    internal = ws.lbs[("aws_lb", lb)]["internal"]
    if internal is True or (isinstance(internal, str) and ws.var(internal) is True):  # N1
        return None if role in groups else f"aws_lb.{lb} admits no {role} nodes"
    for name in subnets:  # N2
        private = ws.subnets[name]["private"]
        if not private and not ws.public_ips:
            return f"subnet {name} has no route to aws_lb.{lb}'s public addresses"
        if "0.0.0.0/0" not in cidrs:
            source = "its NAT gateway's address" if private else "its public address"
            return (f"from subnet {name}, {role} nodes reach the internet-facing aws_lb.{lb} "
                    f"from {source}, which {cidrs} does not admit")
    return None


@pytest.fixture(scope="module", params=EXAMPLES)
def workspace(request, tmp_path_factory) -> Workspace:
    return Workspace(request.param, tmp_path_factory.mktemp("reach"))


def test_every_client_on_every_node_reaches_the_api(workspace: Workspace) -> None:
    clients = list(workspace.clients())
    assert {(r, w) for r, w, _, _ in clients} == {
        ("controller", "kubelet"), ("controller", "kube-proxy"),
        ("worker", "kubelet"), ("worker", "kube-proxy")}
    problems = [f"{role} {what} -> {url}: {why}" for role, what, url, subnets in clients
                if (why := reaches(workspace, role, url, subnets))]
    assert problems == []


def test_the_rules_find_what_the_first_release_got_wrong(tmp_path: Path) -> None:
    """Pointed at the public name, as the first release's kubeconfigs were, workers in the
    private subnets of ha-private (API limited to two ranges) cannot get there, and the
    controllers' kube-proxy would reach itself through a load balancer that keeps IPs."""
    ws = Workspace("ha-private", tmp_path)
    public = "https://api.prod.example.com"
    why = reaches(ws, "worker", public, ["private-a"])
    assert why == ("from subnet private-a, worker nodes reach the internet-facing aws_lb.api "
                   "from its NAT gateway's address, which ['203.0.113.0/24', "
                   "'198.51.100.0/24'] does not admit")
    assert reaches(ws, "controller", public, ["private-a"]).startswith(
        "a controller reaching itself through aws_lb.api")
    assert reaches(ws, "worker", f"https://{_q(ws.controllers['internal_api_name'])}",
                   ["private-a"]) is None
