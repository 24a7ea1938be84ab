#!/bin/bash
# Usage: kopsgen-fetch-verified URL CHECKSUM_URL DEST
# Downloads URL to DEST only if its SHA-256 matches the published checksum file, which is
# either the bare digest (dl.k8s.io's <file>.sha256) or "<digest>  <file>" lines
# (SHA256SUMS, <file>.sha256 of GitHub releases).
set -euo pipefail

url=$1
sums_url=$2
dest=$3
name=${url##*/}

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

fetch() {
  curl --fail --silent --show-error --location --retry 5 --retry-delay 3 --retry-connrefused \
    --output "$2" "$1"
}

fetch "${url}" "${tmp}/download"
fetch "${sums_url}" "${tmp}/sums"

expected=""
# dl.k8s.io writes the digest without a final newline: read that last line too.
while read -r digest file _ || [ -n "${digest:-}" ]; do
  if [ -z "${file:-}" ] || [ "${file#\*}" = "${name}" ] || [ "${file}" = "./${name}" ]; then
    expected=${digest}
    break
  fi
done < "${tmp}/sums"
if [ -z "${expected}" ]; then
  echo "kopsgen-fetch-verified: no checksum for ${name} in ${sums_url}" >&2
  exit 1
fi

actual=$(sha256sum "${tmp}/download")
actual=${actual%% *}
if [ "${actual}" != "${expected}" ]; then
  echo "kopsgen-fetch-verified: ${url} has SHA-256 ${actual}, expected ${expected}" >&2
  exit 1
fi
mv -f "${tmp}/download" "${dest}"
