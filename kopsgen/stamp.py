"""Re-render stamps: what a successful ``kopsgen render`` remembers of a workspace so the
next one can answer without rendering (see kopsgen/fastpath.py for when it may).

A leaf: the standard library only. The full render writes stamps (``record``, ``forget``,
called by kopsgen.core with the workspace lock held); the console entry point reads them.
A stamp lives in the user's cache directory (``$XDG_CACHE_HOME``), never in the workspace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time

STAMP_FORMAT = 1
#: A stamp stops answering this long before the first certificate ends: renewal starts at
#: 30 days (pki.RENEW_BEFORE) and the CA warning at 90 (pki.CA_WARN_BEFORE).
EXPIRY_MARGIN_SECONDS = 90 * 86400
STAMP_MAX_AGE_SECONDS = 60 * 86400
PRUNE_INTERVAL_SECONDS = 86400
PRUNED_MARKER = ".pruned"

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


def stamp_path(root: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:32]
    return os.path.join(base, "kopsgen", "stamps", f"{digest}.json")


def signature(path: str) -> list[int]:
    st = os.lstat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def dir_signature(path: str) -> list[int]:
    st = os.lstat(path)
    return [st.st_ino, st.st_mode]


def pathstr(path: str) -> str:
    """``str(pathlib.Path(path))`` for POSIX paths, without importing pathlib: empty and
    ``.`` parts and trailing slashes go, ``..`` stays."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/"):
        return "/" + "/".join(parts)
    return "/".join(parts) or "."


def display_name(root: str) -> str:
    """How load_spec names cluster.yaml in messages (``cluster.yaml`` in the current dir)."""
    parent = pathstr(root)
    return "cluster.yaml" if parent == "." else pathstr(f"{parent}/cluster.yaml")


def entry_name(part: str | None, root: str) -> str:
    """One answer per part and spelling of the directory (messages name cluster.yaml by it)."""
    return f"{part or 'all'} {display_name(root)}"


# -- writing a stamp (called by the full render, with the workspace lock held) ------------

def record(root, part: str | None, *, source_digest: str, paths: list[str], summary: str,
           warnings: list[str], notices: list[str], valid_until: float | None) -> None:
    """Remember that ``root`` is what a render of ``part`` writes. Best effort: a cache that
    cannot be written only costs speed."""
    root = str(root)
    try:
        files = {rel: signature(os.path.join(root, rel)) for rel in paths}
        dirs = sorted({os.path.dirname(rel) for rel in paths})
        entry = {
            "key": render_key(part, display_name(root), source_digest),
            "files": files,
            "dirs": {d: dir_signature(os.path.join(root, d) if d else root) for d in dirs},
            "summary": summary,
            "warnings": warnings,
            "notices": notices,
            "valid_until": valid_until,
        }
        path = stamp_path(root)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc["format"] != STAMP_FORMAT or doc["root"] != os.path.realpath(root) \
                    or not isinstance(doc["parts"], dict):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError):  # none, unreadable or foreign
            doc = {"format": STAMP_FORMAT, "root": os.path.realpath(root), "parts": {}}
        # Other parts stay: their file signatures notice whatever this render changed.
        doc["parts"][entry_name(part, root)] = entry
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
        os.unlink(stamp_path(str(root)))
