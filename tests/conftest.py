import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Renders leave stamps (and compiled templates) in the user's cache: keep the suite's apart.
_CACHE = tempfile.mkdtemp(prefix="kopsgen-test-cache-")
# The sandbox machines' root filesystem takes a minute to build: keep it in the user's
# cache (keyed by what goes into it), not in the suite's throwaway one.
os.environ.setdefault("KOPSGEN_SANDBOX_ROOTFS_CACHE", str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kopsgen" / "rootfs"))
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

# Make tests/helpers.py importable as `helpers` from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402

from kopsgen.cli import STATE, run  # noqa: E402


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run kopsgen in-process in ``tmp_path``; returns exit code, stdout and stderr."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")

    def invoke(*args: str) -> Result:
        STATE.debug, STATE.dir = False, None
        code = run(list(args))
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return invoke
