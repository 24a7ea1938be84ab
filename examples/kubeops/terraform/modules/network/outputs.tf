output "vpc_id" {
  description = "ID of the cluster's VPC (created or given)."
  value       = local.vpc_id
}

output "subnets" {
  description = "Subnets by name: { id, availability_zone, private }."
  value = {
    for name, s in aws_subnet.this : name => {
      id                = s.id
      availability_zone = s.availability_zone
      private           = var.subnets[name].private
    }
  }
}

output "subnet_ids" {
  description = "Subnet IDs by subnet name."
  value       = { for name, s in aws_subnet.this : name => s.id }
}

output "nat_gateway_ids" {
  description = "NAT gateway IDs by availability zone (only zones with private subnets)."
  value       = { for zone, n in aws_nat_gateway.this : zone => n.id }
}

output "security_group_ids" {
  description = "Security group IDs by node role: etcd, controller, worker."
  value       = local.security_groups
}
