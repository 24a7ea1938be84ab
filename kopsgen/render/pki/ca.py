"""The CAs of the PKI: created once, then only ever reused (a broken CA is an error the user
resolves on purpose), and the leaf certificates they sign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kopsgen.errors import WorkspaceError
from kopsgen.render.credential_files import (
    ALL_FILES,
    CA_CERT,
    CA_KEY,
    FRONT_PROXY_CA_CERT,
    FRONT_PROXY_CA_KEY,
    GITIGNORE,
)
from kopsgen.render.pki.catalogue import _Profile
from kopsgen.render.pki.params import BACKDATE, CA_WARN_BEFORE, PkiParams
from kopsgen.render.pki.primitives import (
    PrivateKey,
    _cert_pem,
    _general_name,
    _key_pem,
    _load_cert,
    _load_key,
    _new_key,
    _same_public_key,
    _ski,
)


def _builder(subject: x509.Name, issuer: x509.Name, key: PrivateKey, now: datetime,
             not_after: datetime, *, ca: bool, key_encipherment: bool = False
             ) -> x509.CertificateBuilder:
    """What every certificate of the PKI starts with: ``subject`` for ``key``, issued by
    ``issuer``, valid from :data:`BACKDATE` before ``now`` until ``not_after``; a CA signs
    certificates (no intermediate below it), a leaf only signs its handshakes."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _new_ca(params: PkiParams, key: PrivateKey, now: datetime,
            common_name: str | None = None) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kopsgen"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{params.cluster_name}-ca"),
        ]
    )
    return (
        _builder(name, name, key, now, now + timedelta(days=params.ca_days), ca=True)
        .add_extension(_ski(key), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue(
    profile: _Profile,
    key: PrivateKey,
    ca: x509.Certificate,
    ca_key: PrivateKey,
    cert_days: int,
    now: datetime,
) -> x509.Certificate:
    # A leaf never outlives its CA: clients would reject the chain after the CA expires.
    not_after = min(now + timedelta(days=cert_days), ca.not_valid_after_utc)
    builder = (
        _builder(profile.subject, ca.subject, key, now, not_after, ca=False,
                 # RSA key exchange (TLS 1.2 RSA kx) encrypts with the key; ECDSA never does.
                 key_encipherment=isinstance(key, rsa.RSAPrivateKey))
        .add_extension(x509.ExtendedKeyUsage(list(profile.usages)), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if profile.sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in profile.sans]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class _CaFiles:
    """One CA of the PKI: its two files and the common name a new one gets."""

    cert: str
    key: str
    common_name: str
    purpose: str  # said when it is created


def _ca_files(params: PkiParams) -> tuple[_CaFiles, _CaFiles]:
    return (
        _CaFiles(CA_CERT, CA_KEY, f"{params.cluster_name}-ca", "new CA"),
        _CaFiles(FRONT_PROXY_CA_CERT, FRONT_PROXY_CA_KEY, f"{params.cluster_name}-front-proxy-ca",
                 "new CA of the API aggregation layer"),
    )


def _load_ca(
    params: PkiParams, existing: Mapping[str, bytes], now: datetime, notices: list[str],
    which: _CaFiles | None = None,
) -> tuple[x509.Certificate, PrivateKey, bytes, bytes]:
    """A CA pair: reused, or created when credentials/ holds neither of its files (for the
    cluster CA: when it holds no PKI at all)."""
    which = which or _ca_files(params)[0]
    cert_name, key_name = which.cert, which.key
    has_cert, has_key = cert_name in existing, key_name in existing
    move_away = "or move credentials/ away and render again to create a new CA on purpose"
    if not has_cert and not has_key:
        others = sorted(n for n in existing if n in ALL_FILES and n != GITIGNORE)
        if others and cert_name == CA_CERT:
            raise WorkspaceError(
                f"credentials/ holds {', '.join(others)} but no ca.pem or ca-key.pem: "
                f"restore the CA from your backup, {move_away} (every node must then be "
                "replaced)"
            )
        key = _new_key(params.key_algorithm)
        ca = _new_ca(params, key, now, which.common_name)
        notices.append(
            f"{cert_name} created: {which.purpose} {ca.subject.rfc4514_string()} "
            f"valid until {ca.not_valid_after_utc:%Y-%m-%d}"
        )
        return ca, key, _cert_pem(ca), _key_pem(key)
    if not has_key:
        raise WorkspaceError(
            f"credentials/{cert_name} exists but credentials/{key_name} is missing: restore "
            f"the key from your backup, {move_away}"
        )
    if not has_cert:
        raise WorkspaceError(
            f"credentials/{key_name} exists but credentials/{cert_name} is missing: restore "
            f"the certificate from your backup, {move_away}"
        )
    ca = _load_cert(cert_name, existing[cert_name])
    key = _load_key(key_name, existing[key_name])
    if not _same_public_key(ca.public_key(), key.public_key()):
        raise WorkspaceError(
            f"credentials/{cert_name} and credentials/{key_name} do not belong together: "
            f"restore the matching pair from your backup, {move_away}"
        )
    try:
        is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise WorkspaceError(
            f"credentials/{cert_name} is not a CA certificate: restore it, {move_away}")
    left = ca.not_valid_after_utc - now
    if left <= timedelta(0):
        raise WorkspaceError(
            f"credentials/{cert_name} expired on {ca.not_valid_after_utc:%Y-%m-%d}: "
            f"{move_away}, then replace every node"
        )
    if left < CA_WARN_BEFORE:
        notices.append(
            f"{cert_name} expires in {left.days} days ({ca.not_valid_after_utc:%Y-%m-%d}); "
            "certificates cannot outlive it: plan a CA rotation"
        )
    return ca, key, existing[cert_name], existing[key_name]
