"""`kopsgen validate --aws`: the pre-flight checks, against the account or the sandbox."""

from __future__ import annotations

from pathlib import Path

from kopsgen import aws, core
from kopsgen.errors import Problem
from kopsgen.flows.session import Say
from kopsgen.sandbox import Sandbox
from kopsgen.spec.model import Spec


def aws_problems(cluster_dir: Path, spec: Spec, *, say: Say, sandbox: bool = False,
                 profile: str | None = None, expected_account: str | None = None,
                 s3_uri: str | None = None) -> list[Problem]:
    """Every pre-flight problem of ``spec``; with ``sandbox``, against this directory's
    emulator (started for the check and stopped again unless it was running), seeded with
    what cluster.yaml says exists, as `plan --sandbox` checks it. Writes no workspace."""
    if not sandbox:
        return core.preflight(spec, profile=profile, expected_account=expected_account,
                              s3_uri=s3_uri)
    box = Sandbox(cluster_dir)
    server = box.start()
    say(f"sandbox: AWS emulator on {server.endpoint} (no AWS account is used)")
    try:
        seeded = box.seed(spec)
        # The emulator cannot hold the user's key or zone: check its stand-ins instead.
        update = {}
        if spec.kms_key_arn:
            update["kms_key_arn"] = seeded["kms_key_arn"]
        if spec.create_record_set:
            update["hosted_zone_id"] = seeded["zone_id"]
        if update:
            spec = spec.model_copy(update=update)
        box.use_credentials()
        clients = aws.make_session(spec.region, endpoint_url=server.endpoint)
        return aws.preflight(spec, clients, expected_account=expected_account,
                             s3_uri_override=s3_uri)
    finally:
        if box.started_here:
            box.stop()
