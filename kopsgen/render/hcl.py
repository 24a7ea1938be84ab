"""A small HCL writer whose output `terraform fmt` leaves unchanged.

The root module is data (literal values from cluster.yaml), so it is built as a tree and
printed here rather than templated: quoting, escaping and terraform fmt's alignment rules
live in one place. Alignment follows hclwrite: consecutive single-line attributes of a
body line up their ``=``; a multi-line value, a nested block, a comment or a blank line
ends the group.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Union

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
#: Identifiers HCL reads as something else where an object key stands: ``{ null = 1 }`` is
#: a null key, ``{ for = 1 }`` starts a for expression.
_KEYWORDS = frozenset({"null", "true", "false", "for", "in", "if", "else", "endif", "endfor"})
#: Characters written as they are inside a quoted string: printable ASCII but " and \.
_NEEDS_ESCAPE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Raw:
    """An expression written as is: a reference (module.network.vpc_id) or a function call."""

    text: str


@dataclass(frozen=True)
class Obj:
    """An object constructor; ``inline`` prints it on one line ({ a = 1, b = 2 })."""

    items: tuple[tuple[str, Value], ...]
    inline: bool = False


Value = Union[str, int, float, bool, None, Raw, Obj, list, tuple, dict]  # noqa: UP007


@dataclass
class Attr:
    name: str
    value: Value


@dataclass
class Comment:
    text: str


@dataclass
class Blank:
    pass


@dataclass
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: list[Attr | Block | Comment | Blank] = field(default_factory=list)

    def attr(self, name: str, value: Value) -> Block:
        self.body.append(Attr(name, value))
        return self

    def blank(self) -> Block:
        self.body.append(Blank())
        return self


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch  # printable non-ASCII (é, 中) is written as it is
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"a lone surrogate ({ch!r}) cannot be written to HCL")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def quote(text: str) -> str:
    """A Terraform string literal. HCL knows only the escapes \\n \\r \\t \\" \\\\ \\uNNNN and
    \\UNNNNNNNN (not JSON's \\b or \\f): every other control or invisible character is
    written as \\u; ``${`` and ``%{`` (template interpolation and directives) as ``$${``
    and ``%%{``."""
    out = _NEEDS_ESCAPE.sub(_escape, text)
    return '"' + out.replace("${", "$${").replace("%{", "%%{") + '"'


def key(name: str) -> str:
    """An object key: bare when it is a plain identifier, quoted otherwise."""
    return name if _IDENT.fullmatch(name) and name not in _KEYWORDS else quote(name)


def _scalar(value: Value) -> str | None:
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written as an HCL number")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    return None


def _expr(value: Value, indent: int) -> str:
    """``value`` as an expression starting at the current column, indented by ``indent``."""
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(_scalar(v) is not None for v in value) and len(value) <= 1:
            return "[" + _expr(value[0], indent) + "]"
        return "[\n" + "".join(f"{pad}{_expr(v, indent + 1)},\n" for v in value) + end + "]"
    if isinstance(value, dict):
        value = Obj(tuple(value.items()))
    if isinstance(value, Obj):
        if not value.items:
            return "{}"
        if value.inline:
            return "{ " + ", ".join(f"{key(k)} = {_expr(v, indent)}" for k, v in value.items) + " }"
        lines = [(key(k), _expr(v, indent + 1)) for k, v in value.items]
        return "{\n" + _aligned(lines, pad) + end + "}"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


def _aligned(lines: list[tuple[str, str]], pad: str) -> str:
    """Attribute lines with terraform fmt's alignment of the ``=`` in runs of one-liners."""
    out: list[str] = []
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in group), default=0)
        out.extend(f"{pad}{k.ljust(width)} = {v}\n" for k, v in group)
        group.clear()

    for k, v in lines:
        if "\n" in v:
            flush()
            out.append(f"{pad}{k} = {v}\n")
        else:
            group.append((k, v))
    flush()
    return "".join(out)


def _body(items: list, indent: int) -> str:
    pad = "  " * indent
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if run:
            out.append(_aligned(run, pad))
            run.clear()

    for item in items:
        if isinstance(item, Attr):
            run.append((item.name, _expr(item.value, indent)))
            continue
        flush()
        if isinstance(item, Blank):
            out.append("\n")
        elif isinstance(item, Comment):
            out.extend(f"{pad}# {line}".rstrip() + "\n" for line in item.text.splitlines())
        elif isinstance(item, Block):
            out.append(block(item, indent))
    flush()
    return "".join(out)


def block(b: Block, indent: int = 0) -> str:
    pad = "  " * indent
    head = " ".join([b.type, *(quote(label) for label in b.labels)])
    if not b.body:
        return f"{pad}{head} {{\n{pad}}}\n"
    return f"{pad}{head} {{\n{_body(b.body, indent + 1)}{pad}}}\n"


def document(items: list[Block | Comment | Blank]) -> str:
    """A whole .tf file: top-level blocks separated by one blank line; a comment is glued
    to the block after it unless a Blank follows it."""
    parts: list[str] = []
    pending = ""  # a comment is glued to the block that follows it
    for item in items:
        if isinstance(item, Comment):
            pending += "".join(f"# {line}".rstrip() + "\n" for line in item.text.splitlines())
        elif isinstance(item, Block):
            parts.append(pending + block(item))
            pending = ""
        elif isinstance(item, Blank) and pending:
            parts.append(pending)  # a comment standing alone, e.g. a file header
            pending = ""
    if pending:
        parts.append(pending)
    return "\n".join(parts)
