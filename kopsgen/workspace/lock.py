"""One render at a time into a cluster directory: ``flock`` on ``.kopsgen/lock``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kopsgen.errors import WorkspaceError
from kopsgen.workspace.layout import DIR_MODE, FILE_MODE, LOCK, STATE_DIR
from kopsgen.workspace.safety import _make_dir, _nofollow_error, check_state_dir

DEFAULT_LOCK_TIMEOUT = 30.0


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
        raise _nofollow_error(exc, lock_path, "kopsgen will not lock through it: move it "
                              "away and render again", "cannot create lock") from exc
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
