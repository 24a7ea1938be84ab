#!/bin/bash
# Starts this etcd member: TLS only, peers and clients authenticated by certificate,
# advertised by its stable DNS name. The initial cluster only matters on the first start:
# a member whose data directory already holds member/ rejoins with its own state.
set -euo pipefail

: "${KOPSGEN_ETCD_NAME:?is not set in /etc/kopsgen/environment}"
case "${KOPSGEN_ETCD_NAME}" in
{% for name, fqdn in etcd_members %}
  {{ name | shquote }}) fqdn={{ fqdn | shquote }} ;;
{% endfor %}
  *)
    echo "kopsgen-etcd: ${KOPSGEN_ETCD_NAME} is not a member of cluster {{ cluster_name }}" >&2
    exit 1
    ;;
esac

# Never start on the root disk: the data belongs on the dedicated volume.
mountpoint -q /var/lib/etcd

pki=/etc/kubernetes/pki
exec /opt/bin/etcd \
  --name="${KOPSGEN_ETCD_NAME}" \
  --data-dir=/var/lib/etcd/data \
  --listen-client-urls=https://0.0.0.0:2379 \
  --advertise-client-urls="https://${fqdn}:2379" \
  --listen-peer-urls=https://0.0.0.0:2380 \
  --initial-advertise-peer-urls="https://${fqdn}:2380" \
  --initial-cluster={{ etcd_initial_cluster | shquote }} \
  --initial-cluster-token={{ (cluster_name ~ "-etcd") | shquote }} \
  --initial-cluster-state=new \
  --listen-metrics-urls=http://127.0.0.1:2381 \
  --client-cert-auth \
  --trusted-ca-file="${pki}/ca.pem" \
  --cert-file="${pki}/etcd.pem" \
  --key-file="${pki}/etcd-key.pem" \
  --peer-client-cert-auth \
  --peer-trusted-ca-file="${pki}/ca.pem" \
  --peer-cert-file="${pki}/etcd-peer.pem" \
  --peer-key-file="${pki}/etcd-peer-key.pem"
