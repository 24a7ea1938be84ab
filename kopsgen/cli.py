"""The kopsgen command line: thin commands over the core API.

Commands parse options, call the core and print; failures are :class:`KopsgenError`s that
:func:`main` turns into one line on stderr and a named exit code (see ``ExitCode``).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kopsgen import __version__, console, core, initcmd
from kopsgen.errors import AwsCheckError, ExitCode, SpecError, UsageError
from kopsgen.flows import apply as flows_apply
from kopsgen.flows import destroy as flows_destroy
from kopsgen.flows import kubeconfig as flows_kubeconfig
from kopsgen.flows import plan as flows_plan
from kopsgen.flows import status as flows_status
from kopsgen.flows.credentials import push_credentials
from kopsgen.flows.session import Session
from kopsgen.initcmd import InitOptions
from kopsgen.spec import load_spec
from kopsgen.spec.raw import ClusterFile

app = typer.Typer(
    name="kopsgen",
    help="One cluster.yaml in, a reviewable Terraform workspace for Kubernetes on AWS out.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Output(StrEnum):
    text = "text"
    json = "json"


class _State:
    debug = False
    dir: Path | None = None


STATE = _State()

DirOpt = Annotated[
    Path | None,
    typer.Option("-C", "--dir", help="Cluster directory (default: the current directory).",
                 file_okay=False, show_default=False),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]


def _cluster_dir(local: Path | None) -> Path:
    return local or STATE.dir or Path(".")


echo_err = console.echo_err
_print_problems = console.print_problems


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
    = False,
    cluster_dir: DirOpt = None,
) -> None:
    STATE.debug = debug
    STATE.dir = cluster_dir


@app.command()
def version(output: OutputOpt = Output.text) -> None:
    """Print the kopsgen version."""
    if output is Output.json:
        typer.echo(json.dumps({"version": __version__}))
    else:
        typer.echo(f"kopsgen {__version__}")


AwsOpt = Annotated[bool, typer.Option(
    "--aws", help="Also run the pre-flight checks against the AWS account (exit 5 on problems).")]
ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="AWS profile (default: the usual AWS_PROFILE / credentials chain).")]
AccountOpt = Annotated[str | None, typer.Option(
    "--expected-account", help="Fail unless the credentials belong to this AWS account ID.")]
S3Opt = Annotated[str | None, typer.Option(
    "--s3-uri", help="s3://bucket/prefix for state and assets (overrides s3URI).")]


@app.command()
def validate(
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
    aws: AwsOpt = False,
    profile: ProfileOpt = None,
    expected_account: AccountOpt = None,
    s3_uri: S3Opt = None,
) -> None:
    """Load and check cluster.yaml; print every problem (exit 0 or 3; 5 with --aws)."""
    path = _cluster_dir(cluster_dir) / "cluster.yaml"
    try:
        loaded = load_spec(path)
    except SpecError as err:
        if output is Output.json:
            typer.echo(json.dumps({
                "valid": False,
                "errors": [_problem_json(p) for p in err.problems],
                "warnings": [_problem_json(p) for p in err.warnings],
            }, indent=2))
            raise typer.Exit(err.exit_code) from None
        _print_problems(err, err.warnings)
        n = len(err.problems)
        echo_err(f"{path}: {n} error{'s' if n != 1 else ''}")
        raise typer.Exit(err.exit_code) from None
    aws_problems = []
    if aws:
        aws_problems = core.preflight(loaded.spec, profile=profile,
                                      expected_account=expected_account, s3_uri=s3_uri)
    if output is Output.json:
        typer.echo(json.dumps({"valid": not aws_problems, "errors": [],
                               "warnings": [_problem_json(p) for p in loaded.warnings],
                               "aws": [_problem_json(p) for p in aws_problems]},
                              indent=2))
        if aws_problems:
            raise typer.Exit(ExitCode.AWS_CHECK_FAILED)
        return
    _print_problems(None, loaded.warnings)
    if aws_problems:
        n = len(aws_problems)
        raise AwsCheckError(f"{path}: {n} problem{'s' if n != 1 else ''} found in the AWS "
                            "account; nothing was created", problems=aws_problems)
    spec = loaded.spec
    pools = len(spec.node_pools)
    typer.echo(f"{path}: valid -- cluster {spec.cluster_name} ({spec.external_dns_name}) in "
               f"{spec.region}: {spec.controller.scaling.desired} controller(s), "
               f"{spec.etcd.count} etcd member(s), {pools} node pool{'s' if pools != 1 else ''}, "
               f"Kubernetes {spec.kubernetes_version}")
    if aws:
        typer.echo(f"AWS pre-flight: all checks passed in {spec.region}")


def _problem_json(p) -> dict:
    return {"file": p.file, "line": p.line, "column": p.column, "field": p.field,
            "message": p.message, "severity": p.severity}


@app.command()
def schema() -> None:
    """Print the JSON Schema of cluster.yaml (for editors)."""
    doc = ClusterFile.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


@app.command()
def init(
    cluster_name: Annotated[str | None, typer.Option(help="Name of the cluster.")] = None,
    external_dns_name: Annotated[
        str | None, typer.Option(help="DNS name of the Kubernetes API.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region, e.g. us-east-1.")] = None,
    availability_zone: Annotated[
        str | None, typer.Option(help="Single-AZ mode (default: two zones).")] = None,
    key_name: Annotated[str | None, typer.Option(help="Existing EC2 key pair.")] = None,
    kms_key_arn: Annotated[
        str | None, typer.Option(help="Existing KMS key (default: created).")] = None,
    hosted_zone_id: Annotated[
        str | None, typer.Option(help="Route53 zone; sets createRecordSet.")] = None,
    s3_uri: Annotated[str | None, typer.Option(help="s3://bucket/prefix for state.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing cluster.yaml.")] = False,
    cluster_dir: DirOpt = None,
) -> None:
    """Write a commented cluster.yaml to start a cluster."""
    opts = InitOptions(cluster_name, external_dns_name, region, availability_zone, key_name,
                       kms_key_arn, hosted_zone_id, s3_uri)
    path = _cluster_dir(cluster_dir) / "cluster.yaml"
    initcmd.create(path, opts, force=force)
    typer.echo(f"Success! Created {path}\n")
    typer.echo("Next steps:")
    typer.echo(f"1. (Optional) Edit {path} to shape the cluster; every key is explained in it.")
    typer.echo("2. Run `kopsgen validate` to check it.")
    typer.echo("3. Run `kopsgen render` to generate the credentials, cloud-configs, kubeconfig "
               "and Terraform workspace.")


@app.command()
def render(
    part: Annotated[str | None, typer.Argument(
        help="credentials (credentials/, kubeconfig) or stack (userdata/, terraform/: no "
             "secrets, so CI can `render stack --check`); default: both.",
        show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 with a diff if the workspace is stale.")] = False,
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Generate the workspace from cluster.yaml (only changed files are written)."""
    code = console.render_command(_cluster_dir(cluster_dir), part, check=check,
                                  json_output=output is Output.json)
    if code:
        raise typer.Exit(code)


@app.command()
def certs(
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show each certificate: subject, SANs, issuer, days left (kube-aws: show certificates)."""
    infos = core.certificates(_cluster_dir(cluster_dir))
    if output is Output.json:
        typer.echo(json.dumps([{
            "file": i.file, "subject": i.subject, "sans": list(i.sans), "issuer": i.issuer,
            "not_after": i.not_after.isoformat(), "days_left": i.days_left,
            "usages": list(i.usages)} for i in infos], indent=2))
        return
    for i in infos:
        typer.echo(f"{i.file}")
        typer.echo(f"  subject:   {i.subject}")
        if i.sans:
            typer.echo(f"  SANs:      {', '.join(i.sans)}")
        typer.echo(f"  issuer:    {i.issuer}")
        typer.echo(f"  usages:    {', '.join(i.usages)}")
        typer.echo(f"  expires:   {i.not_after:%Y-%m-%d} ({i.days_left} days left)")


NoRenderOpt = Annotated[bool, typer.Option(
    "--no-render", help="Refuse to go on with a stale workspace instead of re-rendering it.")]
SandboxOpt = Annotated[bool, typer.Option(
    "--sandbox", help="Run against a local AWS emulator (moto) instead of an AWS account.")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Stream terraform's own output unchanged.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _session(cluster_dir, *, s3_uri=None, no_render=False, sandbox=False, verbose=False,
             profile=None, with_credentials=False, stop_sandbox=None) -> Session:
    session = Session(_cluster_dir(cluster_dir), say=_say, s3_uri=s3_uri, no_render=no_render,
                      sandbox=sandbox, verbose=verbose, profile=profile,
                      with_credentials=with_credentials, stop_sandbox=stop_sandbox)
    _print_problems(None, session.warnings)
    return session


def _confirm(question: str, *, yes: bool, expected: str | None = None) -> None:
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
        raise UsageError(f"you typed {answer.strip()!r}, not {expected!r}; nothing was destroyed")


@app.command()
def plan(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    no_render: NoRenderOpt = False,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    pool: Annotated[str | None, typer.Option(help="Plan only this node pool.")] = None,
    expected_account: AccountOpt = None,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 1 (CHANGES) when the plan has changes.")] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Pre-flight, then terraform plan saved to terraform/kopsgen.tfplan, summarised per module."""
    with _session(cluster_dir, s3_uri=s3_uri, no_render=no_render, sandbox=sandbox,
                  verbose=verbose, profile=profile) as session:
        result = flows_plan.plan(session, pool=pool, expected_account=expected_account)
    summary = result.summary
    if output is Output.json:
        typer.echo(json.dumps({
            "plan_file": str(result.path), "add": summary.add, "change": summary.change,
            "destroy": summary.destroy, "replace": summary.replace,
            "by_module": {m: {"add": c.add, "change": c.change, "destroy": c.destroy}
                          for m, c in sorted(summary.by_module.items())},
            "replaced": list(summary.replaced), "notes": result.notes}, indent=2))
    else:
        for line in flows_plan.describe_summary(summary) + [f"- {n}" for n in result.notes]:
            typer.echo(line)
        typer.echo(f"saved plan: {result.path}")
    if detailed_exitcode and summary.has_changes:
        raise typer.Exit(ExitCode.CHANGES)


@app.command()
def up(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    no_render: NoRenderOpt = False,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
    wait: Annotated[bool, typer.Option(help=(
        "Wait until the cluster is ready: the API answers, every controller and each pool's "
        "nodes are Ready, the add-ons are available."))] = True,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the cluster.")] = 1200,
    expected_account: AccountOpt = None,
    boot: Annotated[bool, typer.Option(
        "--boot", help="With --sandbox: boot every instance of the emulator as a container "
        "(root, systemd-nspawn, debootstrap; docs/sandbox.md).")] = False,
) -> None:
    """Create the cluster: pre-flight, plan, confirm, apply, upload credentials, wait."""
    flows_apply.check_boot(boot, sandbox)
    with _session(cluster_dir, s3_uri=s3_uri, no_render=no_render, sandbox=sandbox,
                  verbose=verbose, profile=profile, with_credentials=True,
                  stop_sandbox=False) as session:
        outputs = flows_apply.up(session, confirm=lambda q: _confirm(q, yes=yes),
                                 out=typer.echo, expected_account=expected_account,
                                 wait=wait, timeout=timeout, boot=boot)
    for line in flows_apply.up_summary(session, outputs):
        typer.echo(line)


@app.command()
def update(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    no_render: NoRenderOpt = False,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
    pool: Annotated[str | None, typer.Option(help="Change only this node pool.")] = None,
    boot: Annotated[bool, typer.Option(
        "--boot", help="With --sandbox: bring the booted machines in step with the emulator "
        "(new instances boot, gone ones power off).")] = False,
) -> None:
    """Apply cluster.yaml's changes to a running cluster (or to one pool with --pool)."""
    flows_apply.check_boot(boot, sandbox)
    with _session(cluster_dir, s3_uri=s3_uri, no_render=no_render, sandbox=sandbox,
                  verbose=verbose, profile=profile, with_credentials=True,
                  stop_sandbox=False) as session:
        flows_apply.update(session, confirm=lambda q: _confirm(q, yes=yes), out=typer.echo,
                           pool=pool, boot=boot)


@app.command()
def status(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Terraform outputs plus live facts: Auto Scaling groups and API health."""
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, stop_sandbox=False) as session:
        facts = flows_status.status(session)
    if output is Output.json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    api = facts["api"]
    health = "healthy" if api["healthy"] else ("unknown" if api["healthy"] is None else "DOWN")
    typer.echo(f"cluster         {facts['cluster']}")
    typer.echo(f"API             {facts['api_endpoint']}  {health} ({api['detail']})")
    typer.echo(f"load balancer   {facts['load_balancer']}")
    ready = (facts.get("readiness") or {}).get("nodes", {})
    typer.echo(f"{'GROUP':<16}{'DESIRED':>8}{'IN SERVICE':>12}{'READY':>7}  NAME")
    for label, g in facts["groups"].items():
        nodes = ready.get(label)
        typer.echo(f"{label:<16}{str(g['desired']):>8}{str(g['in_service']):>12}"
                   f"{(str(nodes['ready']) if nodes else '-'):>7}  {g['name']}")
    readiness = facts.get("readiness")
    if readiness is not None:
        for name, state in readiness["addons"].items():
            typer.echo(f"add-on          {name}  {state}")
        typer.echo("ready           yes" if readiness["ready"] else
                   "ready           no: " + "; ".join(readiness["problems"]))


@app.command()
def destroy(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
    delete_etcd_data: Annotated[bool, typer.Option(
        "--delete-etcd-data", help="Also delete the etcd data volumes (kept by default).")] = False,
) -> None:
    """Destroy the cluster; keeps the etcd data volumes (and their key) unless --delete-etcd-data."""
    with _session(cluster_dir, s3_uri=s3_uri, no_render=False, sandbox=sandbox,
                  verbose=verbose, profile=profile) as session:
        flows_destroy.destroy(
            session, delete_etcd_data=delete_etcd_data, out=typer.echo,
            confirm=lambda q: _confirm(q, yes=yes, expected=session.spec.cluster_name))


@app.command()
def kubeconfig(
    cluster_dir: DirOpt = None,
    install: Annotated[bool, typer.Option(
        "--install", help="Merge the cluster's context into ~/.kube/config (backed up first).")]
    = False,
) -> None:
    """Print the admin kubeconfig's path, or install its context into ~/.kube/config."""
    root = _cluster_dir(cluster_dir)
    if not install:
        typer.echo(str(flows_kubeconfig.kubeconfig_path(root).resolve()))
        return
    name, target, backup = flows_kubeconfig.install(root)
    typer.echo(f"context {name} merged into {target}"
               + (f" (previous file saved as {backup})" if backup else ""))
    typer.echo(f"use it: kubectl config use-context {name}")


credentials_app = typer.Typer(help="Deliver credentials to the cluster's S3 location.",
                              no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")


@credentials_app.command("push")
def credentials_push(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Upload each role's credentials (SSE-KMS), only those whose fingerprint changed."""
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, with_credentials=True, stop_sandbox=False) as session:
        uploaded = push_credentials(session)
    for url in uploaded:
        typer.echo(f"uploaded {url}")
    typer.echo(f"{len(uploaded)} file(s) uploaded" if uploaded else "credentials unchanged")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and map every failure to a named exit code."""
    code = run(argv)
    sys.exit(int(code))


def run(argv: list[str] | None = None) -> ExitCode | int:
    try:
        # standalone_mode=False: typer.Exit comes back as the return value, errors as
        # exceptions handled below.
        result = app(args=argv, prog_name="kopsgen", standalone_mode=False)
        return result if isinstance(result, int) else ExitCode.OK
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        echo_err("aborted")
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:
        # Usage errors: one line, plus where to get help.
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "kopsgen"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help(), err=True)
            return ExitCode.USAGE
        echo_err(f"{message} (see `{command} --help`)")
        return ExitCode.USAGE
    except (KeyboardInterrupt, Exception) as exc:  # ours, Ctrl-C, BrokenPipe, bugs
        debug = STATE.debug or "--debug" in (argv if argv is not None else sys.argv)
        return console.failure_code(exc, debug=debug)
