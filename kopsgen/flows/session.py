"""A :class:`Session`: what every lifecycle flow works in.

It holds the spec, a fresh render (or a refusal to go on with a stale one), an initialised
terraform directory (the workspace's, or the sandbox's scratch copy) and AWS clients, and it
runs the real terraform through :mod:`kopsgen.terraform`. Printing goes through the ``say``
callback the caller passes, so no flow has an opinion about terminals.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kopsgen import aws, core
from kopsgen.errors import AwsCheckError, UsageError, WorkspaceError
from kopsgen.sandbox import Sandbox
from kopsgen.spec import rules
from kopsgen.spec.model import S3Location, Spec
from kopsgen.terraform import PlanSummary, ProgressEvent, Terraform, summarize_plan

PLAN_FILE = "kopsgen.tfplan"
Say = Callable[[str], None]


def parse_s3_uri(uri: str | None) -> S3Location | None:
    """``--s3-uri`` checked with the same rules as cluster.yaml's s3URI."""
    if uri is None:
        return None
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
                 profile: str | None = None, with_credentials: bool = False,
                 stop_sandbox: bool | None = None,
                 warn: Callable[[list], None] | None = None):
        self.cluster_dir = cluster_dir
        #: Whether leaving the session stops the sandbox's emulator; None: only if this
        #: session started it. A flow may change it (destroy stops it once all is gone).
        self.stop_sandbox = stop_sandbox
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
        if warn is not None:
            # Said once, first: before the render's, the emulator's and terraform's lines.
            warn(self.warnings)
        self._sync(outcome, no_render)
        env = dict(os.environ)
        if sandbox:
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
        endpoint = self.env.get(core.ENDPOINT_ENV) or None
        if self.sandbox is not None:
            self.sandbox.use_credentials()
        return aws.make_session(self.spec.region, endpoint_url=endpoint,
                            profile=None if self.sandbox else self.profile)

    def check_account(self, expected_account: str | None) -> None:
        """With ``expected_account``: fail (exit 5) unless the credentials work and are for
        that account; called first by the commands that change things without a pre-flight."""
        if not expected_account:
            return
        problems = aws.account_problems(self.spec, self.clients(), expected_account)
        if problems:
            raise AwsCheckError("wrong or unusable AWS credentials; nothing was changed",
                                problems=problems)

    def preflight(self, *, expected_account: str | None = None) -> None:
        spec = self.spec
        if self.sandbox is not None and spec.kms_key_arn:
            # The emulator cannot hold the user's key ARN; check the stand-in instead.
            spec = spec.model_copy(update={"kms_key_arn": self.sandbox.kms_key_arn()})
        if self.sandbox is not None and spec.create_record_set:
            zone = json.loads((self.sandbox.root / "seeded.json").read_text())["zone_id"]
            spec = spec.model_copy(update={"hosted_zone_id": zone})
        self.say("pre-flight checks against AWS ...")
        problems = aws.preflight(spec, self.clients(), expected_account=expected_account,
                             s3_uri_override=self.s3_override.uri() if self.s3_override else None)
        if problems:
            raise AwsCheckError(f"{len(problems)} pre-flight problem(s); nothing was created",
                                problems=problems)
        self.say("pre-flight checks passed")

    def plan(self, *, targets: tuple[str, ...] = (), destroy: bool = False
             ) -> tuple[Path, PlanSummary, dict]:
        path = self.workdir / PLAN_FILE
        # terraform plan says nothing until it is done (up to a minute, with a slow API).
        self.say("terraform plan ...")
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

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.sandbox is None:
            return
        stop = self.sandbox.started_here if self.stop_sandbox is None else self.stop_sandbox
        if stop:
            self.sandbox.stop()
            self.say("sandbox: emulator stopped")
        else:
            self.say(f"sandbox: emulator keeps running on {self.sandbox.server.endpoint}; "
                     "`kopsgen destroy --sandbox` removes the cluster and stops it")
