"""Rendering credentials/: every file of the PKI, reusing what still fits byte for byte."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from kopsgen.render.credential_files import (
    ALL_FILES,
    CA_CERT,
    GITIGNORE,
    GITIGNORE_TEXT,
    SA_KEY,
    SA_PUB,
    SECRET_NAMES,
)
from kopsgen.render.pki.ca import _ca_files, _issue, _load_ca
from kopsgen.render.pki.catalogue import (
    _Profile,
    profiles,
)
from kopsgen.render.pki.describe import _expiry_text, _usage_name
from kopsgen.render.pki.params import RENEW_BEFORE, PkiParams, _check_params
from kopsgen.render.pki.primitives import (
    PrivateKey,
    _cert_pem,
    _eku,
    _key_pem,
    _load_cert,
    _load_key,
    _new_key,
    _public_pem,
    _same_public_key,
    _san_strings,
    _signed_by,
    _utc,
    key_algorithm_of,
)


@dataclass
class CredentialsResult:
    files: dict[str, bytes]  # relative to credentials/
    secret_names: frozenset[str]  # files to write with mode 0600
    notices: list[str] = field(default_factory=list)
    #: the whole PKI was created now: every notice is about this render only (a later
    #: render of the same files says none of them again)
    new_pki: bool = False


def _san_change(profile: _Profile, have: tuple[str, ...]) -> str:
    removed = [s for s in have if s not in profile.sans]
    added = [s for s in profile.sans if s not in have]
    sources = dict(profile.san_sources)
    if len(removed) == 1 and len(added) == 1 and added[0] in sources:
        return f"SANs changed ({sources[added[0]]} {removed[0]} -> {added[0]})"
    parts = []
    if removed:
        parts.append("removed " + ", ".join(removed))
    if added:
        parts.append("added " + ", ".join(added))
    return f"SANs changed ({'; '.join(parts)})"


def _reasons(
    profile: _Profile,
    cert: x509.Certificate,
    key: PrivateKey,
    ca: x509.Certificate,
    now: datetime,
) -> list[str]:
    """Why an existing certificate no longer fits (empty: keep it byte for byte)."""
    reasons = []
    if not _same_public_key(cert.public_key(), key.public_key()):
        reasons.append(f"does not match {profile.name}-key.pem")
    if not _signed_by(cert, ca):
        reasons.append(f"not signed by the current CA ({profile.issuer})")
    if cert.subject != profile.subject:
        reasons.append(
            f"subject changed ({cert.subject.rfc4514_string()} -> {profile.subject.rfc4514_string()})"
        )
    have = _san_strings(cert)
    if set(have) != set(profile.sans):
        reasons.append(_san_change(profile, have))
    if set(_eku(cert)) != set(profile.usages):
        names = ", ".join(_usage_name(u) for u in profile.usages)
        reasons.append(f"extended key usages changed (now {names})")
    # Renewing only helps when the CA outlives the current certificate.
    remaining = cert.not_valid_after_utc - now
    if remaining < RENEW_BEFORE and ca.not_valid_after_utc > cert.not_valid_after_utc:
        reasons.append(_expiry_text(cert, now))
    return reasons


def render_credentials(params: PkiParams, existing: Mapping[str, bytes], now: datetime) -> CredentialsResult:
    """Every file of credentials/, reusing what still fits.

    A leaf certificate is (re-)issued only when it is missing, its key is missing or does
    not match, it is not signed by the current CA, its subject, SANs or usages differ from
    what ``params`` require, or it expires within :data:`RENEW_BEFORE`. Its existing key is
    kept; a key is generated only where none exists. A changed ``key_algorithm`` keeps the
    existing keys (a notice lists them): delete a pair to have it issued with the new one.

    Raises :class:`WorkspaceError` for a missing, mismatched, expired or corrupt CA and for
    any file that does not parse, naming the file.
    """
    _check_params(params)
    now = _utc(now)
    notices: list[str] = []
    files: dict[str, bytes] = {}
    cas: dict[str, tuple[x509.Certificate, PrivateKey]] = {}
    for which in _ca_files(params):
        ca, ca_key, files[which.cert], files[which.key] = _load_ca(
            params, existing, now, notices, which)
        cas[which.cert] = (ca, ca_key)
    other_algorithm: list[str] = []

    for name, profile in profiles(params).items():
        ca, ca_key = cas[profile.issuer]
        cert_name, key_name = f"{name}.pem", f"{name}-key.pem"
        key_note = ""
        if key_name in existing:
            key = _load_key(key_name, existing[key_name])
            key_pem = existing[key_name]
        else:
            key = _new_key(params.key_algorithm)
            key_pem = _key_pem(key)
            key_note = f"{key_name} missing, new key"
        if key_algorithm_of(key) != params.key_algorithm:
            other_algorithm.append(key_name)

        if cert_name not in existing:
            reasons = ["new"] if key_note else ["certificate missing, key kept"]
        elif key_note:
            _load_cert(cert_name, existing[cert_name])  # still name a corrupt file
            reasons = [key_note]
        else:
            cert = _load_cert(cert_name, existing[cert_name])
            reasons = _reasons(profile, cert, key, ca, now)
        if not reasons:
            files[cert_name], files[key_name] = existing[cert_name], key_pem
            continue
        cert = _issue(profile, key, ca, ca_key, params.cert_days, now)
        files[cert_name], files[key_name] = _cert_pem(cert), key_pem
        verb = "issued" if cert_name not in existing else "re-issued"
        notices.append(f"{cert_name} {verb}: {'; '.join(reasons)}")

    files[SA_PUB], files[SA_KEY] = _service_account(params, existing, notices, other_algorithm)
    files[GITIGNORE] = GITIGNORE_TEXT

    for which in reversed(_ca_files(params)):
        if key_algorithm_of(cas[which.cert][1]) != params.key_algorithm:
            other_algorithm.insert(0, which.key)
    if other_algorithm:
        notices.append(
            f"keyAlgorithm is {params.key_algorithm} but {', '.join(other_algorithm)} "
            "use another algorithm; existing keys are kept (rendering never rotates keys): "
            "delete a certificate and its key to have them issued with "
            f"{params.key_algorithm}"
        )
    ordered = {n: files[n] for n in ALL_FILES}
    return CredentialsResult(files=ordered, secret_names=SECRET_NAMES, notices=notices,
                             new_pki=CA_CERT not in existing)


def _service_account(
    params: PkiParams,
    existing: Mapping[str, bytes],
    notices: list[str],
    other_algorithm: list[str],
) -> tuple[bytes, bytes]:
    """The service-account token signing pair; the public half is derived from the key."""
    if SA_KEY in existing:
        key = _load_key(SA_KEY, existing[SA_KEY])
        key_pem = existing[SA_KEY]
        if key_algorithm_of(key) != params.key_algorithm:
            other_algorithm.append(SA_KEY)
    else:
        key = _new_key(params.key_algorithm)
        key_pem = _key_pem(key)
        if SA_PUB in existing:
            notices.append(
                f"{SA_KEY} created: it was missing; service-account tokens signed with the "
                "old key stop working"
            )
        else:
            notices.append(f"{SA_KEY} created: new")
    public = _public_pem(key)
    if SA_PUB in existing and existing[SA_PUB] != public and SA_KEY in existing:
        notices.append(f"{SA_PUB} rewritten: it did not match {SA_KEY}")
    return public, key_pem
