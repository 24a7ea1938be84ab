"""`kopsgen validate` of the seed cluster, wall time of the whole command (target: well
under 0.5 s; it must not import boto3)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import SEED, cli, median_seconds, report

RUNS = 15

with tempfile.TemporaryDirectory() as tmp:
    d = Path(tmp)
    shutil.copy(SEED, d / "cluster.yaml")
    report(f"validate seed (fresh process, median of {RUNS})",
           median_seconds(lambda: cli(["validate"], d), RUNS), 0.5)
