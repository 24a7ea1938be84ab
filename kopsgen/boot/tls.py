"""The sandbox's own CA and the certificate of its HTTPS endpoint (S3 at its real names,
the release mirror): the machines trust this CA, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kopsgen sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure(where: Path, names: list[str]) -> bytes:
    """ca.pem, server.pem and server-key.pem in ``where`` (made when missing, or when the
    names changed); returns the CA certificate."""
    where.mkdir(parents=True, exist_ok=True)
    stamp = where / "names"
    if stamp.exists() and stamp.read_text() == "\n".join(names) and (where / "ca.pem").exists():
        return (where / "ca.pem").read_bytes()
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("kopsgen sandbox CA"))
          .issuer_name(_name("kopsgen sandbox CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (where / "ca.pem").write_bytes(ca_pem)
    (where / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    (where / "server-key.pem").write_bytes(_pem(key))
    (where / "server-key.pem").chmod(0o600)
    stamp.write_text("\n".join(names))
    return ca_pem
