#!/bin/bash
# Applies the cluster add-ons in /etc/kubernetes/addons once the local API server answers.
# It runs in the background (its unit is Type=simple: the boot never waits for it) and says
# in the journal what it waits for. The bootstrap RBAC goes first, so the kubelets' TLS
# bootstrap (their certificate requests) works as soon as the first API server is up; then
# everything else. Server-side apply with one field manager is idempotent: every controller
# runs this at every boot, and whichever gets there first does the work.
set -euo pipefail

kubectl=(/opt/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig --request-timeout=30s)
addons=/etc/kubernetes/addons

err=$(mktemp)
trap 'rm -f "${err}"' EXIT

until "${kubectl[@]}" get --raw=/readyz > /dev/null 2> "${err}"; do
  echo "kopsgen-apply-addons: waiting for the local API server: $(tail -n 1 "${err}")"
  sleep 5
done

apply() {
  until "${kubectl[@]}" apply --server-side --force-conflicts --field-manager=kopsgen \
    --filename="$1" > /dev/null 2> "${err}"; do
    echo "kopsgen-apply-addons: applying $1 failed, retrying in 10s: $(tail -n 1 "${err}")"
    sleep 10
  done
}

# The first releases let kube-controller-manager approve every kubelet client request of
# the bootstrap group (any node could become any other); apply never removes that binding
# from a cluster upgraded from one, so it is deleted here, before anything else.
until "${kubectl[@]}" delete clusterrolebinding kopsgen:node-autoapprove-bootstrap \
  --ignore-not-found > /dev/null 2> "${err}"; do
  echo "kopsgen-apply-addons: removing the old auto-approval for bootstrappers failed, retrying in 10s: $(tail -n 1 "${err}")"
  sleep 10
done
apply "${addons}/kopsgen-rbac.yaml"
echo "kopsgen-apply-addons: bootstrap RBAC applied: kubelets may request their certificates"
# The node termination handler's queue is Terraform's (its URL names the account), so its
# ConfigMap is written here, from the user data's environment, before the handler starts.
queue=$(mktemp)
trap 'rm -f "${err}" "${queue}"' EXIT
"${kubectl[@]}" create configmap aws-node-termination-handler --namespace=kube-system \
  --from-literal=QUEUE_URL="${KOPSGEN_TERMINATION_QUEUE_URL:?the user data names no termination queue}" \
  --dry-run=client --output=yaml > "${queue}"
apply "${queue}"
apply "${addons}/"
echo "kopsgen-apply-addons: every add-on in ${addons} applied"
