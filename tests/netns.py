"""Test hosts of their own: network namespaces on a bridge, each with an address and an
/etc/hosts of the names the test gives them. Nothing reaches outside: the bridge lives in a
namespace of its own, with no route anywhere else. Needs root and iproute2."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import helpers

from kopsgen.boot.net import plug

NETNS_ETC = Path("/etc/netns")


def require_netns() -> None:
    """Skip (or fail under KOPSGEN_REQUIRE_TOOLS=1) where namespaces cannot be made."""
    helpers.require_tool("ip")
    helpers.require_tool("unshare")
    if os.geteuid() != 0:
        helpers.missing("network namespaces need root (ip netns add)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    name: str  # its DNS name, e.g. etcd0.test.internal
    netns: str
    address: str

    def argv(self, *argv: str) -> list[str]:
        """``argv`` run on this host (its network namespace and /etc/hosts)."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Lab:
    prefix: str
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"


@contextlib.contextmanager
def lab(names: list[str], subnet: str = "10.213.0") -> Lab:
    """Hosts ``names`` at <subnet>.10, .11, ... that resolve each other by name."""
    require_netns()
    prefix = f"kg{os.getpid() % 100000}"
    net = Lab(prefix)
    try:
        _ip("netns", "add", net.hub)
        _ip("-n", net.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", net.hub, "link", "set", "br0", "up")
        for i, name in enumerate(names):
            add_host(net, name, f"{subnet}.{10 + i}", names)
        yield net
    finally:
        for host in net.hosts.values():
            subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True)
            for pid in subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True,
                                      text=True).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            shutil.rmtree(NETNS_ETC / host.netns, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", net.hub], capture_output=True)


def add_host(net: Lab, name: str, address: str, names: list[str]) -> Host:
    index = len(net.hosts)
    netns = f"{net.prefix}-h{index}"
    _ip("netns", "add", netns)
    plug(net.hub, netns, f"{net.prefix}o{index}", f"{net.prefix}i{index}", f"{address}/24")
    host = Host(name, netns, address)
    net.hosts[name] = host
    base = address.rsplit(".", 1)[0]
    hosts = "127.0.0.1 localhost\n" + "".join(
        f"{base}.{10 + i} {n}\n" for i, n in enumerate(names))
    (NETNS_ETC / netns).mkdir(parents=True, exist_ok=True)
    (NETNS_ETC / netns / "hosts").write_text(hosts)
    return host
