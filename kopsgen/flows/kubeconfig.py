"""`kopsgen kubeconfig --install`: the admin context merged into the user's kubeconfig."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from kopsgen.errors import WorkspaceError
from kopsgen.spec import load_spec
from kopsgen.spec.model import Spec


def install_kubeconfig(cluster_dir: Path, spec: Spec, target: Path | None = None) -> tuple[Path, Path | None]:
    """Merge the cluster's context into ~/.kube/config (backing it up first)."""
    source = yaml.safe_load((cluster_dir / "kubeconfig").read_text())
    target = target or Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
                            or Path.home() / ".kube" / "config")
    backup = None
    if target.exists():
        current = yaml.safe_load(target.read_text()) or {}
        backup = target.with_name(target.name + ".kopsgen-backup")
        backup.write_bytes(target.read_bytes())
        backup.chmod(0o600)
    else:
        current = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for section in ("clusters", "users", "contexts"):
        mine = {e["name"]: e for e in source.get(section, [])}
        kept = [e for e in current.get(section) or [] if e.get("name") not in mine]
        current[section] = kept + list(mine.values())
    current.setdefault("current-context", source["current-context"])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(current, fh, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target, backup


def _rendered(cluster_dir: Path) -> tuple[Spec, Path]:
    spec = load_spec(cluster_dir / "cluster.yaml").spec  # a bad cluster.yaml is said first
    path = cluster_dir / "kubeconfig"
    if not path.exists():
        raise WorkspaceError(f"{path} does not exist; run `kopsgen render`")
    return spec, path


def kubeconfig_path(cluster_dir: Path) -> Path:
    """The rendered admin kubeconfig of the cluster in ``cluster_dir`` (which must exist)."""
    return _rendered(cluster_dir)[1]


def install(cluster_dir: Path) -> tuple[str, Path, Path | None]:
    """`kopsgen kubeconfig --install`: (context name, kubeconfig written, its backup)."""
    spec, _ = _rendered(cluster_dir)
    target, backup = install_kubeconfig(cluster_dir, spec)
    return spec.cluster_name, target, backup
