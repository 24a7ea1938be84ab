"""From loaded YAML to a validated :class:`~kopsgen.spec.model.Spec`.

Three passes, each collecting every problem rather than stopping at the first:

1. keys: removed kube-aws keys and unknown keys (with a "did you mean");
2. shapes and types (the pydantic models in :mod:`kopsgen.spec.raw`);
3. meaning: defaults, the flat-vs-nested kube-aws spellings, names, ranges, network
   arithmetic and the relations between fields.

Every problem carries the YAML path of the field and, through the loader's positions, the
``file:line:col`` where it is written.

The passes live in the modules of this package, named for what they check or build:
:mod:`.collect` (the collector and passes 1-2), :mod:`.context` (what pass 3's parts
share), then :mod:`.cluster`, :mod:`.network`, :mod:`.controller`, :mod:`.etcd`,
:mod:`.nodepools`, :mod:`.dns` and :mod:`.storage`.
"""

from __future__ import annotations

from typing import Any

from kopsgen.errors import Problem
from kopsgen.spec.builder.cluster import ClusterPart
from kopsgen.spec.builder.collect import REMOVED_KEYS, Collector, check_keys, validate_shapes
from kopsgen.spec.builder.controller import ControllerPart
from kopsgen.spec.builder.dns import DnsPart
from kopsgen.spec.builder.etcd import EtcdPart
from kopsgen.spec.builder.network import NetworkPart
from kopsgen.spec.builder.nodepools import NodePoolPart
from kopsgen.spec.builder.storage import StoragePart
from kopsgen.spec.model import ETCD_VERSION, Spec
from kopsgen.spec.yamlload import Path, Positions

__all__ = ["REMOVED_KEYS", "build_spec"]


class _Builder(ClusterPart, NetworkPart, ControllerPart, EtcdPart, NodePoolPart, DnsPart,
               StoragePart):
    """Pass 3, meaning: every part of the spec in turn, then the Spec if nothing failed."""

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
        pools = self.node_pools(subnets, kube_version)
        self.subnet_references(subnet_names)

        vpc_cidr = self.network(subnets)
        service_cidr, pod_cidr, dns_ip = self.cluster_ranges(vpc_cidr, pools, controller)
        kms = self.kms(region)
        hosted_zone = self.route53()
        s3 = self.s3()
        assets = self.assets()
        tags = self.stack_tags(name)
        ca_days, cert_days = self.tls_days()
        ssh_cidrs, api_cidrs = self.access_cidrs()
        self.ssh(ssh_cidrs)
        self.shadowed_volume_keys()
        self.image()

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


_ENDPOINT_KEYS = {"name", "dnsName", "loadBalancer"}
_ENDPOINT_LB_KEYS = {"private", "hostedZone", "recordSetTTL", "recordSetManaged", "type",
                     "apiAccessAllowedSourceCIDRs", "subnets", "id", "managed",
                     "securityGroupIds"}


def _translate_api_endpoints(data: dict, positions: Positions, out: Collector) -> dict:
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
    out = Collector(positions, filename)
    if data is None:
        out.error((), "is empty; run `kopsgen init` to write a commented cluster.yaml")
        return None, out.errors, out.warnings
    if not isinstance(data, dict):
        out.error((), f"must be a mapping of keys to values, not a {type(data).__name__}")
        return None, out.errors, out.warnings
    data = _translate_api_endpoints(data, positions, out)
    cleaned = check_keys(data, (), out)
    raw = validate_shapes(cleaned, out)
    if raw is None:
        return None, out.errors, out.warnings
    spec = _Builder(raw, out).build()
    if out.errors:
        return None, out.errors, out.warnings
    return spec, out.errors, out.warnings
