"""Arbitrary strings in every string field of cluster.yaml: refused with a clean error, or
rendered into files their own tools accept.

For each example one string field (a value, or a mapping key where the user chooses keys)
gets a generated string: arbitrary text, or a valid value with a hostile piece spliced in
(a newline, ``${``, a quote, a control character, a lone surrogate ...). Then either

* ``load_spec_text`` refuses it with a :class:`SpecError` whose every line is one line,
  at a ``file:line`` position, naming a field -- the one changed or one it feeds; or
* the in-memory render (what ``kopsgen render`` writes, nothing on disk) parses: the
  Terraform root module with the real ``terraform fmt`` (and is left unchanged by it),
  every cloud-config, every YAML file inside it and the kubeconfig with
  ``yaml.safe_load``, and every shell script a value reached with ``shellcheck``.

Hypothesis runs derandomized with a fixed number of examples, so CI sees the same inputs
every run and stays within a few seconds per test.
"""

from __future__ import annotations

import copy
import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from helpers import require_tool
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kopsgen.errors import SpecError
from kopsgen.render.stack import render_stack
from kopsgen.render.workspace_files import render_credentials_part, render_userdata
from kopsgen.spec import load_spec_text
from kopsgen.spec.yamlload import format_path

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: A valid cluster.yaml in which every string field of the schema is written at least once.
BASE: dict = {
    "clusterName": "k8s",
    "externalDNSName": "k8s.example.com",
    "region": "us-east-1",
    "createRecordSet": True,
    "hostedZoneId": "Z0123456789ABC",
    "keyName": "admin",
    "kmsKeyArn": "",
    "controllerInstanceType": "t3.medium",
    "controllerRootVolumeType": "gp3",
    "controller": {
        "subnets": [{"name": "public1"}],
        "securityGroupIds": ["sg-0123456789abcdef0"],
    },
    "worker": {"nodePools": [{
        "name": "pool1",
        "count": 2,
        "instanceType": "t3.large",
        "rootVolumeType": "gp3",
        "spotPrice": "0.05",
        "subnets": [{"name": "public2"}],
        "nodeLabels": {"example.com/team": "web"},
        "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
        "securityGroupIds": ["sg-0123456789abcdef1"],
    }]},
    "workerInstanceType": "t3.medium",
    "workerRootVolumeType": "gp3",
    "workerSecurityGroupIds": ["sg-0123456789abcdef2"],
    "etcdInstanceType": "t3.medium",
    "etcdRootVolumeType": "gp3",
    "etcdDataVolumeType": "gp3",
    "etcd": {"subnets": [{"name": "public1"}]},
    "vpcCIDR": "10.0.0.0/16",
    "subnets": [
        {"name": "public1", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
        {"name": "public2", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.1.0/24"},
    ],
    "serviceCIDR": "10.3.0.0/24",
    "podCIDR": "10.2.0.0/16",
    "dnsServiceIP": "10.3.0.10",
    "kubernetesVersion": "v1.34.2",
    "stackTags": {"Name": "Kubernetes"},
    "s3URI": "s3://example-bucket/clusters",
    "assets": {"fileRepository": "https://mirror.example.com/files",
               "containerRegistry": "mirror.example.com/k8s"},
    "sshAccessAllowedSourceCIDRs": ["192.0.2.0/24"],
    "apiAccessAllowedSourceCIDRs": ["0.0.0.0/0"],
}

#: String fields absent from BASE (each changes what is rendered when present).
OPTIONAL = {
    ("amiId",): "ami-0123456789abcdef0",
    ("vpcId",): "vpc-0123456789abcdef0",
    ("workerSpotPrice",): "0.04",
    ("sshAuthorizedKeys", 0): "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb me@example.com",
}

#: Where a changed field can also show up: other fields that name it or are checked
#: against it (a subnet's name is referenced by controller/etcd/pool subnets, a region
#: decides the zones and the KMS key's region ...).
RELATED = {
    "region": ("subnets", "kmsKeyArn"),
    "subnets": ("controller", "etcd", "worker"),
    "vpcCIDR": ("subnets", "podCIDR", "serviceCIDR"),
    "serviceCIDR": ("dnsServiceIP", "podCIDR", "vpcCIDR"),
    "podCIDR": ("serviceCIDR", "vpcCIDR"),
    "vpcId": ("internetGatewayId", "routeTableId"),
    "workerSpotPrice": ("worker",),
    "hostedZoneId": ("createRecordSet",),
}


def _string_fields(node, path=()):
    """(path, is_key) of every string value and every user-chosen mapping key in ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if path and path[-1] in ("nodeLabels", "stackTags"):
                yield path + (k,), True
            yield from _string_fields(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _string_fields(v, path + (i,))
    elif isinstance(node, str):
        yield path, False


FIELDS = sorted({*_string_fields(BASE), *((p, False) for p in OPTIONAL)}, key=repr)


def _get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: dict, path: tuple, value: str, is_key: bool) -> None:
    parent = doc
    for i, part in enumerate(path[:-1]):
        if isinstance(parent, dict) and part not in parent:
            parent[part] = [] if isinstance(path[i + 1], int) else {}
        parent = parent[part]
    last = path[-1]
    if is_key:
        parent[value] = parent.pop(last)
    elif isinstance(parent, list) and last >= len(parent):
        parent.append(value)
    else:
        parent[last] = value


def _original(path: tuple, is_key: bool) -> str:
    if is_key:
        return path[-1]
    if path in OPTIONAL:
        return OPTIONAL[path]
    return _get(BASE, path)


#: Pieces that break one encoding or another when they get through unescaped.
HOSTILE = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u200b", "\ud800",
           "\U0001f600", "${a}", "%{a}", "$${", '"', "'", "\\", "$(id)", "`id`", "*", "?",
           "#", " ", ": ", "- ", "{", "}", "[", "]", "&a", "!!str", "é", "中", ",", "=",
           "..", "/", "%", "A", "-", "."]


@st.composite
def mutations(draw):
    path, is_key = draw(st.sampled_from(FIELDS))
    original = _original(path, is_key)
    value = draw(st.one_of(
        st.text(max_size=24),
        st.builds(lambda piece, at: original[:at] + piece + original[at:],
                  st.one_of(st.sampled_from(HOSTILE), st.text(max_size=3)),
                  st.integers(0, len(original))),
        st.builds(lambda a, b: original + a + b, st.sampled_from(HOSTILE),
                  st.sampled_from(HOSTILE)),
        st.just(original.upper()),
    ))
    return path, is_key, value


_TF_SEEN: set[str] = set()
_SH_SEEN: set[str] = set()
_YAML_SEEN: set[str] = set()
#: libyaml's parser where PyYAML has it (the same YAML, ten times faster); pure Python else.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str | bytes) -> list:
    return list(yaml.load_all(text, Loader=_LOADER))


def _check_terraform(files: dict, tmp: Path) -> None:
    terraform = require_tool("terraform")
    text = "".join(files[f"terraform/{n}"].content.decode() + "\n"
                   for n in ("versions.tf", "main.tf", "outputs.tf"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest in _TF_SEEN:
        return
    proc = subprocess.run([terraform, "fmt", "-no-color", "-"], input=text, capture_output=True,
                          text=True, check=False, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text, "terraform fmt would change the rendered root module"
    _TF_SEEN.add(digest)


def _check_yaml(files: dict) -> list[tuple[str, str]]:
    """Every cloud-config, the YAML files inside them and the kubeconfig parse; returns
    the shell scripts written by the cloud-configs."""
    scripts = []
    for path, generated in files.items():
        if not (path.startswith("userdata/") or path == "kubeconfig"):
            continue
        digest = hashlib.sha256(generated.content).hexdigest()
        if digest in _YAML_SEEN:
            continue
        (config,) = _parse(generated.content)
        assert isinstance(config, dict), path
        for f in config.get("write_files", []):
            content = f["content"]
            if f["path"].endswith((".yaml", ".yml", "kubeconfig")):
                _parse(content)
            if content.startswith(("#!/bin/sh", "#!/bin/bash")):
                scripts.append((f["path"], content))
        _YAML_SEEN.add(digest)
    return scripts


def _check_shell(scripts: list[tuple[str, str]], tmp: Path) -> None:
    fresh = []
    for path, content in scripts:
        digest = hashlib.sha256(content.encode()).hexdigest()
        if digest not in _SH_SEEN:
            fresh.append((path, content, digest))
    if not fresh:
        return
    shellcheck = require_tool("shellcheck")
    names = []
    for i, (path, content, _) in enumerate(fresh):
        target = tmp / f"{i}-{Path(path).name}"
        target.write_text(content)
        names.append(str(target))
    proc = subprocess.run([shellcheck, "--severity=style", *names], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _SH_SEEN.update(d for _, _, d in fresh)


_CREDENTIALS: dict[str, bytes] = {}


def _rendered(spec) -> dict:
    """What `kopsgen render` writes, in memory. The keys of the first render are reused
    (as a re-render does), so an example pays only for the certificates it changes."""
    files = {}
    rendered = render_credentials_part(spec, _CREDENTIALS, NOW).files
    if not _CREDENTIALS:
        _CREDENTIALS.update({k.removeprefix("credentials/"): v.content
                             for k, v in rendered.items() if k.startswith("credentials/")})
    files.update(rendered)
    files.update(render_userdata(spec))
    files.update(render_stack(spec))
    return files


def test_base_document_renders(tmp_path):
    spec = load_spec_text(yaml.safe_dump(BASE)).spec
    files = _rendered(spec)
    _check_terraform(files, tmp_path)
    _check_shell(_check_yaml(files), tmp_path)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutations())
def test_every_string_field(tmp_path, mutation):
    path, is_key, value = mutation
    doc = copy.deepcopy(BASE)
    _set(doc, path, value, is_key)
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        loaded = load_spec_text(text)
    except SpecError as err:
        assert err.problems
        for p in err.problems:
            line = str(p)
            assert "\n" not in line and "\r" not in line, repr(line)
            assert p.line > 0 and p.field, line
        where = format_path(path[:-1] if is_key else path)
        top = str(path[0])
        fields = [p.field for p in err.problems]
        event("refused")
        assert any(f.startswith(where) or f.startswith(top)
                   or f.startswith(RELATED.get(top, ())) for f in fields), fields
        return
    event("accepted")
    files = _rendered(loaded.spec)
    _check_shell(_check_yaml(files), tmp_path)
    _check_terraform(files, tmp_path)


#: Printable ASCII is allowed in EC2 key names and SSH key comments, ``${`` included; the
#: encoders escape it (test_every_string_field renders such values).
_PRINTABLE_ASCII = ("keyName", "sshAuthorizedKeys")
SUFFIX_CASES = [(path, is_key, suffix) for suffix in ("\n", "\x00", "${x}") for path, is_key in FIELDS
                if not (suffix == "${x}" and path[0] in _PRINTABLE_ASCII)]


@pytest.mark.parametrize("path, is_key, suffix", SUFFIX_CASES, ids=[
    f"{format_path(p)}{'(key)' if k else ''}-{ {chr(10): 'newline', chr(0): 'nul'}.get(x, 'interp')}"
    for p, k, x in SUFFIX_CASES])
def test_each_field_refuses_control_and_interpolation(path, is_key, suffix):
    """The audit's cases, field by field: a value that is valid but for a trailing newline,
    a NUL or a Terraform interpolation is refused, at that field."""
    doc = copy.deepcopy(BASE)
    _set(doc, path, _original(path, is_key) + suffix, is_key)
    with pytest.raises(SpecError) as info:
        load_spec_text(yaml.safe_dump(doc, sort_keys=False))
    fields = [p.field for p in info.value.problems]
    where = format_path(path[:-1] if is_key else path)
    assert any(f.startswith(where) for f in fields), fields


#: Values at the edges of what validate accepts: each must also get through Terraform.
EDGES: dict = {
    **copy.deepcopy(BASE),
    "clusterName": "k" * 20,
    "recordSetTTL": 2_147_483_647,
    "tlsCADurationDays": 36_525,
    "tlsCertDurationDays": 36_525,
    "keyName": 'a "quoted" ${key} %{name}',
    "stackTags": {"Équipe 中文": "a+b-c=d.e_f:g/h@i ٣", "for": "", "null": "x"},
    "s3URI": "s3://example-bucket/Team.A/k8s_prod-1",
    "subnets": [
        {"name": "Public-A", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
        {"name": "public2", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.1.0/24"},
    ],
}
EDGES["controller"] = {**BASE["controller"], "subnets": [{"name": "Public-A"}]}
EDGES["etcd"] = {"subnets": [{"name": "Public-A"}]}
EDGES["worker"] = {"nodePools": [{
    **BASE["worker"]["nodePools"][0],
    "name": "p" * 40,
    "spotPrice": "10000",
    "nodeLabels": {"null": "true", "for": "in", "example.com/x": "a" * 63},
    "taints": [{"key": "if", "value": "", "effect": "NoExecute"}],
}]}


@pytest.mark.slow
def test_values_at_the_edges_validate_in_terraform(tmp_path):
    import helpers

    terraform = require_tool("terraform")
    spec = load_spec_text(yaml.safe_dump(EDGES, allow_unicode=True)).spec
    files = _rendered(spec)
    for rel, generated in files.items():
        if rel.startswith("terraform/"):
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(generated.content)
    for rel in ("userdata/cloud-config-etcd", "userdata/cloud-config-controller",
                "userdata/cloud-config-worker"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(files[rel].content)
    env = helpers.terraform_env(tmp_path)
    workdir = tmp_path / "terraform"
    for args in (["fmt", "-check", "-recursive"], ["init", "-backend=false", "-input=false"],
                 ["validate", "-no-color"]):
        proc = subprocess.run([terraform, *args], cwd=workdir, env=env, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, f"terraform {args[0]}:\n{proc.stdout}\n{proc.stderr}"
