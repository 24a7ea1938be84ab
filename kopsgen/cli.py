"""The kopsgen command line: thin commands over the core API.

Commands parse options, call the core and print; failures are :class:`KopsgenError`s that
:func:`main` turns into one line on stderr and a named exit code (see ``ExitCode``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from kopsgen import __version__, clihelp, console, core, initcmd
from kopsgen.clihelp import (
    EXAMPLES,
    AccountOpt,
    AwsOpt,
    DirOpt,
    NoRenderOpt,
    Output,
    OutputOpt,
    ProfileOpt,
    S3Opt,
    SandboxOpt,
    VerboseOpt,
    YesOpt,
)
from kopsgen.errors import AwsCheckError, ExitCode, SpecError, UsageError
from kopsgen.flows import apply as flows_apply
from kopsgen.flows import destroy as flows_destroy
from kopsgen.flows import etcd_backups as flows_etcd_backups
from kopsgen.flows import kubeconfig as flows_kubeconfig
from kopsgen.flows import plan as flows_plan
from kopsgen.flows import status as flows_status
from kopsgen.flows import upgrade as flows_upgrade
from kopsgen.flows import validate as flows_validate
from kopsgen.flows.credentials import push_credentials
from kopsgen.flows.session import Session
from kopsgen.initcmd import InitOptions
from kopsgen.spec import load_spec
from kopsgen.spec.raw import ClusterFile

app = typer.Typer(
    name="kopsgen",
    help="One cluster.yaml in, a reviewable Terraform workspace for Kubernetes on AWS out.",
    add_completion=False,
    cls=clihelp.OrderedGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False
    dir: Path | None = None


STATE = _State()



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


@app.command(epilog=EXAMPLES["version"])
def version(output: OutputOpt = Output.text) -> None:
    """Print the kopsgen version."""
    if output is Output.json:
        typer.echo(json.dumps({"version": __version__}))
    else:
        typer.echo(f"kopsgen {__version__}")




@app.command(epilog=EXAMPLES["validate"])
def validate(
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
    aws: AwsOpt = False,
    profile: ProfileOpt = None,
    expected_account: AccountOpt = None,
    s3_uri: S3Opt = None,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help="With --aws: check against the local AWS emulator (moto).")] = False,
) -> None:
    """Check cluster.yaml and print every problem.

    Exits 0 when it is valid, 3 when it is not; with --aws, 5 when the AWS checks fail.
    """
    path = _cluster_dir(cluster_dir) / "cluster.yaml"
    try:
        loaded = load_spec(path)
        # A rendered workspace: its control plane moves one minor at a time.
        core.check_control_plane_step(_cluster_dir(cluster_dir), loaded)
    except SpecError as err:
        if output is Output.json:
            typer.echo(json.dumps({
                "valid": False,
                "errors": [clihelp.problem_json(p) for p in err.problems],
                "warnings": [clihelp.problem_json(p) for p in err.warnings],
            }, indent=2))
            raise typer.Exit(err.exit_code) from None
        _print_problems(err, err.warnings)
        n = len(err.problems)
        echo_err(f"{path}: {n} error{'s' if n != 1 else ''}")
        raise typer.Exit(err.exit_code) from None
    if sandbox and not aws:
        raise UsageError("--sandbox checks against the emulator: use it with --aws")
    aws_problems = []
    if aws:
        aws_problems = flows_validate.aws_problems(
            _cluster_dir(cluster_dir), loaded.spec, say=_say, sandbox=sandbox, profile=profile,
            expected_account=expected_account, s3_uri=s3_uri)
    if output is Output.json:
        typer.echo(json.dumps({"valid": not aws_problems, "errors": [],
                               "warnings": [clihelp.problem_json(p) for p in loaded.warnings],
                               "aws": [clihelp.problem_json(p) for p in aws_problems]},
                              indent=2))
        if aws_problems:
            raise typer.Exit(ExitCode.AWS_CHECK_FAILED)
        return
    _print_problems(None, loaded.warnings)
    if aws_problems:
        n = len(aws_problems)
        where = "the sandbox's emulator" if sandbox else "the AWS account"
        raise AwsCheckError(f"{path}: {n} problem{'s' if n != 1 else ''} found in {where}",
                            problems=aws_problems)
    spec = loaded.spec
    pools = len(spec.node_pools)
    typer.echo(f"{path}: valid -- cluster {spec.cluster_name} ({spec.external_dns_name}) in "
               f"{spec.region}: {spec.controller.scaling.desired} controller(s), "
               f"{spec.etcd.count} etcd member(s), {pools} node pool{'s' if pools != 1 else ''}, "
               f"Kubernetes {spec.kubernetes_version}")
    if aws:
        typer.echo(f"AWS pre-flight: all checks passed in {spec.region}")


@app.command(epilog=EXAMPLES["schema"])
def schema(cluster_dir: DirOpt = None) -> None:
    """Print the JSON Schema of cluster.yaml (for editors).

    It does not depend on the cluster directory; -C is accepted as on every command.
    """
    del cluster_dir
    doc = ClusterFile.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


@app.command(epilog=EXAMPLES["init"])
def init(
    cluster_name: Annotated[str | None, typer.Option(
        help="Name of the cluster (required).")] = None,
    external_dns_name: Annotated[
        str | None, typer.Option(help="DNS name of the Kubernetes API (required).")] = None,
    region: Annotated[str | None, typer.Option(
        help="AWS region, e.g. us-east-1 (required).")] = None,
    availability_zone: Annotated[
        str | None, typer.Option(help="Single-AZ mode (default: two zones).")] = None,
    key_name: Annotated[str | None, typer.Option(help="Existing EC2 key pair.")] = None,
    kms_key_arn: Annotated[
        str | None, typer.Option(help="Existing KMS key (default: created).")] = None,
    hosted_zone_id: Annotated[
        str | None, typer.Option(help="Route53 zone; sets createRecordSet.")] = None,
    s3_uri: Annotated[str | None, typer.Option(help="s3://bucket/prefix for state.")] = None,
    ssh_access_cidr: Annotated[list[str] | None, typer.Option(
        help="Who may SSH to the nodes, e.g. 203.0.113.0/24 (repeatable; default: nobody).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing cluster.yaml.")]
    = False,
    cluster_dir: DirOpt = None,
) -> None:
    """Write a commented cluster.yaml to start a cluster.

    --cluster-name, --external-dns-name and --region are required.
    """
    opts = InitOptions(cluster_name, external_dns_name, region, availability_zone, key_name,
                       kms_key_arn, hosted_zone_id, s3_uri, tuple(ssh_access_cidr or ()))
    path = _cluster_dir(cluster_dir) / "cluster.yaml"
    initcmd.create(path, opts, force=force)
    typer.echo(f"Success! Created {path}\n")
    typer.echo("Next steps:")
    typer.echo(f"1. (Optional) Edit {path} to shape the cluster; every key is explained in it.")
    typer.echo("2. Run `kopsgen validate` to check it.")
    typer.echo("3. Run `kopsgen render` to generate the credentials, cloud-configs, kubeconfig "
               "and Terraform workspace.")


@app.command(epilog=EXAMPLES["render"])
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
    """Generate the workspace from cluster.yaml.

    Only changed files are written.
    """
    code = console.render_command(_cluster_dir(cluster_dir), part, check=check,
                                  json_output=output is Output.json)
    if code:
        raise typer.Exit(code)


@app.command(epilog=EXAMPLES["certs"])
def certs(
    cluster_dir: DirOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show each certificate and its days left.

    Subject, SANs, issuer, usages and expiry of every certificate (kube-aws: show
    certificates).
    """
    infos = core.certificates(_cluster_dir(cluster_dir))
    if output is Output.json:
        typer.echo(json.dumps([{
            "file": i.file, "subject": i.subject, "sans": list(i.sans), "issuer": i.issuer,
            "not_after": i.not_after.isoformat(), "days_left": i.days_left,
            "usages": list(i.usages)} for i in infos], indent=2))
        return
    for line in clihelp.certificate_lines(infos):
        typer.echo(line)




def _say(message: str) -> None:
    typer.echo(message, err=True)


def _session(cluster_dir, *, s3_uri=None, no_render=False, sandbox=False, verbose=False,
             profile=None, with_credentials=False, stop_sandbox=None) -> Session:
    session = Session(_cluster_dir(cluster_dir), say=_say, s3_uri=s3_uri, no_render=no_render,
                      sandbox=sandbox, verbose=verbose, profile=profile,
                      with_credentials=with_credentials, stop_sandbox=stop_sandbox,
                      warn=lambda warnings: _print_problems(None, warnings))
    return session


@app.command(epilog=EXAMPLES["plan"])
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
    """Show what up or update would change.

    Pre-flight, then terraform plan saved to terraform/kopsgen.tfplan, summarised per module.
    """
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


@app.command(epilog=EXAMPLES["up"])
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
    """Create the cluster.

    Pre-flight, plan, confirm, apply, upload credentials, wait until it is ready.
    """
    flows_apply.check_boot(boot, sandbox)
    with _session(cluster_dir, s3_uri=s3_uri, no_render=no_render, sandbox=sandbox,
                  verbose=verbose, profile=profile, with_credentials=True,
                  stop_sandbox=False) as session:
        outputs = flows_apply.up(session, confirm=lambda q: clihelp.confirm(q, yes=yes),
                                 out=typer.echo, expected_account=expected_account,
                                 wait=wait, timeout=timeout, boot=boot)
    for line in flows_apply.up_summary(session, outputs, boot=boot):
        typer.echo(line)


@app.command(epilog=EXAMPLES["update"])
def update(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    no_render: NoRenderOpt = False,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
    pool: Annotated[str | None, typer.Option(help="Change only this node pool.")] = None,
    expected_account: AccountOpt = None,
    boot: Annotated[bool, typer.Option(
        "--boot", help="With --sandbox: bring the booted machines in step with the emulator "
        "(new instances boot, gone ones power off).")] = False,
) -> None:
    """Apply cluster.yaml's changes to a running cluster.

    Changes every part of it, or one node pool with --pool.
    """
    flows_apply.check_boot(boot, sandbox)
    with _session(cluster_dir, s3_uri=s3_uri, no_render=no_render, sandbox=sandbox,
                  verbose=verbose, profile=profile, with_credentials=True,
                  stop_sandbox=False) as session:
        flows_apply.update(session, confirm=lambda q: clihelp.confirm(q, yes=yes), out=typer.echo,
                           pool=pool, boot=boot, expected_account=expected_account)


@app.command(epilog=EXAMPLES["upgrade"])
def upgrade(
    to: Annotated[str, typer.Option(
        "--to", help="The Kubernetes version to upgrade to, e.g. v1.35.0 (one minor up at "
        "most).", show_default=False)],
    cluster_dir: DirOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the edit of cluster.yaml; write nothing.")] = False,
) -> None:
    """Edit cluster.yaml for the next step of a Kubernetes upgrade.

    Step 1 moves the controllers to --to and pins the pools to the version they run; once
    that is applied, step 2 moves the pools. Prints the diff and what each step replaces.
    """
    step = flows_upgrade.plan_upgrade(_cluster_dir(cluster_dir), to)
    if step.step == 0:
        typer.echo(f"{step.path}: {step.replaces}")
        return
    typer.echo(step.diff, nl=False)
    typer.echo(step.replaces)
    if dry_run:
        typer.echo(f"dry run: {step.path} not written")
        return
    flows_upgrade.write_upgrade(step)
    typer.echo(f"wrote {step.path}")
    for line in step.next:
        typer.echo(line)


@app.command(epilog=EXAMPLES["status"])
def status(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show the cluster's state and health.

    Terraform outputs plus live facts: Auto Scaling groups and API health.
    """
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, stop_sandbox=False) as session:
        facts = flows_status.status(session)
    if output is Output.json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    for line in clihelp.status_lines(facts):
        typer.echo(line)


@app.command(epilog=EXAMPLES["destroy"])
def destroy(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    verbose: VerboseOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
    delete_etcd_data: Annotated[bool, typer.Option(
        "--delete-etcd-data", help="Also delete the etcd data volumes (kept by default).")] = False,
    expected_account: AccountOpt = None,
) -> None:
    """Destroy the cluster.

    Keeps the etcd data volumes (and their key) unless --delete-etcd-data.
    """
    with _session(cluster_dir, s3_uri=s3_uri, no_render=False, sandbox=sandbox,
                  verbose=verbose, profile=profile) as session:
        flows_destroy.destroy(
            session, delete_etcd_data=delete_etcd_data, out=typer.echo,
            expected_account=expected_account,
            confirm=lambda q: clihelp.confirm(q, yes=yes, expected=session.spec.cluster_name))


@app.command(epilog=EXAMPLES["kubeconfig"])
def kubeconfig(
    cluster_dir: DirOpt = None,
    install: Annotated[bool, typer.Option(
        "--install", help="Merge the cluster's context into ~/.kube/config (backed up first).")]
    = False,
) -> None:
    """Print the admin kubeconfig's path, or install it.

    --install merges its context into ~/.kube/config.
    """
    root = _cluster_dir(cluster_dir)
    if not install:
        typer.echo(str(flows_kubeconfig.kubeconfig_path(root).resolve()))
        return
    name, target, backup = flows_kubeconfig.install(root)
    typer.echo(f"context {name} merged into {target}"
               + (f" (previous file saved as {backup})" if backup else ""))
    typer.echo(f"use it: kubectl config use-context {name}")


credentials_app = typer.Typer(help="Deliver credentials to the cluster's S3 location.",
                              epilog=EXAMPLES["credentials"], no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")


@credentials_app.command("push", epilog=EXAMPLES["credentials push"])
def credentials_push(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
    expected_account: AccountOpt = None,
) -> None:
    """Upload the changed credentials to S3.

    Uploads each role's credentials (SSE-KMS), only those whose fingerprint changed.
    """
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, with_credentials=True, stop_sandbox=False) as session:
        uploaded = push_credentials(session, expected_account=expected_account)
    for url in uploaded:
        typer.echo(f"uploaded {url}")
    typer.echo(f"{len(uploaded)} file(s) uploaded" if uploaded else "credentials unchanged")


etcd_app = typer.Typer(help="etcd backups and restore (docs/etcd.md).",
                       epilog=EXAMPLES["etcd"], no_args_is_help=True)
app.add_typer(etcd_app, name="etcd")


@etcd_app.command("backups", epilog=EXAMPLES["etcd backups"])
def etcd_backups(
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """List the etcd snapshots in the cluster's S3 prefix, newest first.

    Each with its time (UTC), the member that took it, its size and SHA-256, and the
    etcd.restore.snapshot line that restores it.
    """
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, stop_sandbox=False) as session:
        where, backups = flows_etcd_backups.list_backups(session)
    if not backups:
        typer.echo(f"no etcd snapshots in {where}")
        return
    typer.echo(f"{len(backups)} etcd snapshot(s) in {where}, newest first:")
    for b in backups:
        typer.echo(f"{b.time}  {b.member:<8} {b.size:>12} bytes  sha256 {b.sha256}")
        typer.echo(f"    {b.restore_line}")


@etcd_app.command("restore", epilog=EXAMPLES["etcd restore"])
def etcd_restore(
    snapshot: Annotated[str, typer.Argument(
        help="A key as `kopsgen etcd backups` lists it: backups/etcd/<time>-<member>-<sha256>.db.")],
    cluster_dir: DirOpt = None,
    s3_uri: S3Opt = None,
    sandbox: SandboxOpt = False,
    profile: ProfileOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show the edit of cluster.yaml without writing it.")] = False,
) -> None:
    """Set etcd.restore.snapshot in cluster.yaml to SNAPSHOT (which must exist).

    Changes only cluster.yaml; `kopsgen plan` then shows what the restore replaces (every
    etcd member and its data volume) and `kopsgen update` does it.
    """
    with _session(cluster_dir, s3_uri=s3_uri, no_render=True, sandbox=sandbox,
                  profile=profile, stop_sandbox=False) as session:
        edit = flows_etcd_backups.set_restore(session, snapshot, dry_run=dry_run)
    if edit.unchanged:
        typer.echo(f"{edit.path} already has etcd.restore.snapshot: {snapshot}")
        return
    typer.echo(edit.diff, nl=False)
    if edit.written:
        typer.echo(f"{edit.path}: etcd.restore.snapshot set; `kopsgen plan` shows what it replaces "
                   "(every etcd member and its data volume), `kopsgen update` restores")
    else:
        typer.echo(f"--dry-run: {edit.path} is unchanged")


@app.command(epilog=EXAMPLES["completion"])
def completion(
    ctx: typer.Context,
    shell: Annotated[clihelp.Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    typer.echo(clihelp.completion_script(ctx.find_root().command, shell.value))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and map every failure to a named exit code."""
    code = run(argv)
    sys.exit(int(code))


def run(argv: list[str] | None = None) -> ExitCode | int:
    instruction = os.environ.get(clihelp.COMPLETE_VAR)
    if instruction:  # a completion script asking (argv is empty then)
        return clihelp.answer_completion(typer.main.get_command(app), instruction)
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
        message = clihelp.usage_message(exc)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help(), err=True)
            return ExitCode.USAGE
        echo_err(f"{message} (see `{command} --help`)")
        return ExitCode.USAGE
    except (KeyboardInterrupt, Exception) as exc:  # ours, Ctrl-C, BrokenPipe, bugs
        debug = STATE.debug or "--debug" in (argv if argv is not None else sys.argv)
        return console.failure_code(exc, debug=debug)
