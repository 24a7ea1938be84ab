"""Progress events parsed from terraform's human output.

We parse terraform's human output rather than ``-json`` streaming: ``verbose=True`` must show
terraform's own text unchanged, and parsing that same text keeps one argv for both modes (what
a user re-runs by hand is what kopsgen ran). The hook lines we read ("X: Creating...", "X:
Creation complete after 2s", "Apply complete! ...") have been stable since Terraform 0.12.
Lines become :class:`ProgressEvent`\\ s passed to the runner's ``out`` callback; machine-readable
stdout (``show -json``, ``output -json``, ...) is captured and never echoed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration as terraform prints it ("2s", "1m30s", "1h0m5s")."""
    m = _DURATION.match(text)
    if not m or not text:
        return None
    hours, minutes, seconds = m.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


# An address has spaces only inside quoted index keys; "addr (local-exec): ..." is provisioner output.
_ADDR = r'(?P<addr>(?:[^\s"\[\]]|\[(?:"(?:[^"\\]|\\.)*"|\d+)\])+)(?: \(deposed object \w+\))?'
_HOOKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"^{_ADDR}: {pattern}"), kind)
    for pattern, kind in (
        (r"Creating\.\.\.", "creating"),
        (r"Creation complete after (?P<d>\S+)", "created"),
        (r"Modifying\.\.\.", "modifying"),
        (r"Modifications complete after (?P<d>\S+)", "modified"),
        (r"Destroying\.\.\.", "destroying"),
        (r"Destruction complete after (?P<d>\S+)", "destroyed"),
        (r"(?:Creation|Modifications|Destruction) errored after (?P<d>\S+)", "failed"),
        (r"Reading\.\.\.", "reading"),
        (r"Read complete after (?P<d>\S+)", "read"),
        (r"Refreshing state\.\.\.", "refreshing"),
        (r"Still (?P<action>creating|modifying|destroying|reading)\.\.\. \[(?:.*, )?(?P<d>\S+) elapsed\]",
         "still"),
    )
)
_COUNT = re.compile(r"(\d+) (added|changed|destroyed|to add|to change|to destroy)\b")


@dataclass(frozen=True)
class ProgressEvent:
    """One thing terraform reported; ``line`` is terraform's own text."""

    kind: str  # creating created modifying modified destroying destroyed failed reading read
    #            refreshing still | complete (Apply/Destroy complete!) plan no_changes
    address: str = ""
    elapsed: float | None = None  # seconds, for "... complete after Ns" and "Still ..."
    action: str = ""  # for "still": creating, modifying, destroying or reading
    added: int = 0  # for "complete" and "plan"
    changed: int = 0
    destroyed: int = 0
    line: str = ""

    @property
    def done(self) -> bool:
        """One resource step finished; count these against :attr:`PlanSummary.steps`."""
        return self.kind in ("created", "modified", "destroyed")

    def __str__(self) -> str:
        if self.kind in ("complete", "plan"):
            return f"{self.added} added, {self.changed} changed, {self.destroyed} destroyed"
        what = self.action if self.kind == "still" else self.kind
        after = f" ({self.elapsed:g}s)" if self.elapsed is not None else ""
        return f"{self.address}: {what}{after}"


def parse_progress(line: str) -> ProgressEvent | None:
    """The event in one line of terraform's human output, or None."""
    for pattern, kind in _HOOKS:
        m = pattern.match(line)
        if m:
            groups = m.groupdict()
            elapsed = parse_duration(groups["d"]) if groups.get("d") else None
            return ProgressEvent(kind, m["addr"], elapsed, groups.get("action") or "", line=line)
    summary = None
    if line.startswith(("Apply complete! Resources:", "Destroy complete! Resources:")):
        summary = "complete"
    elif line.startswith("Plan: "):
        summary = "plan"
    elif line.startswith("No changes."):
        return ProgressEvent("no_changes", line=line)
    if summary is None:
        return None
    counts = {word.split()[-1]: int(n) for n, word in _COUNT.findall(line)}
    return ProgressEvent(summary, added=counts.get("added", counts.get("add", 0)),
                         changed=counts.get("changed", counts.get("change", 0)),
                         destroyed=counts.get("destroyed", counts.get("destroy", 0)), line=line)
