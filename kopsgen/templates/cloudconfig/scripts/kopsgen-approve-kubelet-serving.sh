{% raw %}#!/bin/bash
# Approves the kubelets' serving certificates (signer kubernetes.io/kubelet-serving), which
# Kubernetes never approves by itself: the API server then verifies a kubelet it connects
# to (kubectl logs, exec, port-forward) against the cluster CA. A request is approved only
# when all of this holds, and is otherwise left pending with the reason in the journal:
#   - it was made by system:node:<name> in the group system:nodes, for CN=system:node:<name>,
#     O=system:nodes, with the usages of a serving certificate;
#   - the Node <name> exists and the cloud-controller-manager has initialised it (its taint
#     node.cloudprovider.kubernetes.io/uninitialized is gone), so its addresses are EC2's;
#   - every DNS name and IP address asked for is one of that Node's addresses.
# In the background on every controller (Type=simple); approving twice is harmless.
set -uo pipefail

kubectl=(/opt/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig --request-timeout=30s)
interval=${KOPSGEN_APPROVER_INTERVAL:-15}
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

# The pending kubelet-serving requests: "<name> <username> <groups,> <usages,>" per line
# (usages hold spaces: "digital signature", so they come last).
pending() {
  "${kubectl[@]}" get certificatesigningrequests -o go-template='{{range .items}}
{{- if and (eq .spec.signerName "kubernetes.io/kubelet-serving") (not .status.conditions) -}}
{{.metadata.name}} {{.spec.username}} {{range .spec.groups}}{{.}},{{end}} {{range .spec.usages}}{{.}},{{end}}
{{end}}{{end}}'
}

refuse() {
  echo "kopsgen-approve-kubelet-serving: leaving $1 pending: $2"
}

review() {
  local csr=$1 user=$2 groups=$3 usages=$4 node usage san subject addresses taints
  node=${user#system:node:}
  if [ "${node}" = "${user}" ] || [ -z "${node}" ]; then
    refuse "${csr}" "requested by ${user}, not by a node"
    return
  fi
  case ",${groups}" in
    *,system:nodes,*) ;;
    *) refuse "${csr}" "${user} is not in the group system:nodes"; return ;;
  esac
  while read -r -d , usage; do
    case "${usage}" in
      "digital signature" | "key encipherment" | "server auth") ;;
      *) refuse "${csr}" "usage ${usage} is not one of a serving certificate"; return ;;
    esac
  done <<< "${usages}"
  case ",${usages}" in
    *",server auth,"*) ;;
    *) refuse "${csr}" "it does not ask for server auth"; return ;;
  esac

  "${kubectl[@]}" get certificatesigningrequest "${csr}" -o 'jsonpath={.spec.request}' \
    | base64 -d > "${work}/request.pem" || { refuse "${csr}" "cannot read the request"; return; }
  subject=$(openssl req -in "${work}/request.pem" -noout -subject -nameopt RFC2253 2> /dev/null) \
    || { refuse "${csr}" "the request does not parse"; return; }
  case "${subject#subject=}" in
    "CN=${user},O=system:nodes" | "O=system:nodes,CN=${user}") ;;
    *) refuse "${csr}" "subject ${subject#subject=} is not CN=${user},O=system:nodes"; return ;;
  esac

  if ! taints=$("${kubectl[@]}" get node "${node}" \
    -o go-template='{{range .spec.taints}}{{.key}}{{"\n"}}{{end}}' 2> /dev/null); then
    refuse "${csr}" "Node ${node} does not exist"
    return
  fi
  if grep -qx 'node.cloudprovider.kubernetes.io/uninitialized' <<< "${taints}"; then
    refuse "${csr}" "Node ${node} is not initialised by the cloud-controller-manager yet"
    return
  fi
  addresses=$("${kubectl[@]}" get node "${node}" \
    -o go-template='{{range .status.addresses}}{{.address}}{{"\n"}}{{end}}')

  # "DNS:a, IP Address:10.0.0.1" from the request's subjectAltName extension.
  while read -r san; do
    [ -n "${san}" ] || continue
    san=${san#DNS:}
    san=${san#IP Address:}
    if ! grep -qxF -- "${san}" <<< "${addresses}"; then
      refuse "${csr}" "${san} is not an address of Node ${node}"
      return
    fi
  done < <(openssl req -in "${work}/request.pem" -noout -text \
    | sed -n '/X509v3 Subject Alternative Name/{n;p;}' | tr ',' '\n' | sed 's/^ *//')

  if "${kubectl[@]}" certificate approve "${csr}" > /dev/null; then
    echo "kopsgen-approve-kubelet-serving: approved ${csr} for Node ${node}"
  fi
}

while :; do
  while read -r csr user groups usages; do
    [ -n "${csr}" ] && review "${csr}" "${user}" "${groups}" "${usages}"
  done < <(pending 2> "${work}/err" || echo "kopsgen-approve-kubelet-serving: cannot list requests: $(tail -n 1 "${work}/err")" >&2)
  sleep "${interval}"
done
{% endraw %}
