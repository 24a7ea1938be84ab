output "member_names" {
  description = "DNS names of the members, in member order (e.g. [\"etcd0.k8s.internal\", ...]); read from their records, so whoever uses them comes after the names exist."
  value       = [for name in keys(local.members) : aws_route53_record.member[name].fqdn]
}

output "instance_ids" {
  description = "Instance IDs by member name (etcd0, etcd1, ...)."
  value       = { for name, i in aws_instance.member : name => i.id }
}

output "data_volume_ids" {
  description = "IDs of the data volumes the members are attached to, by member name (the restored set once etcd.restore.snapshot is set)."
  value       = { for name, a in aws_volume_attachment.data : name => a.volume_id }
}

output "internal_zone_id" {
  description = "ID of the private hosted zone for internal_domain."
  value       = aws_route53_zone.internal.zone_id
}
