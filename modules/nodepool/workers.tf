data "aws_default_tags" "current" {}

# The pool's own copy of the worker cloud-config: `kopsgen update --pool` (terraform
# -target) changes this pool's nodes and nothing another pool's new nodes would boot from.
resource "aws_s3_object" "cloud_config" {
  bucket                 = var.assets_bucket
  key                    = "${var.assets_prefix}/${local.cloud_config_key}"
  source                 = var.cloud_config_file
  source_hash            = filemd5(var.cloud_config_file)
  content_type           = "text/cloud-config"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

module "bootstrap" {
  source = "../bootstrap"

  role                = "worker"
  assets_bucket       = var.assets_bucket
  assets_prefix       = var.assets_prefix
  cloud_config_key    = local.cloud_config_key
  cloud_config_sha256 = filesha256(aws_s3_object.cloud_config.source)
  credentials_sha256  = var.credentials_sha256
  node_pool           = var.name
  node_labels         = var.node_labels
  node_taints         = var.node_taints
}

locals {
  name             = "${var.cluster_name}-${var.name}"
  cloud_config_key = "userdata/pools/${var.name}/cloud-config-worker"

  # Tags cluster-autoscaler's --node-group-auto-discovery looks for.
  autoscaler_tags = var.cluster_autoscaler ? {
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  } : {}
}

resource "aws_launch_template" "this" {
  name                   = local.name
  image_id               = var.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = var.security_group_ids
  user_data              = module.bootstrap.user_data_base64

  iam_instance_profile {
    name = var.instance_profile_name
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = var.root_volume.type
      volume_size           = var.root_volume.size
      iops                  = var.root_volume.iops
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  placement {
    tenancy = var.tenancy
  }

  dynamic "instance_market_options" {
    for_each = var.spot_price == null ? [] : [var.spot_price]

    content {
      market_type = "spot"

      spot_options {
        max_price = instance_market_options.value
      }
    }
  }

  # Provider default_tags do not reach what an auto scaling group launches.
  dynamic "tag_specifications" {
    for_each = ["instance", "volume"]

    content {
      resource_type = tag_specifications.value
      # kopsgen.io/role: the EBS CSI driver may attach volumes to controllers and workers only.
      tags = merge(data.aws_default_tags.current.tags, {
        Name              = local.name
        "kopsgen.io/role" = "worker"
      })
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name                = local.name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (image, user data, cloud-config hash) rolls the pool.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = var.min_healthy_percentage
    }
  }

  dynamic "tag" {
    for_each = merge(local.autoscaler_tags, { "kubernetes.io/cluster/${var.cluster_name}" = "owned" })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  # desired_capacity is null where cluster-autoscaler owns the number (between min_size and
  # max_size): Terraform then keeps whatever the autoscaler set.
  lifecycle {
    precondition {
      condition     = var.api_name != ""
      error_message = "The pool needs the API's internal name."
    }
  }
}

# Every termination waits for the node termination handler (on the controllers) to drain
# the node -- evicting its pods, so PodDisruptionBudgets hold -- for at most five minutes:
# with no answer by then the termination goes ahead (CONTINUE), so a handler that is down
# slows a rollout but never stops it. A resource of its own, not initial_lifecycle_hook,
# which AWS reads only when the group is created.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = "kopsgen-drain"
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = 300
  default_result         = "CONTINUE"
}
