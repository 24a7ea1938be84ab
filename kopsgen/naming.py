"""Every name kopsgen derives, decided once.

Renderers (PKI, cloud-configs, Terraform root, kubeconfig) and the lifecycle commands ask
here for DNS names, S3 keys, tags and module addresses, so two of them can never disagree
about what a thing is called. Nothing is derived from the cluster FQDN except the API name.
"""

from __future__ import annotations

from kopsgen.spec.model import NodePool, Spec

ROLES = ("etcd", "controller", "worker")


def internal_domain(spec: Spec) -> str:
    """Private Route53 zone of the cluster's VPC (``.internal`` is reserved for this use)."""
    return f"{spec.cluster_name.lower()}.internal"


def etcd_members(spec: Spec) -> tuple[tuple[str, str], ...]:
    """(member name, stable DNS name) for every etcd member: etcd0.k8s.internal, ..."""
    domain = internal_domain(spec)
    return tuple((f"etcd{i}", f"etcd{i}.{domain}") for i in range(spec.etcd.count))


def internal_api_name(spec: Spec) -> str:
    """The API's name inside the VPC (the internal load balancer, in the private zone):
    kubelets, kube-proxy and the add-ons use it; people use externalDNSName."""
    return f"api.{internal_domain(spec)}"


def cluster_key_alias(spec: Spec) -> str:
    """Alias of the KMS key the cluster_key module creates (cluster.yaml without kmsKeyArn)."""
    return f"alias/kopsgen/{spec.cluster_name}"


def api_url(spec: Spec) -> str:
    return f"https://{spec.external_dns_name}"


def cluster_tag(spec: Spec) -> str:
    """The tag Kubernetes' cloud provider uses to recognise the cluster's resources."""
    return f"kubernetes.io/cluster/{spec.cluster_name}"


def iam_role_name(cluster_name: str, role: str) -> str:
    """IAM role (and instance profile) of a node role, as modules/iam names it:
    ``<cluster>-<role>``, e.g. "k8s-worker"."""
    return f"{cluster_name}-{role}"


def assets_prefix(spec: Spec, s3_prefix: str | None = None) -> str:
    """Key prefix of the cluster's objects in the assets bucket: ``<prefix>/<cluster>``."""
    prefix = s3_prefix if s3_prefix is not None else (spec.s3.prefix if spec.s3 else "")
    return f"{prefix}/{spec.cluster_name}" if prefix else spec.cluster_name


def credentials_key(spec: Spec, role: str, filename: str, s3_prefix: str | None = None) -> str:
    return f"{assets_prefix(spec, s3_prefix)}/credentials/{role}/{filename}"


def cloud_config_path(role: str) -> str:
    """Workspace path of a role's full cloud-config (also its key below assets_prefix)."""
    return f"userdata/cloud-config-{role}"


def state_key(spec: Spec, s3_prefix: str | None = None) -> str:
    return f"{assets_prefix(spec, s3_prefix)}/terraform.tfstate"


def autoscaling_group_names(spec: Spec) -> tuple[str, ...]:
    """The cluster's auto scaling groups as the controllers and nodepool modules name them:
    ``<cluster>-controller`` and ``<cluster>-<pool>`` for every node pool."""
    return (f"{spec.cluster_name}-controller",
            *(f"{spec.cluster_name}-{p.name}" for p in spec.node_pools))


def pool_module(pool: NodePool) -> str:
    """Terraform module name of a node pool: addressed by the pool's own name."""
    return f"pool_{pool.name}"
