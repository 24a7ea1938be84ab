variable "cluster_name" {
  type        = string
  description = "Name of the cluster, used in resource names (e.g. \"k8s\")."
}

variable "etcd_count" {
  type        = number
  description = "Number of etcd members (cluster.yaml etcdCount); odd counts tolerate the most failures (3 tolerates 1, 5 tolerates 2)."
  default     = 3

  validation {
    condition     = var.etcd_count >= 1 && var.etcd_count <= 9 && floor(var.etcd_count) == var.etcd_count
    error_message = "etcd_count must be a whole number from 1 to 9."
  }
}

variable "subnets" {
  type = list(object({
    id                = string
    availability_zone = string
  }))
  description = "Subnets the members are spread over round-robin (member i goes to subnets[i % length]); each member's data volume lives in its subnet's zone."

  validation {
    condition     = length(var.subnets) > 0
    error_message = "subnets must hold at least one subnet."
  }
}

variable "vpc_id" {
  type        = string
  description = "ID of the VPC; the private hosted zone for internal_domain is attached to it."
}

variable "internal_domain" {
  type        = string
  description = "Private DNS domain of the cluster (e.g. \"k8s.internal\"); member i is etcd<i>.<internal_domain>, the name its certificate carries."
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the members (cluster.yaml etcdInstanceType, e.g. \"t3.medium\")."
  default     = "t3.medium"
}

variable "root_volume" {
  type = object({
    size = number
    type = optional(string, "gp3")
    iops = optional(number)
  })
  description = "Root volume of each member: size in GiB, EBS type (gp3, gp2, io1, io2, standard) and provisioned IOPS for io1/io2 or gp3 above its baseline (e.g. { size = 30, type = \"gp3\" })."
  default     = { size = 30 }

  validation {
    condition     = contains(["gp3", "gp2", "io1", "io2", "standard"], var.root_volume.type)
    error_message = "root_volume.type must be one of gp3, gp2, io1, io2, standard."
  }
}

variable "tenancy" {
  type        = string
  description = "EC2 tenancy of the instances: default or dedicated (cluster.yaml etcdTenancy)."
  default     = "default"

  validation {
    condition     = contains(["default", "dedicated"], var.tenancy)
    error_message = "tenancy must be default or dedicated."
  }
}

variable "data_volume_size" {
  type        = number
  description = "Size of each member's etcd data volume in GiB (cluster.yaml etcdDataVolumeSize)."
  default     = 30
}

variable "data_volume_type" {
  type        = string
  description = "EBS type of the etcd data volumes: gp3, gp2, io1 or io2."
  default     = "gp3"

  validation {
    condition     = contains(["gp3", "gp2", "io1", "io2"], var.data_volume_type)
    error_message = "data_volume_type must be one of gp3, gp2, io1, io2."
  }
}

variable "data_volume_iops" {
  type        = number
  description = "Provisioned IOPS of the data volumes (io1/io2 need it, gp3 accepts 3000-16000); null for the type's default."
  default     = null
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
  description = "Name of the etcd IAM instance profile."
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the members (the etcd group plus any extra)."
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
  description = "Path of the rendered cloud-config-etcd (in a kopsgen workspace \"$${path.root}/../userdata/cloud-config-etcd\"); uploaded to S3 by this module, and its SHA-256 goes into the user data."
}

variable "credentials_sha256" {
  type        = string
  description = "SHA-256 of the etcd credentials as `kopsgen credentials push` uploads them (terraform/credentials.auto.tfvars.json; no secret), or \"none\". New members are made with it; running members keep theirs (`ignore_changes`) and carry the one they were created with in the tag kopsgen.io/credentials-sha256."
  default     = "none"
}

variable "restore_snapshot" {
  type        = string
  description = "Key (below assets_prefix) of the etcd snapshot the members are created from, backups/etcd/<time>-<member>-<sha256>.db (cluster.yaml etcd.restore.snapshot); \"\" for none. Setting it replaces every member, attached to a new volume set (aws_ebs_volume.restored) it restores into; the data volumes the members had are kept, detached. Changing or removing it once set is refused (prevent_destroy; docs/etcd.md)."
  default     = ""

  validation {
    condition     = var.restore_snapshot == "" || can(regex("^backups/etcd/[0-9]{8}T[0-9]{6}Z-[a-z0-9]+-[0-9a-f]{64}\\.db$", var.restore_snapshot))
    error_message = "restore_snapshot must be \"\" or a key backups/etcd/<time>-<member>-<sha256>.db."
  }
}
