"""Is the cluster there? The API's health over TLS as the admin, and readiness as `kops
validate cluster` checks it (nodes registered and Ready, add-ons available); what `up`
waits for and `status` shows."""

from __future__ import annotations

import json
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kopsgen import core, naming
from kopsgen.aws import asking
from kopsgen.errors import ExitCode, KopsgenError
from kopsgen.flows.session import Session
from kopsgen.spec.model import Spec


def _ssl_context(cluster_dir: Path) -> ssl.SSLContext:
    """TLS as the admin, trusting only the cluster CA."""
    files = core.read_credentials(cluster_dir)
    ctx = ssl.create_default_context(cadata=files["ca.pem"].decode())
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
        cert.write_bytes(files["admin.pem"])
        key.touch(mode=0o600)
        key.write_bytes(files["admin-key.pem"])
        ctx.load_cert_chain(cert, key)
    return ctx


def api_healthy(spec: Spec, cluster_dir: Path, *, url: str | None = None,
                timeout: float = 5) -> tuple[bool, str]:
    """GET /healthz over TLS, trusting only the cluster CA, as the admin."""
    target = url or f"{naming.api_url(spec)}/healthz"
    try:
        with urllib.request.urlopen(target, context=_ssl_context(cluster_dir),  # noqa: S310
                                    timeout=timeout) as resp:
            body = resp.read(100).decode(errors="replace").strip()
            return resp.status == 200 and body == "ok", body or str(resp.status)
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        return False, str(getattr(exc, "reason", exc))


def wait_for_api(session: Session, timeout: float, *, url: str | None = None,
                 interval: float = 10) -> None:
    """Poll /healthz every ``interval`` seconds until it answers "ok", saying what it
    waits for (elapsed time and the latest answer); raise after ``timeout`` seconds."""
    target = url or f"{naming.api_url(session.spec)}/healthz"
    started = time.monotonic()
    last = ""
    said_at = -60.0
    while True:
        ok, detail = api_healthy(session.spec, session.cluster_dir, url=target)
        elapsed = time.monotonic() - started
        stamp = f"[wait {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}]"
        if ok:
            session.say(f"{stamp} the API answers {target}")
            return
        if detail != last or elapsed - said_at >= 60:  # news, or once a minute
            session.say(f"{stamp} waiting for {target}: {detail}")
            last, said_at = detail, elapsed
        if elapsed > timeout:
            raise KopsgenError(f"the API did not become healthy within {int(timeout)} s (last "
                               f"answer: {detail}); the cluster is created -- check "
                               "`kopsgen status`", exit_code=ExitCode.TERRAFORM_FAILED)
        time.sleep(min(interval, max(0.0, timeout - elapsed) + 0.01))


#: The label each node's kubelet registers with (kopsgen-kubelet): role, and a worker's pool.
ROLE_LABEL = "node.kubernetes.io/kopsgen-role"
POOL_LABEL = "node.kubernetes.io/kopsgen-pool"


@dataclass
class Readiness:
    """What `kopsgen up` waits for and `kopsgen status` shows, as `kops validate cluster`
    checks it: the API answers through the load balancer; every controller and the
    expected number of each pool's nodes are registered and Ready; the kube-system add-ons
    are available. ``problems`` is empty when the cluster is ready."""

    api: str
    nodes: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> want/registered/ready
    addons: dict[str, str] = field(default_factory=dict)  # kube-system/<name> -> "2/2" or why
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


def expected_addons(cluster_dir: Path) -> list[tuple[str, str]]:
    """(kind, name) of the kube-system Deployments and DaemonSets the controllers apply,
    read from the rendered controller cloud-config."""
    config = yaml.safe_load((cluster_dir / naming.cloud_config_path("controller")).read_bytes())
    out = []
    for f in config.get("write_files", []):
        if f["path"].startswith("/etc/kubernetes/addons/"):
            for doc in yaml.safe_load_all(f["content"]):
                if doc and doc.get("kind") in ("Deployment", "DaemonSet") and \
                        doc["metadata"].get("namespace") == "kube-system":
                    out.append((doc["kind"], doc["metadata"]["name"]))
    return sorted(out)


def cluster_readiness(spec: Spec, cluster_dir: Path, expected: dict[str, int], *,
                      url: str | None = None, timeout: float = 10) -> Readiness:
    """One look at the cluster through its API endpoint (``url``: another base URL)."""
    base = (url or naming.api_url(spec)).rstrip("/")
    ctx = _ssl_context(cluster_dir)

    def get(path: str):
        with urllib.request.urlopen(f"{base}{path}", context=ctx,  # noqa: S310
                                    timeout=timeout) as resp:
            data = resp.read()
            return data.decode(errors="replace").strip() if path == "/readyz" else \
                json.loads(data)

    try:
        answer = get("/readyz")
    except urllib.error.HTTPError as exc:
        answer = f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ssl.SSLError, ValueError) as exc:
        answer = str(getattr(exc, "reason", exc))
    result = Readiness(api=answer)
    if answer != "ok":
        result.problems.append(f"the API does not answer {base}/readyz: {answer}")
        return result
    try:
        nodes = get("/api/v1/nodes")["items"]
        workloads = {kind: {o["metadata"]["name"]: o for o in get(
            f"/apis/apps/v1/namespaces/kube-system/{kind.lower()}s")["items"]}
            for kind in ("Deployment", "DaemonSet")}
    except (urllib.error.URLError, OSError, ssl.SSLError, ValueError, KeyError) as exc:
        result.problems.append(f"the API answers, but not with the cluster's state: {exc}")
        return result
    for group, want in expected.items():
        def member(n: dict, group=group) -> bool:
            labels = n["metadata"].get("labels", {})
            if group == "controller":
                return labels.get(ROLE_LABEL) == "controller"
            return labels.get(POOL_LABEL) == group
        mine = [n for n in nodes if member(n)]
        ready = [n for n in mine if any(c.get("type") == "Ready" and c.get("status") == "True"
                                        for c in n.get("status", {}).get("conditions", []))]
        result.nodes[group] = {"want": want, "registered": len(mine), "ready": len(ready)}
        what = "controllers" if group == "controller" else f"nodes of pool {group}"
        if len(ready) < want:
            not_ready = sorted(n["metadata"]["name"] for n in mine if n not in ready)
            result.problems.append(
                f"{what}: {len(ready)} of {want} Ready ({len(mine)} registered"
                + (f"; not Ready: {', '.join(not_ready)}" if not_ready else "") + ")")
    for kind, name in expected_addons(cluster_dir):
        obj = workloads[kind].get(name)
        if obj is None:
            state, ok = "not applied", False
        elif kind == "Deployment":
            want = obj.get("spec", {}).get("replicas", 1)
            have = obj.get("status", {}).get("availableReplicas", 0)
            state, ok = f"{have}/{want} available", have >= want
        else:
            want = obj.get("status", {}).get("desiredNumberScheduled", 0)
            have = obj.get("status", {}).get("numberReady", 0)
            state, ok = f"{have}/{want} ready", want > 0 and have >= want
        result.addons[f"kube-system/{name}"] = state
        if not ok:
            result.problems.append(f"{kind} kube-system/{name}: {state}")
    return result


def expected_nodes(session: Session, outputs: dict) -> dict[str, int]:
    """How many Ready nodes each group should have: its Auto Scaling group's desired
    capacity now (cluster-autoscaler may have moved it), else what cluster.yaml says."""
    want = {"controller": session.spec.controller.scaling.desired}
    want.update({p.name: p.scaling.desired for p in session.spec.node_pools})
    asgs = outputs.get("autoscaling_group_names") or {}
    if asgs:
        found = auto_scaling_groups(session, asgs)
        by_name = {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in found}
        want.update({label: by_name[name] for label, name in asgs.items() if name in by_name})
    return want


def auto_scaling_groups(session: Session, asgs: dict[str, str]) -> list[dict]:
    with asking(f"read the Auto Scaling groups of cluster {session.spec.cluster_name}"):
        client = session.clients().client("autoscaling")
        return client.describe_auto_scaling_groups(
            AutoScalingGroupNames=sorted(asgs.values()))["AutoScalingGroups"]


def wait_until_ready(session: Session, timeout: float, expected: dict[str, int], *,
                     url: str | None = None, interval: float = 10) -> Readiness:
    """Look every ``interval`` seconds until :func:`cluster_readiness` finds nothing missing,
    saying what is missing when it changes (and once a minute); after ``timeout`` seconds
    raise NOT_READY with everything still missing."""
    started = time.monotonic()
    last: list[str] = []
    said_at = -60.0
    while True:
        state = cluster_readiness(session.spec, session.cluster_dir, expected, url=url)
        elapsed = time.monotonic() - started
        stamp = f"[wait {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}]"
        if state.ready:
            total = sum(n["ready"] for n in state.nodes.values())
            session.say(f"{stamp} the cluster is ready: the API answers, {total} nodes are "
                        f"Ready, {len(state.addons)} add-ons are available")
            return state
        if state.problems != last or elapsed - said_at >= 60:
            session.say(f"{stamp} waiting for: {'; '.join(state.problems)}")
            last, said_at = state.problems, elapsed
        if elapsed > timeout:
            raise KopsgenError(
                f"the cluster did not become ready within {int(timeout)} s; missing: "
                f"{'; '.join(state.problems)} -- it is created: `kopsgen status` shows it "
                "again", exit_code=ExitCode.NOT_READY)
        time.sleep(min(interval, max(0.0, timeout - elapsed) + 0.01))
