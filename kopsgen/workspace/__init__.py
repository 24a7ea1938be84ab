"""The workspace writer: the only code that writes a rendered workspace to disk.

Renderers return ``{relative POSIX path: GeneratedFile | bytes}``. This package plans what
would change (created / updated / unchanged / removed / kept), writes it atomically and only
where bytes changed, remembers what kopsgen owns in ``.kopsgen/manifest.json`` and lets one
render at a time into a directory (``flock`` on ``.kopsgen/lock``).

Crash safety: each file is replaced with ``os.replace`` from a temp file in the same
directory whose bytes are already on disk, so a kill or power loss leaves it old or new,
never torn. Before the first new path appears the manifest is rewritten to list old and new
paths together, and only after the last removal does it shrink to the new set: at every
instant it lists every file kopsgen may have written, so a re-render after a crash never
mistakes kopsgen's own files for the user's.

The package, one concern a module: :mod:`~kopsgen.workspace.layout` (what lives where),
:mod:`~kopsgen.workspace.files` (what renderers return), :mod:`~kopsgen.workspace.safety`
(never through a symlink), :mod:`~kopsgen.workspace.manifest`, :mod:`~kopsgen.workspace.plan`,
:mod:`~kopsgen.workspace.durable` (fsync / syncfs), :mod:`~kopsgen.workspace.lock`,
:mod:`~kopsgen.workspace.write` and :mod:`~kopsgen.workspace.check` (``render --check``).
"""

from __future__ import annotations

from kopsgen.workspace.check import CheckResult, check_workspace
from kopsgen.workspace.durable import SYNCFS_MAX_DIRTY as SYNCFS_MAX_DIRTY
from kopsgen.workspace.durable import WRITE_THREADS as WRITE_THREADS
from kopsgen.workspace.files import FileMap as FileMap
from kopsgen.workspace.files import GeneratedFile, normalise_files
from kopsgen.workspace.layout import CREDENTIALS_DIR as CREDENTIALS_DIR
from kopsgen.workspace.layout import DIR_MODE as DIR_MODE
from kopsgen.workspace.layout import FILE_MODE as FILE_MODE
from kopsgen.workspace.layout import LOCK as LOCK
from kopsgen.workspace.layout import MANIFEST as MANIFEST
from kopsgen.workspace.layout import PRIVATE_DIR_MODE as PRIVATE_DIR_MODE
from kopsgen.workspace.layout import SECRET_MODE as SECRET_MODE
from kopsgen.workspace.layout import STATE_DIR as STATE_DIR
from kopsgen.workspace.layout import is_temp_name
from kopsgen.workspace.lock import DEFAULT_LOCK_TIMEOUT, notify_stderr, workspace_lock
from kopsgen.workspace.manifest import MANIFEST_FORMAT as MANIFEST_FORMAT
from kopsgen.workspace.manifest import Manifest, ManifestEntry
from kopsgen.workspace.plan import PlannedFile, Status, WorkspacePlan, plan_workspace
from kopsgen.workspace.safety import check_state_dir
from kopsgen.workspace.write import WriteReport, apply_plan, write_workspace
from kopsgen.workspace.write import _write_temp as _write_temp  # tests leave killed-render temps

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
