locals {
  roles = toset(["etcd", "controller", "worker"])
}

# The full cloud-configs go to S3 rather than into EC2 user data: they exceed the 16 KB
# user data limit and nodes of a role all share one.
resource "aws_s3_object" "cloud_config" {
  for_each = local.roles

  bucket                 = var.bucket
  key                    = "${var.assets_prefix}/userdata/cloud-config-${each.key}"
  source                 = "${var.userdata_dir}/cloud-config-${each.key}"
  source_hash            = filemd5("${var.userdata_dir}/cloud-config-${each.key}")
  content_type           = "text/cloud-config"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}
