resource "aws_route53_zone" "internal" {
  name    = var.internal_domain
  comment = "kopsgen cluster ${var.cluster_name}: internal names"

  vpc {
    vpc_id = var.vpc_id
  }
}

resource "aws_route53_record" "member" {
  for_each = local.members

  zone_id = aws_route53_zone.internal.zone_id
  name    = "${each.key}.${var.internal_domain}"
  type    = "A"
  ttl     = 60 # short: a replaced member comes back with a new address
  records = [aws_instance.member[each.key].private_ip]
}
