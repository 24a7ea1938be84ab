"""Pre-flight: an existing VPC, its internet gateway and route table, and overlapping subnets."""

from __future__ import annotations

import ipaddress
from typing import Any

from kopsgen import naming
from kopsgen.aws.checks.base import Check
from kopsgen.aws.errors import client_error, error_code


class NetworkChecks(Check):
    # existing network ----------------------------------------------------------------------

    def network(self) -> None:
        spec = self.spec
        if not spec.vpc_id:
            return
        vpc = self.lookup("vpcId", spec.vpc_id, "describe_vpcs", "VpcIds", "Vpcs",
                          "InvalidVpcID.NotFound", "VPC")
        if vpc is not None:
            cidrs = [vpc.get("CidrBlock")] + [
                a.get("CidrBlock") for a in vpc.get("CidrBlockAssociationSet", [])
                if a.get("CidrBlockState", {}).get("State", "associated") == "associated"]
            cidrs = list(dict.fromkeys(c for c in cidrs if c))
            if spec.vpc_cidr not in cidrs:
                self.add("vpcCIDR", f"{spec.vpc_cidr} is not a CIDR block of {spec.vpc_id} "
                         f"({', '.join(cidrs)}); set vpcCIDR to the VPC's CIDR")
            self.subnet_overlaps()
        if spec.internet_gateway_id:
            igw = self.lookup("internetGatewayId", spec.internet_gateway_id,
                              "describe_internet_gateways", "InternetGatewayIds", "InternetGateways",
                              "InvalidInternetGatewayID.NotFound", "internet gateway")
            if igw is not None and vpc is not None:
                attached = [a["VpcId"] for a in igw.get("Attachments", [])
                            if a.get("State") in ("available", "attached")]
                if spec.vpc_id not in attached:
                    where = f"attached to {', '.join(attached)}" if attached else "not attached"
                    self.add("internetGatewayId", f"{spec.internet_gateway_id} is {where}, not to "
                             f"vpcId {spec.vpc_id}")
        if spec.route_table_id:
            rtb = self.lookup("routeTableId", spec.route_table_id, "describe_route_tables",
                              "RouteTableIds", "RouteTables", "InvalidRouteTableID.NotFound",
                              "route table")
            if rtb is not None and vpc is not None and rtb.get("VpcId") != spec.vpc_id:
                self.add("routeTableId", f"{spec.route_table_id} belongs to {rtb.get('VpcId')}, "
                         f"not to vpcId {spec.vpc_id}")

    def lookup(self, fld: str, ident: str, call: str, id_param: str, key: str, not_found: str,
               what: str) -> dict[str, Any] | None:
        """One EC2 object by ID, or None (with a problem) when it is missing or unreadable."""
        with self.guard(fld, f"cannot look up {what} {ident}"):
            try:
                found = getattr(self.ec2(), call)(**{id_param: [ident]})[key]
            except client_error() as exc:
                if error_code(exc) != not_found:
                    raise
                found = []
            if not found:
                self.add(fld, f"no {what} {ident} in {self.spec.region}")
                return None
            return found[0]
        return None

    def subnet_overlaps(self) -> None:
        spec = self.spec
        own = naming.cluster_tag(spec)
        existing: list[tuple[str, ipaddress.IPv4Network]] = []
        with self.guard("subnets", f"cannot list the subnets of {spec.vpc_id}"):
            pages = self.ec2().get_paginator("describe_subnets").paginate(
                Filters=[{"Name": "vpc-id", "Values": [spec.vpc_id]}])
            for page in pages:
                for sub in page["Subnets"]:
                    # Subnets of an earlier `up` of this cluster are ours, not in the way.
                    if any(t.get("Key") == own for t in sub.get("Tags", [])):
                        continue
                    existing.append((sub["SubnetId"], ipaddress.ip_network(sub["CidrBlock"])))
        for i, subnet in enumerate(spec.subnets):
            fld = "instanceCIDR" if spec.single_az else f"subnets[{i}].instanceCIDR"
            net = ipaddress.ip_network(subnet.cidr)
            for sub_id, other in existing:
                if net.overlaps(other):
                    self.add(fld, f"{net} overlaps existing subnet {sub_id} ({other}) in {spec.vpc_id}")
