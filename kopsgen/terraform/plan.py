"""The plan summary: what ``terraform show -json <plan>`` says will change, per top-level module."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

ROOT_MODULE = "(root)"


@dataclass(frozen=True)
class Counts:
    """Changes as terraform counts them: a replacement is one add and one destroy."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0  # replacements, already included in add and destroy

    @property
    def steps(self) -> int:
        """Resource steps an apply reports as done (created + modified + destroyed)."""
        return self.add + self.change + self.destroy


@dataclass(frozen=True)
class PlanSummary(Counts):
    """A plan's changes in total, per top-level module and the addresses to be replaced."""

    by_module: Mapping[str, Counts] = field(default_factory=dict)
    replaced: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return self.steps > 0


_MODULE = re.compile(r'^module\.[A-Za-z_][\w-]*(?:\[(?:"(?:[^"\\]|\\.)*"|\d+)\])?')


def top_module(module_address: str | None) -> str:
    """``module.net`` for ``module.net.module.sub``; keeps an instance key (``module.pool["a"]``)."""
    if not module_address:
        return ROOT_MODULE
    m = _MODULE.match(module_address)
    return m.group(0) if m else module_address


def summarize_plan(plan_json: Mapping) -> PlanSummary:
    """Count the changes in ``terraform show -json <plan>`` output.

    Data-source reads and no-ops are not changes. Numbers match terraform's "Plan:" line.
    """
    totals = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    modules: dict[str, dict[str, int]] = {}
    replaced: list[str] = []
    for rc in plan_json.get("resource_changes") or []:
        actions = rc.get("change", {}).get("actions", [])
        if set(actions) == {"create", "delete"}:
            kinds = ("add", "destroy", "replace")
            replaced.append(rc["address"])
        elif actions == ["create"]:
            kinds = ("add",)
        elif actions == ["update"]:
            kinds = ("change",)
        elif actions == ["delete"]:
            kinds = ("destroy",)
        else:
            continue
        per = modules.setdefault(top_module(rc.get("module_address")),
                                 {"add": 0, "change": 0, "destroy": 0, "replace": 0})
        for kind in kinds:
            totals[kind] += 1
            per[kind] += 1
    return PlanSummary(**totals, by_module={name: Counts(**modules[name]) for name in sorted(modules)},
                       replaced=tuple(sorted(replaced)))
