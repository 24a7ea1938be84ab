"""Terminal styling, shared by the full CLI and the render fast path so both print the
same bytes (standard library only: the fast path imports it)."""

from __future__ import annotations

import os

_ANSI = {"yellow": "\x1b[33m", "red": "\x1b[31m", "cyan": "\x1b[36m"}


def use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def styled(text: str, colour: str, stream) -> str:
    """``text`` in bold ``colour`` when ``stream`` is a terminal and NO_COLOR is unset."""
    if not use_color(stream):
        return text
    return f"{_ANSI[colour]}\x1b[1m{text}\x1b[0m"
