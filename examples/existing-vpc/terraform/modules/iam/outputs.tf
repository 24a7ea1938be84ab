output "role_arns" {
  description = "IAM role ARNs by node role: etcd, controller, worker."
  value       = { for role, r in aws_iam_role.this : role => r.arn }
}

output "instance_profile_names" {
  description = "Instance profile names by node role: etcd, controller, worker."
  value       = { for role, p in aws_iam_instance_profile.this : role => p.name }
}
