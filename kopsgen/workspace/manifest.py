"""``.kopsgen/manifest.json``: what kopsgen wrote, so that it never mistakes a user's file for
its own (or its own for a user's)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kopsgen.errors import WorkspaceError
from kopsgen.workspace.files import GeneratedFile
from kopsgen.workspace.layout import MANIFEST, _path_problem
from kopsgen.workspace.safety import _nofollow_error, _read_nofollow

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class ManifestEntry:
    sha256: str
    mode: int
    secret: bool


@dataclass(frozen=True)
class Manifest:
    """What kopsgen wrote: generated files, and the directories it created for them."""

    files: Mapping[str, ManifestEntry]
    dirs: frozenset[str]

    def to_bytes(self) -> bytes:
        doc = {
            "format": MANIFEST_FORMAT,
            "generator": "kopsgen",
            "dirs": sorted(self.dirs),
            "files": {
                p: {"mode": f"{e.mode:04o}", "secret": e.secret, "sha256": e.sha256}
                for p, e in self.files.items()
            },
        }
        return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()


_EMPTY_MANIFEST = Manifest({}, frozenset())


def _damaged(path: Path, why: str) -> WorkspaceError:
    return WorkspaceError(
        f"{path} is damaged ({why}); restore it, or delete it and render again "
        "(kopsgen then refuses to overwrite files it no longer recognises)"
    )


def _read_manifest(root: Path) -> tuple[Manifest, bytes | None]:
    path = root / MANIFEST
    try:
        raw = _read_nofollow(path)
    except FileNotFoundError:
        return _EMPTY_MANIFEST, None
    except OSError as exc:
        raise _nofollow_error(exc, path, "kopsgen reads and writes its own manifest only: "
                              "move the link away and render again", "cannot read") from exc
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _damaged(path, "not JSON") from exc
    if not isinstance(doc, dict) or doc.get("generator") != "kopsgen":
        raise _damaged(path, "not a kopsgen manifest")
    if doc.get("format") != MANIFEST_FORMAT:
        raise WorkspaceError(
            f"{path} has format {doc.get('format')!r}; this kopsgen reads format "
            f"{MANIFEST_FORMAT} (was it written by a newer kopsgen?)"
        )
    files_doc, dirs_doc = doc.get("files"), doc.get("dirs")
    if not isinstance(files_doc, dict) or not isinstance(dirs_doc, list):
        raise _damaged(path, "'files' must be an object and 'dirs' a list")
    files: dict[str, ManifestEntry] = {}
    for p, e in files_doc.items():
        # A path escaping the workspace would make removal delete someone else's file.
        if _path_problem(p):
            raise _damaged(path, f"bad path {p!r}")
        try:
            files[p] = ManifestEntry(str(e["sha256"]), int(e["mode"], 8), bool(e["secret"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise _damaged(path, f"bad entry for {p!r}") from exc
    for d in dirs_doc:
        if _path_problem(d):
            raise _damaged(path, f"bad directory {d!r}")
    return Manifest(files, frozenset(dirs_doc)), raw


def _entry(f: GeneratedFile) -> ManifestEntry:
    return ManifestEntry(hashlib.sha256(f.content).hexdigest(), f.mode, f.secret)
