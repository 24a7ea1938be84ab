"""Pre-flight: the KMS key and the S3 bucket (both in the cluster's region)."""

from __future__ import annotations

from kopsgen.aws.checks.base import Check
from kopsgen.aws.errors import client_error, error_code
from kopsgen.spec import rules


def _region_of_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


class StorageChecks(Check):
    # KMS -----------------------------------------------------------------------------------

    def kms_key(self) -> None:
        arn = self.spec.kms_key_arn
        if not arn:
            return
        # Ask the region the ARN names, so a key elsewhere is reported as elsewhere rather
        # than as missing.
        arn_region = _region_of_arn(arn) or self.spec.region
        with self.guard("kmsKeyArn", "cannot read the KMS key"):
            try:
                meta = self.aws.client("kms", arn_region).describe_key(KeyId=arn)["KeyMetadata"]
            except client_error() as exc:
                if error_code(exc) != "NotFoundException":
                    raise
                self.add("kmsKeyArn", f"no KMS key {arn} in {arn_region} (or no permission to "
                         "see it); leave kmsKeyArn \"\" to let kopsgen create one")
                return
            key_region = _region_of_arn(meta.get("Arn", arn)) or arn_region
            if key_region != self.spec.region:
                self.add("kmsKeyArn", f"the key is in {key_region}, not in the cluster's region "
                         f"{self.spec.region}; KMS keys cannot be used across regions")
            state = meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled")
            if state != "Enabled":
                self.add("kmsKeyArn", f"the key is {state}, not Enabled (aws kms enable-key "
                         f"--key-id {meta.get('KeyId', arn)})")
            spec_name = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
            if meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or (
                    spec_name and spec_name != "SYMMETRIC_DEFAULT"):
                self.add("kmsKeyArn", f"the key is {spec_name} for {meta.get('KeyUsage')}; S3 and "
                         "EBS encryption need a symmetric ENCRYPT_DECRYPT key")

    # S3 ------------------------------------------------------------------------------------

    def bucket(self, s3_uri_override: str | None) -> None:
        fld = "s3URI"
        if s3_uri_override:
            fld = "--s3-uri"
            bucket, _, why = rules.parse_s3_uri(s3_uri_override)
            if why:
                self.add(fld, why)
                return
        elif self.spec.s3 is not None:
            bucket = self.spec.s3.bucket
        else:
            return
        s3 = self.aws.client("s3", self.spec.region)
        with self.guard(fld, f"cannot reach bucket {bucket}"):
            try:
                s3.head_bucket(Bucket=bucket)
            except client_error() as exc:
                code = error_code(exc)
                if code in ("404", "NoSuchBucket", "NotFound"):
                    self.add(fld, f"bucket {bucket} does not exist; create it first "
                             f"(aws s3 mb s3://{bucket} --region {self.spec.region})")
                    return
                if code in ("403", "AccessDenied", "Forbidden"):
                    self.add(fld, f"bucket {bucket} exists but these credentials may not use it "
                             "(403 Forbidden)")
                    return
                raise
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
            # Buckets made before regions existed answer None (us-east-1) or "EU".
            region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
            if region != self.spec.region:
                # SSE-KMS needs the key in the bucket's region, and the key is in the cluster's.
                self.add(fld, f"bucket {bucket} is in {region}, not in the cluster's region "
                         f"{self.spec.region}; use a bucket in {self.spec.region}")
