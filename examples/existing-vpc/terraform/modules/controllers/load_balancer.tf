# A network load balancer passes TLS through to kube-apiserver, so client certificates work.
resource "aws_lb" "api" {
  #checkov:skip=CKV_AWS_150:kopsgen destroy must remove the load balancer; it holds no data and apply re-creates it. The etcd data volumes are what is protected (prevent_destroy).
  #checkov:skip=CKV_AWS_91:NLB access logs are written only for TLS listeners; this one passes TCP through (client certificates), so there is nothing to log. The flow logs of a VPC kopsgen creates record the connections.
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

  # A controller takes traffic once its kube-apiserver is ready (etcd reachable, caches
  # synced), not merely listening. /readyz answers anonymous requests (the default
  # system:public-info-viewer binding); the health checker does not verify the certificate.
  health_check {
    protocol            = "HTTPS"
    port                = "443"
    path                = "/readyz"
    matcher             = "200"
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

# In-cluster clients -- kubelets, kube-proxy, the add-ons -- reach the API through this
# internal load balancer by the private name api.<cluster>.internal: traffic from private
# subnets to the internet-facing one leaves through a NAT gateway whose address no rule
# admits, and traffic from public subnets arrives from the nodes' public addresses. The
# internet-facing load balancer is for people (externalDNSName).
resource "aws_lb" "internal" {
  #checkov:skip=CKV_AWS_150:kopsgen destroy must remove the load balancer; it holds no data and apply re-creates it.
  #checkov:skip=CKV_AWS_91:NLB access logs are written only for TLS listeners; this one passes TCP through (client certificates). The flow logs of a VPC kopsgen creates record the connections.
  name               = "${var.cluster_name}-api-int"
  load_balancer_type = "network"
  internal           = true
  subnets            = var.internal_load_balancer_subnet_ids
  security_groups    = [aws_security_group.api_internal.id]

  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "internal" {
  name        = "${var.cluster_name}-api-int"
  port        = 443
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id

  # Connections arrive from the load balancer's own address: a controller's kube-proxy or
  # add-on sent to the controller it runs on would otherwise fail (source = destination).
  preserve_client_ip = false

  health_check {
    protocol            = "HTTPS"
    port                = "443"
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "internal" {
  load_balancer_arn = aws_lb.internal.arn
  port              = 443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.internal.arn
  }
}

resource "aws_route53_record" "internal" {
  zone_id = var.internal_zone_id
  name    = var.internal_api_name
  type    = "A"

  alias {
    name                   = aws_lb.internal.dns_name
    zone_id                = aws_lb.internal.zone_id
    evaluate_target_health = false
  }
}

resource "aws_security_group" "api_internal" {
  name        = "${var.cluster_name}-api-int"
  description = "Internal Kubernetes API load balancer of cluster ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.cluster_name}-api-int"
  }
}

resource "aws_vpc_security_group_ingress_rule" "api_internal_from_cluster" {
  for_each = var.api_client_security_groups

  security_group_id            = aws_security_group.api_internal.id
  description                  = "Kubernetes API from ${each.key} nodes"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "api_internal_to_controllers" {
  security_group_id            = aws_security_group.api_internal.id
  description                  = "Forward to and health-check kube-apiserver"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "controller_from_api_internal" {
  security_group_id            = var.security_group_id
  description                  = "Kubernetes API through the internal load balancer"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.api_internal.id
}
