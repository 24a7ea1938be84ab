"""The modules' README tables are generated from their HCL and must be current."""

import subprocess
import sys

import helpers


def test_module_readme_tables_are_current():
    proc = subprocess.run([sys.executable, str(helpers.REPO / "scripts" / "module-readmes"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
