"""`kopsgen up` waits until the API answers /healthz over TLS, trusting only the cluster CA
and presenting the admin certificate -- here against a loopback server that plays
kube-apiserver: it presents apiserver.pem, demands a client certificate from ca.pem, and
answers 503 until it is "ready"."""

from __future__ import annotations

import shutil
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import helpers
import pytest

from kopsgen import core
from kopsgen.errors import ExitCode, KopsgenError
from kopsgen.flows.readiness import api_healthy, wait_for_api


class Apiserver(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        peer = self.connection.getpeercert()
        self.server.clients.append(dict(i for rdn in peer["subject"] for i in rdn)["commonName"])
        self.server.polls += 1
        ready = self.server.polls > self.server.not_ready_for
        body = b"ok" if ready else b"etcd not ready"
        self.send_response(200 if ready and self.path == "/healthz" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def FakeSession(cluster_dir: Path) -> helpers.FakeSession:  # noqa: N802 - a class's stand-in
    return helpers.FakeSession(cluster_dir, "credentials")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    shutil.copy(helpers.REPO / "examples" / "kubeops" / "cluster.yaml", d / "cluster.yaml")
    core.write(d, core.render(d, "credentials"))
    return d


@pytest.fixture
def apiserver(cluster, tmp_path):
    with helpers.tls_server(core.read_credentials(cluster), Apiserver, tmp_path) as httpd:
        httpd.polls, httpd.not_ready_for = 0, 0
        httpd.url = f"https://127.0.0.1:{httpd.server_address[1]}/healthz"
        yield httpd


def test_healthy_api_is_reached_as_the_admin_trusting_only_the_cluster_ca(cluster, apiserver):
    session = FakeSession(cluster)
    assert api_healthy(session.spec, cluster, url=apiserver.url) == (True, "ok")
    assert apiserver.clients == ["kubernetes-admin"]


def test_a_server_the_cluster_ca_did_not_sign_is_refused(cluster, apiserver, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(cluster / "cluster.yaml", other / "cluster.yaml")
    core.write(other, core.render(other, "credentials"))  # a second, unrelated CA
    ok, detail = api_healthy(FakeSession(other).spec, other, url=apiserver.url)
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in detail
    assert apiserver.polls == 0  # no request was sent to the impostor


def test_wait_reports_progress_until_the_api_is_ready(cluster, apiserver):
    apiserver.not_ready_for = 3
    session = FakeSession(cluster)
    wait_for_api(session, timeout=30, url=apiserver.url, interval=0.05)
    assert apiserver.polls == 4
    assert session.said[0].startswith("[wait 00:00] waiting for https://127.0.0.1:")
    assert session.said[0].endswith("HTTP 503 Service Unavailable")
    assert len(session.said) == 2  # the same answer is not repeated every poll
    assert session.said[-1].endswith(f"the API answers {apiserver.url}")


def test_wait_gives_up_after_the_timeout_with_the_last_answer(cluster, apiserver):
    apiserver.not_ready_for = 10**6
    session = FakeSession(cluster)
    started = time.monotonic()
    with pytest.raises(KopsgenError) as caught:
        wait_for_api(session, timeout=0.5, url=apiserver.url, interval=0.1)
    assert time.monotonic() - started < 5
    assert caught.value.exit_code == ExitCode.TERRAFORM_FAILED
    assert "did not become healthy within 0 s" in str(caught.value)
    assert "HTTP 503" in str(caught.value) and "kopsgen status" in str(caught.value)


def test_nothing_listening_is_reported_not_raised(cluster):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    ok, detail = api_healthy(FakeSession(cluster).spec, cluster,
                             url=f"https://127.0.0.1:{port}/healthz", timeout=2)
    assert not ok and "refused" in detail.lower()
