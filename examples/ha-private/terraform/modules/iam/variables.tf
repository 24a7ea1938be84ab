variable "cluster_name" {
  type        = string
  description = "Name of the cluster; roles are named <cluster_name>-<role> (e.g. \"k8s-controller\") and cloud-provider permissions are scoped to its kubernetes.io/cluster/<cluster_name> tag."
}

variable "assets_bucket" {
  type        = string
  description = "Name of the S3 bucket holding the cluster's credentials and cloud-configs."
}

variable "assets_prefix" {
  type        = string
  description = "Key prefix of this cluster's assets, \"<s3URI prefix>/<cluster name>\" without leading or trailing slash (e.g. \"k8s\")."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.assets_prefix))
    error_message = "assets_prefix must be slash-separated path segments without leading or trailing slash."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the cluster's KMS key, the only key the roles may decrypt with."
}

variable "termination_queue_arn" {
  type        = string
  description = "ARN of the node termination queue (the node_termination module's queue_arn): the controllers' handler may receive and delete its messages and nothing else of SQS."
}

variable "autoscaling_group_names" {
  type        = list(string)
  description = "Names of the cluster's auto scaling groups (e.g. [\"k8s-controller\", \"k8s-nodepool1\"]), whose lifecycle actions the controllers' handler may complete."
}

variable "etcd_restore_snapshot" {
  type        = string
  description = "Key (below assets_prefix) of the etcd snapshot the members restore from (cluster.yaml etcd.restore.snapshot): the etcd role may read that one object; \"\" for none."
  default     = ""
}
