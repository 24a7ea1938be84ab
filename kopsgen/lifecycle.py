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

    m = rules.S3_URI_RE.match(uri)
    why = None if m else f"{uri!r} is not an S3 URI (s3://bucket or s3://bucket/prefix)"
    why = why or rules.check_bucket(m["bucket"])
    if why:
        raise UsageError(f"--s3-uri: {why}")
    return S3Location(bucket=m["bucket"], prefix=(m["prefix"] or "").strip("/"))


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
        for notice in outcome.notices:
            self.say(f"notice: {notice}")
        report = core.write(self.cluster_dir, outcome)
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
            what = "the controllers" if module == "module.masters" else \
                f"the nodes of pool {module.removeprefix('module.pool_')}"
            notes.append(f"{what} will be replaced one at a time by an instance refresh "
                         f"({rc['address']} changes)")
        elif rc.get("type") == "aws_instance" and "delete" in actions and "create" in actions:
            notes.append(f"{rc['address']} will be replaced")
        elif rc.get("type") == "aws_autoscaling_group" and "delete" in actions:
            notes.append(f"{rc['address']} will be {'replaced' if 'create' in actions else 'removed'}"
                         " with all its instances")
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
    s3 = session.clients().client("s3")
    uploaded = []
    for role, names in sorted(ROLE_FILES.items()):
        for name in names:
            body = files[name]
            digest = hashlib.sha256(body).hexdigest()
            key = f"{prefix}/credentials/{role}/{name}" if prefix else f"credentials/{role}/{name}"
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                # S3 lower-cases metadata keys; not every S3-compatible endpoint does.
                meta = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
                if meta.get("sha256") == digest:
                    continue
            except Exception as exc:  # noqa: BLE001 - 404 means "upload it"
                if getattr(exc, "response", {}).get("Error", {}).get("Code") not in (
                        "404", "NoSuchKey", "NotFound"):
                    raise AwsCheckError(f"cannot read s3://{bucket}/{key}: {exc}") from None
            s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=key_arn, Metadata={"sha256": digest})
            uploaded.append(f"s3://{bucket}/{key}")
    return uploaded


# --------------------------------------------------------------------------------- API


def api_healthy(spec: Spec, cluster_dir: Path, *, url: str | None = None,
                timeout: float = 5) -> tuple[bool, str]:
    """GET /healthz over TLS, trusting only the cluster CA, as the admin."""
    files = core.read_credentials(cluster_dir)
    ctx = ssl.create_default_context(cadata=files["ca.pem"].decode())
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
        cert.write_bytes(files["admin.pem"])
        key.touch(mode=0o600)
        key.write_bytes(files["admin-key.pem"])
        ctx.load_cert_chain(cert, key)
    target = url or f"{naming.api_url(spec)}/healthz"
    try:
        with urllib.request.urlopen(target, context=ctx, timeout=timeout) as resp:  # noqa: S310
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


# ------------------------------------------------------------------------------- status


def live_status(session: Session, outputs: dict) -> dict:
    """Terraform outputs plus what AWS says now."""
    asgs = outputs.get("autoscaling_group_names") or {}
    groups = {}
    if asgs:
        client = session.clients().client("autoscaling")
        found = client.describe_auto_scaling_groups(
            AutoScalingGroupNames=sorted(asgs.values()))["AutoScalingGroups"]
        by_name = {g["AutoScalingGroupName"]: g for g in found}
        for label, name in sorted(asgs.items()):
            g = by_name.get(name)
            groups[label] = {
                "name": name,
                "desired": g["DesiredCapacity"] if g else None,
                "in_service": sum(i["LifecycleState"] == "InService" for i in g["Instances"])
                if g else None,
            }
    if session.sandbox is not None:
        api = {"healthy": None, "detail": "not checked in the sandbox (no real nodes boot)"}
    elif not {"ca.pem", "admin.pem", "admin-key.pem"} <= set(
            core.read_credentials(session.cluster_dir)):
        api = {"healthy": None, "detail": "not checked: no credentials/ in this directory"}
    else:
        ok, detail = api_healthy(session.spec, session.cluster_dir)
        api = {"healthy": ok, "detail": detail}
    return {"cluster": session.spec.cluster_name, "api_endpoint": outputs.get("api_endpoint"),
            "load_balancer": outputs.get("load_balancer_dns_name"), "api": api,
            "groups": groups, "outputs": outputs}


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
    import re

    ec2 = session.clients().client("ec2")
    # Matched here rather than with a wildcard filter, which not every endpoint honours.
    wanted = re.compile(rf"^{re.escape(session.spec.cluster_name)}-etcd\d+-data$")
    found = ec2.describe_volumes(Filters=[
        {"Name": f"tag:{naming.cluster_tag(session.spec)}", "Values": ["owned"]}])["Volumes"]
    return sorted(v["VolumeId"] for v in found if v.get("State") != "deleted" and any(
        t["Key"] == "Name" and wanted.match(t["Value"]) for t in v.get("Tags", [])))


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
