"""`kopsgen render` killed with SIGKILL at random moments never leaves a truncated file
and never loses the CA key."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"


def assert_intact(root: Path) -> None:
    creds = root / "credentials"
    if creds.exists():
        for p in creds.glob("*.pem"):
            data = p.read_bytes()
            if p.name.endswith("-key.pem"):
                load_pem_private_key(data, None)
            elif p.name != "service-account.pem":
                x509.load_pem_x509_certificate(data)
    for p in (root / "userdata").glob("cloud-config-*") if (root / "userdata").exists() else []:
        text = p.read_text()
        assert text.startswith("#cloud-config") and text.endswith("\n"), p
        yaml.safe_load(text)
    if (root / "kubeconfig").exists():
        assert yaml.safe_load((root / "kubeconfig").read_text())["kind"] == "Config"


@pytest.mark.slow
def test_sigkill_loop(tmp_path):
    shutil.copy(SEED, tmp_path / "cluster.yaml")
    text = (tmp_path / "cluster.yaml").read_text()
    rng = random.Random(1234)
    ca_key = None
    killed_mid_way = 0
    for i in range(25):
        # Alternate the API name so every render has files to rewrite.
        name = "k8s.kubeops.net" if i % 2 else f"k8s{i}.kubeops.net"
        (tmp_path / "cluster.yaml").write_text(text.replace("k8s.kubeops.net", name))
        proc = subprocess.Popen([sys.executable, "-m", "kopsgen", "render"],
                                cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_way += 1
        proc.wait()
        assert_intact(tmp_path)
        key = tmp_path / "credentials" / "ca-key.pem"
        if ca_key is None and key.exists():
            ca_key = key.read_bytes()
        if ca_key is not None:
            assert key.read_bytes() == ca_key, "the CA key changed or was lost"
    assert killed_mid_way >= 5, "the loop never interrupted a render; tune the delays"
    done = subprocess.run([sys.executable, "-m", "kopsgen", "render"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    check = subprocess.run([sys.executable, "-m", "kopsgen", "render",
                            "--check"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(tmp_path.rglob("*.kopsgen-tmp-*"))
    if ca_key is not None:
        assert (tmp_path / "credentials" / "ca-key.pem").read_bytes() == ca_key
