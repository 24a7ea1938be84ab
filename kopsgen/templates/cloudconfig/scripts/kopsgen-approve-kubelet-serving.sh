{% raw %}#!/bin/bash
# Approves the kubelets' certificates that Kubernetes does not approve by itself.
#
# Serving certificates (signer kubernetes.io/kubelet-serving): the API server then verifies a
# kubelet it connects to (kubectl logs, exec, port-forward) against the cluster CA. A request
# is approved only when all of this holds, and is otherwise left pending with the reason in
# the journal:
#   - it was made by system:node:<name> in the group system:nodes, for CN=system:node:<name>,
#     O=system:nodes, with the usages of a serving certificate;
#   - the Node <name> exists and the cloud-controller-manager has initialised it (its taint
#     node.cloudprovider.kubernetes.io/uninitialized is gone), so its addresses are EC2's;
#   - every DNS name and IP address asked for is one of that Node's addresses.
#
# A worker's first client certificate (signer kubernetes.io/kube-apiserver-client-kubelet,
# requested by the bootstrap identity, group system:bootstrappers): approved only when the
# request proves which instance made it (kopsgen-node-identity, docs/credentials.md) --
#   - CN=system:node:<name>, O=system:nodes, no subjectAltName, client usages only;
#   - its annotation kopsgen.io/instance-proof holds the headers of a GetCallerIdentity
#     request signed for this region's STS, whose signed headers include
#     x-kopsgen-csr-sha256, made less than 5 minutes ago (AWS takes a signed request up
#     to 5 minutes after its date: docs.aws.amazon.com, Signature Version 4);
#   - STS, sent that request by this script (to its own STS endpoint, with the sha256 of
#     this CSR in x-kopsgen-csr-sha256, so a proof made for another CSR fails), answers
#     that it was signed by a session of this cluster's worker role, in this account, named
#     for an instance ID (EC2 names instance-profile sessions so);
#   - EC2 (DescribeInstances, signed with this controller's role) has that instance running,
#     tagged kubernetes.io/cluster/<cluster>=owned, with the private DNS name <name>.
# A request that fails a check is denied (the node then asks again with a fresh proof), the
# reason in the journal; one that cannot be checked yet (STS or EC2 out of reach) waits.
# Renewals, requested by system:node:<name> itself, are kube-controller-manager's (the
# selfnodeclient binding).
#
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

# ---------------------------------------------------------------- client certificates

{% endraw %}
cluster={{ cluster_name | shquote }}
worker_role={{ worker_role_name | shquote }}
{% raw %}
region=${KOPSGEN_REGION:-}
domain=amazonaws.com
[ "${region#cn-}" = "${region}" ] || domain=amazonaws.com.cn
sts=${KOPSGEN_STS_ENDPOINT:-https://sts.${region}.${domain}}
ec2=${KOPSGEN_EC2_ENDPOINT:-https://ec2.${region}.${domain}}
account=""
partition=""

json_field() {
  printf '%s\n' "$2" | tr '{},' '[\n*3]' | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

# aws SERVICE ENDPOINT CURL-ARGS...: a POST signed with this controller's instance role;
# the answer in ${work}/aws.out, its HTTP status on stdout.
aws() {
  local role creds
  role=$(/opt/bin/kopsgen-imds iam/security-credentials/) || return 1
  creds=$(/opt/bin/kopsgen-imds "iam/security-credentials/${role}") || return 1
  curl --silent --show-error --max-time 30 -o "${work}/aws.out" -w '%{http_code}' \
    --aws-sigv4 "aws:amz:${region}:$1" \
    --user "$(json_field AccessKeyId "${creds}"):$(json_field SecretAccessKey "${creds}")" \
    -H "x-amz-security-token: $(json_field Token "${creds}")" "$2/" "${@:3}"
}

xml_field() { tr -d '\n' < "${work}/aws.out" | sed -n "s:.*<$1>\\([^<]*\\)</$1>.*:\\1:p"; }

# This controller's account and partition: a worker's session must be of the same.
whoami() {
  [ -z "${account}" ] || return 0
  local code arn
  code=$(aws sts "${sts}" -d Action=GetCallerIdentity -d Version=2011-06-15 2> "${work}/err") \
    && [ "${code}" = 200 ] || return 1
  account=$(xml_field Account)
  arn=$(xml_field Arn)
  partition=$(cut -d: -f2 <<< "${arn}")
  [ -n "${account}" ] && [ -n "${partition}" ]
}

# instance_has ID FILTER VALUE: EC2 lists instance ID with that filter (0), not (1), or
# cannot be asked (2).
instance_has() {
  local code
  code=$(aws ec2 "${ec2}" -d Action=DescribeInstances -d Version=2016-11-15 \
    --data-urlencode "Filter.1.Name=instance-id" --data-urlencode "Filter.1.Value.1=$1" \
    --data-urlencode "Filter.2.Name=$2" --data-urlencode "Filter.2.Value.1=$3" 2> "${work}/err") \
    || return 2
  [ "${code}" = 200 ] || return 2
  grep -q "<instanceId>$1</instanceId>" "${work}/aws.out"
}

deny() {
  echo "kopsgen-approve-kubelet-serving: denying $1: $2"
  "${kubectl[@]}" certificate deny "$1" > /dev/null || true
}

wait_for() {
  echo "kopsgen-approve-kubelet-serving: leaving $1 pending: $2"
}

# The pending kubelet client requests of the bootstrap identity, as pending() above.
pending_clients() {
  "${kubectl[@]}" get certificatesigningrequests -o go-template='{{range .items}}
{{- if and (eq .spec.signerName "kubernetes.io/kube-apiserver-client-kubelet") (not .status.conditions) -}}
{{.metadata.name}} {{.spec.username}} {{range .spec.groups}}{{.}},{{end}} {{range .spec.usages}}{{.}},{{end}}
{{end}}{{end}}'
}

review_client() {
  local csr=$1 groups=$3 usages=$4 subject node proof auth date token signed scope \
    csr_sha code arn instance now made rc day check
  case ",${groups}" in
    *,system:bootstrappers,*) ;;
    *) return ;; # a node renewing its own: kube-controller-manager's
  esac
  usages=$(tr , '\n' <<< "${usages}" | sed '/^$/d' | sort | paste -sd, -)
  case "${usages}" in
    "client auth,digital signature" | "client auth,digital signature,key encipherment") ;;
    *) deny "${csr}" "usages ${usages} are not those of a kubelet client certificate"; return ;;
  esac
  "${kubectl[@]}" get certificatesigningrequest "${csr}" -o 'jsonpath={.spec.request}' \
    | base64 -d > "${work}/request.pem" || { wait_for "${csr}" "cannot read the request"; return; }
  subject=$(openssl req -in "${work}/request.pem" -noout -subject -nameopt RFC2253 2> /dev/null) \
    || { deny "${csr}" "the request does not parse"; return; }
  subject=${subject#subject=}
  case "${subject}" in
    "CN=system:node:"*",O=system:nodes") node=${subject#CN=system:node:}; node=${node%,O=system:nodes} ;;
    "O=system:nodes,CN=system:node:"*) node=${subject#O=system:nodes,CN=system:node:} ;;
    *) deny "${csr}" "subject ${subject} is not CN=system:node:<name>,O=system:nodes"; return ;;
  esac
  if ! [[ "${node}" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; then
    deny "${csr}" "subject ${subject} does not name a node"
    return
  fi
  if openssl req -in "${work}/request.pem" -noout -text | grep -q 'Subject Alternative Name'; then
    deny "${csr}" "a kubelet client certificate has no subjectAltName"
    return
  fi

  proof=$("${kubectl[@]}" get certificatesigningrequest "${csr}" \
    -o 'jsonpath={.metadata.annotations.kopsgen\.io/instance-proof}')
  if [ -z "${proof}" ]; then
    deny "${csr}" "no instance proof (annotation kopsgen.io/instance-proof)"
    return
  fi
  base64 -d <<< "${proof}" > "${work}/proof" 2> /dev/null || { deny "${csr}" "the instance proof is not base64"; return; }
  auth=$(sed -n 's/^Authorization: //p' "${work}/proof")
  date=$(sed -n 's/^X-Amz-Date: //p' "${work}/proof")
  token=$(sed -n 's/^X-Amz-Security-Token: //p' "${work}/proof")
  scope="[0-9]{8}/${region}/sts/aws4_request"
  if ! [[ "${auth}" =~ ^AWS4-HMAC-SHA256\ Credential=[A-Z0-9]{16,128}/(${scope}),\ SignedHeaders=([a-z0-9;-]+),\ Signature=[0-9a-f]{64}$ ]]; then
    deny "${csr}" "the instance proof is not a request signed for STS in ${region}"
    return
  fi
  day=${BASH_REMATCH[1]:0:8}
  signed=${BASH_REMATCH[2]}
  for check in host x-amz-date x-kopsgen-csr-sha256; do
    case ";${signed};" in
      *";${check};"*) ;;
      *) deny "${csr}" "the instance proof does not sign host, x-amz-date and x-kopsgen-csr-sha256"; return ;;
    esac
  done
  if ! [[ "${token}" =~ ^[A-Za-z0-9+/=]+$ ]] \
    || ! [[ "${date}" =~ ^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$ ]] \
    || [ "${BASH_REMATCH[1]}${BASH_REMATCH[2]}${BASH_REMATCH[3]}" != "${day}" ]; then
    deny "${csr}" "the instance proof's date or session token is malformed"
    return
  fi
  made=$(date -u -d "${BASH_REMATCH[1]}-${BASH_REMATCH[2]}-${BASH_REMATCH[3]}T${BASH_REMATCH[4]}:${BASH_REMATCH[5]}:${BASH_REMATCH[6]}Z" +%s)
  now=$(date -u +%s)
  if [ $((now - made)) -gt 300 ] || [ $((made - now)) -gt 300 ]; then
    deny "${csr}" "the instance proof was made at ${date}, not in the last 5 minutes"
    return
  fi

  whoami || { wait_for "${csr}" "cannot ask STS who this controller is: $(tail -n 1 "${work}/err")"; return; }
  csr_sha=$(openssl dgst -sha256 -hex < "${work}/request.pem" | sed 's/^.*= //')
  code=$(curl --silent --show-error --max-time 30 -o "${work}/aws.out" -w '%{http_code}' \
    -X POST "${sts}/" -H "Authorization: ${auth}" -H "X-Amz-Date: ${date}" \
    -H "X-Amz-Security-Token: ${token}" -H "x-kopsgen-csr-sha256: ${csr_sha}" \
    -H "Content-Type: application/x-www-form-urlencoded; charset=utf-8" \
    --data-binary 'Action=GetCallerIdentity&Version=2011-06-15' 2> "${work}/err") \
    || { wait_for "${csr}" "STS is out of reach: $(tail -n 1 "${work}/err")"; return; }
  case "${code}" in
    200) ;;
    4??) deny "${csr}" "STS refused the instance proof (HTTP ${code} $(xml_field Code)): it was not signed for this request"; return ;;
    *) wait_for "${csr}" "STS answered HTTP ${code}"; return ;;
  esac
  arn=$(xml_field Arn)
  if ! [[ "${arn}" =~ ^arn:${partition}:sts::${account}:assumed-role/([^/]+)/(i-[0-9a-f]{8,17})$ ]]; then
    deny "${csr}" "the proof was signed by ${arn:-nobody}, not by an instance of this account"
    return
  fi
  instance=${BASH_REMATCH[2]}
  if [ "${BASH_REMATCH[1]}" != "${worker_role}" ]; then
    deny "${csr}" "the proof was signed by ${arn}, not by the worker role ${worker_role}"
    return
  fi
  for check in "tag:kubernetes.io/cluster/${cluster} owned" "instance-state-name running" \
    "private-dns-name ${node}"; do
    # shellcheck disable=SC2086 # a filter name and its value
    instance_has "${instance}" ${check}
    rc=$?
    case "${rc}:${check%% *}" in
      0:*) ;;
      2:*) wait_for "${csr}" "EC2 cannot be asked about ${instance}: $(tail -n 1 "${work}/err" "${work}/aws.out" | tail -n 1)"; return ;;
      *:tag*) deny "${csr}" "instance ${instance} is not an instance of cluster ${cluster}"; return ;;
      *:instance-state-name) deny "${csr}" "instance ${instance} is not running"; return ;;
      *) deny "${csr}" "the private DNS name of instance ${instance} is not ${node}"; return ;;
    esac
  done
  if "${kubectl[@]}" certificate approve "${csr}" > /dev/null; then
    echo "kopsgen-approve-kubelet-serving: approved ${csr} for Node ${node} (instance ${instance})"
  fi
}

while :; do
  while read -r csr user groups usages; do
    [ -n "${csr}" ] && review "${csr}" "${user}" "${groups}" "${usages}"
  done < <(pending 2> "${work}/err" || echo "kopsgen-approve-kubelet-serving: cannot list requests: $(tail -n 1 "${work}/err")" >&2)
  while read -r csr user groups usages; do
    [ -n "${csr}" ] && review_client "${csr}" "${user}" "${groups}" "${usages}"
  done < <(pending_clients 2> "${work}/err" || echo "kopsgen-approve-kubelet-serving: cannot list requests: $(tail -n 1 "${work}/err")" >&2)
  sleep "${interval}"
done
{% endraw %}
