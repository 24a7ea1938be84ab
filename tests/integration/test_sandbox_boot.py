"""The seed cluster's machines boot for real in the sandbox (`kopsgen up --sandbox --boot`):
each instance the emulator holds is a systemd-nspawn container that runs its user data as
Flatcar's oem-cloudinit does, and everything after that is the rendered artifact on real
systemd -- the bootstrap fetching from the emulator's S3 through the metadata service's
role credentials, the units, the scripts, Debian's etcd forming the cluster over the
sandbox network by its DNS names. What is a stand-in is named in docs/sandbox.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import helpers
import pytest

from kopsgen.boot import BootLab, machines, missing_requirements
from kopsgen.errors import ExitCode
from kopsgen.render.pki import ROLE_FILES
from kopsgen.sandbox import Sandbox
from kopsgen.spec import load_spec

pytestmark = pytest.mark.slow


ADMIN_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUiSdsvdKYtxoA7GcR6VyqxA9nxHzJ9MnmFyIGGc4mV "
             "admin@example.com")


def lab_of(cluster: Path) -> BootLab:
    sandbox = Sandbox(cluster)
    sandbox.start()  # the running emulator of this cluster
    return BootLab(sandbox, load_spec(cluster / "cluster.yaml").spec, lambda line: None)


def running(cluster: Path) -> dict[str, machines.Machine]:
    """Machines by name."""
    return {m.name: m for m in lab_of(cluster).load().values()}


def inside(m: machines.Machine, script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return machines.run(m, "sh", "-c", script, timeout=timeout)


ETCDCTL = ("ETCDCTL_API=3 /opt/bin/etcdctl --cacert=/etc/kubernetes/pki/ca.pem "
           "--cert=/etc/kubernetes/pki/etcd.pem --key=/etc/kubernetes/pki/etcd-key.pem "
           "--dial-timeout=3s --command-timeout=10s")


def members(m: machines.Machine) -> dict[str, tuple[str, bool]]:
    out = inside(m, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list")
    assert out.returncode == 0, out.stderr
    return helpers.etcd_member_table(out.stdout)


def eventually(what: str, check, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (AssertionError, subprocess.TimeoutExpired, RuntimeError) as exc:
            last = exc
        time.sleep(3)
    pytest.fail(f"timed out waiting for {what} ({last})")


def netns_of(lab: BootLab) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(lab.net.prefix)]


def leftovers(lab: BootLab) -> list[str]:
    left = netns_of(lab)
    left += [ln for ln in Path("/proc/mounts").read_text().splitlines() if str(lab.work) in ln]
    left += [ln for ln in subprocess.run(["losetup", "-a"], capture_output=True,
                                         text=True).stdout.splitlines() if str(lab.work) in ln]
    left += [f"pid {m.pid}" for m in lab.load().values() if machines.running(m)]
    return left


@pytest.fixture
def cleanup(tmp_path):
    """Whatever the test leaves running, it does not outlive the test."""
    yield
    sandbox = Sandbox(tmp_path)
    if (tmp_path / ".kopsgen" / "sandbox" / "boot").exists():
        spec = load_spec(tmp_path / "cluster.yaml").spec
        BootLab(sandbox, spec, lambda line: None).stop(volumes=True)
    sandbox.stop()


def test_the_seed_cluster_boots_in_the_sandbox(cli, tmp_path, cleanup):
    helpers.require_tool("terraform")
    helpers.require_module("moto.server")
    problems = missing_requirements()
    if problems:
        helpers.missing("--boot needs: " + "; ".join(problems))
    spec = (helpers.REPO / "examples" / "kubeops" / "cluster.yaml").read_text()
    # Fewer workers than the seed's four: one pool of one node is a whole worker's boot.
    # An admin key for the core user: every role must authorize it (issue 11: it was
    # accepted and dropped).
    spec = spec.replace("    count: 4\n", "    count: 1\n") + f"sshAuthorizedKeys:\n  - {ADMIN_KEY!r}\n"
    (tmp_path / "cluster.yaml").write_text(spec)

    r = cli("up", "--sandbox", "--boot", "--yes")
    assert r.code == ExitCode.OK, r.err + r.out
    booted = re.findall(r"^(\S+)\s+(i-\w+)\s+(\S+)\s+booted in (\d+) s$", r.out, re.M)
    assert sorted(b[0] for b in booted) == ["controller-0", "controller-1", "etcd0", "etcd1",
                                            "etcd2", "nodepool1-0"], r.out
    assert "PROBLEM" not in r.out
    assert "stand-ins: kubelet (kopsgen sandbox stand-in)" in r.out
    ms = running(tmp_path)

    # Every unit in its expected state; what needs the API waits for it in the background.
    lab = lab_of(tmp_path)
    for name, m in ms.items():
        report = lab.report(m)
        assert report.problems == [], (name, report.problems)
        assert report.units["kopsgen-bootstrap.service"] == "active (exited)", name
        assert report.units["locksmithd.service"] == "masked", name
        for unit, state in report.units.items():
            assert state in ("active (exited)", "active (running)", "active (waiting)",
                             "masked"), (name, unit, state)
    assert "kopsgen-addons.service waits, as it should: kopsgen-apply-addons: waiting for " \
        "the local API server" in r.out

    # The controller's cloud-config run went past the node label (the first release's
    # deadlock) to its last command.
    log = inside(ms["controller-0"], "journalctl -u kopsgen-bootstrap -o cat --no-pager").stdout
    assert 'Calling unit command "start" on "kopsgen-node-role.service"' in log
    assert 'Result of "start" on "kopsgen-node-role.service": done' in log

    # sshAuthorizedKeys reached the core user on every role, as coreos-cloudinit puts them.
    for name, m in ms.items():
        keys = inside(m, "stat -c '%U %a' /home/core/.ssh/authorized_keys && "
                         "cat /home/core/.ssh/authorized_keys").stdout.splitlines()
        assert keys[0] == "core 600", (name, keys)
        assert ADMIN_KEY in keys[1:], (name, keys)

    # Credentials: each role's own files, keys 0600, nothing of another role.
    for name, m in ms.items():
        listing = inside(m, "stat -c '%n %a' /etc/kubernetes/pki/*").stdout.split("\n")
        got = {line.split()[0].rsplit("/", 1)[1]: line.split()[1] for line in listing if line}
        assert set(got) == set(ROLE_FILES[m.role]), name
        assert all(mode == ("600" if f.endswith("-key.pem") else "644")
                   for f, mode in got.items()), (name, got)

    # A controller signs its own kubelet identity and starts the kubelet (a stand-in here)
    # as kopsgen-kubelet starts the real one; a worker proves its instance to the API,
    # which the sandbox does not run, so it waits in the background (kubelet.service is
    # active (running), above) and says so.
    argv = inside(ms["controller-0"], "cat /var/log/kopsgen-standins/kubelet").stdout.split("\n")
    assert "--kubeconfig=/etc/kubernetes/kubelet-kubeconfig" in argv
    assert not any(a.startswith("--bootstrap-kubeconfig") for a in argv)
    assert inside(ms["controller-0"], "openssl x509 -noout -subject -nameopt RFC2253 -in "
                  "/var/lib/kubelet/pki/kubelet-client-current.pem").stdout.startswith(
                      "subject=CN=system:node:")
    journal = inside(ms["nodepool1-0"], "journalctl -u kubelet -o cat --no-pager").stdout
    assert "kopsgen-node-identity: waiting for the API server at https://api.k8s.internal" \
        in journal, journal[-2000:]

    # etcd: one cluster of three, over the sandbox network by name, mutual TLS.
    names = ",".join(f"https://etcd{i}.k8s.internal:2379" for i in range(3))
    health = inside(ms["etcd0"], f"{ETCDCTL} --endpoints={names} endpoint health")
    assert health.returncode == 0 and health.stderr.count("is healthy") == 3, health
    assert inside(ms["etcd0"], f"{ETCDCTL} --endpoints={names} put /kopsgen/probe kept"
                  ).returncode == 0
    assert members(ms["etcd0"]) == {f"etcd{i}": ("started", False) for i in range(3)}

    # A node that cannot fetch its credentials keeps trying, and says so.
    sandbox_s3 = lab_of(tmp_path).sandbox.client("s3", "us-east-1")
    bucket = next(b["Name"] for b in sandbox_s3.list_buckets()["Buckets"]
                  if b["Name"].startswith("kopsgen-k8s") and not b["Name"].endswith("-log"))
    sandbox_s3.delete_object(Bucket=bucket, Key="k8s/credentials/worker/worker-key.pem")
    worker = ms["nodepool1-0"]
    inside(worker, "rm -f /etc/kubernetes/pki/worker-key.pem; "
           "systemctl restart --no-block kopsgen-credentials.service")
    eventually("the worker to say it keeps trying", lambda: "worker-key.pem not fetched "
               "(attempt 2" in inside(worker, "journalctl -u kopsgen-credentials -o cat "
                                      "--no-pager").stdout, timeout=120)
    assert machines.unit_state(worker, "kopsgen-credentials.service")["ActiveState"] == \
        "activating"
    assert cli("credentials", "push", "--sandbox").code == ExitCode.OK
    eventually("the worker's credentials", lambda: machines.unit_state(
        worker, "kopsgen-credentials.service")["ActiveState"] == "active", timeout=120)

    # A member terminated and replaced by a new instance with the same volume rejoins
    # with its data.
    old = ms["etcd1"]
    sandbox = lab_of(tmp_path).sandbox
    env = {**sandbox.env(), **helpers.terraform_env(tmp_path)}
    tf = subprocess.run(["terraform", "apply", "-input=false", "-auto-approve",
                         '-replace=module.etcd.aws_instance.member["etcd1"]'],
                        cwd=sandbox.workdir, env=env, capture_output=True, text=True)
    assert tf.returncode == 0, tf.stdout[-3000:] + tf.stderr[-3000:]
    r = cli("update", "--sandbox", "--boot", "--yes")
    assert r.code == ExitCode.OK, r.err + r.out
    ms = running(tmp_path)
    assert ms["etcd1"].instance_id != old.instance_id
    assert ms["etcd1"].volume_id == old.volume_id
    got = inside(ms["etcd1"], f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 get /kopsgen/probe "
                 "--print-value-only")
    assert got.stdout.strip() == "kept", got
    assert members(ms["etcd0"]) == {f"etcd{i}": ("started", False) for i in range(3)}

    # An interrupted boot removes everything it made; the next one starts clean, and the
    # members come back with their data. (Before the etcdCount change below: the lab boots
    # each machine on a fresh root disk, so a member whose credentials that change reissued
    # would fetch the new version and wait for its own, where an AWS reboot keeps the disk.)
    lab = lab_of(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(BootLab, "wait", lambda self, *a, **k: (_ for _ in ()).throw(
            KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            lab.boot()
    assert leftovers(lab) == []
    r = cli("update", "--sandbox", "--boot", "--yes")
    assert r.code == ExitCode.OK, r.err + r.out
    ms = running(tmp_path)
    eventually("the members back", lambda: inside(
        ms["etcd1"], f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 get /kopsgen/probe "
        "--print-value-only").stdout.strip() == "kept")

    # etcdCount 3 -> 5 -> 3, with nothing run by hand.
    (tmp_path / "cluster.yaml").write_text(
        (tmp_path / "cluster.yaml").read_text().replace("etcdCount: 3", "etcdCount: 5"))
    r = cli("update", "--sandbox", "--boot", "--yes")
    assert r.code == ExitCode.OK, r.err + r.out
    ms = running(tmp_path)
    eventually("five voting members", lambda: members(ms["etcd0"]) == {
        f"etcd{i}": ("started", False) for i in range(5)}, timeout=300)
    (tmp_path / "cluster.yaml").write_text(
        (tmp_path / "cluster.yaml").read_text().replace("etcdCount: 5", "etcdCount: 3"))
    r = cli("update", "--sandbox", "--boot", "--yes")
    assert r.code == ExitCode.OK, r.err + r.out
    # The etcd serving certificate names every member, so the change reissued it: the plan
    # names each member still on the old one, with its command.
    assert "replace it -- one member at a time" in r.out, r.out
    assert "-replace='module.etcd.aws_instance.member[\"etcd0\"]'" in r.out, r.out
    ms = running(tmp_path)
    assert sorted(n for n in ms if n.startswith("etcd")) == ["etcd0", "etcd1", "etcd2"]
    eventually("three members again", lambda: members(ms["etcd0"]) == {
        f"etcd{i}": ("started", False) for i in range(3)}, timeout=180)
    assert inside(ms["etcd2"], f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 get /kopsgen/probe "
                  "--print-value-only").stdout.strip() == "kept"

    r = cli("destroy", "--sandbox", "--yes", "--delete-etcd-data")
    assert r.code == ExitCode.OK, r.err
    assert leftovers(lab) == []
    assert not (lab.work / "volumes").exists()
    shutil.rmtree(tmp_path / ".kopsgen", ignore_errors=True)
    print("boot: " + json.dumps({b[0]: int(b[3]) for b in booted}))
