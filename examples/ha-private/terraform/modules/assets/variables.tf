variable "bucket" {
  type        = string
  description = "Name of the S3 bucket holding the cluster's assets (from cluster.yaml s3URI, or the assets_bucket module)."
}

variable "assets_prefix" {
  type        = string
  description = "Key prefix of this cluster's assets: \"<s3URI prefix>/<cluster name>\" without leading or trailing slash (e.g. \"clusters/k8s\", or \"k8s\" when the s3URI has no prefix)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.assets_prefix))
    error_message = "assets_prefix must be slash-separated path segments without leading or trailing slash."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the cluster's KMS key; every object is stored with SSE-KMS under it."
}

variable "userdata_dir" {
  type        = string
  description = "Directory holding cloud-config-{etcd,controller,worker}; in a kopsgen workspace \"$${path.root}/../userdata\"."
}
