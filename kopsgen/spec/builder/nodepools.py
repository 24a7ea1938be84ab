"""The worker node pools: names, instances, spot prices, scaling and the cluster
autoscaler's bounds, node labels and taints, security groups."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from kopsgen.spec import rules
from kopsgen.spec.builder.context import DEFAULT_ROOT_GIB, BuildContext
from kopsgen.spec.model import ClusterAutoscaler, NodePool, Subnet, Taint
from kopsgen.spec.raw import RawNodePool
from kopsgen.spec.yamlload import Path


class NodePoolPart(BuildContext):
    """worker.nodePools, with the top-level worker* keys as their defaults."""

    def node_pools(self, subnets: list[Subnet], kube_version: str) -> list[NodePool]:
        r = self.raw
        raw_pools = (r.worker.nodePools if r.worker else None) or []
        if r.worker is not None and r.worker.nodePools is not None and not raw_pools:
            self.warn(("worker", "nodePools"), "no node pools: only controllers will exist")
        default_type = self.instance_type(("workerInstanceType",), r.workerInstanceType, "worker")
        default_sgs = self.ids(("workerSecurityGroupIds",), r.workerSecurityGroupIds,
                               rules.SG_RE, "a security group ID (sg-...)")
        default_spot = self.spot_price(("workerSpotPrice",), r.workerSpotPrice)
        pools: list[NodePool] = []
        seen: dict[str, int] = {}
        for i, p in enumerate(raw_pools):
            path: Path = ("worker", "nodePools", i)
            if not p.name:
                self.err(path + ("name",), "is required: a unique name for the pool "
                         "(e.g. nodepool1)")
                name = f"pool{i}"
            else:
                name = p.name
                if not rules.POOL_NAME_RE.fullmatch(name) or len(name) > 40:
                    self.err(path + ("name",), f"{name!r} must be a lowercase DNS label: "
                             "lowercase letters, digits and hyphens, starting and ending with "
                             "a letter or digit, at most 40 characters")
                elif name.lower() in seen:
                    self.err(path + ("name",), f"duplicate node pool name {name!r} (also "
                             f"worker.nodePools[{seen[name.lower()]}])")
                seen.setdefault(name.lower(), i)
            itype = (self.instance_type(path + ("instanceType",), p.instanceType, "worker")
                     if p.instanceType is not None else default_type)
            root = self.volume(
                [(path + ("rootVolume",), p.rootVolume),
                 (path, self._flat(p, "rootVolume", path)),
                 ((), self._flat(r, "workerRootVolume"))],
                default_size=DEFAULT_ROOT_GIB)
            if p.rootVolume is not None and any(v is not None for v in (
                    p.rootVolumeSize, p.rootVolumeType, p.rootVolumeIOPS)):
                self.err(path + ("rootVolume",), "use either rootVolume or rootVolumeSize/"
                         "rootVolumeType/rootVolumeIOPS, not both")
            tenancy = p.tenancy or r.workerTenancy or "default"
            spot = (self.spot_price(path + ("spotPrice",), p.spotPrice)
                    if p.spotPrice is not None else default_spot)
            if spot is not None and tenancy == "dedicated":
                self.spot_dedicated(path, name, p)
            scaling = self.scaling(path, p.count, p.autoScalingGroup, default=1, role="pool",
                                   count_path=path + ("count",))
            ca = None
            if p.clusterAutoscaler is not None:
                ca_min = p.clusterAutoscaler.minSize
                ca_max = p.clusterAutoscaler.maxSize
                ca_min = scaling.min_size if ca_min is None else ca_min
                ca_max = scaling.max_size if ca_max is None else ca_max
                for key, value in (("minSize", ca_min), ("maxSize", ca_max)):
                    if value > rules.NODES_MAX:
                        self.err(path + ("clusterAutoscaler", key), f"{value} is more than the "
                                 f"{rules.NODES_MAX} nodes a Kubernetes cluster supports")
                ca_min, ca_max = min(ca_min, rules.NODES_MAX), min(ca_max, rules.NODES_MAX)
                if ca_min < 0:
                    self.err(path + ("clusterAutoscaler", "minSize"), f"must be >= 0 (got {ca_min})")
                if ca_max < 1:
                    self.err(path + ("clusterAutoscaler", "maxSize"), f"must be >= 1 (got {ca_max})")
                if ca_min > ca_max:
                    self.err(path + ("clusterAutoscaler", "minSize"),
                             f"minSize ({ca_min}) must not exceed maxSize ({ca_max})")
                ca = ClusterAutoscaler(min_size=max(ca_min, 0), max_size=max(ca_max, ca_min, 1))
            labels = []
            for key, value in sorted((p.nodeLabels or {}).items()):
                why = rules.check_label_key(key)
                if why:
                    self.err(path + ("nodeLabels", key), f"label key {key!r}: {why}")
                elif key.startswith("node-role.kubernetes.io/") or key.split("/")[0].endswith(
                        ("kubernetes.io", "k8s.io")) and not key.startswith(
                        ("node.kubernetes.io/", "kubelet.kubernetes.io/")):
                    self.err(path + ("nodeLabels", key), f"label {key!r} cannot be set by a "
                             "node itself (NodeRestriction); use another prefix, e.g. "
                             "node.kubernetes.io/ or your own domain")
                why = rules.check_label_value(value)
                if why:
                    self.err(path + ("nodeLabels", key), f"label value {value!r}: {why}")
                labels.append((key, value))
            taints = []
            for j, t in enumerate(p.taints or []):
                tpath = path + ("taints", j)
                if not t.key:
                    self.err(tpath + ("key",), "is required")
                    continue
                why = rules.check_label_key(t.key)
                if why:
                    self.err(tpath + ("key",), f"taint key {t.key!r}: {why}")
                why = rules.check_label_value(t.value or "")
                if why:
                    self.err(tpath + ("value",), f"taint value {t.value!r}: {why}")
                if t.effect is None:
                    self.err(tpath + ("effect",), "is required: NoSchedule, PreferNoSchedule "
                             "or NoExecute")
                    continue
                taints.append(Taint(key=t.key, value=t.value or "", effect=t.effect))
            sgs = default_sgs + self.ids(path + ("securityGroupIds",), p.securityGroupIds,
                                         rules.SG_RE, "a security group ID (sg-...)")
            pools.append(NodePool(
                name=name,
                instance_type=itype,
                root_volume=root,
                tenancy=tenancy,
                spot_price=spot,
                scaling=scaling,
                cluster_autoscaler=ca,
                subnets=self.placement(p.subnets, subnets),
                node_labels=tuple(labels),
                taints=tuple(taints),
                security_group_ids=tuple(dict.fromkeys(sgs)),
                kubernetes_version=self.pool_kubernetes_version(path, p, kube_version),
                own_kubernetes_version=p.kubernetesVersion is not None,
            ))
        return pools

    def pool_kubernetes_version(self, path: Path, p: RawNodePool, cluster: str) -> str:
        """The pool's kubelet version: its own kubernetesVersion (a supported minor, within
        the skew policy of the control plane's), or the cluster's."""
        key = path + ("kubernetesVersion",)
        version = self.parse_kubernetes_version(key, p.kubernetesVersion, cluster)
        if p.kubernetesVersion is None or version == cluster:
            return version
        why = rules.kubelet_skew(rules.minor_of(version), rules.minor_of(cluster))
        if why:
            behind = rules.minor_of(cluster)[1] - rules.KUBELET_MAX_MINORS_BEHIND
            fix = (f"raise the cluster's kubernetesVersion to {version} first, or "
                   "remove the pool's kubernetesVersion"
                   if rules.minor_of(version) > rules.minor_of(cluster) else
                   f"upgrade the pool to at least v{rules.minor_of(cluster)[0]}.{behind} "
                   "before the control plane")
            self.err(key, f"{version} is {why} ({cluster} at "
                     f"{self.written(('kubernetesVersion',))}); {fix}")
        return version

    def spot_dedicated(self, path: Path, name: str, p: RawNodePool) -> None:
        """Spot instances cannot be dedicated. Either half may be the pool's own key or a
        top-level worker* default the pool inherits: the error stands at a key the user
        wrote (the pool's own if it has one) and names the other where it is written."""
        own_spot, own_tenancy = p.spotPrice is not None, p.tenancy is not None
        spot = path + ("spotPrice",) if own_spot else ("workerSpotPrice",)
        tenancy = path + ("tenancy",) if own_tenancy else ("workerTenancy",)
        at, other = (spot, tenancy) if own_spot or not own_tenancy else (tenancy, spot)
        if own_spot and own_tenancy:
            self.err(at, f"spot instances cannot use dedicated tenancy ({self.written(other)});"
                     " remove spotPrice or set tenancy: default")
        elif own_spot or own_tenancy:
            fix = ("remove spotPrice, or set tenancy: default in this pool" if own_spot
                   else 'set tenancy: default, or spotPrice: "" (on-demand) in this pool')
            self.err(at, f"spot instances cannot use dedicated tenancy: pool {name!r} inherits "
                     f"{self.written(other)}; {fix}")
        else:
            self.err(at, f"spot instances cannot use dedicated tenancy: pool {name!r} inherits "
                     f"both {self.written(spot)} and {self.written(tenancy)}; remove one of "
                     f"them, or set spotPrice or tenancy in pool {name!r}")

    def spot_price(self, path: Path, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = value if isinstance(value, str) else repr(value)
        if isinstance(value, bool) or not rules.SPOT_PRICE_RE.fullmatch(text):
            self.err(path, f"{value!r} is not a price: write a positive decimal in USD per "
                     'hour, e.g. "0.05"')
            return None
        try:
            price = Decimal(text.strip())
        except InvalidOperation:
            self.err(path, f"{value!r} is not a decimal number")
            return None
        if price <= 0:
            self.err(path, f"must be greater than 0 (got {value!r}); omit it for on-demand")
            return None
        if price > rules.SPOT_PRICE_MAX:
            self.err(path, f"{value!r} USD per hour is more than any instance costs (at most "
                     f"{rules.SPOT_PRICE_MAX})")
            return None
        return str(price.normalize()) if price == price.to_integral() else text.strip()
