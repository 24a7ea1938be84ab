output "name" {
  description = "Name of the assets bucket (kopsgen-<cluster>-<account id>-<region>)."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the assets bucket."
  value       = aws_s3_bucket.this.arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket that receives the assets bucket's S3 server access logs (kopsgen-<cluster>-<account id>-<region>-log)."
  value       = aws_s3_bucket.access_logs.id
}
