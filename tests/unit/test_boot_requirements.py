"""Without what the sandbox boot needs, `--boot` says exactly what is missing and how to
install it, and does nothing."""

from __future__ import annotations

import shutil

from kopsgen import boot
from kopsgen.errors import ExitCode


def test_missing_programs_are_named_with_their_debian_packages(monkeypatch):
    monkeypatch.setattr(boot.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(boot.shutil, "which", lambda tool, path=None: None)
    problems = boot.missing_requirements()
    assert problems[0].startswith("run as root")
    assert problems[-1] == (
        "install systemd-container, debootstrap, dnsmasq-base, iproute2, mount, util-linux, "
        "etcd-server, etcd-client: apt-get install systemd-container debootstrap dnsmasq-base "
        "iproute2 mount util-linux etcd-server etcd-client")


def test_nothing_is_missing_where_the_tools_are(monkeypatch):
    monkeypatch.setattr(boot.os, "geteuid", lambda: 0)
    monkeypatch.setattr(boot.shutil, "which", lambda tool, path=None: f"/usr/bin/{tool}")
    assert boot.missing_requirements() == []
    assert shutil.which  # the real one is untouched outside the patch


def test_boot_without_the_sandbox_is_a_usage_error(cli, tmp_path):
    (tmp_path / "cluster.yaml").write_text(
        (__import__("helpers").REPO / "examples" / "kubeops" / "cluster.yaml").read_text())
    r = cli("up", "--boot", "--yes")
    assert r.code == ExitCode.USAGE
    assert "--boot boots the sandbox's instances: use it with --sandbox" in r.err
