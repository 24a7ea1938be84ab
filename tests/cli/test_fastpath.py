"""The up-to-date fast path of `kopsgen render`: it answers only when a full render would
change nothing, and then prints exactly what the full render prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest

from kopsgen import fastpath, style
from kopsgen import stamp as stamp_store

SEED = helpers.REPO / "examples" / "kubeops" / "cluster.yaml"


def kopsgen(cwd: Path, *args: str, fast: bool = True, env: dict | None = None):
    """The real console entry point in a new process."""
    environ = dict(os.environ, NO_COLOR="1", **(env or {}))
    if not fast:
        environ[fastpath.DISABLE_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "kopsgen", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def answered_fast(cwd: Path, *args: str) -> bool:
    """Whether the stamp answers `kopsgen ARGS` in ``cwd`` (without loading the CLI)."""
    code = ("import sys; from kopsgen import fastpath; rc = fastpath.try_render(sys.argv[1:]); "
            "assert 'typer' not in sys.modules and 'pydantic' not in sys.modules; "
            "print('fast' if rc == 0 else 'full')")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                       text=True, env=dict(os.environ, NO_COLOR="1"), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().endswith("fast")


@pytest.fixture
def cluster(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    shutil.copy(SEED, d / "cluster.yaml")
    r = kopsgen(d, "render")
    assert r.returncode == 0, r.stderr
    assert f"{generated(d)} created" in r.stdout
    return d


def generated(cluster: Path) -> int:
    """How many files the render wrote (its manifest lists them): the count in summaries."""
    return len(json.loads((cluster / ".kopsgen" / "manifest.json").read_text())["files"])


def same_answer(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    full = kopsgen(cwd, *args, fast=False)
    fast = kopsgen(cwd, *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout,
                                                          full.stderr)
    return fast


def test_rerender_is_answered_from_the_stamp_with_the_full_renders_words(cluster):
    assert answered_fast(cluster, "render")
    r = same_answer(cluster, "render")
    assert r.returncode == 0
    assert r.stdout == f".: 0 created, 0 updated, {generated(cluster)} unchanged, 0 removed\n"
    assert "warning: keyName" in r.stderr  # the spec's warnings are said again
    assert answered_fast(cluster, "render", "--check")
    assert same_answer(cluster, "render", "--check").stdout.startswith(".: up to date (0 created")


def test_other_directory_spellings_and_parts(cluster):
    parent = cluster.parent
    # messages name the file c/cluster.yaml now: a first render from here has no stamp yet
    assert not answered_fast(parent, "-C", "c", "render")
    assert kopsgen(parent, "-C", "c", "render").returncode == 0
    for args in (["-C", "c", "render"], ["render", "--dir", "c/"], ["--dir=./c", "render"]):
        assert answered_fast(parent, *args), args
        r = same_answer(parent, *args)
        assert r.stdout.startswith("c: 0 created") and "c/cluster.yaml:24:1: warning" in r.stderr
    # a part never rendered on its own has no stamp yet; once rendered, it has one
    assert not answered_fast(cluster, "render", "stack")
    assert kopsgen(cluster, "render", "stack").returncode == 0
    assert answered_fast(cluster, "render", "stack")
    assert answered_fast(cluster, "render")  # rendering stack changed nothing it had left
    same_answer(cluster, "render", "stack", "--check")


@pytest.mark.parametrize("args", [
    ["render", "-o", "json"], ["render", "--verbose"], ["render", "stack", "credentials"],
    ["render", "--help"], ["validate"], ["render", "nope"], ["--debug", "render"],
])
def test_other_commands_and_options_take_the_full_path(cluster, args):
    assert not answered_fast(cluster, *args)


def edit_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-2] = ord("#") if data[-2] != ord("#") else ord("!")
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime


@pytest.mark.parametrize("change", ["edit", "touch", "chmod", "delete", "dir-mode",
                                    "manifest", "spec", "spec-touch"])
def test_any_change_takes_the_full_path_and_is_repaired(cluster, change):
    main_tf = cluster / "terraform" / "main.tf"
    if change == "edit":
        edit_same_size(main_tf)
    elif change == "touch":
        os.utime(main_tf)
    elif change == "chmod":
        os.chmod(cluster / "credentials" / "ca-key.pem", 0o644)
    elif change == "delete":
        (cluster / "credentials" / "worker.pem").unlink()
    elif change == "dir-mode":
        os.chmod(cluster / "credentials", 0o755)
    elif change == "manifest":  # same bytes, rewritten (a checkout, a restore)
        manifest = cluster / ".kopsgen" / "manifest.json"
        data = manifest.read_bytes()
        manifest.unlink()
        manifest.write_bytes(data)
    elif change == "spec":
        text = (cluster / "cluster.yaml").read_text()
        assert "workerInstanceType: m3.medium" in text
        (cluster / "cluster.yaml").write_text(text.replace("workerInstanceType: m3.medium",
                                                           "workerInstanceType: t3.large"))
    elif change == "spec-touch":  # same bytes: the stamp still answers
        os.utime(cluster / "cluster.yaml")
        assert answered_fast(cluster, "render")
        return
    assert not answered_fast(cluster, "render")
    assert not answered_fast(cluster, "render", "--check")
    check_code, repaired = EXPECTED[change]
    assert kopsgen(cluster, "render", "--check").returncode == check_code
    r = kopsgen(cluster, "render")
    assert r.returncode == 0, r.stderr
    assert repaired.format(n=generated(cluster)) in r.stdout
    # repaired and stamped again: the next render is answered from the stamp, and says what
    # the full render says (a re-issued certificate's notice is not repeated)
    assert answered_fast(cluster, "render")
    assert "notice:" not in same_answer(cluster, "render").stderr


#: change -> (exit code of `render --check` after it, what the repairing render says)
EXPECTED = {
    "edit": (1, "updated   terraform/main.tf"),
    "touch": (0, "0 updated, {n} unchanged"),
    "chmod": (1, "updated   credentials/ca-key.pem"),
    "delete": (1, "created   credentials/worker.pem"),
    "dir-mode": (1, "{n} unchanged"),
    "manifest": (0, "{n} unchanged"),
    "spec": (1, "updated"),
}


def test_a_running_render_holds_the_lock_so_the_stamp_does_not_answer(cluster):
    import fcntl

    fd = os.open(cluster / ".kopsgen" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert not answered_fast(cluster, "render")
    finally:
        os.close(fd)
    assert answered_fast(cluster, "render")


def test_certificates_near_their_end_always_take_the_full_path(tmp_path):
    d = tmp_path / "short"
    d.mkdir()
    (d / "cluster.yaml").write_text(SEED.read_text().replace("tlsCertDurationDays: 3650",
                                                             "tlsCertDurationDays: 60"))
    assert kopsgen(d, "render").returncode == 0
    assert not answered_fast(d, "render")  # 60 days < the 90-day margin: never stamped valid
    r = kopsgen(d, "render")
    assert r.returncode == 0 and "0 created, 0 updated" in r.stdout


def test_a_stamp_expires_at_the_first_certificates_renewal_margin(cluster):
    stamp = Path(stamp_store.stamp_path(str(cluster)))
    doc = json.loads(stamp.read_text())
    until = doc["parts"]["all cluster.yaml"]["valid_until"]
    # the seed's certificates last 3650 days: the stamp answers for 3650 - 90 of them
    assert "tlsCertDurationDays: 3650" in SEED.read_text()
    expected = time.time() + (3650 * 86400 - stamp_store.EXPIRY_MARGIN_SECONDS)
    assert expected - 300 < until <= expected
    doc["parts"]["all cluster.yaml"]["valid_until"] = time.time() - 1
    stamp.write_text(json.dumps(doc))
    assert not answered_fast(cluster, "render")


def test_a_different_kopsgen_or_a_broken_stamp_takes_the_full_path(cluster, monkeypatch):
    stamp = Path(stamp_store.stamp_path(str(cluster)))
    original = stamp.read_text()
    doc = json.loads(original)
    doc["parts"]["all cluster.yaml"]["key"] = "0" * 64  # e.g. written by another kopsgen build
    stamp.write_text(json.dumps(doc))
    assert not answered_fast(cluster, "render")
    for broken in ("", "{", "[]", "1", '{"format": 1}', '{"format": 1, "root": "/", "parts": []}',
                   original.replace('"files"', '"x"'), original.replace('{"all', '[{"all')):
        stamp.write_text(broken)
        assert not answered_fast(cluster, "render"), broken
        r = kopsgen(cluster, "render")  # the full render does not trip over it either
        assert r.returncode == 0 and "Traceback" not in r.stderr and "internal" not in r.stderr
        assert answered_fast(cluster, "render"), broken  # and leaves a good stamp
    stamp.write_text(original)
    assert answered_fast(cluster, "render")
    monkeypatch.setenv(fastpath.DISABLE_ENV, "1")
    assert fastpath.try_render(["-C", str(cluster), "render"]) is None


def test_a_moved_workspace_is_not_answered_by_the_old_directorys_stamp(cluster, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(cluster, moved, symlinks=True)
    assert not answered_fast(moved, "render")


@pytest.mark.parametrize(("argv", "parsed"), [
    (["render"], (None, None, False)),
    (["render", "stack", "--check"], (None, "stack", True)),
    (["-C", "a", "render", "credentials"], ("a", "credentials", False)),
    (["-C", "a", "render", "-C", "b"], ("b", None, False)),
    (["render", "--check", "--check"], None),
    (["render", "stack", "stack"], None),
    (["-C", "render"], None),
    (["-C"], None),
    (["render", "-C", "--check"], None),
    (["-C", "a", "-C", "b", "render"], None),
    (["--dir=", "render"], None),
    (["version"], None),
    ([], None),
])
def test_argument_forms(argv, parsed):
    assert fastpath.parse_render_args(argv) == parsed


def test_colour_matches_the_full_cli(monkeypatch):
    import typer

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    for colour in ("yellow", "red", "cyan"):
        assert style.styled("x", colour, Tty()) == typer.style("x", fg=colour, bold=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert style.styled("x", "red", Tty()) == "x"


def test_stamps_of_directories_gone_or_not_rendered_for_60_days_are_pruned(cluster, tmp_path):
    stamps = Path(stamp_store.stamp_path(str(cluster))).parent
    old, recent = stamps / ("a" * 32 + ".json"), stamps / ("b" * 32 + ".json")
    gone, kept = stamps / ("c" * 32 + ".json"), stamps / ("d" * 32 + ".json")
    for path, age_days in ((old, 61), (recent, 59)):
        path.write_text("{}")
        t = time.time() - age_days * 86400
        os.utime(path, (t, t))
    for path, root in ((gone, tmp_path / "deleted"), (kept, tmp_path)):
        path.write_text(json.dumps({"format": 1, "root": str(root), "parts": {}}))
    (stamps / stamp_store.PRUNED_MARKER).unlink(missing_ok=True)  # due (once a day)
    (cluster / "cluster.yaml").write_text(SEED.read_text() + "\n")  # a render that stamps
    assert kopsgen(cluster, "render").returncode == 0
    assert not old.exists() and recent.exists()
    assert not gone.exists() and kept.exists()
    assert Path(stamp_store.stamp_path(str(cluster))).exists()

    # Not again the same day: the next render does not scan the directory.
    gone.write_text(json.dumps({"format": 1, "root": str(tmp_path / "deleted"), "parts": {}}))
    (cluster / "cluster.yaml").write_text(SEED.read_text() + "\n\n")
    assert kopsgen(cluster, "render").returncode == 0
    assert gone.exists()


def full_cli(cwd: Path, *args: str):
    """The same command through the typer CLI (what every other command goes through)."""
    return subprocess.run([sys.executable, "-c", "import sys; from kopsgen.cli import main; "
                           "sys.argv[0] = 'kopsgen'; main()", *args], cwd=cwd,
                          env=dict(os.environ, NO_COLOR="1", **{fastpath.DISABLE_ENV: "1"}),
                          capture_output=True, text=True, timeout=120)


def two_clusters(tmp_path: Path, spec: str) -> tuple[Path, Path]:
    dirs = []
    for name in ("light", "full"):
        d = tmp_path / name / "c"
        d.mkdir(parents=True)
        (d / "cluster.yaml").write_text(spec)
        dirs.append(d)
    return dirs[0], dirs[1]


@pytest.mark.parametrize(("scenario", "args", "code"), [
    ("fresh", ["render"], 0),
    ("fresh", ["render", "stack"], 0),
    ("fresh", ["-C", "c", "render", "credentials"], 0),
    ("rendered", ["render", "--check"], 0),
    ("stale", ["render", "--check"], 1),
    ("stale", ["render"], 0),
    ("bad spec", ["render"], 3),
    ("no spec", ["render"], 3),
    ("missing dir", ["-C", "nope", "render"], 3),
])
def test_plain_renders_without_typer_say_what_the_full_cli_says(tmp_path, scenario, args, code):
    spec = SEED.read_text()
    if scenario == "bad spec":
        spec = spec.replace("etcdCount: 3", "etcdCount: three")
    light, full = two_clusters(tmp_path, spec)
    for d in (light, full):
        if scenario == "no spec":
            (d / "cluster.yaml").unlink()
        if scenario in ("rendered", "stale"):
            assert kopsgen(d, "render", fast=False).returncode == 0
            # the same credentials in both, so that every byte of the output can be compared
            if d == full:
                shutil.rmtree(full / "credentials")
                shutil.copytree(light / "credentials", full / "credentials")
                assert kopsgen(d, "render", fast=False).returncode == 0
        if scenario == "stale":
            (d / "terraform" / "main.tf").write_text("# edited\n")
    cwd = {"light": light, "full": full}
    if args[:2] == ["-C", "c"] or args[:2] == ["-C", "nope"]:
        cwd = {"light": light.parent, "full": full.parent}
    a = kopsgen(cwd["light"], *args, fast=False)
    b = full_cli(cwd["full"], *args)
    assert a.returncode == b.returncode == code, (a.stderr, b.stderr)
    assert a.stdout == b.stdout
    assert a.stderr == b.stderr
    assert "Traceback" not in a.stderr


def test_a_plain_render_does_not_import_typer_and_other_commands_do(tmp_path):
    shutil.copy(SEED, tmp_path / "cluster.yaml")

    def imported(*args: str) -> str:
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "kopsgen", *args],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, **{fastpath.DISABLE_ENV: "1"}))
        assert r.returncode == 0, r.stderr
        return {line.split("|")[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}

    assert "typer" not in imported("render")
    assert "pydantic" in imported("render", "--check")  # it did validate the spec
    assert "typer" in imported("validate")


def test_pydantic_plugins_stay_out_of_kopsgen_unless_asked_for(cluster, tmp_path):
    # A package that registers a pydantic plugin (as observability tools do) is installed.
    site = tmp_path / "site"
    (site / "spyplugin-1.0.dist-info").mkdir(parents=True)
    (site / "spyplugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: spyplugin\nVersion: 1.0\n")
    (site / "spyplugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[pydantic]\nspy = spyplugin:plugin\n")
    marker = tmp_path / "plugin-loaded"
    (site / "spyplugin.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "class Plugin:\n    def new_schema_validator(self, *a, **k):\n"
        "        return None, None, None\nplugin = Plugin()\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(helpers.REPO)])}
    environ = {k: v for k, v in os.environ.items() if k != fastpath.PYDANTIC_PLUGINS_ENV}

    def validate(extra: dict) -> None:
        r = subprocess.run([sys.executable, "-m", "kopsgen", "validate"], cwd=cluster,
                           env={**environ, **env, **extra}, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr

    validate({})
    assert not marker.exists()
    validate({fastpath.PYDANTIC_PLUGINS_ENV: ""})  # the user's own setting wins
    assert marker.exists()
