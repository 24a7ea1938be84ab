"""The rendered etcd member, run as its unit runs it, on real etcd (Debian's etcd-server):
each member on a test host of its own (tests/netns.py) that resolves the others by their
stable names, with its data on a "volume" (a directory bind-mounted where the script wants
the mount point) that outlives the member.

What runs is the cloud-config's own /opt/bin/kopsgen-etcd and kopsgen-etcd-reconcile,
started the way etcd.service starts them (EnvironmentFile=, ExecStart=), with the paths
moved into a directory per member: /opt/bin -> <root>/opt/bin (etcd and etcdctl are
Debian's), /etc/kubernetes/pki -> <root>/pki, /var/lib/etcd -> <root>/var/lib/etcd. The
reconciler's member list comes from a stand-in for kopsgen-s3-get that copies a file.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import helpers
import netns
import pytest
import yaml

from kopsgen.render.cloudconfig import CloudConfigParams, render_cloudconfigs
from kopsgen.render.pki import ROLE_FILES, PkiParams, render_credentials

pytestmark = pytest.mark.slow

DOMAIN = "test.internal"
NAMES = [f"etcd{i}.{DOMAIN}" for i in range(5)]


def params(count: int) -> CloudConfigParams:
    return CloudConfigParams(
        cluster_name="membership", external_dns_name="k8s.test.example",
        region="us-east-1", kubernetes_version="v1.34.2", etcd_version="v3.5.21",
        etcd_members=tuple((f"etcd{i}", NAMES[i]) for i in range(count)),
        internal_api_name=f"api.{DOMAIN}", service_cidr="10.3.0.0/24",
        pod_cidr="10.2.0.0/16", dns_service_ip="10.3.0.10")


def cloud_config(count: int) -> dict:
    text = render_cloudconfigs(params(count))["userdata/cloud-config-etcd"]
    return yaml.safe_load(text)


def etcd_env() -> dict[str, str]:
    env = {"ETCDCTL_API": "3", "PATH": os.environ["PATH"]}
    arch = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if arch:  # etcd 3.4 refuses other arches unless told
        env["ETCD_UNSUPPORTED_ARCH"] = arch
    return env


class Member:
    """etcdN: its host, its directory (the instance) and its volume (outlives it)."""

    def __init__(self, index: int, lab: netns.Lab, tmp: Path, creds: dict[str, bytes],
                 members_file: Path):
        self.index, self.name = index, f"etcd{index}"
        self.host = lab.hosts[NAMES[index]]
        self.root = tmp / self.name
        self.volume = self.root / "var" / "lib" / "etcd"
        self.creds, self.members_file = creds, members_file
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "etcd.log"

    def install(self, config: dict) -> None:
        """A new instance with this cloud-config: its files, as write_files puts them."""
        (self.root / "opt" / "bin").mkdir(parents=True, exist_ok=True)
        self.volume.mkdir(parents=True, exist_ok=True)
        for f in config["write_files"]:
            if not f["path"].startswith("/opt/bin/"):
                continue
            path = self.root / f["path"].lstrip("/")
            path.write_text(self.remap(f["content"]))
            path.chmod(int(f["permissions"], 8))
        bindir = self.root / "opt" / "bin"
        for tool in ("etcd", "etcdctl"):
            link = bindir / tool
            link.unlink(missing_ok=True)
            link.symlink_to(helpers.require_tool(tool))
        # A stand-in for kopsgen-s3-get (tested on its own): the member list from a file.
        stub = bindir / "kopsgen-s3-get"
        stub.write_text(f"#!/bin/sh\n[ \"$1\" = userdata/etcd/members ] && cp "
                        f"{self.members_file} \"$2\"\n")
        stub.chmod(0o755)
        pki = self.root / "pki"
        pki.mkdir(exist_ok=True)
        for name in ROLE_FILES["etcd"]:
            (pki / name).write_bytes(self.creds[name])
            (pki / name).chmod(0o600)
        env = self.root / "etc" / "kopsgen" / "environment"
        env.parent.mkdir(parents=True, exist_ok=True)
        # What the user data writes, plus a short join window (default 60 s).
        env.write_text(f'KOPSGEN_ROLE="etcd"\nKOPSGEN_ETCD_NAME="{self.name}"\n'
                       'KOPSGEN_ETCD_JOIN_WINDOW="4"\n')
        self.units = {u["name"]: u.get("content", "") for u in config["coreos"]["units"]}

    def remap(self, text: str) -> str:
        return (text.replace("/opt/bin/", f"{self.root}/opt/bin/")
                .replace("/etc/kubernetes/pki", f"{self.root}/pki")
                .replace("/var/lib/etcd", str(self.volume))
                .replace("/etc/kopsgen/environment", f"{self.root}/etc/kopsgen/environment"))

    def unit_values(self, unit: str) -> dict[str, str]:
        values = {}
        for line in self.units[unit].splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                values.setdefault(key, value)
        return values

    def unit_command(self, unit: str) -> str:
        """The unit's ExecStart=, with its EnvironmentFile= loaded, as a shell command."""
        values = self.unit_values(unit)
        env_file = self.remap(values["EnvironmentFile"])
        return (f"(set -a; . {shlex.quote(env_file)}; set +a; "
                f"exec {self.remap(values['ExecStart'])})")

    def start(self) -> None:
        # The volume is a mount point, as kopsgen-etcd-volume leaves it; systemd restarts
        # the member as Restart= and RestartSec= say.
        values = self.unit_values("etcd.service")
        assert values["Restart"] == "always"
        script = (f"mount --bind {self.volume} {self.volume} && while :; do "
                  f"{self.unit_command('etcd.service')}; sleep {values['RestartSec']}; done")
        log = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.host.argv("sh", "-c", script), stdout=log,
                                     stderr=subprocess.STDOUT, env=etcd_env(),
                                     start_new_session=True)
        self._log = log

    def stop(self) -> None:
        if self.proc is not None:
            # The instance is gone: the restart loop and etcd with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self._log.close()
            self.proc = None

    def reconcile(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.host.argv("sh", "-c", self.unit_command("kopsgen-etcd-reconcile.service")),
            capture_output=True, text=True, env=etcd_env(), timeout=60)

    def ctl(self, *args: str, endpoints: str | None = None) -> subprocess.CompletedProcess:
        pki = self.root / "pki"
        return subprocess.run(self.host.argv(
            helpers.require_tool("etcdctl"), f"--endpoints={endpoints or self.client_url}",
            f"--cacert={pki / 'ca.pem'}", f"--cert={pki / 'etcd.pem'}",
            f"--key={pki / 'etcd-key.pem'}", "--dial-timeout=3s", "--command-timeout=5s",
            *args), capture_output=True, text=True, env=etcd_env(), timeout=30)

    @property
    def client_url(self) -> str:
        return f"https://{NAMES[self.index]}:2379"

    def logged(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return self.logged()[-3000:]


def member_table(member: Member) -> dict[str, tuple[str, bool]]:
    """name -> (status, is learner) from `etcdctl member list` on ``member``."""
    out = member.ctl("member", "list")
    assert out.returncode == 0, out.stderr
    return helpers.etcd_member_table(out.stdout)


def wait_for(what: str, check, members: list[Member], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except AssertionError:
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {m.name}\n{m.tail()}" for m in members)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(1)


def voting(members: list[Member], names: set[str]):
    def check() -> bool:
        return member_table(members[0]) == {n: ("started", False) for n in names}
    return check


@pytest.fixture
def cluster(tmp_path):
    helpers.require_tool("etcd")
    helpers.require_tool("etcdctl")
    with netns.lab(NAMES) as lab:
        pki = PkiParams(cluster_name="membership", external_dns_name="k8s.test.example",
                        service_cidr="10.3.0.0/24", etcd_names=tuple(NAMES))
        creds = render_credentials(pki, {}, datetime.now(UTC)).files
        members_file = tmp_path / "members"
        members = [Member(i, lab, tmp_path, creds, members_file) for i in range(5)]
        try:
            yield members, members_file
        finally:
            for m in members:
                m.stop()


def test_members_form_rejoin_are_replaced_grow_and_shrink(cluster) -> None:
    members, members_file = cluster
    three, five = cloud_config(3), cloud_config(5)
    first = members[:3]

    # The cluster forms: three blank members start at once, each from the rendered unit.
    members_file.write_text("etcd0\netcd1\netcd2\n")
    for m in first:
        m.install(three)
        m.start()
    wait_for("three voting members", voting(members, {"etcd0", "etcd1", "etcd2"}), first)
    assert members[0].ctl("put", "/kopsgen/probe", "kept").returncode == 0
    assert "no member of the cluster answers" in members[0].logged()

    # A member replaced by a new instance with the same volume rejoins with its data.
    members[1].stop()
    members[1].install(three)
    members[1].start()
    wait_for("etcd1 back", lambda: members[1].ctl("endpoint", "health").returncode == 0, first)
    got = members[1].ctl("get", "/kopsgen/probe", "--print-value-only")
    assert got.stdout.strip() == "kept", got.stderr
    assert member_table(members[0]) == {n: ("started", False) for n in ("etcd0", "etcd1", "etcd2")}

    # A member whose volume is new (its data gone) replaces its stale entry and catches up.
    members[2].stop()
    subprocess.run(["rm", "-rf", str(members[2].volume / "data")], check=True)
    members[2].install(three)
    members[2].start()
    wait_for("etcd2 re-added", lambda: "added etcd2 to the running cluster as a learner"
             in members[2].logged(), first)
    assert "the cluster lists etcd2" in members[2].logged()
    assert "replacing the stale member" in members[2].logged()
    wait_for("etcd2 promoted", lambda: members[0].reconcile() and
             voting(members, {"etcd0", "etcd1", "etcd2"})(), first)

    # etcdCount 3 -> 5: the new members add themselves (one learner at a time) and the
    # reconciler promotes each once it has caught up.
    members_file.write_text("".join(f"etcd{i}\n" for i in range(5)))
    for m in members[3:]:
        m.install(five)
        m.start()

    def all_five() -> bool:
        for m in first:
            m.reconcile()
        return voting(members, {f"etcd{i}" for i in range(5)})()

    wait_for("five voting members", all_five, members, timeout=150)
    logs = members[3].logged() + members[4].logged()
    assert "added etcd3 to the running cluster as a learner" in logs
    assert "added etcd4 to the running cluster as a learner" in logs
    got = members[4].ctl("get", "/kopsgen/probe", "--print-value-only")
    assert got.stdout.strip() == "kept"

    # etcdCount 5 -> 3: Terraform writes the shorter list and terminates etcd3 and etcd4;
    # the reconciler on the others removes them.
    members_file.write_text("etcd0\netcd1\netcd2\n")
    for m in members[3:]:
        m.stop()
    out = members[0].reconcile()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "removing etcd3" in out.stdout and "removing etcd4" in out.stdout
    assert voting(members, {"etcd0", "etcd1", "etcd2"})()
    health = members[0].ctl("endpoint", "health", "--cluster")
    assert health.returncode == 0, health.stderr
    assert members[1].ctl("get", "/kopsgen/probe", "--print-value-only").stdout.strip() == "kept"

    # A member that is not in the list itself removes nothing; a list it cannot read, neither.
    members_file.write_text("etcd0\n")
    out = members[1].reconcile()
    assert "etcd1 is not in the member list itself; removing nothing" in out.stdout
    members_file.unlink()
    out = members[0].reconcile()
    assert "cannot read the member list; removing nothing" in out.stdout
    assert voting(members, {"etcd0", "etcd1", "etcd2"})()
