"""Hostile cluster.yaml files through the CLI: special files, sizes, depth, numbers that
overflow what AWS and X.509 take. Each ends in a named exit code with a one-line error
naming the field and where it is -- never a hang, a flood of memory or exit 70."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kopsgen.errors import ExitCode
from kopsgen.spec import MAX_BYTES

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "examples" / "kubeops" / "cluster.yaml").read_text()


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines()
            if line.startswith("cluster.yaml") and "warning:" not in line]


def _kopsgen(cwd: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """kopsgen as a user runs it, in a process of its own: a hang is a timeout here, not a
    stuck suite, and a flood stops at 2 GB of address space instead of the machine's."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kopsgen", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=limit_memory)


def test_a_fifo_is_refused_at_once_a_symlink_to_a_file_is_read(tmp_path):
    os.mkfifo(tmp_path / "cluster.yaml")
    started = time.monotonic()
    proc = _kopsgen(tmp_path, "validate")  # before the fix: blocked in open() until killed
    assert time.monotonic() - started < 20
    assert proc.returncode == ExitCode.INVALID_SPEC, proc.stderr
    assert _errors(proc.stderr) == ["cluster.yaml: is a FIFO (named pipe), not a regular file"]
    assert "Traceback" not in proc.stderr
    # Only the kind of file is refused, not the link: a symlink to a cluster.yaml is fine.
    (tmp_path / "cluster.yaml").unlink()
    (tmp_path / "real.yaml").write_text(SEED)
    (tmp_path / "cluster.yaml").symlink_to(tmp_path / "real.yaml")
    assert _kopsgen(tmp_path, "validate").returncode == ExitCode.OK


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_a_device_is_refused_without_reading_it(tmp_path, device):
    (tmp_path / "cluster.yaml").symlink_to(device)
    proc = _kopsgen(tmp_path, "validate")  # before the fix: read until memory ran out
    assert proc.returncode == ExitCode.INVALID_SPEC, proc.stderr
    assert _errors(proc.stderr) == ["cluster.yaml: is a character device, not a regular file"]


def test_the_fast_path_does_not_hang_on_a_fifo_either(tmp_path):
    (tmp_path / "cluster.yaml").write_text(SEED)
    first = _kopsgen(tmp_path, "render", timeout=120)
    assert first.returncode == ExitCode.OK, first.stderr
    (tmp_path / "cluster.yaml").unlink()
    os.mkfifo(tmp_path / "cluster.yaml")
    proc = _kopsgen(tmp_path, "render")  # the stamp exists: the fast path reads cluster.yaml
    assert proc.returncode == ExitCode.INVALID_SPEC, proc.stderr
    assert _errors(proc.stderr) == ["cluster.yaml: is a FIFO (named pipe), not a regular file"]


def test_an_oversize_file_is_refused_without_reading_it(tmp_path):
    """8 GiB (sparse, so it costs no disk): before the fix, validate read all of it and
    died of MemoryError under the 2 GB limit (exit 70); now its size alone refuses it."""
    with open(tmp_path / "cluster.yaml", "wb") as fh:
        fh.write(SEED.encode())
        fh.truncate(8 << 30)
    proc = _kopsgen(tmp_path, "validate")
    assert proc.returncode == ExitCode.INVALID_SPEC, proc.stderr
    assert _errors(proc.stderr) == [f"cluster.yaml: is {8 << 30} bytes; a cluster.yaml is at "
                                    f"most {MAX_BYTES}"]


@pytest.mark.parametrize("nested", ["[" * 1000 + "]" * 1000,
                                    "{a: " * 1000 + "1" + "}" * 1000,
                                    "".join(f"\n{'  ' * i}k{i}:" for i in range(1, 701)) + " 1"])
def test_deep_nesting_is_an_error_not_a_crash(tmp_path, cli, nested):
    (tmp_path / "cluster.yaml").write_text(SEED + "deep: " + nested + "\n")
    r = cli("validate")  # before the fix: RecursionError, exit 70
    assert r.code == ExitCode.INVALID_SPEC, r.err
    (line,) = _errors(r.err)
    where, message = line.split(": ", 1)
    assert int(where.split(":")[1]) > SEED.count("\n")  # on a line of the nested value
    assert message.startswith("nested more than 32 levels deep"), line
    assert "Traceback" not in r.err


def _line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(key))


@pytest.mark.parametrize("key, value, needle", [
    ("tlsCADurationDays", "2147483648", "must be at most 36525 days"),
    ("tlsCertDurationDays", "99999999999999999999", "must be at most 36525 days"),
    ("recordSetTTL", "1000000000000000000000000000000", "must be at most 2147483647 seconds"),
    ("recordSetTTL", "2147483648", "must be at most 2147483647 seconds"),
])
@pytest.mark.parametrize("command", ["validate", "render"])
def test_numbers_beyond_aws_and_x509_are_spec_errors(tmp_path, cli, key, value, needle,
                                                     command):
    text = SEED.replace("tlsCertDurationDays: 3650\n", "") + f"{key}: {value}\n"
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli(command)  # before the fix: validate said valid, render exited 70 (OverflowError)
    assert r.code == ExitCode.INVALID_SPEC, r.err
    (line,) = _errors(r.err)
    assert line.startswith(f"cluster.yaml:{_line_of(text, key)}:1: {key}: {needle}"), line
    assert not (tmp_path / "credentials").exists()


@pytest.mark.parametrize("key, value", [
    ("worker.nodePools[0].count", 5001),
    ("controllerCount", 10**20),
])
def test_node_counts_are_bounded(tmp_path, cli, key, value):
    text = (SEED.replace("    count: 4", f"    count: {value}") if "nodePools" in key
            else SEED.replace("controllerCount: 2", f"controllerCount: {value}"))
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC
    (line,) = _errors(r.err)
    assert f": {key}: {value} is more than the 5000 nodes" in line


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_lone_surrogate_in_a_tag_value_is_a_spec_error(tmp_path, cli, command):
    text = SEED.replace('Name: "Kubernetes"', 'Name: "Kube\\ud800rnetes"')
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli(command)  # before the fix: render died of UnicodeEncodeError, exit 70
    assert r.code == ExitCode.INVALID_SPEC, r.err
    (line,) = _errors(r.err)
    assert line.startswith(f"cluster.yaml:{_line_of(text, '  Name:')}:3: stackTags.Name: "
                           "tag value contains '\\ud800'")
    assert not (tmp_path / "terraform").exists()


@pytest.mark.parametrize("flag, value", [
    ("--key-name", "admin\nsshAccessAllowedSourceCIDRs: [0.0.0.0/0]"),
    ("--cluster-name", "k8s\nkeyName: x"),
    ("--hosted-zone-id", 'Z0123ABC"\nsshAccessAllowedSourceCIDRs: ["0.0.0.0/0"]\nx: "'),
])
def test_init_flags_cannot_add_keys_to_the_file_they_are_written_into(tmp_path, cli, flag,
                                                                       value):
    """Before: the value went into cluster.yaml as it was, so its second line became a key
    of its own -- one that opens SSH to the internet validated fine."""
    args = ["init", "--cluster-name", "k8s", "--external-dns-name", "k8s.example.com",
            "--region", "us-east-1"]
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    r = cli(*args)
    assert r.code == ExitCode.INVALID_SPEC, r.err
    (line,) = r.err.strip().splitlines()
    assert line.startswith(f"init options: {flag}: "), line  # the flag, not the YAML key
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_like_a_temp_file_but_for_a_newline_is_not_removed(tmp_path, cli):
    """Stale temp files (".<name>.kopsgen-tmp-<16 hex>") are removed by the next render;
    the pattern ended in $, so a user's file with a final newline in its name matched."""
    (tmp_path / "cluster.yaml").write_text(SEED)
    assert cli("render").code == ExitCode.OK
    mine = tmp_path / "userdata" / ".notes.kopsgen-tmp-0123456789abcdef\n"
    mine.write_text("keep me")
    assert cli("render").code == ExitCode.OK
    assert mine.read_text() == "keep me"
