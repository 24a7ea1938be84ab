"""`kopsgen up` and `kopsgen update`: plan, confirm, apply, deliver the credentials, and
then wait for the cluster (or, in the sandbox with ``--boot``, boot its machines)."""

from __future__ import annotations

from collections.abc import Callable

from kopsgen import naming
from kopsgen.boot import BootLab
from kopsgen.errors import ExitCode, KopsgenError, UsageError
from kopsgen.flows.credentials import push_credentials
from kopsgen.flows.etcd_data import (
    adopt_kept_etcd_data,
    delete_leaving_volumes,
    etcd_members_leaving,
    release_leaving_members,
)
from kopsgen.flows.plan import describe_summary, pool_targets, replacement_notes
from kopsgen.flows.readiness import expected_nodes, wait_until_ready
from kopsgen.flows.session import Say, Session

Confirm = Callable[[str], None]


def apply_changes(session: Session, *, confirm: Confirm, out: Say,
                  targets: tuple[str, ...], verb: str) -> dict:
    """Plan, show it, confirm, apply; credentials go up before (replaced nodes fetch them at
    boot) and after. Returns the Terraform outputs."""
    leaving = [] if targets else etcd_members_leaving(session)
    release_leaving_members(session, leaving)
    existing = session.outputs() if session.tf.state_list() else {}
    if existing.get("assets_location") and existing.get("kms_key_arn"):
        # Nodes the apply replaces fetch their credentials at boot: have the new ones there.
        # An interrupted first `up` may have created the bucket but not yet the key: then
        # nothing can be uploaded yet, and the apply below finishes the job.
        uploaded = push_credentials(session, outputs=existing)
        if uploaded:
            session.say(f"credentials: {len(uploaded)} file(s) uploaded before the apply")
    path, summary, doc = session.plan(targets=targets)
    for line in describe_summary(summary) + [f"- {n}" for n in replacement_notes(doc)]:
        out(line)
    if summary.has_changes:
        confirm(f"{verb} cluster {session.spec.cluster_name}?")
        session.apply(path, summary)
        delete_leaving_volumes(session, leaving)
    else:
        out("No changes: the infrastructure matches the workspace.")
    outputs = session.outputs()
    uploaded = push_credentials(session, outputs=outputs)
    session.say(f"credentials: {len(uploaded)} file(s) uploaded" if uploaded
                else "credentials: unchanged in S3")
    return outputs


def check_boot(boot: bool, sandbox: bool) -> None:
    if boot and not sandbox:
        raise UsageError("--boot boots the sandbox's instances: use it with --sandbox")


def up(session: Session, *, confirm: Confirm, out: Say, expected_account: str | None = None,
       wait: bool = True, timeout: float = 1200, boot: bool = False) -> dict:
    """`kopsgen up`: create (or finish creating) the cluster. Returns the outputs."""
    session.preflight(expected_account=expected_account)
    for line in adopt_kept_etcd_data(session):
        session.say(line)
    outputs = apply_changes(session, confirm=confirm, out=out, targets=(), verb="Create")
    if boot:
        boot_machines(session, out)
    elif wait and session.sandbox is not None:
        session.say("wait: skipped in the sandbox (the emulator boots no real nodes; --boot "
                    "boots them)")
    elif wait:
        wait_until_ready(session, timeout, expected_nodes(session, outputs))
    return outputs


def up_summary(session: Session, outputs: dict, *, boot: bool = False) -> list[str]:
    """What `up` prints last: where the cluster is and what to run next."""
    spec = session.spec
    kubeconfig = session.cluster_dir / "kubeconfig"
    lines = [f"Cluster name:   {spec.cluster_name}",
             f"API endpoint:   {naming.api_url(spec)}",
             f"Load balancer:  {outputs.get('load_balancer_name')} "
             f"({outputs.get('load_balancer_dns_name')})",
             f"Kubeconfig:     {kubeconfig}"]
    if session.sandbox is None:
        return lines + [f"Next:           kubectl --kubeconfig {kubeconfig} get nodes"]
    # No API answers in the emulator: kubectl cannot work there; status shows what is.
    if boot:
        return lines + ["Next:           kopsgen status --sandbox   # the booted machines: "
                        "groups, nodes Ready, add-ons"]
    return lines + ["Next:           kopsgen status --sandbox   # the emulator's Auto Scaling "
                    "groups; no machine runs",
                    "                kopsgen up --sandbox --boot   # boots every instance as "
                    "a container (docs/sandbox.md)"]


def update(session: Session, *, confirm: Confirm, out: Say, pool: str | None = None,
           boot: bool = False, expected_account: str | None = None) -> dict:
    """`kopsgen update`: apply cluster.yaml's changes to a cluster that exists (after the
    credentials are checked to be ``expected_account``'s)."""
    session.check_account(expected_account)
    if not session.tf.state_list():
        raise UsageError(f"cluster {session.spec.cluster_name} has no state here; create it "
                         "with `kopsgen up`")
    outputs = apply_changes(session, confirm=confirm, out=out,
                            targets=pool_targets(session, pool), verb="Update")
    if boot:
        boot_machines(session, out)
    return outputs


def boot_machines(session: Session, out: Say) -> None:
    """Boot the sandbox's instances as containers and report each machine's units."""
    lab = BootLab(session.sandbox, session.spec, session.say)
    reports = lab.boot()
    failed = False
    for r in reports:
        m = r.machine
        head = (f"booted in {r.booted_in:.0f} s" if r.booted_in is not None else "did not boot")
        out(f"{m.name:<14} {m.instance_id}  {m.address:<15} {head}")
        for unit, state in r.units.items():
            out(f"    {unit:<42} {state}")
        for note in r.notes:
            out(f"    note: {note}")
        for problem in r.problems:
            out(f"    PROBLEM: {problem}")
            failed = True
    facts = lab.mirror_facts
    out("stand-ins: " + ", ".join(facts.standins + [
        "kube-apiserver, kube-controller-manager, kube-scheduler (not run: the kubelet is a "
        "stand-in)", "the API load balancers (TCP forwarders)"]))
    out("real: " + ", ".join(facts.real + ["systemd", "coreos-cloudinit's semantics",
                                           "the bootstrap, scripts and units"]))
    if failed:
        raise KopsgenError("boot: some machines did not boot as they should (above); they "
                           "keep running for a look: `kopsgen destroy --sandbox` removes them",
                           exit_code=ExitCode.NOT_READY)
    session.say("boot: the machines keep running; `kopsgen destroy --sandbox` stops and "
                "removes them")
