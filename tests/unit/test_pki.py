"""The PKI: contents of every certificate, chain of trust, and reuse across renders."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from helpers import require_tool

from kopsgen.errors import ExitCode, KopsgenError, WorkspaceError
from kopsgen.render.pki import (
    ALL_FILES,
    ROLE_FILES,
    SECRET_NAMES,
    PkiParams,
    describe_certificates,
    render_credentials,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PARAMS = PkiParams(
    cluster_name="kubeops",
    external_dns_name="k8s.kubeops.net",
    service_cidr="10.3.0.0/24",
    etcd_names=("etcd0.k8s.internal", "etcd1.k8s.internal", "etcd2.k8s.internal"),
    internal_api_name="api.k8s.internal",
)
RSA_PARAMS = dataclasses.replace(PARAMS, key_algorithm="rsa-2048")
LEAVES = (
    "apiserver.pem",
    "apiserver-kubelet-client.pem",
    "admin.pem",
    "etcd.pem",
    "etcd-peer.pem",
    "etcd-client.pem",
    "worker.pem",
    "kube-controller-manager.pem",
    "kube-scheduler.pem",
    "front-proxy-client.pem",
)
SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
ETCD = list(PARAMS.etcd_names)

# file -> (CN, O, extended key usages, SANs)
EXPECTED = {
    "apiserver.pem": (
        "kube-apiserver",
        [],
        {SERVER},
        [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "k8s.kubeops.net",
            "api.k8s.internal",
            "10.3.0.1",
            "127.0.0.1",
        ],
    ),
    "apiserver-kubelet-client.pem": (
        "kube-apiserver-kubelet-client",
        ["system:masters"],
        {CLIENT},
        [],
    ),
    "admin.pem": ("kubernetes-admin", ["system:masters"], {CLIENT}, []),
    "etcd.pem": ("etcd", [], {SERVER, CLIENT}, [*ETCD, "localhost", "127.0.0.1"]),
    "etcd-peer.pem": ("etcd-peer", [], {SERVER, CLIENT}, [*ETCD, "127.0.0.1"]),
    "etcd-client.pem": ("etcd-client", [], {CLIENT}, []),
    "worker.pem": ("system:bootstrap:kopsgen-worker", ["system:bootstrappers"], {CLIENT}, []),
    "kube-controller-manager.pem": ("system:kube-controller-manager", [], {CLIENT}, []),
    "kube-scheduler.pem": ("system:kube-scheduler", [], {CLIENT}, []),
    "front-proxy-client.pem": ("front-proxy-client", [], {CLIENT}, []),
}
#: The CA that signs each leaf: the aggregation layer's client has a CA of its own.
ISSUER = {name: "front-proxy-ca.pem" if name.startswith("front-proxy") else "ca.pem"
          for name in LEAVES}


@pytest.fixture(scope="module")
def ecdsa():
    return render_credentials(PARAMS, {}, NOW)


@pytest.fixture(scope="module")
def rsa_result():
    return render_credentials(RSA_PARAMS, {}, NOW)


def cert(files, name) -> x509.Certificate:
    return x509.load_pem_x509_certificate(files[name])


def key(files, name):
    return serialization.load_pem_private_key(files[name], password=None)


def sans(c: x509.Certificate) -> list[str]:
    try:
        ext = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in ext]


def changed(a: dict[str, bytes], b: dict[str, bytes]) -> set[str]:
    return {n for n in a.keys() | b.keys() if a.get(n) != b.get(n)}


def write(files: dict[str, bytes], where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (where / name).write_bytes(data)
    return where


# ----------------------------------------------------------------------------- contents


def test_every_file_is_rendered_and_keys_are_secret(ecdsa):
    assert tuple(ecdsa.files) == ALL_FILES
    assert ecdsa.secret_names == {n for n in ALL_FILES if n.endswith("-key.pem")}
    assert "ca-key.pem" in ecdsa.secret_names and "service-account-key.pem" in SECRET_NAMES
    assert not any(n.endswith("-key.pem") for n in ecdsa.files if n not in SECRET_NAMES)


@pytest.mark.parametrize("name", LEAVES)
def test_subject_usages_and_sans(ecdsa, name):
    cn, orgs, usages, want_sans = EXPECTED[name]
    c = cert(ecdsa.files, name)
    assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [cn]
    assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == orgs
    assert set(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == usages
    assert sans(c) == want_sans
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    assert c.issuer == cert(ecdsa.files, ISSUER[name]).subject
    assert c.not_valid_after_utc == NOW + timedelta(days=PARAMS.cert_days)


@pytest.mark.parametrize("name", ["ca.pem", "front-proxy-ca.pem"])
def test_ca_is_a_ca_valid_for_ca_days(ecdsa, name):
    ca = cert(ecdsa.files, name)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.not_valid_after_utc == NOW + timedelta(days=PARAMS.ca_days)
    ca.verify_directly_issued_by(ca)


def test_front_proxy_ca_is_a_separate_ca(ecdsa):
    """No certificate of the cluster CA may pose as the aggregation layer's proxy, and the
    proxy's certificate is no cluster identity (kube-apiserver would not accept it)."""
    ca, fp = cert(ecdsa.files, "ca.pem"), cert(ecdsa.files, "front-proxy-ca.pem")
    assert ca.subject != fp.subject and ca.public_key() != fp.public_key()
    with pytest.raises((ValueError, TypeError, InvalidSignature)):
        cert(ecdsa.files, "front-proxy-client.pem").verify_directly_issued_by(ca)
    for name in LEAVES:
        if ISSUER[name] == "ca.pem":
            with pytest.raises((ValueError, TypeError, InvalidSignature)):
                cert(ecdsa.files, name).verify_directly_issued_by(fp)


@pytest.mark.parametrize("result", ["ecdsa", "rsa_result"])
def test_every_certificate_verifies_against_the_ca(request, result):
    files = request.getfixturevalue(result).files
    for name in LEAVES:
        cert(files, name).verify_directly_issued_by(cert(files, ISSUER[name]))  # raises if not
        pub = (
            cert(files, name)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        priv = key(files, name.replace(".pem", "-key.pem")).public_key()
        assert pub == priv.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.mark.parametrize("result", ["ecdsa", "rsa_result"])
def test_openssl_verifies_every_certificate_for_its_purpose(request, result, tmp_path):
    openssl = require_tool("openssl")
    d = write(request.getfixturevalue(result).files, tmp_path)
    at = ["-attime", str(int(NOW.timestamp()) + 60)]  # the certificates' own clock
    for name in LEAVES:
        usages = EXPECTED[name][2]
        for purpose, usage in (("sslserver", SERVER), ("sslclient", CLIENT)):
            if usage not in usages:
                continue
            out = subprocess.run(
                [openssl, "verify", *at, "-purpose", purpose, "-CAfile", d / ISSUER[name],
                 d / name],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), (name, out)
    # And openssl really checks: a certificate from another CA fails.
    other = render_credentials(dataclasses.replace(PARAMS, cluster_name="other"), {}, NOW)
    (tmp_path / "foreign.pem").write_bytes(other.files["admin.pem"])
    out = subprocess.run(
        [openssl, "verify", *at, "-CAfile", d / "ca.pem", d / "foreign.pem"], capture_output=True
    )
    assert out.returncode != 0


def test_ecdsa_p256_by_default_and_rsa_2048_when_asked(ecdsa, rsa_result):
    for name in ALL_FILES:
        if name.endswith("-key.pem"):
            k = key(ecdsa.files, name)
            assert isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp256r1"
            k = key(rsa_result.files, name)
            assert isinstance(k, rsa.RSAPrivateKey) and k.key_size == 2048
    sa = serialization.load_pem_public_key(rsa_result.files["service-account.pem"])
    assert (
        sa.public_numbers() == key(rsa_result.files, "service-account-key.pem").public_key().public_numbers()
    )
    # RSA leaves may be used for RSA key exchange; ECDSA leaves never encipher.
    ku = cert(rsa_result.files, "apiserver.pem").extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.value.key_encipherment
    ku = cert(ecdsa.files, "apiserver.pem").extensions.get_extension_for_class(x509.KeyUsage)
    assert not ku.value.key_encipherment


def test_gitignore_keeps_every_secret_out_of_git(ecdsa, tmp_path):
    git = require_tool("git")
    d = write(ecdsa.files, tmp_path / "credentials")
    subprocess.run([git, "init", "-q", tmp_path], check=True)
    ignored = subprocess.run(
        [git, "-C", tmp_path, "check-ignore", *(f"credentials/{n}" for n in SECRET_NAMES)],
        capture_output=True,
        text=True,
    )
    assert sorted(ignored.stdout.split()) == sorted(f"credentials/{n}" for n in SECRET_NAMES)
    status = subprocess.run(
        [git, "-C", tmp_path, "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.split() == ["??", "credentials/.gitignore"]
    assert d.is_dir()


def test_role_files():
    assert set(ROLE_FILES) == {"etcd", "controller", "worker"}
    for files in ROLE_FILES.values():
        assert set(files) <= set(ALL_FILES)
    assert ROLE_FILES["worker"] == ("ca.pem", "worker.pem", "worker-key.pem")
    # The bootstrap identity is the workers' alone: a controller signs its kubelet's own.
    assert "worker-key.pem" not in ROLE_FILES["controller"] + ROLE_FILES["etcd"]
    assert "ca-key.pem" in ROLE_FILES["controller"]
    assert "ca-key.pem" not in ROLE_FILES["etcd"] + ROLE_FILES["worker"]
    # The admin identity reaches controllers only (they apply the add-ons), never workers/etcd.
    assert "admin-key.pem" in ROLE_FILES["controller"]
    assert "admin-key.pem" not in ROLE_FILES["etcd"] + ROLE_FILES["worker"]
    # The aggregation layer's proxy identity is the controllers' alone; its CA key stays with
    # the operator (nothing on a node signs front-proxy certificates).
    assert {"front-proxy-ca.pem", "front-proxy-client.pem", "front-proxy-client-key.pem"} <= set(
        ROLE_FILES["controller"])
    assert not {f for fs in ROLE_FILES.values() for f in fs if f.startswith("front-proxy")} - set(
        ROLE_FILES["controller"])
    assert "front-proxy-ca-key.pem" not in {f for fs in ROLE_FILES.values() for f in fs}


# ----------------------------------------------------------------------------- reuse


@pytest.mark.parametrize("result,params", [("ecdsa", PARAMS), ("rsa_result", RSA_PARAMS)])
def test_rerender_is_byte_identical(request, result, params):
    first = request.getfixturevalue(result)
    again = render_credentials(params, first.files, NOW + timedelta(days=100))
    assert again.files == first.files
    assert again.notices == []


def test_new_external_dns_name_reissues_exactly_apiserver_pem(ecdsa):
    params = dataclasses.replace(PARAMS, external_dns_name="k8s.new.net")
    again = render_credentials(params, ecdsa.files, NOW)
    assert changed(ecdsa.files, again.files) == {"apiserver.pem"}  # the key is kept
    assert again.notices == [
        "apiserver.pem re-issued: SANs changed (externalDNSName k8s.kubeops.net -> k8s.new.net)"
    ]
    c = cert(again.files, "apiserver.pem")
    assert "k8s.new.net" in sans(c) and "k8s.kubeops.net" not in sans(c)
    c.verify_directly_issued_by(cert(again.files, "ca.pem"))
    assert render_credentials(params, again.files, NOW).files == again.files


def test_new_service_cidr_and_etcd_names_reissue_their_certificates(ecdsa):
    params = dataclasses.replace(PARAMS, service_cidr="10.96.0.0/12")
    again = render_credentials(params, ecdsa.files, NOW)
    assert changed(ecdsa.files, again.files) == {"apiserver.pem"}
    assert again.notices == ["apiserver.pem re-issued: SANs changed (serviceCIDR 10.3.0.1 -> 10.96.0.1)"]

    params = dataclasses.replace(PARAMS, etcd_names=(*PARAMS.etcd_names, "etcd3.k8s.internal"))
    again = render_credentials(params, ecdsa.files, NOW)
    assert changed(ecdsa.files, again.files) == {"etcd.pem", "etcd-peer.pem"}
    assert all("added etcd3.k8s.internal" in n for n in again.notices) and len(again.notices) == 2


def test_near_expiry_certificates_are_reissued_with_a_notice(ecdsa):
    later = NOW + timedelta(days=PARAMS.cert_days - 12)
    again = render_credentials(PARAMS, ecdsa.files, later)
    assert changed(ecdsa.files, again.files) == set(LEAVES)  # keys, CA and SA key kept
    assert sorted(again.notices) == sorted(f"{n} re-issued: expires in 12 days" for n in LEAVES)
    for name in LEAVES:
        assert cert(again.files, name).not_valid_after_utc == later + timedelta(days=365)
    # 31 days before expiry nothing happens yet.
    early = render_credentials(PARAMS, ecdsa.files, NOW + timedelta(days=PARAMS.cert_days - 31))
    assert early.files == ecdsa.files and early.notices == []


def test_certificates_never_outlive_the_ca_and_do_not_churn():
    params = dataclasses.replace(PARAMS, ca_days=400)
    first = render_credentials(params, {}, NOW)
    later = NOW + timedelta(days=380)
    again = render_credentials(params, first.files, later)
    ca = cert(again.files, "ca.pem")
    assert all(cert(again.files, n).not_valid_after_utc == ca.not_valid_after_utc for n in LEAVES)
    assert again.notices[0].startswith("ca.pem expires in 20 days")
    third = render_credentials(params, again.files, later + timedelta(days=1))
    assert third.files == again.files
    assert third.notices == [
        f"{name} expires in 19 days (2026-04-05); certificates cannot outlive it: plan a CA "
        "rotation" for name in ("ca.pem", "front-proxy-ca.pem")
    ]


def test_missing_key_gets_a_new_key_and_certificate(ecdsa):
    existing = dict(ecdsa.files)
    del existing["worker-key.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert changed(ecdsa.files, again.files) == {"worker.pem", "worker-key.pem"}
    assert again.notices == ["worker.pem re-issued: worker-key.pem missing, new key"]


def test_mismatched_key_reissues_the_certificate_for_the_key(ecdsa):
    existing = dict(ecdsa.files)
    existing["admin-key.pem"] = ecdsa.files["kube-scheduler-key.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert changed(existing, again.files) == {"admin.pem"}
    assert again.notices == ["admin.pem re-issued: does not match admin-key.pem"]


def test_certificate_from_another_ca_is_reissued(ecdsa):
    other = render_credentials(dataclasses.replace(PARAMS, cluster_name="other"), {}, NOW)
    existing = dict(ecdsa.files)
    existing["etcd-client.pem"] = other.files["etcd-client.pem"]
    existing["etcd-client-key.pem"] = other.files["etcd-client-key.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert changed(existing, again.files) == {"etcd-client.pem"}
    assert again.notices == ["etcd-client.pem re-issued: not signed by the current CA (ca.pem)"]
    cert(again.files, "etcd-client.pem").verify_directly_issued_by(cert(again.files, "ca.pem"))


def test_missing_certificate_is_issued_for_its_existing_key(ecdsa):
    existing = dict(ecdsa.files)
    del existing["kube-scheduler.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert changed(ecdsa.files, again.files) == {"kube-scheduler.pem"}
    assert again.notices == ["kube-scheduler.pem issued: certificate missing, key kept"]


def test_service_account_pair(ecdsa):
    existing = dict(ecdsa.files)
    del existing["service-account.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert again.files == ecdsa.files  # the public half is derived from the kept key
    del existing["service-account-key.pem"]
    existing["service-account.pem"] = ecdsa.files["service-account.pem"]
    again = render_credentials(PARAMS, existing, NOW)
    assert changed(ecdsa.files, again.files) == {"service-account.pem", "service-account-key.pem"}
    assert again.notices[0].startswith("service-account-key.pem created: it was missing")


def test_changed_key_algorithm_keeps_existing_keys_and_says_so(ecdsa):
    again = render_credentials(RSA_PARAMS, ecdsa.files, NOW)
    assert again.files == ecdsa.files
    assert len(again.notices) == 1
    assert again.notices[0].startswith(
        "keyAlgorithm is rsa-2048 but ca-key.pem, front-proxy-ca-key.pem, apiserver-key.pem")
    existing = dict(ecdsa.files)
    del existing["apiserver.pem"], existing["apiserver-key.pem"]
    again = render_credentials(RSA_PARAMS, existing, NOW)
    assert changed(ecdsa.files, again.files) == {"apiserver.pem", "apiserver-key.pem"}
    assert isinstance(key(again.files, "apiserver-key.pem"), rsa.RSAPrivateKey)
    cert(again.files, "apiserver.pem").verify_directly_issued_by(cert(again.files, "ca.pem"))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "drop,message",
    [
        ("ca-key.pem", "credentials/ca.pem exists but credentials/ca-key.pem is missing"),
        ("ca.pem", "credentials/ca-key.pem exists but credentials/ca.pem is missing"),
        ("front-proxy-ca-key.pem",
         "credentials/front-proxy-ca.pem exists but credentials/front-proxy-ca-key.pem is missing"),
        ("front-proxy-ca.pem",
         "credentials/front-proxy-ca-key.pem exists but credentials/front-proxy-ca.pem is missing"),
    ],
)
def test_half_a_ca_is_an_error_never_a_new_ca(ecdsa, drop, message):
    existing = {n: d for n, d in ecdsa.files.items() if n != drop}
    with pytest.raises(WorkspaceError) as err:
        render_credentials(PARAMS, existing, NOW)
    assert err.value.exit_code == ExitCode.WORKSPACE
    assert err.value.message.startswith(message)
    assert "move credentials/ away" in err.value.message


def test_a_pki_from_before_the_aggregation_layer_gains_a_front_proxy_ca(ecdsa):
    """A workspace rendered by an older kopsgen has no front-proxy files: the next render
    adds the CA and the client certificate, says so, and changes nothing else."""
    older = {n: d for n, d in ecdsa.files.items() if not n.startswith("front-proxy")}
    again = render_credentials(PARAMS, older, NOW)
    assert changed(older, again.files) == {
        "front-proxy-ca.pem", "front-proxy-ca-key.pem",
        "front-proxy-client.pem", "front-proxy-client-key.pem"}
    assert again.notices[0].startswith(
        "front-proxy-ca.pem created: new CA of the API aggregation layer "
        "CN=kubeops-front-proxy-ca,O=kopsgen")
    assert again.notices[1:] == ["front-proxy-client.pem issued: new"]
    assert not again.new_pki
    cert(again.files, "front-proxy-client.pem").verify_directly_issued_by(
        cert(again.files, "front-proxy-ca.pem"))
    assert render_credentials(PARAMS, again.files, NOW).notices == []


def test_no_ca_but_other_credentials_is_an_error(ecdsa):
    existing = {n: d for n, d in ecdsa.files.items() if not n.startswith("ca")}
    with pytest.raises(WorkspaceError, match="no ca.pem or ca-key.pem"):
        render_credentials(PARAMS, existing, NOW)


def test_mismatched_or_expired_ca_is_an_error(ecdsa):
    other = render_credentials(PARAMS, {}, NOW)
    existing = {**ecdsa.files, "ca-key.pem": other.files["ca-key.pem"]}
    with pytest.raises(WorkspaceError, match="do not belong together"):
        render_credentials(PARAMS, existing, NOW)
    with pytest.raises(WorkspaceError, match="credentials/ca.pem expired on 2035-02-27"):
        render_credentials(PARAMS, ecdsa.files, NOW + timedelta(days=PARAMS.ca_days + 1))


@pytest.mark.parametrize("name", ["ca.pem", "ca-key.pem", "etcd-peer.pem", "worker-key.pem"])
def test_corrupt_pem_names_the_file(ecdsa, name):
    existing = {**ecdsa.files, name: ecdsa.files[name][:60] + b"garbage\n" + ecdsa.files[name][80:]}
    with pytest.raises(WorkspaceError, match=f"credentials/{name} is not a valid") as err:
        render_credentials(PARAMS, existing, NOW)
    assert err.value.exit_code == ExitCode.WORKSPACE


def test_corrupt_certificate_is_named_even_when_its_key_is_missing(ecdsa):
    existing = {**ecdsa.files, "admin.pem": b"not a pem"}
    del existing["admin-key.pem"]
    with pytest.raises(WorkspaceError, match="credentials/admin.pem is not a valid"):
        render_credentials(PARAMS, existing, NOW)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"key_algorithm": "ed25519"}, "keyAlgorithm 'ed25519' is not one of"),
        ({"service_cidr": "10.3.0.0/33"}, "serviceCIDR '10.3.0.0/33' is not a network"),
        ({"service_cidr": "10.3.0.0/31"}, "too small"),
        ({"cert_days": 0}, "at least one day"),
        ({"etcd_names": ()}, "at least one etcd name"),
    ],
)
def test_bad_params_are_spec_errors(change, message):
    with pytest.raises(KopsgenError, match=message) as err:
        render_credentials(dataclasses.replace(PARAMS, **change), {}, NOW)
    assert err.value.exit_code == ExitCode.INVALID_SPEC


# ----------------------------------------------------------------------------- describe


def test_describe_certificates(ecdsa):
    later = NOW + timedelta(days=65)
    infos = {i.file: i for i in describe_certificates(ecdsa.files, later)}
    assert set(infos) == {"ca.pem", "front-proxy-ca.pem", *LEAVES}
    api = infos["apiserver.pem"]
    assert api.subject == "CN=kube-apiserver"
    assert api.issuer == "CN=kubeops-ca,O=kopsgen" == infos["ca.pem"].subject
    assert api.sans == tuple(EXPECTED["apiserver.pem"][3])
    assert api.usages == ("serverAuth",)
    assert api.days_left == 300 and api.not_after == NOW + timedelta(days=365)
    assert api.key_algorithm == "ecdsa-p256"
    # Whole days left, rounded down: an hour later it is 299.
    [api] = [i for i in describe_certificates(ecdsa.files, later + timedelta(hours=1)) if i.file == api.file]
    assert api.days_left == 299
    assert infos["etcd.pem"].usages == ("serverAuth", "clientAuth")
    assert infos["ca.pem"].usages == ("CA",)
    assert infos["worker.pem"].subject == "CN=system:bootstrap:kopsgen-worker,O=system:bootstrappers"
    with pytest.raises(WorkspaceError, match="credentials/admin.pem"):
        describe_certificates({"admin.pem": b"-----BEGIN CERTIFICATE-----\nxx\n"}, NOW)
