locals {
  # The events that end (or are about to end) an instance, as the handler's queue mode
  # expects them (aws-node-termination-handler README, "Queue Processor"): a termination
  # lifecycle hook of one of the cluster's groups, a spot interruption, a rebalance
  # recommendation, an instance stopping or going away, and scheduled maintenance.
  patterns = {
    asg-lifecycle = {
      source      = ["aws.autoscaling"]
      detail-type = ["EC2 Instance-terminate Lifecycle Action"]
      detail      = { AutoScalingGroupName = var.autoscaling_group_names }
    }
    spot-interruption = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Spot Instance Interruption Warning"]
    }
    rebalance = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance Rebalance Recommendation"]
    }
    state-change = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance State-change Notification"]
    }
    scheduled-change = {
      source      = ["aws.health"]
      detail-type = ["AWS Health Event"]
      detail = {
        service           = ["EC2"]
        eventTypeCategory = ["scheduledChange"]
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.patterns

  name          = "${var.cluster_name}-termination-${each.key}"
  description   = "kopsgen cluster ${var.cluster_name}: ${each.key} events to the node termination handler's queue"
  event_pattern = jsonencode(each.value)
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.patterns

  rule      = aws_cloudwatch_event_rule.this[each.key].name
  target_id = "node-termination-queue"
  arn       = aws_sqs_queue.this.arn
}
