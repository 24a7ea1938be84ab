# Every packet decision in the cluster's VPC is kept in CloudWatch Logs for incident review.
# An existing VPC (vpc_id) belongs to its owner, who decides its flow logs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  flow_log_group  = "/kopsgen/${var.cluster_name}/vpc-flow-logs"
  flow_log_prefix = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group"
}

# A key of its own: the cluster key may be the user's (cluster.yaml kmsKeyArn), whose policy
# cannot be assumed to admit CloudWatch Logs.
resource "aws_kms_key" "flow_logs" {
  count = var.vpc_id == null ? 1 : 0

  description             = "kopsgen cluster ${var.cluster_name}: VPC flow logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy = templatefile("${path.module}/policies/flow-logs-key.json.tftpl", {
    account_id    = data.aws_caller_identity.current.account_id
    partition     = data.aws_partition.current.partition
    region        = data.aws_region.current.name
    log_group_arn = "${local.flow_log_prefix}:${local.flow_log_group}"
  })
}

resource "aws_kms_alias" "flow_logs" {
  count = var.vpc_id == null ? 1 : 0

  name          = "alias/kopsgen/${var.cluster_name}/flow-logs"
  target_key_id = aws_kms_key.flow_logs[0].key_id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.vpc_id == null ? 1 : 0

  name              = local.flow_log_group
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.flow_logs[0].arn
}

resource "aws_iam_role" "flow_logs" {
  count = var.vpc_id == null ? 1 : 0

  name        = "${var.cluster_name}-vpc-flow-logs"
  description = "kopsgen cluster ${var.cluster_name}: VPC flow logs delivery"
  assume_role_policy = templatefile("${path.module}/policies/flow-logs-trust.json.tftpl", {
    account_id = data.aws_caller_identity.current.account_id
    partition  = data.aws_partition.current.partition
    region     = data.aws_region.current.name
  })
}

# Delivery may write to this one log group and nothing else.
resource "aws_iam_role_policy" "flow_logs" {
  count = var.vpc_id == null ? 1 : 0

  name = "deliver"
  role = aws_iam_role.flow_logs[0].id
  policy = templatefile("${path.module}/policies/flow-logs-delivery.json.tftpl", {
    log_group_arn = aws_cloudwatch_log_group.flow_logs[0].arn
  })
}

resource "aws_flow_log" "this" {
  count = var.vpc_id == null ? 1 : 0

  vpc_id                   = aws_vpc.this[0].id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn             = aws_iam_role.flow_logs[0].arn
  max_aggregation_interval = 60

  tags = {
    Name = var.cluster_name
  }
}
