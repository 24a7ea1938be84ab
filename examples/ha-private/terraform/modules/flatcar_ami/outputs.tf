output "id" {
  description = "ID of the newest Flatcar image of the channel in the provider's region (e.g. \"ami-0abc\")."
  value       = data.aws_ami.this.id
}

output "name" {
  description = "Name of that image (e.g. \"Flatcar-stable-4081.2.0-hvm\")."
  value       = data.aws_ami.this.name
}
