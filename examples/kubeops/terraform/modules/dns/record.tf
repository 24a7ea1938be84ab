# An alias rather than a CNAME: it works at a zone apex and follows the load balancer's
# addresses with no TTL of its own (Route53 answers with the load balancer's TTL).
resource "aws_route53_record" "api" {
  zone_id = var.hosted_zone_id
  name    = var.external_dns_name
  type    = "A"

  alias {
    name                   = var.load_balancer_dns_name
    zone_id                = var.load_balancer_zone_id
    evaluate_target_health = true
  }
}
