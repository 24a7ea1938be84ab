resource "aws_route_table" "public" {
  count = var.route_table_id == null ? 1 : 0

  vpc_id = local.vpc_id

  tags = {
    Name = "${var.cluster_name}-public"
  }
}

resource "aws_route" "public_internet" {
  count = var.route_table_id == null ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = var.internet_gateway_id == null ? aws_internet_gateway.this[0].id : var.internet_gateway_id
}

resource "aws_route_table_association" "public" {
  for_each = local.public_subnets

  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = var.route_table_id == null ? aws_route_table.public[0].id : var.route_table_id
}

resource "aws_eip" "nat" {
  for_each = local.nat_zones

  domain = "vpc"

  tags = {
    Name = "${var.cluster_name}-nat-${each.key}"
  }
}

resource "aws_nat_gateway" "this" {
  for_each = local.nat_zones

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.this[local.nat_subnet_by_zone[each.key]].id

  tags = {
    Name = "${var.cluster_name}-${each.key}"
  }
}

# One private route table per zone: private subnets leave through their own zone's NAT.
resource "aws_route_table" "private" {
  for_each = local.nat_zones

  vpc_id = local.vpc_id

  tags = {
    Name = "${var.cluster_name}-private-${each.key}"
  }
}

resource "aws_route" "private_nat" {
  for_each = local.nat_zones

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = local.private_subnets

  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = aws_route_table.private[each.value.availability_zone].id
}
