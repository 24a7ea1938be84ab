"""Ordered Kubernetes upgrades: a render goes up one minor at a time from the workspace's
last render, and `kopsgen upgrade --to` writes the two steps (controllers, then pools)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from kopsgen.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"
SEED_VERSION = "v1.34.2"  # what the seed's cluster.yaml names (checked below)


def tree(root: Path) -> dict[str, str]:
    """sha256 and mode of every file under ``root``, the state directory included."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            + f" {p.stat().st_mode:o} {p.stat().st_mtime_ns}"
            for p in sorted(root.rglob("*")) if p.is_file()}


def set_version(root: Path, version: str) -> None:
    path = root / "cluster.yaml"
    text = path.read_text()
    line = next(x for x in text.splitlines() if x.startswith("kubernetesVersion: "))
    path.write_text(text.replace(line, f"kubernetesVersion: {version}"))


def seed(tmp_path: Path) -> Path:
    shutil.copy(SEED, tmp_path / "cluster.yaml")
    assert f"\nkubernetesVersion: {SEED_VERSION}\n" in SEED.read_text()
    return tmp_path


def version_line(root: Path) -> int:
    lines = (root / "cluster.yaml").read_text().splitlines()
    return next(i for i, x in enumerate(lines, 1) if x.startswith("kubernetesVersion: "))


def controller(root: Path) -> bytes:
    return (root / "userdata" / "cloud-config-controller").read_bytes()


# -- a render moves the control plane one minor at a time ---------------------------------

def test_render_refuses_two_minors_up_and_writes_nothing(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    set_version(tmp_path, "v1.36.0")
    before = tree(tmp_path)
    r = cli("render")
    assert r.code == ExitCode.INVALID_SPEC
    assert "Traceback" not in r.err
    last = r.err.strip().splitlines()[-1]
    assert last == (
        f"cluster.yaml:{version_line(tmp_path)}:1: kubernetesVersion: v1.36.0 is more than "
        f"one minor above {SEED_VERSION}, the last render's (userdata/cloud-config-controller);"
        " the control plane goes up one minor at a time: go to 1.35 first (e.g. v1.35.0), "
        "apply it (kopsgen update), then go to v1.36.0")
    assert tree(tmp_path) == before
    r = cli("validate")
    assert r.code == ExitCode.INVALID_SPEC
    assert r.err.strip().splitlines()[-2:] == [last, "error: cluster.yaml: 1 error"]
    # plan (and up, update: every flow renders first, in its Session) refuses the same way,
    # before terraform or AWS is touched.
    r = cli("plan")
    assert r.code == ExitCode.INVALID_SPEC and r.err.strip().splitlines()[-1] == last
    assert tree(tmp_path) == before


def test_render_one_minor_up_is_fine_and_then_the_next(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    old = controller(tmp_path)
    set_version(tmp_path, "v1.35.0")
    r = cli("render")
    assert r.code == ExitCode.OK, r.err
    assert "updated   userdata/cloud-config-controller" in r.out
    assert b"/kube-apiserver:v1.35.0" in controller(tmp_path) and controller(tmp_path) != old
    # the next minor is measured from this render, not from the first
    set_version(tmp_path, "v1.36.1")
    assert cli("render").code == ExitCode.OK


def test_render_refuses_a_minor_downgrade_but_not_a_patch_one(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    set_version(tmp_path, "v1.33.4")
    before = tree(tmp_path)
    r = cli("render")
    assert r.code == ExitCode.INVALID_SPEC
    assert r.err.strip().splitlines()[-1].startswith(
        f"cluster.yaml:{version_line(tmp_path)}:1: kubernetesVersion: v1.33.4 is of an older "
        f"minor than {SEED_VERSION}, the last render's")
    assert "does not support downgrading the control plane a minor" in r.err
    assert tree(tmp_path) == before
    set_version(tmp_path, "v1.34.1")
    assert cli("render").code == ExitCode.OK
    assert b"/kube-apiserver:v1.34.1" in controller(tmp_path)
    # The way back docs/upgrading.md gives (a cluster restored from an older backup): a
    # workspace without a last render of the controllers renders any supported version.
    set_version(tmp_path, "v1.33.4")
    (tmp_path / "userdata" / "cloud-config-controller").unlink()
    assert cli("render").code == ExitCode.OK
    assert b"/kube-apiserver:v1.33.4" in controller(tmp_path)


def test_a_new_workspace_renders_any_supported_version(cli, tmp_path):
    seed(tmp_path)
    set_version(tmp_path, "v1.36.0")
    assert cli("render").code == ExitCode.OK
    assert b"/kube-apiserver:v1.36.0" in controller(tmp_path)


# -- kopsgen upgrade --to: two reviewable edits --------------------------------------------

PIN = "kubernetesVersion: v1.34.2  # kopsgen upgrade: step 2 removes this line"
STEP_1_DIFF = f"""\
--- a/cluster.yaml
+++ b/cluster.yaml
@@ -45,6 +45,7 @@
 worker:
   nodePools:
   - name: nodepool1
+    {PIN}
     count: 4
~
 # Uncommented: the workers' instance type, the same as the controllers'.
@@ -80,7 +81,7 @@
~
 # CHANGED: the post ran v1.5.3_coreos.0, end-of-life for years; kopsgen supports current
 # Kubernetes releases only (kopsgen validate says which).
-kubernetesVersion: v1.34.2
+kubernetesVersion: v1.35.0
~
 # Uncommented: tags to tell clusters apart.
 stackTags:
""".replace("\n~\n", "\n \n")  # ~: a blank context line (" ")
STEP_2_DIFF = f"""\
--- a/cluster.yaml
+++ b/cluster.yaml
@@ -45,7 +45,6 @@
 worker:
   nodePools:
   - name: nodepool1
-    {PIN}
     count: 4
~
 # Uncommented: the workers' instance type, the same as the controllers'.
""".replace("\n~\n", "\n \n")


def pool_boots_from(root: Path, pool: str) -> str:
    """The cloud-config the rendered root module gives the pool's nodes (main.tf)."""
    main = (root / "terraform" / "main.tf").read_text()
    block = main.split(f'module "pool_{pool}" {{\n', 1)[1].split("\n}\n", 1)[0]
    m = re.search(r'cloud_config_file\s+= "\$\{path\.root\}/\.\./(userdata/[^"]+)"', block)
    assert m, block
    return m.group(1)


def kubelet_of(cloud_config: bytes) -> str:
    """The version the rendered kopsgen-install-kubernetes.service installs."""
    units = yaml.safe_load(cloud_config)["coreos"]["units"]
    unit = next(u for u in units if u["name"] == "kopsgen-install-kubernetes.service")
    line = next(x for x in unit["content"].splitlines() if x.startswith("ExecStart="))
    return line.split("kopsgen-install-kubernetes ")[1].split()[0]


def test_upgrade_step_1_moves_only_the_controllers_and_step_2_the_pools(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    boot = pool_boots_from(tmp_path, "nodepool1")
    worker = (tmp_path / boot).read_bytes()
    etcd = (tmp_path / "userdata" / "cloud-config-etcd").read_bytes()
    assert boot == "userdata/cloud-config-worker" and kubelet_of(worker) == SEED_VERSION
    assert b"/kube-apiserver:v1.34.2" in controller(tmp_path)

    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert r.out == STEP_1_DIFF + (
        "step 1 of 2: the controllers will be replaced one at a time (Kubernetes v1.34.2 -> "
        "v1.35.0); no node pool changes\n"
        "wrote cluster.yaml\n"
        "next: merge this change, then `kopsgen plan` and `kopsgen update`; once the "
        "controllers run v1.35.0, run `kopsgen upgrade --to v1.35.0` again for step 2 "
        "(the pools)\n")
    # Every other byte (comments, order, blank lines) as it was.
    seed_text = SEED.read_text()
    step_1 = seed_text.replace("\nkubernetesVersion: v1.34.2\n", "\nkubernetesVersion: v1.35.0\n"
                               ).replace("  - name: nodepool1\n", f"  - name: nodepool1\n    {PIN}\n")
    assert (tmp_path / "cluster.yaml").read_text() == step_1
    assert cli("validate").code == ExitCode.OK

    # Step 2 waits until step 1 is rendered (and applied).
    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.USAGE and "render and apply step 1 first" in r.err
    assert (tmp_path / "cluster.yaml").read_text() == step_1

    assert cli("render").code == ExitCode.OK
    boot_1 = pool_boots_from(tmp_path, "nodepool1")
    assert boot_1 == "userdata/cloud-config-worker-v1.34.2"
    assert (tmp_path / boot_1).read_bytes() == worker  # same bytes: its nodes stay
    assert (tmp_path / "userdata" / "cloud-config-etcd").read_bytes() == etcd
    assert b"/kube-apiserver:v1.35.0" in controller(tmp_path)
    controller_1 = controller(tmp_path)

    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert r.out.startswith(STEP_2_DIFF + (
        "step 2 of 2: the nodes of pool nodepool1 will be replaced (kubelet v1.34.2 -> "
        "v1.35.0); the controllers do not change\nwrote cluster.yaml\nnext: "))
    assert (tmp_path / "cluster.yaml").read_text() == seed_text.replace(
        "\nkubernetesVersion: v1.34.2\n", "\nkubernetesVersion: v1.35.0\n")
    assert cli("render").code == ExitCode.OK
    boot_2 = pool_boots_from(tmp_path, "nodepool1")
    assert kubelet_of((tmp_path / boot_2).read_bytes()) == "v1.35.0"
    assert controller(tmp_path) == controller_1

    before = tree(tmp_path)
    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK
    assert r.out == ("cluster.yaml: the control plane and every node pool run v1.35.0 "
                     "already; nothing to do\n")
    assert tree(tmp_path) == before


def test_upgrade_dry_run_prints_the_edit_and_writes_nothing(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    before = tree(tmp_path)
    r = cli("upgrade", "--to", "v1.35.0", "--dry-run")
    assert r.code == ExitCode.OK, r.err
    assert r.out == STEP_1_DIFF + (
        "step 1 of 2: the controllers will be replaced one at a time (Kubernetes v1.34.2 -> "
        "v1.35.0); no node pool changes\ndry run: cluster.yaml not written\n")
    assert tree(tmp_path) == before


def test_upgrade_refuses_two_minors_a_downgrade_and_unsupported_versions(cli, tmp_path):
    seed(tmp_path)
    before = tree(tmp_path)
    r = cli("upgrade", "--to", "v1.36.0")
    assert r.code == ExitCode.USAGE
    assert r.err == (
        f"error: --to v1.36.0 is more than one minor above the control plane's v1.34.2 "
        f"(cluster.yaml:{version_line(tmp_path)}); the control plane goes up one minor at a "
        "time: go to 1.35 first (e.g. v1.35.0), apply it (kopsgen update), then go to "
        "v1.36.0; kopsgen upgrade --to v1.35.0 writes that step\n")
    r = cli("upgrade", "--to", "v1.33.4")
    assert r.code == ExitCode.USAGE and "older than the control plane's v1.34.2" in r.err
    r = cli("upgrade", "--to", "v1.37.0")
    assert r.code == ExitCode.USAGE
    assert r.err == ("error: --to: v1.37.0 is not a Kubernetes minor kopsgen supports "
                     "(1.33, 1.34, 1.35, 1.36)\n")
    r = cli("upgrade", "--to", "1.35")
    assert r.code == ExitCode.USAGE and "is not a Kubernetes version" in r.err
    assert tree(tmp_path) == before


def test_upgrade_measures_from_the_last_render_too(cli, tmp_path):
    seed(tmp_path)
    assert cli("render").code == ExitCode.OK
    set_version(tmp_path, "v1.35.0")  # edited, not rendered yet
    before = tree(tmp_path)
    r = cli("upgrade", "--to", "v1.36.0")
    assert r.code == ExitCode.USAGE
    assert r.err == (
        "error: --to v1.36.0 is more than one minor above v1.34.2, the workspace's last render"
        " (userdata/cloud-config-controller); the control plane goes up one minor at a time: "
        "go to 1.35 first (e.g. v1.35.0), apply it (kopsgen update), then go to v1.36.0; "
        f"render and apply cluster.yaml's v1.35.0 (cluster.yaml:{version_line(tmp_path)}) "
        "first\n")
    assert tree(tmp_path) == before


TWO_POOLS = """\
  - name: nodepool1
    count: 4
  # batch jobs are certified on 1.33 only
  - name: batch
    count: 1
    kubernetesVersion: "v1.33.4"   # held back: see TICKET-12
"""


def test_upgrade_pins_followers_and_moves_a_user_pinned_pool_in_step_2(cli, tmp_path):
    text = SEED.read_text().replace("  - name: nodepool1\n    count: 4\n", TWO_POOLS)
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert "; no node pool changes\n" in r.out
    step_1 = text.replace("\nkubernetesVersion: v1.34.2\n", "\nkubernetesVersion: v1.35.0\n"
                          ).replace("  - name: nodepool1\n", f"  - name: nodepool1\n    {PIN}\n")
    assert (tmp_path / "cluster.yaml").read_text() == step_1  # batch's line untouched

    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert (f'-    {PIN}\n' in r.out
            and '-    kubernetesVersion: "v1.33.4"   # held back: see TICKET-12\n' in r.out
            and '+    kubernetesVersion: "v1.35.0"   # held back: see TICKET-12\n' in r.out)
    assert ("step 2 of 2: the nodes of pools nodepool1, batch will be replaced (kubelet "
            "v1.33.4, v1.34.2 -> v1.35.0); the controllers do not change\n") in r.out
    # The user's own line stays theirs (quotes, comment), with the new version.
    assert (tmp_path / "cluster.yaml").read_text() == text.replace(
        "\nkubernetesVersion: v1.34.2\n", "\nkubernetesVersion: v1.35.0\n").replace(
        '"v1.33.4"', '"v1.35.0"')
    assert cli("upgrade", "--to", "v1.35.0").out.endswith("nothing to do\n")


def test_upgrade_adds_an_absent_kubernetes_version_at_the_end(cli, tmp_path):
    text = SEED.read_text().replace("\nkubernetesVersion: v1.34.2\n", "\n")
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert (tmp_path / "cluster.yaml").read_text() == text.replace(
        "  - name: nodepool1\n", f"  - name: nodepool1\n    {PIN}\n") + (
        "kubernetesVersion: v1.35.0\n")


def test_upgrade_refuses_what_it_cannot_edit_line_by_line(cli, tmp_path):
    text = SEED.read_text().replace("  nodePools:\n  - name: nodepool1\n    count: 4\n",
                                    "  nodePools: [{name: nodepool1, count: 4}]\n")
    (tmp_path / "cluster.yaml").write_text(text)
    r = cli("upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.USAGE
    line = text.splitlines().index("  nodePools: [{name: nodepool1, count: 4}]") + 1
    assert r.err == (f"error: cluster.yaml:{line}: worker.nodePools: cannot edit it line by "
                     "line (the edit would change more than the versions); make the change "
                     "by hand (docs/upgrading.md)\n")
    assert len(r.err.splitlines()) == 1 and "Traceback" not in r.err
    assert (tmp_path / "cluster.yaml").read_text() == text


def test_upgrade_to_a_patch_release_takes_the_same_two_steps_and_keeps_crlf(cli, tmp_path):
    text = SEED.read_text().replace("\n", "\r\n")
    (tmp_path / "cluster.yaml").write_bytes(text.encode())
    r = cli("upgrade", "--to", "v1.34.3")
    assert r.code == ExitCode.OK, r.err
    assert "(Kubernetes v1.34.2 -> v1.34.3); no node pool changes" in r.out
    assert (tmp_path / "cluster.yaml").read_bytes() == text.replace(
        "\r\nkubernetesVersion: v1.34.2\r\n", "\r\nkubernetesVersion: v1.34.3\r\n").replace(
        "  - name: nodepool1\r\n", f"  - name: nodepool1\r\n    {PIN}\r\n").encode()
    assert cli("upgrade", "--to", "v1.34.3").code == ExitCode.OK
    assert (tmp_path / "cluster.yaml").read_bytes() == text.replace(
        "\r\nkubernetesVersion: v1.34.2\r\n", "\r\nkubernetesVersion: v1.34.3\r\n").encode()


def test_the_console_script_refuses_the_jump_on_its_plain_render_path(tmp_path):
    """`kopsgen render` as installed: the entry point's plain render (no typer) and its
    stamp, which answers an unchanged render without rendering (kopsgen/fastpath.py)."""
    seed(tmp_path)
    env = dict(os.environ, NO_COLOR="1")

    def render():
        return subprocess.run([sys.executable, "-m", "kopsgen", "render"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    assert render().returncode == ExitCode.OK
    set_version(tmp_path, "v1.36.0")
    before = tree(tmp_path)
    r = render()
    assert r.returncode == ExitCode.INVALID_SPEC
    assert r.stderr.strip().splitlines()[-1].startswith(
        f"cluster.yaml:{version_line(tmp_path)}:1: kubernetesVersion: v1.36.0 is more than "
        "one minor above v1.34.2")
    assert tree(tmp_path) == before


def test_upgrade_writes_through_a_symlinked_cluster_yaml_and_keeps_its_mode(cli, tmp_path):
    repo = tmp_path / "gitops"
    repo.mkdir()
    shutil.copy(SEED, repo / "cluster.yaml")
    (repo / "cluster.yaml").chmod(0o640)
    work = tmp_path / "work"
    work.mkdir()
    (work / "cluster.yaml").symlink_to(repo / "cluster.yaml")
    r = cli("-C", str(work), "upgrade", "--to", "v1.35.0")
    assert r.code == ExitCode.OK, r.err
    assert (work / "cluster.yaml").is_symlink()
    assert "\nkubernetesVersion: v1.35.0\n" in (repo / "cluster.yaml").read_text()
    assert (repo / "cluster.yaml").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in repo.iterdir()) == ["cluster.yaml"]  # no temp file left


def test_replace_file_refuses_a_file_changed_since_it_was_read(tmp_path):
    from kopsgen.safeio import ChangedMeanwhile, replace_file

    path = tmp_path / "cluster.yaml"
    path.write_bytes(b"edited by someone else\n")
    try:
        replace_file(path, b"new\n", expected=b"what kopsgen read\n")
    except ChangedMeanwhile:
        pass
    else:
        raise AssertionError("replaced a file that changed meanwhile")
    assert path.read_bytes() == b"edited by someone else\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.yaml"]
