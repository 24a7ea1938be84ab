#!/bin/bash
# Labels this controller's Node as the control plane once the kubelet has registered it.
set -euo pipefail

node_name=$(/opt/bin/kopsgen-imds local-hostname)
node_name=${node_name%% *}
/opt/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig \
  label node "${node_name}" node-role.kubernetes.io/control-plane= --overwrite
