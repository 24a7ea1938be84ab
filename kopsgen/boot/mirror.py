"""The sandbox's release mirror: what the nodes' install scripts download, in the layout of
``assets.fileRepository`` (``<host>/<path>`` of each upstream URL), with the checksum files
the scripts verify against.

What is real and what is a stand-in (each stand-in says so when it runs, and records how it
was started in ``/var/log/kopsgen-standins/<name>``):

- etcd, etcdctl: Debian's etcd-server and etcd-client (etcd 3.4) -- real; the release
  tarball's name and SHA256SUMS follow etcd's own release layout for the version the
  cluster pins. etcdutl: a stand-in (etcd 3.4 has none; nothing at boot runs it).
- the CNI plugins: Debian's containernetworking-plugins, real, in the tarball the cluster
  pins the name of.
- kubelet: a stand-in -- no Kubernetes server binary may be downloaded here. It checks
  that the files its flags name exist, records its command line, and stays running.
- kubectl: the real client where this machine has one (``KOPSGEN_SANDBOX_KUBECTL``, else
  the newest ``kubectl.1.<minor>`` of the Google Cloud SDK, else ``kubectl`` on PATH);
  otherwise a stand-in that answers like a client with no API server to reach.

``KOPSGEN_SANDBOX_KUBERNETES_BIN`` names a directory of real Kubernetes binaries (kubelet,
kubectl) to use instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

KUBERNETES_BIN_ENV = "KOPSGEN_SANDBOX_KUBERNETES_BIN"
KUBECTL_ENV = "KOPSGEN_SANDBOX_KUBECTL"
STANDIN_LOG = "/var/log/kopsgen-standins"

KUBELET_STANDIN = f"""#!/bin/sh
# kopsgen sandbox stand-in for kubelet: no Kubernetes server binary is available here.
# It does what the boot needs of a kubelet -- it starts from kopsgen-kubelet's command
# line, refuses to start when a file that line names is missing, and stays running -- and
# nothing else: it runs no pods and registers no node.
mkdir -p {STANDIN_LOG}
printf '%s\\n' "$@" > {STANDIN_LOG}/kubelet
for arg in "$@"; do
  case "$arg" in
    --config=* | --kubeconfig=* | --bootstrap-kubeconfig=*)
      if [ ! -f "${{arg#*=}}" ]; then
        echo "kubelet (kopsgen sandbox stand-in): ${{arg%%=*}}: ${{arg#*=}} does not exist" >&2
        exit 1
      fi ;;
  esac
done
echo "kubelet (kopsgen sandbox stand-in): started with $*; it runs no pods"
exec sleep infinity
"""

KUBECTL_STANDIN = f"""#!/bin/sh
# kopsgen sandbox stand-in for kubectl (no real client on this machine): every call fails
# as a client fails that finds no API server, which is the sandbox boot's case.
mkdir -p {STANDIN_LOG}
printf '%s\\n' "$*" >> {STANDIN_LOG}/kubectl
echo "The connection to the server was refused (kubectl: kopsgen sandbox stand-in)" >&2
exit 1
"""

ETCDUTL_STANDIN = """#!/bin/sh
# kopsgen sandbox stand-in for etcdutl: etcd 3.4 (Debian's) has none.
echo "etcdutl: kopsgen sandbox stand-in (etcd 3.4 has no etcdutl)" >&2
exit 1
"""


@dataclass
class Mirror:
    root: Path  # served as <fileRepository>/...
    standins: list[str] = field(default_factory=list)
    real: list[str] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tar(entries: dict[str, tuple[bytes, int]]) -> bytes:
    """A deterministic .tar.gz of ``name -> (content, mode)``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found).resolve() if found else None


def _kubectl(minor: int) -> Path | None:
    if os.environ.get(KUBECTL_ENV):
        return Path(os.environ[KUBECTL_ENV])
    sdk = Path("/usr/lib/google-cloud-sdk/bin")
    for m in range(minor + 1, minor - 3, -1):  # kubectl may be one minor off the server
        candidate = sdk / f"kubectl.1.{m}"
        if candidate.is_file():
            return candidate
    path = _which("kubectl")
    return path if path and "google-cloud-sdk" not in str(path) else None


def build(root: Path, *, kubernetes_version: str, etcd_version: str, cni_version: str,
          arch: str = "amd64") -> Mirror:
    """The mirror tree under ``root`` (replaced if it exists)."""
    if root.exists():
        shutil.rmtree(root)
    mirror = Mirror(root)
    # Kubernetes: dl.k8s.io/release/<v>/bin/linux/<arch>/<bin> and its bare-digest .sha256.
    real_dir = os.environ.get(KUBERNETES_BIN_ENV)
    minor = int(kubernetes_version.lstrip("v").split(".")[1])
    for name in ("kubelet", "kubectl"):
        if real_dir and (Path(real_dir) / name).is_file():
            data = (Path(real_dir) / name).read_bytes()
            mirror.real.append(f"{name} ({real_dir}/{name})")
        elif name == "kubectl" and (client := _kubectl(minor)) is not None:
            data = client.read_bytes()
            mirror.real.append(f"kubectl (the machine's client, {client})")
        else:
            data = (KUBELET_STANDIN if name == "kubelet" else KUBECTL_STANDIN).encode()
            mirror.standins.append(f"{name} (kopsgen sandbox stand-in)")
        path = root / "dl.k8s.io" / "release" / kubernetes_version / "bin" / "linux" / arch / name
        _write(path, data)
        _write(path.with_name(f"{name}.sha256"), _sha256(data).encode())  # no newline, as upstream
    # etcd: github.com/etcd-io/etcd/releases/download/<v>/etcd-<v>-linux-<arch>.tar.gz + SHA256SUMS
    top = f"etcd-{etcd_version}-linux-{arch}"
    entries = {}
    for name in ("etcd", "etcdctl"):
        binary = _which(name)
        if binary is None:
            raise FileNotFoundError(f"{name} (Debian's etcd-server / etcd-client) is not installed")
        entries[f"{top}/{name}"] = (binary.read_bytes(), 0o755)
        mirror.real.append(f"{name} (Debian's, {binary})")
    entries[f"{top}/etcdutl"] = (ETCDUTL_STANDIN.encode(), 0o755)
    mirror.standins.append("etcdutl (kopsgen sandbox stand-in)")
    tarball = _tar(entries)
    base = root / "github.com" / "etcd-io" / "etcd" / "releases" / "download" / etcd_version
    _write(base / f"{top}.tar.gz", tarball)
    _write(base / "SHA256SUMS", f"{_sha256(tarball)}  {top}.tar.gz\n".encode())
    # CNI plugins: github.com/containernetworking/plugins/releases/download/<v>/<tgz> + .sha256
    tgz = f"cni-plugins-linux-{arch}-{cni_version}.tgz"
    plugins = Path("/usr/lib/cni")
    entries = {f"./{p.name}": (p.read_bytes(), 0o755) for p in sorted(plugins.iterdir())
               if p.is_file()} if plugins.is_dir() else {}
    if entries:
        mirror.real.append(f"CNI plugins (Debian's containernetworking-plugins, {plugins})")
    else:
        entries = {"./README": (b"kopsgen sandbox stand-in: no CNI plugins on this machine\n",
                                0o644)}
        mirror.standins.append("CNI plugins (an empty kopsgen sandbox stand-in)")
    data = _tar(entries)
    base = root / "github.com" / "containernetworking" / "plugins" / "releases" / "download" / \
        cni_version
    _write(base / tgz, data)
    _write(base / f"{tgz}.sha256", f"{_sha256(data)}  {tgz}\n".encode())
    return mirror
