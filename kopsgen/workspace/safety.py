"""Refusing links and strangers: kopsgen reads and writes only real files and directories of
the cluster directory itself and never follows a symlink out of it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from kopsgen.errors import WorkspaceError
from kopsgen.workspace.layout import STATE_DIR


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


def _read_nofollow(path: Path) -> bytes:
    """The bytes of ``path``; OSError(ELOOP) when it is a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _nofollow_error(exc: OSError, path: Path, link: str, failed: str) -> WorkspaceError:
    """The error for ``exc``, raised opening ``path`` with O_NOFOLLOW: ``link`` says why a
    symlink there is refused (ELOOP), ``failed`` what could not be done otherwise."""
    if exc.errno == errno.ELOOP:
        return WorkspaceError(f"{path} is a symlink; {link}")
    return WorkspaceError(f"{failed} {path}: {exc.strerror}")


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
