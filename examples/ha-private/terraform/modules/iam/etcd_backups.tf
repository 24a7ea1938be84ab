# The etcd members' snapshots (kopsgen-etcd-backup): they may put objects below
# backups/etcd/ of the cluster prefix, SSE-KMS under the cluster key, and nothing more --
# no read, list or delete, so a member cannot read or remove the backups it wrote. While cluster.yaml has
# etcd.restore.snapshot, they may also read that one snapshot (a new member restores it).
resource "aws_iam_role_policy" "etcd_backups" {
  name = "etcd-backups"
  role = aws_iam_role.this["etcd"].id
  policy = templatefile("${path.module}/policies/etcd-backups.json.tftpl", {
    partition        = data.aws_partition.current.partition
    bucket           = var.assets_bucket
    prefix           = var.assets_prefix
    kms_key_arn      = var.kms_key_arn
    region           = data.aws_region.current.name
    restore_snapshot = var.etcd_restore_snapshot
  })
}
