"""Small, pure format rules shared by the spec builder (and unit-tested one by one)."""

from __future__ import annotations

import difflib
import ipaddress
import re

CLUSTER_NAME_MAX = 20
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
DNS_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
INSTANCE_TYPE_RE = re.compile(
    r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\."
    r"(nano|micro|small|medium|large|xlarge|\d+xlarge|metal(-\d+xl)?)$"
)
AMI_RE = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
SG_RE = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
VPC_RE = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
IGW_RE = re.compile(r"^igw-[0-9a-f]{8}([0-9a-f]{9})?$")
RTB_RE = re.compile(r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$")
HOSTED_ZONE_RE = re.compile(r"^[A-Z0-9]{1,32}$")
KMS_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]+)$"
)
S3_URI_RE = re.compile(r"^s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$")
# assets: an http(s) URL of a directory (no query, no fragment, no spaces or quotes: it is
# written into shell scripts); a registry host[:port] with an optional path.
FILE_REPOSITORY_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[A-Za-z0-9._~%-]+)*/?$")
CONTAINER_REGISTRY_RE = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d+)?(?:/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*/?$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
K8S_VERSION_RE = re.compile(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?:_coreos\.\d+)?$")
SPOT_PRICE_RE = re.compile(r"^\d+(\.\d+)?$")
LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
SSH_KEY_RE = re.compile(
    r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)"
    r"@openssh\.com) [A-Za-z0-9+/=]+( .*)?$"
)

#: Families AWS lists as previous generation: they still launch, but cost more per unit of
#: work and are gone from newer zones.
PREVIOUS_GENERATION = frozenset(
    "t1 m1 m2 m3 m4 c1 c3 c4 cc2 cg1 cr1 g2 g3 hi1 hs1 i2 r3 r4 d2 x1 x1e p2 f1".split()
)

ROOT_VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "standard")
#: Size limits (GiB) per volume type.
VOLUME_SIZE = {"gp3": (1, 16384), "gp2": (1, 16384), "io1": (4, 16384), "io2": (4, 65536),
               "standard": (1, 1024)}


def suggest(word: str, choices: list[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (case-insensitive), or None."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[hits[0]] if hits else None


def check_dns_name(name: str) -> str | None:
    """Why ``name`` is not a valid fully qualified DNS name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > 253:
        return "must be at most 253 characters"
    if name.endswith("."):
        return "must not end with a dot"
    try:
        ipaddress.ip_address(name)
        return "must be a DNS name, not an IP address"
    except ValueError:
        pass
    labels = name.split(".")
    if len(labels) < 2:
        return f"{name!r} is not a fully qualified name (e.g. k8s.example.com)"
    for label in labels:
        if not label:
            return f"{name!r} has an empty label"
        if len(label) > 63:
            return f"label {label!r} is longer than 63 characters"
        if not DNS_LABEL_RE.match(label):
            return (f"label {label!r} may contain only letters, digits and hyphens and must "
                    "start and end with a letter or digit")
    if labels[-1].isdigit():
        return "the top-level label must not be numeric"
    return None


def parse_cidr(value: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    """Parse an IPv4 CIDR strictly: returns (network, None) or (None, why)."""
    if "/" not in value:
        return None, f"{value!r} is not a CIDR (e.g. 10.0.0.0/16)"
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None, f"{value!r} is not a valid CIDR (e.g. 10.0.0.0/16)"
    if net.version != 4:
        return None, f"{value!r}: only IPv4 CIDRs are supported"
    if str(net) != value:
        return None, f"{value!r} has host bits set; did you mean {net}?"
    return net, None


def check_bucket(bucket: str) -> str | None:
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        return (f"bucket {bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit)")
    try:
        ipaddress.ip_address(bucket)
        return f"bucket {bucket!r} must not be formatted as an IP address"
    except ValueError:
        return None


def check_label_key(key: str) -> str | None:
    """Kubernetes qualified name: optional DNS-subdomain prefix, '/', name."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not LABEL_PREFIX_RE.match(prefix)):
        return f"prefix {prefix!r} must be a lowercase DNS subdomain"
    if not name or not LABEL_NAME_RE.match(name):
        return ("name must be 1-63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    return None


def check_label_value(value: str) -> str | None:
    if len(value) > 63 or not LABEL_VALUE_RE.match(value):
        return ("must be at most 63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    return None


def instance_family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]
