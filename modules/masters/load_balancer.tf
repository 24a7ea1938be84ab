# A network load balancer passes TLS through to kube-apiserver, so client certificates work.
resource "aws_lb" "api" {
  #checkov:skip=CKV_AWS_150:kopsgen destroy must remove the load balancer; it holds no data and apply re-creates it. The etcd data volumes are what is protected (prevent_destroy).
  #checkov:skip=CKV_AWS_91:NLB access logs are written only for TLS listeners; this one passes TCP through (client certificates), so there is nothing to log. The VPC flow logs record the connections.
  name               = "${var.cluster_name}-api"
  load_balancer_type = "network"
  internal           = var.load_balancer_internal
  subnets            = var.load_balancer_subnet_ids
  security_groups    = [aws_security_group.api.id]

  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "api" {
  name        = "${var.cluster_name}-api"
  port        = 443
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id

  # TCP rather than HTTPS /healthz: with anonymous auth disabled /healthz answers 401.
  health_check {
    protocol            = "TCP"
    port                = "443"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

# The load balancer's security group is where API access is decided; controllers accept
# 443 only from it.
resource "aws_security_group" "api" {
  name        = "${var.cluster_name}-api"
  description = "Kubernetes API load balancer of cluster ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.cluster_name}-api"
  }
}

resource "aws_vpc_security_group_ingress_rule" "api_from_cidr" {
  for_each = toset(var.api_access_allowed_source_cidrs)

  security_group_id = aws_security_group.api.id
  description       = "Kubernetes API from an allowed source"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api_from_cluster" {
  for_each = var.api_client_security_groups

  security_group_id            = aws_security_group.api.id
  description                  = "Kubernetes API from ${each.key} nodes"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "api_to_controllers" {
  security_group_id            = aws_security_group.api.id
  description                  = "Forward to and health-check kube-apiserver"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "controller_from_api" {
  security_group_id            = var.security_group_id
  description                  = "Kubernetes API through the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.api.id
}
