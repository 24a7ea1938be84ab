variable "cluster_name" {
  type        = string
  description = "Name of the cluster; the key's alias is alias/kopsgen/<cluster_name> (e.g. \"k8s\")."
}

variable "deletion_window_in_days" {
  type        = number
  description = "Days (7-30) a deleted key waits before AWS erases it; a destroyed cluster's encrypted volumes and snapshots stay readable until then."
  default     = 7

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}
