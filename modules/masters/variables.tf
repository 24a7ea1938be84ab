variable "cluster_name" {
  type        = string
  description = "Name of the cluster, used in resource names (e.g. \"k8s\")."
}

variable "controller_count" {
  type        = number
  description = "Number of controllers (cluster.yaml controllerCount); the auto scaling group keeps exactly this many."
  default     = 2

  validation {
    condition     = var.controller_count >= 1 && floor(var.controller_count) == var.controller_count
    error_message = "controller_count must be a whole number of at least 1."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets the controllers are spread over (one per zone for high availability)."
}

variable "load_balancer_subnet_ids" {
  type        = list(string)
  description = "Subnets of the API load balancer: public subnets when internet-facing, else private ones; at most one per zone."
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

variable "root_volume_size" {
  type        = number
  description = "Size of each controller's root volume in GiB (cluster.yaml controllerRootVolumeSize)."
  default     = 30
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

variable "cloud_config_sha256" {
  type        = string
  description = "Hex SHA-256 of cloud-config-controller (from the assets module)."
}
