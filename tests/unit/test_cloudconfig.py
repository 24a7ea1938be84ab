"""The Flatcar cloud-configs: coreos-cloudinit shape, no secrets, valid manifests, scripts
that pass shellcheck and behave, and changes that stay where they belong."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shlex
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helpers import require_tool
from kubernetes_validate.utils import all_versions

from kopsgen.render import pki
from kopsgen.render.cloudconfig import (
    CLOUD_CONTROLLER_MANAGER_IMAGES,
    CREDENTIAL_FILES,
    IMAGES,
    ROLES,
    SUPPORTED_MINORS,
    CloudConfigParams,
    kubernetes_minor,
    render_cloudconfigs,
)

MEMBERS = (
    ("etcd0", "etcd0.k8s.internal"),
    ("etcd1", "etcd1.k8s.internal"),
    ("etcd2", "etcd2.k8s.internal"),
)
PARAMS = CloudConfigParams(
    cluster_name="k8s",
    external_dns_name="k8s.kubeops.net",
    region="us-east-1",
    kubernetes_version="v1.34.2",
    etcd_version="v3.5.21",
    etcd_members=MEMBERS,
    internal_api_name="api.k8s.internal",
    service_cidr="10.3.0.0/24",
    pod_cidr="10.2.0.0/16",
    dns_service_ip="10.3.0.10",
)

# What coreos-cloudinit understands; anything else (runcmd, packages, ...) it ignores.
CLOUDINIT_KEYS = {"coreos", "write_files", "ssh_authorized_keys", "hostname", "users"}
COREOS_KEYS = {"units", "etcd2", "flannel", "locksmith", "update", "oem"}
UNIT_KEYS = {"name", "mask", "enable", "runtime", "content", "command", "drop-ins"}
UNIT_COMMANDS = {"start", "stop", "restart", "reload", "try-restart", "reload-or-restart"}
FILE_KEYS = {"path", "content", "permissions", "owner", "encoding"}
MANIFEST_DIRS = ("/etc/kubernetes/manifests/", "/etc/kubernetes/addons/")


def render(**changes: object) -> dict[str, dict]:
    """The three configs for PARAMS with ``changes``, parsed, keyed by role."""
    out = render_cloudconfigs(replace(PARAMS, **changes))
    return {role: yaml.safe_load(out[f"userdata/cloud-config-{role}"]) for role in ROLES}


def files(config: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in config["write_files"]}


def units(config: dict) -> dict[str, dict]:
    return {u["name"]: u for u in config["coreos"]["units"]}


def unit_values(content: str, key: str) -> list[str]:
    """All values of ``key=`` in a unit file (space-separated lists flattened)."""
    values: list[str] = []
    for line in content.splitlines():
        if line.startswith(f"{key}="):
            values.extend(line.split("=", 1)[1].split())
    return values


def manifests(config: dict) -> list[tuple[str, dict]]:
    docs = []
    for path, content in files(config).items():
        if path.startswith(MANIFEST_DIRS):
            docs.extend((path, d) for d in yaml.safe_load_all(content) if d)
    return docs


def shell_scripts(config: dict) -> dict[str, str]:
    return {
        p: c for p, c in files(config).items() if c.startswith(("#!/bin/sh", "#!/bin/bash"))
    }


# --------------------------------------------------------------------------- shape


def test_renders_exactly_the_three_userdata_files() -> None:
    out = render_cloudconfigs(PARAMS)
    assert sorted(out) == [
        "userdata/cloud-config-controller",
        "userdata/cloud-config-etcd",
        "userdata/cloud-config-worker",
    ]
    for data in out.values():
        assert data.startswith(b"#cloud-config\n")
        data.decode("utf-8")


@pytest.mark.parametrize("role", ROLES)
def test_uses_only_coreos_cloudinit_keys(role: str) -> None:
    config = render()[role]
    assert set(config) <= CLOUDINIT_KEYS
    assert set(config["coreos"]) <= COREOS_KEYS
    for unit in config["coreos"]["units"]:
        assert set(unit) <= UNIT_KEYS, unit["name"]
        assert unit["name"]
        assert "command" in unit or "content" in unit, unit["name"]
        assert unit.get("command", "start") in UNIT_COMMANDS
        for dropin in unit.get("drop-ins", []):
            assert set(dropin) == {"name", "content"}
            assert dropin["name"].endswith(".conf")
        if "content" in unit:
            assert "[Service]" in unit["content"] or "[Timer]" in unit["content"], unit["name"]
        if unit.get("enable"):
            # coreos-cloudinit enables through the [Install] section; without one, `enable`
            # silently does nothing (EnableUnitFiles reports "no install info").
            assert "[Install]" in unit.get("content", "[Install]"), unit["name"]
    paths = [f["path"] for f in config["write_files"]]
    assert len(paths) == len(set(paths))
    for f in config["write_files"]:
        assert set(f) <= FILE_KEYS
        assert f["path"].startswith("/")
        # coreos-cloudinit wants permissions as an octal string.
        assert isinstance(f["permissions"], str) and len(f["permissions"]) == 4
        int(f["permissions"], 8)


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("role", ROLES)
def test_no_secret_in_any_cloud_config(role: str) -> None:
    text = render_cloudconfigs(PARAMS)[f"userdata/cloud-config-{role}"].decode()
    assert "PRIVATE KEY" not in text
    assert "-----BEGIN" not in text
    for embedded in ("client-key-data", "client-certificate-data"):
        assert embedded not in text
    # No kubeconfig or config carries a bearer token or password inline.
    assert not re.search(r"^\s*(token|password)\s*:", text, re.MULTILINE)


@pytest.mark.parametrize("role", ROLES)
def test_credentials_unit_fetches_exactly_the_roles_files(role: str) -> None:
    config = render()[role]
    unit = units(config)["kopsgen-credentials.service"]
    (exec_start,) = [
        ln for ln in unit["content"].splitlines() if ln.startswith("ExecStart=")
    ]
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[:2] == ["/opt/bin/kopsgen-retry", "/opt/bin/kopsgen-fetch-credentials"]
    assert argv[2] == role
    assert tuple(argv[3:]) == CREDENTIAL_FILES[role]
    # Every credential the node uses is one it fetches, and nothing more.
    used = {
        word.split("/etc/kubernetes/pki/", 1)[1].rstrip('"')
        for content in files(config).values()
        for word in content.replace("=", " ").split()
        if "/etc/kubernetes/pki/" in word and word.rstrip('"').endswith(".pem")
    }
    if role == "etcd":  # the etcd wrapper names them relative to ${pki}
        used = {
            w.split("${pki}/", 1)[1].rstrip('"')
            for w in files(config)["/opt/bin/kopsgen-etcd"].replace("=", " ").split()
            if "${pki}/" in w
        }
    assert used == set(CREDENTIAL_FILES[role])


def test_credential_files_are_ones_the_pki_issues() -> None:
    for role in ROLES:
        assert set(CREDENTIAL_FILES[role]) <= set(pki.ALL_FILES), role
        # Everything the PKI means a role to have is fetched by that role.
        assert set(pki.ROLE_FILES[role]) <= set(CREDENTIAL_FILES[role]), role


@pytest.mark.parametrize("role", ROLES)
def test_units_that_use_credentials_require_them(role: str) -> None:
    config = render()[role]
    us, fs = units(config), files(config)
    users = set()
    for name, u in us.items():
        programs = [w for w in unit_values(u.get("content", ""), "ExecStart") if w in fs]
        # The program a unit runs (after kopsgen-retry) reads /etc/kubernetes/...
        if programs and name != "kopsgen-credentials.service" and "/etc/kubernetes/" in fs[programs[-1]]:
            users.add(name)
    expected = {"etcd": {"etcd.service", "kopsgen-etcd-reconcile.service",
                         "kopsgen-etcd-backup.service"},
                "worker": {"kubelet.service"}}.get(
        role, {"kubelet.service", "kopsgen-addons.service", "kopsgen-node-role.service",
               "kopsgen-approve-kubelet-serving.service"}
    )
    assert users == expected
    for name in users:
        content = us[name]["content"]
        # Directly, or through the unit it runs after (the reconciler needs etcd.service).
        needs = unit_values(content, "Requires")
        needs += [r for n in needs if n in us
                  for r in unit_values(us[n].get("content", ""), "Requires")]
        assert "kopsgen-credentials.service" in needs, name


# --------------------------------------------------------------------------- manifests


def test_kubernetes_validate_ships_every_supported_minor() -> None:
    shipped = {".".join(v.split(".")[:2]) for v in all_versions()}
    # Otherwise validate() silently falls back to an older schema.
    assert set(SUPPORTED_MINORS) <= shipped


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_every_manifest_validates_against_its_kubernetes_minor(minor: str) -> None:
    config = render(kubernetes_version=f"v{minor}.0")["controller"]
    docs = manifests(config)
    kinds = {d["kind"] for _, d in docs}
    assert {
        "Pod",
        "DaemonSet",
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "RoleBinding",
        "CSIDriver",
        "StorageClass",
    } <= kinds
    for path, doc in docs:
        try:
            got = kubernetes_validate.validate(doc, minor, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{path} {doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")
        assert got == minor


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_images_follow_the_kubernetes_version(minor: str) -> None:
    version = f"v{minor}.3"
    fs = files(render(kubernetes_version=version)["controller"])
    images = {
        c["image"]
        for path, d in manifests({"write_files": [{"path": p, "content": c} for p, c in fs.items()]})
        for spec in [d.get("spec", {}).get("template", {}).get("spec") or d.get("spec") or {}]
        for c in [*spec.get("containers", []), *spec.get("initContainers", [])]
    }
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert f"registry.k8s.io/{component}:{version}" in images
    ccm = CLOUD_CONTROLLER_MANAGER_IMAGES[minor]
    assert ccm.startswith(f"registry.k8s.io/provider-aws/cloud-controller-manager:v{minor}.")
    assert ccm in images
    assert {IMAGES[k] for k in IMAGES if k != "pause"} <= images
    assert all(":" in i and not i.endswith(":latest") for i in images)


def test_supported_minors_match_the_spec() -> None:
    from kopsgen.spec import model

    assert set(SUPPORTED_MINORS) == {f"{a}.{b}" for a, b in model.SUPPORTED_MINORS}
    # The spec's defaults render.
    render_cloudconfigs(
        replace(
            PARAMS,
            kubernetes_version=model.DEFAULT_KUBERNETES_VERSION,
            etcd_version=model.ETCD_VERSION,
        )
    )


@pytest.mark.parametrize("version", ["v1.32.9", "v1.37.0", "1.34.2", "v1.34"])
def test_unsupported_or_malformed_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError):
        render_cloudconfigs(replace(PARAMS, kubernetes_version=version))
    assert kubernetes_minor("v1.34.2") == "1.34"


def test_apiserver_flags() -> None:
    fs = files(render()["controller"])
    pod = yaml.safe_load(fs["/etc/kubernetes/manifests/kube-apiserver.yaml"])
    flags = dict(
        a.removeprefix("--").split("=", 1) for a in pod["spec"]["containers"][0]["command"][1:]
    )
    assert flags["etcd-servers"] == ",".join(f"https://{f}:2379" for _, f in MEMBERS)
    assert flags["authorization-mode"] == "Node,RBAC"
    assert "NodeRestriction" in flags["enable-admission-plugins"].split(",")
    assert flags["service-account-issuer"] == "https://k8s.kubeops.net"
    assert flags["service-cluster-ip-range"] == "10.3.0.0/24"
    assert flags["secure-port"] == "443"
    kcm = yaml.safe_load(fs["/etc/kubernetes/manifests/kube-controller-manager.yaml"])
    kcm_flags = kcm["spec"]["containers"][0]["command"]
    for flag in (
        "--cluster-signing-key-file=/etc/kubernetes/pki/ca-key.pem",
        "--allocate-node-cidrs=true",
        "--cluster-cidr=10.2.0.0/16",
        "--use-service-account-credentials=true",
        "--leader-elect=true",
    ):
        assert flag in kcm_flags


def test_bootstrap_rbac_and_dns_service() -> None:
    fs = files(render()["controller"])
    bindings = {
        (d["roleRef"]["name"], d["subjects"][0]["name"])
        for d in yaml.safe_load_all(fs["/etc/kubernetes/addons/kopsgen-rbac.yaml"])
    }
    assert bindings == {
        ("system:node-bootstrapper", pki.WORKER_GROUP),
        ("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
    }
    (svc,) = [
        d for d in yaml.safe_load_all(fs["/etc/kubernetes/addons/coredns.yaml"])
        if d["kind"] == "Service"
    ]
    assert svc["spec"]["clusterIP"] == "10.3.0.10"


# --------------------------------------------------------------------------- etcd


def test_etcd_initial_cluster_lists_every_member_by_name() -> None:
    script = files(render()["etcd"])["/opt/bin/kopsgen-etcd"]
    expected = ",".join(f"{n}=https://{f}:2380" for n, f in MEMBERS)
    assert f"initial_cluster={expected}\n" in script
    assert '--initial-cluster="${initial_cluster}"' in script
    for name, fqdn in MEMBERS:
        assert f"  {name}) fqdn={fqdn} ;;" in script
    for flag in ("--client-cert-auth", "--peer-client-cert-auth",
                 '--initial-cluster-state="${state}"'):
        assert flag in script
    assert 'data=/var/lib/etcd/data\n' in script and '--data-dir="${data}"' in script


# --------------------------------------------------------------------------- workers


def test_worker_bootstraps_against_the_internal_api_name() -> None:
    fs = files(render()["worker"])
    kubeconfig = yaml.safe_load(fs["/etc/kubernetes/kubelet-kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://api.k8s.internal"
    user = kubeconfig["users"][0]["user"]
    assert user == {  # the kubelet's own certificate store, which it rotates
        "client-certificate": "/var/lib/kubelet/pki/kubelet-client-current.pem",
        "client-key": "/var/lib/kubelet/pki/kubelet-client-current.pem",
    }
    # The bootstrap identity only asks for it (kopsgen-node-identity), at the same API name.
    identity = fs["/opt/bin/kopsgen-node-identity"]
    assert "server=https://api.k8s.internal\n" in identity
    assert '--cert "/etc/kubernetes/pki/worker.pem" --key "/etc/kubernetes/pki/worker-key.pem"' in identity
    kubelet = yaml.safe_load(fs["/etc/kubernetes/kubelet-config.yaml"])
    assert kubelet["rotateCertificates"] is True
    assert kubelet["clusterDNS"] == ["10.3.0.10"]
    wrapper = fs["/opt/bin/kopsgen-kubelet"]
    for flag in (
        "--kubeconfig=/etc/kubernetes/kubelet-kubeconfig",
        "--cloud-provider=external",
    ):
        assert flag in wrapper
    # No --bootstrap-kubeconfig: with it, a kubelet whose certificate expired would ask for
    # one itself, without the proof the approver needs, and wait for ever.
    assert "--bootstrap-kubeconfig" not in wrapper
    assert "kubectl" not in units(render()["worker"])["kopsgen-install-kubernetes.service"][
        "content"
    ]


# --------------------------------------------------------------------------- determinism


def test_rendering_is_deterministic() -> None:
    assert render_cloudconfigs(PARAMS) == render_cloudconfigs(replace(PARAMS))


def _changed(a: dict, b: dict) -> dict[str, set[str]]:
    """Per role: the written files (and units) that differ between two renders."""
    out: dict[str, set[str]] = {}
    for role in ROLES:
        fa, fb = files(a[role]), files(b[role])
        ua, ub = units(a[role]), units(b[role])
        out[role] = {p for p in fa.keys() | fb.keys() if fa.get(p) != fb.get(p)} | {
            n for n in ua.keys() | ub.keys() if ua.get(n) != ub.get(n)
        }
    return out


def _changed_lines(a: str, b: str) -> list[str]:
    return [
        ln[1:]
        for ln in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]


def test_dns_service_ip_changes_only_the_dns_bits() -> None:
    a, b = render(), render(dns_service_ip="10.3.0.53")
    assert _changed(a, b) == {
        "etcd": set(),
        "controller": {
            "/etc/kubernetes/addons/coredns.yaml",
            "/etc/kubernetes/kubelet-config.yaml",
        },
        "worker": {"/etc/kubernetes/kubelet-config.yaml"},
    }
    for path in ("/etc/kubernetes/addons/coredns.yaml", "/etc/kubernetes/kubelet-config.yaml"):
        lines = _changed_lines(files(a["controller"])[path], files(b["controller"])[path])
        assert len(lines) == 2 and "10.3.0.10" in lines[0] and "10.3.0.53" in lines[1]


def test_etcd_members_change_only_etcd_and_apiserver() -> None:
    a = render()
    b = render(etcd_members=(*MEMBERS, ("etcd3", "etcd3.k8s.internal")))
    assert _changed(a, b) == {
        "etcd": {"/opt/bin/kopsgen-etcd"},
        "controller": {"/etc/kubernetes/manifests/kube-apiserver.yaml"},
        "worker": set(),
    }


def test_kubernetes_patch_release_leaves_etcd_alone() -> None:
    changed = _changed(render(), render(kubernetes_version="v1.34.3"))
    assert changed["etcd"] == set()
    assert "kubelet.service" not in changed["worker"]
    assert changed["worker"] == {"kopsgen-install-kubernetes.service"}


# --------------------------------------------------------------------------- scripts


@pytest.mark.parametrize("role", ROLES)
def test_shell_scripts_pass_shellcheck(role: str, tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    scripts = shell_scripts(render()[role])
    assert scripts
    paths = []
    for path, content in scripts.items():
        p = tmp_path / Path(path).name
        p.write_text(content)
        paths.append(str(p))
    proc = subprocess.run(
        [shellcheck, "--severity=style", *paths], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_restore_path_passes_shellcheck(tmp_path: Path) -> None:
    """kopsgen-etcd's and the reconciler's restore branches exist only with
    etcd.restore.snapshot set."""
    shellcheck = require_tool("shellcheck")
    key = "backups/etcd/20261201T100000Z-etcd0-" + "ab" * 32 + ".db"
    fs = files(render(etcd_restore_snapshot=key)["etcd"])
    paths = []
    for name in ("kopsgen-etcd", "kopsgen-etcd-reconcile"):
        script = fs[f"/opt/bin/{name}"]
        assert key in script and key not in files(render()["etcd"])[f"/opt/bin/{name}"]
        (tmp_path / name).write_text(script)
        paths.append(str(tmp_path / name))
    proc = subprocess.run([shellcheck, "--severity=style", *paths], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _script(tmp_path: Path, name: str, role: str = "worker") -> Path:
    """Write /opt/bin/NAME of ``role`` with /opt/bin/ redirected to tmp_path/bin/."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    text = files(render()[role])[f"/opt/bin/{name}"].replace("/opt/bin/", f"{bindir}/")
    path = bindir / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _stub(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / "bin" / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _bash(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    require_tool("bash")
    return subprocess.run(
        argv, capture_output=True, text=True, check=False, env={**os.environ, **env}, timeout=30
    )


def test_kubelet_wrapper_builds_labels_and_taints(tmp_path: Path) -> None:
    wrapper = _script(tmp_path, "kopsgen-kubelet")
    _stub(
        tmp_path,
        "kopsgen-imds",
        'case "$1" in local-hostname) echo "ip-10-0-1-2.ec2.internal ec2.internal" ;;'
        " placement/availability-zone) echo us-east-1a ;; instance-id) echo i-0abc ;; esac",
    )
    _stub(tmp_path, "kubelet", 'printf "%s\\n" "$@"')
    _stub(tmp_path, "kopsgen-node-identity", 'echo "identity for $*" >&2')
    proc = _bash(
        [str(wrapper)],
        {
            "KOPSGEN_NODE_LABELS": "team=a,node-role.kubernetes.io/worker=,node.kubernetes.io/x=y",
            "KOPSGEN_NODE_TAINTS": "dedicated=gpu:NoSchedule",
            "KOPSGEN_EXTRA_LABELS": "node.kubernetes.io/kopsgen-role=worker",
            "KOPSGEN_EXTRA_TAINTS": "",
        },
    )
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()
    assert "--hostname-override=ip-10-0-1-2.ec2.internal" in args
    assert "--provider-id=aws:///us-east-1a/i-0abc" in args
    assert "--node-labels=team=a,node.kubernetes.io/x=y,node.kubernetes.io/kopsgen-role=worker" in (
        args
    )
    assert "--register-with-taints=dedicated=gpu:NoSchedule" in args
    assert "node-role.kubernetes.io/worker" in proc.stderr
    # Its identity first, for its own name (kopsgen-node-identity is tested on its own).
    assert "identity for ip-10-0-1-2.ec2.internal" in proc.stderr

    proc = _bash([str(wrapper)], {"KOPSGEN_NODE_LABELS": "", "KOPSGEN_NODE_TAINTS": ""})
    assert proc.returncode == 0, proc.stderr
    assert not [a for a in proc.stdout.splitlines() if a.startswith(("--node-labels", "--reg"))]


@pytest.mark.parametrize("bare", [True, False])
def test_fetch_verified_checks_the_digest(tmp_path: Path, bare: bool) -> None:
    require_tool("curl")
    fetch = _script(tmp_path, "kopsgen-fetch-verified")
    payload = tmp_path / "kubelet"
    payload.write_bytes(b"binary\n")
    digest = hashlib.sha256(b"binary\n").hexdigest()
    sums = tmp_path / "kubelet.sha256"
    # dl.k8s.io: a bare digest without newline; GitHub/etcd: "<digest>  <file>" lines.
    good = digest if bare else f"{'0' * 64}  other\n{digest}  kubelet\n"
    sums.write_text(good)
    dest = tmp_path / "out"
    proc = _bash([str(fetch), payload.as_uri(), sums.as_uri(), str(dest)], {})
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == b"binary\n"

    dest.unlink()
    sums.write_text(good.replace(digest, "f" * 64))
    proc = _bash([str(fetch), payload.as_uri(), sums.as_uri(), str(dest)], {})
    assert proc.returncode != 0
    assert not dest.exists()


def test_fetch_credentials_keeps_keys_private(tmp_path: Path) -> None:
    script = _script(tmp_path, "kopsgen-fetch-credentials")
    pkidir = tmp_path / "pki"
    script.write_text(script.read_text().replace("/etc/kubernetes/pki", str(pkidir)))
    _stub(tmp_path, "kopsgen-s3-get", 'echo "$1" > "$2"')
    proc = _bash([str(script), "worker", *CREDENTIAL_FILES["worker"]], {})
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in pkidir.iterdir()) == sorted(CREDENTIAL_FILES["worker"])
    for p in pkidir.iterdir():
        assert p.read_text() == f"credentials/worker/{p.name}\n"
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o600 if p.name.endswith("-key.pem") else 0o644), p.name

    _stub(tmp_path, "kopsgen-s3-get", "exit 1")
    assert _bash([str(script), "worker", "ca.pem"], {}).returncode != 0


_LSBLK = """case "$*" in
  "-no PKNAME /dev/nvme0n1p9") echo nvme0n1 ;;
  "-dnpo NAME,MODEL") printf '%s\\n' "$DISKS" ;;
  "-nro NAME "*) echo "${3#/dev/}" ;;
  *) echo "unexpected lsblk $*" >&2; exit 9 ;;
esac"""


@pytest.mark.parametrize(
    ("blkid_rc", "disks", "ok", "formatted"),
    [
        (2, "", True, True),  # blank volume: formatted, then mounted
        (0, "", True, False),  # existing filesystem: mounted as it is
        (4, "", False, False),  # unreadable: neither formatted nor mounted
        (2, "/dev/nvme3n1 Amazon Elastic Block Store", False, False),  # ambiguous
    ],
)
def test_etcd_volume_formats_only_a_blank_volume(
    tmp_path: Path, blkid_rc: int, disks: str, ok: bool, formatted: bool
) -> None:
    script = _script(tmp_path, "kopsgen-etcd-volume", role="etcd")
    mnt = tmp_path / "etcd"
    script.write_text(script.read_text().replace("/var/lib/etcd", str(mnt)))
    log = tmp_path / "log"
    _stub(tmp_path, "mountpoint", "exit 1")
    _stub(tmp_path, "findmnt", "echo /dev/nvme0n1p9")
    _stub(tmp_path, "lsblk", _LSBLK)
    _stub(tmp_path, "blkid", f"exit {blkid_rc}")
    _stub(tmp_path, "mkfs.ext4", f'echo "mkfs $*" >> {log}')
    _stub(tmp_path, "mount", f'echo "mount $*" >> {log}')
    all_disks = "\n".join(
        [
            "/dev/nvme0n1 Amazon Elastic Block Store",  # root
            "/dev/nvme1n1 Amazon Elastic Block Store",  # the data volume
            "/dev/nvme2n1 Amazon EC2 NVMe Instance Storage",
            *([disks] if disks else []),
        ]
    )
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "DISKS": all_disks}
    proc = _bash([str(script)], env)
    assert (proc.returncode == 0) == ok, proc.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    expected = ["mkfs -L etcd-data /dev/nvme1n1"] if formatted else []
    if ok:
        expected.append(f"mount -o noatime /dev/nvme1n1 {mnt}")
    assert calls == expected


# --------------------------------------------------------------------------- sshAuthorizedKeys

SSH_KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUiSdsvdKYtxoA7GcR6VyqxA9nxHzJ9MnmFyIGGc4mV admin@example.com",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDd it's \"ops\" <on-call>",
)


def test_ssh_authorized_keys_reach_every_role_from_cluster_yaml() -> None:
    """cluster.yaml's sshAuthorizedKeys become coreos-cloudinit's ssh_authorized_keys (the
    core user's keys) on etcd members, controllers and workers alike; the first release
    validated them and dropped them. Quoting holds for quotes and angle brackets."""
    from kopsgen.render.workspace_files import render_userdata
    from kopsgen.spec import load_spec_text

    base = (Path(__file__).parents[2] / "examples" / "kubeops" / "cluster.yaml").read_text()
    text = base + yaml.safe_dump({"sshAuthorizedKeys": list(SSH_KEYS)}, width=1000)
    spec = load_spec_text(text).spec
    for path, generated in render_userdata(spec).items():
        config = yaml.safe_load(generated.content)
        assert config["ssh_authorized_keys"] == list(SSH_KEYS), path
    without = load_spec_text(base).spec
    for path, generated in render_userdata(without).items():
        assert "ssh_authorized_keys" not in yaml.safe_load(generated.content), path


def test_fetch_credentials_installs_only_the_version_the_instance_was_made_for(tmp_path: Path) -> None:
    """The digest in the user data's environment (KOPSGEN_CREDENTIALS_SHA256) decides: S3's
    other version is waited out (exit 1: kopsgen-retry runs it again), the right one is
    installed, and a reboot keeps it without asking S3 (docs/credentials.md, Rotating)."""
    from kopsgen.render.credential_files import role_digest

    script = _script(tmp_path, "kopsgen-fetch-credentials")
    pkidir = tmp_path / "pki"
    script.write_text(script.read_text().replace("/etc/kubernetes/pki", str(pkidir)))
    s3 = tmp_path / "s3"
    s3.mkdir()
    _stub(tmp_path, "kopsgen-s3-get", f'echo "$1" >> {tmp_path}/asked; cp "{s3}/${{1##*/}}" "$2"')
    names = CREDENTIAL_FILES["worker"]
    old = {n: f"old {n}\n".encode() for n in names}
    new = {n: f"new {n}\n".encode() for n in names}
    for n in names:
        (s3 / n).write_bytes(old[n])
    env = {"KOPSGEN_CREDENTIALS_SHA256": role_digest(new, "worker")}
    proc = _bash([str(script), "worker", *names], env)
    assert proc.returncode == 1, proc.stderr
    assert f"holds version {role_digest(old, 'worker')}, but this instance was created for " \
        f"{role_digest(new, 'worker')}" in proc.stderr
    assert not any(pkidir.iterdir())  # nothing installed, no staging left

    for n in names:
        (s3 / n).write_bytes(new[n])
    proc = _bash([str(script), "worker", *names], env)
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_bytes() for p in pkidir.iterdir()} == new

    # A reboot after the next rotation was pushed: the instance keeps what it was made for.
    for n in names:
        (s3 / n).write_bytes(old[n])
    (tmp_path / "asked").unlink()
    proc = _bash([str(script), "worker", *names], env)
    assert proc.returncode == 0 and "keeping the worker credentials" in proc.stdout
    assert not (tmp_path / "asked").exists()
    assert {p.name: p.read_bytes() for p in pkidir.iterdir()} == new
    # "none" (rendered without credentials): what S3 holds.
    proc = _bash([str(script), "worker", *names], {"KOPSGEN_CREDENTIALS_SHA256": "none"})
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_bytes() for p in pkidir.iterdir()} == old
