"""Golden examples: each examples/<name>/ has its rendered, committed workspace (terraform/
and userdata/: the secret-free part) beside its cluster.yaml. Rendering the cluster.yaml
again must reproduce it byte for byte; a mismatch prints a unified diff.

Regenerate on purpose with `make goldens` (or KOPSGEN_UPDATE_GOLDEN=1 pytest tests/golden).
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import helpers
import pytest

from kopsgen import core

EXAMPLES = sorted(p.name for p in (helpers.REPO / "examples").iterdir()
                  if (p / "cluster.yaml").exists())
GENERATED = ("terraform", "userdata")


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for top in GENERATED:
        base = root / top
        if not base.exists():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root)
            if p.is_file() and not {".terraform"} & set(rel.parts) and not p.name.endswith(
                    (".tfstate", ".tfplan", ".lock.hcl")):
                out[rel.as_posix()] = p.read_bytes()
    return out


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_matches_its_committed_workspace(example, tmp_path):
    committed_dir = helpers.REPO / "examples" / example
    if os.environ.get("KOPSGEN_UPDATE_GOLDEN"):
        core.write(committed_dir, core.render(committed_dir, "stack"))
    shutil.copy(committed_dir / "cluster.yaml", tmp_path / "cluster.yaml")
    core.write(tmp_path, core.render(tmp_path, "stack"))
    want, got = tree(committed_dir), tree(tmp_path)
    assert want, f"examples/{example} has no committed workspace; run `make goldens`"
    problems = []
    for path in sorted(set(want) | set(got)):
        if path not in got:
            problems.append(f"{path}: committed but no longer rendered\n")
        elif path not in want:
            problems.append(f"{path}: rendered but not committed\n")
        elif want[path] != got[path]:
            problems.extend(difflib.unified_diff(
                want[path].decode().splitlines(keepends=True),
                got[path].decode().splitlines(keepends=True),
                f"examples/{example}/{path} (committed)", f"{path} (rendered)"))
    assert not problems, ("rendered workspace differs from the committed one "
                          "(run `make goldens` if the change is intended):\n" + "".join(problems))
