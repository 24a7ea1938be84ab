"""The admin kubeconfig: embedded credentials, names, determinism."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime

import pytest
import yaml
from helpers import require_tool

from kopsgen.render.kubeconfig import render_kubeconfig
from kopsgen.render.pki import PkiParams, render_credentials

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def creds():
    params = PkiParams("kubeops", "k8s.kubeops.net", "10.3.0.0/24", ("etcd0.k8s.internal",))
    return render_credentials(params, {}, NOW).files


def render(creds, server="https://k8s.kubeops.net") -> bytes:
    return render_kubeconfig("kubeops", server, creds["ca.pem"], creds["admin.pem"], creds["admin-key.pem"])


def test_embeds_the_credentials_and_names_everything_after_the_cluster(creds):
    doc = yaml.safe_load(render(creds))
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    assert doc["current-context"] == "kubeops"
    [cluster] = doc["clusters"]
    assert cluster["name"] == "kubeops"
    assert cluster["cluster"]["server"] == "https://k8s.kubeops.net"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == creds["ca.pem"]
    [user] = doc["users"]
    assert user["name"] == "kubeops-admin"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == creds["admin.pem"]
    assert base64.b64decode(user["user"]["client-key-data"]) == creds["admin-key.pem"]
    assert doc["contexts"] == [
        {"name": "kubeops", "context": {"cluster": "kubeops", "user": "kubeops-admin"}}
    ]


def test_deterministic(creds):
    assert render(creds) == render(creds)
    assert render(creds) != render(creds, "https://k8s.other.net")


def test_plain_http_is_refused(creds):
    with pytest.raises(ValueError, match="https://"):
        render(creds, "http://k8s.kubeops.net")


def test_kubectl_reads_it(creds, tmp_path):
    kubectl = require_tool("kubectl")
    path = tmp_path / "kubeconfig"
    path.write_bytes(render(creds))
    out = subprocess.run(
        [kubectl, "--kubeconfig", path, "config", "view", "--raw", "--minify", "-o", "yaml"],
        capture_output=True,
        check=True,
    )
    seen = yaml.safe_load(out.stdout)
    assert seen["current-context"] == "kubeops"
    assert seen["users"][0]["name"] == "kubeops-admin"
    ca = seen["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca) == creds["ca.pem"]
