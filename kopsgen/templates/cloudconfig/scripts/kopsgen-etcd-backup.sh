#!/bin/bash
# Saves a snapshot of etcd to the cluster's S3 prefix, on the leader only (every member runs
# this on kopsgen-etcd-backup.timer; one copy per interval is enough, and the leader has
# every committed write): `etcdctl snapshot save` from the local member, checked with
# `snapshot status` (etcdutl where installed), then uploaded with SSE-KMS to
# backups/etcd/<UTC time>-<member>-<sha256>.db. The SHA-256 in the key is what a restore
# (etcd.restore.snapshot) checks the download against. S3 expires the snapshots after
# etcd.backup.retentionDays (a lifecycle rule on that prefix, docs/etcd.md).
set -euo pipefail
shopt -s inherit_errexit

: "${KOPSGEN_ETCD_NAME:?is not set in /etc/kopsgen/environment}"
pki=/etc/kubernetes/pki
ctl() {
  /opt/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert="${pki}/ca.pem" \
    --cert="${pki}/etcd.pem" --key="${pki}/etcd-key.pem" \
    --dial-timeout=3s --command-timeout=60s "$@"
}
if [ -x /opt/bin/etcdutl ]; then
  util=/opt/bin/etcdutl
else
  util=/opt/bin/etcdctl # etcd 3.4 has no etcdutl; its etcdctl has the same snapshot commands
fi

if ! status=$(ctl endpoint status -w json 2>&1); then
  echo "kopsgen-etcd-backup: the local member does not answer (${status##*$'\n'}); no snapshot this time" >&2
  exit 1
fi
member_id=$(sed -n 's/.*"member_id":\([0-9]*\).*/\1/p' <<< "${status}")
leader=$(sed -n 's/.*"leader":\([0-9]*\).*/\1/p' <<< "${status}")
if [ -z "${member_id}" ] || [ "${member_id}" != "${leader}" ]; then
  echo "kopsgen-etcd-backup: ${KOPSGEN_ETCD_NAME} is not the leader; the leader saves the snapshot"
  exit 0
fi

# On the data volume: the root disk may be smaller than the database.
work=$(mktemp -d /var/lib/etcd/backup.XXXXXX)
trap 'rm -rf "${work}"' EXIT
ctl snapshot save "${work}/snapshot.db" > /dev/null
if ! checked=$("${util}" snapshot status "${work}/snapshot.db" -w json 2>&1); then
  echo "kopsgen-etcd-backup: the snapshot does not check out: ${checked##*$'\n'}" >&2
  exit 1
fi
revision=$(sed -n 's/.*"revision":\([0-9]*\).*/\1/p' <<< "${checked}")
keys=$(sed -n 's/.*"totalKey":\([0-9]*\).*/\1/p' <<< "${checked}")

/opt/bin/kopsgen-s3-get userdata/etcd/backup "${work}/settings"
# shellcheck source=/dev/null
. "${work}/settings"
: "${KOPSGEN_BACKUP_KMS_KEY_ARN:?is not set in userdata/etcd/backup}"

sha=$(sha256sum "${work}/snapshot.db" | cut -d' ' -f1)
key="backups/etcd/$(date -u +%Y%m%dT%H%M%SZ)-${KOPSGEN_ETCD_NAME}-${sha}.db"
/opt/bin/kopsgen-s3-put "${work}/snapshot.db" "${key}" "${KOPSGEN_BACKUP_KMS_KEY_ARN}"
echo "kopsgen-etcd-backup: saved ${key} (revision ${revision}, ${keys} keys, $(stat -c %s "${work}/snapshot.db") bytes)"
