variable "cluster_name" {
  type        = string
  description = "Name of the cluster, used in resource names (e.g. \"k8s\")."
}

variable "min_size" {
  type        = number
  description = "Fewest controllers the auto scaling group keeps (cluster.yaml controllerCount or controller.autoScalingGroup.minSize), e.g. 2."
  default     = 2

  validation {
    condition     = var.min_size >= 1 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number of at least 1."
  }
}

variable "max_size" {
  type        = number
  description = "Most controllers the auto scaling group may run (controller.autoScalingGroup.maxSize; controllerCount when not set)."
  default     = 2
}

variable "desired_capacity" {
  type        = number
  description = "Controllers the group runs, which Terraform keeps (cluster.yaml controllerCount, or controller.autoScalingGroup.minSize); null leaves the number to AWS (min_size when the group is created)."
  default     = null
}

variable "min_healthy_percentage" {
  type        = number
  description = "Share of controllers, in percent, kept in service while an instance refresh replaces the others (from rollingUpdateMinInstancesInService)."
  default     = 100
}

variable "extra_security_group_ids" {
  type        = list(string)
  description = "Existing security groups added to every controller (cluster.yaml controller.securityGroupIds), e.g. [\"sg-0123456789abcdef0\"]."
  default     = []
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets the controllers are spread over (one per zone for high availability)."
}

variable "load_balancer_subnet_ids" {
  type        = list(string)
  description = "Subnets of the API load balancer: public subnets when internet-facing, else private ones; at most one per zone."
}

variable "internal_load_balancer_subnet_ids" {
  type        = list(string)
  description = "Subnets of the internal API load balancer that in-cluster clients use (the controllers' subnets, at most one per zone)."
}

variable "internal_zone_id" {
  type        = string
  description = "ID of the cluster's private hosted zone, which gets internal_api_name."
}

variable "internal_api_name" {
  type        = string
  description = "Private DNS name of the API for in-cluster clients (e.g. \"api.k8s.internal\"); a SAN of apiserver.pem."
}

variable "etcd_names" {
  type        = list(string)
  description = "DNS names of the etcd members (the etcd module's member_names): the controllers launch once every name has its record, so kube-apiserver never caches a name that does not exist yet."
}

variable "load_balancer_internal" {
  type        = bool
  description = "Whether the API load balancer is internal (reachable only inside the VPC) rather than internet-facing."
  default     = false
}

variable "api_access_allowed_source_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach the Kubernetes API on TCP 443 (cluster.yaml apiAccessAllowedSourceCIDRs, e.g. [\"0.0.0.0/0\"])."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.api_access_allowed_source_cidrs : can(cidrhost(c, 0))])
    error_message = "api_access_allowed_source_cidrs must hold IPv4 CIDR blocks."
  }
}

variable "api_client_security_groups" {
  type        = map(string)
  description = "Security groups of in-cluster API clients allowed through the load balancer besides the CIDRs, by a static name (e.g. { controller = \"sg-0abc\", worker = \"sg-0def\" })."
  default     = {}
}

variable "vpc_id" {
  type        = string
  description = "ID of the VPC, home of the load balancer's security group and target group."
}

variable "security_group_id" {
  type        = string
  description = "The controller security group; the module opens TCP 443 on it to the load balancer."
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the controllers (cluster.yaml controllerInstanceType, e.g. \"t3.medium\")."
  default     = "t3.medium"
}

variable "root_volume" {
  type = object({
    size = number
    type = optional(string, "gp3")
    iops = optional(number)
  })
  description = "Root volume of each controller: size in GiB, EBS type (gp3, gp2, io1, io2, standard) and provisioned IOPS for io1/io2 or gp3 above its baseline (e.g. { size = 30, type = \"gp3\" })."
  default     = { size = 30 }

  validation {
    condition     = contains(["gp3", "gp2", "io1", "io2", "standard"], var.root_volume.type)
    error_message = "root_volume.type must be one of gp3, gp2, io1, io2, standard."
  }
}

variable "tenancy" {
  type        = string
  description = "EC2 tenancy of the instances: default or dedicated (cluster.yaml controllerTenancy)."
  default     = "default"

  validation {
    condition     = contains(["default", "dedicated"], var.tenancy)
    error_message = "tenancy must be default or dedicated."
  }
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
  description = "Name of the controller IAM instance profile."
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
  description = "Path of the rendered cloud-config-controller (in a kopsgen workspace \"$${path.root}/../userdata/cloud-config-controller\"); uploaded to S3 by this module, and its SHA-256 goes into the user data."
}

variable "credentials_sha256" {
  type        = string
  description = "SHA-256 of the controller credentials as `kopsgen credentials push` uploads them (terraform/credentials.auto.tfvars.json; no secret), or \"none\". A change rolls the controllers (a new launch template version)."
  default     = "none"
}

variable "health_check_grace_period" {
  type        = number
  description = "Seconds a new controller has to boot before its load balancer health check (kube-apiserver /readyz) counts, and before an instance refresh moves on; e.g. 600."
  default     = 600

  validation {
    condition     = var.health_check_grace_period >= 60
    error_message = "health_check_grace_period must be at least 60 seconds."
  }
}

variable "termination_queue_url" {
  type        = string
  description = "URL of the node termination queue (the node_termination module's queue_url), which the controllers' node termination handler reads."
}
