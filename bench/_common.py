"""Tiny timing helpers for the bench scripts (medians over repeated runs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"


def compile_bytecode() -> None:
    """Compile kopsgen's modules as `pip install` of a wheel does, so a new process does not
    compile them from source each time (PYTHONDONTWRITEBYTECODE=1 would keep it so)."""
    import compileall

    compileall.compile_dir(str(REPO / "kopsgen"), quiet=1)


def median_seconds(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
                   ) -> float:
    samples = []
    for _ in range(runs):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run kopsgen as a user does: a fresh Python process."""
    import os

    proc = subprocess.run([sys.executable, "-m", "kopsgen", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode not in (0,):
        raise SystemExit(f"kopsgen {' '.join(args)} failed: {proc.stderr}")


def report(name: str, seconds: float, target: float | None = None) -> None:
    verdict = "" if target is None else (
        f" (target <= {target:.2f} s: {'met' if seconds <= target else 'MISSED'})")
    print(f"{name:<48} {seconds * 1000:8.1f} ms{verdict}")
