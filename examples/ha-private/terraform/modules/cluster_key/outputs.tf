output "key_arn" {
  description = "ARN of the cluster's KMS key."
  value       = aws_kms_key.this.arn
}

output "alias_name" {
  description = "Alias of the cluster's KMS key (alias/kopsgen/<cluster_name>)."
  value       = aws_kms_alias.this.name
}
