"""Describing certificates to people: subjects, SANs, usages and how long they stay valid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kopsgen.render.credential_files import SA_PUB
from kopsgen.render.pki.primitives import _eku, _load_cert, _san_strings, _utc, key_algorithm_of


@dataclass(frozen=True)
class CertInfo:
    file: str
    subject: str
    sans: tuple[str, ...]
    issuer: str
    not_after: datetime
    days_left: int
    usages: tuple[str, ...]
    key_algorithm: str


def _expiry_text(cert: x509.Certificate, now: datetime) -> str:
    days = (cert.not_valid_after_utc - now).days
    return f"expired {-days} days ago" if days < 0 else f"expires in {days} days"


_USAGE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
}


def _usage_name(oid: x509.ObjectIdentifier) -> str:
    return _USAGE_NAMES.get(oid, oid.dotted_string)


def _usages(cert: x509.Certificate) -> tuple[str, ...]:
    names: list[str] = []
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            names.append("CA")
    except x509.ExtensionNotFound:
        pass
    names.extend(_usage_name(u) for u in _eku(cert))
    return tuple(names)


def describe_certificates(files: Mapping[str, bytes], now: datetime) -> list[CertInfo]:
    """One entry per certificate in ``files`` (keys and the public SA key are skipped)."""
    now = _utc(now)
    infos = []
    for name in sorted(_certificate_names(files)):
        cert = _load_cert(name, files[name])
        infos.append(
            CertInfo(
                file=name,
                subject=cert.subject.rfc4514_string(),
                sans=_san_strings(cert),
                issuer=cert.issuer.rfc4514_string(),
                not_after=cert.not_valid_after_utc,
                days_left=(cert.not_valid_after_utc - now).days,
                usages=_usages(cert),
                key_algorithm=key_algorithm_of(cert.public_key()),
            )
        )
    return infos


def _certificate_names(files: Iterable[str]) -> list[str]:
    return [n for n in files if n.endswith(".pem") and not n.endswith("-key.pem") and n != SA_PUB]


def first_expiry(pems: Iterable[bytes]) -> datetime | None:
    """The earliest end of validity among the certificates in ``pems`` (keys are skipped)."""
    ends = [x509.load_pem_x509_certificate(pem).not_valid_after_utc
            for pem in pems if b"-----BEGIN CERTIFICATE-----" in pem]
    return min(ends, default=None)
