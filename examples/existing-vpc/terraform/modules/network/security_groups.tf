# The three node roles' security groups live together so that who-may-talk-to-whom reads
# in one file. The API load balancer's group lives in the controllers module. The
# cloud-controller-manager may change this cluster's groups except the one tagged
# kopsgen.io/role = etcd (modules/iam).

resource "aws_security_group" "etcd" {
  #checkov:skip=CKV2_AWS_5:Attached by the etcd module through the security_group_ids output, which checkov does not follow.
  name        = "${var.cluster_name}-etcd"
  description = "etcd members of cluster ${var.cluster_name}"
  vpc_id      = local.vpc_id

  tags = {
    Name              = "${var.cluster_name}-etcd"
    "kopsgen.io/role" = "etcd"
  }
}

resource "aws_security_group" "controller" {
  #checkov:skip=CKV2_AWS_5:Attached by the controllers module's launch template through the security_group_ids output, which checkov does not follow.
  name        = "${var.cluster_name}-controller"
  description = "Kubernetes controllers of cluster ${var.cluster_name}"
  vpc_id      = local.vpc_id

  tags = {
    Name              = "${var.cluster_name}-controller"
    "kopsgen.io/role" = "controller"
  }
}

resource "aws_security_group" "worker" {
  #checkov:skip=CKV2_AWS_5:Attached by every nodepool module's launch template through the security_group_ids output, which checkov does not follow.
  name        = "${var.cluster_name}-worker"
  description = "Kubernetes workers of cluster ${var.cluster_name}"
  vpc_id      = local.vpc_id

  tags = {
    Name              = "${var.cluster_name}-worker"
    "kopsgen.io/role" = "worker"
  }
}

locals {
  security_groups = {
    etcd       = aws_security_group.etcd.id
    controller = aws_security_group.controller.id
    worker     = aws_security_group.worker.id
  }

  # Kubernetes nodes (controllers and workers) form one trust domain: the pod overlay,
  # kubelet, metrics and hostPort traffic flow both ways between them.
  node_peerings = {
    controller_from_controller = { group = "controller", source = "controller" }
    controller_from_worker     = { group = "controller", source = "worker" }
    worker_from_controller     = { group = "worker", source = "controller" }
    worker_from_worker         = { group = "worker", source = "worker" }
  }

  ssh_rules = {
    for pair in setproduct(keys(local.security_groups), var.ssh_access_allowed_source_cidrs) :
    "${pair[0]}_${pair[1]}" => { group = pair[0], cidr = pair[1] }
  }
}

resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = local.security_groups

  security_group_id = each.value
  description       = "Nodes reach AWS APIs, registries and each other"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "etcd_peer" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "etcd peer traffic"
  ip_protocol                  = "tcp"
  from_port                    = 2380
  to_port                      = 2380
  referenced_security_group_id = aws_security_group.etcd.id
}

resource "aws_vpc_security_group_ingress_rule" "etcd_client_from_etcd" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "etcd health checks between members"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2379
  referenced_security_group_id = aws_security_group.etcd.id
}

resource "aws_vpc_security_group_ingress_rule" "etcd_client_from_controller" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "kube-apiserver is the only etcd client"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2379
  referenced_security_group_id = aws_security_group.controller.id
}

resource "aws_vpc_security_group_ingress_rule" "node_peering" {
  for_each = local.node_peerings

  security_group_id            = local.security_groups[each.value.group]
  description                  = "Kubernetes node traffic from ${each.value.source}"
  ip_protocol                  = "-1"
  referenced_security_group_id = local.security_groups[each.value.source]
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = local.ssh_rules

  security_group_id = local.security_groups[each.value.group]
  description       = "SSH from an allowed source"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value.cidr
}
