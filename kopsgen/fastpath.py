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

STAMP_FORMAT = 1
DISABLE_ENV = "KOPSGEN_NO_FASTPATH"
#: A stamp stops answering this long before the first certificate ends: renewal starts at
#: 30 days (pki.RENEW_BEFORE) and the CA warning at 90 (pki.CA_WARN_BEFORE).
EXPIRY_MARGIN_SECONDS = 90 * 86400
STAMP_MAX_AGE_SECONDS = 60 * 86400
PRUNE_INTERVAL_SECONDS = 86400
PRUNED_MARKER = ".pruned"

_ANSI = {"yellow": "\x1b[33m", "red": "\x1b[31m", "cyan": "\x1b[36m"}


# -- terminal styling (shared with the CLI, so both paths print the same bytes) ------------

def use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def styled(text: str, colour: str, stream) -> str:
    """``text`` in bold ``colour`` when ``stream`` is a terminal and NO_COLOR is unset."""
    if not use_color(stream):
        return text
    return f"{_ANSI[colour]}\x1b[1m{text}\x1b[0m"


# -- the key ------------------------------------------------------------------------------

def _package_dirs() -> list[str]:
    pkg = os.path.dirname(os.path.abspath(__file__))
    dirs = [pkg]
    # The Terraform modules: inside the package in a wheel, beside it in a checkout.
    beside = os.path.join(os.path.dirname(pkg), "modules")
    if not os.path.isdir(os.path.join(pkg, "_modules")) and \
            os.path.isdir(os.path.join(beside, "network")):
        dirs.append(beside)
    return dirs


def code_fingerprint() -> str:
    """Changes whenever kopsgen's code, templates or modules, the interpreter or the set of
    installed packages change."""
    h = hashlib.sha256(f"{sys.version}\0{sys.executable}\0".encode())
    for top in _package_dirs():
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    # Installing or removing a package changes its site-packages directory's mtime. (Not
    # all of sys.path: its first entry is the script's or the current directory.)
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            try:
                h.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{entry}\0-\n".encode())
    return h.hexdigest()


def render_key(part: str | None, display_name: str, source_digest: str) -> str:
    text = json.dumps([STAMP_FORMAT, code_fingerprint(), part, display_name, source_digest])
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp_path(root: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:32]
    return os.path.join(base, "kopsgen", "stamps", f"{digest}.json")


def _signature(path: str) -> list[int]:
    st = os.lstat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def _dir_signature(path: str) -> list[int]:
    st = os.lstat(path)
    return [st.st_ino, st.st_mode]


def _pathstr(path: str) -> str:
    """``str(pathlib.Path(path))`` for POSIX paths, without importing pathlib: empty and
    ``.`` parts and trailing slashes go, ``..`` stays."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/"):
        return "/" + "/".join(parts)
    return "/".join(parts) or "."


def _display_name(root: str) -> str:
    """How load_spec names cluster.yaml in messages (``cluster.yaml`` in the current dir)."""
    parent = _pathstr(root)
    return "cluster.yaml" if parent == "." else _pathstr(f"{parent}/cluster.yaml")


def _entry_name(part: str | None, root: str) -> str:
    """One answer per part and spelling of the directory (messages name cluster.yaml by it)."""
    return f"{part or 'all'} {_display_name(root)}"


# -- writing a stamp (called by the full render, with the workspace lock held) ------------

def record(root, part: str | None, *, source_digest: str, paths: list[str], summary: str,
           warnings: list[str], notices: list[str], valid_until: float | None) -> None:
    """Remember that ``root`` is what a render of ``part`` writes. Best effort: a cache that
    cannot be written only costs speed."""
    root = str(root)
    try:
        files = {rel: _signature(os.path.join(root, rel)) for rel in paths}
        dirs = sorted({os.path.dirname(rel) for rel in paths})
        entry = {
            "key": render_key(part, _display_name(root), source_digest),
            "files": files,
            "dirs": {d: _dir_signature(os.path.join(root, d) if d else root) for d in dirs},
            "summary": summary,
            "warnings": warnings,
            "notices": notices,
            "valid_until": valid_until,
        }
        path = _stamp_path(root)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc["format"] != STAMP_FORMAT or doc["root"] != os.path.realpath(root) \
                    or not isinstance(doc["parts"], dict):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError):  # none, unreadable or foreign
            doc = {"format": STAMP_FORMAT, "root": os.path.realpath(root), "parts": {}}
        # Other parts stay: their file signatures notice whatever this render changed.
        doc["parts"][_entry_name(part, root)] = entry
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
        _prune(os.path.dirname(path))
    except OSError:
        forget(root)


def _prune(directory: str, max_age: float = STAMP_MAX_AGE_SECONDS) -> None:
    """At most once a day: stamps of directories that are gone, or not rendered for
    ``max_age``, go (one small file each; a scan of hundreds costs a few ms)."""
    marker = os.path.join(directory, PRUNED_MARKER)
    now = time.time()
    with contextlib.suppress(OSError):
        if now - os.stat(marker).st_mtime < PRUNE_INTERVAL_SECONDS:
            return
    with contextlib.suppress(OSError), open(marker, "w"):
        pass
    cutoff = now - max_age
    for name in os.listdir(directory):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if os.stat(path).st_mtime < cutoff or _root_gone(path):
                os.unlink(path)


def _root_gone(stamp: str) -> bool:
    """Whether ``stamp`` is a kopsgen stamp for a directory that no longer exists. Reads
    only the head: ``record`` writes "format" and "root" first."""
    import re

    with open(stamp, "rb") as fh:
        head = fh.read(8192)
    found = re.match(rb'\{"format": \d+, "root": ("(?:[^"\\]|\\.)*")', head)
    if not found:
        return False  # not one of ours, or mangled: only its age removes it
    try:
        root = json.loads(found.group(1))
    except ValueError:
        return False
    return isinstance(root, str) and not os.path.isdir(root)


def forget(root) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_stamp_path(str(root)))


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
        with open(_stamp_path(root), encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("format") != STAMP_FORMAT or doc.get("root") != os.path.realpath(root):
            return None
        entry = doc["parts"].get(_entry_name(part, root))
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
        if entry["key"] != render_key(part, _display_name(root), source_digest):
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
            if _signature(os.path.join(root, rel)) != sig:
                return None
        for rel, sig in entry["dirs"].items():
            if _dir_signature(os.path.join(root, rel) if rel else root) != sig:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    shown = _pathstr(root)
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
    code = try_render(args)
    if code is None:
        parsed = parse_render_args(args)
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
