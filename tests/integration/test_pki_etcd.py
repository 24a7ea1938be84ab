"""A real 3-member etcd cluster on loopback, secured only by certificates kopsgen made.

Client and peer connections both require certificates from the cluster CA, exactly as the
etcd nodes run them (client-cert-auth, peer-client-cert-auth).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import require_tool

from kopsgen.render.pki import PkiParams, render_credentials

pytestmark = pytest.mark.slow

PARAMS = PkiParams(
    cluster_name="etcdtest",
    external_dns_name="k8s.test.internal",
    service_cidr="10.3.0.0/24",
    etcd_names=("etcd0.test.internal", "etcd1.test.internal", "etcd2.test.internal"),
)
MEMBERS = 3


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def etcd_env() -> dict[str, str]:
    env = dict(os.environ)
    # etcd 3.4 refuses to start on arches other than amd64/ppc64le unless told.
    arch = {"aarch64": "arm64", "arm64": "arm64", "s390x": "s390x"}.get(platform.machine())
    if arch:
        env["ETCD_UNSUPPORTED_ARCH"] = arch
    env["ETCDCTL_API"] = "3"
    return env


@dataclasses.dataclass
class Cluster:
    creds: Path
    client_urls: list[str]
    etcdctl: str
    logs: list[Path]

    def log_sizes(self) -> list[int]:
        return [p.stat().st_size for p in self.logs]

    def logged_since(self, sizes: list[int]) -> str:
        return "".join(p.read_bytes()[n:].decode() for p, n in zip(self.logs, sizes, strict=True))

    def ctl(self, *args: str, cert: str = "etcd-client", creds: Path | None = None, timeout: int = 5):
        c = creds or self.creds
        return subprocess.run(
            [
                self.etcdctl,
                "--endpoints",
                ",".join(self.client_urls),
                "--cacert",
                str(self.creds / "ca.pem"),
                "--cert",
                str(c / f"{cert}.pem"),
                "--key",
                str(c / f"{cert}-key.pem"),
                "--dial-timeout",
                "3s",
                "--command-timeout",
                f"{timeout}s",
                *args,
            ],
            capture_output=True,
            text=True,
            env=etcd_env(),
            timeout=30,
        )


def healthy(out: subprocess.CompletedProcess) -> list[str]:
    """Endpoints etcdctl reports healthy (etcdctl 3.4 reports them on stderr)."""
    lines = (out.stdout + out.stderr).splitlines()
    return sorted(line.split(" ")[0] for line in lines if " is healthy" in line)


def write_files(files: dict[str, bytes], where: Path) -> Path:
    where.mkdir(mode=0o700)
    for name, data in files.items():
        (where / name).write_bytes(data)
        (where / name).chmod(0o600)
    return where


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    etcd = require_tool("etcd")
    etcdctl = require_tool("etcdctl")
    tmp = tmp_path_factory.mktemp("etcd")
    creds = write_files(render_credentials(PARAMS, {}, datetime.now(UTC)).files, tmp / "creds")
    ports = free_ports(2 * MEMBERS)
    client = [f"https://127.0.0.1:{p}" for p in ports[:MEMBERS]]
    peer = [f"https://127.0.0.1:{p}" for p in ports[MEMBERS:]]
    initial = ",".join(f"m{i}={peer[i]}" for i in range(MEMBERS))
    procs = []
    try:
        for i in range(MEMBERS):
            log = open(tmp / f"m{i}.log", "wb")  # noqa: SIM115 - closed with the process
            cmd = [
                etcd,
                f"--name=m{i}",
                f"--data-dir={tmp / f'm{i}.etcd'}",
                f"--listen-client-urls={client[i]}",
                f"--advertise-client-urls={client[i]}",
                f"--listen-peer-urls={peer[i]}",
                f"--initial-advertise-peer-urls={peer[i]}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=kopsgen-test",
                f"--cert-file={creds / 'etcd.pem'}",
                f"--key-file={creds / 'etcd-key.pem'}",
                f"--trusted-ca-file={creds / 'ca.pem'}",
                "--client-cert-auth",
                f"--peer-cert-file={creds / 'etcd-peer.pem'}",
                f"--peer-key-file={creds / 'etcd-peer-key.pem'}",
                f"--peer-trusted-ca-file={creds / 'ca.pem'}",
                "--peer-client-cert-auth",
                "--heartbeat-interval=50",
                "--election-timeout=500",
            ]
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=log, env=etcd_env()), log))
        c = Cluster(creds, client, etcdctl, [tmp / f"m{i}.log" for i in range(MEMBERS)])
        deadline = time.monotonic() + 40
        while True:
            out = c.ctl("endpoint", "health", "--cluster")
            if out.returncode == 0 and healthy(out) == sorted(client):
                break
            dead = [i for i, (p, _) in enumerate(procs) if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join((tmp / f"m{i}.log").read_text()[-2000:] for i in range(MEMBERS))
                pytest.fail(f"etcd cluster did not become healthy: {out.stderr}\n{logs}")
            time.sleep(0.3)
        yield c
    finally:
        for p, _ in procs:
            p.terminate()
        for p, log in procs:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()


def test_all_members_healthy_with_the_client_certificate(cluster):
    out = cluster.ctl("endpoint", "health", "--cluster")
    assert out.returncode == 0, out.stderr
    assert healthy(out) == sorted(cluster.client_urls)
    members = cluster.ctl("member", "list")
    assert members.returncode == 0 and members.stdout.count("started") == MEMBERS
    assert cluster.ctl("put", "/kopsgen/test", "ok").returncode == 0
    got = cluster.ctl("get", "/kopsgen/test", "--print-value-only")
    assert got.stdout.strip() == "ok"


def test_client_certificate_from_another_ca_is_refused(cluster, tmp_path):
    other = render_credentials(dataclasses.replace(PARAMS, cluster_name="other"), {}, datetime.now(UTC))
    foreign = write_files(other.files, tmp_path / "other")
    before = cluster.log_sizes()
    out = cluster.ctl("endpoint", "health", cert="etcd-client", creds=foreign, timeout=2)
    assert out.returncode != 0
    assert "unhealthy" in out.stderr, out.stderr
    # The members refused the handshake for the reason that matters, and are still fine.
    assert "certificate signed by unknown authority" in cluster.logged_since(before)
    assert cluster.ctl("endpoint", "health").returncode == 0


def test_certificate_without_client_auth_is_refused(cluster):
    # apiserver.pem is from the right CA but may only serve, not authenticate a client.
    before = cluster.log_sizes()
    out = cluster.ctl("endpoint", "health", cert="apiserver", timeout=2)
    assert out.returncode != 0, out.stdout
    assert "incompatible key usage" in cluster.logged_since(before)
    assert cluster.ctl("endpoint", "health").returncode == 0
