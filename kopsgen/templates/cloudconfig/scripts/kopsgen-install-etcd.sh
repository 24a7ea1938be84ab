#!/bin/bash
# Usage: kopsgen-install-etcd VERSION
# Installs etcd, etcdctl and etcdutl VERSION from the etcd-io/etcd GitHub release (or its
# copy in the cluster's assets.fileRepository) into /opt/bin, verified against the
# release's SHA256SUMS. Does nothing if already installed.
set -euo pipefail

version=$1
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "kopsgen-install-etcd: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

stamp=/opt/bin/.kopsgen-etcd-version
if [ -x /opt/bin/etcd ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then
  exit 0
fi

release="{{ downloads["github.com"] }}/etcd-io/etcd/releases/download/${version}"
dir="etcd-${version}-linux-${arch}"
tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

/opt/bin/kopsgen-fetch-verified "${release}/${dir}.tar.gz" "${release}/SHA256SUMS" \
  "${tmp}/etcd.tar.gz"
tar -xzf "${tmp}/etcd.tar.gz" -C "${tmp}" "${dir}/etcd" "${dir}/etcdctl" "${dir}/etcdutl"
mkdir -p /opt/bin
for bin in etcd etcdctl etcdutl; do
  install -m 0755 "${tmp}/${dir}/${bin}" "/opt/bin/${bin}.new"
  mv -f "/opt/bin/${bin}.new" "/opt/bin/${bin}"
done
echo "${version}" > "${stamp}"
