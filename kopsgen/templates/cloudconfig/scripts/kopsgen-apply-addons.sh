#!/bin/bash
# Applies /etc/kubernetes/addons once the local API server is ready. Server-side apply
# with one field manager is idempotent, so every controller may run it at every boot.
set -euo pipefail

kubectl=(/opt/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig)
"${kubectl[@]}" get --raw=/readyz > /dev/null
"${kubectl[@]}" apply --server-side --force-conflicts --field-manager=kopsgen \
  --filename=/etc/kubernetes/addons/
