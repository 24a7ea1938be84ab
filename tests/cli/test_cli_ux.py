"""The command line a newcomer expects (issue 14): help with examples in workflow order,
shell completion, the same options wherever they apply, messages that say what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest
import typer

from kopsgen import cli as kcli
from kopsgen import clihelp
from kopsgen.errors import ExitCode, KopsgenError

REPO = Path(__file__).resolve().parents[2]
INIT = ["init", "--cluster-name", "k8s", "--external-dns-name", "k8s.example.com",
        "--region", "us-east-1"]
WORKFLOW = ["init", "validate", "render", "plan", "up", "update", "upgrade", "status", "destroy",
            "certs", "kubeconfig", "credentials", "etcd", "schema", "completion", "version"]


def _commands(command=None, path=()):
    """Every command of the click tree, as its argv path (groups too)."""
    command = command or typer.main.get_command(kcli.app)
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_every_command_has_examples_and_the_listing_follows_the_workflow(cli):
    """Before: no examples anywhere, commands listed in source order (version first) with
    summaries cut off ("print every problem (exit 0...")."""
    for path, _ in _commands():
        r = cli(*path, "--help")
        assert r.code == ExitCode.OK, (path, r.err)
        assert "\n  Examples:\n    " in r.out, (path, r.out)
    r = cli("--help")
    listing = r.out.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing if line.strip()] == WORKFLOW
    assert not any(line.rstrip().endswith("...") for line in listing), listing


def test_init_help_marks_the_required_flags_and_force_has_no_negative_twin(cli):
    out = cli("init", "--help").out
    for flag in ("--cluster-name", "--external-dns-name", "--region"):
        (line,) = [ln for ln in out.splitlines() if ln.strip().startswith(flag + " <str>")]
        assert "(required)" in line, line
    assert "--force" in out and "--no-force" not in out
    assert "--ssh-access-cidr" in out
    assert "--wait / --no-wait" in cli("up", "--help").out  # meaningful: kept
    assert "Output format: text (for people) or json (for scripts)." in \
        " ".join(cli("version", "--help").out.split())


def test_the_same_aws_options_on_every_aws_command(cli):
    """Before: --expected-account only on validate, plan and up; no --sandbox on
    validate."""
    aws_commands = {("validate",), ("plan",), ("up",), ("update",), ("status",),
                    ("destroy",), ("credentials", "push"), ("etcd", "backups"), ("etcd", "restore")}
    # status and etcd backups only read; etcd restore reads S3 and changes only cluster.yaml.
    changes = aws_commands - {("status",), ("etcd", "backups"), ("etcd", "restore")}
    found = set()
    for path, command in _commands():
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        if "--profile" in opts or "--sandbox" in opts:
            found.add(path)
            assert {"--profile", "--s3-uri", "--sandbox"} <= opts, path
            if path in changes:
                assert "--expected-account" in opts, path
    assert found == aws_commands


def _completion_wrapper(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "kopsgen"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m kopsgen \"$@\"\n")
    wrapper.chmod(0o755)
    return bin_dir


def test_bash_completes_commands_from_the_printed_script(cli, tmp_path):
    """Before: there was no way to get a completion script, and a completion request
    (_KOPSGEN_COMPLETE=...) was answered "Shell source not supported"."""
    bash = helpers.require_tool("bash")
    r = cli("completion", "bash")
    assert r.code == ExitCode.OK and "complete -o default -F _kopsgen_completion kopsgen" in r.out
    script = tmp_path / "kopsgen.bash"
    script.write_text(r.out)
    env = dict(os.environ, PATH=f"{_completion_wrapper(tmp_path)}:{os.environ['PATH']}",
               PYTHONPATH=str(REPO))

    def complete(*words: str) -> list[str]:
        words_sh = " ".join(f"'{w}'" for w in words)
        proc = subprocess.run(
            [bash, "--norc", "--noprofile", "-c",
             f'source {script}; COMP_WORDS=({words_sh}); COMP_CWORD={len(words) - 1}; '
             '_kopsgen_completion kopsgen; printf "%s\\n" "${COMPREPLY[@]}"'],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert complete("kopsgen", "up") == ["up", "update", "upgrade"]
    assert complete("kopsgen", "destroy", "--de") == ["--delete-etcd-data"]
    for shell in ("zsh", "fish"):
        r = cli("completion", shell)
        assert r.code == ExitCode.OK and "_KOPSGEN_COMPLETE" in r.out


def test_a_wrong_name_at_the_destroy_prompt_is_a_declined_confirmation(monkeypatch):
    """Before: exit 2 (USAGE, "bad command line") for an answer typed at a prompt."""
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(typer, "prompt", lambda *a, **k: "k9s")
    with pytest.raises(KopsgenError) as err:
        clihelp.confirm("Type the cluster's name", yes=False, expected="k8s")
    assert err.value.exit_code == ExitCode.INTERRUPTED
    assert err.value.message == "you typed 'k9s', not 'k8s'; nothing was destroyed"


def test_a_bad_output_format_lists_the_valid_ones(cli):
    r = cli("version", "-o", "yaml")
    assert r.code == ExitCode.USAGE
    assert r.err == ("error: invalid value for -o/--output: use one of text, json "
                     "(see `kopsgen version --help`)\n")


def test_schema_takes_dir_as_every_command_does(cli, tmp_path):
    r = cli("schema", "-C", str(tmp_path))
    assert r.code == ExitCode.OK and r.out.startswith("{")


def test_the_status_api_line_has_no_nested_parentheses():
    facts = {"cluster": "k8s", "api_endpoint": "https://k8s.example.com", "load_balancer": "lb",
             "api": {"healthy": None,
                     "detail": "not checked in the sandbox (no real nodes boot)"},
             "groups": {}}
    api = clihelp.status_lines(facts)[1]
    assert api == ("API             https://k8s.example.com  unknown: not checked in the "
                   "sandbox (no real nodes boot)")


def test_init_names_the_flag_and_the_limit_of_a_too_long_cluster_name(cli, tmp_path):
    args = list(INIT)
    args[2] = "a" * 30
    r = cli(*args)
    assert r.code == ExitCode.INVALID_SPEC
    assert r.err.startswith(f"init options: --cluster-name: '{'a' * 30}' is 30 characters; "
                            "at most 20 "), r.err
    assert list(tmp_path.iterdir()) == []


def test_init_with_a_key_and_an_ssh_range_writes_a_file_that_validates_quietly(cli, tmp_path):
    """Before: `init --key-name` wrote a file whose first validate warned that nobody may
    SSH to the nodes, and init had no flag to say who may."""
    r = cli(*INIT, "--key-name", "ops", "--ssh-access-cidr", "203.0.113.0/24")
    assert r.code == ExitCode.OK, r.err
    assert 'sshAccessAllowedSourceCIDRs:\n  - "203.0.113.0/24"\n\n' in \
        (tmp_path / "cluster.yaml").read_text()
    r = cli("validate")
    assert r.code == ExitCode.OK and r.err == "", r.err
    r = cli(*INIT, "--force", "--ssh-access-cidr", "nope")
    assert r.code == ExitCode.INVALID_SPEC
    assert r.err.startswith("init options: --ssh-access-cidr: 'nope' is not a CIDR"), r.err


def test_validate_sandbox_needs_aws(cli, tmp_path):
    assert cli(*INIT).code == ExitCode.OK
    r = cli("validate", "--sandbox")
    assert r.code == ExitCode.USAGE
    assert "use it with --aws" in r.err


@pytest.mark.slow
def test_validate_aws_sandbox_checks_against_the_emulator(cli, tmp_path):
    """Before: validate --aws had no --sandbox, and its failure ended "nothing was created"
    (validate creates nothing either way)."""
    pytest.importorskip("moto.server")
    assert cli(*INIT).code == ExitCode.OK
    r = cli("validate", "--aws", "--sandbox")
    assert r.code == ExitCode.OK, r.err
    assert r.out.endswith("AWS pre-flight: all checks passed in us-east-1\n")
    assert r.err.startswith("sandbox: AWS emulator on http://127.0.0.1:")
    r = cli("validate", "--aws", "--sandbox", "--expected-account", "111111111111")
    assert r.code == ExitCode.AWS_CHECK_FAILED
    assert "not the expected account 111111111111" in r.err
    assert r.err.endswith("cluster.yaml: 1 problem found in the sandbox's emulator\n"), r.err
    assert not (tmp_path / ".kopsgen" / "sandbox" / "server.json").exists()  # stopped again
