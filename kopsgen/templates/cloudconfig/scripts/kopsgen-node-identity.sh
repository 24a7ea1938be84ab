#!/bin/bash
# Usage: kopsgen-node-identity NODE_NAME
# Gives this instance's kubelet its client certificate, CN=system:node:NODE_NAME,
# O=system:nodes, in /var/lib/kubelet/pki/kubelet-client-current.pem (certificate and key,
# where the kubelet keeps and rotates it), unless a valid one for NODE_NAME is there.
# kopsgen-kubelet runs it before the kubelet, inside kubelet.service's main process: the
# boot never waits for it (docs/credentials.md, "A node's identity").
{% if role == "controller" %}
# A controller signs its own with the cluster CA key it holds for kube-controller-manager:
# its kubelet runs kube-apiserver, so it cannot wait for the API (docs/boot.md).
{% else %}
# A worker proves which instance it is: a request to STS GetCallerIdentity signed with its
# instance role's credentials, bound to its CSR by the signed header x-kopsgen-csr-sha256.
# It creates the CSR with the bootstrap identity (worker.pem, which may create CSRs and
# nothing else) and the proof in its annotation, and waits -- saying why -- until the
# controllers' approver (kopsgen-approve-kubelet-serving) has checked the proof against
# STS and EC2 and kube-controller-manager has signed it; a denied or stale request is made
# again with a fresh proof.
{% endif %}
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: kopsgen-node-identity <node name>" >&2
  exit 64
fi
node_name=$1
cert_dir=${KOPSGEN_KUBELET_CERT_DIR:-/var/lib/kubelet/pki}

current=${cert_dir}/kubelet-client-current.pem
subject="/O=system:nodes/CN=system:node:${node_name}"

# The certificate there is for this node, from this cluster's CA, and valid for 10 more
# minutes: the kubelet renews it itself long before it expires.
valid() {
  [ -s "${current}" ] \
    && openssl x509 -in "${current}" -noout -checkend 600 > /dev/null 2>&1 \
    && openssl verify -CAfile "/etc/kubernetes/pki/ca.pem" "${current}" > /dev/null 2>&1 \
    && [ "$(openssl x509 -in "${current}" -noout -subject -nameopt RFC2253 2> /dev/null)" \
      = "subject=CN=system:node:${node_name},O=system:nodes" ]
}

if valid; then
  exit 0
fi

mkdir -p "${cert_dir}"
chmod 0700 "${cert_dir}"
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out "${work}/key.pem"
openssl req -new -key "${work}/key.pem" -subj "${subject}" -out "${work}/csr.pem"

# kubelet-client-<time>.pem holds certificate and key, kubelet-client-current.pem points at
# it: the layout of the kubelet's own certificate store, which it rotates in place.
install_pair() {
  local pair
  pair=${cert_dir}/kubelet-client-$(date -u +%Y-%m-%d-%H-%M-%S).pem
  cat "$1" "${work}/key.pem" > "${pair}.tmp"
  chmod 0600 "${pair}.tmp"
  mv "${pair}.tmp" "${pair}"
  ln -sfn "${pair}" "${current}.tmp"
  mv -T "${current}.tmp" "${current}"
  echo "kopsgen-node-identity: $(openssl x509 -in "${current}" -noout -subject -nameopt RFC2253 \
    | sed 's/^subject=//'), until $(openssl x509 -in "${current}" -noout -enddate | sed 's/^notAfter=//')"
}
{% if role == "controller" %}

# As kube-controller-manager signs a kube-apiserver-client-kubelet request: client auth,
# for the cluster signing duration (365 days); the kubelet renews it through a CSR.
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" > "${work}/ext.cnf"
openssl x509 -req -in "${work}/csr.pem" -CA "/etc/kubernetes/pki/ca.pem" -CAkey "/etc/kubernetes/pki/ca-key.pem" \
  -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 -extfile "${work}/ext.cnf" \
  -out "${work}/cert.pem" 2> "${work}/err" \
  || { echo "kopsgen-node-identity: cannot sign: $(tail -n 1 "${work}/err")" >&2; exit 1; }
install_pair "${work}/cert.pem"
{% else %}

# shellcheck source=/dev/null
. "${KOPSGEN_ENVIRONMENT:-/etc/kopsgen/environment}"
region=${KOPSGEN_REGION:?KOPSGEN_REGION is not set}
domain=amazonaws.com
[ "${region#cn-}" = "${region}" ] || domain=amazonaws.com.cn
sts=${KOPSGEN_STS_ENDPOINT:-https://sts.${region}.${domain}}
sts_host=${sts#*://}
sts_host=${sts_host%%/*}
server={{ kubelet_server | shquote }}
api=(curl --silent --show-error --fail --max-time 30 --cacert "/etc/kubernetes/pki/ca.pem"
  --cert "/etc/kubernetes/pki/worker.pem" --key "/etc/kubernetes/pki/worker-key.pem"
)
instance_id=$(/opt/bin/kopsgen-imds instance-id)

hex() { od -An -v -tx1 | tr -d ' \n'; }
sha256() { openssl dgst -sha256 -hex | sed 's/^.*= //'; }
hmac() { printf '%s' "$2" | openssl dgst -sha256 -hex -mac HMAC -macopt "hexkey:$1" | sed 's/^.*= //'; }
json_field() {
  printf '%s\n' "$2" | tr '{},' '[\n*3]' | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

# The proof, base64: the headers of a SigV4-signed POST of GetCallerIdentity to STS
# (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). The approver sends
# it to STS itself -- host, path and body are its own -- with the CSR's sha256 in
# x-kopsgen-csr-sha256: STS answers only if that is the hash signed here, within 5 minutes.
proof() {
  local role creds access secret token now day csr_sha body canonical scope key signature
  role=$(/opt/bin/kopsgen-imds iam/security-credentials/)
  creds=$(/opt/bin/kopsgen-imds "iam/security-credentials/${role}")
  access=$(json_field AccessKeyId "${creds}")
  secret=$(json_field SecretAccessKey "${creds}")
  token=$(json_field Token "${creds}")
  [ -n "${access}" ] && [ -n "${secret}" ] && [ -n "${token}" ] || return 1
  now=$(date -u +%Y%m%dT%H%M%SZ)
  day=${now%%T*}
  csr_sha=$(sha256 < "${work}/csr.pem")
  body=$(printf '%s' "Action=GetCallerIdentity&Version=2011-06-15" | sha256)
  canonical=$(printf '%s\n' POST / "" \
    "content-type:application/x-www-form-urlencoded; charset=utf-8" "host:${sts_host}" \
    "x-amz-date:${now}" "x-amz-security-token:${token}" "x-kopsgen-csr-sha256:${csr_sha}" "" \
    "content-type;host;x-amz-date;x-amz-security-token;x-kopsgen-csr-sha256")
  canonical=$(printf '%s\n%s' "${canonical}" "${body}" | sha256)
  scope=${day}/${region}/sts/aws4_request
  key=$(printf '%s' "AWS4${secret}" | hex)
  for part in "${day}" "${region}" sts aws4_request; do
    key=$(hmac "${key}" "${part}")
  done
  signature=$(hmac "${key}" "$(printf 'AWS4-HMAC-SHA256\n%s\n%s\n%s' "${now}" "${scope}" "${canonical}")")
  printf '%s\n' \
    "Authorization: AWS4-HMAC-SHA256 Credential=${access}/${scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-kopsgen-csr-sha256, Signature=${signature}" \
    "X-Amz-Date: ${now}" "X-Amz-Security-Token: ${token}" | base64 -w 0
}

csrs=${server}/apis/certificates.k8s.io/v1/certificatesigningrequests
request=$(base64 -w 0 < "${work}/csr.pem")
delay=5
while :; do
  if ! "${api[@]}" -o /dev/null "${server}/readyz" 2> "${work}/err" \
    && ! grep -q 'returned error: 401\|returned error: 403' "${work}/err"; then
    echo "kopsgen-node-identity: waiting for the API server at ${server}: $(tail -n 1 "${work}/err")"
    sleep 10
    continue
  fi
  if ! annotation=$(proof 2> "${work}/err"); then
    echo "kopsgen-node-identity: no instance role credentials yet: $(tail -n 1 "${work}/err")"
    sleep 10
    continue
  fi
  name=node-${instance_id}-$(date -u +%s)-$(openssl rand -hex 3)
  printf '{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",%s,%s}' \
    "\"metadata\":{\"name\":\"${name}\",\"annotations\":{\"kopsgen.io/instance-proof\":\"${annotation}\"}}" \
    "\"spec\":{\"request\":\"${request}\",\"signerName\":\"kubernetes.io/kube-apiserver-client-kubelet\",\"usages\":[\"digital signature\",\"client auth\"]}" \
    > "${work}/csr.json"
  if ! "${api[@]}" -o /dev/null -X POST -H "Content-Type: application/json" \
    --data-binary "@${work}/csr.json" "${csrs}" 2> "${work}/err"; then
    echo "kopsgen-node-identity: cannot create the CSR ${name}: $(tail -n 1 "${work}/err")"
    sleep 10
    continue
  fi
  echo "kopsgen-node-identity: waiting for the approval of ${name} for Node ${node_name} (instance ${instance_id})"
  # A proof is good for 5 minutes: after 4 without a certificate, ask again.
  deadline=$(($(date +%s) + ${KOPSGEN_IDENTITY_PATIENCE:-240}))
  while [ "$(date +%s)" -lt "${deadline}" ]; do
    sleep "${KOPSGEN_IDENTITY_POLL:-5}"
    "${api[@]}" -o "${work}/csr.out" "${csrs}/${name}" 2> "${work}/err" || continue
    tr -d '\n' < "${work}/csr.out" > "${work}/csr.one"
    if grep -q '"type": *"\(Denied\|Failed\)"' "${work}/csr.one"; then
      echo "kopsgen-node-identity: ${name} was refused: $(sed -n 's/.*"message": *"\([^"]*\)".*/\1/p' "${work}/csr.one")"
      break
    fi
    sed -n 's/.*"certificate": *"\([A-Za-z0-9+\/=]*\)".*/\1/p' "${work}/csr.one" | base64 -d > "${work}/cert.pem" 2> /dev/null || true
    if [ -s "${work}/cert.pem" ]; then
      install_pair "${work}/cert.pem"
      valid || { echo "kopsgen-node-identity: the certificate of ${name} is not for Node ${node_name}" >&2; exit 1; }
      exit 0
    fi
  done
  echo "kopsgen-node-identity: no certificate for ${name}; asking again with a fresh proof in ${delay}s"
  sleep "${delay}"
  delay=$((delay < 60 ? delay * 2 : 60))
done
{% endif %}
