"""Flatcar cloud-configs for the three node roles: etcd, controller and worker.

Pure: :class:`CloudConfigParams` in, ``userdata/cloud-config-<role>`` bytes out. The configs
are written for coreos-cloudinit (``coreos.units`` and ``write_files`` only) and hold no
secret: every node fetches its role's credentials from the cluster's S3 prefix at boot
(``kopsgen-credentials.service``) with the ``/opt/bin/kopsgen-s3-get`` helper that the EC2
user data bootstrap installs, together with ``/etc/kopsgen/environment``.

Every file a node receives is its own Jinja template under ``kopsgen/templates/cloudconfig``
(units, shell scripts, configs, static pods, add-ons); the three role templates only say
which of them a role gets.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import jinja2
import yaml

from kopsgen.naming import iam_role_name
from kopsgen.pins import CNI_PLUGINS_VERSION, PINS
from kopsgen.render.credential_files import FRONT_PROXY_CLIENT_CN, ROLE_FILES

ROLES = ("etcd", "controller", "worker")

#: The API server's port on the controllers and behind the load balancer.
API_PORT = 443

#: Kubernetes minors the cloud-configs are written and tested for (oldest first), with the
#: AWS cloud-controller-manager release of the same minor (its releases follow Kubernetes').
CLOUD_CONTROLLER_MANAGER_IMAGES: dict[str, str] = {
    minor: PINS[f"cloud-controller-manager-{minor}"].ref for minor in ("1.33", "1.34", "1.35", "1.36")
}
SUPPORTED_MINORS: tuple[str, ...] = tuple(CLOUD_CONTROLLER_MANAGER_IMAGES)

#: Images that do not follow the Kubernetes version: each works with every supported minor
#: (kopsgen/pins.py says where each was checked, and pins it by digest where published).
IMAGES: dict[str, str] = {
    key: PINS[name].ref for key, name in (
        ("pause", "pause"), ("coredns", "coredns"), ("flannel", "flannel"),
        ("flannel_cni_plugin", "flannel-cni-plugin"), ("ebs_csi_driver", "ebs-csi-driver"),
        ("csi_provisioner", "csi-provisioner"), ("csi_attacher", "csi-attacher"),
        ("csi_resizer", "csi-resizer"), ("csi_node_driver_registrar", "csi-node-driver-registrar"),
        ("csi_livenessprobe", "csi-livenessprobe"),
        ("node_termination_handler", "node-termination-handler"))
}

#: The credentials each role fetches into /etc/kubernetes/pki (S3 key
#: ``credentials/<role>/<file>``): the PKI's per-role lists, defined once there.
CREDENTIAL_FILES: dict[str, tuple[str, ...]] = dict(ROLE_FILES)

_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class CloudConfigParams:
    """Everything the cloud-configs depend on, as plain values (the spec maps onto it)."""

    cluster_name: str  # "k8s"
    external_dns_name: str  # API name; workers reach the API here, e.g. "k8s.kubeops.net"
    region: str  # "us-east-1"
    kubernetes_version: str  # "v1.34.2" (normalised: no _coreos suffix)
    etcd_version: str  # "v3.5.21"
    etcd_members: tuple[tuple[str, str], ...]  # (name, fqdn), e.g. ("etcd0", "etcd0.k8s.internal")
    internal_api_name: str  # in-cluster clients reach the API here, e.g. "api.k8s.internal"
    service_cidr: str  # "10.3.0.0/24"
    pod_cidr: str  # "10.2.0.0/16"
    dns_service_ip: str  # "10.3.0.10"
    cluster_domain: str = "cluster.local"
    # assets: a mirror of the release downloads ("https://mirror/files": each upstream URL
    # https://<host>/<path> is <file_repository>/<host>/<path>) and of the images
    # ("mirror.example.com/k8s": <container_registry>/<image path without its registry>).
    file_repository: str | None = None
    container_registry: str | None = None
    # sshAuthorizedKeys: OpenSSH public keys authorized for the `core` user on every role.
    ssh_authorized_keys: tuple[str, ...] = ()
    # Node pools' own kubernetesVersions other than kubernetes_version: each gets a worker
    # cloud-config of its own, ``userdata/cloud-config-worker-<version>``.
    worker_versions: tuple[str, ...] = ()
    # etcd.backup.interval as a systemd timer's schedule: ("calendar", "hourly") for
    # OnCalendar=, ("span", "6h") for OnUnitActiveSec=.
    etcd_backup_schedule: tuple[str, str] = ("calendar", "hourly")
    # etcd.restore.snapshot: the key (below the cluster prefix) new members restore from,
    # backups/etcd/<time>-<member>-<sha256>.db; None: members start empty.
    etcd_restore_snapshot: str | None = None


def kubernetes_minor(version: str) -> str:
    """``"v1.34.2"`` -> ``"1.34"``; ValueError for anything that is not vMAJOR.MINOR.PATCH."""
    m = _VERSION.fullmatch(version)
    if m is None:
        raise ValueError(f"expected a version like v1.34.2, got {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def _shquote(value: object) -> str:
    return shlex.quote(str(value))


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates cached per user (a fresh process compiles 40 templates, which is
    most of a render's time); no cache where the directory cannot be created."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "kopsgen" / "jinja"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(path))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kopsgen", "templates/cloudconfig"),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shquote"] = _shquote
    return env


#: Hosts nodes download releases from (kopsgen-install-*); mirrored as <repo>/<host>/...
DOWNLOAD_HOSTS = ("dl.k8s.io", "github.com")


def mirrored_image(ref: str, registry: str | None) -> str:
    """``ref`` as pulled from ``registry`` (assets.containerRegistry): the upstream
    registry host replaced, the repository path, tag and digest kept."""
    if registry is None:
        return ref
    return f"{registry}/{ref.split('/', 1)[1]}"


def _context(params: CloudConfigParams) -> dict[str, object]:
    minor = kubernetes_minor(params.kubernetes_version)
    if minor not in CLOUD_CONTROLLER_MANAGER_IMAGES:
        raise ValueError(
            f"Kubernetes {params.kubernetes_version} is not supported; "
            f"supported minors: {', '.join(SUPPORTED_MINORS)}"
        )
    if not params.etcd_members:
        raise ValueError("at least one etcd member is required")
    return {
        **{f: getattr(params, f) for f in params.__dataclass_fields__},
        "kubernetes_minor": minor,
        "cloud_controller_manager_image": mirrored_image(
            CLOUD_CONTROLLER_MANAGER_IMAGES[minor], params.container_registry),
        "images": {k: mirrored_image(v, params.container_registry) for k, v in IMAGES.items()},
        "kubernetes_registry": params.container_registry or "registry.k8s.io",
        "downloads": {h: f"{params.file_repository}/{h}" if params.file_repository
                      else f"https://{h}" for h in DOWNLOAD_HOSTS},
        "cni_plugins_version": CNI_PLUGINS_VERSION,
        "api_port": API_PORT,
        "credential_files": CREDENTIAL_FILES,
        "front_proxy_client_cn": FRONT_PROXY_CLIENT_CN,
        "internal_api_url": f"https://{params.internal_api_name}",
        # The controllers' approver gives a worker's first client certificate only to a
        # session of this role (kopsgen-approve-kubelet-serving, docs/credentials.md).
        "worker_role_name": iam_role_name(params.cluster_name, "worker"),
        "etcd_initial_cluster": ",".join(
            f"{name}=https://{fqdn}:2380" for name, fqdn in params.etcd_members
        ),
        "etcd_servers": ",".join(f"https://{fqdn}:2379" for _, fqdn in params.etcd_members),
        **_restore_context(params),
    }


def _restore_context(params: CloudConfigParams) -> dict[str, object]:
    """The restore's snapshot, the SHA-256 its key names, and the cluster token: a restored
    cluster is a new cluster (a token of its own, so no member of the old one joins it)."""
    key = params.etcd_restore_snapshot
    sha = key.rsplit("-", 1)[1].removesuffix(".db") if key else None
    if key is not None and not re.fullmatch(r"[0-9a-f]{64}", sha or ""):
        raise ValueError(f"etcd restore snapshot {key!r} names no SHA-256")
    return {
        "etcd_restore_snapshot": key,
        "etcd_restore_sha256": sha,
        "etcd_cluster_token": f"{params.cluster_name}-etcd" + (f"-{sha[:12]}" if sha else ""),
    }


def _role_context(params: CloudConfigParams, role: str) -> dict[str, object]:
    controller = role == "controller"
    return {
        "role": role,
        # A controller's kubelet talks to the API server next to it, which it starts itself;
        # every other node goes through the internal load balancer, which every subnet
        # layout reaches (an internet-facing one is out of reach from private subnets).
        "kubelet_server": (
            f"https://127.0.0.1:{API_PORT}" if controller
            else f"https://{params.internal_api_name}"
        ),
        "kubernetes_binaries": ("kubelet", "kubectl") if controller else ("kubelet",),
    }


def worker_cloud_config_path(version: str | None = None) -> str:
    """Where the worker cloud-config of kubelet ``version`` is: ``None`` (the cluster's
    kubernetesVersion) is ``userdata/cloud-config-worker``, another version
    ``userdata/cloud-config-worker-<version>`` (a pool with its own kubernetesVersion)."""
    return "userdata/cloud-config-worker" + (f"-{version}" if version else "")


def render_cloudconfigs(params: CloudConfigParams) -> dict[str, bytes]:
    """The three cloud-configs, keyed ``userdata/cloud-config-<role>``, and a worker
    cloud-config for each of ``params.worker_versions``. Same input, same bytes."""
    env = _environment()
    ctx = _context(params)
    out: dict[str, bytes] = {}
    for role in ROLES:
        text = env.get_template(f"{role}.yaml.j2").render(ctx, **_role_context(params, role))
        out[f"userdata/cloud-config-{role}"] = text.encode("utf-8")
    for version in sorted(set(params.worker_versions) - {params.kubernetes_version}):
        # Only the kubelet's release differs: the control plane's images and add-ons (and
        # kube-proxy, a DaemonSet the controllers apply) follow kubernetes_version.
        own = _context(replace(params, kubernetes_version=version))
        text = env.get_template("worker.yaml.j2").render(own, **_role_context(params, "worker"))
        out[worker_cloud_config_path(version)] = text.encode("utf-8")
    return out


_APISERVER_IMAGE = re.compile(r"/kube-apiserver:(v\d+\.\d+\.\d+)$")


def rendered_kubernetes_version(controller_cloud_config: bytes) -> str | None:
    """The control plane's version a rendered ``cloud-config-controller`` runs: the tag of
    its kube-apiserver static pod's image; None when there is none to read."""
    try:
        doc = yaml.safe_load(controller_cloud_config)
    except yaml.YAMLError:
        return None
    files = doc.get("write_files") if isinstance(doc, dict) else None
    for f in files if isinstance(files, list) else ():
        if isinstance(f, dict) and f.get("path") == "/etc/kubernetes/manifests/kube-apiserver.yaml":
            try:
                pod = yaml.safe_load(f.get("content") or "")
                image = pod["spec"]["containers"][0]["image"]
            except (yaml.YAMLError, KeyError, IndexError, TypeError):
                return None
            m = _APISERVER_IMAGE.search(str(image))
            return m.group(1) if m else None
    return None
