#!/bin/bash
# Starts the kubelet as this instance: named after its private DNS name with its EC2
# provider ID (what the AWS cloud-controller-manager expects), with the node pool's labels
# and taints from /etc/kopsgen/environment plus those of its role (KOPSGEN_EXTRA_*), and
# node.kubernetes.io/kopsgen-pool=<pool> on a worker (how `kopsgen up` counts a pool's nodes).
set -euo pipefail

node_name=$(/opt/bin/kopsgen-imds local-hostname)
node_name=${node_name%% *}
zone=$(/opt/bin/kopsgen-imds placement/availability-zone)
instance_id=$(/opt/bin/kopsgen-imds instance-id)

# A kubelet may not set labels in the kubernetes.io and k8s.io namespaces except under
# kubelet.kubernetes.io/ and node.kubernetes.io/ (NodeRestriction; e.g. node-role.* is
# refused and would keep the kubelet from starting): such labels are left out, loudly.
labels=""
pool_label=""
[ -z "${KOPSGEN_NODE_POOL:-}" ] || pool_label=node.kubernetes.io/kopsgen-pool=${KOPSGEN_NODE_POOL}
IFS=, read -r -a requested <<< "${KOPSGEN_NODE_LABELS:-},${KOPSGEN_EXTRA_LABELS:-},${pool_label}"
for label in "${requested[@]}"; do
  [ -n "${label}" ] || continue
  key=${label%%=*}
  prefix=""
  [ "${key}" = "${key#*/}" ] || prefix=${key%%/*}
  case "${prefix}" in
    kubelet.kubernetes.io | *.kubelet.kubernetes.io | node.kubernetes.io | *.node.kubernetes.io) ;;
    kubernetes.io | *.kubernetes.io | k8s.io | *.k8s.io)
      echo "kopsgen-kubelet: leaving out label ${label}: a kubelet may not set it" >&2
      continue
      ;;
  esac
  labels=${labels:+${labels},}${label}
done

taints=""
IFS=, read -r -a requested <<< "${KOPSGEN_NODE_TAINTS:-},${KOPSGEN_EXTRA_TAINTS:-}"
for taint in "${requested[@]}"; do
  [ -z "${taint}" ] || taints=${taints:+${taints},}${taint}
done

# Its client certificate first, for this instance only (on a worker this waits for the API
# and the controllers' approver, saying so: in this, the unit's main process, the boot does
# not wait for it).
/opt/bin/kopsgen-node-identity "${node_name}"

args=(
  --config=/etc/kubernetes/kubelet-config.yaml
  --kubeconfig=/etc/kubernetes/kubelet-kubeconfig
  --cert-dir=/var/lib/kubelet/pki
  --cloud-provider=external
  --hostname-override="${node_name}"
  --provider-id="aws:///${zone}/${instance_id}"
)
[ -z "${labels}" ] || args+=(--node-labels="${labels}")
[ -z "${taints}" ] || args+=(--register-with-taints="${taints}")
exec /opt/bin/kubelet "${args[@]}"
