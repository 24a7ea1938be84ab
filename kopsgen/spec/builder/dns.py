"""Route53: the hosted zone and the record for externalDNSName."""

from __future__ import annotations

from kopsgen.spec import rules
from kopsgen.spec.builder.context import BuildContext


class DnsPart(BuildContext):
    """The Route53 keys."""

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
