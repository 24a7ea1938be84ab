"""The workspace writer: the only code that writes a rendered workspace to disk.

Renderers return ``{relative POSIX path: GeneratedFile | bytes}``. This module plans what
would change (created / updated / unchanged / removed / kept), writes it atomically and only
where bytes changed, remembers what kopsgen owns in ``.kopsgen/manifest.json`` and lets one
render at a time into a directory (``flock`` on ``.kopsgen/lock``).

Crash safety: each file is replaced with ``os.replace`` from a temp file in the same
directory whose bytes are already on disk, so a kill or power loss leaves it old or new,
never torn. Before the first new path appears the manifest is rewritten to list old and new
paths together, and only after the last removal does it shrink to the new set: at every
instant it lists every file kopsgen may have written, so a re-render after a crash never
mistakes kopsgen's own files for the user's.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from kopsgen.errors import WorkspaceError

STATE_DIR = ".kopsgen"
MANIFEST = f"{STATE_DIR}/manifest.json"
LOCK = f"{STATE_DIR}/lock"
CREDENTIALS_DIR = "credentials"
MANIFEST_FORMAT = 1
DEFAULT_LOCK_TIMEOUT = 30.0

FILE_MODE = 0o644
SECRET_MODE = 0o600
DIR_MODE = 0o755
PRIVATE_DIR_MODE = 0o700

_TMP_MARK = ".kopsgen-tmp-"
# Temp files are ".<name>.kopsgen-tmp-<16 hex>", so stale ones can be recognised and removed.
_TMP_RE = re.compile(r"^\..+\.kopsgen-tmp-[0-9a-f]{16}$")


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


class Status(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    KEPT = "kept"  # no longer generated, but under credentials/: never removed automatically


_CHANGES = (Status.CREATED, Status.UPDATED, Status.REMOVED)


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


@dataclass(frozen=True)
class PlannedFile:
    """One path of a plan: what is on disk now and what the render wants there."""

    path: str
    status: Status
    file: GeneratedFile | None  # what will be written; None for removed and kept paths
    old: bytes | None  # bytes on disk now (None when missing, or not read for kept paths)
    old_mode: int | None
    secret: bool  # the new file's flag, or the manifest's for removed and kept paths
    tracked: bool  # listed in the previous manifest

    @property
    def content_changes(self) -> bool:
        return self.file is not None and self.old != self.file.content

    @property
    def mode_changes(self) -> bool:
        return self.file is not None and self.old is not None and self.old_mode != self.file.mode


@dataclass(frozen=True)
class WorkspacePlan:
    """Everything :func:`apply_plan` will do, computed without writing anything."""

    root: Path
    entries: tuple[PlannedFile, ...]  # sorted by path
    create_dirs: tuple[str, ...]  # parents before children
    dir_modes: tuple[tuple[str, int], ...]  # existing directories whose mode must change
    remove_dirs: tuple[str, ...]  # directories kopsgen created and no longer needs, deepest first
    stale_temps: tuple[str, ...]  # temp files left by a killed render
    old_manifest: bytes | None  # the manifest file as read (None when absent)
    interim_manifest: Manifest | None  # old and new paths together; None when not needed
    new_manifest: Manifest

    def paths(self, status: Status) -> list[str]:
        return [e.path for e in self.entries if e.status is status]

    @property
    def changed(self) -> bool:
        return bool(self.dir_modes) or any(e.status in _CHANGES for e in self.entries)

    def summary(self) -> str:
        return _summary([e.status for e in self.entries])


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


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``kopsgen render --check``: is the workspace what a render would write?"""

    up_to_date: bool
    diff: str  # unified diff of text files; one line per secret, binary or mode change
    plan: WorkspacePlan

    def summary(self) -> str:
        return self.plan.summary()


def _summary(statuses: list[Status]) -> str:
    counts = {s: statuses.count(s) for s in Status}
    text = ", ".join(
        f"{counts[s]} {s}"
        for s in (Status.CREATED, Status.UPDATED, Status.UNCHANGED, Status.REMOVED)
    )
    if counts[Status.KEPT]:
        text += f", {counts[Status.KEPT]} kept"
    return text


# ---------------------------------------------------------------------------------------
# Paths and the manifest


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
        if exc.errno == errno.ELOOP:
            raise WorkspaceError(f"{path} is a symlink; kopsgen reads and writes its own "
                                 "manifest only: move the link away and render again") from exc
        raise WorkspaceError(f"cannot read {path}: {exc.strerror}") from exc
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


def _read_nofollow(path: Path) -> bytes:
    """The bytes of ``path``; OSError(ELOOP) when it is a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _symlinked(path: Path, what: str) -> WorkspaceError:
    return WorkspaceError(
        f"{path} is a symlink; kopsgen writes {what} only into a directory of the cluster "
        "directory itself and never follows a link out of it: replace the link with a "
        "directory (or move it away) and render again"
    )


def check_state_dir(root: Path) -> None:
    """Refuse a ``.kopsgen`` that is a symlink or not a directory (a missing one is fine)."""
    path = Path(root) / STATE_DIR
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise WorkspaceError(f"cannot read {path}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise _symlinked(path, "its manifest and lock")
    if not stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(f"{path} is a file, but kopsgen keeps its manifest and lock in a "
                             "directory there")


def _entry(f: GeneratedFile) -> ManifestEntry:
    return ManifestEntry(hashlib.sha256(f.content).hexdigest(), f.mode, f.secret)


# ---------------------------------------------------------------------------------------
# Planning


def _read_regular(root: Path, path: str) -> tuple[bytes | None, int | None]:
    """Current bytes and mode of a file kopsgen wants to write (None, None when missing)."""
    full = root / path
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise WorkspaceError(f"cannot read {full}: {exc.strerror}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(f"{full} is a directory, but kopsgen generates a file there")
    if not stat.S_ISREG(st.st_mode):
        raise WorkspaceError(
            f"{full} is not a regular file (a symlink?); kopsgen will not replace it. "
            "Move it away and render again"
        )
    try:
        return full.read_bytes(), stat.S_IMODE(st.st_mode)
    except OSError as exc:
        raise WorkspaceError(f"cannot read {full}: {exc.strerror}") from exc


def _dir_state(root: Path, rel: str, cache: dict[str, int | None]) -> int | None:
    """Mode of directory ``rel`` (None when missing); a non-directory there is an error."""
    if rel not in cache:
        try:
            # Not followed: a symlinked credentials/ would put the private keys (and its
            # chmod) outside the workspace, a symlinked terraform/ the stack.
            st = os.lstat(root / rel)
        except FileNotFoundError:
            cache[rel] = None
        except NotADirectoryError:
            cache[rel] = None  # a parent is a file; reported for that parent
        except OSError as exc:
            raise WorkspaceError(f"cannot read {root / rel}: {exc.strerror}") from exc
        else:
            if stat.S_ISLNK(st.st_mode):
                raise _symlinked(root / rel, "generated files")
            if not stat.S_ISDIR(st.st_mode):
                raise WorkspaceError(f"{root / rel} is a file, but kopsgen needs a directory there")
            cache[rel] = stat.S_IMODE(st.st_mode)
    return cache[rel]


def _stale_temps(root: Path, dirs: set[str]) -> list[str]:
    found = []
    for rel in sorted(dirs):
        try:
            with os.scandir(root / rel if rel else root) as it:
                for entry in it:
                    if _TMP_RE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                        found.append(f"{rel}/{entry.name}" if rel else entry.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise WorkspaceError(f"cannot list {root / rel}: {exc.strerror}") from exc
    return sorted(found)


def _in_scope(path: str, scope: tuple[str, ...] | None) -> bool:
    return scope is None or any(path == s or path.startswith(s.rstrip("/") + "/") for s in scope)


def plan_workspace(root: Path, files: FileMap, scope: tuple[str, ...] | None = None
                   ) -> WorkspacePlan:
    """Compare a render with the workspace at ``root``; reads only, writes nothing.

    ``scope`` (paths or directory prefixes) limits what a partial render owns: generated
    files outside it that it did not render are left alone and stay in the manifest.

    Raises WorkspaceError, before anything is written, when a generated path is taken by a
    file kopsgen did not write (unless it already has exactly the generated bytes), by a
    directory, or by a symlink.
    """
    root = Path(root)
    wanted = normalise_files(files)
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} is not a directory")
    check_state_dir(root)
    old, old_raw = _read_manifest(root)

    dir_cache: dict[str, int | None] = {}
    entries: list[PlannedFile] = []
    collisions: list[str] = []
    for path, f in wanted.items():
        for d in _parents(path):
            _dir_state(root, d, dir_cache)
        data, mode = _read_regular(root, path)
        tracked = path in old.files
        if data is None:
            status = Status.CREATED
        elif not tracked and data != f.content:
            collisions.append(path)
            continue
        elif data != f.content or mode != f.mode:
            status = Status.UPDATED
        else:
            status = Status.UNCHANGED
        entries.append(PlannedFile(path, status, f, data, mode, f.secret, tracked))
    if collisions:
        shown = ", ".join(str(root / p) for p in collisions[:5])
        more = f" and {len(collisions) - 5} more" if len(collisions) > 5 else ""
        raise WorkspaceError(
            f"refusing to overwrite {shown}{more}: not written by kopsgen "
            "(move them away, or delete them, and render again)"
        )

    kept: dict[str, ManifestEntry] = {}
    carried: dict[str, ManifestEntry] = {}
    for path, e in old.files.items():
        if path in wanted:
            continue
        if not _in_scope(path, scope):
            carried[path] = e
            continue
        for d in _parents(path):
            _dir_state(root, d, dir_cache)  # a removal never reaches through a link
        try:
            st = os.lstat(root / path)
        except (FileNotFoundError, NotADirectoryError):
            continue  # already gone: simply forgotten
        except OSError as exc:
            raise WorkspaceError(f"cannot read {root / path}: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            continue  # replaced by the user with something else: theirs now
        if _is_credentials(path):
            kept[path] = e
            entries.append(PlannedFile(path, Status.KEPT, None, None, None, e.secret, True))
        else:
            data, mode = _read_regular(root, path)
            entries.append(PlannedFile(path, Status.REMOVED, None, data, mode, e.secret, True))
    entries.sort(key=lambda e: e.path)

    needed = {d for p in [*wanted, *kept, *carried] for d in _parents(p)}
    create = sorted(d for d in needed if _dir_state(root, d, dir_cache) is None)
    create.sort(key=lambda d: d.count("/"))
    # Only directories kopsgen created get their mode set; one the user made stays theirs.
    dir_modes = sorted(
        (d, _dir_mode(d))
        for d in needed
        if dir_cache.get(d) is not None and _is_credentials(d) and d in old.dirs
        and dir_cache[d] != _dir_mode(d)
    )
    owned = (old.dirs & needed) | set(create)
    remove_dirs = sorted(old.dirs - needed, key=lambda d: (-d.count("/"), d))

    new_files = {p: _entry(f) for p, f in wanted.items()} | kept | carried
    new_manifest = Manifest(dict(sorted(new_files.items())), frozenset(owned))
    interim = None
    if set(wanted) - set(old.files) or set(create) - old.dirs:
        union = dict(old.files) | new_files
        interim = Manifest(dict(sorted(union.items())), frozenset(old.dirs | set(create)))

    scan = {"", STATE_DIR} | old.dirs | {d for p in [*wanted, *old.files] for d in _parents(p)}
    return WorkspacePlan(
        root=root,
        entries=tuple(entries),
        create_dirs=tuple(create),
        dir_modes=tuple(dir_modes),
        remove_dirs=tuple(remove_dirs),
        stale_temps=tuple(_stale_temps(root, scan)),
        old_manifest=old_raw,
        interim_manifest=interim,
        new_manifest=new_manifest,
    )


# ---------------------------------------------------------------------------------------
# Writing


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


#: Files fsynced at once when they are fsynced one by one: fsync waits on the disk, not the
#: CPU, so a fresh render's ~100 fsyncs overlap.
WRITE_THREADS = 8
#: Above this much dirty or in-flight page cache on the machine, syncfs() would wait for
#: other programs' writes too; files are then fsynced one by one instead.
SYNCFS_MAX_DIRTY = 64 << 20


@functools.cache
def _syncfs_call() -> Callable[[int], int] | None:
    """libc's ``syncfs`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    return fn


def _dirty_bytes() -> int | None:
    """Dirty plus under-writeback page cache, from /proc/meminfo; None when unknown."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith((b"Dirty:", b"Writeback:")):
            total += int(line.split()[1]) * 1024
    return total


def _syncfs(root: Path) -> bool:
    """Flush the file system holding ``root`` (data and metadata) with one ``syncfs``, if
    that is cheap here; False when the caller must fsync file by file."""
    dirty = _dirty_bytes()
    if dirty is None or dirty > SYNCFS_MAX_DIRTY:
        return False
    call = _syncfs_call()
    if call is None:
        return False
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return call(fd) == 0
    finally:
        os.close(fd)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_durable(root: Path, *, files: Iterable[Path] = (), dirs: Iterable[Path] = ()) -> None:
    """Put the bytes of ``files`` and the entries of ``dirs`` (creations, renames, removals)
    on disk before the next step.

    One ``syncfs`` of the workspace's file system when the machine has little unwritten
    data: one journal commit instead of one per file (a fresh render's 105 files took
    ~26 ms of fsyncs here, one syncfs ~9 ms). Otherwise an fsync per file and directory."""
    files, dirs = list(files), sorted(set(dirs))
    if not files and not dirs:
        return
    if _syncfs(root):
        return
    _parallel(_fsync_path, files)
    _parallel(_fsync_dir, dirs)


def _parallel(fn: Callable[[Any], None], items: list) -> None:
    """``fn`` on every item, on WRITE_THREADS threads when there are enough of them;
    re-raises the first failure."""
    if len(items) < 4:
        for item in items:
            fn(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        for _ in pool.map(fn, items):
            pass


def _chmod_dir(path: Path, mode: int) -> None:
    """chmod the directory ``path`` itself: a symlink put there since the plan fails."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise _symlinked(path, "generated files") from exc
        raise
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _make_dir(path: Path, mode: int, *, chmod: bool = True) -> None:
    """Create directory ``path`` (its parent exists and was checked) and set its mode; one
    that appeared meanwhile must be a real directory, never a link."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if os.path.islink(path):
            raise _symlinked(path, "generated files") from None
        if not chmod:
            return
    if chmod:
        _chmod_dir(path, mode)


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


def notify_stderr(message: str) -> None:
    """A ready-made ``on_wait`` callback: print the waiting notice on stderr."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def workspace_lock(
    root: Path,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
    poll: float = 0.05,
) -> Iterator[None]:
    """Hold ``<root>/.kopsgen/lock`` so two renders of one directory cannot interleave.

    Waits up to ``timeout`` seconds, calling ``on_wait`` once with a notice if it has to.
    The kernel drops an flock when its holder dies, so a killed render never blocks the next.
    """
    root = Path(root)
    lock_path = root / LOCK
    check_state_dir(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _make_dir(root / STATE_DIR, DIR_MODE, chmod=False)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WorkspaceError(f"{lock_path} is a symlink; kopsgen will not lock through "
                                 "it: move it away and render again") from exc
        raise WorkspaceError(f"cannot create lock {lock_path}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise WorkspaceError(
                        f"another kopsgen is rendering {root} (lock {lock_path}) and did "
                        f"not finish within {timeout:g} s; try again when it finishes"
                    ) from None
                if not waiting and on_wait is not None:
                    on_wait(
                        f"waiting for another kopsgen rendering {root} to finish "
                        f"(lock {lock_path}, at most {timeout:g} s)…"
                    )
                waiting = True
                time.sleep(min(poll, deadline - now))
        yield
    finally:
        os.close(fd)  # releases the lock


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


# ---------------------------------------------------------------------------------------
# Checking


def _as_text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unified(old: str, new: str, a: str, b: str) -> list[str]:
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), a, b
    ):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return out


def _describe(e: PlannedFile, redact: tuple[str, ...] = ()) -> list[str]:
    if e.status not in _CHANGES:
        return []
    out: list[str] = []
    if e.mode_changes and e.old_mode is not None and e.file is not None:
        out.append(f"{e.path}: mode would change from {e.old_mode:04o} to {e.file.mode:04o}\n")
    if e.status is Status.UPDATED and not e.content_changes:
        return out
    if e.secret or (redact and _in_scope(e.path, redact)):
        if e.status is Status.CREATED:
            msg = "missing, would be re-created" if e.tracked else "would be created"
        else:
            msg = "differs" if e.status is Status.UPDATED else "would be removed"
        return [f"{e.path}: {msg}\n", *out]
    old = b"" if e.old is None else e.old
    new = b"" if e.file is None else e.file.content
    old_text, new_text = _as_text(old), _as_text(new)
    verb = {Status.CREATED: "would be created", Status.REMOVED: "would be removed"}
    if old_text is None or new_text is None:
        return [f"{e.path}: binary file {verb.get(e.status, 'differs')}\n", *out]
    if not old_text and not new_text:
        return [f"{e.path}: empty file {verb[e.status]}\n", *out]
    a = "/dev/null" if e.status is Status.CREATED else f"a/{e.path}"
    b = "/dev/null" if e.status is Status.REMOVED else f"b/{e.path}"
    return [*_unified(old_text, new_text, a, b), *out]


def check_workspace(root: Path, files: FileMap, scope: tuple[str, ...] | None = None,
                    redact: tuple[str, ...] = ()) -> CheckResult:
    """What ``render`` would change at ``root``, as a diff; writes nothing, takes no lock.

    Secret files appear by name only ("would be created", "differs", "missing, would be
    re-created", "would be removed"); binary files as "binary file differs".
    """
    plan = plan_workspace(Path(root), files, scope)
    lines: list[str] = []
    for rel, mode in plan.dir_modes:
        lines.append(f"{rel}/: mode would change to {mode:04o}\n")
    for e in plan.entries:
        lines.extend(_describe(e, redact))
    return CheckResult(up_to_date=not plan.changed, diff="".join(lines), plan=plan)


__all__ = [
    "CheckResult",
    "DEFAULT_LOCK_TIMEOUT",
    "GeneratedFile",
    "Manifest",
    "ManifestEntry",
    "PlannedFile",
    "Status",
    "WorkspacePlan",
    "WriteReport",
    "apply_plan",
    "check_state_dir",
    "check_workspace",
    "is_temp_name",
    "normalise_files",
    "notify_stderr",
    "plan_workspace",
    "workspace_lock",
    "write_workspace",
]
