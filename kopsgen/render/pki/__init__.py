"""The cluster PKI: one CA, the certificates every component needs, and their reuse.

Pure: existing ``credentials/`` content and the clock come in, the full set of files and a
list of notices come out. Nothing is rotated implicitly: valid files are returned byte for
byte, a certificate is re-issued only when it no longer fits (see :func:`render_credentials`)
and the CA is never replaced -- a broken CA is an error the user resolves on purpose.

Keys are kept when a certificate is re-issued (a new SAN does not need a new key); a key is
generated only where none exists. See docs/credentials.md for every file and who uses it.

The package, one concern a module: :mod:`~kopsgen.render.pki.params` (the inputs and the
renewal policy), :mod:`~kopsgen.render.pki.catalogue` (which certificate becomes which files,
who receives them, what each contains), :mod:`~kopsgen.render.pki.primitives` (keys and
certificates), :mod:`~kopsgen.render.pki.ca` (the CAs and what they sign),
:mod:`~kopsgen.render.pki.reuse` (:func:`render_credentials`) and
:mod:`~kopsgen.render.pki.describe` (expiry and description).
"""

from __future__ import annotations

from kopsgen.render.credential_files import (
    ALL_FILES,
    CA_CERT,
    CA_KEY,
    FRONT_PROXY_CA_CERT,
    FRONT_PROXY_CA_KEY,
    FRONT_PROXY_CLIENT_CN,
    GITIGNORE,
    GITIGNORE_TEXT,
    LEAF_NAMES,
    ROLE_FILES,
    SA_KEY,
    SA_PUB,
    SECRET_NAMES,
)
from kopsgen.render.pki.catalogue import (
    BOTH,
    CLIENT,
    SERVER,
    WORKER_CN,
    WORKER_GROUP,
    profiles,
)
from kopsgen.render.pki.describe import CertInfo, describe_certificates, first_expiry
from kopsgen.render.pki.params import (
    BACKDATE,
    CA_WARN_BEFORE,
    KEY_ALGORITHMS,
    RENEW_BEFORE,
    PkiParams,
)
from kopsgen.render.pki.primitives import PrivateKey, key_algorithm_of
from kopsgen.render.pki.reuse import CredentialsResult, render_credentials

__all__ = [
    "ALL_FILES",
    "BACKDATE",
    "BOTH",
    "CA_CERT",
    "CA_KEY",
    "CA_WARN_BEFORE",
    "CLIENT",
    "CertInfo",
    "CredentialsResult",
    "FRONT_PROXY_CA_CERT",
    "FRONT_PROXY_CA_KEY",
    "FRONT_PROXY_CLIENT_CN",
    "GITIGNORE",
    "GITIGNORE_TEXT",
    "KEY_ALGORITHMS",
    "LEAF_NAMES",
    "PkiParams",
    "PrivateKey",
    "RENEW_BEFORE",
    "ROLE_FILES",
    "SA_KEY",
    "SA_PUB",
    "SECRET_NAMES",
    "SERVER",
    "WORKER_CN",
    "WORKER_GROUP",
    "describe_certificates",
    "first_expiry",
    "key_algorithm_of",
    "profiles",
    "render_credentials",
]
