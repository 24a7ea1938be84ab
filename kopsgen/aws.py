"""Everything kopsgen asks AWS: pre-flight checks (``validate --aws``) and leftovers (``destroy``).

This is the only module that imports boto3, and only inside functions: ``kopsgen validate``
and every renderer must work on a machine without AWS access or credentials.

Pre-flight collects every problem at once, each naming the cluster.yaml field to fix; an AWS
error (a resource that does not exist, a refused call, an unreachable endpoint) becomes a
:class:`~kopsgen.errors.Problem`, never an exception.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kopsgen import naming
from kopsgen.errors import AwsCheckError, Problem, one_line
from kopsgen.spec import rules
from kopsgen.spec.model import Spec

__all__ = ["AwsClients", "asking", "failure", "is_aws_error", "make_session", "preflight",
           "tagged_resources"]

#: Short timeouts and one retry: a pre-flight that hangs for minutes is worse than one that
#: says the endpoint is unreachable.
RETRIES = {"max_attempts": 2, "mode": "standard"}
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20

#: Record types that would clash with the API record kopsgen creates.
CONFLICTING_RECORD_TYPES = ("A", "AAAA", "CNAME")
#: States of things that are on their way out and no longer count as leftovers.
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
LIVE_NAT_STATES = ["pending", "available", "deleting", "failed"]
GONE_KMS_STATES = ("PendingDeletion", "PendingReplicaDeletion")


@dataclass
class AwsClients:
    """boto3 clients for one region, all pointed at ``endpoint_url`` when one is given.

    The boto3 session is created on the first :meth:`client` call, so a bad profile shows
    up inside :func:`preflight` (as a problem) rather than where the object is built.
    """

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _session: Any = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)

    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` in ``region`` (default: the cluster's region)."""
        key = (service, region or self.region)
        if key not in self._clients:
            from botocore.config import Config

            options: dict[str, Any] = {}
            if self.endpoint_url and service == "s3":
                # An emulator on an IP address cannot serve virtual-hosted bucket names.
                options["s3"] = {"addressing_style": "path"}
            config = Config(retries=RETRIES, connect_timeout=CONNECT_TIMEOUT,
                            read_timeout=READ_TIMEOUT, **options)
            self._clients[key] = self.session().client(
                service, region_name=key[1], endpoint_url=self.endpoint_url, config=config)
        return self._clients[key]


def make_session(region: str, *, endpoint_url: str | None = None, profile: str | None = None) -> AwsClients:
    """Clients for ``region``; ``endpoint_url`` points every service at one emulator."""
    return AwsClients(region=region, endpoint_url=endpoint_url, profile=profile)


# --- error conversion ------------------------------------------------------------------------

def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _code_and_message(exc: Exception) -> tuple[str, str]:
    """The error code and message of an AWS answer. A body botocore could not parse (an
    XML error where JSON was expected, a proxy's HTML page) arrives as the message, with
    the HTTP status as the code: the code and message inside it are used, or it is named."""
    import re

    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    code = str(err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    message = str(err.get("Message") or "")
    if message.lstrip().startswith("<"):
        inner_code = re.search(r"<Code>([^<]{1,100})</Code>", message)
        inner_message = re.search(r"<Message>([^<]{0,500})</Message>", message)
        if inner_code:
            code = inner_code.group(1)
            message = inner_message.group(1) if inner_message else ""
        else:
            message = "the endpoint answered with a page that is not an AWS error (a proxy?)"
    return code, message


def _explain(exc: Exception) -> str:
    """One line for a botocore error: the AWS code and message, or what failed to connect."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        code, message = _code_and_message(exc)
        return one_line(f"{code}: {message}" if message else f"{code}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return one_line(f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}")
    if isinstance(exc, ReadTimeoutError):
        return one_line(f"no answer from {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} "
                        f"within {READ_TIMEOUT}s")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return one_line(str(exc))
    return one_line(f"{type(exc).__name__}: {exc}")


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` means no answer came back (as opposed to a refusal)."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    return isinstance(exc, ConnectionError | HTTPClientError)


def _botocore_errors() -> tuple[type[Exception], ...]:
    """Every error botocore raises for a failed call (imported late: see the module doc)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _client_error() -> type[Exception]:
    """The error of a call AWS answered with an error code."""
    from botocore.exceptions import ClientError

    return ClientError


#: Error codes with which AWS refuses the credentials themselves (not a permission).
CREDENTIAL_ERROR_CODES = frozenset({
    "AuthFailure", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
    "InvalidClientTokenId", "InvalidToken", "RequestExpired", "SignatureDoesNotMatch",
    "UnrecognizedClientException",
})
CREDENTIALS_HINT = ("configure AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
                    "`aws sso login`")
NETWORK_HINT = "check the network, proxy settings and AWS_ENDPOINT_URL"


def _hint(exc: Exception) -> str | None:
    """What to do about ``exc``, when it is the credentials or the network."""
    from botocore.exceptions import (
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if _unreachable(exc):
        return NETWORK_HINT
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound |
                  CredentialRetrievalError) or _code_and_message(exc)[0] in CREDENTIAL_ERROR_CODES:
        return CREDENTIALS_HINT
    return None


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error botocore raised (without importing it when no AWS call
    was made: then it cannot be one)."""
    import sys

    return "botocore.exceptions" in sys.modules and isinstance(exc, _botocore_errors())


def failure(what: str, exc: Exception) -> AwsCheckError:
    """A failed AWS call as one line: ``cannot <what>: <AWS's answer> (<what to do>)``."""
    hint = _hint(exc)
    return AwsCheckError(one_line(f"cannot {what}: {_explain(exc)}"
                                  + (f" ({hint})" if hint else "")))


@contextmanager
def asking(what: str) -> Iterator[None]:
    """Turn any botocore error inside the block into :func:`failure` (exit 5)."""
    try:
        yield
    except _botocore_errors() as exc:
        raise failure(what, exc) from None


def _region_of_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _fqdn(name: str) -> str:
    """A DNS name in the form compared here: lower case, no trailing dot (Route53 adds one)."""
    return name.rstrip(".").lower()


# --- pre-flight ------------------------------------------------------------------------------

@dataclass
class _Preflight:
    spec: Spec
    aws: AwsClients
    problems: list[Problem] = field(default_factory=list)

    def add(self, fld: str, message: str) -> None:
        self.problems.append(Problem(0, 0, fld, one_line(message), file="aws"))

    @contextmanager
    def guard(self, fld: str, what: str) -> Iterator[None]:
        """Turn any AWS error inside the block into one problem for ``fld``."""
        try:
            yield
        except _botocore_errors() as exc:
            self.add(fld, f"{what}: {_explain(exc)}")

    def ec2(self) -> Any:
        # The spec's region, whatever region the clients were made for.
        return self.aws.client("ec2", self.spec.region)

    # credentials ---------------------------------------------------------------------------

    def credentials(self, expected_account: str | None) -> bool:
        """Whether the credentials work (and are for the expected account)."""
        try:
            ident = self.aws.client("sts").get_caller_identity()
        except _botocore_errors() as exc:
            hint = NETWORK_HINT if _unreachable(exc) else CREDENTIALS_HINT
            self.add("", f"AWS credentials: {_explain(exc)} ({hint}); no other AWS check was run")
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
        except _botocore_errors() as exc:
            self.add("region", f"cannot use region {region}: {_explain(exc)}")
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
        except _botocore_errors() as exc:
            self.add("subnets", f"cannot list the availability zones of {region}: {_explain(exc)}")
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
        except _botocore_errors() as exc:
            for fld, itype, _ in uses:
                self.add(fld, f"cannot check where {itype} is offered: {_explain(exc)}")
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
            except _client_error() as exc:
                if _error_code(exc) != "InvalidKeyPair.NotFound":
                    raise
            names = [k["KeyName"] for k in self.ec2().describe_key_pairs().get("KeyPairs", [])]
            hint = rules.suggest(name, names)
            self.add("keyName", f"no EC2 key pair named {name!r} in {self.spec.region}"
                     + (f"; did you mean {hint!r}?" if hint else "; create or import it first "
                        "(aws ec2 import-key-pair)"))

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
            except _client_error() as exc:
                if _error_code(exc) not in ("NoSuchHostedZone", "InvalidInput"):
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

    # KMS -----------------------------------------------------------------------------------

    def kms_key(self) -> None:
        arn = self.spec.kms_key_arn
        if not arn:
            return
        # Ask the region the ARN names, so a key elsewhere is reported as elsewhere rather
        # than as missing.
        arn_region = _region_of_arn(arn) or self.spec.region
        with self.guard("kmsKeyArn", "cannot read the KMS key"):
            try:
                meta = self.aws.client("kms", arn_region).describe_key(KeyId=arn)["KeyMetadata"]
            except _client_error() as exc:
                if _error_code(exc) != "NotFoundException":
                    raise
                self.add("kmsKeyArn", f"no KMS key {arn} in {arn_region} (or no permission to "
                         "see it); leave kmsKeyArn \"\" to let kopsgen create one")
                return
            key_region = _region_of_arn(meta.get("Arn", arn)) or arn_region
            if key_region != self.spec.region:
                self.add("kmsKeyArn", f"the key is in {key_region}, not in the cluster's region "
                         f"{self.spec.region}; KMS keys cannot be used across regions")
            state = meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled")
            if state != "Enabled":
                self.add("kmsKeyArn", f"the key is {state}, not Enabled (aws kms enable-key "
                         f"--key-id {meta.get('KeyId', arn)})")
            spec_name = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
            if meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or (
                    spec_name and spec_name != "SYMMETRIC_DEFAULT"):
                self.add("kmsKeyArn", f"the key is {spec_name} for {meta.get('KeyUsage')}; S3 and "
                         "EBS encryption need a symmetric ENCRYPT_DECRYPT key")

    # S3 ------------------------------------------------------------------------------------

    def bucket(self, s3_uri_override: str | None) -> None:
        fld = "s3URI"
        if s3_uri_override:
            fld = "--s3-uri"
            bucket, _, why = rules.parse_s3_uri(s3_uri_override)
            if why:
                self.add(fld, why)
                return
        elif self.spec.s3 is not None:
            bucket = self.spec.s3.bucket
        else:
            return
        s3 = self.aws.client("s3", self.spec.region)
        with self.guard(fld, f"cannot reach bucket {bucket}"):
            try:
                s3.head_bucket(Bucket=bucket)
            except _client_error() as exc:
                code = _error_code(exc)
                if code in ("404", "NoSuchBucket", "NotFound"):
                    self.add(fld, f"bucket {bucket} does not exist; create it first "
                             f"(aws s3 mb s3://{bucket} --region {self.spec.region})")
                    return
                if code in ("403", "AccessDenied", "Forbidden"):
                    self.add(fld, f"bucket {bucket} exists but these credentials may not use it "
                             "(403 Forbidden)")
                    return
                raise
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
            # Buckets made before regions existed answer None (us-east-1) or "EU".
            region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
            if region != self.spec.region:
                # SSE-KMS needs the key in the bucket's region, and the key is in the cluster's.
                self.add(fld, f"bucket {bucket} is in {region}, not in the cluster's region "
                         f"{self.spec.region}; use a bucket in {self.spec.region}")

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
            except _client_error() as exc:
                if _error_code(exc) != not_found:
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


def preflight(spec: Spec, clients: AwsClients, *, expected_account: str | None = None,
              s3_uri_override: str | None = None) -> list[Problem]:
    """Check ``spec`` against the AWS account; every problem found, sorted (empty: all good).

    When the credentials do not work (or are for another account) that is the only problem
    and nothing else is asked. An unusable region skips the regional EC2 and KMS checks,
    which would all fail the same way.
    """
    check = _Preflight(spec, clients)
    if not check.credentials(expected_account):
        return check.problems
    steps: list[Callable[[], None]] = []
    if check.region():
        steps += [lambda: check.instance_types(check.zones()), check.key_pair, check.kms_key,
                  check.network]
    steps += [check.hosted_zone, lambda: check.bucket(s3_uri_override)]
    for step in steps:
        step()
    return sorted(check.problems)


# --- leftovers -------------------------------------------------------------------------------

def tagged_resources(clients: AwsClients, cluster_name: str) -> list[str]:
    """ARNs of everything in the region still tagged ``kubernetes.io/cluster/<name>``.

    Terminated instances, deleted NAT gateways and KMS keys scheduled for deletion are gone
    as far as ``destroy`` is concerned and are left out. Raises :class:`AwsCheckError` when
    AWS cannot be asked: "nothing left" must never mean "could not look".
    """
    tag = f"kubernetes.io/cluster/{cluster_name}"
    with asking(f"list resources tagged {tag} in {clients.region}"):
        return _tagged_resources(clients, tag)


def _tagged_resources(aws: AwsClients, tag: str) -> list[str]:
    ident = aws.client("sts").get_caller_identity()
    partition = ident["Arn"].split(":")[1]
    prefix = f"arn:{partition}:ec2:{aws.region}:{ident['Account']}"
    ec2 = aws.client("ec2")
    has_tag = {"Name": "tag-key", "Values": [tag]}

    def ec2_ids(call: str, key: str, id_key: str, extra: list[dict[str, Any]] | None = None) -> list[str]:
        pages = ec2.get_paginator(call).paginate(Filters=[has_tag, *(extra or [])])
        if call == "describe_instances":
            return [i[id_key] for p in pages for r in p["Reservations"] for i in r["Instances"]]
        return [item[id_key] for p in pages for item in p[key]]

    # The direct looks are the truth for these types: what they leave out is gone.
    direct = {
        "instance": ec2_ids("describe_instances", "Reservations", "InstanceId",
                            [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]),
        "volume": ec2_ids("describe_volumes", "Volumes", "VolumeId"),
        "vpc": ec2_ids("describe_vpcs", "Vpcs", "VpcId"),
        "natgateway": ec2_ids("describe_nat_gateways", "NatGateways", "NatGatewayId",
                              [{"Name": "state", "Values": LIVE_NAT_STATES}]),
    }
    found = {f"{prefix}:{kind}/{i}" for kind, ids in direct.items() for i in ids}

    asg_pages = aws.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": [tag]}])
    found.update(g["AutoScalingGroupARN"] for p in asg_pages for g in p["AutoScalingGroups"])

    elbv2 = aws.client("elbv2")
    lbs = [lb["LoadBalancerArn"] for p in elbv2.get_paginator("describe_load_balancers").paginate()
           for lb in p["LoadBalancers"]]
    for start in range(0, len(lbs), 20):  # describe_tags takes at most 20 ARNs
        for desc in elbv2.describe_tags(ResourceArns=lbs[start:start + 20])["TagDescriptions"]:
            if any(t["Key"] == tag for t in desc.get("Tags", [])):
                found.add(desc["ResourceArn"])

    kms = aws.client("kms")
    pages = aws.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": tag}])
    for page in pages:
        for mapping in page["ResourceTagMappingList"]:
            arn = mapping["ResourceARN"]
            kind = arn.split(":", 5)[-1].partition("/")[0]
            if arn.startswith(prefix + ":") and kind in direct:
                continue  # already decided by the direct look
            if arn.split(":")[2] == "kms" and kind == "key" and _kms_key_gone(kms, arn):
                continue
            found.add(arn)
    return sorted(found)


def _kms_key_gone(kms: Any, arn: str) -> bool:
    try:
        state = kms.describe_key(KeyId=arn)["KeyMetadata"].get("KeyState")
    except _client_error() as exc:
        if _error_code(exc) == "NotFoundException":
            return True
        raise
    return state in GONE_KMS_STATES
