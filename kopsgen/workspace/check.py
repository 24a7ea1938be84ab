"""``kopsgen render --check``: what a render would change, as a diff; writes nothing."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from kopsgen.workspace.files import FileMap
from kopsgen.workspace.layout import _in_scope
from kopsgen.workspace.plan import _CHANGES, PlannedFile, Status, WorkspacePlan, plan_workspace


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``kopsgen render --check``: is the workspace what a render would write?"""

    up_to_date: bool
    diff: str  # unified diff of text files; one line per secret, binary or mode change
    plan: WorkspacePlan

    def summary(self) -> str:
        return self.plan.summary()


def _as_text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unified(old: str, new: str, a: str, b: str) -> list[str]:
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), a, b
    ):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return out


def _describe(e: PlannedFile, redact: tuple[str, ...] = ()) -> list[str]:
    if e.status not in _CHANGES:
        return []
    out: list[str] = []
    if e.mode_changes and e.old_mode is not None and e.file is not None:
        out.append(f"{e.path}: mode would change from {e.old_mode:04o} to {e.file.mode:04o}\n")
    if e.status is Status.UPDATED and not e.content_changes:
        return out
    if e.secret or (redact and _in_scope(e.path, redact)):
        if e.status is Status.CREATED:
            msg = "missing, would be re-created" if e.tracked else "would be created"
        else:
            msg = "differs" if e.status is Status.UPDATED else "would be removed"
        return [f"{e.path}: {msg}\n", *out]
    old = b"" if e.old is None else e.old
    new = b"" if e.file is None else e.file.content
    old_text, new_text = _as_text(old), _as_text(new)
    verb = {Status.CREATED: "would be created", Status.REMOVED: "would be removed"}
    if old_text is None or new_text is None:
        return [f"{e.path}: binary file {verb.get(e.status, 'differs')}\n", *out]
    if not old_text and not new_text:
        return [f"{e.path}: empty file {verb[e.status]}\n", *out]
    a = "/dev/null" if e.status is Status.CREATED else f"a/{e.path}"
    b = "/dev/null" if e.status is Status.REMOVED else f"b/{e.path}"
    return [*_unified(old_text, new_text, a, b), *out]


def check_workspace(root: Path, files: FileMap, scope: tuple[str, ...] | None = None,
                    redact: tuple[str, ...] = ()) -> CheckResult:
    """What ``render`` would change at ``root``, as a diff; writes nothing, takes no lock.

    Secret files appear by name only ("would be created", "differs", "missing, would be
    re-created", "would be removed"); binary files as "binary file differs".
    """
    plan = plan_workspace(Path(root), files, scope)
    lines: list[str] = []
    for rel, mode in plan.dir_modes:
        lines.append(f"{rel}/: mode would change to {mode:04o}\n")
    for e in plan.entries:
        lines.extend(_describe(e, redact))
    return CheckResult(up_to_date=not plan.changed, diff="".join(lines), plan=plan)
