variable "role" {
  type        = string
  description = "Node role whose cloud-config the bootstrap fetches: etcd, controller or worker."

  validation {
    condition     = contains(["etcd", "controller", "worker"], var.role)
    error_message = "role must be one of etcd, controller, worker."
  }
}

variable "assets_bucket" {
  type        = string
  description = "Name of the S3 bucket holding the cluster's assets."
}

variable "assets_prefix" {
  type        = string
  description = "Key prefix of this cluster's assets, \"<s3URI prefix>/<cluster name>\" without leading or trailing slash (e.g. \"k8s\")."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.assets_prefix))
    error_message = "assets_prefix must be slash-separated path segments without leading or trailing slash."
  }
}

variable "cloud_config_key" {
  type        = string
  description = "S3 key of the node's cloud-config below assets_prefix (e.g. \"userdata/pools/nodepool1/cloud-config-worker\")."
}

variable "cloud_config_sha256" {
  type        = string
  description = "Hex SHA-256 of the node's cloud-config: the node applies only that version, and a changed cloud-config changes the user data."

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.cloud_config_sha256))
    error_message = "cloud_config_sha256 must be 64 lowercase hex digits."
  }
}

variable "node_pool" {
  type        = string
  description = "Name of the worker's node pool (e.g. \"nodepool1\"); empty for etcd and controllers."
  default     = ""
}

variable "node_labels" {
  type        = map(string)
  description = "Kubernetes labels the kubelet registers the node with (e.g. { \"node.kubernetes.io/pool\" = \"nodepool1\" })."
  default     = {}
}

variable "node_taints" {
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  description = "Kubernetes taints the kubelet registers the node with (e.g. [{ key = \"dedicated\", value = \"search\", effect = \"NoSchedule\" }])."
  default     = []

  validation {
    condition     = alltrue([for t in var.node_taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], t.effect)])
    error_message = "Each taint's effect must be one of NoSchedule, PreferNoSchedule, NoExecute."
  }
}

variable "etcd_name" {
  type        = string
  description = "Name of the etcd member (e.g. \"etcd0\"); empty for other roles."
  default     = ""
}

variable "credentials_sha256" {
  type        = string
  description = "SHA-256 of the role's credentials as `kopsgen credentials push` uploads them (`sha256sum FILE... | sha256sum` over the role's files; no secret), or \"none\": the node waits until S3 holds exactly that version, and a rotated credential changes the user data."
  default     = "none"

  validation {
    condition     = var.credentials_sha256 == "none" || can(regex("^[0-9a-f]{64}$", var.credentials_sha256))
    error_message = "credentials_sha256 must be 64 lowercase hex digits or \"none\"."
  }
}

variable "termination_queue_url" {
  type        = string
  description = "URL of the node termination queue, for the controllers' handler (KOPSGEN_TERMINATION_QUEUE_URL in /etc/kopsgen/environment); \"\" for other roles, whose user data then leaves it out."
  default     = ""
}
