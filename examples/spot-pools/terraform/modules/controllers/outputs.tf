output "load_balancer_name" {
  description = "Name of the API load balancer."
  value       = aws_lb.api.name
}

output "load_balancer_dns_name" {
  description = "DNS name of the API load balancer."
  value       = aws_lb.api.dns_name
}

output "load_balancer_zone_id" {
  description = "Canonical hosted zone ID of the API load balancer, for alias records."
  value       = aws_lb.api.zone_id
}

output "load_balancer_security_group_id" {
  description = "ID of the API load balancer's security group."
  value       = aws_security_group.api.id
}

output "autoscaling_group_name" {
  description = "Name of the controllers' auto scaling group."
  value       = aws_autoscaling_group.this.name
}

output "internal_api_name" {
  description = "The API's name for in-cluster clients (e.g. \"api.k8s.internal\"), read from its record: node pools launch only once it resolves."
  value       = aws_route53_record.internal.fqdn
}

output "internal_load_balancer_dns_name" {
  description = "DNS name of the internal API load balancer (in-cluster clients use internal_api_name, an alias of it)."
  value       = aws_lb.internal.dns_name
}
