"""``kopsgen upgrade --to vX.Y.Z``: the two reviewable edits of an ordered Kubernetes upgrade.

Kubernetes' version skew policy (kubernetes.io/releases/version-skew-policy): the control
plane first, one minor at a time; a kubelet never newer than kube-apiserver. So an upgrade
is two changes of cluster.yaml, which a GitOps team merges as two pull requests:

1. the controllers: the top-level ``kubernetesVersion`` goes to X.Y.Z and every pool that
   follows it gets a ``kubernetesVersion:`` line of the version it runs (marked with
   :data:`MARKER`), so its nodes keep booting from the same bytes and are not replaced;
2. the pools (once the controllers run X.Y.Z): the marked lines go, and a pool's own
   older ``kubernetesVersion`` (one the user wrote) is set to X.Y.Z, so every pool runs X.Y.Z.

Edits are line-exact: every other byte of the file stays as it was. Each edit is checked
twice before anything is written: the edited YAML must hold exactly the intended values
(else the file is written in a way this editor does not know, and it says so), and the
edited file must load and validate.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from kopsgen import core
from kopsgen.errors import UsageError, WorkspaceError
from kopsgen.safeio import ChangedMeanwhile, read_limited, replace_file
from kopsgen.spec import MAX_BYTES, Loaded, load_spec, load_spec_text, rules
from kopsgen.spec.model import SUPPORTED_MINORS
from kopsgen.spec.yamlload import format_path, load_yaml

#: The comment on a pool's kubernetesVersion line that step 1 adds: step 2 removes the
#: lines that carry it (and sets the other, user-written, older ones to the new version).
MARKER = "# kopsgen upgrade: step 2 removes this line"

_VERSION_VALUE = re.compile(r"kubernetesVersion:(?P<space>[ \t]+)(?P<q>[\"']?)"
                            r"(?P<version>[^\s\"'#]+)(?P=q)(?P<rest>[ \t]*(?:#.*)?)")


@dataclass
class Upgrade:
    """One step of an upgrade, computed in memory: what it edits and what it replaces."""

    path: Path
    to: str
    step: int  # 1 (controllers), 2 (pools), 0 (nothing left to do)
    old: bytes = b""
    new: bytes = b""
    diff: str = ""
    #: What applying the edit replaces, and what to run next, one line each.
    replaces: str = ""
    next: list[str] = field(default_factory=list)


def normalise(to: str) -> str:
    """``--to`` as vX.Y.Z of a supported minor, or a UsageError naming the option."""
    m = rules.K8S_VERSION_RE.fullmatch(to)
    supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_MINORS)
    if not m:
        raise UsageError(f"--to: {to!r} is not a Kubernetes version (vX.Y.Z, e.g. v1.35.0)")
    version = f"v{m['major']}.{m['minor']}.{m['patch']}"
    if rules.minor_of(version) not in SUPPORTED_MINORS:
        raise UsageError(f"--to: {version} is not a Kubernetes minor kopsgen supports "
                         f"({supported})")
    return version


def _where(loaded: Loaded, path: tuple) -> str:
    line = loaded.positions.at.get(path, (0, 0))[0] if loaded.positions else 0
    return f"{loaded.filename}:{line}" if line else f"{loaded.filename} (default)"


def plan_upgrade(cluster_dir: Path, to: str) -> Upgrade:
    """The next step of the upgrade to ``to`` for cluster_dir's cluster.yaml; nothing is
    written. Refuses (UsageError) an unsupported version, a downgrade and a jump of more
    than one minor (from cluster.yaml's control plane, or from the workspace's last
    render); an invalid cluster.yaml is a SpecError as for every command."""
    to = normalise(to)
    path = cluster_dir / "cluster.yaml"
    loaded = load_spec(path)
    try:
        raw = read_limited(path, MAX_BYTES)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if hashlib.sha256(raw).hexdigest() != loaded.source_digest:
        raise WorkspaceError(f"{path} changed while kopsgen read it; run the command again")
    spec = loaded.spec
    current = spec.kubernetes_version
    at = _where(loaded, ("kubernetesVersion",))
    upgrade = Upgrade(path, to, 0, raw, raw)
    if rules.version_of(to) < rules.version_of(current):
        raise UsageError(f"--to {to}: older than the control plane's {current} ({at}); "
                         "kopsgen upgrade does not downgrade (a minor cannot be downgraded "
                         "at all; a patch release down is an edit of kubernetesVersion)")
    text = raw.decode("utf-8")
    lines = text.splitlines(keepends=True)
    data, _, _ = load_yaml(text, loaded.filename)
    expected = copy.deepcopy(data)
    pools = (expected.get("worker") or {}).get("nodePools") or []
    if to != current:
        upgrade.step = 1
        why = rules.control_plane_step(current, to, said=f"the control plane's {current} ({at})")
        if why:
            major, minor = rules.minor_of(current)
            raise UsageError(f"--to {why}; kopsgen upgrade --to v{major}.{minor + 1}.0 "
                             "writes that step")
        rendered = core.last_rendered_version(cluster_dir)
        why = rendered and rules.control_plane_step(rendered, to, said=(
            f"{rendered}, the workspace's last render ({core.CONTROLLER_CLOUD_CONFIG})"))
        if why:
            raise UsageError(f"--to {why}; render and apply cluster.yaml's {current} ({at}) "
                             "first")
        edits = {}  # 0-based line -> new line ("" removes it); inserts after a line below
        inserts: dict[int, str] = {}
        _set_version(edits, lines, loaded, ("kubernetesVersion",), to, inserts_at_end=inserts)
        expected["kubernetesVersion"] = to
        for i, pool in enumerate(spec.node_pools):
            if pool.own_kubernetes_version:
                continue
            name_at = loaded.positions.at.get(("worker", "nodePools", i, "name"))
            if name_at is None:
                raise _cannot(loaded, ("worker", "nodePools", i), "the pool has no name line")
            line, column = name_at
            eol = "\r\n" if lines[line - 1].endswith("\r\n") else "\n"
            inserts[line - 1] = (inserts.get(line - 1, "") + " " * (column - 1)
                                 + f"kubernetesVersion: {current}  {MARKER}{eol}")
            pools[i]["kubernetesVersion"] = current
    else:
        rendered = core.last_rendered_version(cluster_dir)
        if rendered is not None and rendered != to:
            raise UsageError(f"--to {to}: cluster.yaml's control plane is at {to} ({at}) but "
                             f"the workspace's last render has {rendered} "
                             f"({core.CONTROLLER_CLOUD_CONFIG}): render and apply step 1 "
                             "first (`kopsgen update`), then upgrade the pools")
        edits, inserts = {}, {}
        for i, pool in enumerate(spec.node_pools):
            if not pool.own_kubernetes_version or pool.kubernetes_version == to:
                continue
            key = ("worker", "nodePools", i, "kubernetesVersion")
            line, column = loaded.positions.at[key]
            if MARKER in lines[line - 1] and not lines[line - 1][:column - 1].strip():
                edits[line - 1] = ""
                del pools[i]["kubernetesVersion"]
            else:
                _set_version(edits, lines, loaded, key, to)
                pools[i]["kubernetesVersion"] = to
        if not edits:
            upgrade.replaces = (f"the control plane and every node pool run {to} already; "
                                "nothing to do")
            return upgrade
        upgrade.step = 2
    out = []
    if -1 in inserts:
        out.append(inserts[-1])
    for n, line in enumerate(lines):
        out.append(edits.get(n, line))
        if n in inserts:
            if not out[-1].endswith("\n"):
                out[-1] += "\r\n" if inserts[n].endswith("\r\n") else "\n"
            out.append(inserts[n])
    new_text = "".join(out)
    after, _, problems = load_yaml(new_text, loaded.filename)
    if problems or after != expected:
        where = ("worker", "nodePools") if pools != ((data.get("worker") or {}).get(
            "nodePools") or []) else ("kubernetesVersion",)
        raise _cannot(loaded, where, "the edit would change more than the versions")
    new_loaded = load_spec_text(new_text, loaded.filename)  # SpecError: nothing written
    upgrade.new = new_text.encode("utf-8")
    name = loaded.filename
    before, after_name = (name, name) if Path(name).is_absolute() else (f"a/{name}", f"b/{name}")
    upgrade.diff = "".join(difflib.unified_diff(
        lines, new_text.splitlines(keepends=True), fromfile=before, tofile=after_name))
    upgrade.replaces, upgrade.next = _describe(upgrade, spec, new_loaded.spec)
    return upgrade


def _set_version(edits: dict, lines: list[str], loaded: Loaded, key: tuple, version: str, *,
                 inserts_at_end: dict | None = None) -> None:
    """Set the value of the ``kubernetesVersion`` at ``key`` on its own line, keeping its
    quotes and comment; a top-level one that is absent is added at the end of the file."""
    at = loaded.positions.at.get(key) if loaded.positions else None
    if at is None:
        if inserts_at_end is None:
            raise _cannot(loaded, key, "it is not written in the file")
        last = len(lines) - 1
        eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
        inserts_at_end[last] = (inserts_at_end.get(last, "")
                                + f"kubernetesVersion: {version}{eol}")
        return
    line, column = at
    text = lines[line - 1]
    body = text.rstrip("\r\n")
    m = _VERSION_VALUE.fullmatch(body, column - 1)
    if m is None:
        raise _cannot(loaded, key, "its value is not a plain version on the key's line")
    edits[line - 1] = (body[:m.start("version")] + version + body[m.end("version"):]
                       + text[len(body):])


def _cannot(loaded: Loaded, key: tuple, why: str) -> UsageError:
    field_name = format_path(key) or "cluster.yaml"
    return UsageError(f"{_where(loaded, key)}: {field_name}: cannot edit it line by line "
                      f"({why}); make the change by hand (docs/upgrading.md)")


def _describe(upgrade: Upgrade, old, new) -> tuple[str, list[str]]:
    """What applying the edit replaces, from the difference of the two specs."""
    controllers = old.kubernetes_version != new.kubernetes_version
    changed = [p.name for p in new.node_pools
               if p.kubernetes_version != old.pool(p.name).kubernetes_version]
    parts = []
    if controllers:
        parts.append(f"the controllers will be replaced one at a time (Kubernetes "
                     f"{old.kubernetes_version} -> {new.kubernetes_version})")
    if changed:
        versions = sorted({old.pool(n).kubernetes_version for n in changed})
        parts.append(f"the nodes of pool{'s' if len(changed) > 1 else ''} {', '.join(changed)} "
                     f"will be replaced (kubelet {', '.join(versions)} -> {upgrade.to})")
    else:
        parts.append("no node pool changes")
    if not controllers:
        parts.append("the controllers do not change")
    replaces = f"step {upgrade.step} of 2: " + "; ".join(parts)
    if upgrade.step == 1:
        nxt = ["next: merge this change, then `kopsgen plan` and `kopsgen update`; once the "
               f"controllers run {upgrade.to}, run `kopsgen upgrade --to {upgrade.to}` again "
               "for step 2 (the pools)"]
    else:
        nxt = ["next: merge this change, then `kopsgen plan` and `kopsgen update` (or "
               "`kopsgen update --pool NAME`, one pool at a time)"]
    return replaces, nxt


def write_upgrade(upgrade: Upgrade) -> None:
    """Write the edited cluster.yaml (atomically, only if it still holds what was read)."""
    if upgrade.step == 0 or upgrade.new == upgrade.old:
        return
    try:
        replace_file(upgrade.path, upgrade.new, expected=upgrade.old)
    except ChangedMeanwhile:
        raise WorkspaceError(f"{upgrade.path} changed while kopsgen edited it; nothing was "
                             "written: run the command again") from None
    except OSError as exc:
        raise WorkspaceError(f"{upgrade.path}: cannot write: {exc.strerror or exc}") from None
