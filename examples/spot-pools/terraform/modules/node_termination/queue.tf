data "aws_caller_identity" "current" {}

# What the AWS Node Termination Handler (queue mode, on the controllers) reads: every event
# that ends an instance, so it drains the node first. Messages older than five minutes are
# of no use (the lifecycle hook has given up waiting by then), so they expire.
resource "aws_sqs_queue" "this" {
  name                      = "${var.cluster_name}-node-termination"
  message_retention_seconds = 300
  sqs_managed_sse_enabled   = true
}

# Only EventBridge may send, and only from this cluster's rules in this account. (The
# handler's own docs also admit sqs.amazonaws.com, which nothing here needs.)
resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeRules"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.this.arn
      Condition = {
        ArnEquals    = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.this : r.arn] }
        StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
      }
    }]
  })
}
