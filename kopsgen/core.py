"""The core operations the CLI calls: load, render, check, describe certificates.

Everything that touches the cluster directory goes through here and
:mod:`kopsgen.workspace`; the CLI only parses options and prints.
"""

from __future__ import annotations

import os
import stat
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kopsgen import aws
from kopsgen import stamp as stamps
from kopsgen.errors import Problem, SpecError, UsageError, WorkspaceError
from kopsgen.render.credential_files import DIGEST_FILE
from kopsgen.safeio import read_limited
from kopsgen.spec import Loaded, load_spec, rules
from kopsgen.workspace import (
    MANIFEST,
    CheckResult,
    Status,
    WriteReport,
    check_workspace,
    is_temp_name,
    write_workspace,
)

CREDENTIALS = "credentials"
#: Parts of a render (kube-aws's `render credentials` / `render stack`), in render order.
#: The stack part holds no secret, so a pipeline without credentials can check it.
PARTS = ("credentials", "stack")
#: What each part owns in the cluster directory (a partial render touches nothing else).
#: A "!" entry is left out: the credentials' digests in terraform/ are the credentials
#: part's, so a `render stack` without credentials (CI, the goldens) keeps and ignores them.
PART_SCOPE = {
    "credentials": ("credentials", "kubeconfig", ".gitignore", DIGEST_FILE),
    "stack": ("userdata", "terraform", f"!{DIGEST_FILE}"),
}


def _renderers() -> types.SimpleNamespace:
    """The renderers, imported on the first render: core's one deliberate lazy boundary.
    They load cryptography and Jinja2, about a third of a start-up, which `validate`,
    `schema` and the other commands that render nothing never need (docs/benchmarks.md;
    boto3 is kopsgen.aws's boundary)."""
    from kopsgen.render import pki, stack, workspace_files

    return types.SimpleNamespace(
        credentials=workspace_files.render_credentials_part,
        userdata=workspace_files.render_userdata, stack=stack.render_stack,
        describe=pki.describe_certificates, first_expiry=pki.first_expiry)


@dataclass
class RenderOutcome:
    loaded: Loaded
    files: dict
    notices: list[str] = field(default_factory=list)
    scope: tuple[str, ...] | None = None
    part: str | None = None
    now: datetime | None = None
    new_pki: bool = False
    #: The credentials/ files the render started from (None: the part was not rendered).
    #: A write re-checks them under the workspace lock (see :func:`write`).
    credentials_in: dict[str, bytes] | None = None

    @property
    def warnings(self) -> list[Problem]:
        return self.loaded.warnings


def read_credentials(cluster_dir: Path) -> dict[str, bytes]:
    """The existing files of credentials/ (regular files only). A symlink there, or a
    credentials/ that is itself a symlink, is refused rather than followed: a link could
    smuggle a foreign key into the PKI, or send a new key somewhere else."""
    base = cluster_dir / CREDENTIALS
    out: dict[str, bytes] = {}
    try:
        st = os.lstat(base)
    except (FileNotFoundError, NotADirectoryError):
        return out
    except OSError as exc:
        raise WorkspaceError(f"cannot read {base}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise WorkspaceError(f"{base} is a symlink; kopsgen keeps the private keys only in a "
                             "directory of the cluster directory itself and never follows a "
                             "link out of it: replace the link with a directory (or move it "
                             "away) and render again")
    if not stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(f"{base} is a file, but kopsgen keeps the credentials in a "
                             "directory there")
    try:
        names = sorted(os.listdir(base))
    except OSError as exc:
        raise WorkspaceError(f"cannot read {base}: {exc.strerror}") from None
    for name in names:
        if is_temp_name(name):
            continue  # another render's file on its way in (or a killed one's leftover)
        path = base / name
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                raise WorkspaceError(f"{path} is a symlink; kopsgen reads credentials only "
                                     "from regular files and never follows a link: replace "
                                     "it with the file itself, or move it away")
            if stat.S_ISREG(st.st_mode):
                out[name] = path.read_bytes()
        except FileNotFoundError:
            continue  # gone since the listing: another render replaced it (re-read under its lock)
        except OSError as exc:
            raise WorkspaceError(f"cannot read {path}: {exc.strerror}") from None
    return out


def render(cluster_dir: Path, part: str | None = None, *, now: datetime | None = None,
           s3=None) -> RenderOutcome:
    """Render ``part`` (or everything) in memory; nothing is written. ``s3`` (an
    S3Location from ``--s3-uri``) overrides cluster.yaml's s3URI."""
    if part is not None and part not in PARTS:
        raise UsageError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    loaded = load_spec(cluster_dir / "cluster.yaml")
    now = now or datetime.now(UTC)
    files: dict = {}
    notices: list[str] = []
    new_pki = False
    credentials_in = None
    parts = PARTS if part is None else (part,)
    if "credentials" in parts:
        credentials_in = read_credentials(cluster_dir)
        rendered = _renderers().credentials(loaded.spec, credentials_in, now)
        files.update(rendered.files)
        notices.extend(rendered.notices)
        new_pki = rendered.new_pki
    if "stack" in parts:
        check_control_plane_step(cluster_dir, loaded)
        files.update(_renderers().userdata(loaded.spec))
        files.update(_renderers().stack(loaded.spec, s3_uri=s3))
    scope = None if part is None else PART_SCOPE[part]
    return RenderOutcome(loaded, files, notices, scope, part, now, new_pki, credentials_in)


#: The controllers' cloud-config of the last render: the version the control plane was
#: last rendered at, which the next render may move one minor up at most.
CONTROLLER_CLOUD_CONFIG = "userdata/cloud-config-controller"


def last_rendered_version(cluster_dir: Path) -> str | None:
    """The control plane's Kubernetes version of the workspace's last render (from its
    controller cloud-config), or None: no render yet, or none kopsgen can read (a link
    or a stranger there, which the write then refuses on its own)."""
    path = cluster_dir / CONTROLLER_CLOUD_CONFIG
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        data = read_limited(path, 4_000_000)
    except OSError:
        return None
    # Only the reader, not every renderer: `validate` and `upgrade` check this too.
    from kopsgen.render.cloudconfig import rendered_kubernetes_version

    return rendered_kubernetes_version(data)


def check_control_plane_step(cluster_dir: Path, loaded: Loaded) -> None:
    """Refuse (SpecError, exit 3) a control plane more than one minor above the workspace's
    last render, or a minor below it (:func:`kopsgen.spec.rules.control_plane_step`)."""
    previous = last_rendered_version(cluster_dir)
    if previous is None:
        return
    why = rules.control_plane_step(previous, loaded.spec.kubernetes_version,
                                   said=f"{previous}, the last render's ({CONTROLLER_CLOUD_CONFIG})")
    if why is None:
        return
    line, column = (0, 0)
    if loaded.positions is not None:
        line, column = loaded.positions.at.get(("kubernetesVersion",), (0, 0))
    raise SpecError([Problem(line, column, "kubernetesVersion", why, loaded.filename)],
                    loaded.warnings)


def write(cluster_dir: Path, outcome: RenderOutcome, *, on_wait=None,
          stamp: bool = False) -> WriteReport:
    """Write ``outcome`` into ``cluster_dir``. With ``stamp``, remember the result so the
    next identical ``kopsgen render`` answers without rendering (:mod:`kopsgen.stamp`).

    The credentials were read before the workspace lock was taken: under the lock they are
    read again, and if another render wrote them meanwhile (two renders of a new directory
    started together) the credentials part is rendered again from those, so the second
    render reuses the first one's CA instead of replacing it. ``outcome`` then holds the
    files and notices of that second render: print its notices after the write."""
    def refresh():
        if outcome.credentials_in is None:
            return None
        current = read_credentials(cluster_dir)
        if current == outcome.credentials_in:
            return None
        rendered = _renderers().credentials(outcome.loaded.spec, current,
                                           outcome.now or datetime.now(UTC))
        outcome.files.update(rendered.files)
        outcome.notices = list(rendered.notices)
        outcome.new_pki = rendered.new_pki
        outcome.credentials_in = current
        return outcome.files

    after = (lambda report: _stamp(cluster_dir, outcome, report)) if stamp else None
    return write_workspace(cluster_dir, outcome.files, on_wait=on_wait, scope=outcome.scope,
                           after=after, refresh=refresh)


def _stamp(cluster_dir: Path, outcome: RenderOutcome, report: WriteReport) -> None:
    if not outcome.loaded.source_digest:
        stamps.forget(cluster_dir)
        return
    notices = _next_notices(cluster_dir, outcome)
    if notices is None:
        stamps.forget(cluster_dir)
        return
    # What the next render would report: everything written is then unchanged.
    after = [(p, Status.UNCHANGED if s in (Status.CREATED, Status.UPDATED) else s)
             for p, s in report.entries if s is not Status.REMOVED]
    summary = WriteReport(report.root, tuple(after)).summary()
    paths = [p for p, _ in after if (cluster_dir / p).exists()] + [MANIFEST]
    stamps.record(cluster_dir, outcome.part, source_digest=outcome.loaded.source_digest,
                    paths=paths, summary=summary, warnings=[str(w) for w in outcome.warnings],
                    notices=notices, valid_until=_first_expiry(outcome.files))


def _next_notices(cluster_dir: Path, outcome: RenderOutcome) -> list[str] | None:
    """The notices the next render of the same inputs will print (most of this render's,
    like "ca.pem created", are said once), found by rendering the credentials again against
    what was just written; None if that render would not leave them as they are."""
    if not outcome.notices or outcome.new_pki:
        return []
    again = _renderers().credentials(outcome.loaded.spec, read_credentials(cluster_dir),
                                    outcome.now or datetime.now(UTC))
    for rel, generated in again.files.items():
        if rel in outcome.files and \
                getattr(outcome.files[rel], "content", None) != generated.content:
            return None
    return list(again.notices)


def _first_expiry(files: dict) -> float | None:
    """When the first certificate of a render ends, minus the fast path's margin."""
    pems = [getattr(f, "content", f) for p, f in files.items()
            if p.startswith(f"{CREDENTIALS}/") and p.endswith(".pem")]
    end = _renderers().first_expiry(pems)
    return None if end is None else end.timestamp() - stamps.EXPIRY_MARGIN_SECONDS


def check(cluster_dir: Path, outcome: RenderOutcome) -> CheckResult:
    # Credentials are compared by presence and validity, never printed.
    return check_workspace(cluster_dir, outcome.files, scope=outcome.scope,
                           redact=(CREDENTIALS, "kubeconfig"))


#: The sandbox (and tests) point every AWS client at an emulator through this variable.
ENDPOINT_ENV = "KOPSGEN_AWS_ENDPOINT_URL"


def preflight(spec, *, profile: str | None = None, expected_account: str | None = None,
              s3_uri: str | None = None) -> list[Problem]:
    """Every pre-flight problem of ``spec`` against the AWS account (boto3 loads only here)."""
    clients = aws.make_session(spec.region, endpoint_url=os.environ.get(ENDPOINT_ENV) or None,
                           profile=profile)
    return aws.preflight(spec, clients, expected_account=expected_account, s3_uri_override=s3_uri)


def certificates(cluster_dir: Path, *, now: datetime | None = None):
    files = read_credentials(cluster_dir)
    if not files:
        raise WorkspaceError(f"no credentials in {cluster_dir / CREDENTIALS}; run "
                             "`kopsgen render` first")
    return _renderers().describe(files, now or datetime.now(UTC))
