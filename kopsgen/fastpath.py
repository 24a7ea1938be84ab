"""The console entry point, and the up-to-date fast path of ``kopsgen render``.

A render of an unchanged cluster is the most common command of all (editors, pre-commit
hooks, ``make`` targets run it again and again), and most of its time would go to importing
the CLI framework, pydantic, cryptography and Jinja2 before finding that nothing changed.
So every successful render leaves a *stamp* (in the user's cache directory, never in the
workspace): a key over everything the render read, and what ``lstat`` said of every file it
left. The next ``kopsgen render`` (or ``render --check``) of that directory with the same
arguments answers from the stamp, importing only the standard library, when

* the key is the same: cluster.yaml's bytes, the arguments, this kopsgen's files (package and
  Terraform modules: size and mtime), the Python interpreter and its site-packages
  directories (an installed or removed package changes their mtime);
* every generated file and its directory is exactly as the render left it (inode, size,
  mtime, ctime and mode: an edit, ``touch``, ``chmod`` or restore all change one of them);
* no certificate is within 90 days of its end (renewal and the CA warning start there);
* no other kopsgen holds the workspace lock.

Anything else, or any doubt (an unreadable stamp, other options), takes the normal path,
which renders in full and writes a new stamp. The answer is the one the full render would
print, byte for byte (tested). ``KOPSGEN_NO_FASTPATH=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time

from kopsgen.stamp import (
    STAMP_FORMAT,
    dir_signature,
    display_name,
    entry_name,
    pathstr,
    render_key,
    signature,
    stamp_path,
)
from kopsgen.style import styled

DISABLE_ENV = "KOPSGEN_NO_FASTPATH"
COMPLETE_ENV = "_KOPSGEN_COMPLETE"


# -- answering from a stamp ---------------------------------------------------------------

def parse_render_args(args: list[str]) -> tuple[str | None, str | None, bool] | None:
    """``(dir, part, check)`` for the plain forms of ``kopsgen [-C DIR] render [PART]
    [--check] [-C DIR]``; None for anything else (the full CLI handles it)."""
    root_dir = cmd_dir = part = None
    check = seen_command = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-C", "--dir"):
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            value, i = args[i + 1], i + 2
        elif arg.startswith("--dir="):
            value, i = arg[len("--dir="):], i + 1
        else:
            value = None
            i += 1
            if arg == "render" and not seen_command:
                seen_command = True
            elif seen_command and arg in ("credentials", "stack") and part is None:
                part = arg
            elif seen_command and arg == "--check" and not check:
                check = True
            else:
                return None
            continue
        if not value:
            return None
        if seen_command:
            if cmd_dir is not None:
                return None
            cmd_dir = value
        else:
            if root_dir is not None:
                return None
            root_dir = value
    if not seen_command:
        return None
    return (cmd_dir or root_dir, part, check)


def try_render(args: list[str]) -> int | None:
    """Answer ``kopsgen render …`` from the stamp, or None to run the full command."""
    if os.environ.get(DISABLE_ENV):
        return None
    parsed = parse_render_args(args)
    if parsed is None:
        return None
    directory, part, check = parsed
    root = directory or "."
    if root.startswith("//"):
        return None
    try:
        with open(stamp_path(root), encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("format") != STAMP_FORMAT or doc.get("root") != os.path.realpath(root):
            return None
        entry = doc["parts"].get(entry_name(part, root))
        if entry is None:
            return None
        valid_until = entry["valid_until"]
        if valid_until is not None and time.time() >= valid_until:
            return None
        from kopsgen.safeio import read_limited

        # A FIFO or device must not hang or flood the fast path either (the full path
        # then says what is wrong); 1_000_000 is kopsgen.spec.MAX_BYTES.
        source = read_limited(os.path.join(root, "cluster.yaml"), 1_000_000)
        source_digest = hashlib.sha256(source).hexdigest()
        if entry["key"] != render_key(part, display_name(root), source_digest):
            return None
        return _answer_locked(root, entry, check)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _answer_locked(root: str, entry: dict, check: bool) -> int | None:
    import fcntl

    try:
        # Not through a link: the full path refuses one there (docs/workspace.md).
        fd = os.open(os.path.join(root, ".kopsgen", "lock"),
                     os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a render is running: the full path waits for it
        for rel, sig in entry["files"].items():
            if signature(os.path.join(root, rel)) != sig:
                return None
        for rel, sig in entry["dirs"].items():
            if dir_signature(os.path.join(root, rel) if rel else root) != sig:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    shown = pathstr(root)
    for warning in entry["warnings"]:
        sys.stderr.write(styled(warning, "yellow", sys.stderr) + "\n")
    if not check:  # as the full render: notices when writing, not when checking
        for notice in entry["notices"]:
            sys.stderr.write(f"{styled('notice:', 'cyan', sys.stderr)} {notice}\n")
    summary = entry["summary"]
    sys.stdout.write(f"{shown}: up to date ({summary})\n" if check else f"{shown}: {summary}\n")
    sys.stdout.flush()
    return 0


#: pydantic otherwise looks through every installed package's entry points for plugins
#: (~7 ms with the test dependencies) before building kopsgen's models, and lets any plugin
#: found observe kopsgen's own validation. Set it (even empty) to have pydantic's default.
PYDANTIC_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"


def main() -> None:
    """The ``kopsgen`` console script and ``python -m kopsgen``."""
    os.environ.setdefault(PYDANTIC_PLUGINS_ENV, "__all__")
    args = sys.argv[1:]
    # A shell completion request (kopsgen.clihelp.COMPLETE_VAR set) is the full CLI's.
    completing = bool(os.environ.get(COMPLETE_ENV))
    code = None if completing else try_render(args)
    if code is None:
        parsed = None if completing else parse_render_args(args)
        if parsed is not None and _plain_directory(parsed[0]):
            # The plain forms of `kopsgen render` need no CLI framework: the same command
            # body, without importing typer (the full CLI gives the same output and codes).
            from kopsgen.console import render_main

            code = render_main(*parsed)
        else:
            from kopsgen.cli import run

            code = int(run())
    leave(code)


def _plain_directory(directory: str | None) -> bool:
    """-C DIR needs no option checks when it is absent, missing or a directory (the full
    CLI explains a file given as DIR)."""
    return directory is None or not os.path.exists(directory) or os.path.isdir(directory)


def leave(code: int) -> None:
    """Exit without Python's module teardown: once pydantic, cryptography and Jinja2 are
    loaded, freeing every module object one by one takes ~50 ms that nobody waits for
    gladly. atexit handlers still run and both streams are flushed first."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
