# S3 server access logs of the assets bucket: who read which node credentials, and when.
# They go to a bucket of their own (a bucket cannot usefully log to itself), kept for
# access_log_expiration_days and removed with the cluster.

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it would only log its own log deliveries.
  #checkov:skip=CKV_AWS_144:Access logs are not worth a copy in another region; they expire after access_log_expiration_days.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the log bucket; the logs are read when someone audits.
  #checkov:skip=CKV_AWS_145:S3 log delivery writes under a KMS key only if that key's policy admits logging.s3.amazonaws.com, and the cluster key may be the user's (kmsKeyArn); the logs hold request records, no object data, and are encrypted with SSE-S3.
  # At most 63 characters: cluster.yaml's clusterName has at most 20, a region name at most
  # 15 (us-isof-south-1), an account id 12.
  bucket = "kopsgen-${var.cluster_name}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}-log"

  # The logs are the cluster's; `kopsgen destroy` removes them with it.
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Log delivery is authorised by the bucket policy, not by ACLs.
resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = templatefile("${path.module}/access-logs-policy.json.tftpl", {
    log_bucket_arn = aws_s3_bucket.access_logs.arn
    prefix         = local.access_log_prefix
    source_arn     = aws_s3_bucket.this.arn
    account_id     = data.aws_caller_identity.current.account_id
  })

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

locals {
  access_log_prefix = "assets/"
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = local.access_log_prefix

  # S3 checks that the target bucket admits log delivery when logging is switched on.
  depends_on = [aws_s3_bucket_policy.access_logs]
}
