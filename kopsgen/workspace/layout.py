"""The layout of a cluster directory: what lives where and with which mode, and which paths a
render may generate (never kopsgen's own state, never a temp file's name)."""

from __future__ import annotations

import re

STATE_DIR = ".kopsgen"
MANIFEST = f"{STATE_DIR}/manifest.json"
LOCK = f"{STATE_DIR}/lock"
CREDENTIALS_DIR = "credentials"

FILE_MODE = 0o644
SECRET_MODE = 0o600
DIR_MODE = 0o755
PRIVATE_DIR_MODE = 0o700

_TMP_MARK = ".kopsgen-tmp-"
# Temp files are ".<name>.kopsgen-tmp-<16 hex>", so stale ones can be recognised and removed.
_TMP_RE = re.compile(r"^\..+\.kopsgen-tmp-[0-9a-f]{16}$")


def _path_problem(path: str) -> str | None:
    if not isinstance(path, str) or not path:
        return "is empty or not a string"
    if path.startswith("/") or "\\" in path or "\0" in path:
        return "must be a relative POSIX path"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain empty, '.' or '..' components"
    if parts[0] == STATE_DIR:
        return f"is inside {STATE_DIR}/, which kopsgen keeps for itself"
    if _TMP_RE.fullmatch(parts[-1]):
        return "looks like a kopsgen temp file"
    return None


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of the temp files a render writes before its rename."""
    return bool(_TMP_RE.fullmatch(name))


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _is_credentials(path: str) -> bool:
    return path.split("/", 1)[0] == CREDENTIALS_DIR


def _dir_mode(rel_dir: str) -> int:
    return PRIVATE_DIR_MODE if _is_credentials(rel_dir) else DIR_MODE


def _in_scope(path: str, scope: tuple[str, ...] | None) -> bool:
    """Whether ``path`` is one of ``scope``'s paths or under one; ``!path`` entries are not."""
    def under(s: str) -> bool:
        return path == s or path.startswith(s.rstrip("/") + "/")
    if scope is None:
        return True
    if any(under(s[1:]) for s in scope if s.startswith("!")):
        return False
    return any(under(s) for s in scope if not s.startswith("!"))
