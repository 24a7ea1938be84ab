"""Pre-flight: the Route53 hosted zone and a record already in the way of the API name."""

from __future__ import annotations

from kopsgen import naming
from kopsgen.aws.checks.base import Check
from kopsgen.aws.errors import client_error, error_code

#: Record types that would clash with the API record kopsgen creates.
CONFLICTING_RECORD_TYPES = ("A", "AAAA", "CNAME")


def _fqdn(name: str) -> str:
    """A DNS name in the form compared here: lower case, no trailing dot (Route53 adds one)."""
    return name.rstrip(".").lower()


class DnsChecks(Check):
    # Route53 -------------------------------------------------------------------------------

    def hosted_zone(self) -> None:
        spec = self.spec
        if not spec.create_record_set or not spec.hosted_zone_id:
            return
        zone_id = spec.hosted_zone_id
        zone_name = self.zone_name(zone_id)
        if zone_name is None:
            return
        name = _fqdn(spec.external_dns_name)
        if name != zone_name and not name.endswith("." + zone_name):
            self.add("externalDNSName", f"{spec.external_dns_name} is not inside hosted zone "
                     f"{zone_id} ({zone_name}); use a name ending in .{zone_name}, or set "
                     "hostedZoneId to the zone of this name's domain")
            return
        with self.guard("externalDNSName", f"cannot check for a record {name} in zone {zone_id}"):
            self.record_conflicts(zone_id, name)

    def zone_name(self, zone_id: str) -> str | None:
        """The domain of hosted zone ``zone_id``, or None (with a problem)."""
        with self.guard("hostedZoneId", f"cannot read hosted zone {zone_id}"):
            try:
                return _fqdn(self.aws.client("route53").get_hosted_zone(Id=zone_id)["HostedZone"]["Name"])
            except client_error() as exc:
                if error_code(exc) not in ("NoSuchHostedZone", "InvalidInput"):
                    raise
            self.add("hostedZoneId", f"no Route53 hosted zone {zone_id} in this account")
        return None

    def record_conflicts(self, zone_id: str, name: str) -> None:
        records = self.aws.client("route53").list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name, MaxItems="100")["ResourceRecordSets"]
        for record in records:
            if _fqdn(record["Name"]) != name or record["Type"] not in CONFLICTING_RECORD_TYPES:
                continue
            alias = record.get("AliasTarget")
            if alias and self.is_own_load_balancer(alias.get("DNSName", "")):
                continue  # the record of an earlier `kopsgen up` of this cluster
            target = (f"alias to {alias.get('DNSName', '?').rstrip('.')}" if alias else
                      ", ".join(r["Value"] for r in record.get("ResourceRecords", [])))
            self.add("externalDNSName", f"a {record['Type']} record for {name} already exists in "
                     f"zone {zone_id} ({target}) and does not belong to cluster "
                     f"{self.spec.cluster_name}; remove it or choose another name")

    def is_own_load_balancer(self, dns_name: str) -> bool:
        """Whether ``dns_name`` is a load balancer tagged as this cluster's."""
        wanted = _fqdn(dns_name).removeprefix("dualstack.")
        elbv2 = self.aws.client("elbv2", self.spec.region)
        for page in elbv2.get_paginator("describe_load_balancers").paginate():
            for lb in page["LoadBalancers"]:
                if _fqdn(lb.get("DNSName", "")) == wanted:
                    tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])
                    keys = {t["Key"] for d in tags["TagDescriptions"] for t in d.get("Tags", [])}
                    return naming.cluster_tag(self.spec) in keys
        return False
