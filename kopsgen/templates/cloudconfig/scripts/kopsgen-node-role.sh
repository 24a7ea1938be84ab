#!/bin/bash
# Labels this controller's Node node-role.kubernetes.io/control-plane once the kubelet has
# registered it (a kubelet may not set that label itself). In the background: its unit is
# Type=simple, so the boot never waits for the Node, and the journal says what it waits for.
set -euo pipefail

kubectl=(/opt/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig --request-timeout=30s)
node_name=$(/opt/bin/kopsgen-imds local-hostname)
node_name=${node_name%% *}

err=$(mktemp)
trap 'rm -f "${err}"' EXIT

until "${kubectl[@]}" get node "${node_name}" > /dev/null 2> "${err}"; do
  echo "kopsgen-node-role: waiting for Node ${node_name} to register: $(tail -n 1 "${err}")"
  sleep 10
done
until "${kubectl[@]}" label node "${node_name}" node-role.kubernetes.io/control-plane= \
  --overwrite > /dev/null 2> "${err}"; do
  echo "kopsgen-node-role: labelling Node ${node_name} failed, retrying: $(tail -n 1 "${err}")"
  sleep 10
done
echo "kopsgen-node-role: Node ${node_name} labelled node-role.kubernetes.io/control-plane"
