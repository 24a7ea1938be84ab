"""Where the cluster keeps things: the KMS key, the S3 location, the asset mirrors."""

from __future__ import annotations

from kopsgen.spec import rules
from kopsgen.spec.builder.context import BuildContext
from kopsgen.spec.model import Assets, S3Location


class StoragePart(BuildContext):
    """kmsKeyArn, s3URI and assets."""

    def kms(self, region: str) -> str | None:
        arn = self.raw.kmsKeyArn
        if not arn:
            return None
        m = rules.KMS_ARN_RE.fullmatch(arn)
        if not m:
            self.err(("kmsKeyArn",), f"{arn!r} is not a KMS key ARN "
                     "(arn:aws:kms:REGION:ACCOUNT:key/ID), or leave it \"\" to create a key")
            return None
        if m["region"] != region and region != "invalid":
            self.err(("kmsKeyArn",), f"the key is in {m['region']}, not in the cluster's region "
                     f"{region}; KMS keys cannot be used across regions")
        return arn

    def s3(self) -> S3Location | None:
        uri = self.raw.s3URI
        if uri is None or uri == "":
            return None
        bucket, prefix, why = rules.parse_s3_uri(uri)
        if why:
            self.err(("s3URI",), why)
            return None
        return S3Location(bucket=bucket, prefix=prefix)

    def assets(self) -> Assets:
        raw = self.raw.assets
        if raw is None:
            return Assets()
        repo, registry = raw.fileRepository or None, raw.containerRegistry or None
        if repo is not None:
            m = rules.FILE_REPOSITORY_RE.fullmatch(repo)
            if not m:
                self.err(("assets", "fileRepository"), f"{repo!r} is not an http(s) URL of a "
                         "directory (e.g. https://mirror.example.com/files)")
                repo = None
            else:
                repo = repo.rstrip("/")
        if registry is not None:
            if not rules.CONTAINER_REGISTRY_RE.fullmatch(registry):
                self.err(("assets", "containerRegistry"), f"{registry!r} is not a registry "
                         "host with an optional path (e.g. mirror.example.com/k8s, no scheme)")
                registry = None
            else:
                registry = registry.rstrip("/")
        return Assets(file_repository=repo, container_registry=registry)
