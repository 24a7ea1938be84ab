"""What a renderer hands the writer: ``{relative POSIX path: GeneratedFile | bytes}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kopsgen.workspace.layout import FILE_MODE, SECRET_MODE, _parents, _path_problem


@dataclass(frozen=True)
class GeneratedFile:
    """One file a renderer produced.

    ``secret`` marks private key material: always written with mode 0600, never shown in a
    diff, only compared for presence and equality.
    """

    content: bytes
    mode: int = FILE_MODE
    secret: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.content, bytes):
            raise TypeError(f"GeneratedFile content must be bytes, not {type(self.content)}")
        if self.mode & ~0o777:
            raise ValueError(f"GeneratedFile mode {self.mode:o} has bits beyond 0777")
        if self.secret and self.mode != SECRET_MODE:
            object.__setattr__(self, "mode", SECRET_MODE)


FileMap = Mapping[str, "GeneratedFile | bytes"]


def normalise_files(files: FileMap) -> dict[str, GeneratedFile]:
    """Validate renderer output: plain bytes become GeneratedFile; sorted by path.

    Bad paths are renderer bugs, so they raise ValueError rather than a user-facing error.
    """
    out: dict[str, GeneratedFile] = {}
    for path in sorted(files):
        problem = _path_problem(path)
        if problem:
            raise ValueError(f"generated path {path!r} {problem}")
        value = files[path]
        out[path] = value if isinstance(value, GeneratedFile) else GeneratedFile(value)
    dirs = {d for p in out for d in _parents(p)}
    clash = sorted(dirs & out.keys())
    if clash:
        raise ValueError(f"generated path {clash[0]!r} is both a file and a directory")
    return out
