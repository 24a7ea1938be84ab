"""From loaded YAML to a validated :class:`~kopsgen.spec.model.Spec`.

Three passes, each collecting every problem rather than stopping at the first:

1. keys: removed kube-aws keys and unknown keys (with a "did you mean");
2. shapes and types (the pydantic models in :mod:`kopsgen.spec.raw`);
3. meaning: defaults, the flat-vs-nested kube-aws spellings, names, ranges, network
   arithmetic and the relations between fields.

Every problem carries the YAML path of the field and, through the loader's positions, the
``file:line:col`` where it is written.
"""

from __future__ import annotations

import ipaddress
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ValidationError

from kopsgen.errors import Problem
from kopsgen.spec import rules
from kopsgen.spec.model import (
    DEFAULT_KUBERNETES_VERSION,
    ETCD_VERSION,
    SUPPORTED_MINORS,
    Assets,
    ClusterAutoscaler,
    Controller,
    Etcd,
    NodePool,
    S3Location,
    Scaling,
    Spec,
    Subnet,
    Taint,
    Volume,
)
from kopsgen.spec.raw import ClusterFile, RawNodePool, RawVolume
from kopsgen.spec.yamlload import Path, Positions, format_path

DEFAULT_INSTANCE_TYPE = "t3.medium"
DEFAULT_ROOT_GIB = 30
DEFAULT_ETCD_DATA_GIB = 30
DEFAULT_VOLUME_TYPE = "gp3"

_UNSUPPORTED = "is not supported by kopsgen; remove it"
#: kube-aws keys kopsgen knows but does not take, with what to do instead. Keyed by the
#: level they appear at: "" top level, "controller", "etcd", "worker", "nodePool", "subnet".
REMOVED_KEYS: dict[str, dict[str, str]] = {
    "": {
        "workerCount": "was removed in kube-aws v0.9.6; set worker.nodePools[].count instead",
        "hostedZone": "is replaced by hostedZoneId: write the zone's ID (e.g. Z0123456789ABC)",
        "useCalico": "is not supported: kopsgen installs flannel as the pod network; remove it",
        "hyperkubeImageRepo": "is not needed: kopsgen runs the official registry.k8s.io images "
                              "of kubernetesVersion; remove it",
        "awsCliImageRepo": "is not needed: nodes fetch their assets without an aws-cli image; "
                           "remove it",
        "awsCliTag": "is not needed: nodes fetch their assets without an aws-cli image; remove it",
        "containerRuntime": "is not needed: kopsgen nodes always run containerd; remove it",
        "experimental": "(kube-aws's experimental features) is not supported; remove the block "
                        "(node labels and taints go in worker.nodePools[].nodeLabels/taints)",
        "elasticFileSystemId": "is not supported; mount EFS with the EFS CSI driver instead",
        "eipAllocationIDs": "is not supported: kopsgen gives each NAT gateway its own Elastic IP;"
                            " remove it",
        "manageCertificates": "is not needed: kopsgen always manages credentials/; remove it",
        "waitSignal": "is not needed: `kopsgen up --wait` waits for the API; remove it",
        "controllerCreateTimeout": "is replaced by `kopsgen up --timeout`; remove it",
        "workerCreateTimeout": "is replaced by `kopsgen up --timeout`; remove it",
        "etcdDataVolumeEphemeral": "is not supported: etcd data always lives on its own "
                                   "persistent EBS volume; remove it",
        "workerTopologyPrivate": "is not supported; mark subnets `private: true` and list them "
                                 "in worker.nodePools[].subnets",
        "adminAPIEndpointName": "is not supported; the kubeconfig uses externalDNSName",
        "customSettings": _UNSUPPORTED,
        "cloudWatchLogging": _UNSUPPORTED,
        "amazonSsmAgent": _UNSUPPORTED,
        "kubeDns": _UNSUPPORTED,
        "kubernetesDashboard": _UNSUPPORTED,
        "addons": _UNSUPPORTED,
        "kubeResourcesAutosave": _UNSUPPORTED,
        "hostOS": "is not supported: nodes run Flatcar Container Linux (releaseChannel)",
        "kiamSupport": _UNSUPPORTED,
        "kube2IamSupport": _UNSUPPORTED,
    },
    "controller": {
        "createTimeout": "is replaced by `kopsgen up --timeout`; remove it",
        "iam": "is not supported: kopsgen creates least-privilege roles; remove it",
        "customFiles": _UNSUPPORTED,
        "customSystemdUnits": _UNSUPPORTED,
        "nodeLabels": _UNSUPPORTED,
        "instanceTags": "is not supported; use stackTags",
        "managedIamRoleName": "is not supported: kopsgen creates least-privilege roles",
    },
    "etcd": {
        "version": "is decided by kopsgen (etcd 3.5); remove it",
        "snapshot": _UNSUPPORTED,
        "disasterRecovery": _UNSUPPORTED,
        "kmsKeyArn": "is not supported: etcd volumes use the cluster's kmsKeyArn",
        "iam": "is not supported: kopsgen creates least-privilege roles; remove it",
        "customFiles": _UNSUPPORTED,
        "customSystemdUnits": _UNSUPPORTED,
        "memberIdentityProvider": "is not needed: members have stable DNS names; remove it",
        "internalDomainName": "is not needed: members are named <name>.<clusterName>.internal",
        "manageRecordSets": "is not needed: kopsgen manages the members' records",
        "hostedZone": "is not needed: kopsgen creates the private zone for the members",
        "instanceTags": "is not supported; use stackTags",
    },
    "worker": {
        "apiEndpointName": "is not supported; workers use externalDNSName",
    },
    "nodePool": {
        "spotFleet": "is not supported; use spotPrice (an Auto Scaling group of spot instances)",
        "loadBalancer": "is not supported; use Services of type LoadBalancer",
        "targetGroup": "is not supported; use Services of type LoadBalancer",
        "iam": "is not supported: kopsgen creates least-privilege roles; remove it",
        "customFiles": _UNSUPPORTED,
        "customSystemdUnits": _UNSUPPORTED,
        "apiEndpointName": "is not supported; workers use externalDNSName",
        "instanceTags": "is not supported; use stackTags",
        "waitSignal": "is not needed; remove it",
        "awsEnvironment": _UNSUPPORTED,
        "kube2IamSupport": _UNSUPPORTED,
        "ephemeralImageStorage": _UNSUPPORTED,
        "nodeDrainer": _UNSUPPORTED,
        "createTimeout": "is replaced by `kopsgen up --timeout`; remove it",
        "keyName": "is not supported per pool; set keyName at the top level",
        "releaseChannel": "is not supported per pool; set releaseChannel at the top level",
        "amiId": "is not supported per pool; set amiId at the top level",
        "managedIamRoleName": "is not supported: kopsgen creates least-privilege roles",
        "volumeMounts": _UNSUPPORTED,
        "gpu": _UNSUPPORTED,
    },
    "subnet": {
        "id": "is not supported: kopsgen creates its subnets (vpcId selects an existing VPC)",
        "idFromStackOutput": _UNSUPPORTED,
        "routeTable": "is not supported; use the top-level routeTableId",
        "natGateway": "is not supported: kopsgen creates a NAT gateway per zone",
        "internetGateway": "is not supported; use the top-level internetGatewayId",
    },
}

_TYPE_MESSAGES = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "none_required": "must be empty",
}


def _level_of(path: Path) -> str | None:
    """Which REMOVED_KEYS level a mapping at ``path`` is, or None."""
    named = tuple(p for p in path if isinstance(p, str))
    if path == ():
        return ""
    if named == ("controller",):
        return "controller"
    if named == ("etcd",):
        return "etcd"
    if named == ("worker",):
        return "worker"
    if named == ("worker", "nodePools") and isinstance(path[-1], int):
        return "nodePool"
    if named == ("subnets",) and isinstance(path[-1], int):
        return "subnet"
    return None


def _model_at(path: Path) -> type[BaseModel] | None:
    """The raw model class that validates the mapping at ``path`` (for key suggestions)."""
    model: Any = ClusterFile
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _unwrap(field.annotation)
        if model is None:
            return None
    return model


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside Optional[...] / list[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap(arg)
        if found is not None:
            return found
    return None


class _Collector:
    def __init__(self, positions: Positions, filename: str):
        self.positions = positions
        self.filename = filename
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self._seen: set[str] = set()

    def _problem(self, path: Path, message: str, severity: str) -> Problem:
        line, col = self.positions.of(path) if self.positions.at else (0, 0)
        return Problem(line, col, format_path(path), message, self.filename, severity)

    def error(self, path: Path, message: str) -> None:
        key = format_path(path)
        # One error per field is enough; the first found is the most basic one.
        if key in self._seen:
            return
        self._seen.add(key)
        self.errors.append(self._problem(path, message, "error"))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(self._problem(path, message, "warning"))



# --------------------------------------------------------------------------- pass 1: keys


def _check_keys(data: Any, path: Path, out: _Collector) -> Any:
    """Report removed and unknown keys; return ``data`` without them (for pass 2)."""
    if isinstance(data, dict):
        level = _level_of(path)
        removed = REMOVED_KEYS.get(level, {}) if level is not None else {}
        model = _model_at(path)
        allowed = [f.alias or n for n, f in model.model_fields.items()] if model else None
        result = {}
        for key, value in data.items():
            if key in removed:
                out.error(path + (key,), f"`{key}` {removed[key]}")
                continue
            if allowed is not None and key not in allowed:
                hint = rules.suggest(key, allowed)
                elsewhere = _known_elsewhere(key, path)
                msg = f"unknown key `{key}`"
                if hint:
                    msg += f"; did you mean `{hint}`?"
                elif elsewhere:
                    msg += f"; `{key}` belongs {elsewhere}"
                out.error(path + (key,), msg)
                continue
            result[key] = _check_keys(value, path + (key,), out)
        return result
    if isinstance(data, list):
        return [_check_keys(item, path + (i,), out) for i, item in enumerate(data)]
    return data


def _known_elsewhere(key: str, path: Path) -> str | None:
    if path and key in ClusterFile.model_fields:
        return "at the top level of cluster.yaml"
    if key in RawNodePool.model_fields and path == ():
        return "inside an entry of worker.nodePools"
    return None


# ------------------------------------------------------------------ pass 2: shapes, types


def _delete(data: Any, loc: tuple) -> bool:
    """Remove the value at ``loc`` (a pydantic error location) so validation can go on."""
    # A bad list element takes its whole list: indices of what follows must not shift.
    if loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    if not loc:
        return False
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(parent, dict) and loc[-1] in parent:
        del parent[loc[-1]]
        return True
    return False


def _type_message(err: dict) -> str:
    kind = err["type"]
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}".replace("'", "")
    if kind in _TYPE_MESSAGES:
        got = err.get("input")
        shown = f" (got {type(got).__name__} {got!r})" if isinstance(
            got, (str, int, float, bool)) else ""
        return _TYPE_MESSAGES[kind] + shown
    return err.get("msg", "is invalid").rstrip(".").lower()


def _validate_shapes(data: dict, out: _Collector) -> ClusterFile | None:
    for _ in range(50):
        try:
            return ClusterFile.model_validate(data)
        except ValidationError as exc:
            progressed = False
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (
                    p in ("str", "int", "float", "bool") or p.startswith("function"))))
                out.error(loc, _type_message(err))
                progressed |= _delete(data, loc)
            if not progressed:
                return None
    return None


# ---------------------------------------------------------------------- pass 3: meaning


class _Builder:
    def __init__(self, raw: ClusterFile, out: _Collector):
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

    # -- names, formats -------------------------------------------------------------------

    def cluster_name(self) -> str:
        name = self.raw.clusterName
        if not name:
            self.err(("clusterName",), "is required (e.g. clusterName: k8s)")
            return "invalid"
        if not rules.CLUSTER_NAME_RE.fullmatch(name) or name.endswith("-"):
            self.err(("clusterName",), f"{name!r} must start with a letter and contain "
                     "only lowercase letters, digits and hyphens (not ending with one)")
        elif len(name) > rules.CLUSTER_NAME_MAX:
            self.err(("clusterName",), f"{name!r} is {len(name)} characters; at most "
                     f"{rules.CLUSTER_NAME_MAX} so that derived AWS names (load balancer and "
                     "target group names, 32 characters) fit")
        return name

    def external_dns_name(self) -> str:
        name = self.raw.externalDNSName
        if not name:
            self.err(("externalDNSName",), "is required: the DNS name of the Kubernetes API "
                     "(e.g. k8s.example.com)")
            return "invalid.example.com"
        why = rules.check_dns_name(name)
        if why:
            self.err(("externalDNSName",), why)
        return name.lower()

    def region(self) -> str:
        region = self.raw.region
        if not region:
            self.err(("region",), "is required (e.g. region: us-east-1)")
            return "invalid"
        if not rules.REGION_RE.fullmatch(region):
            self.err(("region",), f"{region!r} is not an AWS region name (e.g. us-east-1)")
        return region

    def zone(self, path: Path, zone: str | None, region: str) -> str:
        if not zone:
            self.err(path, "is required (e.g. availabilityZone: us-east-1a)")
            return "invalid"
        if (not zone.startswith(region) or len(zone) != len(region) + 1
                or zone[-1] not in "abcdefghijklmnopqrstuvwxyz"):
            if rules.REGION_RE.fullmatch(zone[:-1] or "x") and zone[-1:].isascii() \
                    and zone[-1:].isalpha():
                self.err(path, f"zone {zone!r} is not in region {region!r}")
            else:
                self.err(path, f"{zone!r} is not an availability zone of {region!r} "
                         f"(e.g. {region}a)")
        return zone

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

    # -- the whole thing ------------------------------------------------------------------

    def build(self) -> Spec | None:
        r = self.raw
        name = self.cluster_name()
        dns = self.external_dns_name()
        region = self.region()

        kube_version = self.kubernetes_version()
        subnets, single_az = self.subnets(region)
        subnet_names = [s.name for s in subnets]

        controller = self.controller(subnets)
        etcd = self.etcd(subnets)
        pools = self.node_pools(subnets)

        # References by name.
        for path, refs in self._subnet_refs():
            for i, ref in enumerate(refs):
                if ref.name is None:
                    self.err(path + (i, "name"), "is required: the name of a subnet")
                elif ref.name not in subnet_names:
                    hint = rules.suggest(ref.name, subnet_names)
                    self.err(path + (i, "name"), f"no subnet named {ref.name!r} in `subnets`"
                             + (f"; did you mean {hint!r}?" if hint else
                                f" (defined: {', '.join(subnet_names) or 'none'})"))

        vpc_cidr = self.network(subnets)
        service_cidr, pod_cidr, dns_ip = self.cluster_ranges(vpc_cidr, pools, controller)
        kms = self.kms(region)
        hosted_zone = self.route53()
        s3 = self.s3()
        assets = self.assets()
        tags = self.stack_tags(name)
        ca_days, cert_days = self.tls_days()
        ssh_cidrs = self.cidrs(("sshAccessAllowedSourceCIDRs",), r.sshAccessAllowedSourceCIDRs)
        api_cidrs = ("0.0.0.0/0",) if r.apiAccessAllowedSourceCIDRs is None else self.cidrs(
            ("apiAccessAllowedSourceCIDRs",), r.apiAccessAllowedSourceCIDRs)
        if r.apiAccessAllowedSourceCIDRs is not None and not r.apiAccessAllowedSourceCIDRs:
            self.warn(("apiAccessAllowedSourceCIDRs",), "is empty: nobody can reach the "
                      "Kubernetes API through the load balancer")
        self.ssh(ssh_cidrs)
        self.shadowed_volume_keys()
        if r.amiId is not None and not rules.AMI_RE.fullmatch(r.amiId):
            self.err(("amiId",), f"{r.amiId!r} is not an AMI ID (e.g. ami-0123456789abcdef0)")
        if r.releaseChannel == "lts" and not r.amiId:
            # The flatcar_ami module looks up the public stable/beta/alpha images only.
            self.err(("releaseChannel",), "lts images are not looked up by kopsgen; set amiId "
                     "to your Flatcar LTS AMI, or use stable, beta or alpha")

        if self.out.errors:
            return None
        return Spec(
            cluster_name=name,
            external_dns_name=dns,
            region=region,
            release_channel=r.releaseChannel or "stable",
            ami_id=r.amiId or None,
            create_record_set=bool(r.createRecordSet),
            record_set_ttl=300 if r.recordSetTTL is None else r.recordSetTTL,
            hosted_zone_id=hosted_zone,
            key_name=r.keyName or None,
            ssh_authorized_keys=tuple(r.sshAuthorizedKeys or ()),
            kms_key_arn=kms,
            kubernetes_version=kube_version,
            etcd_version=ETCD_VERSION,
            vpc_id=r.vpcId or None,
            internet_gateway_id=r.internetGatewayId or None,
            route_table_id=r.routeTableId or None,
            map_public_ips=True if r.mapPublicIPs is None else r.mapPublicIPs,
            vpc_cidr=vpc_cidr,
            subnets=tuple(subnets),
            single_az=single_az,
            service_cidr=service_cidr,
            pod_cidr=pod_cidr,
            dns_service_ip=dns_ip,
            tls_ca_days=ca_days,
            tls_cert_days=cert_days,
            tls_key_algorithm=r.tlsKeyAlgorithm or "ecdsa-p256",
            stack_tags=tags,
            s3=s3,
            assets=assets,
            ssh_access_cidrs=ssh_cidrs,
            api_access_cidrs=api_cidrs,
            controller=controller,
            etcd=etcd,
            node_pools=tuple(pools),
        )

    def kubernetes_version(self) -> str:
        value = self.raw.kubernetesVersion
        supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_MINORS)
        oldest, newest = SUPPORTED_MINORS[0], SUPPORTED_MINORS[-1]
        fix = f"write `kubernetesVersion: {DEFAULT_KUBERNETES_VERSION}`"
        if value is None:
            return DEFAULT_KUBERNETES_VERSION
        m = rules.K8S_VERSION_RE.fullmatch(value)
        if not m:
            self.err(("kubernetesVersion",), f"{value!r} is not a Kubernetes version "
                     f"(vX.Y.Z, e.g. {DEFAULT_KUBERNETES_VERSION}); {fix}")
            return DEFAULT_KUBERNETES_VERSION
        minor = (int(m["major"]), int(m["minor"]))
        if minor < oldest:
            self.err(("kubernetesVersion",), f"{value} is end-of-life and no longer supported "
                     f"(kopsgen supports Kubernetes {supported}); {fix}")
        elif minor > newest:
            self.err(("kubernetesVersion",), f"{value} is newer than kopsgen supports "
                     f"(Kubernetes {supported}); {fix}")
        return f"v{m['major']}.{m['minor']}.{m['patch']}"

    def subnets(self, region: str) -> tuple[list[Subnet], bool]:
        r = self.raw
        if r.subnets is not None and r.availabilityZone is not None:
            self.err(("availabilityZone",), "`availabilityZone` (single-AZ mode) and `subnets` "
                     "are mutually exclusive; remove availabilityZone to use the subnets")
        if r.subnets is not None and r.instanceCIDR is not None:
            self.err(("instanceCIDR",), "applies only in single-AZ mode; with `subnets`, give "
                     "each subnet its own instanceCIDR")
        if r.subnets is None:
            # Single-AZ (kube-aws's availabilityZone) or, without it, two public subnets in
            # the region's first two zones: highly available by default.
            cidr = r.instanceCIDR or "10.0.0.0/24"
            if r.availabilityZone is not None:
                zone = self.zone(("availabilityZone",), r.availabilityZone, region)
                return [Subnet(name="Subnet0", availability_zone=zone, cidr=cidr,
                               private=False)], True
            if r.instanceCIDR is not None:
                self.err(("instanceCIDR",), "needs availabilityZone (single-AZ mode)")
            from kopsgen.initcmd import FIRST_ZONES

            first, second = FIRST_ZONES.get(region, ("a", "b"))
            return [Subnet(name="ManagedPublicSubnet1", availability_zone=region + first,
                           cidr="10.0.0.0/24", private=False),
                    Subnet(name="ManagedPublicSubnet2", availability_zone=region + second,
                           cidr="10.0.1.0/24", private=False)], False
        if not r.subnets:
            self.err(("subnets",), "must list at least one subnet")
            return [], False
        result: list[Subnet] = []
        seen: dict[str, int] = {}
        for i, s in enumerate(r.subnets):
            path = ("subnets", i)
            name = s.name if s.name is not None else f"Subnet{i}"
            if s.name is not None and not rules.DNS_LABEL_RE.fullmatch(s.name) or len(name) > 63:
                self.err(path + ("name",), f"{name!r} must be a DNS label: letters, digits "
                         "and hyphens, starting and ending with a letter or digit, at most 63")
            if name.lower() in seen:
                self.err(path + ("name",), f"duplicate subnet name {name!r} (also "
                         f"subnets[{seen[name.lower()]}])")
            seen.setdefault(name.lower(), i)
            zone = self.zone(path + ("availabilityZone",), s.availabilityZone, region)
            if not s.instanceCIDR:
                self.err(path + ("instanceCIDR",), "is required (e.g. 10.0.1.0/24)")
            result.append(Subnet(name=name, availability_zone=zone,
                                 cidr=s.instanceCIDR or "0.0.0.0/32", private=bool(s.private)))
        return result, False

    def _subnet_refs(self):
        r = self.raw
        if r.controller and r.controller.subnets is not None:
            yield ("controller", "subnets"), r.controller.subnets
        if r.etcd and r.etcd.subnets is not None:
            yield ("etcd", "subnets"), r.etcd.subnets
        for i, pool in enumerate((r.worker.nodePools or []) if r.worker else []):
            if pool.subnets is not None:
                yield ("worker", "nodePools", i, "subnets"), pool.subnets

    def _refs(self, refs, default: list[Subnet]) -> tuple[str, ...]:
        if refs is None:
            return tuple(s.name for s in default)
        return tuple(ref.name for ref in refs if ref.name)

    def _default_placement(self, subnets: list[Subnet]) -> list[Subnet]:
        # Nodes go to private subnets when there are any (reached through the NAT gateways),
        # else to the public ones.
        private = [s for s in subnets if s.private]
        return private or subnets

    def controller(self, subnets: list[Subnet]) -> Controller:
        r = self.raw
        c = r.controller
        count = self.either("controllerCount", ("controller", "count"), r.controllerCount,
                            c.count if c else None)
        count_path = ("controller", "count") if c and c.count is not None else ("controllerCount",)
        itype = self.either("controllerInstanceType", ("controller", "instanceType"),
                            r.controllerInstanceType, c.instanceType if c else None)
        itype_path = (("controller", "instanceType") if c and c.instanceType
                      else ("controllerInstanceType",))
        tenancy = self.either("controllerTenancy", ("controller", "tenancy"),
                              r.controllerTenancy, c.tenancy if c else None)
        scaling = self.scaling(("controller",), count, c.autoScalingGroup if c else None,
                               default=2, role="controller", count_path=count_path)
        if scaling.max_size == 1:
            self.warn(count_path, "a single controller is not highly available; use 2 or more")
        private_lb = bool(c and c.loadBalancer and c.loadBalancer.private)
        placement = self._refs(c.subnets if c else None, self._default_placement(subnets))
        public = [s.name for s in subnets if not s.private]
        priv = [s.name for s in subnets if s.private]
        if private_lb:
            lb_subnets = tuple(priv)
            if subnets and not priv:
                self.err(("controller", "loadBalancer", "private"), "an internal load balancer "
                         "needs private subnets; mark some subnets `private: true`")
        else:
            lb_subnets = tuple(public)
            if subnets and not public:
                self.err(("subnets",), "an internet-facing API load balancer needs at least one "
                         "public subnet (or set controller.loadBalancer.private: true)")
        return Controller(
            instance_type=self.instance_type(itype_path, itype, "controller"),
            root_volume=self.volume(
                [(("controller", "rootVolume"), c.rootVolume if c else None),
                 ((), self._flat(r, "controllerRootVolume"))],
                default_size=DEFAULT_ROOT_GIB),
            tenancy=self.tenancy(tenancy),
            scaling=scaling,
            private_load_balancer=private_lb,
            subnets=placement,
            load_balancer_subnets=lb_subnets,
            security_group_ids=self.ids(("controller", "securityGroupIds"),
                                        c.securityGroupIds if c else None, rules.SG_RE,
                                        "a security group ID (sg-...)"),
        )

    def etcd(self, subnets: list[Subnet]) -> Etcd:
        r = self.raw
        e = r.etcd
        count = self.either("etcdCount", ("etcd", "count"), r.etcdCount, e.count if e else None)
        count_path = ("etcd", "count") if e and e.count is not None else ("etcdCount",)
        if count is None:
            count = 3
        if count < 1:
            self.err(count_path, f"must be at least 1 (got {count})")
            count = 1
        elif count > 9:
            self.err(count_path, f"{count} members is more than etcd supports well; use 3, 5 "
                     "or 7")
        elif count == 1:
            self.warn(count_path, "a single etcd member is not highly available; use 3 or 5")
        elif count % 2 == 0:
            self.warn(count_path, f"an even number of etcd members ({count}) tolerates no more "
                      f"failures than {count - 1}; use an odd number")
        itype = self.either("etcdInstanceType", ("etcd", "instanceType"), r.etcdInstanceType,
                            e.instanceType if e else None)
        itype_path = ("etcd", "instanceType") if e and e.instanceType else ("etcdInstanceType",)
        tenancy = self.either("etcdTenancy", ("etcd", "tenancy"), r.etcdTenancy,
                              e.tenancy if e else None)
        dv = e.dataVolume if e else None
        encrypted = self.either("etcdDataVolumeEncrypted", ("etcd", "dataVolume", "encrypted"),
                                r.etcdDataVolumeEncrypted, dv.encrypted if dv else None)
        if encrypted is False:
            path = (("etcd", "dataVolume", "encrypted") if dv and dv.encrypted is not None
                    else ("etcdDataVolumeEncrypted",))
            self.err(path, "etcd data (every Secret of the cluster) must be encrypted; remove "
                     "this key or set it to true")
        return Etcd(
            count=count,
            instance_type=self.instance_type(itype_path, itype, "etcd"),
            root_volume=self.volume(
                [(("etcd", "rootVolume"), e.rootVolume if e else None),
                 ((), self._flat(r, "etcdRootVolume"))],
                default_size=DEFAULT_ROOT_GIB),
            data_volume=self.volume(
                [(("etcd", "dataVolume"), dv), ((), self._flat(r, "etcdDataVolume"))],
                default_size=DEFAULT_ETCD_DATA_GIB, data=True),
            tenancy=self.tenancy(tenancy),
            subnets=self._refs(e.subnets if e else None, self._default_placement(subnets)),
        )

    def node_pools(self, subnets: list[Subnet]) -> list[NodePool]:
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
                subnets=self._refs(p.subnets, self._default_placement(subnets)),
                node_labels=tuple(labels),
                taints=tuple(taints),
                security_group_ids=tuple(dict.fromkeys(sgs)),
            ))
        return pools

    def written(self, path: Path) -> str:
        """``field (file:line)`` for a key as the user wrote it."""
        line = self.out.positions.at.get(tuple(path), (0, 0))[0]
        where = f" ({self.out.filename}:{line})" if line else ""
        return f"`{format_path(path)}`{where}"

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

    def network(self, subnets: list[Subnet]) -> str:
        r = self.raw
        vpc_cidr_text = r.vpcCIDR or "10.0.0.0/16"
        vpc, why = rules.parse_cidr(vpc_cidr_text)
        if why:
            self.err(("vpcCIDR",), why)
        elif not 16 <= vpc.prefixlen <= 28:
            self.err(("vpcCIDR",), f"{vpc} must be between /16 and /28 (an AWS limit)")
            vpc = None
        if r.vpcId is not None and not rules.VPC_RE.fullmatch(r.vpcId):
            self.err(("vpcId",), f"{r.vpcId!r} is not a VPC ID (vpc-...)")
        if r.internetGatewayId is not None:
            if not rules.IGW_RE.fullmatch(r.internetGatewayId):
                self.err(("internetGatewayId",), f"{r.internetGatewayId!r} is not an internet "
                         "gateway ID (igw-...)")
            elif not r.vpcId:
                self.err(("internetGatewayId",), "can only be used with vpcId (an existing VPC)")
        if r.routeTableId is not None:
            if not rules.RTB_RE.fullmatch(r.routeTableId):
                self.err(("routeTableId",), f"{r.routeTableId!r} is not a route table ID (rtb-...)")
            elif not r.vpcId:
                self.err(("routeTableId",), "can only be used with vpcId (an existing VPC)")
        nets: list[tuple[int, Subnet, ipaddress.IPv4Network]] = []
        for i, s in enumerate(subnets):
            path = ("subnets", i, "instanceCIDR") if not self.raw_single() else ("instanceCIDR",)
            if s.cidr == "0.0.0.0/32":
                continue  # already reported as missing
            net, why = rules.parse_cidr(s.cidr)
            if why:
                self.err(path, why)
                continue
            if not 16 <= net.prefixlen <= 28:
                self.err(path, f"{net} must be between /16 and /28 (an AWS limit)")
                continue
            if vpc is not None and not net.subnet_of(vpc):
                self.err(path, f"{net} is not inside vpcCIDR {vpc}")
            for j, other, onet in nets:
                if net.overlaps(onet):
                    self.err(path, f"{net} overlaps subnets[{j}] ({other.name}, {onet})")
                    break
            nets.append((i, s, net))
        if r.routeTableId:
            # Every subnet uses the existing route table, so "private" would mean nothing
            # (kube-aws panicked on this combination).
            for i, s in enumerate(subnets):
                if s.private:
                    self.err(("subnets", i, "private"), "cannot be true with routeTableId: every "
                             "subnet then uses that route table; remove one of them")
        # Private subnets reach the internet through a NAT gateway in a public subnet of the
        # same zone (kube-aws crashed here instead of saying so).
        if not r.routeTableId:
            public_zones = {s.availability_zone for s in subnets if not s.private}
            for i, s in enumerate(subnets):
                if s.private and s.availability_zone not in public_zones:
                    self.err(("subnets", i, "private"), f"private subnet {s.name!r} is in zone "
                             f"{s.availability_zone} which has no public subnet for its NAT "
                             "gateway; add a public subnet in that zone")
        if r.mapPublicIPs is False and any(not s.private for s in subnets) and not r.routeTableId:
            self.warn(("mapPublicIPs",), "false: instances in public subnets get no public IP "
                      "and cannot reach the internet; use private subnets instead")
        return str(vpc) if vpc is not None else vpc_cidr_text

    def raw_single(self) -> bool:
        return self.raw.subnets is None

    def cluster_ranges(self, vpc_cidr: str, pools: list[NodePool], controller: Controller
                       ) -> tuple[str, str, str]:
        r = self.raw
        service_text = r.serviceCIDR or "10.3.0.0/24"
        pod_text = r.podCIDR or "10.2.0.0/16"
        dns_text = r.dnsServiceIP or "10.3.0.10"
        service, why = rules.parse_cidr(service_text)
        if why:
            self.err(("serviceCIDR",), why)
        elif service.prefixlen > 29:
            self.err(("serviceCIDR",), f"{service} is too small: it must hold the API service "
                     "IP and dnsServiceIP (use /24, e.g. 10.3.0.0/24)")
            service = None
        elif service.prefixlen < 12:
            self.err(("serviceCIDR",), f"{service} is too large: kube-apiserver accepts at "
                     "most a /12")
            service = None
        pod, why = rules.parse_cidr(pod_text)
        if why:
            self.err(("podCIDR",), why)
        elif pod.prefixlen > 23:
            self.err(("podCIDR",), f"{pod} is too small: every node gets a /24 from it; use "
                     "a /16 (e.g. 10.2.0.0/16)")
            pod = None
        vpc = ipaddress.ip_network(vpc_cidr) if rules.parse_cidr(vpc_cidr)[0] else None
        named = [("vpcCIDR", vpc), ("podCIDR", pod), ("serviceCIDR", service)]
        for a in range(3):
            for b in range(a + 1, 3):
                (na, va), (nb, vb) = named[a], named[b]
                if va is not None and vb is not None and va.overlaps(vb):
                    self.err((nb,), f"{vb} overlaps {na} {va}; the VPC, pod and service ranges "
                             "must not overlap")
        if pod is not None:
            capacity = 2 ** (24 - pod.prefixlen)
            nodes = sum(p.scaling.max_size for p in pools) + controller.scaling.max_size
            if nodes > capacity:
                self.err(("podCIDR",), f"{pod} has room for {capacity} nodes (a /24 each) but "
                         f"the pools can grow to {nodes}; use a larger range")
        try:
            dns_ip = ipaddress.IPv4Address(dns_text)
        except ValueError:
            self.err(("dnsServiceIP",), f"{dns_text!r} is not an IPv4 address")
            return service_text, pod_text, dns_text
        dns_text = str(dns_ip)
        if service is not None:
            if dns_ip not in service:
                self.err(("dnsServiceIP",), f"{dns_ip} is not inside serviceCIDR {service}")
            elif dns_ip == service[1]:
                self.err(("dnsServiceIP",), f"{dns_ip} is the API service IP (the first "
                         f"address of {service}); use another, e.g. {service[10]}")
            elif dns_ip in (service.network_address, service.broadcast_address):
                self.err(("dnsServiceIP",), f"{dns_ip} is the network or broadcast address of "
                         f"{service}")
        return service_text, pod_text, dns_text

    def kms(self, region: str) -> str | None:
        arn = self.raw.kmsKeyArn
        if not arn:
            return None
        m = rules.KMS_ARN_RE.fullmatch(arn)
        if not m:
            self.err(("kmsKeyArn",), f"{arn!r} is not a KMS key ARN "
                     "(arn:aws:kms:REGION:ACCOUNT:key/ID), or leave it \"\" to create a key")
            return None
        if m["region"] != region and region != "invalid":
            self.err(("kmsKeyArn",), f"the key is in {m['region']}, not in the cluster's region "
                     f"{region}; KMS keys cannot be used across regions")
        return arn

    def route53(self) -> str | None:
        r = self.raw
        zone = r.hostedZoneId or None
        if zone is not None:
            zone = zone.removeprefix("/hostedzone/")
            if not rules.HOSTED_ZONE_RE.fullmatch(zone):
                self.err(("hostedZoneId",), f"{r.hostedZoneId!r} is not a Route53 hosted zone "
                         "ID (uppercase letters and digits, e.g. Z0123456789ABC)")
        if r.createRecordSet and zone is None:
            self.err(("createRecordSet",), "needs hostedZoneId: the Route53 zone in which to "
                     "create the record for externalDNSName")
        if zone is not None and not r.createRecordSet:
            self.warn(("hostedZoneId",), "is set but createRecordSet is not true: no record "
                      "will be created (point externalDNSName at the load balancer yourself)")
        if r.recordSetTTL is not None and r.recordSetTTL < 1:
            self.err(("recordSetTTL",), f"must be at least 1 second (got {r.recordSetTTL})")
        elif r.recordSetTTL is not None and r.recordSetTTL > rules.RECORD_TTL_MAX:
            self.err(("recordSetTTL",), f"must be at most {rules.RECORD_TTL_MAX} seconds "
                     f"(Route53's limit; got {r.recordSetTTL})")
        return zone

    def s3(self) -> S3Location | None:
        uri = self.raw.s3URI
        if uri is None or uri == "":
            return None
        bucket, prefix, why = rules.parse_s3_uri(uri)
        if why:
            self.err(("s3URI",), why)
            return None
        return S3Location(bucket=bucket, prefix=prefix)

    def assets(self) -> Assets:
        raw = self.raw.assets
        if raw is None:
            return Assets()
        repo, registry = raw.fileRepository or None, raw.containerRegistry or None
        if repo is not None:
            m = rules.FILE_REPOSITORY_RE.fullmatch(repo)
            if not m:
                self.err(("assets", "fileRepository"), f"{repo!r} is not an http(s) URL of a "
                         "directory (e.g. https://mirror.example.com/files)")
                repo = None
            else:
                repo = repo.rstrip("/")
        if registry is not None:
            if not rules.CONTAINER_REGISTRY_RE.fullmatch(registry):
                self.err(("assets", "containerRegistry"), f"{registry!r} is not a registry "
                         "host with an optional path (e.g. mirror.example.com/k8s, no scheme)")
                registry = None
            else:
                registry = registry.rstrip("/")
        return Assets(file_repository=repo, container_registry=registry)

    def stack_tags(self, cluster: str) -> tuple[tuple[str, str], ...]:
        tags = self.raw.stackTags or {}
        if len(tags) > 40:
            self.err(("stackTags",), f"{len(tags)} tags; AWS allows 50 per resource and kopsgen "
                     "needs some, so use at most 40")
        out = []
        for key, value in sorted(tags.items()):
            path = ("stackTags", key)
            text = value if isinstance(value, str) else str(value).lower() if isinstance(
                value, bool) else str(value)
            if not key or len(key) > rules.TAG_KEY_MAX:
                self.err(path, f"tag keys must be 1-{rules.TAG_KEY_MAX} characters")
            elif why := rules.check_tag_text(key):
                self.err(path, f"tag key {why}")
            elif key.lower().startswith("aws:"):
                self.err(path, "tag keys starting with aws: are reserved by AWS")
            elif key.startswith("kubernetes.io/cluster/"):
                self.err(path, "kopsgen sets the kubernetes.io/cluster/ tag itself; remove it")
            if len(text) > rules.TAG_VALUE_MAX:
                self.err(path, f"tag values must be at most {rules.TAG_VALUE_MAX} characters")
            elif why := rules.check_tag_text(text):
                self.err(path, f"tag value {why}")
            elif text.lower().startswith("aws:"):
                self.err(path, "tag values starting with aws: are reserved by AWS")
            out.append((key, text))
        return tuple(out)

    def tls_days(self) -> tuple[int, int]:
        r = self.raw
        ca = 3650 if r.tlsCADurationDays is None else r.tlsCADurationDays
        cert = 365 if r.tlsCertDurationDays is None else r.tlsCertDurationDays
        top = rules.TLS_DAYS_MAX
        for key, days in (("tlsCADurationDays", ca), ("tlsCertDurationDays", cert)):
            if days < 1:
                self.err((key,), f"must be at least 1 day (got {days})")
            elif days > top:
                self.err((key,), f"must be at most {top} days (100 years; got {days})")
        if 1 <= cert <= top and 1 <= ca <= top and cert > ca:
            self.err(("tlsCertDurationDays",), f"{cert} days outlives the CA "
                     f"(tlsCADurationDays: {ca}); certificates cannot be valid longer than "
                     "their CA")
        return ca, cert

    def ssh(self, ssh_cidrs: tuple[str, ...]) -> None:
        r = self.raw
        for i, key in enumerate(r.sshAuthorizedKeys or []):
            if not rules.SSH_KEY_RE.fullmatch(key):
                self.err(("sshAuthorizedKeys", i), "is not an OpenSSH public key "
                         "(ssh-ed25519 AAAA... comment)")
        if r.keyName is not None:
            if not rules.KEY_NAME_RE.fullmatch(r.keyName):
                self.err(("keyName",), "must be the name of an EC2 key pair (1-255 printable "
                         "ASCII characters)")
            elif not ssh_cidrs:
                self.warn(("keyName",), "is set but sshAccessAllowedSourceCIDRs is empty: no "
                          "one can reach the nodes over SSH")


_ENDPOINT_KEYS = {"name", "dnsName", "loadBalancer"}
_ENDPOINT_LB_KEYS = {"private", "hostedZone", "recordSetTTL", "recordSetManaged", "type",
                     "apiAccessAllowedSourceCIDRs", "subnets", "id", "managed",
                     "securityGroupIds"}


def _translate_api_endpoints(data: dict, positions: Positions, out: _Collector) -> dict:
    """kube-aws v0.9.7+ wrote the API name as a one-entry ``apiEndpoints`` list; map that
    entry onto externalDNSName / hostedZoneId / createRecordSet / recordSetTTL /
    controller.loadBalancer.private / apiAccessAllowedSourceCIDRs."""
    endpoints = data.get("apiEndpoints")
    if endpoints is None:
        return data
    data = dict(data)
    del data["apiEndpoints"]
    base: Path = ("apiEndpoints",)
    if not isinstance(endpoints, list) or len(endpoints) != 1 or not isinstance(
            endpoints[0], dict):
        out.error(base, "kopsgen supports exactly one API endpoint; write it as "
                  "externalDNSName (with hostedZoneId/createRecordSet)")
        return data
    if "externalDNSName" in data:
        out.error(base, "give the API name either as externalDNSName or in apiEndpoints, "
                  "not both")
        return data
    ep = endpoints[0]
    here: Path = base + (0,)

    def move(src: Path, dst: str, value: Any) -> None:
        data[dst] = value
        positions.at.setdefault((dst,), positions.of(src))

    for key in ep:
        if key not in _ENDPOINT_KEYS:
            out.error(here + (key,), f"unknown key `{key}` in an API endpoint")
    if "dnsName" in ep:
        move(here + ("dnsName",), "externalDNSName", ep["dnsName"])
    lb = ep.get("loadBalancer") or {}
    if not isinstance(lb, dict):
        out.error(here + ("loadBalancer",), "must be a mapping of keys to values")
        return data
    lbp = here + ("loadBalancer",)
    for key in lb:
        if key not in _ENDPOINT_LB_KEYS:
            out.error(lbp + (key,), f"unknown key `{key}` in an API endpoint's loadBalancer")
    if "id" in lb or lb.get("managed") is False:
        out.error(lbp + ("id" if "id" in lb else "managed",), "an existing load balancer is "
                  "not supported: kopsgen creates the API's network load balancer")
    if "subnets" in lb or "securityGroupIds" in lb:
        out.error(lbp + ("subnets" if "subnets" in lb else "securityGroupIds",),
                  "is not supported: the load balancer uses the public subnets, or the "
                  "private ones with private: true")
    if lb.get("type") not in (None, "network", "classic"):
        out.error(lbp + ("type",), "must be network or classic")
    elif lb.get("type") == "classic":
        out.warn(lbp + ("type",), "kopsgen always creates a network load balancer")
    if "private" in lb:
        controller = dict(data.get("controller") or {})
        controller["loadBalancer"] = {**(controller.get("loadBalancer") or {}),
                                      "private": lb["private"]}
        move(lbp + ("private",), "controller", controller)
        positions.at.setdefault(("controller", "loadBalancer", "private"),
                                positions.of(lbp + ("private",)))
    zone = lb.get("hostedZone")
    if isinstance(zone, dict) and "id" in zone:
        move(lbp + ("hostedZone", "id"), "hostedZoneId", zone["id"])
        if lb.get("recordSetManaged", True) is not False:
            move(lbp + ("hostedZone",), "createRecordSet", True)
    if "recordSetTTL" in lb:
        move(lbp + ("recordSetTTL",), "recordSetTTL", lb["recordSetTTL"])
    if "apiAccessAllowedSourceCIDRs" in lb:
        move(lbp + ("apiAccessAllowedSourceCIDRs",), "apiAccessAllowedSourceCIDRs",
             lb["apiAccessAllowedSourceCIDRs"])
    return data


def build_spec(data: Any, positions: Positions, filename: str = "cluster.yaml"
               ) -> tuple[Spec | None, list[Problem], list[Problem]]:
    """Validate loaded YAML; return (spec or None, errors, warnings)."""
    out = _Collector(positions, filename)
    if data is None:
        out.error((), "is empty; run `kopsgen init` to write a commented cluster.yaml")
        return None, out.errors, out.warnings
    if not isinstance(data, dict):
        out.error((), f"must be a mapping of keys to values, not a {type(data).__name__}")
        return None, out.errors, out.warnings
    data = _translate_api_endpoints(data, positions, out)
    cleaned = _check_keys(data, (), out)
    raw = _validate_shapes(cleaned, out)
    if raw is None:
        return None, out.errors, out.warnings
    spec = _Builder(raw, out).build()
    if out.errors:
        return None, out.errors, out.warnings
    return spec, out.errors, out.warnings
