"""cluster.yaml's `assets`: nodes download every release from the file repository and pull
every image from the registry given there, nothing from the public hosts -- run as
rendered: the install scripts fetch from a mirror (kopsgen/boot/mirror.py, served over
HTTP here) and check what they get against the mirror's checksum files."""

from __future__ import annotations

import functools
import re
import subprocess
import threading
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import helpers
import pytest
import yaml

from kopsgen.boot import mirror
from kopsgen.pins import CNI_PLUGINS_VERSION, ETCD_VERSION
from kopsgen.render.cloudconfig import ROLES, CloudConfigParams, render_cloudconfigs

PARAMS = CloudConfigParams(
    cluster_name="k8s", external_dns_name="k8s.kubeops.net", region="us-east-1",
    kubernetes_version="v1.34.2", etcd_version=ETCD_VERSION,
    etcd_members=(("etcd0", "etcd0.k8s.internal"),), internal_api_name="api.k8s.internal",
    service_cidr="10.3.0.0/24", pod_cidr="10.2.0.0/16", dns_service_ip="10.3.0.10")
REGISTRY = "mirror.example.com:5000/k8s"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    helpers.require_tool("etcd")
    helpers.require_tool("etcdctl")
    helpers.require_tool("curl")
    root = tmp_path_factory.mktemp("mirror")
    built = mirror.build(root / "files", kubernetes_version=PARAMS.kubernetes_version,
                         etcd_version=ETCD_VERSION, cni_version=CNI_PLUGINS_VERSION)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield built, f"http://127.0.0.1:{httpd.server_address[1]}/files"
    httpd.shutdown()


def configs(repo: str | None, registry: str | None) -> dict[str, dict]:
    params = replace(PARAMS, file_repository=repo, container_registry=registry)
    return {r: yaml.safe_load(render_cloudconfigs(params)[f"userdata/cloud-config-{r}"])
            for r in ROLES}


def test_every_download_and_image_comes_from_the_mirrors(served) -> None:
    _, repo = served
    for role, config in configs(repo, REGISTRY).items():
        for f in config["write_files"]:
            code = "\n".join(ln for ln in f["content"].splitlines()
                             if not ln.lstrip().startswith("#"))
            for host in ("dl.k8s.io", "github.com", "registry.k8s.io", "ghcr.io",
                         "public.ecr.aws"):
                bare = code.replace(f"{repo}/{host}/", "")
                assert host not in bare, (role, f["path"], host)
            for image in re.findall(r"image: (\S+)", f["content"]) + re.findall(
                    r'sandbox_image = "(\S+)"', f["content"]):
                assert image.startswith(f"{REGISTRY}/"), (role, image)
    # Without assets, the same files name the public hosts.
    plain = configs(None, None)["controller"]
    text = yaml.safe_dump(plain)
    assert "https://dl.k8s.io/release/" in text and "image: registry.k8s.io/kube-apiserver:" in text


def install(config: dict, tmp: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run /opt/bin/<name> of ``config`` with /opt/bin moved into ``tmp``."""
    bindir = tmp / "opt" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (tmp / "opt" / "cni" / "bin").mkdir(parents=True, exist_ok=True)
    for f in config["write_files"]:
        if f["path"].startswith("/opt/bin/"):
            path = bindir / Path(f["path"]).name
            path.write_text(f["content"].replace("/opt/bin/", f"{bindir}/")
                            .replace("/opt/cni/bin", str(tmp / "opt" / "cni" / "bin")))
            path.chmod(0o755)
    return subprocess.run([str(bindir / name), *args], capture_output=True, text=True,
                          timeout=120)


def test_install_scripts_fetch_and_verify_from_the_file_repository(served, tmp_path) -> None:
    built, repo = served
    worker, etcd = configs(repo, REGISTRY)["worker"], configs(repo, REGISTRY)["etcd"]
    out = install(worker, tmp_path / "w", "kopsgen-install-kubernetes", PARAMS.kubernetes_version,
                  CNI_PLUGINS_VERSION, "kubelet")
    assert out.returncode == 0, out.stderr
    kubelet = tmp_path / "w" / "opt" / "bin" / "kubelet"
    assert kubelet.read_bytes() == (built.root / "dl.k8s.io" / "release" / PARAMS.kubernetes_version
                                    / "bin" / "linux" / "amd64" / "kubelet").read_bytes()
    assert (tmp_path / "w" / "opt" / "cni" / "bin" / "bridge").is_file()

    out = install(etcd, tmp_path / "e", "kopsgen-install-etcd", ETCD_VERSION)
    assert out.returncode == 0, out.stderr
    version = subprocess.run([str(tmp_path / "e" / "opt" / "bin" / "etcd"), "--version"],
                             capture_output=True, text=True)
    assert "etcd Version: 3." in version.stdout

    # A file that does not match the mirror's checksum is not installed.
    target = built.root / "dl.k8s.io" / "release" / PARAMS.kubernetes_version / "bin" / "linux" \
        / "amd64" / "kubelet"
    original = target.read_bytes()
    target.write_bytes(original + b"# tampered\n")
    try:
        out = install(worker, tmp_path / "t", "kopsgen-install-kubernetes",
                      PARAMS.kubernetes_version, CNI_PLUGINS_VERSION, "kubelet")
    finally:
        target.write_bytes(original)
    assert out.returncode != 0 and "has SHA-256" in out.stderr
    assert not (tmp_path / "t" / "opt" / "bin" / "kubelet").exists()
