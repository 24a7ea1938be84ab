data "aws_region" "current" {}

locals {
  # The queue URL only where there is one (the controllers): other roles' user data, and
  # so their instances, do not change.
  queue = var.termination_queue_url == "" ? {} : { KOPSGEN_TERMINATION_QUEUE_URL = var.termination_queue_url }

  environment = merge(local.queue, {
    KOPSGEN_ROLE                = var.role
    KOPSGEN_REGION              = data.aws_region.current.name
    KOPSGEN_ASSETS_BUCKET       = var.assets_bucket
    KOPSGEN_ASSETS_PREFIX       = var.assets_prefix
    KOPSGEN_NODE_POOL           = var.node_pool
    KOPSGEN_NODE_LABELS         = join(",", [for k in sort(keys(var.node_labels)) : "${k}=${var.node_labels[k]}"])
    KOPSGEN_NODE_TAINTS         = join(",", [for t in var.node_taints : "${t.key}=${t.value}:${t.effect}"])
    KOPSGEN_ETCD_NAME           = var.etcd_name
    KOPSGEN_CLOUD_CONFIG_KEY    = var.cloud_config_key
    KOPSGEN_CLOUD_CONFIG_SHA256 = var.cloud_config_sha256
    KOPSGEN_CREDENTIALS_SHA256  = var.credentials_sha256
  })

  user_data = templatefile("${path.module}/bootstrap.yaml.tftpl", {
    role                = var.role
    cloud_config_key    = var.cloud_config_key
    cloud_config_sha256 = var.cloud_config_sha256
    credentials_sha256  = var.credentials_sha256
    environment         = local.environment
    s3_get              = file("${path.module}/kopsgen-s3-get.sh")
    cloud_config        = file("${path.module}/kopsgen-cloud-config.sh")
  })
}
