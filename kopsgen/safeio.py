"""Reading a file a user names, without following it into a device, a FIFO or a flood.

Standard library only: the fast path (:mod:`kopsgen.fastpath`) reads cluster.yaml with it
too. A ``cluster.yaml`` that is a symlink to ``/dev/zero`` must not fill memory and a FIFO
must not hang a command, so the file is opened without blocking, must be a regular file
(a symlink to one is fine) and is read up to ``limit`` + 1 bytes at most.
"""

from __future__ import annotations

import os
import stat
import tempfile

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """The path is not a regular file; ``kind`` says what it is ("a FIFO (named pipe)")."""

    def __init__(self, path: str, kind: str):
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class TooLarge(OSError):
    """The file holds more than the limit; ``size`` is what is known of its size."""

    def __init__(self, path: str, size: int, limit: int):
        super().__init__(f"{path} is more than {limit} bytes")
        self.size = size
        self.limit = limit


def read_limited(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Raises FileNotFoundError and other OSErrors as ``open`` does, :class:`NotRegularFile`
    for anything but a regular file, and :class:`TooLarge` past ``limit`` bytes.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(os.fspath(path), kind)
        size = os.fstat(fd).st_size
        if size > limit:
            raise TooLarge(os.fspath(path), size, limit)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # grew while being read, or a file whose size says nothing
            raise TooLarge(os.fspath(path), total, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def replace_file(path: str | os.PathLike, data: bytes, *, expected: bytes) -> None:
    """Replace the regular file at ``path`` (through a symlink: the file it names) with
    ``data`` atomically: a temp file beside it, on disk first, with the old file's mode,
    renamed over it. Raises :class:`ChangedMeanwhile` when the file no longer holds
    ``expected`` (someone edited it since it was read); then nothing is written."""
    target = os.path.realpath(path)
    directory, name = os.path.split(target)
    with open(target, "rb") as fh:
        if fh.read() != expected:
            raise ChangedMeanwhile(os.fspath(path))
        mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = ""
        dfd = os.open(directory or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


class ChangedMeanwhile(OSError):
    """The file changed between reading it and replacing it."""

    def __init__(self, path: str):
        super().__init__(f"{path} changed while kopsgen was editing it")
