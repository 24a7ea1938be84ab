output "fqdn" {
  description = "The API record's fully qualified name."
  value       = aws_route53_record.api.fqdn
}
