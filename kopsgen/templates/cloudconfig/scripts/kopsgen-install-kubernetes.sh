#!/bin/bash
# Usage: kopsgen-install-kubernetes K8S_VERSION CNI_VERSION BINARY...
# Installs the Kubernetes BINARYs (kubelet, kubectl) from dl.k8s.io, each verified against
# its published .sha256, and the standard CNI plugins from containernetworking/plugins --
# or their copies in the cluster's assets.fileRepository, checksums included. Does nothing
# for what is already installed at that version.
set -euo pipefail

version=$1
cni_version=$2
shift 2
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "kopsgen-install-kubernetes: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p /opt/bin /opt/cni/bin

for bin in "$@"; do
  stamp="/opt/bin/.kopsgen-${bin}-version"
  if [ -x "/opt/bin/${bin}" ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then
    continue
  fi
  url="{{ downloads["dl.k8s.io"] }}/release/${version}/bin/linux/${arch}/${bin}"
  /opt/bin/kopsgen-fetch-verified "${url}" "${url}.sha256" "/opt/bin/${bin}.new"
  chmod 0755 "/opt/bin/${bin}.new"
  mv -f "/opt/bin/${bin}.new" "/opt/bin/${bin}"
  echo "${version}" > "${stamp}"
done

stamp=/opt/cni/bin/.kopsgen-cni-plugins-version
if [ "$(cat "${stamp}" 2>/dev/null)" != "${cni_version}" ]; then
  tgz="cni-plugins-linux-${arch}-${cni_version}.tgz"
  url="{{ downloads["github.com"] }}/containernetworking/plugins/releases/download/${cni_version}/${tgz}"
  tmp=$(mktemp -d)
  trap 'rm -rf "${tmp}"' EXIT
  /opt/bin/kopsgen-fetch-verified "${url}" "${url}.sha256" "${tmp}/${tgz}"
  tar -xzf "${tmp}/${tgz}" -C /opt/cni/bin
  echo "${cni_version}" > "${stamp}"
fi
