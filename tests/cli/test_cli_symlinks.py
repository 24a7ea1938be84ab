"""A symlink where kopsgen writes is refused, never followed (issue 11, item 8).

A symlinked credentials/ used to be followed: its target was chmodded 0700 and the private
keys were written outside the cluster directory. Each directory kopsgen writes into, and
each file it generates, may be a link to somewhere else; `kopsgen render` must then stop
with one line naming the link (exit 6), write nothing, and leave the link's target as it
was: its mode, its entries and their bytes (docs/workspace.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from kopsgen.errors import ExitCode
from kopsgen.fastpath import DISABLE_ENV

REPO = helpers.REPO
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"
DIRS = ["credentials", "terraform", "userdata", ".kopsgen"]


def snapshot(top: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry under ``top`` (and ``top`` itself): mode and bytes, or a link's target."""
    out = {}
    for path in [top, *sorted(top.rglob("*"))]:
        st = os.lstat(path)
        if path.is_symlink():
            body = os.readlink(path)
        elif path.is_file():
            body = path.read_bytes()
        else:
            body = None
        out[str(path.relative_to(top))] = (st.st_mode, body)
    return out


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def assert_refused(result, link: Path) -> None:
    assert result.code == ExitCode.WORKSPACE, result.err
    assert "Traceback" not in result.err
    errors = error_lines(result.err)
    assert len(errors) == 1, result.err
    assert str(link) in errors[0] and "symlink" in errors[0], errors[0]


def outside(tmp_path: Path) -> Path:
    """A directory of someone else's, with a file in it, mode 0755."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "theirs.txt").write_text("not kopsgen's\n")
    target.chmod(0o755)
    return target


@pytest.mark.parametrize("name", DIRS)
def test_a_new_directory_with_a_symlinked_dir_is_refused(cli, tmp_path, name):
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    shutil.copy(SEED, cluster / "cluster.yaml")
    target = outside(tmp_path)
    (cluster / name).symlink_to(target)
    before, target_before = snapshot(cluster), snapshot(target)

    r = cli("render", "-C", str(cluster))

    assert_refused(r, cluster / name)
    assert snapshot(target) == target_before, "the link's target was changed"
    assert snapshot(cluster) == before, "something was written"


@pytest.mark.parametrize("name", [*DIRS, "terraform/modules"])
def test_a_rendered_directory_replaced_by_a_symlink_is_refused(cli, tmp_path, name):
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    shutil.copy(SEED, cluster / "cluster.yaml")
    assert cli("render", "-C", str(cluster)).code == ExitCode.OK
    # The user moves the directory away and links to it; the copy is mode 0755.
    target = tmp_path / "elsewhere"
    shutil.move(cluster / name, target)
    target.chmod(0o755)
    (cluster / name).symlink_to(target)
    # A change that rewrites files in every part (certificates, cloud-configs, main.tf).
    yaml_path = cluster / "cluster.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("k8s.kubeops.net", "api.kubeops.net"))
    before, target_before = snapshot(cluster), snapshot(target)

    r = cli("render", "-C", str(cluster))

    assert_refused(r, cluster / name)
    assert snapshot(target) == target_before, "the link's target was changed"
    assert snapshot(cluster) == before, "something was written"


@pytest.mark.parametrize("name", ["kubeconfig", ".gitignore", "credentials/ca-key.pem"])
def test_a_generated_file_replaced_by_a_symlink_is_refused(cli, tmp_path, name):
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    shutil.copy(SEED, cluster / "cluster.yaml")
    assert cli("render", "-C", str(cluster)).code == ExitCode.OK
    target = tmp_path / "elsewhere"
    shutil.move(cluster / name, target)
    target.chmod(0o644)
    (cluster / name).symlink_to(target)
    yaml_path = cluster / "cluster.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("k8s.kubeops.net", "api.kubeops.net"))
    before, target_before = os.lstat(target), target.read_bytes()
    tree = snapshot(cluster)

    r = cli("render", "-C", str(cluster))

    assert r.code == ExitCode.WORKSPACE, r.err
    errors = error_lines(r.err)
    assert len(errors) == 1 and str(cluster / name) in errors[0], r.err
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert target.read_bytes() == target_before
    assert snapshot(cluster) == tree, "something was written"


@pytest.mark.parametrize("name", ["credentials", ".kopsgen/lock"])
def test_the_console_script_refuses_a_link_made_after_a_render(tmp_path, name):
    """The up-to-date answer from a stamp (kopsgen/fastpath.py) must not vouch for a
    workspace where a link took the place of what kopsgen wrote."""
    script = Path(sys.executable).with_name("kopsgen")
    if not script.exists():
        helpers.missing("the kopsgen console script is not installed")
    env = dict(os.environ, NO_COLOR="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop(DISABLE_ENV, None)
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    shutil.copy(SEED, cluster / "cluster.yaml")

    def render():
        return subprocess.run([str(script), "render"], cwd=cluster, env=env,
                              capture_output=True, text=True)

    assert render().returncode == 0
    assert render().returncode == 0  # answered from the stamp
    target = tmp_path / "elsewhere"
    shutil.move(cluster / name, target)
    (cluster / name).symlink_to(target)
    target_before = snapshot(target)

    done = render()

    assert done.returncode == ExitCode.WORKSPACE, done.stdout + done.stderr
    errors = error_lines(done.stderr)
    assert len(errors) == 1 and f"{name} is a symlink" in errors[0], done.stderr
    assert snapshot(target) == target_before
