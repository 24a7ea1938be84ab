"""Writing a render: atomically, only where bytes changed, with the manifest always listing
every file kopsgen may have written (see the package docstring for the crash-safety steps)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kopsgen.errors import WorkspaceError
from kopsgen.workspace.durable import _make_durable
from kopsgen.workspace.files import FileMap, normalise_files
from kopsgen.workspace.layout import (
    _TMP_MARK,
    DIR_MODE,
    FILE_MODE,
    MANIFEST,
    SECRET_MODE,
    STATE_DIR,
    _dir_mode,
)
from kopsgen.workspace.lock import DEFAULT_LOCK_TIMEOUT, workspace_lock
from kopsgen.workspace.plan import _CHANGES, Status, WorkspacePlan, _summary, plan_workspace
from kopsgen.workspace.safety import _chmod_dir, _make_dir, check_state_dir


@dataclass(frozen=True)
class WriteReport:
    """What a write did, one (path, status) per path, sorted by path."""

    root: Path
    entries: tuple[tuple[str, Status], ...]

    def paths(self, status: Status) -> list[str]:
        return [p for p, s in self.entries if s is status]

    @property
    def changed(self) -> bool:
        return any(s in _CHANGES for _, s in self.entries)

    def summary(self) -> str:
        """One line, e.g. ``3 created, 1 updated, 40 unchanged, 0 removed``."""
        return _summary([s for _, s in self.entries])


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new temp file beside ``path`` (not yet fsynced: see _make_durable);
    returns the temp file's path."""
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{secrets.token_hex(8)}")
    # Created 0600 and chmod-ed only when complete: a secret is never readable by others.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, SECRET_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def apply_plan(plan: WorkspacePlan) -> WriteReport:
    """Carry out ``plan``. The caller holds :func:`workspace_lock` (see write_workspace).

    Steps, each on disk before the next begins: stale temps out; the manifest listing old
    and new paths; new directories and, in temp files, every file whose bytes differ; those
    files in place; removals; the final manifest. A crash leaves each file whole, old or
    new, and a manifest that lists every file kopsgen may have written.
    """
    root = plan.root
    manifest = root / MANIFEST
    temps: list[tuple[Path, Path]] = []  # (temp file, its target) not yet renamed

    def put_manifest(data: bytes) -> None:
        temps.append((_write_temp(manifest, data, FILE_MODE), manifest))
        _make_durable(root, files=[temps[-1][0]])
        os.replace(*temps.pop())
        _make_durable(root, dirs=[manifest.parent])

    try:
        root.mkdir(parents=True, exist_ok=True)
        _make_dir(root / STATE_DIR, DIR_MODE, chmod=False)
        for rel in plan.stale_temps:
            (root / rel).unlink(missing_ok=True)
        if plan.interim_manifest is not None:
            # Before anything appears on a new path, even a temp file: the next render
            # looks for leftovers only where the manifest says kopsgen writes.
            put_manifest(plan.interim_manifest.to_bytes())
        for rel in plan.create_dirs:
            _make_dir(root / rel, _dir_mode(rel))
        for rel, mode in plan.dir_modes:
            _chmod_dir(root / rel, mode)
        for e in plan.entries:
            if e.file is not None and e.content_changes:
                target = root / e.path
                temps.append((_write_temp(target, e.file.content, e.file.mode), target))
        _make_durable(root, files=[tmp for tmp, _ in temps],
                      dirs=[(root / rel).parent for rel in plan.create_dirs])
        for tmp, target in temps:
            os.replace(tmp, target)
        changed, temps = {target.parent for _, target in temps}, []
        _make_durable(root, dirs=changed)
        for e in plan.entries:
            if e.file is not None and not e.content_changes and e.mode_changes:
                os.chmod(root / e.path, e.file.mode)
        removed = [root / e.path for e in plan.entries if e.status is Status.REMOVED]
        for path in removed:
            path.unlink(missing_ok=True)
        _make_durable(root, dirs=[path.parent for path in removed])
        for rel in plan.remove_dirs:
            # Not empty (a user file inside) or already gone: leave it, it is forgotten.
            with contextlib.suppress(OSError):
                (root / rel).rmdir()
        final = plan.new_manifest.to_bytes()
        if final != plan.old_manifest or plan.interim_manifest is not None:
            put_manifest(final)
    except OSError as exc:
        where = exc.filename or root
        raise WorkspaceError(f"cannot write {where}: {exc.strerror or exc}") from exc
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return WriteReport(root, tuple((e.path, e.status) for e in plan.entries))


def write_workspace(
    root: Path,
    files: FileMap,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
    scope: tuple[str, ...] | None = None,
    after: Callable[[WriteReport], None] | None = None,
    refresh: Callable[[], FileMap | None] | None = None,
) -> WriteReport:
    """Write a render into ``root``: plan under the lock, then apply (then ``after``, with
    the lock still held).

    ``refresh`` runs first under the lock: a render made from what it read of the workspace
    before the lock (the existing credentials) gives the files to write instead when that
    has changed since -- another render got the lock first -- or None when it has not.

    An empty render into a directory kopsgen never wrote touches nothing. On a first render
    the plan also runs before the lock is taken, so a collision leaves not even ``.kopsgen/``.
    """
    root = Path(root)
    wanted = normalise_files(files)
    check_state_dir(root)
    state_exists = (root / STATE_DIR).is_dir()
    if not wanted and not (root / MANIFEST).exists():
        return WriteReport(root, ())
    if not state_exists:
        try:
            plan_workspace(root, wanted, scope)
        except WorkspaceError:
            if not (root / STATE_DIR).is_dir():
                raise
            # Another render began writing meanwhile (the files it is writing are not yet
            # all in its manifest): the plan under the lock, after it, decides.
    with workspace_lock(root, timeout=lock_timeout, on_wait=on_wait):
        again = refresh() if refresh is not None else None
        if again is not None:
            wanted = normalise_files(again)
        report = apply_plan(plan_workspace(root, wanted, scope))
        if after is not None:
            after(report)
        return report
