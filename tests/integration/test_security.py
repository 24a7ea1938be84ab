"""Security of the rendered workspaces: checkov finds nothing, and what checkov cannot see
is proven here directly -- no private key outside credentials/ and kubeconfig, every volume
encrypted, IMDSv2 everywhere, and no ingress from the internet but the API listener and the
SSH CIDRs the user chose. docs/security.md explains each property and every checkov skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import helpers
import pytest

REPO = helpers.REPO
EXAMPLES = ("kubeops", "ha-private", "spot-pools")
CHECKOV = REPO / "scripts" / "checkov"
SECURITY_DOC = REPO / "docs" / "security.md"
# Where a private key may legitimately exist in plaintext (DESIGN.md "Secrets").
SECRET_PLACES = ("credentials", "kubeconfig")
# Ingress rules allowed to take a CIDR, and the variable their CIDRs must come from.
CIDR_INGRESS = {
    ("controllers", "api_from_cidr"): "var.api_access_allowed_source_cidrs",
    ("network", "ssh"): "local.ssh_rules",
}


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory) -> dict[str, Path]:
    """Each example rendered once per session: name -> cluster directory."""
    base = tmp_path_factory.mktemp("security")
    return {name: helpers.render_example(name, base / name).parent for name in EXAMPLES}


@pytest.fixture(scope="session")
def checkov_reports(workspaces) -> dict[str, dict]:
    """checkov's JSON report per example. The first run creates .venv-checkov (PyPI)."""
    reports = {}
    for name, cluster in workspaces.items():
        proc = subprocess.run(
            [str(CHECKOV), str(cluster / "terraform"), "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        venv = Path(os.environ.get("KOPSGEN_CHECKOV_VENV", REPO / ".venv-checkov"))
        if not (venv / ".installed").is_file():
            helpers.missing(f"checkov could not be installed into {venv}: {proc.stderr[-2000:]}")
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"scripts/checkov exited {proc.returncode} without a JSON report:\n"
                        f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        # With one framework checkov prints one report, not a list of them.
        assert isinstance(report, dict) and report["check_type"] == "terraform", report
        assert proc.returncode == (1 if report["summary"]["failed"] else 0), proc.stderr[-2000:]
        reports[name] = report
    return reports


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_checkov_fails_no_check(checkov_reports, example):
    report = checkov_reports[example]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']})"
              for c in report["results"]["failed_checks"]]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    # It really looked into the modules, through the root's calls.
    scanned = {c["resource"].split(".")[1] for c in report["results"]["passed_checks"]
               if c["resource"].startswith("module.")}
    assert {"etcd", "controllers", "network", "iam"} <= scanned, scanned


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_checkov_skip_is_reasoned_and_documented(checkov_reports, example):
    doc = SECURITY_DOC.read_text()
    for c in checkov_reports[example]["results"]["skipped_checks"]:
        reason = (c["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 30, f"{c['check_id']} on {c['resource']} is skipped without a reason"
        assert f"`{c['check_id']}`" in doc, f"docs/security.md does not list the skip of {c['check_id']}"


# -- what the scanner cannot see ------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_private_keys_only_in_credentials_and_kubeconfig(workspaces, example):
    cluster = workspaces[example]
    holders = sorted(p.relative_to(cluster).as_posix() for p in cluster.rglob("*")
                     if p.is_file() and b"PRIVATE KEY" in p.read_bytes())
    # The keys exist (so the search can find them), and only where they belong.
    assert any(h.startswith("credentials/") for h in holders), holders
    assert [h for h in holders if h.split("/")[0] not in SECRET_PLACES] == []


def _unquote(v):
    return v[1:-1] if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"' else v


def _resources(modules: Path):
    """(module, type, name, body) of every resource in the module HCL under ``modules``."""
    hcl2 = helpers.require_module("hcl2")
    for tf in sorted(modules.glob("*/*.tf")):
        for block in hcl2.loads(tf.read_text()).get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    yield tf.parent.name, _unquote(rtype), _unquote(rname), body


def _blocks(body: dict, name: str) -> list[dict]:
    """Nested blocks ``name`` of a resource, static or inside a dynamic block's content."""
    found = list(body.get(name, []))
    for dyn in body.get("dynamic", []):
        for label, inner in dyn.items():
            if _unquote(label) == name:
                found += inner.get("content", [])
    return found


@pytest.fixture(scope="module")
def module_resources(workspaces):
    # Every example carries the same module copy; read the one a user would review.
    return list(_resources(workspaces["kubeops"] / "terraform" / "modules"))


def test_every_volume_is_encrypted(module_resources):
    disks = []
    for module, rtype, rname, body in module_resources:
        where = f"{module}: {rtype}.{rname}"
        if rtype == "aws_ebs_volume":
            disks.append((where, body))
        for name in ("root_block_device", "ebs_block_device"):
            disks += [(f"{where} {name}", b) for b in _blocks(body, name)]
        for mapping in _blocks(body, "block_device_mappings"):
            disks += [(f"{where} block_device_mappings", b) for b in mapping.get("ebs", [])]
    assert len(disks) >= 4, disks  # etcd root and data, controller and worker roots
    for where, disk in disks:
        assert disk.get("encrypted") is True, f"{where} is not encrypted"
        assert disk.get("kms_key_id") == "${var.kms_key_arn}", f"{where} not under the cluster key"


def test_every_node_requires_imdsv2_with_hop_limit_1(module_resources):
    nodes = [(m, t, n, b) for m, t, n, b in module_resources
             if t in ("aws_instance", "aws_launch_template", "aws_launch_configuration")]
    assert {m for m, *_ in nodes} >= {"etcd", "controllers", "nodepool"}, nodes
    for module, rtype, rname, body in nodes:
        (metadata,) = body.get("metadata_options", [{}])
        assert _unquote(metadata.get("http_tokens")) == "required", f"{module}: {rtype}.{rname}"
        assert metadata.get("http_put_response_hop_limit") == 1, f"{module}: {rtype}.{rname}"


def test_ingress_from_addresses_only_for_the_api_and_ssh(module_resources):
    with_cidr = set()
    for module, rtype, rname, body in module_resources:
        where = f"{module}: {rtype}.{rname}"
        assert rtype != "aws_security_group_rule", f"{where}: use aws_vpc_security_group_*_rule"
        if rtype in ("aws_security_group", "aws_default_security_group"):
            assert not _blocks(body, "ingress"), f"{where} has inline ingress rules"
        if rtype != "aws_vpc_security_group_ingress_rule":
            continue
        assert "0.0.0.0/0" not in json.dumps(body) and "::/0" not in json.dumps(body), where
        if "cidr_ipv4" in body or "cidr_ipv6" in body or "prefix_list_id" in body:
            with_cidr.add((module, rname))
            source = CIDR_INGRESS.get((module, rname))
            assert source and source in body.get("for_each", ""), f"{where} takes addresses from elsewhere"
    assert with_cidr == set(CIDR_INGRESS)


def test_ssh_rules_come_only_from_the_ssh_variable(workspaces):
    text = (workspaces["kubeops"] / "terraform" / "modules" / "network" / "security_groups.tf").read_text()
    (rules,) = re.findall(r"\n  ssh_rules = \{\n(.*?)\n  \}\n", text, re.S)
    assert "setproduct(keys(local.security_groups), var.ssh_access_allowed_source_cidrs)" in rules


@pytest.mark.parametrize("example", EXAMPLES)
def test_rendered_roots_open_only_what_cluster_yaml_says(workspaces, example):
    import yaml

    cluster = workspaces[example]
    spec = yaml.safe_load((cluster / "cluster.yaml").read_text())
    main = (cluster / "terraform" / "main.tf").read_text()
    ssh = re.search(r"ssh_access_allowed_source_cidrs = \[(.*?)\]", main, re.S).group(1)
    assert re.findall(r'"([^"]+)"', ssh) == spec.get("sshAccessAllowedSourceCIDRs", [])
    api = re.search(r"api_access_allowed_source_cidrs = \[(.*?)\]", main, re.S).group(1)
    assert re.findall(r'"([^"]+)"', api) == spec.get("apiAccessAllowedSourceCIDRs", ["0.0.0.0/0"])


def test_what_checkov_skips_for_counted_resources_is_still_secure(module_resources):
    """checkov takes `var.vpc_id == null` for false, so it never instantiates the resources
    that exist only when the network module creates the VPC: check them here."""
    by_type: dict[str, list[dict]] = {}
    for _, rtype, _, body in module_resources:
        by_type.setdefault(rtype, []).append(body)
    assert by_type["aws_kms_key"] and all(k.get("enable_key_rotation") is True for k in by_type["aws_kms_key"])
    (group,) = by_type["aws_cloudwatch_log_group"]
    assert group.get("kms_key_id") == "${aws_kms_key.flow_logs[0].arn}"
    assert group.get("retention_in_days") == "${var.flow_log_retention_days}"
    (flow,) = by_type["aws_flow_log"]
    assert _unquote(flow["traffic_type"]) == "ALL"
    (default_sg,) = by_type["aws_default_security_group"]
    assert not _blocks(default_sg, "ingress") and not _blocks(default_sg, "egress")


def test_the_assets_bucket_logs_every_request_to_its_access_log_bucket(module_resources, workspaces):
    """The reason the CKV_AWS_18 skip gives for the log bucket holds: the assets bucket's
    server access logs go to it, and its policy admits S3 log delivery from that bucket only."""
    bucket = {(m, t, n): b for m, t, n, b in module_resources if m == "assets_bucket"}
    (logging,) = [b for (_, t, _), b in bucket.items() if t == "aws_s3_bucket_logging"]
    assert logging["bucket"] == "${aws_s3_bucket.this.id}"
    assert logging["target_bucket"] == "${aws_s3_bucket.access_logs.id}"
    assert ("assets_bucket", "aws_s3_bucket_policy", "access_logs") in bucket
    policy = workspaces["kubeops"] / "terraform" / "modules" / "assets_bucket" / "access-logs-policy.json.tftpl"
    statements = json.loads(re.sub(r"\$\{[a-z_]+\}", "x", policy.read_text()))["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert set(allow["Condition"]["ArnLike"]) == {"aws:SourceArn"}
    assert set(allow["Condition"]["StringEquals"]) == {"aws:SourceAccount"}
