variable "cluster_name" {
  type        = string
  description = "Name of the cluster (e.g. \"k8s\"): the queue is <cluster_name>-node-termination and the rules <cluster_name>-termination-<event>."
}

variable "autoscaling_group_names" {
  type        = list(string)
  description = "Names of the cluster's auto scaling groups (e.g. [\"k8s-controller\", \"k8s-nodepool1\"]): only their termination lifecycle actions go to the queue."

  validation {
    condition     = length(var.autoscaling_group_names) > 0
    error_message = "autoscaling_group_names must name at least one group."
  }
}
