"""The kopsgen command line: thin commands over the core API.

Commands parse options, call the core and print; failures are :class:`KopsgenError`s that
:func:`main` turns into one line on stderr and a named exit code (see ``ExitCode``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kopsgen import __version__
from kopsgen.errors import ExitCode, KopsgenError, SpecError

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


def _color(stream) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _styled(text: str, fg: str, stream) -> str:
    return typer.style(text, fg=fg, bold=True) if _color(stream) else text


def echo_err(message: str, *, kind: str = "error") -> None:
    colour = {"error": "red", "warning": "yellow"}.get(kind, "cyan")
    typer.echo(f"{_styled(kind + ':', colour, sys.stderr)} {message}", err=True)


def _print_problems(err: SpecError | None, warnings: list) -> None:
    for w in warnings:
        typer.echo(_styled(str(w), "yellow", sys.stderr), err=True)
    if err is not None:
        for line in err.lines():
            typer.echo(_styled(line, "red", sys.stderr), err=True)


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
    from kopsgen.spec import load_spec

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
        from kopsgen import core

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
        from kopsgen.errors import AwsCheckError

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
    from kopsgen.spec.raw import ClusterFile

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
    from kopsgen.initcmd import InitOptions, render_cluster_yaml, write_new_file

    opts = InitOptions(cluster_name, external_dns_name, region, availability_zone, key_name,
                       kms_key_arn, hosted_zone_id, s3_uri)
    path = _cluster_dir(cluster_dir) / "cluster.yaml"
    if path.exists() and not force:
        # Checked before the options so the existing file is the first thing said.
        from kopsgen.errors import WorkspaceError
        raise WorkspaceError(f"{path} already exists; not overwriting it (use --force to "
                             "replace it)")
    try:
        text = render_cluster_yaml(opts)
    except SpecError as err:
        # The flags made an invalid cluster.yaml: name the flag's field, write nothing.
        raise SpecError([p.__class__(0, 0, p.field, p.message, "init options")
                         for p in err.problems]) from None
    write_new_file(path, text, force=force)
    typer.echo(f"Success! Created {path}\n")
    typer.echo("Next steps:")
    typer.echo(f"1. (Optional) Edit {path} to shape the cluster; every key is explained in it.")
    typer.echo("2. Run `kopsgen validate` to check it.")
    typer.echo("3. Run `kopsgen render` to generate the credentials, cloud-configs, kubeconfig "
               "and Terraform workspace.")


@app.command()
def render(
    part: Annotated[str | None, typer.Argument(
        help="credentials (credentials/, userdata/, kubeconfig) or stack (terraform/); "
             "default: both.", show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 with a diff if the workspace is stale.")] = False,
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Generate the workspace from cluster.yaml (only changed files are written)."""
    from kopsgen import core
    from kopsgen.workspace import notify_stderr

    root = _cluster_dir(cluster_dir)
    outcome = core.render(root, part)
    _print_problems(None, outcome.warnings)
    if check:
        result = core.check(root, outcome)
        if output is Output.json:
            typer.echo(json.dumps({
                "up_to_date": result.up_to_date,
                "changes": [{"path": e.path, "status": e.status.value}
                            for e in result.plan.entries if e.status.value in
                            ("created", "updated", "removed")],
            }, indent=2))
        elif result.up_to_date:
            typer.echo(f"{root}: up to date ({result.plan.summary()})")
        else:
            typer.echo(result.diff, nl=False)
            echo_err(f"{root}: workspace is stale -- would be {result.plan.summary()}; run "
                     "`kopsgen render`", kind="drift")
        if not result.up_to_date:
            raise typer.Exit(ExitCode.DRIFT)
        return
    for notice in outcome.notices:
        echo_err(notice, kind="notice")
    report = core.write(root, outcome, on_wait=notify_stderr)
    if output is Output.json:
        typer.echo(json.dumps({"files": [{"path": p, "status": st.value}
                                         for p, st in report.entries],
                               "notices": outcome.notices}, indent=2))
        return
    for path, status in report.entries:
        if status.value != "unchanged":
            typer.echo(f"  {status.value:<9} {path}")
    typer.echo(f"{root}: {report.summary()}")


@app.command()
def certs(
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show each certificate: subject, SANs, issuer, days left (kube-aws: show certificates)."""
    from kopsgen import core

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
    except SpecError as err:
        _print_problems(err, err.warnings)
        return err.exit_code
    except KopsgenError as err:
        for line in err.lines():
            echo_err(line)
        return err.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        echo_err("aborted")
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        echo_err("interrupted")
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
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if STATE.debug or "--debug" in (argv if argv is not None else sys.argv):
            traceback.print_exc()
        echo_err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                 "traceback, and please report it)")
        return ExitCode.INTERNAL
