"""The sandbox machines' root filesystem: a Debian rootfs made with debootstrap (systemd as
init), built once and cached outside the repository, keyed by what goes into it.

Each machine boots an overlay of it (:mod:`kopsgen.boot.machines`), to which the sandbox
adds what Flatcar would have and Debian has not -- the files of :func:`flatcar_files`:
the coreos-cloudinit stand-in, oem-cloudinit.service, and stand-ins for update-engine and
locksmithd -- so the base never needs rebuilding when those change.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from kopsgen.errors import ExitCode, KopsgenError

SUITE = "bookworm"
#: What a Flatcar node has that the scripts use, plus the stand-in's python3-yaml.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "iproute2", "curl", "ca-certificates",
            "util-linux", "e2fsprogs", "kmod", "procps", "openssl", "python3", "python3-yaml",
            "containerd", "jq")
CACHE_ENV = "KOPSGEN_SANDBOX_ROOTFS_CACHE"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kopsgen" / "rootfs"


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (the sandbox downloads nothing else)."""
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        try:
            for line in source.read_text().splitlines():
                if line.startswith("URIs:"):
                    return line.split()[1]
                if line.startswith("deb ") and "debian" in line:
                    return line.split()[1]
        except OSError:
            continue
    return "http://deb.debian.org/debian"


def key() -> str:
    return hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)}".encode()).hexdigest()[:16]


def base_rootfs(say) -> Path:
    """The cached base rootfs; built (about a minute) when it is not there yet."""
    root = cache_dir() / f"debian-{SUITE}-{key()}"
    if (root / ".kopsgen-complete").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".kopsgen-complete").exists():
            return root
        tmp = root.with_name(root.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"boot: building the machines' root filesystem with debootstrap ({SUITE}; "
            f"cached in {root.parent})")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(tmp), debian_mirror()], capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise KopsgenError("debootstrap failed: " + " | ".join(tail),
                               exit_code=ExitCode.WORKSPACE)
        (tmp / ".kopsgen-complete").write_text(f"{SUITE} {' '.join(PACKAGES)}\n")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root


STANDIN_UNIT = """[Unit]
Description={name} (kopsgen sandbox stand-in for Flatcar's; it does nothing)

[Service]
Type=simple
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

OEM_CLOUDINIT = """[Unit]
Description=Run cloudinit (as Flatcar's oem-cloudinit.service on EC2)

[Service]
Type=oneshot
ExecStart=/usr/bin/coreos-cloudinit --oem=ec2-compat

[Install]
WantedBy=multi-user.target
"""


def flatcar_files() -> dict[str, tuple[bytes, int]]:
    """What each machine gets on top of the base: path -> (content, mode); a unit's
    enablement is a symlink entry (content b"->target")."""
    cloudinit = (Path(__file__).parent / "cloudinit.py").read_bytes()
    files = {
        "/usr/bin/coreos-cloudinit": (cloudinit, 0o755),
        "/etc/systemd/system/oem-cloudinit.service": (OEM_CLOUDINIT.encode(), 0o644),
        "/etc/systemd/system/multi-user.target.wants/oem-cloudinit.service":
            (b"->/etc/systemd/system/oem-cloudinit.service", 0),
        # A console login prompt would only add noise to the boot's log.
        "/etc/systemd/system/console-getty.service": (b"->/dev/null", 0),
        "/etc/systemd/system/getty@.service": (b"->/dev/null", 0),
    }
    for unit in ("update-engine.service", "locksmithd.service"):
        files[f"/etc/systemd/system/{unit}"] = (STANDIN_UNIT.format(name=unit).encode(), 0o644)
        files[f"/etc/systemd/system/multi-user.target.wants/{unit}"] = (
            f"->/etc/systemd/system/{unit}".encode(), 0)
    return files
