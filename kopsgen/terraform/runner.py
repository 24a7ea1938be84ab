"""The runner: builds terraform's argv, runs it and waits for it, forwarding Ctrl-C.

Every subcommand runs in the workspace's ``terraform/`` directory with ``-no-color`` and, where
terraform accepts it, ``-input=false``; standard input is /dev/null, so terraform never prompts.

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
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kopsgen.errors import TerraformError
from kopsgen.terraform.env import find_plugin_mirror, find_terraform, terraform_env
from kopsgen.terraform.failure import Interrupted, TerraformFailed, error_text
from kopsgen.terraform.progress import ProgressEvent, parse_progress

INIT_STAMP = "kopsgen-init.json"


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
