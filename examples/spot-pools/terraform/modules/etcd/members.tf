locals {
  members = {
    for i in range(var.etcd_count) : "etcd${i}" => var.subnets[i % length(var.subnets)]
  }
  cloud_config_key = "userdata/etcd/cloud-config-etcd"
}

# The members' cloud-config, uploaded with them: a member applies exactly the version its
# user data names (kept from its first boot), so a later upload changes nothing on a
# running member -- it takes effect when the member is replaced.
resource "aws_s3_object" "cloud_config" {
  bucket                 = var.assets_bucket
  key                    = "${var.assets_prefix}/${local.cloud_config_key}"
  source                 = var.cloud_config_file
  source_hash            = filemd5(var.cloud_config_file)
  content_type           = "text/cloud-config"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

# The member list kopsgen-etcd-reconcile keeps the etcd membership to: a member that is no
# longer listed (etcdCount was lowered) is removed from the cluster by the others.
resource "aws_s3_object" "members" {
  bucket                 = var.assets_bucket
  key                    = "${var.assets_prefix}/userdata/etcd/members"
  content                = join("", [for name in sort(keys(local.members)) : "${name}\n"])
  content_type           = "text/plain"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

# What kopsgen-etcd-backup reads at each run: the key its snapshots are encrypted with
# (SSE-KMS). An object rather than the cloud-config, which is rendered before the key exists.
resource "aws_s3_object" "backup_settings" {
  bucket                 = var.assets_bucket
  key                    = "${var.assets_prefix}/userdata/etcd/backup"
  content                = "KOPSGEN_BACKUP_KMS_KEY_ARN=\"${var.kms_key_arn}\"\n"
  content_type           = "text/plain"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

# The snapshot the members were created from (cluster.yaml etcd.restore.snapshot; "" for
# none). Setting it replaces every member, attached to a new, blank volume set (restored,
# below) it restores into; the data volumes the members had are kept, detached, in the
# state (docs/etcd.md "Restoring from a snapshot").
resource "terraform_data" "restore" {
  input = var.restore_snapshot
}

locals {
  restoring = var.restore_snapshot != ""
  # backups/etcd/<time>-<member>-<sha256>.db: the first 12 digits name the volume set.
  restore_id = local.restoring ? substr(regex("-([0-9a-f]{64})\\.db$", var.restore_snapshot)[0], 0, 12) : ""
}

module "bootstrap" {
  source   = "../bootstrap"
  for_each = local.members

  role                = "etcd"
  assets_bucket       = var.assets_bucket
  assets_prefix       = var.assets_prefix
  cloud_config_key    = local.cloud_config_key
  cloud_config_sha256 = filesha256(aws_s3_object.cloud_config.source)
  credentials_sha256  = var.credentials_sha256
  etcd_name           = each.key
}

# Plain instances, not one-instance auto scaling groups: a member is a fixed identity (name,
# volume, zone) and Terraform attaches its volume and publishes its address, so the node
# needs no permission to attach volumes or change DNS. Recovery is `-replace` (README).
resource "aws_instance" "member" {
  #checkov:skip=CKV_AWS_126:Nothing in the cluster consumes one-minute EC2 metrics; each member serves etcd's own /metrics and /health on 127.0.0.1:2381, so detailed monitoring would only add cost.
  #checkov:skip=CKV_AWS_135:Current-generation instance types are EBS-optimized by default; forcing it makes older types a user may choose (the seed's m3.medium) fail to launch.
  for_each = local.members

  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = each.value.id
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = var.instance_profile_name
  key_name               = var.key_name
  user_data              = module.bootstrap[each.key].user_data

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tenancy = var.tenancy

  root_block_device {
    volume_type = var.root_volume.type
    volume_size = var.root_volume.size
    iops        = var.root_volume.iops
    encrypted   = true
    kms_key_id  = var.kms_key_arn
  }

  # kopsgen.io/role keeps the members out of what the controller's instance role may touch
  # (modules/iam: it may attach volumes only to controllers and workers).
  # kopsgen.io/credentials-sha256: the credentials this member was created with (its user
  # data says the same, but the state keeps only a hash of it); `kopsgen plan` compares it
  # with the current digest to name the members a rotation has yet to reach.
  tags = {
    Name                            = "${var.cluster_name}-${each.key}"
    "kopsgen.io/role"               = "etcd"
    "kopsgen.io/credentials-sha256" = var.credentials_sha256
  }

  # A new member must be in the member list before it joins: the other members' reconciler
  # removes any member the list does not name.
  depends_on = [aws_s3_object.members]

  lifecycle {
    # A new image or cloud-config must not restart every member at once and lose quorum:
    # members are rolled one at a time with `terraform apply -replace` (README). Until then
    # each keeps running the cloud-config its user data names, reboots included.
    # The credentials tag likewise stays what the member was created with.
    ignore_changes = [ami, user_data, tags["kopsgen.io/credentials-sha256"]]
    # A restore (a new etcd.restore.snapshot) creates every member anew from the snapshot.
    replace_triggered_by = [terraform_data.restore]
  }
}

resource "aws_ebs_volume" "data" {
  for_each = local.members

  availability_zone = each.value.availability_zone
  size              = var.data_volume_size
  type              = var.data_volume_type
  iops              = var.data_volume_iops
  encrypted         = true
  kms_key_id        = var.kms_key_arn

  # Once a restore replaces them, their Name says so: `kopsgen up` after a destroy adopts
  # the volumes named <cluster>-<member>-data, which are then the restored ones.
  tags = {
    Name = local.restoring ? "${var.cluster_name}-${each.key}-data-before-restore" : "${var.cluster_name}-${each.key}-data"
  }

  # The cluster's state outlives any instance; see README for the deliberate destroy path.
  # A restore never destroys them either: it attaches the members to the restored set.
  lifecycle {
    prevent_destroy = true
  }
}

# etcd.restore.snapshot: a new, blank volume per member, which its new instance restores
# the snapshot into. Kept like the data volumes (prevent_destroy): once a cluster was
# restored, the restore stays in cluster.yaml. Removing or changing it plans to destroy
# these (a changed snapshot needs blank volumes again), which Terraform refuses, rather
# than letting new members start on the data of the earlier restore.
resource "aws_ebs_volume" "restored" {
  for_each = local.restoring ? local.members : {}

  availability_zone = each.value.availability_zone
  size              = var.data_volume_size
  type              = var.data_volume_type
  iops              = var.data_volume_iops
  encrypted         = true
  kms_key_id        = var.kms_key_arn

  tags = {
    Name                 = "${var.cluster_name}-${each.key}-data"
    "kopsgen.io/restore" = local.restore_id
  }

  lifecycle {
    prevent_destroy      = true
    replace_triggered_by = [terraform_data.restore]
  }
}

resource "aws_volume_attachment" "data" {
  for_each = local.members

  device_name = "/dev/xvdf"
  volume_id   = local.restoring ? aws_ebs_volume.restored[each.key].id : aws_ebs_volume.data[each.key].id
  instance_id = aws_instance.member[each.key].id

  # etcd has synced its writes once the instance is stopped; detaching a live disk is not clean.
  stop_instance_before_detaching = true
}
