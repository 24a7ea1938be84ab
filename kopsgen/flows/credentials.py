"""Delivering credentials: each role's files to the cluster's S3 prefix (`kopsgen
credentials push`, and `up`/`update` before and after their apply)."""

from __future__ import annotations

import hashlib

from kopsgen import core
from kopsgen.aws import asking, botocore_errors, error_code, failure
from kopsgen.errors import WorkspaceError
from kopsgen.flows.session import Session
from kopsgen.render.credential_files import ROLE_FILES


def push_credentials(session: Session, *, outputs: dict | None = None,
                     expected_account: str | None = None) -> list[str]:
    """Upload each role's credentials to s3://<assets>/credentials/<role>/ with SSE-KMS,
    skipping objects whose sha256 (kept in the object's metadata) is unchanged; with
    ``expected_account``, only once the credentials are known to be that account's."""
    session.check_account(expected_account)
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
            except botocore_errors() as exc:
                # 404 means "upload it"; anything else is an answer we cannot go on with.
                if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
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
