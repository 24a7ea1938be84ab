"""A model of how the machines of a kopsgen cluster boot: Flatcar's coreos-cloudinit applying
the rendered user data and cloud-configs on systemd, and what each program waits for.

It runs no machine (the sandbox boot does, docs/sandbox.md); it answers, fast and for every
role at once, whether a first boot or a reboot can block, and why. The rules, with sources:

coreos-cloudinit (flatcar/coreos-cloudinit: initialize/config.go ``Apply`` and
``processUnits``, system/systemd.go ``RunUnitCommand``; go-systemd 4fbc5060 dbus/methods.go):
  C1  write_files are written before any unit.
  C2  then, unit by unit in file order: content and drop-ins written, ``mask``, then
      ``enable`` -- which only enables a unit with an [Install] section (EnableUnitFiles).
  C3  one daemon-reload, then every unit's ``command`` in file order, one after another.
  C4  a command waits until systemd's job for it ends (StartUnit blocks on JobRemoved); a
      failed job is logged and the next command runs; a D-Bus error (a masked or unknown
      unit) ends the whole run.
  C5  on EC2, oem-cloudinit.service (oneshot, WantedBy=multi-user.target) applies the user
      data at every boot (flatcar/init systemd/system/oem-cloudinit.service).

systemd 252 (systemd.unit(5), systemd.service(5), systemd.target(5)):
  S1  a start job pulls in start jobs for the unit's Requires=, Wants= and BindsTo=.
  S2  a job waits for the queued jobs of the units it is After= (or that are Before= it).
  S3  a start job of a Type=simple or exec service ends once ExecStartPre= has run and the
      main process is forked; of Type=oneshot once ExecStart= has exited; of Type=notify
      once the service reports READY=1; of a timer or target at once.
  S4  a failed Requires= dependency fails the job ("dependency"); a failed Wants= does not.
  S5  TimeoutStartSec= (default 90 s, none for oneshot, 0 or infinity for none): a start
      that waits on something outside the machine must have no timeout, or systemd kills it
      and starts over for as long as the wait lasts.
  S6  a target gains After= on the units it wants (DefaultDependencies=yes).
  S7  starting a unit with a queued start job joins that job.

Programs: :data:`PROGRAMS` says what each program a unit runs waits for and what it makes
true. It is read off the scripts themselves (kopsgen/templates/cloudconfig/scripts): every
kopsgen program waits for what it needs -- in a loop of its own or under kopsgen-retry --
and none gives up. A program missing from the table is an error, so a new script must be
described here before a boot test passes.

Kubernetes (kubernetes.io docs: static pods; TLS bootstrapping; kubelet-tls-bootstrapping):
  K1  a kubelet runs the static pods in staticPodPath without an API server: on a
      controller, kube-apiserver, kube-controller-manager and kube-scheduler.
  K2  kube-apiserver answers /readyz once etcd has a quorum.
  K3  a kubelet registers its Node once it runs with a client certificate of its own node
      and the API server of its kubeconfig (/etc/kubernetes/kubelet-kubeconfig) answers.
      kopsgen-kubelet starts the kubelet only after kopsgen-node-identity has that
      certificate (docs/credentials.md): a node holding the cluster CA key (a controller:
      ca-key.pem among the credentials it fetches) signs its own at once; any other node
      once its bootstrap identity may create certificate signing requests (the bootstrap
      RBAC), the API answers, a controller's approver runs (it needs its local API) and
      kube-controller-manager signs what it approves.
  K4  etcd has a quorum once more than half of its members run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import yaml

#: Units Flatcar ships that the cloud-configs name (flatcar/scripts; flatcar/init).
OS_UNITS = {
    "containerd.service": "[Service]\nType=notify\nExecStart=/usr/bin/containerd\n",
    "systemd-logind.service": "[Service]\nType=notify\nExecStart=/usr/lib/systemd/systemd-logind\n",
    "update-engine.service": "[Service]\nType=simple\nExecStart=/usr/sbin/update_engine\n",
    "locksmithd.service": "[Service]\nType=simple\nExecStart=/usr/lib/locksmith/locksmithd\n",
    "network-online.target": "[Unit]\n",
    "timers.target": "[Unit]\n",
    "multi-user.target": "[Unit]\n",
    "oem-cloudinit.service": (
        "[Service]\nType=oneshot\nExecStart=/usr/bin/coreos-cloudinit --oem=ec2-compat\n"
        "[Install]\nWantedBy=multi-user.target\n"),
}
#: Running from the start of a boot (and active before oem-cloudinit starts).
OS_ACTIVE = ("systemd-logind.service", "update-engine.service", "locksmithd.service",
             "network-online.target", "timers.target")


@dataclass(frozen=True)
class Program:
    waits: tuple[str, ...] = ()  # what it needs to finish (oneshot) or to be ready (notify)
    makes: tuple[str, ...] = ()  # made true when it gets there
    starts: tuple[str, ...] = ()  # made true as soon as it runs
    daemon: bool = False  # keeps running


# "@" is this machine: "credentials@" of machine m is "credentials@m".
PROGRAMS: dict[str, Program] = {
    # The user data's bootstrap: waits for the role's cloud-config in S3 (uploaded by the
    # same apply), then applies it (the nested coreos-cloudinit run below).
    "/opt/bin/kopsgen-cloud-config": Program(waits=("s3:cloud-config",)),
    "/opt/bin/kopsgen-s3-get": Program(waits=("s3:cloud-config",)),
    "/usr/bin/coreos-cloudinit": Program(),  # a nested run: see Machine.spawn
    # Waits for the version of its user data's KOPSGEN_CREDENTIALS_SHA256 in S3 (uploaded by
    # `kopsgen up` after its apply, or before `update`'s); a reboot whose files have that
    # digest needs no S3 (tests/unit/test_cloudconfig.py).
    "/opt/bin/kopsgen-fetch-credentials": Program(waits=("s3:credentials",),
                                                  makes=("credentials@",)),
    "/opt/bin/kopsgen-install-kubernetes": Program(waits=("downloads",)),
    "/opt/bin/kopsgen-install-etcd": Program(waits=("downloads",)),
    "/opt/bin/kopsgen-etcd-volume": Program(waits=("volume-attached@",)),
    "/opt/bin/kopsgen-etcd": Program(daemon=True, starts=("etcd-member@",),
                                     waits=("etcd-quorum",)),
    "/opt/bin/kopsgen-etcd-reconcile": Program(),
    # On its timer only, never at boot: a snapshot on the leader, uploaded to S3.
    "/opt/bin/kopsgen-etcd-backup": Program(),
    # The kubelet, once kopsgen-node-identity (called in the same process) has its client
    # certificate: K3 says when that is.
    "/opt/bin/kopsgen-kubelet": Program(daemon=True, waits=("node-identity@",),
                                        makes=("kubelet@",)),
    "/opt/bin/kopsgen-node-identity": Program(waits=("node-identity@",)),
    "/opt/bin/kopsgen-apply-addons": Program(waits=("api@",), makes=("bootstrap-rbac", "addons")),
    "/opt/bin/kopsgen-node-role": Program(waits=("node@",), makes=("control-plane-label@",)),
    # Approves serving certificates and workers' first client certificates: once its local
    # API answers (admin.kubeconfig names 127.0.0.1); STS and EC2 are AWS's, always there.
    "/opt/bin/kopsgen-approve-kubelet-serving": Program(daemon=True, waits=("api@",),
                                                        makes=("client-approver",)),
    "/usr/bin/containerd": Program(daemon=True, starts=("containerd@",)),
    "/usr/lib/systemd/systemd-logind": Program(daemon=True),
    "/usr/sbin/update_engine": Program(daemon=True),
    "/usr/lib/locksmith/locksmithd": Program(daemon=True),
    "/usr/bin/mkdir": Program(),
}
#: What the world outside the machines provides sooner or later (S3 objects written by the
#: apply and by `kopsgen up`, release downloads, the volume attachment).
EXTERNAL = ("s3:cloud-config", "s3:credentials", "downloads")


def _unit_values(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@dataclass
class Unit:
    name: str
    values: dict[str, list[str]]

    def deps(self, *keys: str) -> list[str]:
        return [w for k in keys for v in self.values.get(k, []) for w in v.split()]

    @property
    def type(self) -> str:
        if not self.name.endswith(".service"):
            return self.name.rsplit(".", 1)[1]
        return (self.values.get("Type") or ["simple"])[-1]

    @property
    def start_timeout(self) -> str:
        default = "infinity" if self.type == "oneshot" else "90s"
        return (self.values.get("TimeoutStartSec") or [default])[-1]

    @property
    def remains(self) -> bool:
        return (self.values.get("RemainAfterExit") or ["no"])[-1] in ("yes", "true")

    def steps(self) -> list[tuple[str, list[str]]]:
        """("pre" | "main", argv) in the order systemd runs them."""
        return [(kind, shlex.split(v.lstrip("-@+!:")))
                for kind, key in (("pre", "ExecStartPre"), ("main", "ExecStart"))
                for v in self.values.get(key, []) if v]


@dataclass
class Job:
    unit: str
    state: str = "waiting"  # waiting, running, done, failed


@dataclass
class Run:
    """One coreos-cloudinit run: the commands still to do, and the job it waits for."""

    label: str
    actions: list[tuple[str, str]]
    waiting: str | None = None  # the unit whose job the current command waits for
    done: bool = False
    aborted: str = ""


@dataclass
class Machine:
    name: str
    role: str
    files: dict[str, str] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    enabled: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    jobs: dict[str, Job] = field(default_factory=dict)
    procs: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def unit(self, name: str) -> Unit | None:
        if name in self.units:
            return self.units[name]
        if name in OS_UNITS:
            return Unit(name, _unit_values(OS_UNITS[name]))
        return None

    # -- coreos-cloudinit (C1-C4) ------------------------------------------------------

    def apply(self, text: str, label: str) -> Run:
        config = yaml.safe_load(text)
        for f in config.get("write_files") or []:  # C1
            self.files[f["path"]] = f.get("content", "")
        actions = []
        for u in (config.get("coreos") or {}).get("units") or []:  # C2
            name = u["name"]
            if u.get("content"):
                self.units[name] = Unit(name, _unit_values(u["content"]))
            for dropin in u.get("drop-ins", []):
                merged = dict((self.unit(name) or Unit(name, {})).values)
                for key, values in _unit_values(dropin["content"]).items():
                    # An empty assignment (ExecStart=) resets the list.
                    kept = [] if "" in values else merged.get(key, [])
                    merged[key] = kept + [v for v in values if v]
                self.units[name] = Unit(name, merged)
            if u.get("mask"):
                self.masked.add(name)
            unit = self.unit(name)
            if u.get("enable") and unit is not None and unit.values.get("WantedBy"):
                self.enabled.add(name)
            if u.get("command"):
                actions.append((u["command"], name))
        run = Run(label, actions)  # C3
        self.runs[label] = run
        return run

    # -- systemd (S1-S7) ---------------------------------------------------------------

    def start(self, name: str) -> str | None:
        """Queue a start transaction; returns the error D-Bus would answer, if any."""
        if name in self.masked:
            return f"Unit {name} is masked."
        if self.unit(name) is None:
            return f"Unit {name} not found."
        todo = [name]
        while todo:
            n = todo.pop()
            u = self.unit(n)
            if u is None or n in self.masked or n in self.active or n in self.jobs:
                continue  # S7: a queued job is joined
            self.jobs[n] = Job(n)
            todo += u.deps("Requires", "Wants", "BindsTo")  # S1
        return None

    def _after(self, name: str) -> list[str]:
        after = self.unit(name).deps("After")
        after += [o for o in self.jobs if name in self.unit(o).deps("Before")]
        if name.endswith(".target"):  # S6
            after += [o for o in self.enabled if name in self.unit(o).deps("WantedBy")]
        return after

    def _pending(self, name: str) -> bool:
        job = self.jobs.get(name)
        return job is not None and job.state in ("waiting", "running")

    def step(self, cluster: Cluster) -> bool:
        changed = False
        for name, job in list(self.jobs.items()):
            if job.state != "waiting" or any(self._pending(a) for a in self._after(name)):
                continue  # S2
            u = self.unit(name)
            changed = True
            if any(self.jobs.get(r) and self.jobs[r].state == "failed"
                   for r in u.deps("Requires", "BindsTo")):
                job.state = "failed"  # S4
                continue
            job.state = "running"
            self.procs[name] = u.steps()
            if u.type in ("timer", "target") or not self.procs[name]:
                job.state = "done"
                self.active.add(name)
                del self.procs[name]
        for name in list(self.procs):
            changed |= self._advance(name, cluster)
        for run in list(self.runs.values()):
            changed |= self._drive(run)
        return changed

    def _program(self, argv: list[str]) -> tuple[list[str], Program]:
        if argv[0] == "/opt/bin/kopsgen-retry":
            argv = argv[1:]
        if argv[0] not in PROGRAMS:
            raise KeyError(f"{self.name}: bootmodel.PROGRAMS does not say what {argv[0]} "
                           "waits for")
        return argv, PROGRAMS[argv[0]]

    def _ready(self, name: str) -> None:
        job = self.jobs.get(name)
        if job is not None and job.state == "running":
            job.state = "done"
            self.active.add(name)

    def _advance(self, name: str, cluster: Cluster) -> bool:
        """Run unit ``name``'s processes as far as the facts allow (S3, S5)."""
        u, steps, changed = self.unit(name), self.procs[name], False
        while steps:
            kind, argv = steps[0]
            argv, program = self._program(argv)
            if kind == "main" and u.type in ("simple", "exec") and self._pending(name):
                self._ready(name)  # S3: forked
                changed = True
            for fact in program.starts:
                changed |= cluster.make(fact, self)
            if argv[0] == "/usr/bin/coreos-cloudinit":  # C5 and the user data's bootstrap
                label = f"{name}: {' '.join(argv)}"
                run = self.runs.get(label) or self.apply(cluster.source(self, argv), label)
                if not run.done:
                    return True if label not in self.runs or changed else changed
            missing = [w for w in program.waits if not cluster.holds(w, self)]
            if missing:
                if u.type == "notify" and u.start_timeout not in ("0", "infinity"):
                    problem = (f"{name} (Type=notify, TimeoutStartSec={u.start_timeout}) is "
                               f"ready only once {', '.join(missing)}: systemd kills and "
                               "restarts it until then")
                    if problem not in self.problems:
                        self.problems.append(problem)  # S5
                return changed
            if program.daemon:
                if self._pending(name):
                    self._ready(name)  # S3: READY=1
                    changed = True
                for fact in program.makes:  # a daemon gets there and keeps running
                    changed |= cluster.make(fact, self)
                return changed
            for fact in program.makes:
                cluster.make(fact, self)
            steps.pop(0)
            changed = True
        del self.procs[name]
        self._ready(name)
        if u.type in ("oneshot", "simple", "exec") and not u.remains:
            self.active.discard(name)
        return True

    def _drive(self, run: Run) -> bool:
        changed = False
        while not run.done:
            if run.waiting is not None:
                if self._pending(run.waiting):
                    return changed  # C4: the command waits for its job
                run.waiting = None
            if not run.actions:
                run.done = True
                return True
            command, name = run.actions.pop(0)
            changed = True
            if command == "stop":
                self.active.discard(name)
                self.jobs.pop(name, None)
                self.procs.pop(name, None)
                continue
            if command in ("restart", "try-restart", "reload-or-restart") and name in self.active:
                continue  # an OS service that runs restarts at once
            error = self.start(name)
            if error:
                run.aborted, run.done = error, True  # C4: a D-Bus error ends the run
                return True
            run.waiting = name if self._pending(name) else None
        return changed

    def blocked(self) -> list[str]:
        out = []
        for run in self.runs.values():
            if run.aborted:
                out.append(f"{run.label}: coreos-cloudinit stopped: {run.aborted}")
            elif not run.done:
                out.append(f"{run.label}: waits for the start of {run.waiting}")
        return out

    def why(self, name: str, cluster: Cluster) -> str:
        """What unit ``name``'s start waits for, in words."""
        if name in self.procs:
            kind, argv = self.procs[name][0]
            argv, program = self._program(argv)
            missing = [w for w in program.waits if not cluster.holds(w, self)]
            return f"{argv[0]} waits for {', '.join(missing) or 'a nested run'}"
        after = [a for a in self._after(name) if self._pending(a)]
        return f"waits for the jobs of {', '.join(after)}" if after else "queued"


class Cluster:
    """Machines booting side by side, and the facts of K1-K4 they make true together."""

    def __init__(self, machines: list[Machine], user_data: dict[str, str],
                 cloud_configs: dict[str, str]):
        self.machines = machines
        self.user_data, self.cloud_configs = user_data, cloud_configs
        self.facts: set[str] = set(EXTERNAL)
        self.facts |= {f"volume-attached@{m.name}" for m in machines}

    def source(self, machine: Machine, argv: list[str]) -> str:
        """What a coreos-cloudinit command line applies: the user data, or a file."""
        if any(a.startswith("--from-file") for a in argv):
            return self.cloud_configs[machine.role]
        return self.user_data[machine.role]

    def make(self, fact: str, machine: Machine) -> bool:
        fact = f"{fact}{machine.name}" if fact.endswith("@") else fact
        if fact in self.facts:
            return False
        self.facts.add(fact)
        return True

    def holds(self, fact: str, machine: Machine) -> bool:
        return (f"{fact}{machine.name}" if fact.endswith("@") else fact) in self.facts

    def derive(self) -> bool:
        """K1-K4, from the machines' facts and their written files."""
        before = len(self.facts)
        etcd = [m for m in self.machines if m.role == "etcd"]
        if etcd and sum(f"etcd-member@{m.name}" in self.facts for m in etcd) > len(etcd) // 2:
            self.facts.add("etcd-quorum")  # K4
        for m in self.machines:
            statics = {p.rsplit("/", 1)[-1] for p in m.files
                       if p.startswith("/etc/kubernetes/manifests/")}
            local = all(f"{f}@{m.name}" in self.facts
                        for f in ("kubelet", "containerd", "credentials"))
            if local and "kube-apiserver.yaml" in statics and "etcd-quorum" in self.facts:
                self.facts |= {f"api@{m.name}", "api"}  # K1, K2
                if "kube-controller-manager.yaml" in statics:
                    self.facts.add("kube-controller-manager")
        for m in self.machines:
            kubeconfig = m.files.get("/etc/kubernetes/kubelet-kubeconfig")
            if kubeconfig is None:
                continue
            server = yaml.safe_load(kubeconfig)["clusters"][0]["cluster"]["server"]
            reach = f"api@{m.name}" if re.match(r"https://127\.0\.0\.1[:/]", server) else "api"
            fetches = [a for u in m.units.values() for _, argv in u.steps()
                       if "/opt/bin/kopsgen-fetch-credentials" in argv for a in argv]
            if "ca-key.pem" in fetches:
                if f"credentials@{m.name}" in self.facts:
                    self.facts.add(f"node-identity@{m.name}")  # K3: signed with the CA key
            elif {reach, "bootstrap-rbac", "client-approver",
                  "kube-controller-manager"} <= self.facts:
                self.facts.add(f"node-identity@{m.name}")  # K3: approved for its instance
            if {f"kubelet@{m.name}", reach} <= self.facts:
                self.facts.add(f"node@{m.name}")  # K3
        return len(self.facts) != before

    def boot(self) -> None:
        """Boot (or reboot) every machine: multi-user.target starts what is enabled --
        oem-cloudinit (C5) and, after a first boot, the units that boot enabled."""
        for m in self.machines:
            m.jobs.clear()
            m.procs.clear()
            m.runs.clear()
            m.active = set(OS_ACTIVE)
            m.enabled.add("oem-cloudinit.service")
            m.start("multi-user.target")
            for name in sorted(m.enabled):
                m.start(name)
        for _ in range(100_000):
            changed = self.derive()
            for m in self.machines:
                changed |= m.step(self)
            if not changed:
                return
        raise RuntimeError("the boot model does not settle")
