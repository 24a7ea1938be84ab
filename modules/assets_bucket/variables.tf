variable "cluster_name" {
  type        = string
  description = "Name of the cluster; the bucket is named kopsgen-<cluster_name>-<account id>-<region> (e.g. \"k8s\")."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,21}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a DNS label of at most 23 characters to fit an S3 bucket name."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the cluster's KMS key; the bucket's default encryption is SSE-KMS with it."
}
