"""`kopsgen status`: Terraform's outputs plus what AWS and the API say now."""

from __future__ import annotations

from kopsgen import core
from kopsgen.errors import UsageError
from kopsgen.flows.readiness import auto_scaling_groups, cluster_readiness
from kopsgen.flows.session import Session


def live_status(session: Session, outputs: dict) -> dict:
    """Terraform outputs plus what AWS says now."""
    asgs = outputs.get("autoscaling_group_names") or {}
    groups = {}
    if asgs:
        found = auto_scaling_groups(session, asgs)
        by_name = {g["AutoScalingGroupName"]: g for g in found}
        for label, name in sorted(asgs.items()):
            g = by_name.get(name)
            groups[label] = {
                "name": name,
                "desired": g["DesiredCapacity"] if g else None,
                "in_service": sum(i["LifecycleState"] == "InService" for i in g["Instances"])
                if g else None,
            }
    readiness = None
    if session.sandbox is not None:
        api = {"healthy": None, "detail": "not checked in the sandbox (no real nodes boot)"}
    elif not {"ca.pem", "admin.pem", "admin-key.pem"} <= set(
            core.read_credentials(session.cluster_dir)):
        api = {"healthy": None, "detail": "not checked: no credentials/ in this directory"}
    else:
        want = {label: g["desired"] for label, g in groups.items() if g["desired"] is not None}
        state = cluster_readiness(session.spec, session.cluster_dir, want)
        api = {"healthy": state.api == "ok", "detail": state.api}
        readiness = {"ready": state.ready, "nodes": state.nodes, "addons": state.addons,
                     "problems": state.problems}
    return {"cluster": session.spec.cluster_name, "api_endpoint": outputs.get("api_endpoint"),
            "load_balancer": outputs.get("load_balancer_dns_name"), "api": api,
            "readiness": readiness, "groups": groups, "outputs": outputs}


def status(session: Session) -> dict:
    """`kopsgen status`: :func:`live_status` of a cluster that has a state."""
    outputs = session.outputs()
    if not outputs:
        # Nothing to show: an emulator this command started has nothing to keep running for.
        session.stop_sandbox = None
        raise UsageError(f"cluster {session.spec.cluster_name} has no state here; create "
                         "it with `kopsgen up`")
    return live_status(session, outputs)
