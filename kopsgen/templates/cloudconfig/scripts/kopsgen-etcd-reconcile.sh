#!/bin/bash
# Keeps the etcd membership to the cluster's member list: promotes learners that have
# caught up with the leader (a new member joins as a learner, see kopsgen-etcd), and
# removes members that are no longer in the list Terraform keeps at
# userdata/etcd/members in the cluster's S3 prefix (etcdCount was lowered). Runs every 30 s
# on every member (kopsgen-etcd-reconcile.timer); every step is idempotent, and nothing is
# removed unless the list was read and names this member.
set -euo pipefail

: "${KOPSGEN_ETCD_NAME:?is not set in /etc/kopsgen/environment}"
pki=/etc/kubernetes/pki
ctl() {
  /opt/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert="${pki}/ca.pem" \
    --cert="${pki}/etcd.pem" --key="${pki}/etcd-key.pem" \
    --dial-timeout=3s --command-timeout=10s "$@"
}

if ! listed=$(ctl member list 2> /dev/null); then
  echo "kopsgen-etcd-reconcile: the local member does not serve yet; nothing to do"
  exit 0
fi

{% if etcd_restore_snapshot %}
# etcd.restore: mark the cluster as the one restored from the snapshot, which a new member
# (a replaced instance) checks before it joins (kopsgen-etcd).
if [ "$(ctl get /kopsgen/restore --print-value-only)" != {{ etcd_restore_sha256 | shquote }} ]; then
  ctl put /kopsgen/restore {{ etcd_restore_sha256 | shquote }} > /dev/null
  echo "kopsgen-etcd-reconcile: marked the cluster as restored from {{ etcd_restore_snapshot }}"
fi

{% endif %}
while IFS=', ' read -r id status member _ _ learner; do
  if [ "${learner}" != true ] || [ "${status}" != started ]; then
    continue
  fi
  if ctl member promote "${id}" > /dev/null 2>&1; then
    echo "kopsgen-etcd-reconcile: promoted learner ${member} (${id}) to a voting member"
  else
    echo "kopsgen-etcd-reconcile: learner ${member} (${id}) has not caught up yet"
  fi
done <<< "${listed}"

wanted=$(mktemp)
trap 'rm -f "${wanted}"' EXIT
if ! KOPSGEN_S3_GET_ATTEMPTS=3 /opt/bin/kopsgen-s3-get userdata/etcd/members "${wanted}"; then
  echo "kopsgen-etcd-reconcile: cannot read the member list; removing nothing"
  exit 0
fi
if ! grep -qxF -- "${KOPSGEN_ETCD_NAME}" "${wanted}"; then
  echo "kopsgen-etcd-reconcile: ${KOPSGEN_ETCD_NAME} is not in the member list itself; removing nothing"
  exit 0
fi
while IFS=', ' read -r id _ member _ _ learner; do
  # An unstarted member has no name yet, and a learner is being added: never ones to remove.
  if [ -z "${member}" ] || [ "${learner}" = true ]; then
    continue
  fi
  grep -qxF -- "${member}" "${wanted}" && continue
  echo "kopsgen-etcd-reconcile: removing ${member} (${id}): it is not in the member list"
  ctl member remove "${id}"
done <<< "${listed}"
