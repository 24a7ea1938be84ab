"""Printing for the command line without the CLI framework: one-line messages, spec
problems, how a failure becomes a named exit code, and the body of ``kopsgen render``.

The typer commands in :mod:`kopsgen.cli` use these, and so does the console entry point
(:mod:`kopsgen.fastpath`) for the plain forms of ``kopsgen render``, which it runs without
importing typer at all (a render is the command people run most, and importing typer costs
about a sixth of a fresh render). Both paths therefore print the same bytes.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from kopsgen import aws, core
from kopsgen.errors import ExitCode, KopsgenError, SpecError
from kopsgen.style import styled
from kopsgen.workspace import notify_stderr

_COLOURS = {"error": "red", "warning": "yellow"}  # anything else (notice, drift): cyan


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def echo_err(message: str, *, kind: str = "error") -> None:
    """``kind: message`` on stderr, the kind in colour on a terminal."""
    echo(f"{styled(kind + ':', _COLOURS.get(kind, 'cyan'), sys.stderr)} {message}", err=True)


def print_problems(err: SpecError | None, warnings: list) -> None:
    for w in warnings:
        echo(styled(str(w), "yellow", sys.stderr), err=True)
    if err is not None:
        for line in err.lines():
            echo(styled(line, "red", sys.stderr), err=True)


def _aws_error(exc: BaseException) -> bool:
    if "botocore.exceptions" not in sys.modules:  # no AWS call was made
        return False
    return aws.is_aws_error(exc)


def failure_code(exc: BaseException, *, debug: bool = False) -> int:
    """Say what went wrong in as few lines as it takes and return its exit code; a bug
    (any other exception) is one line, its traceback only with ``debug``."""
    if not isinstance(exc, KopsgenError) and _aws_error(exc):
        # An AWS call nobody wrapped: still the AWS error it is, in one line (exit 5).
        exc = aws.failure("talk to AWS", exc)
    if isinstance(exc, SpecError):
        print_problems(exc, exc.warnings)
        return exc.exit_code
    if isinstance(exc, KopsgenError):
        for line in exc.lines():
            echo_err(line)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        echo_err("interrupted")
        return ExitCode.INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return ExitCode.OK
    if debug:
        traceback.print_exception(exc)
    echo_err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
             "traceback, and please report it)")
    return ExitCode.INTERNAL


def render_command(root: Path, part: str | None, *, check: bool, json_output: bool) -> int:
    """``kopsgen render [PART] [--check]``: returns the exit code; failures raise."""
    outcome = core.render(root, part)
    print_problems(None, outcome.warnings)
    if check:
        result = core.check(root, outcome)
        if json_output:
            echo(json.dumps({
                "up_to_date": result.up_to_date,
                "changes": [{"path": e.path, "status": e.status.value}
                            for e in result.plan.entries if e.status.value in
                            ("created", "updated", "removed")],
            }, indent=2))
        elif result.up_to_date:
            echo(f"{root}: up to date ({result.plan.summary()})")
        else:
            echo(result.diff, nl=False)
            echo_err(f"{root}: workspace is stale -- would be {result.plan.summary()}; run "
                     "`kopsgen render`", kind="drift")
        return ExitCode.OK if result.up_to_date else ExitCode.DRIFT
    report = core.write(root, outcome, on_wait=notify_stderr, stamp=True)
    # After the write: a render that waited for another one's lock says what it did itself.
    for notice in outcome.notices:
        echo_err(notice, kind="notice")
    if json_output:
        echo(json.dumps({"files": [{"path": p, "status": st.value} for p, st in report.entries],
                         "notices": outcome.notices}, indent=2))
        return ExitCode.OK
    for path, status in report.entries:
        if status.value != "unchanged":
            echo(f"  {status.value:<9} {path}")
    echo(f"{root}: {report.summary()}")
    return ExitCode.OK


def render_main(directory: str | None, part: str | None, check: bool) -> int:
    """The plain ``kopsgen render`` forms, run without the CLI framework."""
    try:
        return render_command(Path(directory or "."), part, check=check, json_output=False)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes its exit code
        if isinstance(exc, SystemExit):
            raise
        return failure_code(exc)
