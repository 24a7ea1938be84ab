resource "aws_subnet" "this" {
  #checkov:skip=CKV_AWS_130:Only public subnets map public IPs, and only when cluster.yaml mapPublicIPs is true: a cluster the user puts in public subnets alone has no NAT, so its nodes need public addresses to reach the internet.
  for_each = var.subnets

  vpc_id                  = local.vpc_id
  availability_zone       = each.value.availability_zone
  cidr_block              = each.value.cidr
  map_public_ip_on_launch = !each.value.private && var.map_public_ips

  # Tags the Kubernetes AWS cloud provider reads to pick subnets for load balancers.
  tags = merge(
    {
      Name                                        = "${var.cluster_name}-${each.key}"
      "kubernetes.io/cluster/${var.cluster_name}" = "owned"
    },
    each.value.private ? { "kubernetes.io/role/internal-elb" = "1" } : { "kubernetes.io/role/elb" = "1" },
  )

  lifecycle {
    precondition {
      condition     = !each.value.private || lookup(local.nat_subnet_by_zone, each.value.availability_zone, null) != null
      error_message = "Private subnet ${each.key} is in ${each.value.availability_zone}, which has no public subnet to hold its NAT gateway."
    }
  }
}
