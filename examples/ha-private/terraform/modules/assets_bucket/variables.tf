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

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days an overwritten or deleted object's old version is kept before S3 expires it (e.g. 30), so a bad render can be rolled back for that long."
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "access_log_expiration_days" {
  type        = number
  description = "Days the assets bucket's S3 server access logs are kept in its log bucket (kopsgen-<cluster>-<account id>-<region>-log) before S3 expires them (e.g. 365)."
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1 && floor(var.access_log_expiration_days) == var.access_log_expiration_days
    error_message = "access_log_expiration_days must be a whole number of at least 1."
  }
}

variable "etcd_backup_prefix" {
  type        = string
  description = "Key prefix of the cluster's etcd snapshots, \"<assets prefix>/backups/etcd\" (e.g. \"k8s/backups/etcd\"), which the expire-etcd-backups lifecycle rule covers; null for no such rule."
  default     = null
}

variable "etcd_backup_retention_days" {
  type        = number
  description = "Days S3 keeps each etcd snapshot before expiring it (cluster.yaml etcd.backup.retentionDays, e.g. 30)."
  default     = 30

  validation {
    condition     = var.etcd_backup_retention_days >= 1 && floor(var.etcd_backup_retention_days) == var.etcd_backup_retention_days
    error_message = "etcd_backup_retention_days must be a whole number of at least 1."
  }
}
