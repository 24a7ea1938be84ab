"""Loading cluster.yaml: YAML with positions -> checked keys and types -> a validated Spec."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kopsgen.errors import Problem, SpecError, WorkspaceError
from kopsgen.safeio import NotRegularFile, TooLarge, read_limited
from kopsgen.spec.builder import build_spec
from kopsgen.spec.model import Spec
from kopsgen.spec.yamlload import Positions, load_yaml

__all__ = ["Loaded", "Spec", "load_spec", "load_spec_text", "MAX_BYTES"]

#: A cluster.yaml is a few KB; refuse anything absurd before parsing it.
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Loaded:
    spec: Spec
    warnings: list[Problem]
    #: sha256 of the cluster.yaml bytes this was loaded from ("" for text given directly)
    source_digest: str = ""
    #: Where each key of the file is (line, column), for messages and line-exact edits.
    positions: Positions | None = None
    #: The file name problems name (as :class:`Problem` prints it).
    filename: str = "cluster.yaml"


def load_spec_text(text: str, filename: str = "cluster.yaml") -> Loaded:
    """Validate cluster.yaml ``text``; raise :class:`SpecError` with every problem."""
    data, positions, problems = load_yaml(text, filename)
    if problems:
        raise SpecError(problems)
    spec, errors, warnings = build_spec(data, positions, filename)
    if errors or spec is None:
        raise SpecError(errors or [Problem(0, 0, "", "invalid cluster.yaml", filename)],
                        warnings)
    return Loaded(spec, sorted(warnings), positions=positions, filename=filename)


def load_spec(path: Path) -> Loaded:
    """Read and validate the cluster.yaml at ``path``.

    Only a regular file (or a symlink to one) of at most :data:`MAX_BYTES` is read: a FIFO,
    a device or a directory is refused at once, without blocking or reading it."""
    name = path.name if path.parent == Path(".") else str(path)
    try:
        raw = read_limited(path, MAX_BYTES)
    except FileNotFoundError:
        raise SpecError([Problem(0, 0, "", f"{path} not found; run `kopsgen init` to create it "
                                 "(or pass -C DIR)", file=str(path))]) from None
    except NotRegularFile as exc:
        raise SpecError([Problem(0, 0, "", f"is {exc.kind}, not a regular file",
                                 file=name)]) from None
    except TooLarge as exc:
        raise SpecError([Problem(0, 0, "", f"is more than {MAX_BYTES} bytes (a cluster.yaml is "
                                 "a few KB)" if exc.size <= exc.limit + 1 else
                                 f"is {exc.size} bytes; a cluster.yaml is at most {MAX_BYTES}",
                                 file=name)]) from None
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(0, 0, "", f"is not UTF-8 text (byte {exc.start})",
                                 file=name)]) from None
    if "\x00" in text:
        raise SpecError([Problem(0, 0, "", "contains NUL bytes; is it a binary file?",
                                 file=name)])
    loaded = load_spec_text(text, name)
    return Loaded(loaded.spec, loaded.warnings, hashlib.sha256(raw).hexdigest(),
                  loaded.positions, name)
