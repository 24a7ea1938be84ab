data "aws_default_tags" "current" {}

locals {
  cloud_config_key = "userdata/controllers/cloud-config-controller"

  # One controller's share of the group, on top of 100%: 150 for two, 134 for three.
  controllers            = max(var.min_size, coalesce(var.desired_capacity, var.min_size))
  max_healthy_percentage = min(200, max(100, var.min_healthy_percentage + ceil(100 / local.controllers)))
}

# The controllers' cloud-config, uploaded with them; a new version changes the launch
# template (its SHA-256 is in the user data), which rolls the controllers.
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

  role                = "controller"
  assets_bucket       = var.assets_bucket
  assets_prefix       = var.assets_prefix
  cloud_config_key    = local.cloud_config_key
  cloud_config_sha256 = filesha256(aws_s3_object.cloud_config.source)
  credentials_sha256  = var.credentials_sha256
  # The node termination handler (an add-on on the controllers) reads this queue.
  termination_queue_url = var.termination_queue_url
}

resource "aws_launch_template" "this" {
  name                   = "${var.cluster_name}-controller"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = concat([var.security_group_id], var.extra_security_group_ids)
  user_data              = module.bootstrap.user_data_base64

  iam_instance_profile {
    name = var.instance_profile_name
  }

  placement {
    tenancy = var.tenancy
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

  # Provider default_tags do not reach what an auto scaling group launches.
  dynamic "tag_specifications" {
    for_each = ["instance", "volume"]

    content {
      resource_type = tag_specifications.value
      # kopsgen.io/role: the EBS CSI driver may attach volumes to controllers and workers only.
      tags = merge(data.aws_default_tags.current.tags, {
        Name              = "${var.cluster_name}-controller"
        "kopsgen.io/role" = "controller"
      })
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name                = "${var.cluster_name}-controller"
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = [aws_lb_target_group.api.arn, aws_lb_target_group.internal.arn]

  # The load balancers' health check (kube-apiserver's /readyz): an instance refresh counts a
  # new controller in service only once its API server is ready, so a bad one stops the
  # rollout while the old controllers keep serving. The grace period covers a boot
  # (docs/updates.md: what "healthy" means and what it does not cover).
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (image, user data) replaces controllers one at a time:
  # with every controller kept in service (100%), room for exactly one more makes the
  # refresh launch one replacement, wait until it is healthy, then terminate one old one.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = var.min_healthy_percentage
      max_healthy_percentage = local.max_healthy_percentage
      instance_warmup        = var.health_check_grace_period
    }
  }

  tag {
    key                 = "kubernetes.io/cluster/${var.cluster_name}"
    value               = "owned"
    propagate_at_launch = false
  }

  lifecycle {
    precondition {
      condition     = length(var.etcd_names) > 0
      error_message = "The controllers need the etcd members' names."
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
