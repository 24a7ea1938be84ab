"""kill -9 a render at random moments: every file must stay old-or-new, never torn or lost.

A child process renders a ~50-file workspace (a dozen files of ~200 KB) over and over,
alternating between two versions. The parent SIGKILLs it after a seeded random delay and
inspects what a user would find, then renders normally and expects a clean workspace.

Run this file as a script (``python test_workspace_crash.py <dir>``) to be that child.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kopsgen.workspace import GeneratedFile, check_workspace, write_workspace

REPO = Path(__file__).resolve().parents[2]
KILLS = 40
SEED = 20240607
TEMP = re.compile(r"^\..+\.kopsgen-tmp-[0-9a-f]{16}$")
CA_KEY = b"-----BEGIN RSA PRIVATE KEY-----\n" + b"QUJD" * 400 + b"\n-----END RSA PRIVATE KEY-----\n"


def version(v: int) -> dict[str, GeneratedFile]:
    """Render number ``v`` (0 or 1): same paths mostly, different bytes, a few paths of its own."""
    files: dict[str, GeneratedFile] = {"credentials/ca-key.pem": GeneratedFile(CA_KEY, secret=True)}
    for i in range(44):
        # Every fourth file is ~200 KB so a kill often lands inside a write.
        lines = 4000 if i % 4 == 0 else 20
        body = "".join(f"# v{v} file {i} line {n:05d} {'x' * 36}\n" for n in range(lines))
        files[f"terraform/modules/m{i % 5}/f{i:02d}.tf"] = GeneratedFile(body.encode())
    if v == 0:
        files["credentials/only-v0.pem"] = GeneratedFile(b"v0 cert\n")
        for i in range(3):
            files[f"terraform/only-v0/x{i}.tf"] = GeneratedFile(f"v0 only {i}\n".encode())
    else:
        for i in range(3):
            files[f"userdata/only-v1/y{i}"] = GeneratedFile(f"v1 only {i}\n".encode())
    files["kubeconfig"] = GeneratedFile(f"apiVersion: v1\n# v{v}\n".encode(), secret=True)
    return files


VERSIONS = (version(0), version(1))
ALL_PATHS = set(VERSIONS[0]) | set(VERSIONS[1])
COMMON = set(VERSIONS[0]) & set(VERSIONS[1])


def child(root: Path) -> None:
    print("ready", flush=True)
    v = 0
    while True:
        write_workspace(root, VERSIONS[v])
        v = 1 - v


def files_on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def inspect_after_kill(root: Path, ever_created: set[str]) -> tuple[bool, int, bool]:
    """Assert the invariants a user relies on; return (versions mixed?, stale temp count,
    killed inside a write?). Between its first and last step a write leaves the manifest
    listing the paths of both versions, so that manifest means the kill landed inside."""
    manifest = json.loads((root / ".kopsgen/manifest.json").read_text())  # never torn
    on_disk = files_on_disk(root)
    temps = {p for p in on_disk if TEMP.match(Path(p).name)}
    unexpected = on_disk - ALL_PATHS - temps - {".kopsgen/manifest.json", ".kopsgen/lock"}
    assert not unexpected, f"files nobody generated: {sorted(unexpected)}"

    seen_versions = set()
    for path in sorted(ALL_PATHS & on_disk):
        data = (root / path).read_bytes()
        allowed = {v: VERSIONS[v][path].content for v in (0, 1) if path in VERSIONS[v]}
        matches = [v for v, content in allowed.items() if content == data]
        assert matches, f"{path} is neither version (torn write?), {len(data)} bytes"
        if len(set(allowed.values())) > 1:
            seen_versions.add(matches[0])
        # A crash must never make kopsgen forget a file it wrote.
        assert path in manifest["files"], f"{path} exists but the manifest lost track of it"

    missing = (ever_created & (COMMON | {"credentials/only-v0.pem"})) - on_disk
    assert not missing, f"files vanished: {sorted(missing)}"
    key = root / "credentials/ca-key.pem"
    assert key.read_bytes() == CA_KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    inside = any(p.startswith("userdata/only-v1/") for p in manifest["files"]) and any(
        p.startswith("terraform/only-v0/") for p in manifest["files"])
    return len(seen_versions) > 1, len(temps), inside


@pytest.mark.slow
def test_sigkill_during_render_leaves_every_file_old_or_new(tmp_path):
    root = tmp_path / "cluster"
    write_workspace(root, VERSIONS[0])
    ever_created = set(VERSIONS[0])
    rng = random.Random(SEED)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    mixed = stale = inside = 0
    start = time.monotonic()

    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, __file__, str(root)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, "the child died before it was killed"

        was_mixed, temps, was_inside = inspect_after_kill(root, ever_created)
        mixed += was_mixed
        stale += temps
        inside += was_inside
        ever_created |= ALL_PATHS & files_on_disk(root)

        # The next ordinary render repairs everything: exact file set, no temp files left.
        target = rng.randrange(2)
        write_workspace(root, VERSIONS[target], lock_timeout=5)
        expected = set(VERSIONS[target]) | {"credentials/only-v0.pem"}
        assert files_on_disk(root) == expected | {".kopsgen/manifest.json", ".kopsgen/lock"}
        for path, f in VERSIONS[target].items():
            assert (root / path).read_bytes() == f.content
        assert check_workspace(root, VERSIONS[target]).up_to_date
        ever_created |= expected

    elapsed = time.monotonic() - start
    print(f"{KILLS} kills in {elapsed:.1f}s: {inside} inside a write, {mixed} with both "
          f"versions on disk, {stale} stale temp files")
    # Otherwise the kills all landed between renders and the test proved nothing.
    assert inside >= KILLS // 4, f"only {inside} of {KILLS} kills landed inside a write"
    assert stale > 0, "no kill landed while temp files existed"


if __name__ == "__main__":
    child(Path(sys.argv[1]))
