output "location" {
  description = "The cluster's assets location, s3://<bucket>/<assets_prefix>."
  value       = "s3://${var.bucket}/${var.assets_prefix}"
}

output "cloud_config_keys" {
  description = "S3 keys of the uploaded cloud-configs by role."
  value       = { for role, o in aws_s3_object.cloud_config : role => o.key }
}

output "cloud_config_sha256" {
  description = "SHA-256 (hex) of each role's cloud-config; a node module puts it in the user data so a changed cloud-config rolls that role."
  # Read through the object so that nodes are only created after their cloud-config exists.
  value = { for role, o in aws_s3_object.cloud_config : role => filesha256(o.source) }
}
