"""What every pass of the builder shares, and passes 1 and 2.

- :class:`Collector`: gathers errors and warnings, each at a YAML path with its
  ``file:line:col`` (one error per field);
- pass 1, :func:`check_keys`: removed kube-aws keys (:data:`REMOVED_KEYS`, by level) and
  unknown keys, with a "did you mean";
- pass 2, :func:`validate_shapes`: shapes and types, through the pydantic models of
  :mod:`kopsgen.spec.raw`, reported in plain words.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from kopsgen.errors import Problem
from kopsgen.spec import rules
from kopsgen.spec.raw import ClusterFile, RawNodePool
from kopsgen.spec.yamlload import Path, Positions, format_path

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


class Collector:
    """The errors and warnings found so far, each placed by the loader's positions."""

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


def check_keys(data: Any, path: Path, out: Collector) -> Any:
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
            result[key] = check_keys(value, path + (key,), out)
        return result
    if isinstance(data, list):
        return [check_keys(item, path + (i,), out) for i, item in enumerate(data)]
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


def validate_shapes(data: dict, out: Collector) -> ClusterFile | None:
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
