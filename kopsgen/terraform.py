"""The Terraform runner: the only place that builds terraform's argv and environment and runs it.

Every subcommand runs in the workspace's ``terraform/`` directory with ``-no-color`` and, where
terraform accepts it, ``-input=false``; standard input is /dev/null, so terraform never prompts.

Environment (:func:`terraform_env`). ``TF_IN_AUTOMATION=1``, ``CHECKPOINT_DISABLE=1`` and
``TF_INPUT=0`` always. Providers: where a local provider mirror exists (``KOPSGEN_TF_PLUGIN_MIRROR``,
or a directory named ``tf-plugins`` directly under /opt, /usr/local/share, /usr/share or /srv)
*and* the user has no CLI config of their own (``TF_CLI_CONFIG_FILE``, or ``~/.terraformrc`` when
that variable is unset, is not an existing file), the runner writes a CLI config whose
``provider_installation`` takes the providers found in the mirror from the mirror only and
everything else from its registry, and points ``TF_CLI_CONFIG_FILE`` at it. Elsewhere nothing
is changed and terraform installs providers from the registry as usual: a user's own CLI
config (credentials, their own mirror) always wins, and machines without a mirror behave like
plain terraform.

Output. We parse terraform's human output rather than ``-json`` streaming: ``verbose=True``
must show terraform's own text unchanged, and parsing that same text keeps one argv for both
modes (what a user re-runs by hand is what kopsgen ran). The hook lines we read ("X:
Creating...", "X: Creation complete after 2s", "Apply complete! ...") have been stable since
Terraform 0.12. Lines become :class:`ProgressEvent`\\ s passed to the ``out`` callback; machine-
readable stdout (``show -json``, ``output -json``, ...) is captured and never echoed.

Failure. A non-zero exit raises :class:`TerraformFailed`: one line "terraform plan failed (exit 1)",
and :meth:`~TerraformFailed.lines` adds terraform's "Error: ..." blocks.

Ctrl-C. terraform runs in its own process group, so the terminal's SIGINT reaches only us; we
forward exactly one SIGINT per Ctrl-C. On the first terraform finishes the running operation
and releases its state lock; a second makes it stop immediately. Either way we wait for it to
exit and raise :class:`Interrupted` (exit code 130). POSIX only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kopsgen.errors import ExitCode, KopsgenError, TerraformError

NOT_FOUND = "terraform not found on PATH; install Terraform >= 1.10"
MIRROR_ROOTS: tuple[Path, ...] = (Path("/opt"), Path("/usr/local/share"), Path("/usr/share"), Path("/srv"))
CLI_CONFIG_NAME = "kopsgen.tfrc"
INIT_STAMP = "kopsgen-init.json"
ROOT_MODULE = "(root)"
MAX_ERROR_LINES = 60


class TerraformFailed(TerraformError):
    """terraform exited non-zero; carries terraform's own error text."""

    def __init__(self, subcommand: str, returncode: int, detail: Sequence[str] = ()):
        super().__init__(f"terraform {subcommand} failed (exit {returncode})")
        self.subcommand = subcommand
        self.returncode = returncode
        self.detail = list(detail)

    def lines(self) -> list[str]:
        return [self.message, *self.detail]


class Interrupted(KopsgenError):
    """The user pressed Ctrl-C while terraform ran; terraform has exited."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, *, forced: bool):
        if forced:
            message = ("interrupted: terraform was stopped immediately; the state may still be "
                       "locked (see terraform force-unlock)")
        else:
            message = "interrupted: terraform stopped cleanly; state lock released"
        super().__init__(message)
        self.forced = forced


# --- finding terraform and building its environment --------------------------------------------


def find_terraform(env: Mapping[str, str] | None = None) -> str:
    """The terraform executable: ``KOPSGEN_TERRAFORM`` if set, else the first on ``PATH``."""
    env = os.environ if env is None else env
    wanted = env.get("KOPSGEN_TERRAFORM", "")
    if wanted:
        found = shutil.which(wanted, path=env.get("PATH"))
        if found is None:
            raise TerraformError(f"KOPSGEN_TERRAFORM={wanted} is not an executable file")
        return found
    found = shutil.which("terraform", path=env.get("PATH"))
    if found is None:
        raise TerraformError(NOT_FOUND)
    return found


def find_plugin_mirror(env: Mapping[str, str] | None = None,
                       roots: Iterable[Path] | None = None) -> Path | None:
    """The local provider mirror: ``KOPSGEN_TF_PLUGIN_MIRROR`` or ``<root>/tf-plugins``, if any."""
    env = os.environ if env is None else env
    explicit = env.get("KOPSGEN_TF_PLUGIN_MIRROR", "")
    if explicit:
        # Set on purpose, so a typo must not silently fall back to the registry.
        if not Path(explicit).is_dir():
            raise TerraformError(f"KOPSGEN_TF_PLUGIN_MIRROR={explicit} is not a directory")
        return Path(explicit)
    for root in MIRROR_ROOTS if roots is None else roots:
        candidate = root / "tf-plugins"
        if candidate.is_dir():
            return candidate
    return None


def mirrored_providers(mirror: Path) -> list[str]:
    """``host/namespace/type`` of every provider in a filesystem mirror (packed or unpacked)."""
    found = []
    for host in sorted(p for p in mirror.iterdir() if p.is_dir()):
        for namespace in sorted(p for p in host.iterdir() if p.is_dir()):
            found += [f"{host.name}/{namespace.name}/{t.name}"
                      for t in sorted(namespace.iterdir()) if t.is_dir()]
    return found


def _user_cli_config(base: Mapping[str, str]) -> Path | None:
    if "TF_CLI_CONFIG_FILE" in base:
        path = Path(base["TF_CLI_CONFIG_FILE"]) if base["TF_CLI_CONFIG_FILE"] else None
    else:
        home = base.get("HOME")
        path = Path(home) / ".terraformrc" if home else None
    return path if path is not None and path.is_file() else None


def cli_config_text(mirror: Path, providers: Sequence[str]) -> str:
    """A CLI config installing ``providers`` only from ``mirror`` (HCL; strings JSON-escaped)."""
    names = ", ".join(json.dumps(p) for p in providers)
    return (
        "# Written by kopsgen: providers present in the local mirror come only from it.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        f"    include = [{names}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{names}]\n"
        "  }\n"
        "}\n"
    )


def terraform_env(base: Mapping[str, str] | None, *, plugin_mirror: Path | None,
                  cli_config_dir: Path) -> dict[str, str]:
    """terraform's environment: ``base`` (default ``os.environ``) plus our settings.

    Writes ``cli_config_dir/kopsgen.tfrc`` and sets ``TF_CLI_CONFIG_FILE`` only when
    ``plugin_mirror`` holds providers and the user has no CLI config file (module docstring).
    """
    env = dict(os.environ if base is None else base)
    env.update(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0")
    if plugin_mirror is None or _user_cli_config(env) is not None:
        return env
    providers = mirrored_providers(plugin_mirror)
    if not providers:
        return env
    cli_config_dir.mkdir(parents=True, exist_ok=True)
    path = cli_config_dir / CLI_CONFIG_NAME
    text = cli_config_text(plugin_mirror.resolve(), providers)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    env["TF_CLI_CONFIG_FILE"] = str(path.resolve())
    return env


# --- progress events parsed from terraform's human output -------------------------------------

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration as terraform prints it ("2s", "1m30s", "1h0m5s")."""
    m = _DURATION.match(text)
    if not m or not text:
        return None
    hours, minutes, seconds = m.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


# An address has spaces only inside quoted index keys; "addr (local-exec): ..." is provisioner output.
_ADDR = r'(?P<addr>(?:[^\s"\[\]]|\[(?:"(?:[^"\\]|\\.)*"|\d+)\])+)(?: \(deposed object \w+\))?'
_HOOKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"^{_ADDR}: {pattern}"), kind)
    for pattern, kind in (
        (r"Creating\.\.\.", "creating"),
        (r"Creation complete after (?P<d>\S+)", "created"),
        (r"Modifying\.\.\.", "modifying"),
        (r"Modifications complete after (?P<d>\S+)", "modified"),
        (r"Destroying\.\.\.", "destroying"),
        (r"Destruction complete after (?P<d>\S+)", "destroyed"),
        (r"(?:Creation|Modifications|Destruction) errored after (?P<d>\S+)", "failed"),
        (r"Reading\.\.\.", "reading"),
        (r"Read complete after (?P<d>\S+)", "read"),
        (r"Refreshing state\.\.\.", "refreshing"),
        (r"Still (?P<action>creating|modifying|destroying|reading)\.\.\. \[(?:.*, )?(?P<d>\S+) elapsed\]",
         "still"),
    )
)
_COUNT = re.compile(r"(\d+) (added|changed|destroyed|to add|to change|to destroy)\b")


@dataclass(frozen=True)
class ProgressEvent:
    """One thing terraform reported; ``line`` is terraform's own text."""

    kind: str  # creating created modifying modified destroying destroyed failed reading read
    #            refreshing still | complete (Apply/Destroy complete!) plan no_changes
    address: str = ""
    elapsed: float | None = None  # seconds, for "... complete after Ns" and "Still ..."
    action: str = ""  # for "still": creating, modifying, destroying or reading
    added: int = 0  # for "complete" and "plan"
    changed: int = 0
    destroyed: int = 0
    line: str = ""

    @property
    def done(self) -> bool:
        """One resource step finished; count these against :attr:`PlanSummary.steps`."""
        return self.kind in ("created", "modified", "destroyed")

    def __str__(self) -> str:
        if self.kind in ("complete", "plan"):
            return f"{self.added} added, {self.changed} changed, {self.destroyed} destroyed"
        what = self.action if self.kind == "still" else self.kind
        after = f" ({self.elapsed:g}s)" if self.elapsed is not None else ""
        return f"{self.address}: {what}{after}"


def parse_progress(line: str) -> ProgressEvent | None:
    """The event in one line of terraform's human output, or None."""
    for pattern, kind in _HOOKS:
        m = pattern.match(line)
        if m:
            groups = m.groupdict()
            elapsed = parse_duration(groups["d"]) if groups.get("d") else None
            return ProgressEvent(kind, m["addr"], elapsed, groups.get("action") or "", line=line)
    summary = None
    if line.startswith(("Apply complete! Resources:", "Destroy complete! Resources:")):
        summary = "complete"
    elif line.startswith("Plan: "):
        summary = "plan"
    elif line.startswith("No changes."):
        return ProgressEvent("no_changes", line=line)
    if summary is None:
        return None
    counts = {word.split()[-1]: int(n) for n, word in _COUNT.findall(line)}
    return ProgressEvent(summary, added=counts.get("added", counts.get("add", 0)),
                         changed=counts.get("changed", counts.get("change", 0)),
                         destroyed=counts.get("destroyed", counts.get("destroy", 0)), line=line)


def error_text(lines: Sequence[str]) -> list[str]:
    """terraform's "Error: ..." blocks from its output, trimmed and de-duplicated."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in lines:
        # Boxed diagnostics ("│ Error: ...") appear when something re-enables colour.
        line = raw[2:] if raw.startswith("│ ") else raw
        if line in ("╷", "╵", "│"):
            continue
        if line.startswith("Error: "):
            current = [line]
            blocks.append(current)
        elif line.startswith("Warning: "):
            current = None
        elif current is not None:
            if not line.strip() and (not current[-1].strip()):
                continue  # collapse runs of blank lines
            current.append(line.rstrip())
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for block in blocks:
        while block and not block[-1].strip():
            block.pop()
        key = tuple(block)
        if key not in seen:
            seen.add(key)
            out += ([""] if out else []) + block
    if not out:
        # No diagnostics (a crash, a panic): the last lines say most.
        out = [ln.rstrip() for ln in lines if ln.strip()][-10:]
    if len(out) > MAX_ERROR_LINES:
        out = out[:MAX_ERROR_LINES] + [f"... ({len(out) - MAX_ERROR_LINES} more lines)"]
    return out


# --- plan summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Changes as terraform counts them: a replacement is one add and one destroy."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0  # replacements, already included in add and destroy

    @property
    def steps(self) -> int:
        """Resource steps an apply reports as done (created + modified + destroyed)."""
        return self.add + self.change + self.destroy


@dataclass(frozen=True)
class PlanSummary(Counts):
    """A plan's changes in total, per top-level module and the addresses to be replaced."""

    by_module: Mapping[str, Counts] = field(default_factory=dict)
    replaced: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return self.steps > 0


_MODULE = re.compile(r'^module\.[A-Za-z_][\w-]*(?:\[(?:"(?:[^"\\]|\\.)*"|\d+)\])?')


def top_module(module_address: str | None) -> str:
    """``module.net`` for ``module.net.module.sub``; keeps an instance key (``module.pool["a"]``)."""
    if not module_address:
        return ROOT_MODULE
    m = _MODULE.match(module_address)
    return m.group(0) if m else module_address


def summarize_plan(plan_json: Mapping) -> PlanSummary:
    """Count the changes in ``terraform show -json <plan>`` output.

    Data-source reads and no-ops are not changes. Numbers match terraform's "Plan:" line.
    """
    totals = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    modules: dict[str, dict[str, int]] = {}
    replaced: list[str] = []
    for rc in plan_json.get("resource_changes") or []:
        actions = rc.get("change", {}).get("actions", [])
        if set(actions) == {"create", "delete"}:
            kinds = ("add", "destroy", "replace")
            replaced.append(rc["address"])
        elif actions == ["create"]:
            kinds = ("add",)
        elif actions == ["update"]:
            kinds = ("change",)
        elif actions == ["delete"]:
            kinds = ("destroy",)
        else:
            continue
        per = modules.setdefault(top_module(rc.get("module_address")),
                                 {"add": 0, "change": 0, "destroy": 0, "replace": 0})
        for kind in kinds:
            totals[kind] += 1
            per[kind] += 1
    return PlanSummary(**totals, by_module={name: Counts(**modules[name]) for name in sorted(modules)},
                       replaced=tuple(sorted(replaced)))


# --- the runner ---------------------------------------------------------------------------------


@dataclass
class _Result:
    returncode: int
    stdout: list[str]
    stderr: list[str]


def _tree_digest(workdir: Path) -> str:
    """Hash of every .tf/.tf.json file and the lock file, outside .terraform directories."""
    digest = hashlib.sha256()
    paths = []
    for top, dirs, files in os.walk(workdir):
        dirs[:] = sorted(d for d in dirs if d != ".terraform")  # terraform's own, maybe huge
        paths += [Path(top, f) for f in files
                  if f.endswith((".tf", ".tf.json")) or f == ".terraform.lock.hcl"]
    for path in sorted(paths):
        digest.update(path.relative_to(workdir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Terraform:
    """Runs terraform in ``workdir``.

    ``env`` is the base environment (default ``os.environ``); :func:`terraform_env` is applied
    to it. With ``verbose`` terraform's output streams through unchanged; ``out`` receives a
    :class:`ProgressEvent` for every hook and summary line either way.
    """

    def __init__(self, workdir: Path, *, env: Mapping[str, str] | None = None, verbose: bool = False,
                 out: Callable[[ProgressEvent], None] | None = None):
        self.workdir = Path(workdir)
        self.verbose = verbose
        self.out = out
        self._base_env = dict(os.environ if env is None else env)
        self._env: dict[str, str] | None = None
        self._binary: str | None = None

    @property
    def env(self) -> dict[str, str]:
        # Built on first use: it may write the CLI config into .terraform/.
        if self._env is None:
            self._env = terraform_env(self._base_env, plugin_mirror=find_plugin_mirror(self._base_env),
                                      cli_config_dir=self.workdir / ".terraform")
        return self._env

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = find_terraform(self._base_env)
        return self._binary

    # -- subcommands --

    def init(self, backend_config: Mapping[str, str] | None = None, upgrade: bool = False) -> None:
        args = ["init", "-input=false", "-no-color"]
        if upgrade:
            args.append("-upgrade")
        args += [f"-backend-config={k}={v}" for k, v in sorted((backend_config or {}).items())]
        stamp = self.workdir / ".terraform" / INIT_STAMP
        stamp.unlink(missing_ok=True)  # a failed init must leave needs_init() true
        self._run("init", args)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(json.dumps({"tree": _tree_digest(self.workdir),
                                     "backend_config": dict(sorted((backend_config or {}).items()))},
                                    indent=2) + "\n")

    def needs_init(self, backend_config: Mapping[str, str] | None = None) -> bool:
        """Whether :meth:`init` must run first.

        True when kopsgen has not initialised this directory (no ``.terraform/kopsgen-init.json``),
        when any ``.tf`` file or ``.terraform.lock.hcl`` changed since (module calls, provider
        requirements and the backend block all live there; an extra init is cheap, a missing
        one fails the plan), or when ``backend_config`` differs from the one used then.
        """
        stamp = self.workdir / ".terraform" / INIT_STAMP
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return True
        return (recorded.get("tree") != _tree_digest(self.workdir)
                or recorded.get("backend_config") != dict(sorted((backend_config or {}).items())))

    def validate(self) -> dict:
        """``terraform validate -json``; an invalid configuration is a result (``valid`` false)."""
        result = self._run("validate", ["validate", "-json", "-no-color"], capture=True, ok=(0, 1))
        try:
            doc = json.loads("\n".join(result.stdout))
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "valid" not in doc:
            raise TerraformFailed("validate", result.returncode, error_text(result.stderr or result.stdout))
        return doc

    def fmt_check(self) -> list[str]:
        """Files (relative to workdir) that ``terraform fmt`` would change."""
        result = self._run("fmt", ["fmt", "-check", "-list=true", "-recursive", "-no-color"],
                           capture=True, ok=(0, 3))
        return [line for line in result.stdout if line.strip()]

    def plan(self, out: Path, *, targets: Sequence[str] = (), destroy: bool = False,
             detailed: bool = True) -> bool:
        """Write a plan to ``out``; True when it has changes."""
        args = ["plan", "-input=false", "-no-color", f"-out={Path(out).resolve()}"]
        if detailed:
            args.append("-detailed-exitcode")
        if destroy:
            args.append("-destroy")
        args += [f"-target={t}" for t in targets]
        result = self._run("plan", args, progress=True, ok=(0, 2) if detailed else (0,))
        if detailed:
            return result.returncode == 2
        return not any(line.startswith("No changes.") for line in result.stdout)

    def show_json(self, plan: Path | None = None) -> dict:
        """``terraform show -json`` of ``plan``, or of the current state."""
        args = ["show", "-json", "-no-color"] + ([str(Path(plan).resolve())] if plan is not None else [])
        return self._json("show", args)

    def apply(self, plan: Path) -> ProgressEvent | None:
        """Apply a saved plan; returns terraform's "Apply complete!" summary, if printed."""
        result = self._run("apply", ["apply", "-input=false", "-no-color", str(Path(plan).resolve())],
                           progress=True)
        return _summary(result.stdout)

    def destroy(self, targets: Sequence[str] = (), auto_approve: bool = True) -> ProgressEvent | None:
        args = ["destroy", "-input=false", "-no-color"]
        if auto_approve:
            args.append("-auto-approve")
        args += [f"-target={t}" for t in targets]
        return _summary(self._run("destroy", args, progress=True).stdout)

    def output_json(self) -> dict:
        return self._json("output", ["output", "-json", "-no-color"])

    def state_list(self) -> list[str]:
        """Resource addresses in the state; empty when there is no state yet."""
        result = self._run("state list", ["state", "list", "-no-color"], capture=True, ok=(0, 1))
        if result.returncode == 1:
            if any(line.startswith("No state file was found!") for line in result.stderr):
                return []
            raise TerraformFailed("state list", 1, error_text(result.stderr))
        return [line for line in result.stdout if line.strip()]

    def state_rm(self, addresses: Sequence[str]) -> None:
        if addresses:
            self._run("state rm", ["state", "rm", "-no-color", *addresses])

    def import_resource(self, address: str, ident: str) -> None:
        """Bring an existing object under ``address`` (terraform import)."""
        self._run("import", ["import", "-input=false", "-no-color", address, ident], capture=True)

    # -- running --

    def _json(self, name: str, args: list[str]) -> dict:
        result = self._run(name, args, capture=True)
        try:
            return json.loads("\n".join(result.stdout))
        except ValueError as exc:
            raise TerraformError(f"terraform {name} printed invalid JSON: {exc}") from None

    def _run(self, name: str, args: list[str], *, capture: bool = False, progress: bool = False,
             ok: Sequence[int] = (0,)) -> _Result:
        """Run ``terraform args``; ``capture``: stdout is data, never echoed; ``progress``: parse it."""
        if not self.workdir.is_dir():
            raise TerraformError(f"terraform directory {self.workdir} does not exist")
        argv = [self.binary, *args]
        env = self.env
        try:
            proc = subprocess.Popen(
                argv, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1,
                process_group=0,  # the terminal's Ctrl-C must reach only us; we forward it once
            )
        except OSError as exc:
            raise TerraformError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        lines: dict[str, list[str]] = {"stdout": [], "stderr": []}

        def handle(stream: str, line: str) -> None:
            lines[stream].append(line)
            if self.verbose and not (capture and stream == "stdout"):
                sink = sys.stdout if stream == "stdout" else sys.stderr
                sink.write(line + "\n")
                sink.flush()
            if progress and stream == "stdout" and self.out is not None:
                event = parse_progress(line)
                if event is not None:
                    self.out(event)

        try:
            returncode, interrupts = _pump(proc, handle)
        except BaseException as exc:
            # Ctrl-C before the pump took over, or a bug in a callback: stop terraform as
            # gently as Ctrl-C would and wait for it, then report.
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            _wait(proc)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(forced=False) from None
            raise
        if interrupts:
            raise Interrupted(forced=interrupts > 1)
        if returncode not in ok:
            raise TerraformFailed(name, returncode, error_text(lines["stderr"] or lines["stdout"]))
        return _Result(returncode, lines["stdout"], lines["stderr"])


def _summary(stdout: Sequence[str]) -> ProgressEvent | None:
    for line in reversed(stdout):
        event = parse_progress(line)
        if event is not None and event.kind == "complete":
            return event
    return None


def _reader(pipe, name: str, lines: queue.Queue) -> None:
    with pipe:
        for line in pipe:
            lines.put((name, line.rstrip("\n")))
    lines.put((name, None))  # only wakes the pump; it ends when the readers are gone


def _pump(proc: subprocess.Popen, handle: Callable[[str, str], None]) -> tuple[int, int]:
    """Feed ``proc``'s output lines to ``handle`` in this thread until it exits.

    Returns (exit code, number of SIGINTs forwarded). A KeyboardInterrupt here forwards one
    SIGINT and keeps going, so terraform always gets to exit on its own terms.
    """
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [threading.Thread(target=_reader, args=(pipe, name, lines), daemon=True)
               for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for reader in readers:
        reader.start()
    interrupts = 0
    while True:
        try:
            # Poll rather than wait for sentinels: an interrupt can never lose an end-of-stream.
            while any(r.is_alive() for r in readers) or not lines.empty():
                with contextlib.suppress(queue.Empty):
                    stream, line = lines.get(timeout=0.1)
                    if line is not None:
                        handle(stream, line)
            return proc.wait(), interrupts
        except KeyboardInterrupt:
            interrupts += 1
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)


def _wait(proc: subprocess.Popen) -> None:
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
