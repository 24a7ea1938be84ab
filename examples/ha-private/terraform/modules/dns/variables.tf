variable "hosted_zone_id" {
  type        = string
  description = "ID of the Route53 hosted zone holding external_dns_name (cluster.yaml hostedZoneId, e.g. \"Z0123456789ABC\")."
}

variable "external_dns_name" {
  type        = string
  description = "Name clients use for the Kubernetes API (cluster.yaml externalDNSName, e.g. \"k8s.example.com\")."
}

variable "load_balancer_dns_name" {
  type        = string
  description = "DNS name of the API load balancer the record aliases."
}

variable "load_balancer_zone_id" {
  type        = string
  description = "Canonical hosted zone ID of the API load balancer."
}
