"""`kopsgen render` of the seed cluster: into a fresh directory and a re-render of an
up-to-date one (targets: fresh <= 0.3 s, re-render <= 0.15 s wall). Measured in-process
(the render itself) and as a fresh process (what a user waits for, Python start-up
included)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import SEED, cli, compile_bytecode, median_seconds, private_cache, report, samples

from kopsgen.cli import run

RUNS = 21


def fresh_dir(base: Path, i: list[int]) -> Path:
    i[0] += 1
    d = base / f"c{i[0]}"
    d.mkdir()
    shutil.copy(SEED, d / "cluster.yaml")
    return d


def main() -> None:
    import contextlib
    import io

    compile_bytecode()
    cache = private_cache()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        counter = [0]
        current: list[Path] = []

        def setup() -> None:
            current[:] = [fresh_dir(base, counter)]

        def render_in_process(args: list[str]) -> None:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                code = run(["-C", str(current[0]), *args])
            if code != 0:
                raise SystemExit(f"render failed: {code}")

        for part, label in ((["render"], "render (credentials + stack)"),):
            report(f"{label}, fresh dir, in-process",
                   median_seconds(lambda a=part: render_in_process(a), RUNS, setup), 0.3)
            setup()
            render_in_process(part)
            report(f"{label}, re-render, in-process",
                   median_seconds(lambda a=part: render_in_process(a), RUNS), 0.15)
            report(f"{label}, fresh dir, new process",
                   samples(lambda a=part: cli(a, current[0]), RUNS, setup), 0.3)
            setup()
            cli(part, current[0])
            report(f"{label}, re-render, new process",
                   samples(lambda a=part: cli(a, current[0]), RUNS), 0.15)
            report(f"{label}, re-render --check, new process",
                   median_seconds(lambda a=part: cli([*a, "--check"], current[0]), RUNS), 0.15)
            slow = {"KOPSGEN_NO_FASTPATH": "1"}
            report(f"{label}, re-render without the stamp, new process",
                   median_seconds(lambda a=part, e=slow: cli(a, current[0], e), RUNS))
    shutil.rmtree(cache, ignore_errors=True)


main()
