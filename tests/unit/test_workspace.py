"""The workspace writer: what a user sees on disk and in `render --check` after each render."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from kopsgen.errors import ExitCode, WorkspaceError
from kopsgen.workspace import (
    GeneratedFile,
    Status,
    check_workspace,
    plan_workspace,
    write_workspace,
)

KEY = GeneratedFile(b"-----BEGIN RSA PRIVATE KEY-----\nsecret-bits\n", secret=True)


def base_files() -> dict[str, GeneratedFile | bytes]:
    return {
        "credentials/ca.pem": b"ca cert\n",
        "credentials/ca-key.pem": KEY,
        "kubeconfig": GeneratedFile(b"apiVersion: v1\n", secret=True),
        "terraform/main.tf": b'module "network" {}\n',
        "terraform/modules/dns/main.tf": b"# dns\n",
        "userdata/cloud-config-worker": b"#cloud-config\nhostname: w\n",
    }


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def age(p: Path) -> int:
    """Give a file an old mtime (2001) so a rewrite is visible."""
    os.utime(p, (1_000_000_000, 1_000_000_000))
    return p.stat().st_mtime_ns


def test_first_render_creates_every_file_with_its_mode(tmp_path):
    root = tmp_path / "cluster"
    report = write_workspace(root, base_files())

    assert report.summary() == "6 created, 0 updated, 0 unchanged, 0 removed"
    assert report.paths(Status.CREATED) == sorted(base_files())
    assert (root / "terraform/main.tf").read_bytes() == b'module "network" {}\n'
    assert mode(root / "credentials") == 0o700
    assert mode(root / "credentials/ca-key.pem") == 0o600
    assert mode(root / "kubeconfig") == 0o600
    assert mode(root / "credentials/ca.pem") == 0o644
    assert mode(root / "terraform/modules") == 0o755
    # No temp file survives a normal write.
    assert not [p for p in listing(root) if "kopsgen-tmp" in p]


def test_rerender_classifies_and_keeps_mtime_of_unchanged_files(tmp_path):
    write_workspace(tmp_path, base_files())
    main_mtime = age(tmp_path / "terraform/main.tf")
    key_mtime = age(tmp_path / "credentials/ca-key.pem")
    worker_mtime = age(tmp_path / "userdata/cloud-config-worker")

    files = base_files()
    files["userdata/cloud-config-worker"] = b"#cloud-config\nhostname: w2\n"
    files["terraform/outputs.tf"] = b'output "x" {}\n'
    del files["terraform/modules/dns/main.tf"]
    report = write_workspace(tmp_path, files)

    assert report.summary() == "1 created, 1 updated, 4 unchanged, 1 removed"
    assert dict(report.entries) == {
        "credentials/ca-key.pem": Status.UNCHANGED,
        "credentials/ca.pem": Status.UNCHANGED,
        "kubeconfig": Status.UNCHANGED,
        "terraform/main.tf": Status.UNCHANGED,
        "terraform/modules/dns/main.tf": Status.REMOVED,
        "terraform/outputs.tf": Status.CREATED,
        "userdata/cloud-config-worker": Status.UPDATED,
    }
    assert (tmp_path / "terraform/main.tf").stat().st_mtime_ns == main_mtime
    assert (tmp_path / "credentials/ca-key.pem").stat().st_mtime_ns == key_mtime
    assert (tmp_path / "userdata/cloud-config-worker").stat().st_mtime_ns != worker_mtime
    assert (tmp_path / "userdata/cloud-config-worker").read_bytes().endswith(b"w2\n")
    # The directories kopsgen made for the removed file went with it.
    assert not (tmp_path / "terraform/modules").exists()
    assert (tmp_path / "terraform").is_dir()


def test_identical_rerender_rewrites_nothing_not_even_the_manifest(tmp_path):
    write_workspace(tmp_path, base_files())
    stamps = {p: age(tmp_path / p) for p in [*base_files(), ".kopsgen/manifest.json"]}
    report = write_workspace(tmp_path, base_files())
    assert report.summary() == "0 created, 0 updated, 6 unchanged, 0 removed"
    assert not report.changed
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in stamps} == stamps


def test_wrong_mode_is_fixed_without_rewriting(tmp_path):
    write_workspace(tmp_path, base_files())
    key = tmp_path / "credentials/ca-key.pem"
    os.chmod(key, 0o644)
    os.chmod(tmp_path / "credentials", 0o755)
    before = age(key)

    assert not check_workspace(tmp_path, base_files()).up_to_date
    report = write_workspace(tmp_path, base_files())

    assert report.paths(Status.UPDATED) == ["credentials/ca-key.pem"]
    assert mode(key) == 0o600
    assert mode(tmp_path / "credentials") == 0o700
    assert key.stat().st_mtime_ns == before


def test_only_directories_kopsgen_created_get_their_mode_set(tmp_path):
    """A credentials/ the user made stays as they made it (its keys are 0600 anyway); one
    kopsgen made is kept at 0700."""
    (tmp_path / "credentials").mkdir()
    os.chmod(tmp_path / "credentials", 0o750)
    write_workspace(tmp_path, base_files())
    assert mode(tmp_path / "credentials") == 0o750
    assert mode(tmp_path / "credentials/ca-key.pem") == 0o600
    assert check_workspace(tmp_path, base_files()).up_to_date
    # terraform/ and the others, which kopsgen did create, are its own.
    assert json.loads((tmp_path / ".kopsgen/manifest.json").read_text())["dirs"] == [
        "terraform", "terraform/modules", "terraform/modules/dns", "userdata"]


def test_a_symlinked_directory_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "credentials").symlink_to(target)
    with pytest.raises(WorkspaceError, match=r"cluster/credentials is a symlink"):
        write_workspace(root, base_files())
    assert mode(target) == 0o755 and not list(target.iterdir())
    assert sorted(p.name for p in root.iterdir()) == ["credentials"]


def test_user_files_are_never_touched_or_removed(tmp_path):
    (tmp_path / "cluster.yaml").write_text("clusterName: demo\n")
    (tmp_path / "terraform").mkdir()
    (tmp_path / "terraform/backend.tf").write_text("# mine\n")
    write_workspace(tmp_path, base_files())
    write_workspace(tmp_path, {"kubeconfig": b"only this\n"})

    assert (tmp_path / "cluster.yaml").read_text() == "clusterName: demo\n"
    assert (tmp_path / "terraform/backend.tf").read_text() == "# mine\n"
    # terraform/ existed before kopsgen and still holds a user file: it stays.
    assert not (tmp_path / "terraform/main.tf").exists()
    assert not (tmp_path / "userdata").exists()


def test_collision_with_a_user_file_is_refused_and_nothing_is_written(tmp_path):
    root = tmp_path / "cluster"
    (root / "terraform").mkdir(parents=True)
    (root / "terraform/main.tf").write_text("# hand written\n")

    with pytest.raises(WorkspaceError) as err:
        write_workspace(root, base_files())

    assert "terraform/main.tf" in err.value.message
    assert "not written by kopsgen" in err.value.message
    assert err.value.exit_code == ExitCode.WORKSPACE
    assert listing(root) == ["terraform/main.tf"]
    assert not (root / ".kopsgen").exists()
    assert (root / "terraform/main.tf").read_text() == "# hand written\n"


def test_collision_also_refused_once_the_workspace_is_managed(tmp_path):
    write_workspace(tmp_path, base_files())
    (tmp_path / "terraform/versions.tf").write_text("# mine\n")
    files = base_files() | {"terraform/versions.tf": b"# generated\n", "new.txt": b"x\n"}

    with pytest.raises(WorkspaceError, match="terraform/versions.tf"):
        write_workspace(tmp_path, files)
    assert (tmp_path / "terraform/versions.tf").read_text() == "# mine\n"
    assert not (tmp_path / "new.txt").exists()


def test_identical_user_file_is_adopted(tmp_path):
    (tmp_path / "kubeconfig").write_bytes(b"same\n")
    report = write_workspace(tmp_path, {"kubeconfig": b"same\n"})
    assert dict(report.entries) == {"kubeconfig": Status.UNCHANGED}
    # Now kopsgen owns it: a later render may update and then remove it.
    write_workspace(tmp_path, {"kubeconfig": b"changed\n"})
    assert write_workspace(tmp_path, {"x": b"1"}).paths(Status.REMOVED) == ["kubeconfig"]
    assert not (tmp_path / "kubeconfig").exists()


def test_directory_or_symlink_in_the_way_is_refused(tmp_path):
    (tmp_path / "kubeconfig").mkdir()
    with pytest.raises(WorkspaceError, match="is a directory"):
        write_workspace(tmp_path, {"kubeconfig": b"x"})
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(WorkspaceError, match="not a regular file"):
        write_workspace(tmp_path, {"link": b"x"})
    (tmp_path / "userdata").write_text("a file\n")
    with pytest.raises(WorkspaceError, match="needs a directory"):
        write_workspace(tmp_path, {"userdata/cloud-config-worker": b"x"})
    assert not (tmp_path / ".kopsgen").exists()


def test_credentials_are_never_removed(tmp_path):
    write_workspace(tmp_path, base_files())
    report = write_workspace(tmp_path, {"terraform/main.tf": b"x\n"})

    assert report.paths(Status.KEPT) == ["credentials/ca-key.pem", "credentials/ca.pem"]
    assert report.summary() == "0 created, 1 updated, 0 unchanged, 3 removed, 2 kept"
    assert (tmp_path / "credentials/ca-key.pem").read_bytes() == KEY.content
    assert mode(tmp_path / "credentials/ca-key.pem") == 0o600
    # Still tracked: a later render may regenerate them without a collision error.
    manifest = json.loads((tmp_path / ".kopsgen/manifest.json").read_text())
    assert "credentials/ca-key.pem" in manifest["files"]
    write_workspace(tmp_path, {"credentials/ca.pem": b"renewed\n"})
    assert (tmp_path / "credentials/ca.pem").read_bytes() == b"renewed\n"


def test_manifest_is_deterministic_and_lists_hashes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_workspace(a, base_files())
    reversed_files = dict(reversed(list(base_files().items())))
    write_workspace(b, reversed_files)
    text = (a / ".kopsgen/manifest.json").read_bytes()

    assert text == (b / ".kopsgen/manifest.json").read_bytes()
    doc = json.loads(text)
    assert list(doc["files"]) == sorted(base_files())
    assert doc["files"]["credentials/ca-key.pem"]["mode"] == "0600"
    assert doc["files"]["credentials/ca-key.pem"]["secret"] is True
    digest = hashlib.sha256(b'module "network" {}\n').hexdigest()
    assert doc["files"]["terraform/main.tf"]["sha256"] == digest
    assert doc["dirs"] == [
        "credentials",
        "terraform",
        "terraform/modules",
        "terraform/modules/dns",
        "userdata",
    ]


def test_damaged_manifest_is_a_workspace_error(tmp_path):
    write_workspace(tmp_path, base_files())
    (tmp_path / ".kopsgen/manifest.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match="manifest.json is damaged"):
        write_workspace(tmp_path, base_files())
    evil = {
        "format": 1,
        "generator": "kopsgen",
        "dirs": [],
        "files": {"../outside": {"sha256": "0", "mode": "0644", "secret": False}},
    }
    (tmp_path / ".kopsgen/manifest.json").write_text(json.dumps(evil))
    (tmp_path.parent / "outside").write_text("keep me")
    with pytest.raises(WorkspaceError, match="bad path '../outside'"):
        write_workspace(tmp_path, base_files())
    assert (tmp_path.parent / "outside").read_text() == "keep me"


def test_empty_render_into_new_directory_writes_nothing(tmp_path):
    report = write_workspace(tmp_path / "nowhere", {})
    assert report.summary() == "0 created, 0 updated, 0 unchanged, 0 removed"
    assert not (tmp_path / "nowhere").exists()


def test_stale_temp_files_are_cleaned_but_lookalikes_kept(tmp_path):
    write_workspace(tmp_path, base_files())
    stale = tmp_path / "terraform/.main.tf.kopsgen-tmp-0123456789abcdef"
    stale.write_bytes(b"half a fi")
    lookalike = tmp_path / "terraform/.main.tf.kopsgen-tmp-mine"
    lookalike.write_bytes(b"user")
    write_workspace(tmp_path, base_files())
    assert not stale.exists()
    assert lookalike.exists()


def test_check_reports_a_reviewable_diff_and_hides_secrets(tmp_path):
    write_workspace(tmp_path, base_files())
    (tmp_path / "credentials/ca-key.pem").unlink()
    files = base_files()
    files["terraform/main.tf"] = b'module "network" {}\nmodule "dns" {}\n'
    files["kubeconfig"] = GeneratedFile(b"apiVersion: v1\ntoken: s3cr3t\n", secret=True)
    files["credentials/new-key.pem"] = GeneratedFile(b"NEW PRIVATE\n", secret=True)
    files["terraform/blob.bin"] = b"\x00\x01\xff"
    del files["userdata/cloud-config-worker"]
    before = listing(tmp_path)

    result = check_workspace(tmp_path, files)

    assert not result.up_to_date
    assert listing(tmp_path) == before
    assert result.diff == (
        "credentials/ca-key.pem: missing, would be re-created\n"
        "credentials/new-key.pem: would be created\n"
        "kubeconfig: differs\n"
        "terraform/blob.bin: binary file would be created\n"
        "--- a/terraform/main.tf\n"
        "+++ b/terraform/main.tf\n"
        "@@ -1 +1,2 @@\n"
        ' module "network" {}\n'
        '+module "dns" {}\n'
        "--- a/userdata/cloud-config-worker\n"
        "+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n"
        "-#cloud-config\n"
        "-hostname: w\n"
    )
    assert "s3cr3t" not in result.diff and "NEW PRIVATE" not in result.diff
    assert "secret-bits" not in result.diff
    assert result.summary() == "3 created, 2 updated, 2 unchanged, 1 removed"


def test_check_binary_update_and_missing_final_newline(tmp_path):
    write_workspace(tmp_path, {"a.bin": b"\xff\xfe", "b.txt": b"one\ntwo"})
    result = check_workspace(tmp_path, {"a.bin": b"\xff\xfd", "b.txt": b"one\nTWO"})
    assert result.diff == (
        "a.bin: binary file differs\n"
        "--- a/b.txt\n+++ b/b.txt\n@@ -1,2 +1,2 @@\n one\n"
        "-two\n\\ No newline at end of file\n"
        "+TWO\n\\ No newline at end of file\n"
    )


def test_check_never_prints_a_removed_secret(tmp_path):
    write_workspace(tmp_path, base_files())
    files = base_files()
    del files["kubeconfig"]
    result = check_workspace(tmp_path, files)
    assert result.diff == "kubeconfig: would be removed\n"


def test_check_up_to_date_after_write(tmp_path):
    write_workspace(tmp_path, base_files())
    result = check_workspace(tmp_path, base_files())
    assert result.up_to_date and result.diff == ""
    fresh = check_workspace(tmp_path / "new", base_files())
    assert not fresh.up_to_date
    assert "+++ b/terraform/main.tf" in fresh.diff
    assert not (tmp_path / "new").exists()


def test_plan_writes_nothing(tmp_path):
    write_workspace(tmp_path, base_files())
    before = {p: age(tmp_path / p) for p in listing(tmp_path)}
    plan = plan_workspace(tmp_path, {"terraform/main.tf": b"other\n"})
    assert plan.paths(Status.REMOVED) == [
        "kubeconfig",
        "terraform/modules/dns/main.tf",
        "userdata/cloud-config-worker",
    ]
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in listing(tmp_path)} == before


def test_bad_generated_paths_are_rejected(tmp_path):
    for bad in ("/etc/passwd", "../x", "a//b", ".kopsgen/manifest.json", "a/./b"):
        with pytest.raises(ValueError, match="generated path"):
            write_workspace(tmp_path, {bad: b"x"})
    with pytest.raises(ValueError, match="both a file and a directory"):
        write_workspace(tmp_path, {"a": b"x", "a/b": b"y"})
    assert list(tmp_path.iterdir()) == []


def hold_lock(root: Path) -> int:
    """Take the workspace lock the way a second kopsgen process would (own open file)."""
    (root / ".kopsgen").mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".kopsgen/lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_second_writer_times_out_with_a_clear_message(tmp_path):
    fd = hold_lock(tmp_path)
    notices: list[str] = []
    try:
        start = time.monotonic()
        with pytest.raises(WorkspaceError) as err:
            write_workspace(tmp_path, base_files(), lock_timeout=0.3, on_wait=notices.append)
        waited = time.monotonic() - start
    finally:
        os.close(fd)

    assert err.value.message == (
        f"another kopsgen is rendering {tmp_path} (lock {tmp_path}/.kopsgen/lock) and did "
        "not finish within 0.3 s; try again when it finishes"
    )
    assert 0.3 <= waited < 2
    assert len(notices) == 1 and notices[0].startswith("waiting for another kopsgen")
    assert notices[0].endswith("at most 0.3 s)…")
    assert listing(tmp_path) == [".kopsgen/lock"]


def test_second_writer_proceeds_when_the_first_finishes(tmp_path):
    fd = hold_lock(tmp_path)
    threading.Timer(0.2, os.close, args=(fd,)).start()
    notices: list[str] = []
    report = write_workspace(tmp_path, base_files(), lock_timeout=5, on_wait=notices.append)
    assert report.summary().startswith("6 created")
    assert len(notices) == 1


def test_partial_render_scope_leaves_other_generated_files_alone(tmp_path):
    from kopsgen.workspace import Status, write_workspace

    write_workspace(tmp_path, {"terraform/main.tf": b"a\n", "userdata/x": b"u\n"})
    report = write_workspace(tmp_path, {"userdata/x": b"u2\n"}, scope=("userdata",))
    assert dict(report.entries) == {"userdata/x": Status.UPDATED}
    assert (tmp_path / "terraform/main.tf").read_bytes() == b"a\n"
    # and a later full render still knows terraform/main.tf is generated (removes it)
    report = write_workspace(tmp_path, {"userdata/x": b"u2\n"})
    assert dict(report.entries)["terraform/main.tf"] is Status.REMOVED


# -- durability: no file is renamed into place before its bytes are on disk ---------------


def record_durability(monkeypatch, *, cheap_syncfs: bool) -> list[tuple[str, str]]:
    """Log, in order, every rename into place and every fsync/syncfs the writer makes."""
    import kopsgen.workspace.durable as ws

    events: list[tuple[str, str]] = []
    real_replace, real_fsync, real_syncfs = os.replace, os.fsync, ws._syncfs

    def replace(src, dst):
        events.append(("rename", Path(dst).name))
        return real_replace(src, dst)

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def syncfs(root):
        done = real_syncfs(root)
        if done:
            events.append(("syncfs", str(root)))
        return done

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(ws, "_syncfs", syncfs)
    monkeypatch.setattr(ws, "_dirty_bytes", lambda: 0 if cheap_syncfs else 1 << 40)
    return events


def test_each_step_reaches_the_disk_with_one_syncfs(tmp_path, monkeypatch):
    events = record_durability(monkeypatch, cheap_syncfs=True)
    root = tmp_path / "cluster"
    write_workspace(root, base_files())

    names = sorted(Path(rel).name for rel in base_files())
    data = sorted(name for kind, name in events[4:10])
    assert [kind for kind, _ in events] == (
        ["syncfs", "rename", "syncfs"]  # the manifest of old and new paths
        + ["syncfs"]  # new directories, every file's bytes in a temp file
        + ["rename"] * 6 + ["syncfs"]  # the files in place
        + ["syncfs", "rename", "syncfs"]  # the final manifest
    ), events
    assert events[1] == events[-2] == ("rename", "manifest.json") and data == names
    assert listing(root) == sorted([*base_files(), ".kopsgen/lock", ".kopsgen/manifest.json"])


def test_with_much_unwritten_data_on_the_machine_each_file_is_fsynced(tmp_path, monkeypatch):
    # syncfs would also wait for other programs' writes: fsync file by file instead.
    events = record_durability(monkeypatch, cheap_syncfs=False)
    root = tmp_path / "cluster"
    write_workspace(root, base_files())

    assert not [e for e in events if e[0] == "syncfs"]
    manifest_in = events.index(("rename", "manifest.json"))
    state_synced = events.index(("fsync", str(root / ".kopsgen")), manifest_in)
    final_manifest = len(events) - 1 - events[::-1].index(("rename", "manifest.json"))
    for rel in base_files():
        name = Path(rel).name
        renamed = events.index(("rename", name))
        synced = [i for i, (kind, what) in enumerate(events)
                  if kind == "fsync" and f"/.{name}.kopsgen-tmp-" in what]
        assert synced, f"{rel}: its bytes were never fsynced"
        assert state_synced < synced[0] < renamed < final_manifest, f"{rel}: out of order"
        parent = str((root / rel).parent)
        assert ("fsync", parent) in events[renamed:final_manifest], f"{rel}: rename not synced"
    assert (root / "credentials/ca-key.pem").read_bytes() == KEY.content
