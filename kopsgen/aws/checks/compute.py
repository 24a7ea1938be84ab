"""Pre-flight: the instance types where the subnets are, and the EC2 key pair."""

from __future__ import annotations

from kopsgen.aws.checks.base import Check
from kopsgen.aws.errors import botocore_errors, client_error, error_code, explain
from kopsgen.spec import rules


class ComputeChecks(Check):
    # instance types ------------------------------------------------------------------------

    def uses(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(field, instance type, subnet names) for controllers, etcd and each pool."""
        spec = self.spec
        out = [("controllerInstanceType", spec.controller.instance_type, spec.controller.subnets),
               ("etcdInstanceType", spec.etcd.instance_type, spec.etcd.subnets)]
        for i, pool in enumerate(spec.node_pools):
            out.append((f"worker.nodePools[{i}].instanceType", pool.instance_type, pool.subnets))
        return out

    def instance_types(self, usable_zones: set[str]) -> None:
        uses = self.uses()
        types = sorted({itype for _, itype, _ in uses})
        offered: dict[str, set[str]] = {t: set() for t in types}
        try:
            pages = self.ec2().get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone",
                Filters=[{"Name": "instance-type", "Values": types}])
            for page in pages:
                for offer in page["InstanceTypeOfferings"]:
                    offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
        except botocore_errors() as exc:
            for fld, itype, _ in uses:
                self.add(fld, f"cannot check where {itype} is offered: {explain(exc)}")
            return
        for fld, itype, subnet_names in uses:
            # Zones that do not exist are reported once, on the subnet; not again here.
            zones = [z for z in dict.fromkeys(self.spec.subnet(n).availability_zone for n in subnet_names)
                     if z in usable_zones]
            where = offered.get(itype, set())
            if not where:
                self.add(fld, f"{itype} is not offered in {self.spec.region}: not an instance type, "
                         "or not available in this region")
                continue
            missing = [z for z in zones if z not in where]
            if missing:
                self.add(fld, f"{itype} is not offered in {', '.join(missing)} (offered in "
                         f"{', '.join(sorted(where))}); choose another type or other subnets")

    # key pair ------------------------------------------------------------------------------

    def key_pair(self) -> None:
        name = self.spec.key_name
        if not name:
            return
        with self.guard("keyName", f"cannot look up key pair {name!r}"):
            try:
                self.ec2().describe_key_pairs(KeyNames=[name])
                return
            except client_error() as exc:
                if error_code(exc) != "InvalidKeyPair.NotFound":
                    raise
            names = [k["KeyName"] for k in self.ec2().describe_key_pairs().get("KeyPairs", [])]
            hint = rules.suggest(name, names)
            self.add("keyName", f"no EC2 key pair named {name!r} in {self.spec.region}"
                     + (f"; did you mean {hint!r}?" if hint else "; create or import it first "
                        "(aws ec2 import-key-pair)"))
