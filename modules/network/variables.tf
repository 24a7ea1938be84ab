variable "cluster_name" {
  type        = string
  description = "Name of the cluster, used in resource names and the kubernetes.io/cluster/<name> tag (e.g. \"k8s\")."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a DNS label of at most 32 characters."
  }
}

variable "vpc_id" {
  type        = string
  description = "ID of an existing VPC to build in (e.g. \"vpc-0abc\"); null creates a new VPC from vpc_cidr."
  default     = null
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the VPC to create (e.g. \"10.0.0.0/16\"); ignored when vpc_id is set."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block."
  }
}

variable "internet_gateway_id" {
  type        = string
  description = "ID of the existing VPC's internet gateway (e.g. \"igw-0abc\"); null creates one. Only meaningful with vpc_id."
  default     = null
}

variable "route_table_id" {
  type        = string
  description = "ID of an existing route table for the public subnets (e.g. \"rtb-0abc\"), which must already route 0.0.0.0/0 to an internet gateway; null creates one."
  default     = null
}

variable "subnets" {
  type = map(object({
    availability_zone = string
    cidr              = string
    private           = bool
  }))
  description = "Subnets keyed by name (e.g. { ManagedPublicSubnet1 = { availability_zone = \"us-east-1c\", cidr = \"10.0.10.0/24\", private = false } }). Every zone with a private subnet needs a public subnet for its NAT gateway."

  validation {
    condition     = length(var.subnets) > 0 && alltrue([for s in values(var.subnets) : can(cidrhost(s.cidr, 0))])
    error_message = "subnets must hold at least one subnet and every cidr must be an IPv4 CIDR block."
  }
}

variable "map_public_ips" {
  type        = bool
  description = "Whether instances launched in the public subnets get a public IPv4 address (cluster.yaml mapPublicIPs)."
  default     = true
}

variable "ssh_access_allowed_source_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach TCP 22 on every node (e.g. [\"203.0.113.0/24\"]); empty means no SSH rule at all."
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_access_allowed_source_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_access_allowed_source_cidrs must hold IPv4 CIDR blocks."
  }
}

variable "flow_log_retention_days" {
  type        = number
  description = "Days the created VPC's flow logs are kept in CloudWatch Logs (one of CloudWatch's retention periods, e.g. 365); 0 keeps them forever."
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of CloudWatch Logs' retention periods (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}
