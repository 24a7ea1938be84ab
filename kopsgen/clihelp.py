"""Help texts, shared options, command order, prompts and shell completion of the CLI.

Kept apart from :mod:`kopsgen.cli` so the commands there stay short; it imports typer and
the leaf :mod:`kopsgen.errors`, nothing above it.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer._completion_classes import BashComplete, FishComplete, ZshComplete
from typer.core import TyperGroup

from kopsgen.errors import ExitCode, KopsgenError, UsageError

#: ``kopsgen --help`` lists the commands in the order of a cluster's life, then the tools.
COMMAND_ORDER = ("init", "validate", "render", "plan", "up", "update", "upgrade", "status",
                 "destroy", "certs", "kubeconfig", "credentials", "etcd", "schema", "completion",
                 "version")


class OrderedGroup(TyperGroup):
    """A group that lists its commands in :data:`COMMAND_ORDER` (any others after them)."""

    def list_commands(self, ctx):
        names = list(super().list_commands(ctx))
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def examples(*lines: str) -> str:
    """An epilog of examples; click's ``\\b`` keeps its lines as they are."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


EXAMPLES = {
    "init": examples(
        "kopsgen init --cluster-name demo --external-dns-name api.demo.example.com \\",
        "    --region us-east-1",
        "kopsgen -C prod init --cluster-name prod --external-dns-name api.example.com \\",
        "    --region eu-west-1 --key-name ops --ssh-access-cidr 203.0.113.0/24"),
    "validate": examples("kopsgen validate", "kopsgen validate --aws --profile prod -o json"),
    "render": examples("kopsgen render", "kopsgen render stack --check   # in CI"),
    "plan": examples("kopsgen plan", "kopsgen plan --sandbox --detailed-exitcode"),
    "up": examples("kopsgen up --sandbox --yes",
                   "kopsgen up --profile prod --expected-account 123456789012"),
    "update": examples("kopsgen update", "kopsgen update --pool workers --yes"),
    "upgrade": examples("kopsgen upgrade --to v1.35.0 --dry-run",
                        "kopsgen upgrade --to v1.35.0   # step 1, then once applied step 2"),
    "status": examples("kopsgen status", "kopsgen status --sandbox -o json"),
    "destroy": examples("kopsgen destroy", "kopsgen destroy --sandbox --yes --delete-etcd-data"),
    "certs": examples("kopsgen certs", "kopsgen certs -o json"),
    "kubeconfig": examples("kubectl --kubeconfig \"$(kopsgen kubeconfig)\" get nodes",
                           "kopsgen kubeconfig --install"),
    "credentials": examples("kopsgen credentials push", "kopsgen credentials push --sandbox"),
    "etcd": examples("kopsgen etcd backups",
                     "kopsgen etcd restore backups/etcd/<time>-<member>-<sha256>.db --dry-run"),
    "etcd backups": examples("kopsgen etcd backups", "kopsgen etcd backups --sandbox"),
    "etcd restore": examples("kopsgen etcd restore backups/etcd/<time>-<member>-<sha256>.db --dry-run",
                             "kopsgen etcd restore backups/etcd/<time>-<member>-<sha256>.db"),
    "credentials push": examples("kopsgen credentials push",
                                 "kopsgen credentials push --profile prod"),
    "schema": examples("kopsgen schema > cluster.schema.json"),
    "completion": examples("source <(kopsgen completion bash)   # in ~/.bashrc",
                           "kopsgen completion fish > ~/.config/fish/completions/kopsgen.fish"),
    "version": examples("kopsgen version", "kopsgen version -o json"),
}

OUTPUT_HELP = "Output format: text (for people) or json (for scripts)."


# -- the options several commands share ----------------------------------------------

class Output(StrEnum):
    text = "text"
    json = "json"


DirOpt = Annotated[
    Path | None,
    typer.Option("-C", "--dir", help="Cluster directory (default: the current directory).",
                 file_okay=False, show_default=False),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help=OUTPUT_HELP)]
AwsOpt = Annotated[bool, typer.Option(
    "--aws", help="Also run the pre-flight checks against the AWS account (exit 5 on problems).")]
ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="AWS profile (default: the usual AWS_PROFILE / credentials chain).")]
AccountOpt = Annotated[str | None, typer.Option(
    "--expected-account", help="Fail unless the credentials belong to this AWS account ID.")]
S3Opt = Annotated[str | None, typer.Option(
    "--s3-uri", help="s3://bucket/prefix for state and assets (overrides s3URI).")]
NoRenderOpt = Annotated[bool, typer.Option(
    "--no-render", help="Refuse to go on with a stale workspace instead of re-rendering it.")]
SandboxOpt = Annotated[bool, typer.Option(
    "--sandbox", help="Run against a local AWS emulator (moto) instead of an AWS account.")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Stream terraform's own output unchanged.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def usage_message(exc) -> str:
    """The one line for a usage error; a bad choice lists the valid values (typer's enum
    check said "Value error, 'yaml' is not one of ...")."""
    param = getattr(exc, "param", None)
    choices = CHOICES.get(getattr(param, "name", None))
    if choices and type(exc).__name__ == "BadParameter":
        flag = "/".join(sorted(param.opts, key=len)) if param.opts else param.name
        return f"invalid value for {flag}: use one of {', '.join(choices)}"
    return exc.format_message() if hasattr(exc, "format_message") else str(exc)

#: The environment variable the completion scripts set when they ask for completions.
COMPLETE_VAR = "_KOPSGEN_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


#: The choices of the options and arguments that take one (named as the parameters are).
CHOICES = {"output": ("text", "json"), "shell": SHELLS}

# typer's own classes: the click typer vendors has none, and click's (the package) do not
# know typer's parameter types.
_CLASSES = {"bash": BashComplete, "zsh": ZshComplete, "fish": FishComplete}


def completion_script(command, shell: str) -> str:
    """The script that makes ``shell`` complete ``kopsgen``."""
    return _CLASSES[shell](command, {}, "kopsgen", COMPLETE_VAR).source()


def answer_completion(command, instruction: str) -> int:
    """Answer a completion script's request: ``complete_bash`` (what the scripts send) or
    ``bash_complete``, ``source_zsh`` or ``zsh_source``, ...

    Typer's own handler only understands its order (action first) and, with the CLI run as
    ``standalone_mode=False``, never answered at all: click's order said "Shell source not
    supported".
    """
    first, _, second = instruction.partition("_")
    shell, action = (second, first) if first in ("source", "complete") else (first, second)
    cls = _CLASSES.get(shell)
    if cls is None or action not in ("source", "complete"):
        print(f"kopsgen: completion request {instruction!r} not understood "
              f"(shells: {', '.join(SHELLS)})", file=sys.stderr)
        return 1
    comp = cls(command, {}, "kopsgen", COMPLETE_VAR)
    print(comp.source() if action == "source" else comp.complete(), flush=True)
    return 0


def status_lines(facts: dict) -> list[str]:
    """`kopsgen status`'s text output."""
    lines: list[str] = []
    out = lines.append
    api = facts["api"]
    health = "healthy" if api["healthy"] else ("unknown" if api["healthy"] is None else "DOWN")
    out(f"cluster         {facts['cluster']}")
    out(f"API             {facts['api_endpoint']}  {health}: {api['detail']}")
    out(f"load balancer   {facts['load_balancer']}")
    ready = (facts.get("readiness") or {}).get("nodes", {})
    out(f"{'GROUP':<16}{'DESIRED':>8}{'IN SERVICE':>12}{'READY':>7}  NAME")
    for label, g in facts["groups"].items():
        nodes = ready.get(label)
        out(f"{label:<16}{str(g['desired']):>8}{str(g['in_service']):>12}"
            f"{(str(nodes['ready']) if nodes else '-'):>7}  {g['name']}")
    readiness = facts.get("readiness")
    if readiness is not None:
        for name, state in readiness["addons"].items():
            out(f"add-on          {name}  {state}")
        out("ready           yes" if readiness["ready"] else
            "ready           no: " + "; ".join(readiness["problems"]))
    return lines


def certificate_lines(infos) -> list[str]:
    """`kopsgen certs`'s text output."""
    lines: list[str] = []
    for i in infos:
        lines += [f"{i.file}", f"  subject:   {i.subject}"]
        if i.sans:
            lines.append(f"  SANs:      {', '.join(i.sans)}")
        lines += [f"  issuer:    {i.issuer}", f"  usages:    {', '.join(i.usages)}",
                  f"  expires:   {i.not_after:%Y-%m-%d} ({i.days_left} days left)"]
    return lines


def problem_json(p) -> dict:
    return {"file": p.file, "line": p.line, "column": p.column, "field": p.field,
            "message": p.message, "severity": p.severity}


def confirm(question: str, *, yes: bool, expected: str | None = None) -> None:
    """Ask on the terminal; never prompt without one."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for confirmation on; pass --yes to proceed "
                         "without asking")
    if expected is None:
        if not typer.confirm(question, default=False):
            raise typer.Abort()
        return
    answer = typer.prompt(question, default="", show_default=False)
    if answer.strip() != expected:
        # Declined, as a "no" is (exit 130, INTERRUPTED): the command line was fine.
        raise KopsgenError(f"you typed {answer.strip()!r}, not {expected!r}; nothing was "
                           "destroyed", exit_code=ExitCode.INTERRUPTED)
