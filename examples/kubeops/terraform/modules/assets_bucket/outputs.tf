output "name" {
  description = "Name of the assets bucket (kopsgen-<cluster>-<account id>-<region>)."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the assets bucket."
  value       = aws_s3_bucket.this.arn
}
