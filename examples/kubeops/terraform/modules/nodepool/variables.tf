variable "cluster_name" {
  type        = string
  description = "Name of the cluster, used in resource names and tags (e.g. \"k8s\")."
}

variable "name" {
  type        = string
  description = "Name of the node pool, a DNS label (cluster.yaml worker.nodePools[].name, e.g. \"nodepool1\")."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.name)) && length(var.name) <= 63
    error_message = "name must be a DNS label (lowercase letters, digits and '-')."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets the pool's instances are spread over."
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the pool's instances: the worker group plus the pool's securityGroupIds."
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the pool (e.g. \"t3.medium\")."
  default     = "t3.medium"
}

variable "root_volume" {
  type = object({
    size = number
    type = optional(string, "gp3")
    iops = optional(number)
  })
  description = "Root volume of each instance: size in GiB, EBS type (gp3, gp2, io1, io2) and provisioned IOPS for io1/io2/gp3 (e.g. { size = 50 })."
  default     = { size = 30 }

  validation {
    condition     = contains(["gp3", "gp2", "io1", "io2", "standard"], var.root_volume.type)
    error_message = "root_volume.type must be one of gp3, gp2, io1, io2, standard."
  }
}

variable "min_size" {
  type        = number
  description = "Minimum number of instances (cluster.yaml count, or autoScalingGroup.minSize)."
}

variable "max_size" {
  type        = number
  description = "Maximum number of instances (cluster.yaml count, or autoScalingGroup.maxSize)."

  validation {
    condition     = var.max_size >= var.min_size
    error_message = "max_size must not be below min_size."
  }
}

variable "spot_price" {
  type        = string
  description = "Maximum hourly price in USD for spot instances (cluster.yaml spotPrice, e.g. \"0.05\"); null for on-demand."
  default     = null
}

variable "tenancy" {
  type        = string
  description = "Instance tenancy: default or dedicated."
  default     = "default"

  validation {
    condition     = contains(["default", "dedicated"], var.tenancy)
    error_message = "tenancy must be one of default, dedicated."
  }
}

variable "node_labels" {
  type        = map(string)
  description = "Kubernetes labels the pool's nodes register with (e.g. { \"kopsgen.io/pool\" = \"nodepool1\" })."
  default     = {}
}

variable "node_taints" {
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  description = "Kubernetes taints the pool's nodes register with (e.g. [{ key = \"dedicated\", value = \"ci\", effect = \"NoSchedule\" }])."
  default     = []
}

variable "cluster_autoscaler" {
  type        = bool
  description = "Whether cluster-autoscaler manages the pool: adds its auto-discovery tags (cluster.yaml clusterAutoscaler.enabled)."
  default     = false
}

variable "ami_id" {
  type        = string
  description = "ID of the Flatcar Container Linux image (e.g. \"ami-0abc\")."
}

variable "key_name" {
  type        = string
  description = "Name of an EC2 key pair for SSH (cluster.yaml keyName); null for none."
  default     = null
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the cluster's KMS key, which encrypts every volume."
}

variable "instance_profile_name" {
  type        = string
  description = "Name of the worker IAM instance profile."
}

variable "assets_bucket" {
  type        = string
  description = "Name of the S3 bucket holding the cluster's assets."
}

variable "assets_prefix" {
  type        = string
  description = "Key prefix of this cluster's assets, \"<s3URI prefix>/<cluster name>\" (e.g. \"k8s\")."
}

variable "cloud_config_file" {
  type        = string
  description = "Path of the rendered cloud-config-worker (in a kopsgen workspace \"$${path.root}/../userdata/cloud-config-worker\"); uploaded to S3 by this module, and its SHA-256 goes into the user data."
}

variable "api_name" {
  type        = string
  description = "The API's name for in-cluster clients (the controllers module's internal_api_name, e.g. \"api.k8s.internal\"): the pool launches once it resolves, so no node caches its absence."
}

variable "desired_capacity" {
  type        = number
  description = "Nodes the group runs, which Terraform keeps (the pool's count, or autoScalingGroup.minSize); null when cluster-autoscaler manages the pool: Terraform then leaves the number to it (a new group starts at min_size)."
  default     = null
}

variable "min_healthy_percentage" {
  type        = number
  description = "Share of nodes, in percent, kept in service while an instance refresh replaces the others (from rollingUpdateMinInstancesInService)."
  default     = 90
}

variable "credentials_sha256" {
  type        = string
  description = "SHA-256 of the worker credentials as `kopsgen credentials push` uploads them (terraform/credentials.auto.tfvars.json; no secret), or \"none\". A change rolls the pool's nodes (a new launch template version)."
  default     = "none"
}
