"""The network: subnets (and their zones), the VPC and its gateways, the references to
subnets by name, and the cluster's pod and service ranges."""

from __future__ import annotations

import ipaddress

from kopsgen.spec import rules
from kopsgen.spec.builder.context import BuildContext
from kopsgen.spec.model import FIRST_ZONES, Controller, NodePool, Subnet
from kopsgen.spec.yamlload import Path


class NetworkPart(BuildContext):
    """Subnets, the VPC, references to subnets, and the pod and service ranges."""

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
            said = _says_private(name)
            if said is not None and said != bool(s.private):
                # The blog's ManagedPrivateSubnet1 with private: false: a reviewer trusts the name.
                where = path + ("private",) if s.private is not None else path + ("name",)
                self.warn(where, f"subnet {name!r} is {'private' if s.private else 'public'} "
                          f"(private: {'true' if s.private else 'false'}) but its name says "
                          f"{'private' if said else 'public'}")
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

    def subnet_references(self, subnet_names: list[str]) -> None:
        """Every subnet named by controller, etcd or a node pool must exist."""
        for path, refs in self._subnet_refs():
            for i, ref in enumerate(refs):
                if ref.name is None:
                    self.err(path + (i, "name"), "is required: the name of a subnet")
                elif ref.name not in subnet_names:
                    hint = rules.suggest(ref.name, subnet_names)
                    self.err(path + (i, "name"), f"no subnet named {ref.name!r} in `subnets`"
                             + (f"; did you mean {hint!r}?" if hint else
                                f" (defined: {', '.join(subnet_names) or 'none'})"))

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


def _says_private(name: str) -> bool | None:
    """Whether a subnet's name says private (True) or public (False); None if neither."""
    lowered = name.lower()
    if "private" in lowered:
        return True
    if "public" in lowered:
        return False
    return None
