"""The validated cluster: one immutable object every renderer reads and nothing else.

Produced only by :func:`kopsgen.spec.load_spec` (via :mod:`kopsgen.spec.builder`): all
defaults applied, kube-aws's alternative spellings resolved, every rule checked. Renderers
never read YAML and never re-validate.
"""

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kopsgen.pins import DEFAULT_KUBERNETES_VERSION, ETCD_VERSION  # noqa: F401 - re-exported

#: Kubernetes minor versions kopsgen renders and tests (the oldest is the first).
SUPPORTED_MINORS: tuple[tuple[int, int], ...] = ((1, 33), (1, 34), (1, 35), (1, 36))
# DEFAULT_KUBERNETES_VERSION: what ``kopsgen init`` writes and an absent
# ``kubernetesVersion`` means; ETCD_VERSION: the etcd release the members run. Both live in
# the table of pins (kopsgen/pins.py) with where they were checked.

#: Regions whose zone letters do not start at a, b (as seen by most accounts): the zones of
#: the two default subnets, and those `kopsgen init` writes. kopsgen cannot ask AWS (it runs
#: offline); `kopsgen validate --aws` checks the zones exist.
FIRST_ZONES = {"ap-northeast-1": ("a", "c"), "us-west-1": ("b", "c")}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Volume(_Frozen):
    size: int  # GiB
    type: str  # gp3, gp2, io1, io2, standard
    iops: int | None = None
    encrypted: bool = True


class Subnet(_Frozen):
    name: str
    availability_zone: str
    cidr: str
    private: bool


class Taint(_Frozen):
    key: str
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Scaling(_Frozen):
    """Auto Scaling group sizes; a fixed count is min == max == desired."""

    min_size: int
    max_size: int
    desired: int
    min_in_service: int  # kept in service during a rolling replacement


class ClusterAutoscaler(_Frozen):
    min_size: int
    max_size: int


class NodePool(_Frozen):
    name: str
    instance_type: str
    root_volume: Volume
    tenancy: Literal["default", "dedicated"]
    spot_price: str | None  # decimal string, USD/hour; None = on-demand
    scaling: Scaling
    cluster_autoscaler: ClusterAutoscaler | None
    subnets: tuple[str, ...]  # subnet names
    node_labels: tuple[tuple[str, str], ...]  # sorted
    taints: tuple[Taint, ...]
    security_group_ids: tuple[str, ...]
    #: The pool's kubelet version (normalised vX.Y.Z): its own kubernetesVersion, or the
    #: cluster's. Never newer than the control plane (rules.KUBELET_MAX_MINORS_BEHIND).
    kubernetes_version: str
    #: True when the pool wrote its own kubernetesVersion (``kopsgen upgrade`` pins these).
    own_kubernetes_version: bool = False

    @property
    def kubernetes_minor(self) -> tuple[int, int]:
        major, minor, _ = self.kubernetes_version.lstrip("v").split(".")
        return int(major), int(minor)


class Controller(_Frozen):
    instance_type: str
    root_volume: Volume
    tenancy: Literal["default", "dedicated"]
    scaling: Scaling
    private_load_balancer: bool
    subnets: tuple[str, ...]
    load_balancer_subnets: tuple[str, ...]
    security_group_ids: tuple[str, ...]


class Etcd(_Frozen):
    count: int
    instance_type: str
    root_volume: Volume
    data_volume: Volume
    tenancy: Literal["default", "dedicated"]
    subnets: tuple[str, ...]
    # etcd.backup: a systemd timer's schedule, ("calendar", "hourly") or ("span", "6h").
    backup_schedule: tuple[Literal["calendar", "span"], str] = ("calendar", "hourly")
    backup_retention_days: int = 30
    # etcd.restore.snapshot: key below the cluster prefix, backups/etcd/<time>-<member>-<sha256>.db
    restore_snapshot: str | None = None

    @property
    def restore_sha256(self) -> str | None:
        """The SHA-256 the restore's snapshot key names (its backup computed it)."""
        if self.restore_snapshot is None:
            return None
        return self.restore_snapshot.rsplit("-", 1)[1].removesuffix(".db")


class Assets(_Frozen):
    """Where nodes fetch releases and images from (kops: assets.fileRepository and
    containerRegistry); None is the public upstream."""

    file_repository: str | None = None  # https://mirror/files, no trailing slash
    container_registry: str | None = None  # mirror.example.com/k8s, no scheme or slash


class S3Location(_Frozen):
    bucket: str
    prefix: str  # no leading or trailing slash; may be ""

    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class Spec(_Frozen):
    cluster_name: str
    external_dns_name: str
    region: str
    release_channel: Literal["stable", "beta", "alpha", "lts"]
    ami_id: str | None
    create_record_set: bool
    record_set_ttl: int
    hosted_zone_id: str | None
    key_name: str | None
    ssh_authorized_keys: tuple[str, ...]
    kms_key_arn: str | None  # None: the generated Terraform creates the key
    kubernetes_version: str  # normalised vX.Y.Z (kube-aws's _coreos.N suffix dropped)
    etcd_version: str
    vpc_id: str | None
    internet_gateway_id: str | None
    route_table_id: str | None
    map_public_ips: bool
    vpc_cidr: str
    subnets: tuple[Subnet, ...]
    single_az: bool  # written with availabilityZone/instanceCIDR instead of subnets
    service_cidr: str
    pod_cidr: str
    dns_service_ip: str
    tls_ca_days: int
    tls_cert_days: int
    tls_key_algorithm: Literal["ecdsa-p256", "rsa-2048"]
    stack_tags: tuple[tuple[str, str], ...]  # sorted
    s3: S3Location | None
    assets: Assets = Assets()
    ssh_access_cidrs: tuple[str, ...]
    api_access_cidrs: tuple[str, ...]
    controller: Controller
    etcd: Etcd
    node_pools: tuple[NodePool, ...]

    # Derived facts, computed here so no two renderers compute them differently.
    @property
    def kubernetes_minor(self) -> tuple[int, int]:
        major, minor, _ = self.kubernetes_version.lstrip("v").split(".")
        return int(major), int(minor)

    @property
    def api_service_ip(self) -> str:
        """The first address of serviceCIDR: the in-cluster ``kubernetes`` Service."""
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def zones(self) -> tuple[str, ...]:
        """Availability zones in first-use order."""
        return tuple(dict.fromkeys(s.availability_zone for s in self.subnets))

    def subnet(self, name: str) -> Subnet:
        return next(s for s in self.subnets if s.name == name)

    def pool(self, name: str) -> NodePool:
        return next(p for p in self.node_pools if p.name == name)
