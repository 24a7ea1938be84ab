"""The sandbox machines' network: one flat segment of the cluster's VPC, with nothing
beyond it.

- A bridge in a network namespace of its own (the hub). Each machine's namespace has a veth
  into it with the instance's private address, with the VPC's prefix length, and a route to
  169.254.169.254 on that link. Nothing else: no default route, so no packet can leave the
  sandbox.
- The hub holds the addresses of the VPC's services: the resolver at the VPC's base + 2
  (AmazonProvidedDNS, as in AWS), the metadata service at 169.254.169.254, and the sandbox's
  HTTPS endpoint (S3, the release mirror) and load balancer stand-ins at base + 3, + 4.
- dnsmasq answers on the resolver address: the records of the cluster's private zone (read
  from the emulator), the API names (the load balancer stand-ins), and the S3, release and
  mirror hosts (the HTTPS endpoint). Any other name does not resolve.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

IMDS_ADDRESS = "169.254.169.254"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def plug(hub: str, netns: str, outer: str, inner: str, address: str) -> None:
    """A veth pair from the bridge ``br0`` of namespace ``hub`` into ``netns``, where it is
    ``eth0`` with ``address`` (address/prefix length), up, with ``lo``."""
    ip("link", "add", outer, "type", "veth", "peer", "name", inner)
    ip("link", "set", outer, "netns", hub)
    ip("-n", hub, "link", "set", outer, "master", "br0", "up")
    ip("link", "set", inner, "netns", netns)
    ip("-n", netns, "link", "set", inner, "name", "eth0")
    ip("-n", netns, "addr", "add", address, "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", netns, "link", "set", "lo", "up")


@dataclass
class Network:
    prefix: str  # short id of this sandbox in every name: "kg" and 4 hex digits
    vpc_cidr: str
    root: Path  # where dnsmasq's files live

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    @property
    def net(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.vpc_cidr)

    @property
    def dns_address(self) -> str:
        return str(self.net.network_address + 2)

    @property
    def web_address(self) -> str:
        return str(self.net.network_address + 3)

    @property
    def lb_address(self) -> str:
        return str(self.net.network_address + 4)

    def exists(self) -> bool:
        return Path(f"/run/netns/{self.hub}").exists()

    def create(self) -> None:
        if self.exists():
            return
        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "set", "lo", "up")
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        plen = self.net.prefixlen
        for address in (self.dns_address, self.web_address, self.lb_address):
            ip("-n", self.hub, "addr", "add", f"{address}/{plen}", "dev", "br0")
        ip("-n", self.hub, "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "br0")

    def machine_netns(self, index: int) -> str:
        return f"{self.prefix}-m{index}"

    def add_machine(self, index: int, address: str) -> str:
        netns = self.machine_netns(index)
        self.remove_machine(index)
        ip("netns", "add", netns)
        plug(self.hub, netns, f"{self.prefix}o{index}", f"{self.prefix}i{index}",
             f"{address}/{self.net.prefixlen}")
        ip("-n", netns, "route", "add", IMDS_ADDRESS, "dev", "eth0")
        return netns

    def remove_machine(self, index: int) -> None:
        netns = self.machine_netns(index)
        if Path(f"/run/netns/{netns}").exists():
            _kill_all(netns)
            ip("netns", "del", netns, check=False)

    # -- DNS ---------------------------------------------------------------------------

    def hosts_file(self) -> Path:
        return self.root / "hosts"

    def write_hosts(self, records: dict[str, str]) -> None:
        """name -> address, for dnsmasq (re-read on SIGHUP)."""
        text = "".join(f"{addr} {name}\n" for name, addr in sorted(records.items()))
        tmp = self.hosts_file().with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.hosts_file())

    def start_dns(self, web_hosts: list[str]) -> int:
        """dnsmasq in the hub; returns its pid (a running one is told to re-read)."""
        pid_file = self.root / "dnsmasq.pid"
        pid = _pid(pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return pid
        args = ["ip", "netns", "exec", self.hub, "dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
                f"--listen-address={self.dns_address}", "--bind-interfaces",
                f"--addn-hosts={self.hosts_file()}", "--local=/internal/",
                f"--pid-file={pid_file}", f"--log-facility={self.root / 'dnsmasq.log'}",
                "--log-queries"]
        args += [f"--address=/{host}/{self.web_address}" for host in web_hosts]
        log = open(self.root / "dnsmasq.out", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        for _ in range(50):
            if _pid(pid_file):
                return proc.pid
            if proc.poll() is not None:
                raise RuntimeError(f"dnsmasq did not start: {(self.root / 'dnsmasq.out').read_text()}")
            time.sleep(0.1)
        return proc.pid

    def destroy(self) -> None:
        pid = _pid(self.root / "dnsmasq.pid")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for entry in Path("/run/netns").glob(f"{self.prefix}-*") if Path("/run/netns").is_dir() else ():
            _kill_all(entry.name)
            ip("netns", "del", entry.name, check=False)


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _kill_all(netns: str) -> None:
    pids = ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
