"""How a terraform run fails: a non-zero exit, or the user's Ctrl-C.

A non-zero exit raises :class:`TerraformFailed`: one line "terraform plan failed (exit 1)",
and :meth:`~TerraformFailed.lines` adds terraform's "Error: ..." blocks (:func:`error_text`).
"""

from __future__ import annotations

from collections.abc import Sequence

from kopsgen.errors import ExitCode, KopsgenError, TerraformError

MAX_ERROR_LINES = 60


class TerraformFailed(TerraformError):
    """terraform exited non-zero; carries terraform's own error text."""

    def __init__(self, subcommand: str, returncode: int, detail: Sequence[str] = ()):
        super().__init__(f"terraform {subcommand} failed (exit {returncode})")
        self.subcommand = subcommand
        self.returncode = returncode
        self.detail = list(detail)

    def lines(self) -> list[str]:
        return [self.message, *self.detail]


class Interrupted(KopsgenError):
    """The user pressed Ctrl-C while terraform ran; terraform has exited."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, *, forced: bool):
        if forced:
            message = ("interrupted: terraform was stopped immediately; the state may still be "
                       "locked (see terraform force-unlock)")
        else:
            message = "interrupted: terraform stopped cleanly; state lock released"
        super().__init__(message)
        self.forced = forced


def error_text(lines: Sequence[str]) -> list[str]:
    """terraform's "Error: ..." blocks from its output, trimmed and de-duplicated."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in lines:
        # Boxed diagnostics ("│ Error: ...") appear when something re-enables colour.
        line = raw[2:] if raw.startswith("│ ") else raw
        if line in ("╷", "╵", "│"):
            continue
        if line.startswith("Error: "):
            current = [line]
            blocks.append(current)
        elif line.startswith("Warning: "):
            current = None
        elif current is not None:
            if not line.strip() and (not current[-1].strip()):
                continue  # collapse runs of blank lines
            current.append(line.rstrip())
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for block in blocks:
        while block and not block[-1].strip():
            block.pop()
        key = tuple(block)
        if key not in seen:
            seen.add(key)
            out += ([""] if out else []) + block
    if not out:
        # No diagnostics (a crash, a panic): the last lines say most.
        out = [ln.rstrip() for ln in lines if ln.strip()][-10:]
    if len(out) > MAX_ERROR_LINES:
        out = out[:MAX_ERROR_LINES] + [f"... ({len(out) - MAX_ERROR_LINES} more lines)"]
    return out
