"""One sandbox machine: a systemd-nspawn container that boots as an EC2 instance of the
emulator -- its own network namespace and address, the sandbox's root filesystem as an
overlay whose upper layer is the instance's root disk (kept while the instance lives), and
its etcd data volume, if it has one, as a loop device where the script looks for the EBS
volume (/dev/xvdf).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kopsgen.boot import rootfs

#: Units whose state a machine's report lists, by role (others are listed when failed).
WATCHED = {
    "etcd": ("kopsgen-bootstrap.service", "kopsgen-credentials.service",
             "kopsgen-install-etcd.service", "kopsgen-etcd-volume.service", "etcd.service",
             "kopsgen-etcd-reconcile.timer", "locksmithd.service", "update-engine.service"),
    "controller": ("kopsgen-bootstrap.service", "containerd.service",
                   "kopsgen-credentials.service", "kopsgen-install-kubernetes.service",
                   "kubelet.service", "kopsgen-addons.service",
                   "kopsgen-approve-kubelet-serving.service", "kopsgen-node-role.service",
                   "locksmithd.service", "update-engine.service"),
    "worker": ("kopsgen-bootstrap.service", "containerd.service", "kopsgen-credentials.service",
               "kopsgen-install-kubernetes.service", "kubelet.service", "locksmithd.service",
               "update-engine.service"),
}


@dataclass
class Machine:
    index: int
    instance_id: str
    name: str  # e.g. etcd0, controller-1, nodepool1-0
    role: str  # etcd, controller, worker
    address: str
    hostname: str  # ip-10-0-10-5 (EC2's local hostname without its domain)
    zone: str
    netns: str = ""
    volume_id: str | None = None
    loop: str | None = None
    pid: int | None = None  # systemd-nspawn's
    started_at: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def volume_file(work: Path, volume_id: str, size_gib: int) -> Path:
    """The EBS volume's bytes: a sparse file that outlives every instance it is attached to."""
    path = work / "volumes" / f"{volume_id}.img"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size_gib * 1024**3)
    return path


def attach(path: Path) -> str:
    return _run(["losetup", "--find", "--show", str(path)], check=True).stdout.strip()


def detach(loop: str | None) -> None:
    if loop:
        _run(["losetup", "-d", loop])


def _root(work: Path, m: Machine) -> tuple[Path, Path, Path]:
    base = work / "disks" / m.instance_id
    return base / "upper", base / "work", base / "merged"


def start(m: Machine, work: Path, base: Path, extra: dict[str, tuple[bytes, int]]) -> None:
    """Boot ``m`` (its network namespace exists): overlay, files, then systemd-nspawn."""
    upper, wdir, merged = _root(work, m)
    for d in (upper, wdir, merged):
        d.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(merged):
        _run(["mount", "-t", "overlay", "overlay", "-o",
              f"lowerdir={base},upperdir={upper},workdir={wdir}", str(merged)], check=True)
    for path, (data, mode) in {**rootfs.flatcar_files(), **extra}.items():
        target = merged / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if data.startswith(b"->"):
            target.symlink_to(data[2:].decode())
        else:
            target.write_bytes(data)
            target.chmod(mode)
    rootfs.add_core_user(merged)
    log = open(work / "logs" / f"{m.name}.console", "ab")  # noqa: SIM115 - the child's
    argv = ["systemd-nspawn", "--boot", "--quiet", f"--directory={merged}",
            f"--machine=kopsgen-{m.name}", f"--hostname={m.hostname}", "--register=no",
            "--keep-unit", f"--network-namespace-path=/run/netns/{m.netns}",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no"]
    if m.loop:
        argv.append(f"--bind={m.loop}:/dev/xvdf")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    m.pid, m.started_at = proc.pid, time.time()


def init_pid(m: Machine) -> int | None:
    """The container's systemd (the child of systemd-nspawn)."""
    if m.pid is None:
        return None
    children = _run(["pgrep", "-P", str(m.pid)]).stdout.split()
    return int(children[0]) if children else None


def running(m: Machine) -> bool:
    if m.pid is None:
        return False
    try:
        os.kill(m.pid, 0)
    except ProcessLookupError:
        return False
    return True


def run(m: Machine, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``argv`` inside the machine (all its namespaces)."""
    pid = init_pid(m)
    if pid is None:
        raise RuntimeError(f"{m.name} is not running")
    return _run(["nsenter", "-t", str(pid), "-a", *argv], timeout=timeout)


def unit_state(m: Machine, unit: str) -> dict[str, str]:
    out = run(m, "systemctl", "show", unit, "-p",
              "LoadState,ActiveState,SubState,Result,ActiveEnterTimestampMonotonic").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def stop(m: Machine, work: Path, *, keep_disk: bool = True) -> None:
    """Power the machine off (systemd-nspawn passes SIGTERM on as a clean shutdown)."""
    if running(m):
        os.kill(m.pid, signal.SIGTERM)
        for _ in range(100):
            if not running(m):
                break
            time.sleep(0.1)
        else:
            os.killpg(m.pid, signal.SIGKILL)
    upper, wdir, merged = _root(work, m)
    if os.path.ismount(merged):
        _run(["umount", "-l", str(merged)])
    detach(m.loop)
    m.loop, m.pid = None, None
    if not keep_disk:
        shutil.rmtree(upper.parent, ignore_errors=True)
