"""`terraform validate` of the seed cluster's rendered workspace (after one init), median."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from _common import REPO, SEED, median_seconds, report

from kopsgen import core

with tempfile.TemporaryDirectory() as tmp:
    d = Path(tmp)
    shutil.copy(SEED, d / "cluster.yaml")
    core.write(d, core.render(d))
    tf = [str(REPO / "scripts" / "tf-offline"), str(d / "terraform")]
    subprocess.run([*tf, "init", "-backend=false", "-input=false"], check=True,
                   capture_output=True)
    report("terraform validate, seed workspace (median of 5)",
           median_seconds(lambda: subprocess.run([*tf, "validate"], check=True,
                                                 capture_output=True), 5))
