"""The certificate catalogue: which files credentials/ holds, which node role receives which
(:data:`ROLE_FILES`), and what each leaf certificate must contain (:func:`profiles`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kopsgen.errors import ExitCode, KopsgenError
from kopsgen.render.credential_files import (
    CA_CERT,
    FRONT_PROXY_CA_CERT,
    FRONT_PROXY_CLIENT_CN,
)
from kopsgen.render.pki.params import PkiParams

SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)
CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)
BOTH = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)

# The kubelet bootstrap identity: members of system:bootstrappers may only create CSRs;
# every kubelet then gets its own system:node:<name> certificate (NodeRestriction).
WORKER_CN = "system:bootstrap:kopsgen-worker"
WORKER_GROUP = "system:bootstrappers"


@dataclass(frozen=True)
class _Profile:
    """What one leaf certificate must contain."""

    name: str
    common_name: str
    organizations: tuple[str, ...]
    usages: tuple[x509.ObjectIdentifier, ...]
    sans: tuple[str, ...]  # DNS names and IP addresses, in the order written
    # SAN -> the parameter it comes from, so a notice can name what changed.
    san_sources: tuple[tuple[str, str], ...] = ()
    issuer: str = CA_CERT  # the CA that signs it: ca.pem or front-proxy-ca.pem

    @property
    def subject(self) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in self.organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        return x509.Name(attrs)


def _service_ip(service_cidr: str) -> str:
    try:
        net = ipaddress.ip_network(service_cidr, strict=False)
    except ValueError as exc:
        raise KopsgenError(
            f"serviceCIDR {service_cidr!r} is not a network ({exc})",
            exit_code=ExitCode.INVALID_SPEC,
        ) from None
    if net.num_addresses < 4:
        raise KopsgenError(
            f"serviceCIDR {service_cidr!r} is too small for the API service IP",
            exit_code=ExitCode.INVALID_SPEC,
        )
    return str(net.network_address + 1)


def profiles(params: PkiParams) -> dict[str, _Profile]:
    """The leaf certificate profiles for ``params``, keyed by name (without .pem)."""
    service_ip = _service_ip(params.service_cidr)
    etcd_names = tuple(dict.fromkeys(params.etcd_names))
    api_sans = tuple(
        dict.fromkeys(
            (
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                params.external_dns_name,
                *((params.internal_api_name,) if params.internal_api_name else ()),
                service_ip,
                "127.0.0.1",
            )
        )
    )
    masters = ("system:masters",)
    items = [
        _Profile(
            "apiserver",
            "kube-apiserver",
            (),
            SERVER,
            api_sans,
            ((params.external_dns_name, "externalDNSName"), (service_ip, "serviceCIDR"),
             *(((params.internal_api_name, "the internal API name"),)
               if params.internal_api_name else ())),
        ),
        _Profile("apiserver-kubelet-client", "kube-apiserver-kubelet-client", masters, CLIENT, ()),
        _Profile("admin", "kubernetes-admin", masters, CLIENT, ()),
        _Profile(
            "etcd",
            "etcd",
            (),
            BOTH,
            tuple(dict.fromkeys((*etcd_names, "localhost", "127.0.0.1"))),
            tuple((n, "etcd names") for n in etcd_names),
        ),
        # 127.0.0.1 is here because etcd checks a connecting peer's source address against
        # its certificate's IP SANs (or resolved DNS SANs): single-host and loopback peers
        # connect from 127.0.0.1. Harmless elsewhere: every peer holds this same key.
        _Profile(
            "etcd-peer",
            "etcd-peer",
            (),
            BOTH,
            tuple(dict.fromkeys((*etcd_names, "127.0.0.1"))),
            tuple((n, "etcd names") for n in etcd_names),
        ),
        _Profile("etcd-client", "etcd-client", (), CLIENT, ()),
        _Profile("worker", WORKER_CN, (WORKER_GROUP,), CLIENT, ()),
        _Profile("kube-controller-manager", "system:kube-controller-manager", (), CLIENT, ()),
        _Profile("kube-scheduler", "system:kube-scheduler", (), CLIENT, ()),
        # kube-apiserver's identity towards aggregated API servers (--proxy-client-cert-file);
        # its CN is the one --requestheader-allowed-names admits.
        _Profile("front-proxy-client", FRONT_PROXY_CLIENT_CN, (), CLIENT, (),
                 issuer=FRONT_PROXY_CA_CERT),
    ]
    return {p.name: p for p in items}
