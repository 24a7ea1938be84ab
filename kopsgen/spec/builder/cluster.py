"""The cluster as a whole: names, region, Kubernetes version, tags, TLS lifetimes, SSH and
API access, and the Flatcar image."""

from __future__ import annotations

from kopsgen.spec import rules
from kopsgen.spec.builder.context import BuildContext
from kopsgen.spec.model import DEFAULT_KUBERNETES_VERSION, SUPPORTED_MINORS


class ClusterPart(BuildContext):
    """Cluster-wide names and settings."""

    def cluster_name(self) -> str:
        name = self.raw.clusterName
        if not name:
            self.err(("clusterName",), "is required (e.g. clusterName: k8s)")
            return "invalid"
        if not rules.CLUSTER_NAME_RE.fullmatch(name) or name.endswith("-"):
            self.err(("clusterName",), f"{name!r} must start with a letter and contain "
                     "only lowercase letters, digits and hyphens (not ending with one)")
        elif len(name) > rules.CLUSTER_NAME_MAX:
            self.err(("clusterName",), f"{name!r} is {len(name)} characters; at most "
                     f"{rules.CLUSTER_NAME_MAX} so that derived AWS names (load balancer and "
                     "target group names, 32 characters) fit")
        return name

    def external_dns_name(self) -> str:
        name = self.raw.externalDNSName
        if not name:
            self.err(("externalDNSName",), "is required: the DNS name of the Kubernetes API "
                     "(e.g. k8s.example.com)")
            return "invalid.example.com"
        why = rules.check_dns_name(name)
        if why:
            self.err(("externalDNSName",), why)
        return name.lower()

    def region(self) -> str:
        region = self.raw.region
        if not region:
            self.err(("region",), "is required (e.g. region: us-east-1)")
            return "invalid"
        if not rules.REGION_RE.fullmatch(region):
            self.err(("region",), f"{region!r} is not an AWS region name (e.g. us-east-1)")
        elif region not in rules.KNOWN_REGIONS:
            near = rules.suggest(region, sorted(rules.KNOWN_REGIONS))
            self.warn(("region",), f"{region!r} is not an AWS region kopsgen knows"
                      + (f" (did you mean {near!r}?)" if near else "")
                      + "; `kopsgen validate --aws` checks that it exists")
        return region

    def kubernetes_version(self) -> str:
        return self.parse_kubernetes_version(("kubernetesVersion",), self.raw.kubernetesVersion,
                                             DEFAULT_KUBERNETES_VERSION)

    def parse_kubernetes_version(self, path, value: str | None, default: str) -> str:
        """``value`` (written at ``path``) normalised to vX.Y.Z, or ``default`` when absent;
        a supported minor (SUPPORTED_MINORS) or an error at ``path``."""
        key = path[-1]
        supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_MINORS)
        oldest, newest = SUPPORTED_MINORS[0], SUPPORTED_MINORS[-1]
        fix = f"write `{key}: {default}`"
        if value is None:
            return default
        m = rules.K8S_VERSION_RE.fullmatch(value)
        if not m:
            self.err(path, f"{value!r} is not a Kubernetes version "
                     f"(vX.Y.Z, e.g. {default}); {fix}")
            return default
        minor = (int(m["major"]), int(m["minor"]))
        if minor < oldest:
            self.err(path, f"{value} is end-of-life and no longer supported "
                     f"(kopsgen supports Kubernetes {supported}); {fix}")
        elif minor > newest:
            self.err(path, f"{value} is newer than kopsgen supports "
                     f"(Kubernetes {supported}); {fix}")
        return f"v{m['major']}.{m['minor']}.{m['patch']}"

    def stack_tags(self, cluster: str) -> tuple[tuple[str, str], ...]:
        tags = self.raw.stackTags or {}
        if len(tags) > 40:
            self.err(("stackTags",), f"{len(tags)} tags; AWS allows 50 per resource and kopsgen "
                     "needs some, so use at most 40")
        out = []
        for key, value in sorted(tags.items()):
            path = ("stackTags", key)
            text = value if isinstance(value, str) else str(value).lower() if isinstance(
                value, bool) else str(value)
            if not key or len(key) > rules.TAG_KEY_MAX:
                self.err(path, f"tag keys must be 1-{rules.TAG_KEY_MAX} characters")
            elif why := rules.check_tag_text(key):
                self.err(path, f"tag key {why}")
            elif key.lower().startswith("aws:"):
                self.err(path, "tag keys starting with aws: are reserved by AWS")
            elif key.startswith("kubernetes.io/cluster/"):
                self.err(path, "kopsgen sets the kubernetes.io/cluster/ tag itself; remove it")
            if len(text) > rules.TAG_VALUE_MAX:
                self.err(path, f"tag values must be at most {rules.TAG_VALUE_MAX} characters")
            elif why := rules.check_tag_text(text):
                self.err(path, f"tag value {why}")
            elif text.lower().startswith("aws:"):
                self.err(path, "tag values starting with aws: are reserved by AWS")
            out.append((key, text))
        return tuple(out)

    def tls_days(self) -> tuple[int, int]:
        r = self.raw
        ca = 3650 if r.tlsCADurationDays is None else r.tlsCADurationDays
        cert = 365 if r.tlsCertDurationDays is None else r.tlsCertDurationDays
        top = rules.TLS_DAYS_MAX
        for key, days in (("tlsCADurationDays", ca), ("tlsCertDurationDays", cert)):
            if days < 1:
                self.err((key,), f"must be at least 1 day (got {days})")
            elif days > top:
                self.err((key,), f"must be at most {top} days (100 years; got {days})")
        if 1 <= cert <= top and 1 <= ca <= top and cert > ca:
            self.err(("tlsCertDurationDays",), f"{cert} days outlives the CA "
                     f"(tlsCADurationDays: {ca}); certificates cannot be valid longer than "
                     "their CA")
        return ca, cert

    def access_cidrs(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The source ranges allowed to reach the nodes over SSH, and the API."""
        r = self.raw
        ssh_cidrs = self.cidrs(("sshAccessAllowedSourceCIDRs",), r.sshAccessAllowedSourceCIDRs)
        api_cidrs = ("0.0.0.0/0",) if r.apiAccessAllowedSourceCIDRs is None else self.cidrs(
            ("apiAccessAllowedSourceCIDRs",), r.apiAccessAllowedSourceCIDRs)
        if r.apiAccessAllowedSourceCIDRs is not None and not r.apiAccessAllowedSourceCIDRs:
            self.warn(("apiAccessAllowedSourceCIDRs",), "is empty: nobody can reach the "
                      "Kubernetes API through the load balancer")
        return ssh_cidrs, api_cidrs

    def ssh(self, ssh_cidrs: tuple[str, ...]) -> None:
        r = self.raw
        for i, key in enumerate(r.sshAuthorizedKeys or []):
            if not rules.SSH_KEY_RE.fullmatch(key):
                self.err(("sshAuthorizedKeys", i), "is not an OpenSSH public key "
                         "(ssh-ed25519 AAAA... comment)")
        if r.keyName is not None:
            if not rules.KEY_NAME_RE.fullmatch(r.keyName):
                self.err(("keyName",), "must be the name of an EC2 key pair (1-255 printable "
                         "ASCII characters)")
            elif not ssh_cidrs:
                self.warn(("keyName",), "is set but sshAccessAllowedSourceCIDRs is empty: no "
                          "one can reach the nodes over SSH")

    def image(self) -> None:
        r = self.raw
        if r.amiId is not None and not rules.AMI_RE.fullmatch(r.amiId):
            self.err(("amiId",), f"{r.amiId!r} is not an AMI ID (e.g. ami-0123456789abcdef0)")
        if r.releaseChannel == "lts" and not r.amiId:
            # The flatcar_ami module looks up the public stable/beta/alpha images only.
            self.err(("releaseChannel",), "lts images are not looked up by kopsgen; set amiId "
                     "to your Flatcar LTS AMI, or use stable, beta or alpha")
