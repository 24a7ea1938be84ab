#!/bin/bash
# Starts this etcd member: TLS only, peers and clients authenticated by certificate,
# advertised by its stable DNS name. How it starts depends on its data directory and on
# what the other members say (docs/etcd.md):
#  - data/member exists: it is this member's own state (a reboot, or a replaced instance
#    with the same volume); it rejoins as it is and the flags below about the initial
#    cluster are ignored;
#  - blank, and a running cluster does not list it (etcdCount grew): it adds itself as a
#    learner and starts with --initial-cluster-state=existing; kopsgen-etcd-reconcile on
#    the members promotes it once it has caught up;
#  - blank, and the cluster lists it as started (its volume is new, its data gone): the
#    stale entry is removed, then it is added as above;
#  - blank, and the cluster lists it unstarted as a learner (added before, never started):
#    it starts with existing;
#  - blank, and the cluster lists it unstarted and voting, or no member answers for
#    KOPSGEN_ETCD_JOIN_WINDOW seconds: the cluster is being created; it starts with
#    --initial-cluster-state=new and the full member list{% if etcd_restore_snapshot %};
#    with etcd.restore set, it first restores the cluster's data from the snapshot
#    {{ etcd_restore_snapshot }} (checked against the SHA-256 its key names), as
#    each new member does: the members are created from it{% endif %}.
set -euo pipefail
shopt -s inherit_errexit

: "${KOPSGEN_ETCD_NAME:?is not set in /etc/kopsgen/environment}"
name=${KOPSGEN_ETCD_NAME}
case "${name}" in
{% for name, fqdn in etcd_members %}
  {{ name | shquote }}) fqdn={{ fqdn | shquote }} ;;
{% endfor %}
  *)
    echo "kopsgen-etcd: ${name} is not a member of cluster {{ cluster_name }}" >&2
    exit 1
    ;;
esac
# The other members' client URLs: where this member asks whether the cluster exists.
others=()
{% for name, fqdn in etcd_members %}
[ "${name}" = {{ name | shquote }} ] || others+=({{ ("https://" ~ fqdn ~ ":2379") | shquote }})
{% endfor %}

# Never start on the root disk: the data belongs on the dedicated volume.
mountpoint -q /var/lib/etcd

data=/var/lib/etcd/data
pki=/etc/kubernetes/pki
peer_url="https://${fqdn}:2380"
state=new
initial_cluster={{ etcd_initial_cluster | shquote }}

ctl() {
  local endpoints
  endpoints=$(IFS=,; echo "${others[*]}")
  /opt/bin/etcdctl --endpoints="${endpoints}" --cacert="${pki}/ca.pem" \
    --cert="${pki}/etcd.pem" --key="${pki}/etcd-key.pem" \
    --dial-timeout=3s --command-timeout=10s "$@"
}

# "ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER" lines of the running cluster, or
# nothing when no member answers within the window (none is up, or none has quorum yet).
members() {
  local deadline=$((SECONDS + ${KOPSGEN_ETCD_JOIN_WINDOW:-60}))
{% raw %}
  [ "${#others[@]}" -gt 0 ] || return 0
{% endraw %}
  until ctl member list 2> /dev/null; do
    if [ "${SECONDS}" -ge "${deadline}" ]; then
      return 0
    fi
    echo "kopsgen-etcd: no other member answers yet; asking again in 5s" >&2
    sleep 5
  done
}

# ETCD_INITIAL_CLUSTER of `member add` (the cluster as it now is, this member included).
# etcd refuses while another learner catches up, or right after a leader change ("unhealthy
# cluster"); the unit then starts this script again (Restart=always).
add_self() {
  local out
  if ! out=$(ctl member add "${name}" --peer-urls="${peer_url}" --learner 2>&1); then
    echo "kopsgen-etcd: the running cluster did not add ${name} yet: ${out##*$'\n'}" >&2
    return 1
  fi
  echo "kopsgen-etcd: added ${name} to the running cluster as a learner" >&2
  sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' <<< "${out}"
}

{% if etcd_restore_snapshot %}
# etcd.restore: this member's data from the snapshot, restored next to the data directory
# and moved into place only when complete (an interrupted restore leaves no member/).
restore_snapshot() {
  local snapshot=/var/lib/etcd/restore.db util=/opt/bin/etcdctl
  [ -x /opt/bin/etcdutl ] && util=/opt/bin/etcdutl # etcd 3.4 has no etcdutl
  rm -rf "${data}.restoring" "${snapshot}"
  echo "kopsgen-etcd: restoring the cluster's data from {{ etcd_restore_snapshot }}" >&2
  /opt/bin/kopsgen-s3-get {{ etcd_restore_snapshot | shquote }} "${snapshot}"
  if ! sha256sum --quiet -c - <<< {{ (etcd_restore_sha256 ~ "  ") | shquote }}"${snapshot}"; then
    echo "kopsgen-etcd: the snapshot's SHA-256 is not the one its key names: refusing to restore it" >&2
    rm -f "${snapshot}"
    exit 1
  fi
  "${util}" snapshot restore "${snapshot}" --name="${name}" --data-dir="${data}.restoring" \
    --initial-cluster="${initial_cluster}" --initial-cluster-token={{ etcd_cluster_token | shquote }} \
    --initial-advertise-peer-urls="${peer_url}" >&2
  mv "${data}.restoring" "${data}"
  rm -f "${snapshot}"
  echo "kopsgen-etcd: restored {{ etcd_restore_snapshot }} as ${name}" >&2
}

{% endif %}
if [ ! -d "${data}/member" ]; then
  listed=$(members)
  if [ -z "${listed}" ]; then
    echo "kopsgen-etcd: no member of the cluster answers: starting as one of the members it is created with" >&2
{% if etcd_restore_snapshot %}
    restore_snapshot
{% endif %}
  else
{% if etcd_restore_snapshot %}
    # Members answer: the restored cluster (a replaced instance joins it, below), or the
    # members the restore replaces, still running while Terraform replaces them: never
    # join those. kopsgen-etcd-reconcile marks the restored cluster once it runs.
    restored=$(ctl get /kopsgen/restore --print-value-only 2> /dev/null || true)
    if [ "${restored}" != {{ etcd_restore_sha256 | shquote }} ]; then
      echo "kopsgen-etcd: the members that answer are not the cluster restored from {{ etcd_restore_snapshot }} (${restored:-not restored}): waiting for the members it replaces to go" >&2
      exit 1
    fi
{% endif %}
    entry=$(grep -F ", ${peer_url}, " <<< "${listed}" || true)
    IFS=', ' read -r id status _ _ _ learner <<< "${entry:-- - - - - -}"
    if [ -z "${entry}" ]; then
      initial_cluster=$(add_self)
      state=existing
    elif [ "${status}" = started ]; then
      echo "kopsgen-etcd: the cluster lists ${name} (${id}) as started, but its data directory is new: replacing the stale member" >&2
      ctl member remove "${id}" > /dev/null
      initial_cluster=$(add_self)
      state=existing
    elif [ "${learner}" = true ]; then
      # Added by an earlier attempt that never started: the cluster as it lists itself,
      # with this member's name for its (still unnamed) entry.
      initial_cluster=$(while IFS=', ' read -r _ _ member peers _; do
        [ "${peers}" = "${peer_url}" ] && member=${name}
        printf '%s=%s,' "${member}" "${peers}"
      done <<< "${listed}")
      initial_cluster=${initial_cluster%,}
      state=existing
    else
      echo "kopsgen-etcd: the cluster is being created and lists ${name}: joining it" >&2
    fi
  fi
  if [ -z "${initial_cluster}" ]; then
    echo "kopsgen-etcd: could not add ${name} to the running cluster" >&2
    exit 1
  fi
fi

exec /opt/bin/etcd \
  --name="${name}" \
  --data-dir="${data}" \
  --listen-client-urls=https://0.0.0.0:2379 \
  --advertise-client-urls="https://${fqdn}:2379" \
  --listen-peer-urls=https://0.0.0.0:2380 \
  --initial-advertise-peer-urls="${peer_url}" \
  --initial-cluster="${initial_cluster}" \
  --initial-cluster-token={{ etcd_cluster_token | shquote }} \
  --initial-cluster-state="${state}" \
  --listen-metrics-urls=http://127.0.0.1:2381 \
  --client-cert-auth \
  --trusted-ca-file="${pki}/ca.pem" \
  --cert-file="${pki}/etcd.pem" \
  --key-file="${pki}/etcd-key.pem" \
  --peer-client-cert-auth \
  --peer-trusted-ca-file="${pki}/ca.pem" \
  --peer-cert-file="${pki}/etcd-peer.pem" \
  --peer-key-file="${pki}/etcd-peer-key.pem"
