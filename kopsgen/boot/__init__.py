"""`kopsgen up --sandbox --boot`: every instance the AWS emulator holds boots for real, as a
systemd-nspawn container, from the user data Terraform gave it (docs/sandbox.md).

The pieces, one file each: :mod:`~kopsgen.boot.rootfs` (the cached Debian root filesystem
and the Flatcar stand-ins on top), :mod:`~kopsgen.boot.cloudinit` (coreos-cloudinit),
:mod:`~kopsgen.boot.net` (the VPC segment, DNS), :mod:`~kopsgen.boot.services` (instance
metadata, S3, the release mirror, load balancer stand-ins), :mod:`~kopsgen.boot.mirror`
(what the install scripts download), :mod:`~kopsgen.boot.machines` (one container).
:class:`BootLab` puts them together and keeps them in step with the emulator: a machine per
running instance, started when the instance appears, stopped when it goes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kopsgen import naming
from kopsgen.boot import machines, mirror, net, rootfs
from kopsgen.boot.machines import Machine
from kopsgen.errors import ExitCode, KopsgenError, UsageError
from kopsgen.pins import CNI_PLUGINS_VERSION

#: (program, Debian package) the boot needs on this machine.
TOOLS = (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"),
         ("dnsmasq", "dnsmasq-base"), ("ip", "iproute2"), ("losetup", "mount"),
         ("nsenter", "util-linux"), ("etcd", "etcd-server"), ("etcdctl", "etcd-client"))
TOOL_PATHS = ("/usr/sbin", "/sbin")


def missing_requirements() -> list[str]:
    """What keeps this machine from booting sandbox machines, as things to do."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root: the machines need network namespaces, loop devices and "
                        "mounts")
    if not Path("/sys/fs/cgroup").is_dir():
        problems.append("this machine has no cgroup file system for systemd-nspawn")
    search = os.pathsep.join([os.environ.get("PATH", ""), *TOOL_PATHS])
    absent = [pkg for tool, pkg in TOOLS if shutil.which(tool, path=search) is None]
    if absent:
        problems.append(f"install {', '.join(absent)}: apt-get install "
                        f"{' '.join(dict.fromkeys(absent))}")
    return problems


@dataclass
class MachineReport:
    machine: Machine
    booted_in: float | None  # seconds from container start to the end of its cloud-config
    units: dict[str, str] = field(default_factory=dict)  # unit -> "active (running)"
    notes: list[str] = field(default_factory=list)  # why a unit waits
    problems: list[str] = field(default_factory=list)


class BootLab:
    def __init__(self, sandbox, spec, say):
        self.sandbox, self.spec, self.say = sandbox, spec, say
        self.work = (sandbox.root / "boot").resolve()
        digest = hashlib.sha256(str(self.work.resolve()).encode()).hexdigest()[:4]
        self.net = net.Network(f"kg{digest}", spec.vpc_cidr, self.work)
        self.state_file = self.work / "state.json"

    # -- state -------------------------------------------------------------------------

    def load(self) -> dict[str, Machine]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {iid: Machine(**m) for iid, m in data.get("machines", {}).items()}

    def save(self, ms: dict[str, Machine], services_pid: int | None) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        data = {"machines": {iid: m.to_json() for iid, m in ms.items()},
                "services_pid": services_pid}
        self.state_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    # -- the emulator's view -------------------------------------------------------------

    def inventory(self) -> list[dict]:
        """Every running instance of the cluster, with what its machine needs."""
        region = self.spec.region
        ec2 = self.sandbox.client("ec2", region)
        iam = self.sandbox.client("iam", region)
        name = self.spec.cluster_name
        pages = ec2.describe_instances(Filters=[
            {"Name": f"tag:{naming.cluster_tag(self.spec)}", "Values": ["owned"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        out = []
        for r in pages["Reservations"]:
            for i in r["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                group = tags.get("aws:autoscaling:groupName")
                if group == f"{name}-controller":
                    role = "controller"
                elif group:
                    role = "worker"
                elif re.fullmatch(rf"{re.escape(name)}-etcd\d+", tags.get("Name", "")):
                    role = "etcd"
                else:
                    continue
                user_data = ec2.describe_instance_attribute(
                    InstanceId=i["InstanceId"], Attribute="userData")["UserData"].get("Value", "")
                volume = None
                if role == "etcd":
                    vols = ec2.describe_volumes(Filters=[
                        {"Name": "attachment.instance-id", "Values": [i["InstanceId"]]},
                        {"Name": "attachment.device", "Values": ["/dev/xvdf"]}])["Volumes"]
                    volume = (vols[0]["VolumeId"], vols[0]["Size"]) if vols else None
                role_arn = iam.get_role(RoleName=f"{name}-{role}")["Role"]["Arn"]
                out.append({
                    "instance_id": i["InstanceId"], "role": role, "group": group,
                    "etcd_name": tags.get("Name", "").removeprefix(f"{name}-"),
                    "address": i["PrivateIpAddress"], "dns": i["PrivateDnsName"],
                    "zone": i["Placement"]["AvailabilityZone"], "user_data_b64": user_data,
                    "hop_limit": (i.get("MetadataOptions") or {}).get("HttpPutResponseHopLimit", 1),
                    "role_arn": role_arn, "role_name": f"{name}-{role}", "volume": volume,
                    "launched": i["LaunchTime"].timestamp()})
        return sorted(out, key=lambda x: (x["role"], x["launched"], x["instance_id"]))

    def records(self, lb: str) -> dict[str, str]:
        """name -> address: the private zone's A records, and the API names (the load
        balancers' aliases) at the load balancer stand-in."""
        r53 = self.sandbox.client("route53", self.spec.region)
        zone_name = f"{naming.internal_domain(self.spec)}."
        out = {}
        for zone in r53.list_hosted_zones()["HostedZones"]:
            if zone["Name"] != zone_name:
                continue
            for rr in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
                name = rr["Name"].rstrip(".")
                if rr["Type"] == "A" and "AliasTarget" in rr:
                    out[name] = lb
                elif rr["Type"] == "A":
                    out[name] = rr["ResourceRecords"][0]["Value"]
        out[self.spec.external_dns_name] = lb
        return out

    # -- boot --------------------------------------------------------------------------

    def boot(self, *, timeout: float = 900) -> list[MachineReport]:
        """Bring the machines in step with the emulator and wait until each has booted."""
        problems = missing_requirements()
        if problems:
            raise UsageError("--boot cannot run here: " + "; ".join(problems))
        try:
            return self._boot(timeout)
        except BaseException:
            self.say("boot: stopping every sandbox machine after the failed boot")
            self.stop()
            raise

    def _boot(self, timeout: float) -> list[MachineReport]:
        for d in ("logs", "disks", "volumes"):
            (self.work / d).mkdir(parents=True, exist_ok=True)
        base = rootfs.base_rootfs(self.say)
        wanted = self.inventory()
        if not wanted:
            raise KopsgenError("boot: the emulator holds no running instance of the cluster",
                               exit_code=ExitCode.NOT_READY)
        ms = self.load()
        self.net.create()
        # Machines whose instance is gone (terminated, replaced) power off; their disks go.
        live = {w["instance_id"] for w in wanted}
        for iid, m in list(ms.items()):
            if iid not in live:
                self.say(f"boot: {m.name} ({iid}) is gone from the emulator: powering it off")
                machines.stop(m, self.work, keep_disk=False)
                self.net.remove_machine(m.index)
                del ms[iid]
        ca = self._tls()
        self._mirror()
        services_pid = self._services(wanted, ms)
        lb = self.net.lb_address
        self.net.write_hosts(self.records(lb))
        web_hosts = ["amazonaws.com", "dl.k8s.io", "github.com"]
        if self.spec.assets.file_repository:
            web_hosts.append(self.spec.assets.file_repository.split("/")[2].split(":")[0])
        self.net.start_dns(web_hosts)
        used = {m.index for m in ms.values()}
        started = []
        counters: dict[str, int] = {}
        for w in wanted:
            key = w["etcd_name"] if w["role"] == "etcd" else (
                "controller" if w["role"] == "controller" else w["group"].removeprefix(
                    f"{self.spec.cluster_name}-"))
            n = counters.get(key, 0)
            counters[key] = n + 1
            if w["instance_id"] in ms and machines.running(ms[w["instance_id"]]):
                continue
            index = min(set(range(len(used) + 1)) - used)
            used.add(index)
            m = Machine(index=index, instance_id=w["instance_id"],
                        name=key if w["role"] == "etcd" else f"{key}-{n}", role=w["role"],
                        address=w["address"], hostname=w["dns"].split(".")[0], zone=w["zone"])
            m.netns = self.net.add_machine(index, m.address)
            if w["volume"]:
                vid, size = w["volume"]
                m.volume_id = vid
                m.loop = machines.attach(machines.volume_file(self.work, vid, size))
            machines.start(m, self.work, base, self._machine_files(ca))
            ms[w["instance_id"]] = m
            started.append(m)
            self.say(f"boot: {m.name} ({m.instance_id}, {m.address}) starting"
                     + (f", its data volume {m.volume_id} on {m.loop}" if m.loop else ""))
        self.save(ms, services_pid)
        return self.wait(list(ms.values()), timeout)

    def _tls(self) -> bytes:
        """The sandbox CA and the certificate of its HTTPS endpoint (S3, the mirror)."""
        # Deferred: cryptography is a third of a start-up, and only a --boot needs this.
        from kopsgen.boot import tls

        names = [f"*.s3.{self.spec.region}.amazonaws.com", f"s3.{self.spec.region}.amazonaws.com",
                 "*.s3.amazonaws.com", "s3.amazonaws.com", "dl.k8s.io", "github.com",
                 # kopsgen-node-identity and the controllers' approver (STS, EC2)
                 f"sts.{self.spec.region}.amazonaws.com", f"ec2.{self.spec.region}.amazonaws.com"]
        if self.spec.assets.file_repository:
            names.append(self.spec.assets.file_repository.split("/")[2].split(":")[0])
        return tls.ensure(self.work / "tls", names)

    def _mirror(self) -> None:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
        built = mirror.build(self.work / "mirror", kubernetes_version=self.spec.kubernetes_version,
                             etcd_version=self.spec.etcd_version, cni_version=CNI_PLUGINS_VERSION,
                             arch=arch)
        self.mirror_facts = built

    def _services(self, wanted: list[dict], ms: dict[str, Machine]) -> int:
        repo = self.spec.assets.file_repository
        config = {
            "netns": f"/run/netns/{self.net.hub}", "region": self.spec.region,
            "emulator": self.sandbox.server.endpoint, "imds_address": net.IMDS_ADDRESS,
            "web_address": self.net.web_address, "mirror_root": str(self.work / "mirror"),
            "tls_cert": str(self.work / "tls" / "server.pem"),
            "tls_key": str(self.work / "tls" / "server-key.pem"),
            "file_repository": {"host": repo.split("/")[2].split(":")[0],
                                "prefix": "/" + "/".join(repo.split("/")[3:])} if repo else None,
            "instances": {w["address"]: {
                "instance_id": w["instance_id"], "zone": w["zone"], "region": self.spec.region,
                "hostname": w["dns"], "user_data_b64": w["user_data_b64"],
                "role_arn": w["role_arn"], "role_name": w["role_name"],
                "hop_limit": w["hop_limit"]} for w in wanted},
            "load_balancers": {self.net.lb_address: {
                "name": "API load balancers (stand-in)", "port": 443,
                "targets": [w["address"] for w in wanted if w["role"] == "controller"]}},
        }
        path = self.work / "services.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, path)
        pid = self._services_pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return pid
        ready = self.work / "services.ready"
        ready.unlink(missing_ok=True)
        log = open(self.work / "logs" / "services.log", "ab")  # noqa: SIM115 - the child's
        proc = subprocess.Popen([sys.executable, "-m", "kopsgen.boot.services", str(path)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        (self.work / "services.pid").write_text(str(proc.pid))
        for _ in range(100):
            if ready.exists():
                return proc.pid
            if proc.poll() is not None:
                raise KopsgenError("boot: the sandbox services did not start (see "
                                   f"{self.work / 'logs' / 'services.log'})",
                                   exit_code=ExitCode.NOT_READY)
            time.sleep(0.1)
        return proc.pid

    def _services_pid(self) -> int | None:
        try:
            pid = int((self.work / "services.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _machine_files(self, ca: bytes) -> dict[str, tuple[bytes, int]]:
        bundle = self.sandbox_ca_bundle(ca)
        return {"/etc/resolv.conf": (f"nameserver {self.net.dns_address}\n".encode(), 0o644),
                "/etc/ssl/certs/ca-certificates.crt": (bundle, 0o644)}

    def sandbox_ca_bundle(self, ca: bytes) -> bytes:
        base = rootfs.base_rootfs(self.say) / "etc" / "ssl" / "certs" / "ca-certificates.crt"
        return base.read_bytes() + b"\n" + ca

    # -- waiting and reporting ---------------------------------------------------------

    def wait(self, ms: list[Machine], timeout: float) -> list[MachineReport]:
        deadline = time.monotonic() + timeout
        pending = {m.instance_id for m in ms}
        reports: dict[str, MachineReport] = {}
        while pending and time.monotonic() < deadline:
            for m in ms:
                if m.instance_id not in pending:
                    continue
                report = self.report(m)
                reports[m.instance_id] = report
                if report.booted_in is not None and report.problems == [] or \
                        any("failed" in p for p in report.problems):
                    pending.discard(m.instance_id)
                    self.say(f"boot: {m.name} " + (f"booted in {report.booted_in:.0f} s"
                             if report.booted_in is not None else "failed"))
            time.sleep(2)
        for m in ms:
            reports[m.instance_id] = self.report(m)
            if m.instance_id in pending:
                reports[m.instance_id].problems.append(
                    f"its boot did not end within {int(timeout)} s")
        return [reports[m.instance_id] for m in ms]

    def report(self, m: Machine) -> MachineReport:
        r = MachineReport(m, None)
        if not machines.running(m) or machines.init_pid(m) is None:
            r.problems.append("its container is not running")
            return r
        try:
            boot = machines.unit_state(m, "kopsgen-bootstrap.service")
        except (subprocess.TimeoutExpired, RuntimeError) as exc:
            r.problems.append(f"cannot look inside: {exc}")
            return r
        for unit in machines.WATCHED[m.role]:
            s = machines.unit_state(m, unit)
            r.units[unit] = (f"{s.get('ActiveState')} ({s.get('SubState')})"
                             if s.get("LoadState") != "masked" else "masked")
            if s.get("ActiveState") == "failed":
                # Why, in its own words: the report is all a user (or CI) sees of a machine
                # that is gone by the time anyone looks.
                why = self.journal_tail(m, unit, lines=5).replace("\n", " | ")
                r.problems.append(f"{unit} failed ({s.get('Result')})"
                                  + (f": {why}" if why else ""))
        if boot.get("ActiveState") != "active":
            r.problems.append("its cloud-config has not been applied yet "
                              f"(kopsgen-bootstrap.service {boot.get('ActiveState')})")
            return r
        started = machines.run(m, "systemctl", "show", "-p", "UserspaceTimestampMonotonic",
                               "--value").stdout.strip()
        r.booted_in = (int(boot.get("ActiveEnterTimestampMonotonic") or 0)
                       - int(started or 0)) / 1e6
        for unit, say in (("kopsgen-addons.service", "kopsgen-apply-addons"),
                          ("kopsgen-node-role.service", "kopsgen-node-role")):
            if unit in r.units and r.units[unit] == "active (running)":
                last = self.journal_tail(m, unit)
                r.notes.append(f"{unit} waits, as it should: {last or say}")
        return r

    def journal_tail(self, m: Machine, unit: str, lines: int = 1) -> str:
        out = machines.run(m, "journalctl", "-u", unit, "-o", "cat", "-n", str(lines),
                           "--no-pager")
        return out.stdout.strip()

    # -- stopping --------------------------------------------------------------------

    def stop(self, *, volumes: bool = False) -> None:
        """Power off every machine and remove what the boot made: containers, mounts, loop
        devices, network namespaces, the services and dnsmasq -- also what a crashed or
        interrupted run left. The volumes' bytes stay unless ``volumes`` (they belong to the
        emulator's volumes, which outlive instances); the rootfs cache always stays."""
        for m in self.load().values():
            machines.stop(m, self.work, keep_disk=False)
        pid = self._services_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        self.net.destroy()
        # Anything a crashed run left: overlay mounts and loop devices of this sandbox.
        for mount in Path("/proc/mounts").read_text().splitlines():
            target = mount.split()[1]
            if target.startswith(str(self.work / "disks")):
                subprocess.run(["umount", "-l", target], capture_output=True)
        for line in subprocess.run(["losetup", "-a"], capture_output=True,
                                   text=True).stdout.splitlines():
            if str(self.work / "volumes") in line:
                subprocess.run(["losetup", "-d", line.split(":", 1)[0]], capture_output=True)
        self.state_file.unlink(missing_ok=True)
        shutil.rmtree(self.work / "disks", ignore_errors=True)
        if volumes:
            shutil.rmtree(self.work / "volumes", ignore_errors=True)


def decode_user_data(value: str) -> str:
    return base64.b64decode(value).decode()
