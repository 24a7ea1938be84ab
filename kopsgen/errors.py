"""One typed error hierarchy and the named exit codes the CLI maps it to.

Every failure a user can cause ends as a :class:`KopsgenError` with a one-line message;
the CLI prints it on stderr and exits with the error's :attr:`exit_code`. Anything else
is an internal error (a bug): one line too, with the traceback only under ``--debug``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every kopsgen command (documented in the README)."""

    OK = 0
    CHANGES = 1  # plan --detailed-exitcode found changes; render --check found drift
    USAGE = 2  # bad command line (typer/click also uses 2)
    INVALID_SPEC = 3  # cluster.yaml does not load or validate
    TERRAFORM_FAILED = 4  # terraform exited non-zero
    AWS_CHECK_FAILED = 5  # pre-flight checks against AWS failed, or an AWS call did
    WORKSPACE = 6  # the cluster directory cannot be read or written (exists, locked, ...)
    LEFTOVERS = 7  # destroy finished but resources tagged with the cluster remain
    NOT_READY = 8  # up: the cluster was created but did not become ready within --timeout
    INTERNAL = 70  # a bug in kopsgen (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C

    # Alias: drift is reported with the same code as changes.
    DRIFT = 1


class KopsgenError(Exception):
    """Base of every error a user can cause; carries its exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def lines(self) -> list[str]:
        """The error as the lines printed on stderr (one, unless it collects several)."""
        return [self.message]


class UsageError(KopsgenError):
    exit_code = ExitCode.USAGE


class WorkspaceError(KopsgenError):
    exit_code = ExitCode.WORKSPACE


class TerraformError(KopsgenError):
    exit_code = ExitCode.TERRAFORM_FAILED


class AwsCheckError(KopsgenError):
    exit_code = ExitCode.AWS_CHECK_FAILED

    def __init__(self, message: str, *, problems: list[Problem] | None = None,
                 exit_code: ExitCode | None = None):
        super().__init__(message, exit_code=exit_code)
        self.problems = sorted(problems or [])

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems] + [self.message]


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so a message is always one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


@dataclass(frozen=True, order=True)
class Problem:
    """One spec problem: where it is and what is wrong.

    Sorted by (line, column, field) so every run prints the same order.
    """

    line: int
    column: int
    field: str
    message: str
    file: str = "cluster.yaml"
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        field = f"{self.field}: " if self.field else ""
        return one_line(f"{where}: {prefix}{field}{self.message}")


class SpecError(KopsgenError):
    """cluster.yaml failed to load or validate; holds every problem found."""

    exit_code = ExitCode.INVALID_SPEC

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None):
        self.problems = sorted(problems)
        self.warnings = sorted(warnings or [])
        first = str(self.problems[0]) if self.problems else "invalid cluster.yaml"
        super().__init__(first)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]
