"""Pre-flight: the credentials (and their account), the region and its availability zones."""

from __future__ import annotations

from kopsgen.aws.checks.base import Check
from kopsgen.aws.errors import CREDENTIALS_HINT, NETWORK_HINT, botocore_errors, explain, unreachable
from kopsgen.spec import rules


class AccountChecks(Check):
    # credentials ---------------------------------------------------------------------------

    def credentials(self, expected_account: str | None) -> bool:
        """Whether the credentials work (and are for the expected account)."""
        try:
            ident = self.aws.client("sts").get_caller_identity()
        except botocore_errors() as exc:
            hint = NETWORK_HINT if unreachable(exc) else CREDENTIALS_HINT
            self.add("", f"AWS credentials: {explain(exc)} ({hint}); no other AWS check was run")
            return False
        account = ident.get("Account", "")
        if expected_account and account != expected_account:
            # Every other lookup would search the wrong account and report nonsense.
            self.add("", f"AWS credentials are for account {account} ({ident.get('Arn', '')}), "
                     f"not the expected account {expected_account}; no other AWS check was run")
            return False
        return True

    # region and zones ----------------------------------------------------------------------

    def region(self) -> bool:
        """Whether the region exists and is enabled for the account."""
        region = self.spec.region
        try:
            regions = self.ec2().describe_regions(AllRegions=True)["Regions"]
        except botocore_errors() as exc:
            self.add("region", f"cannot use region {region}: {explain(exc)}")
            return False
        found = next((r for r in regions if r.get("RegionName") == region), None)
        if found is None:
            names = [r["RegionName"] for r in regions if "RegionName" in r]
            hint = rules.suggest(region, names)
            self.add("region", f"{region} is not an AWS region" + (f"; did you mean {hint}?" if hint else ""))
            return False
        if found.get("OptInStatus", "opt-in-not-required") not in ("opt-in-not-required", "opted-in"):
            self.add("region", f"{region} is not enabled for this account (opt-in status "
                     f"{found['OptInStatus']}); enable it in the AWS console first")
            return False
        return True

    def zones(self) -> set[str]:
        """Check every subnet's zone; return the zones that exist and are available."""
        region = self.spec.region
        try:
            listed = self.ec2().describe_availability_zones(AllAvailabilityZones=True)
        except botocore_errors() as exc:
            self.add("subnets", f"cannot list the availability zones of {region}: {explain(exc)}")
            return set()
        states = {z["ZoneName"]: z.get("State", "available") for z in listed["AvailabilityZones"]}
        usable = {name for name, state in states.items() if state == "available"}
        for i, subnet in enumerate(self.spec.subnets):
            fld = "availabilityZone" if self.spec.single_az else f"subnets[{i}].availabilityZone"
            zone = subnet.availability_zone
            if zone not in states:
                hint = ", ".join(sorted(usable)) or "none"
                self.add(fld, f"{zone} is not an availability zone of {region} (available: {hint})")
            elif zone not in usable:
                self.add(fld, f"availability zone {zone} is {states[zone]}, not available")
        return usable
