"""The builder's context: the raw file, the collector, and the checks every part shares.

Each part of pass 3 (:mod:`.cluster`, :mod:`.network`, :mod:`.controller`, :mod:`.etcd`,
:mod:`.nodepools`, :mod:`.dns`, :mod:`.storage`) is a mixin of :class:`BuildContext`;
:mod:`kopsgen.spec.builder` combines them into the one builder.
"""

from __future__ import annotations

from typing import Any

from kopsgen.spec import rules
from kopsgen.spec.builder.collect import Collector
from kopsgen.spec.model import Scaling, Subnet, Volume
from kopsgen.spec.raw import ClusterFile, RawVolume
from kopsgen.spec.yamlload import Path, format_path

DEFAULT_INSTANCE_TYPE = "t3.medium"
DEFAULT_ROOT_GIB = 30
DEFAULT_ETCD_DATA_GIB = 30
DEFAULT_VOLUME_TYPE = "gp3"


class BuildContext:
    """The raw, shape-checked file and where problems go; the checks shared by the parts."""

    def __init__(self, raw: ClusterFile, out: Collector):
        self.raw = raw
        self.out = out

    def err(self, path: Path, msg: str) -> None:
        self.out.error(path, msg)

    def warn(self, path: Path, msg: str) -> None:
        self.out.warn(path, msg)

    def either(self, flat: str, nested: Path, flat_value: Any, nested_value: Any) -> Any:
        """kube-aws accepted e.g. controllerCount and controller.count: take one, not both."""
        if flat_value is not None and nested_value is not None and flat_value != nested_value:
            self.err(nested, f"conflicts with `{flat}` ({flat_value!r}); set only one of them")
        return nested_value if nested_value is not None else flat_value

    # -- shared checks --------------------------------------------------------------------

    def written(self, path: Path) -> str:
        """``field (file:line)`` for a key as the user wrote it."""
        line = self.out.positions.at.get(tuple(path), (0, 0))[0]
        where = f" ({self.out.filename}:{line})" if line else ""
        return f"`{format_path(path)}`{where}"

    def instance_type(self, path: Path, value: str | None, role: str) -> str:
        if value is None:
            return DEFAULT_INSTANCE_TYPE
        if not rules.INSTANCE_TYPE_RE.fullmatch(value):
            self.err(path, f"{value!r} is not an EC2 instance type (e.g. t3.medium)")
            return value
        family = rules.instance_family(value)
        if family in rules.PREVIOUS_GENERATION:
            self.warn(path, f"{value} is a previous-generation instance type; consider a "
                      "current one (e.g. t3.medium or m6i.large)")
        size = value.split(".", 1)[1]
        if role in ("controller", "etcd") and size in ("nano", "micro"):
            self.err(path, f"{value} is too small for {role} nodes (the control plane needs "
                     "at least 2 GiB of memory; use e.g. t3.medium)")
        return value

    def tenancy(self, value: str | None) -> str:
        return value or "default"

    def volume(self, sources: list[tuple[Path, Any]], *, default_size: int,
               encrypted: bool | None = True, data: bool = False) -> Volume:
        """Resolve a volume from its spellings, first found wins.

        ``sources`` lists (path prefix, values) in precedence order, where values is a
        RawVolume (nested form, path prefix is the volume's mapping) or a tuple of three
        (value, path) pairs (flat form, e.g. controllerRootVolumeSize/Type/IOPS).
        """
        found: dict[str, tuple[Any, Path]] = {}
        for prefix, values in sources:
            if values is None:
                continue
            if isinstance(values, RawVolume):
                pairs = [(getattr(values, k), prefix + (k,)) for k in ("size", "type", "iops")]
            else:
                pairs = list(values)
            for key, (value, path) in zip(("size", "type", "iops"), pairs, strict=True):
                if value is not None and key not in found:
                    found[key] = (value, path)

        def where(key: str) -> Path:
            if key in found:
                return found[key][1]
            # Absent: point where the user would write it, next to the volume's type.
            if "type" in found:
                type_path = found["type"][1]
                return type_path[:-1] + (type_path[-1].replace("Type", "IOPS")
                                         if type_path[-1].endswith("Type") else key,)
            prefix = sources[0][0]
            return prefix + (key,)

        size = found.get("size", (default_size, None))[0]
        type_ = found.get("type", (DEFAULT_VOLUME_TYPE, None))[0]
        iops = found.get("iops", (None, None))[0]
        if type_ not in rules.ROOT_VOLUME_TYPES:
            if type_ in ("st1", "sc1"):
                self.err(where("type"), f"{type_} (throughput HDD) cannot be a "
                         f"{'etcd data' if data else 'root'} volume; use gp3")
            else:
                self.err(where("type"), f"unknown EBS volume type {type_!r}; use one of "
                         + ", ".join(rules.ROOT_VOLUME_TYPES))
            return Volume(size=size, type=DEFAULT_VOLUME_TYPE, iops=None,
                          encrypted=encrypted is not False)
        low, high = rules.VOLUME_SIZE[type_]
        if not data and size < 8:
            self.err(where("size"), f"{size} GiB is too small: Flatcar's root filesystem "
                     "needs at least 8 GiB")
        elif not low <= size <= high:
            self.err(where("size"), f"{size} GiB is outside {low}-{high} GiB for {type_}")
        if iops == 0:
            iops = None  # kube-aws wrote 0 for "not provisioned"
        if type_ in ("io1", "io2"):
            limit, ratio = (64000, 50) if type_ == "io1" else (256000, 1000)
            if iops is None:
                self.err(where("iops"), f"is required for {type_} volumes (100-{limit})")
            elif not 100 <= iops <= limit:
                self.err(where("iops"), f"{iops} is outside 100-{limit} for {type_}")
            elif iops > ratio * size:
                self.err(where("iops"), f"{iops} IOPS exceeds {ratio} IOPS per GiB for a "
                         f"{size} GiB {type_} volume")
        elif type_ == "gp3":
            if iops is not None and not 3000 <= iops <= 16000:
                self.err(where("iops"), f"{iops} is outside 3000-16000 for gp3")
            elif iops is not None and iops > 500 * size:
                self.err(where("iops"), f"{iops} IOPS exceeds 500 IOPS per GiB for a "
                         f"{size} GiB gp3 volume")
        elif iops is not None:
            self.err(where("iops"), f"cannot be set for {type_} volumes (only io1, io2, gp3)")
        return Volume(size=size, type=type_, iops=iops, encrypted=encrypted is not False)

    def shadowed_volume_keys(self) -> None:
        """Flat volume keys another spelling overrides everywhere (workerRootVolumeType when
        every pool sets its own, controllerRootVolumeSize beside controller.rootVolume) are
        never resolved into a volume; still, a value validate accepts must be one AWS
        takes, so each is checked on its own."""
        r = self.raw
        top_size = max(high for _, high in rules.VOLUME_SIZE.values())
        for stem in ("controllerRootVolume", "etcdRootVolume", "etcdDataVolume",
                     "workerRootVolume"):
            type_ = getattr(r, f"{stem}Type")
            size = getattr(r, f"{stem}Size")
            iops = getattr(r, f"{stem}IOPS")
            if type_ is not None and type_ not in rules.ROOT_VOLUME_TYPES:
                self.err((f"{stem}Type",), f"unknown EBS volume type {type_!r}; use one of "
                         + ", ".join(rules.ROOT_VOLUME_TYPES))
            if size is not None and not 1 <= size <= top_size:
                self.err((f"{stem}Size",), f"{size} GiB is outside 1-{top_size} GiB")
            if iops is not None and not 0 <= iops <= 256000:
                self.err((f"{stem}IOPS",), f"{iops} is outside 0-256000 IOPS")

    @staticmethod
    def _flat(model: Any, stem: str, prefix: Path = ()) -> tuple | None:
        """kube-aws's flat volume keys <stem>Size/Type/IOPS as (value, path) pairs."""
        keys = (f"{stem}Size", f"{stem}Type", f"{stem}IOPS")
        values = [getattr(model, k) for k in keys]
        return tuple((v, prefix + (k,)) for v, k in zip(values, keys, strict=True))

    def ids(self, path: Path, values: list[str] | None, pattern, what: str) -> tuple[str, ...]:
        for i, value in enumerate(values or []):
            if not pattern.fullmatch(value):
                self.err(path + (i,), f"{value!r} is not {what}")
        return tuple(values or [])

    def cidrs(self, path: Path, values: list[str] | None) -> tuple[str, ...]:
        result = []
        for i, value in enumerate(values or []):
            net, why = rules.parse_cidr(value)
            if why:
                self.err(path + (i,), why)
            else:
                result.append(str(net))
        return tuple(result)

    def scaling(self, path: Path, count: int | None, asg, *, default: int, role: str,
                count_path: Path) -> Scaling:
        min_size = max_size = min_in = None
        if asg is not None:
            min_size, max_size, min_in = asg.minSize, asg.maxSize, asg.rollingUpdateMinInstancesInService
            if count is not None and (min_size is not None or max_size is not None):
                self.err(count_path, "`count` and `autoScalingGroup.minSize/maxSize` are "
                         "mutually exclusive; set one of them")
        if count is not None and count < (1 if role != "pool" else 0):
            self.err(count_path, f"must be at least {1 if role != 'pool' else 0} (got {count})")
            count = default
        too_many = f"is more than the {rules.NODES_MAX} nodes a Kubernetes cluster supports"
        if count is not None and count > rules.NODES_MAX:
            self.err(count_path, f"{count} {too_many}")
            count = default
        for key, value in (("minSize", min_size), ("maxSize", max_size),
                           ("rollingUpdateMinInstancesInService", min_in)):
            if value is not None and value > rules.NODES_MAX:
                self.err(path + ("autoScalingGroup", key), f"{value} {too_many}")
                if key == "minSize":
                    min_size = None if max_size is None else min(max_size, rules.NODES_MAX)
                elif key == "maxSize":
                    max_size = rules.NODES_MAX
                else:
                    min_in = None
        if min_size is None and max_size is None:
            n = default if count is None else count
            min_size = max_size = n
        elif min_size is None:
            self.err(path + ("autoScalingGroup", "minSize"), "is required with maxSize")
            min_size = max_size
        elif max_size is None:
            self.err(path + ("autoScalingGroup", "maxSize"), "is required with minSize")
            max_size = min_size
        assert min_size is not None and max_size is not None
        if min_size < 0:
            self.err(path + ("autoScalingGroup", "minSize"), f"must be >= 0 (got {min_size})")
            min_size = 0
        elif min_size < 1 and role == "controller":
            self.err(path + ("autoScalingGroup", "minSize"), "must be at least 1: a cluster "
                     "needs a controller")
        if max_size < 1 and role != "pool":
            self.err(path + ("autoScalingGroup", "maxSize"), f"must be >= 1 (got {max_size})")
        if min_size > max_size:
            self.err(path + ("autoScalingGroup", "minSize"),
                     f"minSize ({min_size}) must not exceed maxSize ({max_size})")
            max_size = min_size
        if min_in is None:
            # Controllers are replaced new-before-old, so all stay in service; pools give
            # one node at a time, as kube-aws did.
            min_in = min_size if role == "controller" else max(min_size - 1, 0)
        elif min_in < 0:
            self.err(path + ("autoScalingGroup", "rollingUpdateMinInstancesInService"),
                     f"must be >= 0 (got {min_in})")
        elif max_size and min_in >= max_size:
            self.err(path + ("autoScalingGroup", "rollingUpdateMinInstancesInService"),
                     f"must be less than maxSize ({max_size}) or no instance can be replaced")
        return Scaling(min_size=min_size, max_size=max_size, desired=min_size,
                       min_in_service=min_in)

    # -- placement ------------------------------------------------------------------------

    def placement(self, refs, subnets: list[Subnet]) -> tuple[str, ...]:
        """The names of the subnets a role's instances go to: those it lists (``refs``), or
        by default the private subnets when there are any (reached through the NAT
        gateways), else the public ones."""
        if refs is None:
            private = [s for s in subnets if s.private]
            return tuple(s.name for s in private or subnets)
        return tuple(ref.name for ref in refs if ref.name)
