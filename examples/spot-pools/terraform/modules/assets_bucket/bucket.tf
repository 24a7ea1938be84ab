# Only emitted when cluster.yaml gives no s3URI: the cluster then owns its assets bucket,
# named from the cluster, account and region so it is unique and predictable.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Replicating would copy the cluster's private keys to another region; every object is re-created by `kopsgen render` and `kopsgen up`.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of this bucket; nodes read their objects at boot.
  bucket = "kopsgen-${var.cluster_name}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"

  # The bucket holds only this cluster's generated assets and the credentials uploaded
  # by `kopsgen up`; `kopsgen destroy` must be able to remove it with them.
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# Old versions of rotated credentials and replaced cloud-configs are not kept for ever.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # The etcd snapshots (kopsgen-etcd-backup) are kept etcd_backup_retention_days, then
  # expire; a version an expiry or overwrite left behind goes a day later.
  dynamic "rule" {
    for_each = var.etcd_backup_prefix == null ? [] : [var.etcd_backup_prefix]

    content {
      id     = "expire-etcd-backups"
      status = "Enabled"

      filter {
        prefix = "${rule.value}/"
      }

      expiration {
        days = var.etcd_backup_retention_days
      }

      noncurrent_version_expiration {
        noncurrent_days = 1
      }

      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }

  # The rule needs versioning on first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# Credentials never travel without TLS, whoever asks.
resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = templatefile("${path.module}/tls-only-policy.json.tftpl", {
    bucket_arn = aws_s3_bucket.this.arn
  })

  # S3 refuses a bucket policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
