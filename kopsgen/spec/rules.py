"""Small, pure format rules shared by the spec builder (and unit-tested one by one).

Every pattern here is applied with ``fullmatch``: Python's ``$`` also matches before a
final newline, so ``.match`` with ``^...$`` would let ``"k8s.example.com\n"`` through.
The limits and character sets are explained in docs/cluster-yaml.md.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata


def _pattern(regex: str, flags: int = 0) -> re.Pattern[str]:
    # ASCII: in a str pattern \d and \w also match other scripts' digits and letters.
    return re.compile(regex, flags | re.ASCII)


CLUSTER_NAME_MAX = 20
# Lowercase: the Terraform modules name S3 buckets and security groups after it and accept
# only lowercase names.
CLUSTER_NAME_RE = _pattern(r"^[a-z][a-z0-9-]*$")
DNS_LABEL_RE = _pattern(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
#: Node pool names end up in Terraform module addresses and AWS resource names, where the
#: nodepool module accepts only lowercase DNS labels.
POOL_NAME_RE = _pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
REGION_RE = _pattern(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
#: The AWS regions this kopsgen knows: botocore 1.44.8's data/endpoints.json, every
#: partition (commercial, China, GovCloud, ISO). A well-formed name not in it is most likely
#: a typo, but may be a region newer than this list, so it warns instead of failing.
KNOWN_REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1", "eu-central-1",
    "eu-central-2", "eu-isoe-west-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
    "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
    "sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-iso-east-1",
    "us-iso-west-1", "us-isob-east-1", "us-isob-west-1", "us-isof-east-1", "us-isof-south-1",
    "us-west-1", "us-west-2",
})
INSTANCE_TYPE_RE = _pattern(
    r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\."
    r"(nano|micro|small|medium|large|xlarge|\d+xlarge|metal(-\d+xl)?)$"
)
AMI_RE = _pattern(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
SG_RE = _pattern(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
VPC_RE = _pattern(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
IGW_RE = _pattern(r"^igw-[0-9a-f]{8}([0-9a-f]{9})?$")
RTB_RE = _pattern(r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$")
HOSTED_ZONE_RE = _pattern(r"^[A-Z0-9]{1,32}$")
KMS_ARN_RE = _pattern(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]+)$"
)
S3_URI_RE = _pattern(r"^s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$", re.DOTALL)
#: One segment of an S3 key prefix: a subset of AWS's "safe characters" (letters, digits,
#: ``! - _ . * ' ( )``) without ``! * ' ( )``, which shells, IAM policy ARNs (``*`` is a
#: wildcard there) and URLs treat specially. The Terraform modules check the same set.
S3_PREFIX_SEGMENT_RE = _pattern(r"[A-Za-z0-9._-]+")
#: S3 object keys are at most 1024 bytes; kopsgen appends <cluster>/credentials/<role>/<file>.
S3_PREFIX_MAX = 512
# assets: an http(s) URL of a directory (no query, no fragment, no spaces or quotes: it is
# written into shell scripts); a registry host[:port] with an optional path.
FILE_REPOSITORY_RE = _pattern(r"^https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[A-Za-z0-9._~%-]+)*/?$")
CONTAINER_REGISTRY_RE = _pattern(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d+)?(?:/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*/?$")
BUCKET_RE = _pattern(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
K8S_VERSION_RE = _pattern(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?:_coreos\.\d+)?$")
#: Kubernetes' version skew policy (kubernetes.io/releases/version-skew-policy): a kubelet
#: must not be newer than kube-apiserver and may be up to three minors older (kubelets
#: 1.25 and newer; kopsgen supports only those); kube-apiserver moves one minor at a time.
KUBELET_MAX_MINORS_BEHIND = 3
SPOT_PRICE_RE = _pattern(r"^\d+(\.\d+)?$")
LABEL_NAME_RE = _pattern(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_PREFIX_RE = _pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = _pattern(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
SSH_KEY_RE = _pattern(
    r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)"
    r"@openssh\.com) [A-Za-z0-9+/=]+( [\x20-\x7e]*)?$"
)
#: EC2 key pair names: "up to 255 ASCII characters" (CreateKeyPair); printable ones only,
#: since the name is written into Terraform and shown in messages.
KEY_NAME_RE = _pattern(r"^[\x20-\x7e]{1,255}$")

#: Families AWS lists as previous generation: they still launch, but cost more per unit of
#: work and are gone from newer zones.
PREVIOUS_GENERATION = frozenset(
    "t1 m1 m2 m3 m4 c1 c3 c4 cc2 cg1 cr1 g2 g3 hi1 hs1 i2 r3 r4 d2 x1 x1e p2 f1".split()
)

ROOT_VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "standard")
#: Size limits (GiB) per volume type.
VOLUME_SIZE = {"gp3": (1, 16384), "gp2": (1, 16384), "io1": (4, 16384), "io2": (4, 65536),
               "standard": (1, 1024)}

#: Route53 resource record TTL: 0 to 2147483647 seconds (ChangeResourceRecordSets, TTL
#: "Valid Range: Minimum value of 0. Maximum value of 2147483647"); kopsgen wants >= 1.
RECORD_TTL_MAX = 2_147_483_647
#: Certificate validity in days. X.509 notAfter cannot be later than 9999-12-31 (RFC 5280
#: GeneralizedTime) and Python's datetime stops there too; 100 years keeps every date a
#: render can compute inside that range until the year 9899.
TLS_DAYS_MAX = 36_525
#: Nodes in one Auto Scaling group (count, minSize, maxSize, cluster-autoscaler bounds):
#: Kubernetes supports at most 5000 nodes per cluster ("Considerations for large clusters").
NODES_MAX = 5000
#: Spot price: a USD-per-hour decimal; the dearest EC2 instance costs a few hundred.
SPOT_PRICE_MAX = 10_000

#: Characters AWS tag keys and values may hold across services: the Tag pattern of the
#: tagging API, ELB, EFS, ECS ... ``[\p{L}\p{Z}\p{N}_.:/=+\-@]``. EC2 alone allows any
#: character, but the provider's default_tags reach IAM, KMS, S3 and ELB too, so the
#: common set applies; kopsgen takes only space separators from \p{Z} (no line or
#: paragraph separator).
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256


def check_tag_text(text: str) -> str | None:
    """Why ``text`` cannot be an AWS tag key or value (charset only), or None."""
    for ch in text:
        if ch in _TAG_PUNCTUATION:
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "Zs":
            continue
        return (f"contains {ch!r}; AWS tags allow letters, digits, spaces and "
                "_ . : / = + - @ only")
    return None


def check_s3_prefix(prefix: str) -> str | None:
    """Why ``prefix`` (already stripped of leading/trailing slashes) is no S3 key prefix."""
    if len(prefix) > S3_PREFIX_MAX:
        return f"prefix is {len(prefix)} characters; at most {S3_PREFIX_MAX}"
    for segment in prefix.split("/") if prefix else ():
        if not segment:
            return f"prefix {prefix!r} contains an empty path segment"
        if segment in (".", ".."):
            return f"prefix {prefix!r} contains a {segment!r} segment"
        if not S3_PREFIX_SEGMENT_RE.fullmatch(segment):
            return (f"prefix {prefix!r} may contain only letters, digits, '.', '_', '-' and "
                    "'/' between segments")
    return None


def parse_s3_uri(uri: str) -> tuple[str, str, str | None]:
    """``s3://bucket[/prefix]`` -> (bucket, prefix without outer slashes, why-not or None)."""
    m = S3_URI_RE.fullmatch(uri)
    if not m:
        return "", "", f"{uri!r} is not an S3 URI (s3://bucket or s3://bucket/prefix)"
    bucket, prefix = m["bucket"], (m["prefix"] or "").strip("/")
    return bucket, prefix, check_bucket(bucket) or check_s3_prefix(prefix)


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
        if not DNS_LABEL_RE.fullmatch(label):
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
    if not BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        return (f"bucket {bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit)")
    try:
        ipaddress.ip_address(bucket)
        return f"bucket {bucket!r} must not be formatted as an IP address"
    except ValueError:
        pass
    # Reserved by S3 ("General purpose bucket naming rules").
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if bucket.startswith(prefix):
            return f"bucket {bucket!r} must not start with {prefix!r} (reserved by S3)"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if bucket.endswith(suffix):
            return f"bucket {bucket!r} must not end with {suffix!r} (reserved by S3)"
    return None


def check_label_key(key: str) -> str | None:
    """Kubernetes qualified name: optional DNS-subdomain prefix, '/', name."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not LABEL_PREFIX_RE.fullmatch(prefix)):
        return f"prefix {prefix!r} must be a lowercase DNS subdomain"
    if not name or not LABEL_NAME_RE.fullmatch(name):
        return ("name must be 1-63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    return None


def check_label_value(value: str) -> str | None:
    if len(value) > 63 or not LABEL_VALUE_RE.fullmatch(value):
        return ("must be at most 63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    return None


def instance_family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def kubelet_skew(kubelet: tuple[int, int], apiserver: tuple[int, int]) -> str | None:
    """Why a kubelet of minor ``kubelet`` may not talk to kube-apiserver ``apiserver``
    (the skew policy), or None. Minors are (major, minor) pairs."""
    if kubelet > apiserver:
        return "newer than the control plane's; a kubelet must not be newer than kube-apiserver"
    behind = apiserver[1] - kubelet[1] if kubelet[0] == apiserver[0] else None
    if behind is None or behind > KUBELET_MAX_MINORS_BEHIND:
        return (f"more than {KUBELET_MAX_MINORS_BEHIND} minors older than the control plane's; "
                f"a kubelet may be at most {KUBELET_MAX_MINORS_BEHIND} minors older than "
                "kube-apiserver")
    return None


def minor_of(version: str) -> tuple[int, int]:
    """``"v1.34.2"`` (normalised) -> ``(1, 34)``."""
    major, minor, _ = version.lstrip("v").split(".")
    return int(major), int(minor)


def version_of(version: str) -> tuple[int, int, int]:
    """``"v1.34.2"`` (normalised) -> ``(1, 34, 2)``."""
    major, minor, patch = version.lstrip("v").split(".")
    return int(major), int(minor), int(patch)


def control_plane_step(previous: str, wanted: str, *, said: str = "") -> str | None:
    """Why the control plane may not go from ``previous`` (normalised vX.Y.Z) to ``wanted``
    in one step, or None. Kubernetes upgrades kube-apiserver one minor at a time (its
    instances may differ by at most one minor while they are replaced) and supports no
    minor downgrade (objects are stored in the newer minor's versions, which the older one
    may not read). A patch release up or down within the minor is fine. ``said`` is how
    the message names ``previous`` (default: the version itself)."""
    old, new = minor_of(previous), minor_of(wanted)
    said = said or previous
    if new == old:
        return None
    if new < old:
        return (f"{wanted} is of an older minor than {said}; Kubernetes does not support "
                "downgrading the control plane a minor (kube-apiserver and etcd keep objects "
                f"in the newer minor's storage versions): stay on {old[0]}.{old[1]} (any "
                "patch release)")
    if new[0] != old[0] or new[1] - old[1] > 1:
        step = f"v{old[0]}.{old[1] + 1}.0" if new[0] == old[0] else f"v{new[0]}.0.0"
        return (f"{wanted} is more than one minor above {said}; the control plane goes "
                f"up one minor at a time: go to {old[0]}.{old[1] + 1} first (e.g. {step}), "
                f"apply it (kopsgen update), then go to {wanted}")
    return None
