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
    return statistics.median(samples(fn, runs, setup))


def samples(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
            ) -> list[float]:
    """Wall seconds of ``runs`` calls of ``fn`` (``setup`` runs before each, untimed)."""
    out = []
    for _ in range(runs):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def command() -> list[str]:
    """The ``kopsgen`` console script beside this Python (what a user runs), else
    ``python -m kopsgen``."""
    script = Path(sys.executable).with_name("kopsgen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kopsgen"]


def private_cache() -> str:
    """A fresh cache directory for this run, as a first-time user has: stamps that earlier
    runs left in ~/.cache never help or slow a measurement."""
    import os
    import tempfile

    path = tempfile.mkdtemp(prefix="kopsgen-bench-cache-")
    os.environ["XDG_CACHE_HOME"] = path
    return path


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run kopsgen as a user does: a fresh process of the console script."""
    import os

    proc = subprocess.run([*command(), *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode not in (0,):
        raise SystemExit(f"kopsgen {' '.join(args)} failed: {proc.stderr}")


def report(name: str, seconds: float | list[float], target: float | None = None) -> None:
    """One line: the median (and quartiles, given every sample) against the target."""
    detail = ""
    if isinstance(seconds, list):
        qs = statistics.quantiles(seconds, n=4)
        detail = f"  (q1-q3 {qs[0] * 1000:.0f}-{qs[2] * 1000:.0f} ms)"
        seconds = statistics.median(seconds)
    verdict = "" if target is None else (
        f" (target <= {target:.2f} s: {'met' if seconds <= target else 'MISSED'})")
    print(f"{name:<48} {seconds * 1000:8.1f} ms{verdict}{detail}")
