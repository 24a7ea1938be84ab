data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  roles = toset(["etcd", "controller", "worker"])
  # Where each role's cloud-configs live below the prefix (the etcd, controllers and nodepool
  # modules upload them): userdata/etcd/, userdata/controllers/, userdata/pools/<pool>/.
  userdata = { etcd = "etcd", controller = "controllers", worker = "pools" }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name               = "${var.cluster_name}-${each.key}"
  description        = "kopsgen cluster ${var.cluster_name}: ${each.key} nodes"
  assume_role_policy = file("${path.module}/policies/ec2-trust.json")
}

resource "aws_iam_instance_profile" "this" {
  for_each = local.roles

  name = "${var.cluster_name}-${each.key}"
  role = aws_iam_role.this[each.key].name
}

# Each role reads its own credentials and cloud-config and nothing else of the cluster, and
# may decrypt with the cluster key only what S3 decrypts for it from those prefixes.
resource "aws_iam_role_policy" "assets" {
  for_each = local.roles

  name = "assets"
  role = aws_iam_role.this[each.key].id
  policy = templatefile("${path.module}/policies/assets.json.tftpl", {
    partition   = data.aws_partition.current.partition
    bucket      = var.assets_bucket
    prefix      = var.assets_prefix
    role        = each.key
    userdata    = local.userdata[each.key]
    kms_key_arn = var.kms_key_arn
    region      = data.aws_region.current.name
  })
}

# The cloud-controller-manager and EBS CSI policies exceed what fits inline next to the
# assets policy (10 KB per role), so they are managed policies.
resource "aws_iam_policy" "cloud_provider" {
  name        = "${var.cluster_name}-cloud-provider"
  description = "kopsgen cluster ${var.cluster_name}: AWS cloud-controller-manager"
  policy = templatefile("${path.module}/policies/cloud-provider.json.tftpl", {
    partition    = data.aws_partition.current.partition
    cluster_name = var.cluster_name
  })
}

resource "aws_iam_policy" "ebs_csi" {
  name        = "${var.cluster_name}-ebs-csi"
  description = "kopsgen cluster ${var.cluster_name}: EBS CSI driver controller"
  policy = templatefile("${path.module}/policies/ebs-csi.json.tftpl", {
    partition    = data.aws_partition.current.partition
    cluster_name = var.cluster_name
    kms_key_arn  = var.kms_key_arn
    region       = data.aws_region.current.name
  })
}

resource "aws_iam_role_policy_attachment" "controller_cloud_provider" {
  role       = aws_iam_role.this["controller"].name
  policy_arn = aws_iam_policy.cloud_provider.arn
}

resource "aws_iam_role_policy_attachment" "controller_ebs_csi" {
  role       = aws_iam_role.this["controller"].name
  policy_arn = aws_iam_policy.ebs_csi.arn
}

# The AWS Node Termination Handler runs on the controllers (host network, so it has their
# instance role): it reads the termination queue, completes the lifecycle actions of this
# cluster's groups and looks instances up to find their nodes.
resource "aws_iam_policy" "node_termination_handler" {
  name        = "${var.cluster_name}-node-termination-handler"
  description = "kopsgen cluster ${var.cluster_name}: AWS Node Termination Handler (queue mode)"
  policy = templatefile("${path.module}/policies/node-termination-handler.json.tftpl", {
    partition  = data.aws_partition.current.partition
    region     = data.aws_region.current.name
    account_id = split(":", var.termination_queue_arn)[4] # the queue's account is the groups'
    groups     = var.autoscaling_group_names
    queue_arn  = var.termination_queue_arn
  })
}

resource "aws_iam_role_policy_attachment" "controller_node_termination_handler" {
  role       = aws_iam_role.this["controller"].name
  policy_arn = aws_iam_policy.node_termination_handler.arn
}

resource "aws_iam_role_policy" "worker_node" {
  name   = "node"
  role   = aws_iam_role.this["worker"].id
  policy = file("${path.module}/policies/worker-node.json")
}
