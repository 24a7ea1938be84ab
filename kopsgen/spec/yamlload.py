"""Load YAML into plain Python values while remembering where every value came from.

PyYAML silently keeps the last of two equal keys in a mapping; a cluster.yaml with a
duplicated key almost always hides a mistake, so duplicates are reported as errors here.
Every mapping key and sequence item gets its (line, column) recorded under its path, so
later validation can point at ``cluster.yaml:LINE:COL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kopsgen.errors import Problem

Path = tuple[str | int, ...]


@dataclass
class Positions:
    """Where each path of the document starts (1-based line and column)."""

    at: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.at:
                return self.at[p]
            p = p[:-1]
        return self.at.get((), (1, 1))


def format_path(path: Path) -> str:
    """('worker', 'nodePools', 0, 'name') -> 'worker.nodePools[0].name'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap")


#: How deep mappings and lists may nest. cluster.yaml's deepest value is five levels down
#: (worker.nodePools[0].autoScalingGroup.minSize); PyYAML composes recursively, and a few
#: hundred levels exhaust Python's stack.
MAX_DEPTH = 32


class _TooDeep(Exception):
    def __init__(self, line: int, column: int):
        self.line, self.column = line, column


class _Loader(yaml.SafeLoader):
    """SafeLoader; composing only, construction of scalars is done per node below."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _TooDeep(mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _scalar(loader: _Loader, node: ScalarNode) -> Any:
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, filename: str = "cluster.yaml") -> tuple[Any, Positions, list[Problem]]:
    """Parse ``text``; return (value, positions, problems).

    Problems are YAML syntax errors, duplicate keys, non-string keys and anchors/aliases
    that make the document ambiguous. When a syntax error occurs the value is None.
    """
    problems: list[Problem] = []
    positions = Positions()
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        problems.append(Problem(line, col, "", f"invalid YAML: {what}", file=filename))
        return None, positions, problems
    except yaml.YAMLError as exc:  # e.g. "expected a single document", bad characters
        first = " ".join(str(exc).split())
        problems.append(Problem(1, 1, "", f"invalid YAML: {first}", file=filename))
        return None, positions, problems
    except _TooDeep as exc:
        problems.append(Problem(exc.line, exc.column, "", f"nested more than {MAX_DEPTH} levels "
                                "deep; a cluster.yaml needs at most a few", file=filename))
        return None, positions, problems
    if root is None:
        return None, positions, problems

    constructor = _Loader("")
    # Aliases let a tiny document expand into a huge one ("billion laughs"); a cluster.yaml
    # never needs more than a few thousand values, so stop well before memory is at risk.
    budget = [200_000]

    def convert(node: Node, path: Path) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise RecursionError
        positions.at.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_TAGS:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            problems.append(Problem(line, col, format_path(path),
                                    f"invalid value: tag {node.tag!r} is not allowed",
                                    file=filename))
            return None
        if isinstance(node, MappingNode):
            result: dict[str, Any] = {}
            # Merge keys (<<) are rare in cluster.yaml and hide where values come from.
            for key_node, value_node in node.value:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(
                        Problem(line, col, format_path(path), "YAML merge keys (<<) are not "
                                "supported; write the keys out", file=filename)
                    )
                    continue
                if not isinstance(key_node, ScalarNode):
                    problems.append(Problem(line, col, format_path(path),
                                            "mapping keys must be plain strings", file=filename))
                    continue
                key = key_node.value
                if key in result:
                    first = positions.at.get(path + (key,), (0, 0))[0]
                    problems.append(
                        Problem(line, col, format_path(path + (key,)),
                                f"duplicate key (first defined on line {first}); "
                                "remove one of them", file=filename)
                    )
                    continue
                positions.at[path + (key,)] = (line, col)
                result[key] = convert(value_node, path + (key,))
            return result
        if isinstance(node, SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            problems.append(Problem(line, col, format_path(path),
                                    f"invalid value: {str(exc).splitlines()[0]}", file=filename))
            return None

    try:
        value = convert(root, ())
    except RecursionError:
        problems.append(Problem(1, 1, "", "document is nested too deeply or expands to too many "
                                "values (check anchors and aliases)", file=filename))
        return None, positions, problems
    return value, positions, problems
