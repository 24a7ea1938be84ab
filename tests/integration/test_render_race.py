"""Renders started together in a new directory: one CA survives, and every certificate,
key and the kubeconfig belong to it (issue 11, item 1).

Each round starts N real ``kopsgen`` processes (the console entry point, as a user or a
pre-commit hook runs it) at the same moment in a fresh directory, then checks the result
with the real ``openssl``: a render that read an empty credentials/ before another one
wrote it must not replace that CA with one of its own.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
import yaml

from kopsgen.fastpath import DISABLE_ENV

REPO = helpers.REPO
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"
RENDERS = 6
BUDGET_SECONDS = 20.0
MIN_ROUNDS = 3


def kopsgen_script() -> str:
    beside = Path(sys.executable).with_name("kopsgen")
    found = str(beside) if beside.exists() else shutil.which("kopsgen")
    if not found:
        helpers.missing("the kopsgen console script is not installed")
    return found


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)


def public_key(kind: str, path: Path) -> bytes:
    """The public key of a certificate (``x509``) or a private key (``pkey``), as PEM."""
    args = ["x509", "-noout", "-pubkey", "-in", str(path)] if kind == "x509" else \
        ["pkey", "-pubout", "-in", str(path)]
    done = openssl(*args)
    assert done.returncode == 0, f"{path}: {done.stderr.decode()}"
    return done.stdout


def verifies(ca: Path, cert: Path) -> bool:
    done = openssl("verify", "-CAfile", str(ca), str(cert))
    return done.returncode == 0 and done.stdout.strip().endswith(b": OK")


def check_pki(root: Path) -> None:
    """One CA (and one front-proxy CA), each with its own key; every certificate verifies
    against one of them and matches its key; the kubeconfig embeds the same ones."""
    creds = root / "credentials"
    ca, front_ca = creds / "ca.pem", creds / "front-proxy-ca.pem"
    for cert in (ca, front_ca):
        assert cert.read_bytes().count(b"BEGIN CERTIFICATE") == 1, cert
        assert verifies(cert, cert), f"{cert} is not a self-signed CA"
        key = cert.with_name(cert.name.replace(".pem", "-key.pem"))
        assert public_key("x509", cert) == public_key("pkey", key), f"{key} is not {cert}'s key"
    certs = [p for p in sorted(creds.glob("*.pem"))
             if p.read_bytes().startswith(b"-----BEGIN CERTIFICATE") and p not in (ca, front_ca)]
    assert len(certs) >= 10, certs
    for cert in certs:
        if verifies(ca, cert):
            pass
        else:
            assert cert.name.startswith("front-proxy-") and verifies(front_ca, cert), \
                f"{cert.name} does not verify against the surviving {ca.name}"
        key = cert.with_name(cert.name.replace(".pem", "-key.pem"))
        assert public_key("x509", cert) == public_key("pkey", key), f"{key.name} is not " \
            f"the key of {cert.name}: files of two renders are mixed"

    kubeconfig = yaml.safe_load((root / "kubeconfig").read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca.read_bytes()
    embedded = root / "kubeconfig-client.pem"
    embedded.write_bytes(base64.b64decode(user["client-certificate-data"]))
    embedded_key = root / "kubeconfig-client-key.pem"
    embedded_key.write_bytes(base64.b64decode(user["client-key-data"]))
    assert verifies(ca, embedded), "the kubeconfig's client certificate is of another CA"
    assert public_key("x509", embedded) == public_key("pkey", embedded_key)


@pytest.mark.slow  # ~20 s, like the kill -9 loop beside it
def test_renders_started_together_keep_one_ca(tmp_path):
    helpers.require_tool("openssl")
    script = kopsgen_script()
    env = dict(os.environ, NO_COLOR="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop(DISABLE_ENV, None)  # the fast path too, as users have it
    started = time.monotonic()
    rounds = 0
    while rounds < MIN_ROUNDS or time.monotonic() - started < BUDGET_SECONDS:
        root = tmp_path / f"round{rounds}"
        root.mkdir()
        shutil.copy(SEED, root / "cluster.yaml")
        procs = [subprocess.Popen([script, "render"], cwd=root, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(RENDERS)]
        results = [(p.wait(timeout=120), *(s.decode() for s in p.communicate())) for p in procs]
        for code, out, err in results:
            assert code == 0, f"round {rounds}: exit {code}\n{out}{err}"
            assert "Traceback" not in err
            ca_lines = [line.split() for line in out.splitlines()
                        if line.split()[-1:] in (["credentials/ca.pem"],
                                                 ["credentials/ca-key.pem"])]
            assert all(words[0] == "created" for words in ca_lines), \
                f"round {rounds}: a render replaced the CA:\n{out}"
        writers = [out for _, out, _ in results if "created   credentials/ca-key.pem" in out]
        assert len(writers) == 1, f"round {rounds}: {len(writers)} renders wrote a CA key"
        created = [err for _, _, err in results if "notice: ca.pem created" in err]
        assert len(created) == 1, f"round {rounds}: {len(created)} renders said they created a CA"
        check_pki(root)
        rounds += 1

