resource "aws_vpc" "this" {
  count = var.vpc_id == null ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # the etcd private zone and EC2 private DNS names need both

  tags = {
    Name = var.cluster_name
  }
}

# Take over the created VPC's default security group and leave it without rules: anything
# launched into the VPC without a group of its own is then cut off rather than wide open.
resource "aws_default_security_group" "this" {
  count = var.vpc_id == null ? 1 : 0

  vpc_id = aws_vpc.this[0].id

  tags = {
    Name = "${var.cluster_name}-default-unused"
  }
}

resource "aws_internet_gateway" "this" {
  count = var.internet_gateway_id == null && var.route_table_id == null ? 1 : 0

  vpc_id = local.vpc_id

  tags = {
    Name = var.cluster_name
  }
}

locals {
  vpc_id = var.vpc_id == null ? aws_vpc.this[0].id : var.vpc_id

  public_subnets  = { for name, s in var.subnets : name => s if !s.private }
  private_subnets = { for name, s in var.subnets : name => s if s.private }

  # One NAT gateway per zone that has private subnets, placed in that zone's first public
  # subnet (by name), so a zone outage never cuts another zone's egress.
  nat_zones = toset([for s in values(local.private_subnets) : s.availability_zone])
  nat_subnet_by_zone = {
    for zone in local.nat_zones : zone => try(sort([for name, s in local.public_subnets : name if s.availability_zone == zone])[0], null)
  }
}
