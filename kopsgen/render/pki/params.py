"""What the PKI depends on (:class:`PkiParams`) and its fixed policy: key algorithms, when a
certificate is renewed, how far new ones are backdated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from kopsgen.errors import ExitCode, KopsgenError

KEY_ALGORITHMS = ("ecdsa-p256", "rsa-2048")

# Re-issue a leaf this long before it expires; warn this long before the CA expires.
RENEW_BEFORE = timedelta(days=30)
CA_WARN_BEFORE = timedelta(days=90)
# Backdate new certificates so nodes with a slightly slow clock accept them at once.
BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class PkiParams:
    """Everything the PKI depends on, as plain values (the spec model maps onto it)."""

    cluster_name: str
    external_dns_name: str  # API server name, e.g. k8s.kubeops.net
    service_cidr: str  # e.g. 10.3.0.0/24 -> the API service IP 10.3.0.1 is a SAN
    etcd_names: tuple[str, ...]  # stable DNS names of the etcd members
    # The name in-cluster clients reach the API by (api.<cluster>.internal); a SAN of
    # apiserver.pem. None: only the names above.
    internal_api_name: str | None = None
    key_algorithm: str = "ecdsa-p256"  # or "rsa-2048"
    ca_days: int = 3650
    cert_days: int = 365


def _check_params(params: PkiParams) -> None:
    if params.key_algorithm not in KEY_ALGORITHMS:
        raise KopsgenError(
            f"keyAlgorithm {params.key_algorithm!r} is not one of {', '.join(KEY_ALGORITHMS)}",
            exit_code=ExitCode.INVALID_SPEC,
        )
    if params.ca_days < 1 or params.cert_days < 1:
        raise KopsgenError(
            "certificate validity (ca_days, cert_days) must be at least one day",
            exit_code=ExitCode.INVALID_SPEC,
        )
    if not params.etcd_names:
        raise KopsgenError("at least one etcd name is needed", exit_code=ExitCode.INVALID_SPEC)
