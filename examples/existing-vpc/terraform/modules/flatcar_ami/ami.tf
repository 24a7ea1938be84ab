# Only emitted when cluster.yaml gives no amiId, so a pinned image never costs a lookup.
data "aws_ami" "this" {
  most_recent = true
  owners      = ["075585003325"] # Kinvolk/Microsoft, the Flatcar publisher

  filter {
    name   = "name"
    values = ["Flatcar-${var.release_channel}-*-hvm"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}
