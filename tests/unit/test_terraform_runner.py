"""The terraform runner against a fake terraform (tests/fakes/terraform): exact argv and
environment, output parsing, error text, Ctrl-C forwarding, and the plan summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import helpers
import pytest

from kopsgen.errors import ExitCode, KopsgenError, TerraformError
from kopsgen.terraform import (
    Counts,
    Interrupted,
    ProgressEvent,
    Terraform,
    TerraformFailed,
    error_text,
    find_plugin_mirror,
    find_terraform,
    parse_duration,
    parse_progress,
    summarize_plan,
    terraform_env,
)
from kopsgen.terraform import env as tf_env

FAKES = helpers.REPO / "tests" / "fakes"
FAKE_VARS = ("FAKE_TF_STDOUT", "FAKE_TF_STDERR", "FAKE_TF_EXIT", "FAKE_TF_SLEEP", "FAKE_TF_GRACE")


@dataclass
class Fake:
    record: Path
    workdir: Path

    def events(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def runs(self) -> list[dict]:
        return [e for e in self.events() if e["event"] == "start"]

    def last(self) -> dict:
        runs = self.runs()
        assert runs, "the fake terraform never ran"
        return runs[-1]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("FAKE_TF_RECORD", str(record))
    for name in (*FAKE_VARS, "KOPSGEN_TERRAFORM", "KOPSGEN_TF_PLUGIN_MIRROR", "TF_CLI_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # No provider mirror unless a test makes one: the machine's /opt/tf-plugins must not leak in.
    monkeypatch.setattr(tf_env, "MIRROR_ROOTS", ())
    workdir = tmp_path / "terraform"
    workdir.mkdir()
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    return Fake(record, workdir)


def make_mirror(root: Path) -> Path:
    plugin = root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    plugin.mkdir(parents=True)
    (plugin / "terraform-provider-aws_v5.100.0_x5").write_text("")
    return root


# --- finding terraform --------------------------------------------------------------------------


def test_find_terraform_missing_is_a_clear_error(tmp_path: Path):
    with pytest.raises(TerraformError) as err:
        find_terraform({"PATH": str(tmp_path)})
    assert err.value.message == "terraform not found on PATH; install Terraform >= 1.10"
    assert err.value.exit_code == ExitCode.TERRAFORM_FAILED


def test_find_terraform_prefers_kopsgen_terraform(fake: Fake, tmp_path: Path):
    assert find_terraform() == str(FAKES / "terraform")
    other = tmp_path / "bin" / "tf-1.11"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert find_terraform({"PATH": "", "KOPSGEN_TERRAFORM": str(other)}) == str(other)
    with pytest.raises(TerraformError, match="KOPSGEN_TERRAFORM=.*nope is not an executable"):
        find_terraform({"PATH": "", "KOPSGEN_TERRAFORM": str(tmp_path / "nope")})


def test_missing_workdir_is_an_error_not_a_crash(fake: Fake, tmp_path: Path):
    with pytest.raises(TerraformError, match="does not exist"):
        Terraform(tmp_path / "absent").init()
    assert fake.runs() == []


# --- argv ---------------------------------------------------------------------------------------

VALID = json.dumps({"format_version": "1.0", "valid": True, "error_count": 0, "diagnostics": []})

ARGV_CASES = [
    ("init", lambda tf, p: tf.init(), "", 0, ["init", "-input=false", "-no-color"]),
    ("init-backend", lambda tf, p: tf.init({"key": "k8s/terraform.tfstate", "bucket": "b"}, upgrade=True), "", 0,
     ["init", "-input=false", "-no-color", "-upgrade", "-backend-config=bucket=b",
      "-backend-config=key=k8s/terraform.tfstate"]),
    ("validate", lambda tf, p: tf.validate(), VALID, 0, ["validate", "-json", "-no-color"]),
    ("fmt", lambda tf, p: tf.fmt_check(), "", 0, ["fmt", "-check", "-list=true", "-recursive", "-no-color"]),
    ("plan", lambda tf, p: tf.plan(p), "", 0,
     ["plan", "-input=false", "-no-color", "-out={plan}", "-detailed-exitcode"]),
    ("plan-destroy-targets", lambda tf, p: tf.plan(p, targets=["module.controllers", 'module.pool["a"]'], destroy=True),
     "", 2, ["plan", "-input=false", "-no-color", "-out={plan}", "-detailed-exitcode", "-destroy",
             "-target=module.controllers", '-target=module.pool["a"]']),
    ("plan-not-detailed", lambda tf, p: tf.plan(p, detailed=False), "", 0,
     ["plan", "-input=false", "-no-color", "-out={plan}"]),
    ("show-state", lambda tf, p: tf.show_json(), "{}", 0, ["show", "-json", "-no-color"]),
    ("show-plan", lambda tf, p: tf.show_json(p), "{}", 0, ["show", "-json", "-no-color", "{plan}"]),
    ("apply", lambda tf, p: tf.apply(p), "", 0, ["apply", "-input=false", "-no-color", "{plan}"]),
    ("destroy", lambda tf, p: tf.destroy(), "", 0, ["destroy", "-input=false", "-no-color", "-auto-approve"]),
    ("destroy-targets", lambda tf, p: tf.destroy(targets=["module.etcd"], auto_approve=False), "", 0,
     ["destroy", "-input=false", "-no-color", "-target=module.etcd"]),
    ("output", lambda tf, p: tf.output_json(), "{}", 0, ["output", "-json", "-no-color"]),
    ("state-list", lambda tf, p: tf.state_list(), "", 0, ["state", "list", "-no-color"]),
    ("state-rm", lambda tf, p: tf.state_rm(["aws_instance.a", 'module.pool["b"].aws_eip.this']), "", 0,
     ["state", "rm", "-no-color", "aws_instance.a", 'module.pool["b"].aws_eip.this']),
]


@pytest.mark.parametrize(("call", "stdout", "code", "expected"),
                         [c[1:] for c in ARGV_CASES], ids=[c[0] for c in ARGV_CASES])
def test_exact_argv(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, call, stdout, code, expected):
    monkeypatch.setenv("FAKE_TF_STDOUT", stdout)
    monkeypatch.setenv("FAKE_TF_EXIT", str(code))
    monkeypatch.chdir(tmp_path)
    call(Terraform(fake.workdir), Path("out.tfplan"))  # relative to the caller, not to workdir
    run = fake.last()
    plan = str(tmp_path / "out.tfplan")
    assert run["argv"] == [arg.replace("{plan}", plan) for arg in expected]
    assert run["cwd"] == str(fake.workdir)
    assert run["own_process_group"] is True
    assert run["stdin_is_tty"] is False
    assert len(fake.runs()) == 1


def test_state_rm_of_nothing_runs_nothing(fake: Fake):
    Terraform(fake.workdir).state_rm([])
    assert fake.runs() == []


# --- results ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "changes"), [(0, False), (2, True)])
def test_plan_detailed_exit_code(fake: Fake, monkeypatch: pytest.MonkeyPatch, code: int, changes: bool):
    monkeypatch.setenv("FAKE_TF_EXIT", str(code))
    assert Terraform(fake.workdir).plan(fake.workdir / "p") is changes


def test_plan_exit_1_is_an_error(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    monkeypatch.setenv("FAKE_TF_STDERR", "\nError: No valid credential sources found\n\nPlease see docs.\n")
    with pytest.raises(TerraformFailed) as err:
        Terraform(fake.workdir).plan(fake.workdir / "p")
    assert err.value.message == "terraform plan failed (exit 1)"
    assert err.value.lines()[1:] == ["Error: No valid credential sources found", "", "Please see docs."]


@pytest.mark.parametrize(("stdout", "changes"), [
    ("No changes. Your infrastructure matches the configuration.\n", False),
    ("Plan: 1 to add, 0 to change, 0 to destroy.\n", True),
])
def test_plan_without_detailed_exit_code_reads_the_output(fake: Fake, monkeypatch: pytest.MonkeyPatch,
                                                          stdout: str, changes: bool):
    monkeypatch.setenv("FAKE_TF_STDOUT", stdout)
    assert Terraform(fake.workdir).plan(fake.workdir / "p", detailed=False) is changes


def test_json_results(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    doc = {"api_endpoint": {"sensitive": False, "type": "string", "value": "https://k8s.example.com"}}
    monkeypatch.setenv("FAKE_TF_STDOUT", json.dumps(doc, indent=2) + "\n")
    tf = Terraform(fake.workdir)
    assert tf.output_json() == doc
    assert tf.show_json() == doc
    monkeypatch.setenv("FAKE_TF_STDOUT", "not json\n")
    with pytest.raises(TerraformError, match="terraform output printed invalid JSON"):
        Terraform(fake.workdir).output_json()


def test_validate_returns_an_invalid_result(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    doc = {"format_version": "1.0", "valid": False, "error_count": 1,
           "diagnostics": [{"severity": "error", "summary": "Unsupported argument"}]}
    monkeypatch.setenv("FAKE_TF_STDOUT", json.dumps(doc))
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    assert Terraform(fake.workdir).validate() == doc
    monkeypatch.setenv("FAKE_TF_STDOUT", "")
    monkeypatch.setenv("FAKE_TF_STDERR", "Error: Failed to load plugin schemas\n")
    with pytest.raises(TerraformFailed) as err:
        Terraform(fake.workdir).validate()
    assert err.value.lines() == ["terraform validate failed (exit 1)", "Error: Failed to load plugin schemas"]


def test_fmt_check_lists_files(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_TF_STDOUT", "main.tf\nmodules/etcd/main.tf\n")
    monkeypatch.setenv("FAKE_TF_EXIT", "3")
    assert Terraform(fake.workdir).fmt_check() == ["main.tf", "modules/etcd/main.tf"]
    monkeypatch.setenv("FAKE_TF_EXIT", "2")
    with pytest.raises(TerraformFailed, match=r"terraform fmt failed \(exit 2\)"):
        Terraform(fake.workdir).fmt_check()


def test_state_list(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_TF_STDOUT", "aws_vpc.this\nmodule.etcd.aws_instance.member[0]\n")
    assert Terraform(fake.workdir).state_list() == ["aws_vpc.this", "module.etcd.aws_instance.member[0]"]
    monkeypatch.setenv("FAKE_TF_STDOUT", "")
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    monkeypatch.setenv("FAKE_TF_STDERR", "No state file was found!\n\nState management commands require...\n")
    assert Terraform(fake.workdir).state_list() == []
    monkeypatch.setenv("FAKE_TF_STDERR", "Error: Error acquiring the state lock\n")
    with pytest.raises(TerraformFailed, match=r"terraform state list failed \(exit 1\)"):
        Terraform(fake.workdir).state_list()


# --- environment --------------------------------------------------------------------------------


def test_env_always_sets_automation_flags_and_leaves_cli_config_alone_without_mirror(fake: Fake):
    Terraform(fake.workdir).init()
    assert fake.last()["env"] == {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0",
                                  "TF_CLI_CONFIG_FILE": None}
    assert not (fake.workdir / ".terraform" / "kopsgen.tfrc").exists()


def test_env_writes_mirror_cli_config(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    hcl2 = helpers.require_module("hcl2")
    mirror = make_mirror(tmp_path / "opt" / "tf-plugins")
    monkeypatch.setattr(tf_env, "MIRROR_ROOTS", (tmp_path / "empty", tmp_path / "opt"))
    # Set but pointing nowhere (as on many CI images): still ours to replace.
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "home" / ".terraformrc"))
    Terraform(fake.workdir).init()
    run = fake.last()
    config = fake.workdir / ".terraform" / "kopsgen.tfrc"
    assert run["env"]["TF_CLI_CONFIG_FILE"] == str(config)
    assert run["cli_config"] == config.read_text()
    (install,) = hcl2.loads(run["cli_config"])["provider_installation"]
    (mirror_block,) = install["filesystem_mirror"]
    (direct,) = install["direct"]
    assert mirror_block["path"].strip('"') == str(mirror)
    assert [p.strip('"') for p in mirror_block["include"]] == ["registry.terraform.io/hashicorp/aws"]
    assert [p.strip('"') for p in direct["exclude"]] == ["registry.terraform.io/hashicorp/aws"]


@pytest.mark.parametrize("how", ["TF_CLI_CONFIG_FILE", "~/.terraformrc"])
def test_env_keeps_the_users_cli_config(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str):
    monkeypatch.setenv("KOPSGEN_TF_PLUGIN_MIRROR", str(make_mirror(tmp_path / "mirror")))
    user = tmp_path / "home" / ".terraformrc"
    user.parent.mkdir()
    user.write_text('credentials "app.terraform.io" {}\n')
    if how == "TF_CLI_CONFIG_FILE":
        user = user.rename(tmp_path / "my.tfrc")
        monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(user))
    Terraform(fake.workdir).init()
    expected = str(user) if how == "TF_CLI_CONFIG_FILE" else None
    assert fake.last()["env"]["TF_CLI_CONFIG_FILE"] == expected
    assert not (fake.workdir / ".terraform" / "kopsgen.tfrc").exists()


def test_terraform_env_is_pure_apart_from_the_config_file(tmp_path: Path):
    base = {"PATH": "/bin", "TF_LOG": "DEBUG", "HOME": str(tmp_path)}
    env = terraform_env(base, plugin_mirror=None, cli_config_dir=tmp_path / "cfg")
    assert env == {**base, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"}
    assert base == {"PATH": "/bin", "TF_LOG": "DEBUG", "HOME": str(tmp_path)}
    assert not (tmp_path / "cfg").exists()
    # An empty mirror installs nothing: leave the registry alone.
    empty = tmp_path / "tf-plugins"
    empty.mkdir()
    assert "TF_CLI_CONFIG_FILE" not in terraform_env(base, plugin_mirror=empty, cli_config_dir=tmp_path / "c")


def test_mirror_named_explicitly_must_exist(tmp_path: Path):
    assert find_plugin_mirror({"KOPSGEN_TF_PLUGIN_MIRROR": str(tmp_path)}, roots=()) == tmp_path
    with pytest.raises(TerraformError, match="KOPSGEN_TF_PLUGIN_MIRROR=.* is not a directory"):
        find_plugin_mirror({"KOPSGEN_TF_PLUGIN_MIRROR": str(tmp_path / "nope")}, roots=())
    assert find_plugin_mirror({}, roots=(tmp_path,)) is None
    (tmp_path / "tf-plugins").mkdir()
    assert find_plugin_mirror({}, roots=(tmp_path / "x", tmp_path)) == tmp_path / "tf-plugins"


# --- needs_init ---------------------------------------------------------------------------------


def test_needs_init(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    tf = Terraform(fake.workdir)
    assert tf.needs_init()
    tf.init()
    assert not tf.needs_init()
    (fake.workdir / "main.tf").write_text('module "etcd" {\n  source = "./modules/etcd"\n}\n')
    assert tf.needs_init()
    tf.init()
    assert not tf.needs_init()
    (fake.workdir / ".terraform.lock.hcl").write_text('provider "registry.terraform.io/hashicorp/aws" {}\n')
    assert tf.needs_init()
    tf.init({"bucket": "b"})
    assert not tf.needs_init({"bucket": "b"})
    assert tf.needs_init({"bucket": "other"})
    assert tf.needs_init()
    # Files terraform itself writes under .terraform/ do not count.
    (fake.workdir / ".terraform" / "modules").mkdir()
    (fake.workdir / ".terraform" / "modules" / "x.tf").write_text("")
    assert not tf.needs_init({"bucket": "b"})
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    with pytest.raises(TerraformFailed):
        Terraform(fake.workdir).init({"bucket": "b"})
    assert tf.needs_init({"bucket": "b"})


# --- output: errors, progress, verbose ---------------------------------------------------------

ERROR_OUTPUT = """\

Warning: Argument is deprecated

  with module.network.aws_eip.nat,
  on modules/network/main.tf line 40:

Use domain instead.

Error: creating EC2 Instance: operation error EC2: RunInstances, InvalidAMIID.NotFound

  with module.controllers.aws_instance.this[0],
  on modules/controllers/main.tf line 12, in resource "aws_instance" "this":
  12: resource "aws_instance" "this" {



Error: execution halted

Error: execution halted

"""


def test_error_text_is_terraforms_own(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_TF_STDOUT", "module.controllers.aws_instance.this[0]: Creating...\n")
    monkeypatch.setenv("FAKE_TF_STDERR", ERROR_OUTPUT)
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    with pytest.raises(TerraformError) as err:
        Terraform(fake.workdir).apply(fake.workdir / "p")
    assert str(err.value) == "terraform apply failed (exit 1)"
    assert err.value.exit_code == ExitCode.TERRAFORM_FAILED
    assert err.value.lines() == [
        "terraform apply failed (exit 1)",
        "Error: creating EC2 Instance: operation error EC2: RunInstances, InvalidAMIID.NotFound",
        "",
        "  with module.controllers.aws_instance.this[0],",
        '  on modules/controllers/main.tf line 12, in resource "aws_instance" "this":',
        '  12: resource "aws_instance" "this" {',
        "",
        "Error: execution halted",
    ]


def test_error_text_without_diagnostics_keeps_the_last_lines():
    crash = ["panic: runtime error: invalid memory address", *[f"goroutine {i}" for i in range(20)], ""]
    assert error_text(crash) == [f"goroutine {i}" for i in range(10, 20)]
    boxed = ["╷", "│ Error: Invalid reference", "│ ", "│   on main.tf line 2:", "╵"]
    assert error_text(boxed) == ["Error: Invalid reference", "", "  on main.tf line 2:"]


APPLY_OUTPUT = """\
module.network.aws_vpc.this: Creating...
data.aws_ami.flatcar: Reading...
data.aws_ami.flatcar: Read complete after 1s [id=ami-0abc]
module.network.aws_vpc.this: Creation complete after 2s [id=vpc-0123]
module.pool["workers"].aws_launch_template.this: Modifying... [id=lt-1]
module.pool["workers"].aws_launch_template.this: Modifications complete after 1s [id=lt-1]
module.etcd.aws_instance.member[0]: Creating...
module.etcd.aws_instance.member[0]: Provisioning with 'local-exec'...
module.etcd.aws_instance.member[0] (local-exec): Executing: ["/bin/sh" "-c" "true"]
module.etcd.aws_instance.member[0]: Still creating... [10s elapsed]
module.etcd.aws_instance.member[0]: Still creating... [1m0s elapsed]
module.etcd.aws_instance.member[0]: Creation complete after 1m2s [id=i-0abc]
module.controllers.aws_instance.this (deposed object 6a1e2b3c): Destroying... [id=i-0old]
module.controllers.aws_instance.this (deposed object 6a1e2b3c): Still destroying... [id=i-0old, 20s elapsed]
module.controllers.aws_instance.this (deposed object 6a1e2b3c): Destruction complete after 31s

Apply complete! Resources: 2 added, 1 changed, 1 destroyed.

Outputs:

api_endpoint = "https://k8s.example.com"
"""


def test_progress_events_from_apply_output(fake: Fake, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("FAKE_TF_STDOUT", APPLY_OUTPUT)
    events: list[ProgressEvent] = []
    threads: set[str] = set()

    def out(event: ProgressEvent) -> None:
        events.append(event)
        threads.add(threading.current_thread().name)

    summary = Terraform(fake.workdir, out=out).apply(fake.workdir / "p")
    got = [(e.kind, e.address, e.elapsed, e.action) for e in events]
    assert got == [
        ("creating", "module.network.aws_vpc.this", None, ""),
        ("reading", "data.aws_ami.flatcar", None, ""),
        ("read", "data.aws_ami.flatcar", 1.0, ""),
        ("created", "module.network.aws_vpc.this", 2.0, ""),
        ("modifying", 'module.pool["workers"].aws_launch_template.this', None, ""),
        ("modified", 'module.pool["workers"].aws_launch_template.this', 1.0, ""),
        ("creating", "module.etcd.aws_instance.member[0]", None, ""),
        ("still", "module.etcd.aws_instance.member[0]", 10.0, "creating"),
        ("still", "module.etcd.aws_instance.member[0]", 60.0, "creating"),
        ("created", "module.etcd.aws_instance.member[0]", 62.0, ""),
        ("destroying", "module.controllers.aws_instance.this", None, ""),
        ("still", "module.controllers.aws_instance.this", 20.0, "destroying"),
        ("destroyed", "module.controllers.aws_instance.this", 31.0, ""),
        ("complete", "", None, ""),
    ]
    assert sum(e.done for e in events) == 4
    assert summary == events[-1]
    assert (summary.added, summary.changed, summary.destroyed) == (2, 1, 1)
    assert str(events[3]) == "module.network.aws_vpc.this: created (2s)"
    assert threads == {"MainThread"}  # callbacks run in the caller's thread, never a reader's
    assert capsys.readouterr() == ("", "")  # quiet unless verbose


@pytest.mark.parametrize(("line", "expected"), [
    ("Plan: 3 to add, 1 to change, 2 to destroy.", ProgressEvent("plan", added=3, changed=1, destroyed=2)),
    ("Destroy complete! Resources: 7 destroyed.", ProgressEvent("complete", destroyed=7)),
    ("Apply complete! Resources: 1 imported, 0 added, 0 changed, 0 destroyed.", ProgressEvent("complete")),
    ("No changes. Your infrastructure matches the configuration.", ProgressEvent("no_changes")),
    ("aws_instance.a: Creation errored after 5s", ProgressEvent("failed", "aws_instance.a", 5.0)),
    ("aws_vpc.this: Refreshing state... [id=vpc-1]", ProgressEvent("refreshing", "aws_vpc.this")),
    ('aws_s3_object.o["a: b"]: Creating...', ProgressEvent("creating", 'aws_s3_object.o["a: b"]')),
    ("Terraform will perform the following actions:", None),
    ("  # aws_instance.a will be created", None),
    ("aws_instance.a (local-exec): Creating... a file", None),
])
def test_parse_progress(line: str, expected: ProgressEvent | None):
    event = parse_progress(line)
    if expected is None:
        assert event is None
    else:
        assert event == ProgressEvent(**{**expected.__dict__, "line": line})


@pytest.mark.parametrize(("text", "seconds"), [
    ("0s", 0), ("2s", 2), ("1m30s", 90), ("1h0m5s", 3605), ("1.5s", 1.5), ("", None), ("soon", None),
])
def test_parse_duration(text: str, seconds: float | None):
    assert parse_duration(text) == seconds


def test_verbose_streams_terraform_output_unchanged(fake: Fake, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("FAKE_TF_STDOUT", APPLY_OUTPUT)
    monkeypatch.setenv("FAKE_TF_STDERR", "Warning: something\n")
    events: list[ProgressEvent] = []
    Terraform(fake.workdir, verbose=True, out=events.append).apply(fake.workdir / "p")
    assert capsys.readouterr() == (APPLY_OUTPUT, "Warning: something\n")
    assert len(events) == 14
    # Machine-readable stdout is data: never echoed, even when verbose.
    monkeypatch.setenv("FAKE_TF_STDOUT", '{"x": {"value": 1}}\n')
    assert Terraform(fake.workdir, verbose=True).output_json() == {"x": {"value": 1}}
    assert capsys.readouterr() == ("", "Warning: something\n")


def test_callback_failure_stops_terraform_gently(fake: Fake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_TF_STDOUT", "aws_vpc.this: Creating...\n")
    monkeypatch.setenv("FAKE_TF_SLEEP", "30")

    def out(event: ProgressEvent) -> None:
        raise RuntimeError("bug in the caller")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="bug in the caller"):
        Terraform(fake.workdir, out=out).apply(fake.workdir / "p")
    assert time.monotonic() - started < 10
    assert [e["event"] for e in fake.events()] == ["start", "sigint", "exit"]


# --- Ctrl-C -------------------------------------------------------------------------------------

DRIVER = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from kopsgen.errors import KopsgenError
    from kopsgen.terraform import Terraform
    workdir, record = Path(sys.argv[1]), Path(sys.argv[2])
    kinds = []
    try:
        Terraform(workdir, out=lambda e: kinds.append(e.kind)).apply(workdir / "p.tfplan")
        result = {"raised": None}
    except KopsgenError as err:
        seen = [json.loads(line) for line in record.read_text().splitlines()]
        result = {"raised": type(err).__name__, "exit_code": int(err.exit_code), "message": err.message,
                  "fake_had_exited": any(e["event"] == "exit" for e in seen)}
    result["kinds"] = kinds
    print(json.dumps(result))
""")


def wait_for(fake: Fake, event: str, count: int = 1, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while sum(e["event"] == event for e in fake.events()) < count:
        assert time.monotonic() < deadline, f"the fake never recorded {count} {event!r}: {fake.events()}"
        time.sleep(0.02)


def start_driver(fake: Fake, grace: float) -> subprocess.Popen[str]:
    env = dict(os.environ, FAKE_TF_STDOUT="module.etcd.aws_instance.member[0]: Creating...\n",
               FAKE_TF_SLEEP="30", FAKE_TF_GRACE=str(grace), PYTHONPATH=str(helpers.REPO))
    # Its own process group stands in for the terminal's foreground group: killpg() is Ctrl-C.
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(fake.workdir), str(fake.record)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, process_group=0,
                            preexec_fn=helpers.foreground_signals)


def finish_driver(driver: subprocess.Popen[str]) -> dict:
    try:
        stdout, stderr = driver.communicate(timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stderr
    return json.loads(stdout)


def test_ctrl_c_forwards_one_sigint_and_waits_for_terraform(fake: Fake):
    driver = start_driver(fake, grace=0.5)
    wait_for(fake, "start")
    started = time.monotonic()
    os.killpg(driver.pid, signal.SIGINT)
    result = finish_driver(driver)
    assert result == {"raised": "Interrupted", "exit_code": 130, "fake_had_exited": True,
                      "message": "interrupted: terraform stopped cleanly; state lock released",
                      "kinds": ["creating"]}
    assert time.monotonic() - started >= 0.5  # it waited out terraform's graceful shutdown
    assert [e["event"] for e in fake.events()] == ["start", "sigint", "exit"]
    assert fake.runs()[0]["own_process_group"] is True


def test_second_ctrl_c_forwards_a_second_sigint(fake: Fake):
    driver = start_driver(fake, grace=30)
    wait_for(fake, "start")
    started = time.monotonic()
    os.killpg(driver.pid, signal.SIGINT)
    wait_for(fake, "sigint")
    os.killpg(driver.pid, signal.SIGINT)
    result = finish_driver(driver)
    assert time.monotonic() - started < 10  # the second interrupt cut the 30 s grace short
    assert result["raised"] == "Interrupted" and result["exit_code"] == ExitCode.INTERRUPTED
    assert result["message"].startswith("interrupted: terraform was stopped immediately")
    assert result["fake_had_exited"] is True
    assert [e["event"] for e in fake.events()] == ["start", "sigint", "sigint", "exit"]


def test_interrupted_is_a_kopsgen_error():
    assert isinstance(Interrupted(forced=False), KopsgenError)
    assert Interrupted(forced=True).exit_code == 130
    assert issubclass(TerraformFailed, TerraformError)


# --- plan summary -------------------------------------------------------------------------------


def change(address: str, actions: list[str], module: str | None = None, **extra) -> dict:
    rc = {"address": address, "mode": "data" if address.split(".")[-2:-1] == ["data"] else "managed",
          "type": address.split(".")[-2], "name": address.split(".")[-1].split("[")[0],
          "provider_name": "registry.terraform.io/hashicorp/aws",
          "change": {"actions": actions, "before": None, "after": {}, "after_unknown": {}}, **extra}
    if module:
        rc["module_address"] = module
    return rc


PLAN_JSON = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "resource_changes": [
        change("aws_route53_record.api", ["create"]),
        change("data.aws_ami.flatcar", ["read"]),
        change("module.network.aws_vpc.this", ["no-op"], "module.network"),
        change("module.network.aws_subnet.public[0]", ["update"], "module.network"),
        change("module.network.aws_subnet.public[1]", ["update"], "module.network"),
        change("module.controllers.aws_instance.this[0]", ["delete", "create"], "module.controllers",
               action_reason="replace_because_cannot_update"),
        change("module.controllers.aws_instance.this[1]", ["create", "delete"], "module.controllers"),
        change("module.controllers.aws_eip.old", ["delete"], "module.controllers", deposed="6a1e2b3c"),
        change('module.pool["workers"].module.asg.aws_autoscaling_group.this', ["update"],
               'module.pool["workers"].module.asg'),
        change('module.pool["gpu.large"].aws_launch_template.this', ["create"], 'module.pool["gpu.large"]'),
        change("module.etcd.aws_instance.member[2]", ["delete"], "module.etcd",
               action_reason="delete_because_count_index"),
    ],
}


def test_summarize_plan():
    summary = summarize_plan(PLAN_JSON)
    assert (summary.add, summary.change, summary.destroy, summary.replace) == (4, 3, 4, 2)
    assert summary.steps == 11 and summary.has_changes
    assert dict(summary.by_module) == {
        "(root)": Counts(add=1),
        "module.etcd": Counts(destroy=1),
        "module.controllers": Counts(add=2, destroy=3, replace=2),
        "module.network": Counts(change=2),
        'module.pool["gpu.large"]': Counts(add=1),
        'module.pool["workers"]': Counts(change=1),
    }
    assert summary.replaced == ("module.controllers.aws_instance.this[0]", "module.controllers.aws_instance.this[1]")


def test_summarize_plan_without_changes():
    summary = summarize_plan({"format_version": "1.2", "resource_changes": [change("aws_vpc.a", ["no-op"])]})
    assert not summary.has_changes and summary.by_module == {} and summary.replaced == ()
    assert not summarize_plan({"format_version": "1.2"}).has_changes
