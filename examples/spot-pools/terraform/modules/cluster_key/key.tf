# Only emitted when cluster.yaml leaves kmsKeyArn empty.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "this" {
  description             = "kopsgen cluster ${var.cluster_name}: node credentials, cloud-configs and EBS volumes"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy = templatefile("${path.module}/key-policy.json.tftpl", {
    account_id = data.aws_caller_identity.current.account_id
    partition  = data.aws_partition.current.partition
    region     = data.aws_region.current.name
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/kopsgen/${var.cluster_name}"
  target_key_id = aws_kms_key.this.key_id
}
