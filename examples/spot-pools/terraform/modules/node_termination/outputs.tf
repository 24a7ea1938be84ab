output "queue_arn" {
  description = "ARN of the node termination queue (the controllers' handler may receive and delete its messages)."
  value       = aws_sqs_queue.this.arn
}

output "queue_url" {
  description = "URL of the node termination queue, the handler's QUEUE_URL."
  value       = aws_sqs_queue.this.id
}
