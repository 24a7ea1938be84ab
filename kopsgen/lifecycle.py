"""The cluster lifecycle: plan, up, update, status, destroy, credentials push, kubeconfig.

Each operation opens a :class:`Session` -- the spec, a fresh render (or a refusal to go on
with a stale one), an initialised terraform directory (the workspace's, or the sandbox's
scratch copy) and AWS clients -- and then runs the real terraform through
:mod:`kopsgen.terraform`. Printing goes through the ``say`` callback the CLI passes, so this
module has no opinion about terminals.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kopsgen import core, naming
from kopsgen.errors import AwsCheckError, ExitCode, KopsgenError, UsageError, WorkspaceError
from kopsgen.render.pki import ROLE_FILES
from kopsgen.spec.model import S3Location, Spec
from kopsgen.terraform import PlanSummary, ProgressEvent, Terraform, summarize_plan

PLAN_FILE = "kopsgen.tfplan"
Say = Callable[[str], None]


def parse_s3_uri(uri: str | None) -> S3Location | None:
    """``--s3-uri`` checked with the same rules as cluster.yaml's s3URI."""
    if uri is None:
        return None
    from kopsgen.spec import rules

    bucket, prefix, why = rules.parse_s3_uri(uri)
    if why:
        raise UsageError(f"--s3-uri: {why}")
    return S3Location(bucket=bucket, prefix=prefix)


@dataclass
class Progress:
    """Counts finished resources against the plan's total and prints a line per event."""

    say: Say
    phase: str
    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"{s // 60:02d}:{s % 60:02d}"

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind in ("still",):
            self.say(f"[{self.phase} {self.elapsed()}] {self.done}/{self.total} {event}")
            return
        if event.kind not in ("created", "modified", "destroyed", "failed"):
            return
        if event.done:
            self.done += 1
        self.say(f"[{self.phase} {self.elapsed()}] {self.done}/{self.total} {event}")


class Session:
    """Everything an operation needs, prepared in the right order."""

    def __init__(self, cluster_dir: Path, *, say: Say, s3_uri: str | None = None,
                 no_render: bool = False, sandbox: bool = False, verbose: bool = False,
                 profile: str | None = None, with_credentials: bool = False):
        self.cluster_dir = cluster_dir
        self.say = say
        self.verbose = verbose
        self.profile = profile
        self.s3_override = parse_s3_uri(s3_uri)
        self.sandbox = None
        # Terraform needs only the stack part (no secrets: a pipeline has no credentials/);
        # commands that deliver credentials render them too.
        outcome = core.render(cluster_dir, None if with_credentials else "stack",
                              s3=self.s3_override)
        self.spec: Spec = outcome.loaded.spec
        self.warnings = outcome.warnings
        self._sync(outcome, no_render)
        env = dict(os.environ)
        if sandbox:
            from kopsgen.sandbox import Sandbox

            self.sandbox = Sandbox(cluster_dir)
            server = self.sandbox.start()
            say(f"sandbox: AWS emulator on {server.endpoint} (no AWS account is used)")
            self.workdir = self.sandbox.prepare(self.spec)
            env = self.sandbox.env()
        else:
            self.workdir = cluster_dir / "terraform"
        self.env = env
        self.tf = Terraform(self.workdir, env=env, verbose=verbose)
        if self.tf.needs_init():
            say("terraform init ...")
            self.tf.init()

    @property
    def s3(self) -> S3Location | None:
        return self.s3_override or self.spec.s3

    def _sync(self, outcome, no_render: bool) -> None:
        check = core.check(self.cluster_dir, outcome)
        if check.up_to_date:
            return
        if no_render:
            raise WorkspaceError(f"the workspace in {self.cluster_dir} is stale (would be "
                                 f"{check.plan.summary()}); run `kopsgen render` or drop "
                                 "--no-render")
        report = core.write(self.cluster_dir, outcome)
        for notice in outcome.notices:
            self.say(f"notice: {notice}")
        self.say(f"rendered {self.cluster_dir}: {report.summary()}")

    def clients(self):
        from kopsgen.aws import make_session

        endpoint = self.env.get(core.ENDPOINT_ENV) or None
        if self.sandbox is not None:
            # boto3 reads credentials from the process environment.
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ[key] = self.env[key]
            os.environ.pop("AWS_SESSION_TOKEN", None)
        return make_session(self.spec.region, endpoint_url=endpoint,
                            profile=None if self.sandbox else self.profile)

    def preflight(self, *, expected_account: str | None = None) -> None:
        from kopsgen.aws import preflight

        spec = self.spec
        if self.sandbox is not None and spec.kms_key_arn:
            # The emulator cannot hold the user's key ARN; check the stand-in instead.
            spec = spec.model_copy(update={"kms_key_arn": self.sandbox.kms_key_arn()})
        if self.sandbox is not None and spec.create_record_set:
            zone = json.loads((self.sandbox.root / "seeded.json").read_text())["zone_id"]
            spec = spec.model_copy(update={"hosted_zone_id": zone})
        self.say("pre-flight checks against AWS ...")
        problems = preflight(spec, self.clients(), expected_account=expected_account,
                             s3_uri_override=self.s3_override.uri() if self.s3_override else None)
        if problems:
            raise AwsCheckError(f"{len(problems)} pre-flight problem(s); nothing was created",
                                problems=problems)
        self.say("pre-flight checks passed")

    def plan(self, *, targets: tuple[str, ...] = (), destroy: bool = False
             ) -> tuple[Path, PlanSummary, dict]:
        path = self.workdir / PLAN_FILE
        self.tf.plan(path, targets=targets, destroy=destroy)
        doc = self.tf.show_json(path)
        return path, summarize_plan(doc), doc

    def apply(self, plan: Path, summary: PlanSummary, phase: str = "apply") -> None:
        progress = Progress(self.say, phase, total=summary.steps)
        self.tf.out = progress
        try:
            self.tf.apply(plan)
        finally:
            self.tf.out = None
        self.say(f"[{phase} {progress.elapsed()}] done: {summary.add} added, {summary.change} "
                 f"changed, {summary.destroy} destroyed")

    def outputs(self) -> dict:
        return {k: v.get("value") for k, v in self.tf.output_json().items()}

    def close(self, *, stop_sandbox: bool | None = None) -> None:
        if self.sandbox is None:
            return
        stop = self.sandbox.started_here if stop_sandbox is None else stop_sandbox
        if stop:
            self.sandbox.stop()
            self.say("sandbox: emulator stopped")
        else:
            self.say(f"sandbox: emulator keeps running on {self.sandbox.server.endpoint}; "
                     "`kopsgen destroy --sandbox` removes the cluster and stops it")


# ------------------------------------------------------------------------------- summary


def describe_summary(summary: PlanSummary) -> list[str]:
    lines = [f"Plan: {summary.add} to add, {summary.change} to change, {summary.destroy} to "
             f"destroy ({summary.replace} replaced)"]
    for module, counts in sorted(summary.by_module.items()):
        lines.append(f"  {module:<28} +{counts.add} ~{counts.change} -{counts.destroy}")
    return lines


def replacement_notes(plan_json: dict) -> list[str]:
    """Which instances a plan replaces, in words a reviewer can act on."""
    notes = []
    for rc in plan_json.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if actions in (["no-op"], ["read"]) or not actions:
            continue
        module = rc.get("module_address", "")
        if rc.get("type") == "aws_launch_template" and "update" in actions:
            what = "the controllers" if module == "module.controllers" else \
                f"the nodes of pool {module.removeprefix('module.pool_')}"
            notes.append(f"{what} will be replaced one at a time by an instance refresh "
                         f"({rc['address']} changes)")
        elif rc.get("type") == "aws_instance" and "delete" in actions and "create" in actions:
            notes.append(f"{rc['address']} will be replaced")
        elif rc.get("type") == "aws_autoscaling_group" and "delete" in actions:
            notes.append(f"{rc['address']} will be {'replaced' if 'create' in actions else 'removed'}"
                         " with all its instances")
        elif rc.get("address") == "module.etcd.aws_s3_object.cloud_config" and \
                "update" in actions:
            notes.append("the etcd cloud-config changes: running members keep the one they were "
                         "created with until each is replaced (terraform apply -replace="
                         "'module.etcd.aws_instance.member[\"etcd0\"]', one at a time; "
                         "docs/etcd.md)")
    return notes or ["no instance will be replaced"]


# ------------------------------------------------------------------------- credentials


def push_credentials(session: Session, *, outputs: dict | None = None) -> list[str]:
    """Upload each role's credentials to s3://<assets>/credentials/<role>/ with SSE-KMS,
    skipping objects whose sha256 (kept in the object's metadata) is unchanged."""
    outputs = outputs if outputs is not None else session.outputs()
    location = outputs.get("assets_location")
    key_arn = outputs.get("kms_key_arn")
    if not location or not key_arn:
        raise WorkspaceError("no assets location in the Terraform state; run `kopsgen up` first")
    if session.sandbox is not None and session.spec.kms_key_arn:
        key_arn = session.sandbox.kms_key_arn() or key_arn
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    files = core.read_credentials(session.cluster_dir)
    missing = sorted({f for fs in ROLE_FILES.values() for f in fs} - set(files))
    if missing:
        raise WorkspaceError(f"credentials/ lacks {', '.join(missing)}; run `kopsgen render`")
    from kopsgen.aws import _botocore_errors, _error_code, asking, failure

    with asking(f"upload the credentials to s3://{bucket}/{prefix}"):
        s3 = session.clients().client("s3")
    uploaded = []
    for role, names in sorted(ROLE_FILES.items()):
        for name in names:
            body = files[name]
            digest = hashlib.sha256(body).hexdigest()
            key = f"{prefix}/credentials/{role}/{name}" if prefix else f"credentials/{role}/{name}"
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
            except _botocore_errors() as exc:
                # 404 means "upload it"; anything else is an answer we cannot go on with.
                if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise failure(f"read s3://{bucket}/{key}", exc) from None
            else:
                # S3 lower-cases metadata keys; not every S3-compatible endpoint does.
                meta = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
                if meta.get("sha256") == digest:
                    continue
            with asking(f"upload s3://{bucket}/{key}"):
                s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms",
                              SSEKMSKeyId=key_arn, Metadata={"sha256": digest})
            uploaded.append(f"s3://{bucket}/{key}")
    return uploaded


# --------------------------------------------------------------------------------- API


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


# ---------------------------------------------------------------------------- readiness

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
    import yaml

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
        import json as json_

        with urllib.request.urlopen(f"{base}{path}", context=ctx,  # noqa: S310
                                    timeout=timeout) as resp:
            data = resp.read()
            return data.decode(errors="replace").strip() if path == "/readyz" else \
                json_.loads(data)

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
        found = _auto_scaling_groups(session, asgs)
        by_name = {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in found}
        want.update({label: by_name[name] for label, name in asgs.items() if name in by_name})
    return want


def _auto_scaling_groups(session: Session, asgs: dict[str, str]) -> list[dict]:
    from kopsgen.aws import asking

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


# ------------------------------------------------------------------------------- status


def live_status(session: Session, outputs: dict) -> dict:
    """Terraform outputs plus what AWS says now."""
    asgs = outputs.get("autoscaling_group_names") or {}
    groups = {}
    if asgs:
        found = _auto_scaling_groups(session, asgs)
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


# ------------------------------------------------------------------------------ destroy


def etcd_volumes(session: Session) -> list[tuple[str, str]]:
    """(state address, volume id) of the etcd data volumes in the state."""
    state = session.tf.show_json()
    out = []

    def walk(module: dict) -> None:
        for r in module.get("resources", []):
            if r.get("type") == "aws_ebs_volume" and r["address"].startswith("module.etcd."):
                out.append((r["address"], r.get("values", {}).get("id", "")))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return out


def etcd_data_volumes_in_aws(session: Session) -> list[str]:
    """IDs of the cluster's etcd data volumes that exist in AWS (kept by an earlier destroy
    or still attached), found by their tags."""
    return [vid for vid, _ in kept_data_volumes(session, attached=True)]


def kept_data_volumes(session: Session, *, attached: bool = False) -> list[tuple[str, str]]:
    """(volume id, member name) of the cluster's etcd data volumes in AWS, by their Name
    tag ``<cluster>-etcd<i>-data``; only detached ones unless ``attached``."""
    import re

    ec2 = session.clients().client("ec2")
    # Matched here rather than with a wildcard filter, which not every endpoint honours.
    wanted = re.compile(rf"^{re.escape(session.spec.cluster_name)}-(etcd\d+)-data$")
    found = ec2.describe_volumes(Filters=[
        {"Name": f"tag:{naming.cluster_tag(session.spec)}", "Values": ["owned"]}])["Volumes"]
    out = []
    for v in found:
        if v.get("State") == "deleted" or (not attached and v.get("State") != "available"):
            continue
        names = [t["Value"] for t in v.get("Tags", []) if t["Key"] == "Name"]
        m = wanted.match(names[0]) if names else None
        if m:
            out.append((v["VolumeId"], m.group(1)))
    return sorted(out)


#: State addresses of the cluster's own KMS key (module cluster_key; none with kmsKeyArn).
KEY_ADDRESSES = ("module.cluster_key.aws_kms_key.this", "module.cluster_key.aws_kms_alias.this")


def kept_cluster_key(session: Session) -> tuple[str, str] | None:
    """(key id, alias) of the cluster's own KMS key while it is usable: kept by a destroy
    that kept the etcd data it encrypts. None with kmsKeyArn (the user's key is theirs)."""
    if session.spec.kms_key_arn:
        return None
    kms = session.clients().client("kms")
    alias = naming.cluster_key_alias(session.spec)
    for page in kms.get_paginator("list_aliases").paginate():
        for a in page["Aliases"]:
            if a["AliasName"] == alias and a.get("TargetKeyId"):
                state = kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]["KeyState"]
                if state in ("Enabled", "Disabled"):
                    return a["TargetKeyId"], alias
    return None


def adopt_kept_etcd_data(session: Session) -> list[str]:
    """Before `up` plans: bring the etcd data volumes and the KMS key that an earlier
    `kopsgen destroy` kept back under this cluster's Terraform (terraform import), so the
    new members attach the old data instead of starting an empty cluster. Returns what was
    adopted or left alone, in words."""
    addresses = set(session.tf.state_list())
    said = []
    key = None if KEY_ADDRESSES[0] in addresses else _asking_aws(
        "the cluster's kept KMS key", lambda: kept_cluster_key(session))
    volumes = _asking_aws("kept etcd data volumes", lambda: kept_data_volumes(session))
    members = {name for name, _ in naming.etcd_members(session.spec)}
    adopt = [(vid, m) for vid, m in volumes
             if m in members and f'module.etcd.aws_ebs_volume.data["{m}"]' not in addresses]
    if key is not None and (adopt or not volumes):
        key_id, alias = key
        session.tf.import_resource(KEY_ADDRESSES[0], key_id)
        session.tf.import_resource(KEY_ADDRESSES[1], alias)
        said.append(f"adopted the cluster's kept KMS key {alias} ({key_id})")
    for vid, member in adopt:
        session.tf.import_resource(f'module.etcd.aws_ebs_volume.data["{member}"]', vid)
        said.append(f"adopted the kept etcd data volume of {member} ({vid})")
    said += [f"left alone the kept data volume {vid} of {m}: etcdCount no longer has {m}"
             for vid, m in volumes if m not in members]
    return said


def _asking_aws(what: str, call):
    """``call()``, with a failed AWS call as one line naming ``what`` was asked."""
    from kopsgen.aws import asking

    with asking(f"look for {what}"):
        return call()


def kept_etcd_data_notes(session: Session) -> list[str]:
    """What `plan` says about etcd data an earlier destroy kept (and `up` would adopt)."""
    if session.tf.state_list():
        return []
    try:
        volumes = _asking_aws("kept etcd data volumes", lambda: kept_data_volumes(session))
        key = _asking_aws("the cluster's kept KMS key", lambda: kept_cluster_key(session))
    except AwsCheckError as exc:
        return [f"{exc.message} (a plan does not need it; `kopsgen up` does)"]
    if not volumes and not key:
        return []
    what = ", ".join([f"{m} ({vid})" for vid, m in volumes] + ([key[1]] if key else []))
    return [f"the etcd data of an earlier cluster {session.spec.cluster_name} was kept: {what}; "
            "`kopsgen up` adopts it (this plan shows what a cluster without it would create)"]


def etcd_members_leaving(session: Session) -> list[tuple[str, str]]:
    """(state address, volume id) of the data volumes of etcd members that cluster.yaml no
    longer has (etcdCount was lowered). Refuses a step that would lose the quorum: the
    members that stay must be a majority of the members there are now."""
    import re

    members = {name for name, _ in naming.etcd_members(session.spec)}
    volumes = etcd_volumes(session)
    now = [re.search(r'\["(etcd\d+)"\]', a).group(1) for a, _ in volumes]
    leaving = [(a, v) for (a, v), m in zip(volumes, now, strict=True) if m not in members]
    # A member's instance may go before the others have removed it: those that stay must
    # be a quorum of the membership as it is now.
    most = (len(now) - 1) // 2
    if leaving and len(leaving) > most:
        how = (f"lower it by at most {most} at a time (first to {len(now) - most})" if most
               else f"a cluster of {len(now)} members cannot lose one and keep its quorum")
        raise UsageError(
            f"etcdCount {len(members)} would remove {len(leaving)} of the {len(now)} etcd "
            f"members at once, more than the cluster can lose and keep its quorum: {how} "
            "(docs/etcd.md)")
    return leaving


def release_leaving_members(session: Session, leaving: list[tuple[str, str]]) -> None:
    """Take the data volumes of leaving members out of the state before the plan (they are
    protected from terraform by prevent_destroy)."""
    if leaving:
        session.tf.state_rm([a for a, _ in leaving])
        for address, vid in leaving:
            member = address.split("[", 1)[1].strip('[]"')
            session.say(f"etcd: {member} leaves the cluster; its data volume {vid} is deleted "
                        "once its instance is gone")


def delete_leaving_volumes(session: Session, leaving: list[tuple[str, str]]) -> None:
    """After the apply: the leaving members' volumes, whose data the others hold (and which
    must never rejoin: their member ids were removed from the cluster)."""
    if not leaving:
        return
    from kopsgen.aws import asking

    with asking("delete the data volumes of the etcd members that left"):
        ec2 = session.clients().client("ec2")
        for _, vid in leaving:
            ec2.delete_volume(VolumeId=vid)
    session.say(f"deleted the data volume(s) of the members that left: "
                f"{', '.join(v for _, v in leaving)}")


def schedule_key_deletion(session: Session, key: tuple[str, str]) -> None:
    from kopsgen.aws import asking

    key_id, alias = key
    with asking(f"schedule the deletion of the KMS key {alias} ({key_id})"):
        kms = session.clients().client("kms")
        kms.delete_alias(AliasName=alias)
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


def destroy_cluster(session: Session, *, delete_etcd_data: bool,
                    confirm: Callable[[str], None], echo: Say) -> int:
    """Destroy the cluster. Its etcd data volumes are kept unless ``delete_etcd_data``, and
    with them the cluster's own KMS key and alias, without which they could never be read
    again; a later `kopsgen up` adopts both (:func:`adopt_kept_etcd_data`). ``confirm`` asks
    (or raises); returns how many etcd data volumes (and keys) are kept. Raises
    :class:`KopsgenError` (LEFTOVERS) when something tagged with the cluster remains."""
    from collections import Counter

    from kopsgen.aws import asking, tagged_resources

    spec = session.spec
    # Before anything is asked or destroyed: terraform would fail half-way without them.
    with asking("use the AWS credentials (nothing was destroyed)"):
        session.clients().client("sts").get_caller_identity()
    addresses = session.tf.state_list()
    key_in_state = [a for a in KEY_ADDRESSES if a in addresses]
    if not addresses:
        echo(f"cluster {spec.cluster_name}: nothing in the state to destroy")
    else:
        volumes = etcd_volumes(session)
        by_module = Counter(a.split(".aws_")[0] if a.startswith("module.") else "(root)"
                            for a in addresses if not a.split(".")[-2].startswith("data")
                            and ".data." not in a)
        echo(f"This destroys cluster {spec.cluster_name} ({len(addresses)} resources in the "
             "state):")
        for module, n in sorted(by_module.items()):
            echo(f"  {module:<28} {n}")
        if delete_etcd_data:
            echo(f"The {len(volumes)} etcd data volume(s) are DELETED too: the cluster's data is "
                 "gone for good" + (", and its KMS key is scheduled for deletion."
                                    if key_in_state else "."))
        else:
            echo(f"The {len(volumes)} etcd data volume(s) are kept (--delete-etcd-data deletes "
                 "them): " + ", ".join(v for _, v in volumes))
            if key_in_state:
                echo(f"The cluster's KMS key {naming.cluster_key_alias(spec)} is kept with them: "
                     "it encrypts them. `kopsgen up` of this cluster adopts both.")
        confirm(f"Type the cluster name ({spec.cluster_name}) to destroy it")
        # prevent_destroy guards the volumes against terraform: they leave the state first,
        # then stay in AWS (kept) or are deleted below; a kept key leaves with them.
        keep = [a for a, _ in volumes] + ([] if delete_etcd_data else key_in_state)
        session.tf.state_rm(keep)
        session.tf.out = Progress(session.say, "destroy", total=len(addresses) - len(keep))
        try:
            session.tf.destroy()
        finally:
            session.tf.out = None
    data_volumes = _asking_aws("the kept etcd data volumes",
                               lambda: etcd_data_volumes_in_aws(session))
    key = _asking_aws("the cluster's kept KMS key", lambda: kept_cluster_key(session))
    if delete_etcd_data and (data_volumes or key) and not addresses:
        # Kept by an earlier destroy: deleting them is as final as a destroy.
        what = ", ".join(data_volumes + ([key[1]] if key else []))
        echo(f"The kept etcd data of cluster {spec.cluster_name} will be DELETED: {what}")
        confirm(f"Type the cluster name ({spec.cluster_name}) to delete it")
    if delete_etcd_data:
        with asking("delete the etcd data volumes"):
            ec2 = session.clients().client("ec2")
            for vid in data_volumes:
                ec2.delete_volume(VolumeId=vid)
        if data_volumes:
            session.say(f"deleted {len(data_volumes)} etcd data volume(s): "
                        f"{', '.join(data_volumes)}")
        if key:
            schedule_key_deletion(session, key)
            session.say(f"scheduled the deletion of the KMS key {key[1]} ({key[0]}) in 7 days")
    kept = set() if delete_etcd_data else set(data_volumes) | ({key[0]} if key else set())
    left = [arn for arn in tagged_resources(session.clients(), spec.cluster_name)
            if not any(arn.endswith(v) for v in kept)]
    if left:
        for arn in left:
            session.say(f"still tagged with the cluster: {arn}")
        raise KopsgenError(f"{len(left)} resource(s) tagged kubernetes.io/cluster/"
                           f"{spec.cluster_name} remain; delete them or run `kopsgen "
                           "destroy` again", exit_code=ExitCode.LEFTOVERS)
    volumes_kept = len(kept) - (1 if key and not delete_etcd_data else 0)
    echo(f"cluster {spec.cluster_name} destroyed; nothing tagged with it remains"
         + (f" except the {volumes_kept} kept etcd data volume(s)"
            + (" and their KMS key" if key else "") if kept else ""))
    return len(kept)


def install_kubeconfig(cluster_dir: Path, spec: Spec, target: Path | None = None) -> tuple[Path, Path | None]:
    """Merge the cluster's context into ~/.kube/config (backing it up first)."""
    import yaml

    source = yaml.safe_load((cluster_dir / "kubeconfig").read_text())
    target = target or Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
                            or Path.home() / ".kube" / "config")
    backup = None
    if target.exists():
        current = yaml.safe_load(target.read_text()) or {}
        backup = target.with_name(target.name + ".kopsgen-backup")
        backup.write_bytes(target.read_bytes())
        backup.chmod(0o600)
    else:
        current = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for section in ("clusters", "users", "contexts"):
        mine = {e["name"]: e for e in source.get(section, [])}
        kept = [e for e in current.get(section) or [] if e.get("name") not in mine]
        current[section] = kept + list(mine.values())
    current.setdefault("current-context", source["current-context"])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(current, fh, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target, backup
