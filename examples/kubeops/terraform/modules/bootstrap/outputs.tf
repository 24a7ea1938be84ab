output "user_data" {
  description = "The bootstrap #cloud-config (plain text, well under the 16 KB EC2 limit)."
  value       = local.user_data
}

output "user_data_base64" {
  description = "The bootstrap #cloud-config, base64-encoded as launch templates expect."
  value       = base64encode(local.user_data)
}
